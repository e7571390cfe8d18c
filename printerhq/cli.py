"""The ``printerhq`` command line: one subcommand per module in ``printerhq.commands``.

Each command module exposes ``register(subparsers)``, which adds its parser and sets
``func`` to a callable taking the parsed arguments and returning an exit code. The command
modules are the only place that calls ``trio.run``: the library never does.

Numbers and paths are checked while the arguments are parsed (``printerhq.cmdline.options``);
how a command ends becomes its exit code in one place (``printerhq.cmdline.exits``): 0 ok,
1 failure, 2 usage, 3 reports waiting in the spool, 130 interrupted (docs/cli.md).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from printerhq.cmdline.exits import run_command
from printerhq.cmdline.options import Parser
from printerhq.commands.output import safe_library_warnings

# Subcommand modules under printerhq.commands, in the order `printerhq --help` lists them.
COMMANDS = (
    "scan",
    "sim",
    "demo",
    "agent",
    "audit",
    "serve",
    "server",
    "fleet",
    "schema",
    "allow_list",
    "health_check",
    "install_service",
)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or with ``only`` one subcommand (what ``main`` runs: importing every
    command module costs a scan about 0.25 CPU s and 20 MB of memory for the server, the
    uplink and the simulator it never uses)."""
    parser = Parser(
        prog="printerhq",
        description="Discover printers, read their metrics over SNMP, and report them.",
    )
    from printerhq import __version__

    parser.add_argument("--version", action="version", version=f"printerhq {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMANDS if only is None else (only,):
        importlib.import_module(f"printerhq.commands.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    safe_library_warnings()
    arguments = sys.argv[1:] if argv is None else argv
    # The first word that is no option names the command (the top-level options take no
    # value); anything else (a typo, --help) gets the whole parser and its usual message.
    named = next((a for a in arguments if not a.startswith("-")), None)
    command = named.replace("-", "_") if named is not None else None
    parser = build_parser(command if command in COMMANDS else None)
    args = parser.parse_args(argv)
    return run_command(args.func, args, f"{parser.prog} {args.command}")


if __name__ == "__main__":
    sys.exit(main())
