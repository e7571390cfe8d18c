"""What the server's commands (``serve``, ``server ...``) share: the ``--data-dir`` and
``--database`` options, and one line for each foreseeable way the database fails to open."""

from __future__ import annotations

__all__ = [
    "add_database_arguments",
    "database_failure",
    "database_url",
    "existing_database",
    "sqlite_file",
]

import argparse
import sqlite3
from pathlib import Path

from printerhq.cmdline import options
from printerhq.cmdline.exits import USAGE, CommandError
from printerhq.server.store import SQLITE_NAME, StoreError

DATABASE_SCHEMES = ("postgresql://", "postgres://", "sqlite:///")


def database_url(text: str) -> str:
    """A database URL the store can open (checked at parse time, before anything starts)."""
    if not text.startswith(DATABASE_SCHEMES) or text in DATABASE_SCHEMES:
        # The URL may carry a password: name the schemes, not the text.
        raise argparse.ArgumentTypeError(
            "unsupported database URL; give postgresql://user@host/db or sqlite:///path"
        )
    return text


def add_database_arguments(parser: argparse.ArgumentParser, data_dir_help: str) -> None:
    parser.add_argument(
        "--data-dir", required=True, type=options.directory, metavar="DIR", help=data_dir_help
    )
    parser.add_argument(
        "--database",
        type=database_url,
        metavar="URL",
        help="postgresql://user@host/db or sqlite:///path (default: SQLite in --data-dir)",
    )


def sqlite_file(data_dir: Path, database: str | None) -> Path | None:
    """The SQLite file the options name, or None for PostgreSQL."""
    if database and not database.startswith("sqlite:///"):
        return None
    return Path(database.removeprefix("sqlite:///")) if database else data_dir / SQLITE_NAME


def existing_database(data_dir: Path, database: str | None) -> None:
    """Refuse (exit 2) when the SQLite database an admin command names does not exist.

    Opening it would create an empty one: a mistyped ``--data-dir`` would list no agents, or
    revoke nothing, and leave a stray database behind. ``serve`` and the ``add-*`` commands (the
    first token is issued before the server first runs) create it. PostgreSQL: a database that
    is not there fails to connect, with its reason.
    """
    path = sqlite_file(data_dir, database)
    if path is not None and not path.is_file():
        raise CommandError(
            f"no database at {path} (check --data-dir; `printerhq serve` or "
            "`printerhq server add-agent` creates it)",
            USAGE,
        )


def database_failure(exc: BaseException) -> str | None:
    """One line for a database that cannot be opened, or None if ``exc`` is something else."""
    if isinstance(exc, StoreError):
        return str(exc)
    import psycopg

    if isinstance(exc, psycopg.OperationalError):
        # psycopg's text names host and port, never the password; its first line is the gist.
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"cannot open the database: {reason}"
    if isinstance(exc, sqlite3.Error):
        return f"cannot open the database: {exc}"
    return None
