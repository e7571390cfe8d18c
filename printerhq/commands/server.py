"""``printerhq server add-agent|revoke-agent|list-agents``: manage agent tokens."""

from __future__ import annotations

import argparse
import secrets
import sys

import msgspec
import trio


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("server", help="manage the central server's agents and tokens")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    for name, help_text in (
        ("add-agent", "issue a token for a new agent (printed once, stored hashed)"),
        ("revoke-agent", "revoke an agent's token at once, on every server instance"),
        ("list-agents", "list agents with last-seen time and health"),
    ):
        sub = actions.add_parser(name, help=help_text)
        if name != "list-agents":
            sub.add_argument("name", help="agent name")
        sub.add_argument("--data-dir", required=True)
        sub.add_argument("--database", help="postgresql://... (default: SQLite in --data-dir)")
        if name == "list-agents":
            sub.add_argument("--json", action="store_true")
        sub.set_defaults(func=run, action=name)


def run(args: argparse.Namespace) -> int:
    return trio.run(_run, args)


async def _run(args: argparse.Namespace) -> int:
    from printerhq.server.store import Store, StoreError

    store = await Store.open(args.data_dir, args.database)
    try:
        if args.action == "add-agent":
            token = secrets.token_urlsafe(32)
            try:
                await store.add_agent(args.name, token)
            except StoreError as exc:
                print(f"printerhq server: {exc}", file=sys.stderr)
                return 1
            print(token)
            print(f"token for agent {args.name!r} (shown once; only its hash is stored)", file=sys.stderr)
            return 0
        if args.action == "revoke-agent":
            if await store.revoke_agent(args.name):
                print(f"agent {args.name!r} revoked")
                return 0
            print(f"printerhq server: no active agent named {args.name!r}", file=sys.stderr)
            return 1
        agents = await store.list_agents()
        if args.json:
            print(msgspec.json.encode(agents).decode())
        else:
            for a in agents:
                print(f"{a['name']:24} {a['health']:10} batches={a['batches']} reports={a['reports']} last_seen={a['last_seen']}")
        return 0
    finally:
        await store.aclose()
