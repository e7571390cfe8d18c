"""``printerhq schema``: print the JSON Schema of the wire format (ScanReport and everything
in it)."""

from __future__ import annotations

import argparse
import json

from printerhq.model import SCHEMA_VERSION, json_schema


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "schema",
        help="print the JSON Schema of the report wire format",
        description=f"Print the JSON Schema of ScanReport (schema version {SCHEMA_VERSION}). "
        "Reports travel as msgpack with this structure.",
    )
    parser.add_argument("--compact", action="store_true", help="one line instead of indented")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    schema = json_schema()
    schema.setdefault("$comment", f"printerhq report schema version {SCHEMA_VERSION}")
    print(json.dumps(schema, indent=None if args.compact else 2, sort_keys=True))
    return 0
