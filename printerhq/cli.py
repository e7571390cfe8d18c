"""The ``printerhq`` command line: one subcommand per module in ``printerhq.commands``.

Each command module exposes ``register(subparsers)``, which adds its parser and sets
``func`` to a callable taking the parsed arguments and returning an exit code. The command
modules are the only place that calls ``trio.run``: the library never does.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from printerhq.commands.output import safe_library_warnings

# Subcommand modules under printerhq.commands, in the order `printerhq --help` lists them.
COMMANDS = (
    "scan",
    "sim",
    "demo",
    "agent",
    "serve",
    "server",
    "fleet",
    "schema",
    "health_check",
    "install_service",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="printerhq",
        description="Discover printers, read their metrics over SNMP, and report them.",
    )
    from printerhq import __version__

    parser.add_argument("--version", action="version", version=f"printerhq {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMANDS:
        importlib.import_module(f"printerhq.commands.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    safe_library_warnings()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `printerhq scan ... | head`: the reader left; not an error worth a traceback.
        sys.stderr.close()
        return 141


if __name__ == "__main__":
    sys.exit(main())
