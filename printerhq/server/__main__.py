"""``python -m printerhq.server serve|server ...``: the server commands without the full CLI."""

import argparse
import sys

from printerhq.cmdline.exits import run_command
from printerhq.cmdline.options import Parser
from printerhq.server import admin_command, serve_command


def main(argv: list[str] | None = None) -> int:
    parser: argparse.ArgumentParser = Parser(prog="python -m printerhq.server")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    serve_command.register(subparsers)
    admin_command.register(subparsers)
    args = parser.parse_args(argv)
    return run_command(args.func, args, f"printerhq {args.command}")


if __name__ == "__main__":
    sys.exit(main())
