"""``printerhq server ...``: the command lives with the server (``python -m printerhq.server`` runs
it without the rest of the CLI)."""

from printerhq.server.admin_command import ACTIONS, register, run

__all__ = ["ACTIONS", "register", "run"]
