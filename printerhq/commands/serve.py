"""``printerhq serve``: the command lives with the server (``python -m printerhq.server`` runs it
without the rest of the CLI)."""

from printerhq.server.serve_command import register, run

__all__ = ["register", "run"]
