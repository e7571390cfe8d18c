"""What every ``printerhq`` command line shares: exit codes (:mod:`.exits`), the one place that
turns an interrupt or a foreseeable error into a line and a code (:mod:`.exits`), and argument
types that check numbers and paths while the arguments are parsed (:mod:`.options`).

Its own layer (``tests/test_layers.py``): the CLI's commands and the server's commands
(``python -m printerhq.server`` runs without the rest of the CLI) both build on it.
"""
