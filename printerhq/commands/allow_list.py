"""``printerhq allow-list``: print the hand-written privacy allow-list (printerhq/allowlist.py),
every subtree the agent may ever ask a device about, with its MIB, object and why; then the
subtrees that are never asked for. The very list the SNMP client enforces and
tests/test_privacy.py checks."""

from __future__ import annotations

import argparse
import json

from printerhq.allowlist import ALLOW_LIST, FORBIDDEN, Entry


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "allow-list",
        help="print the MIB subtrees the agent may ask devices about (and those it never does)",
        description="Print the privacy allow-list: every OID subtree the agent may request from "
        "a device, with its MIB, object name and why. The SNMP client refuses any request "
        "outside it, and drops any reply value outside it. Then the subtrees that are never "
        "requested (job, user, document and network-topology data).",
    )
    parser.add_argument(
        "--format",
        choices=("table", "json"),
        default="table",
        help="table (default) or json (one object: allowed and forbidden entries)",
    )
    parser.set_defaults(func=run)


def _as_dict(entry: Entry) -> dict[str, str]:
    return {"oid": entry.dotted, "mib": entry.mib, "object": entry.name, "why": entry.why}


def _table(entries: tuple[Entry, ...]) -> list[str]:
    rows = [("OID", "MIB", "OBJECT", "WHY")] + [(e.dotted, e.mib, e.name, e.why) for e in entries]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + "  "
        + row[3]
        for row in rows
    ]


def run(args: argparse.Namespace) -> int:
    if args.format == "json":
        document = {
            "allowed": [_as_dict(e) for e in ALLOW_LIST],
            "never_requested": [_as_dict(e) for e in FORBIDDEN],
        }
        print(json.dumps(document, indent=2))
        return 0
    print(f"Allowed: {len(ALLOW_LIST)} subtrees (each object or column and its instances)")
    print("\n".join(_table(ALLOW_LIST)))
    print()
    print(f"Never requested: {len(FORBIDDEN)} subtrees")
    print("\n".join(_table(FORBIDDEN)))
    return 0
