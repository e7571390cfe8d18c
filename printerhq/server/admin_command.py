"""``printerhq server add-agent|revoke-agent|add-viewer|revoke-viewer|list-agents|list-tokens``
(also ``python -m printerhq.server server ...``).

Agent tokens upload reports; viewer tokens read the fleet (REST API, /metrics, dashboard). Each
token is printed once and only its SHA-256 is stored.
"""

from __future__ import annotations

import argparse
import secrets
import sys

import msgspec
import trio

ACTIONS = (
    ("add-agent", "issue an upload token for a new agent (printed once, stored hashed)"),
    ("revoke-agent", "revoke an agent's token at once, on every server instance"),
    ("add-viewer", "issue a read token (REST API, /metrics, dashboard) for a person or a scraper"),
    ("revoke-viewer", "revoke a viewer's token at once, on every server instance"),
    ("list-agents", "list agents with last-seen time and health"),
    ("list-tokens", "list every token holder, agents and viewers, with its role"),
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("server", help="manage the central server's agents, viewers and tokens")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    for name, help_text in ACTIONS:
        sub = actions.add_parser(name, help=help_text)
        if not name.startswith("list-"):
            sub.add_argument("name", help="agent name" if name.endswith("agent") else "viewer name")
        sub.add_argument("--data-dir", required=True)
        sub.add_argument("--database", help="postgresql://... (default: SQLite in --data-dir)")
        if name.startswith("list-"):
            sub.add_argument("--json", action="store_true")
        sub.set_defaults(func=run, action=name)


def run(args: argparse.Namespace) -> int:
    return trio.run(_run, args)


async def _run(args: argparse.Namespace) -> int:
    from printerhq.server.store import Store, StoreError

    store = await Store.open(args.data_dir, args.database)
    try:
        if args.action in ("add-agent", "add-viewer"):
            role = args.action.removeprefix("add-")
            token = secrets.token_urlsafe(32)
            try:
                await store.add_agent(args.name, token, role=role)
            except StoreError as exc:
                print(f"printerhq server: {exc}", file=sys.stderr)
                return 1
            print(token)
            print(f"token for {role} {args.name!r} (shown once; only its hash is stored)", file=sys.stderr)
            return 0
        if args.action in ("revoke-agent", "revoke-viewer"):
            role = args.action.removeprefix("revoke-")
            if await store.revoke_agent(args.name, role=role):
                print(f"{role} {args.name!r} revoked")
                return 0
            print(f"printerhq server: no active {role} named {args.name!r}", file=sys.stderr)
            return 1
        holders = await (store.list_tokens() if args.action == "list-tokens" else store.list_agents())
        if args.json:
            print(msgspec.json.encode(holders).decode())
        else:
            for h in holders:
                role = f"{h['role']:7} " if "role" in h else ""
                print(f"{role}{h['name']:24} {h['health']:10} batches={h['batches']} reports={h['reports']} last_seen={h['last_seen']}")
        return 0
    finally:
        await store.aclose()
