"""``python -m printerhq.server serve|server ...``: the server commands without the full CLI."""

import argparse
import sys

from printerhq.server import admin_command, serve_command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m printerhq.server")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    serve_command.register(subparsers)
    admin_command.register(subparsers)
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
