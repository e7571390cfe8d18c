"""``printerhq server add-agent|revoke-agent|add-viewer|revoke-viewer|add-admin|revoke-admin|
list-agents|list-tokens|agents|set-config|set-site|set-alerts|alerts``, ``gen-update-key`` and
``publish-update`` (also ``python -m printerhq.server server ...``).

Agent tokens upload reports; viewer tokens read the fleet (REST API, /metrics, dashboard); admin
tokens read the fleet and set agents' remote configuration (``agents_command.py``). Each token
is printed once and only its SHA-256 is stored. ``gen-update-key`` makes the Ed25519 key
that signs releases (keep it off the server); ``publish-update`` signs a wheel's manifest with it
and stores both in the server's database for agents to fetch (see ``printerhq.release``).
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import trio

from printerhq.cmdline import options
from printerhq.cmdline.exits import FAILURE, OK, CommandError
from printerhq.server.command_support import (
    add_database_arguments,
    database_failure,
    existing_database,
    sqlite_file,
)
from printerhq.terminal import safe

if TYPE_CHECKING:  # imported when used: every `printerhq` command imports this module
    from printerhq import release

ACTIONS = (
    ("add-agent", "issue an upload token for a new agent (printed once, stored hashed)"),
    ("revoke-agent", "revoke an agent's token at once, on every server instance"),
    ("add-viewer", "issue a read token (REST API, /metrics, dashboard) for a person or a scraper"),
    ("revoke-viewer", "revoke a viewer's token at once, on every server instance"),
    ("add-admin", "issue an admin token (reads the fleet, sets agents' remote configuration)"),
    ("revoke-admin", "revoke an admin's token at once, on every server instance"),
    ("list-agents", "list agents with last-seen time and health"),
    ("list-tokens", "list every token holder, agents and viewers, with its role"),
    ("agents", "agents as services: heartbeat, version, state, configuration, last cycle"),
    ("set-config", "set an agent's remote configuration ([[scan]] sections, TOML) from FILE"),
    ("set-site", "put an agent (and the devices it reports) in a site, e.g. a customer"),
    ("set-alerts", "set the alert thresholds and webhooks of every instance from FILE (TOML)"),
    ("alerts", "list open alerts (--closed: the ones closed since --since)"),
)
_NAMED = ("add-agent", "revoke-agent", "add-viewer", "revoke-viewer", "add-admin", "revoke-admin")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "server", help="manage the central server's agents, viewers and tokens"
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    for name, help_text in ACTIONS:
        sub = actions.add_parser(name, help=help_text)
        if name in _NAMED:
            sub.add_argument("name", help=f"{name.split('-', 1)[1]} name")
        if name == "add-agent":
            sub.add_argument(
                "--site", metavar="SITE", help="the site (customer) it is in (default: its name)"
            )
        if name == "set-site":
            sub.add_argument("name", metavar="AGENT", help="agent name")
            sub.add_argument("site", metavar="SITE", help="site name (up to 64 characters)")
        if name == "set-config":
            sub.add_argument("name", metavar="AGENT", help="agent name")
            sub.add_argument(
                "file", metavar="FILE", help="TOML with [[scan]] sections ('-': stdin)"
            )
        if name == "set-alerts":
            sub.add_argument(
                "file", metavar="FILE", help="alerts TOML (docs/alerts.md; '-': stdin)"
            )
        if name == "alerts":
            sub.add_argument("--closed", action="store_true", help="closed alerts instead")
            sub.add_argument(
                "--since", type=float, default=0.0, metavar="UNIXTIME", help="with --closed"
            )
        add_database_arguments(sub, "the server's data directory (as given to serve)")
        if name.startswith("list-") or name in ("agents", "alerts"):
            sub.add_argument("--json", action="store_true")
        sub.set_defaults(func=run, action=name)
    from printerhq.server import prune_command

    prune_command.register(actions)
    gen = actions.add_parser(
        "gen-update-key",
        help="make an Ed25519 key to sign releases; prints the public key for agent configs",
    )
    gen.add_argument(
        "--out",
        required=True,
        type=options.new_file,
        metavar="FILE",
        help="private key file to create (mode 0600, never overwritten)",
    )
    gen.set_defaults(func=gen_update_key)
    pub = actions.add_parser(
        "publish-update", help="sign a wheel's release manifest and publish it to agents"
    )
    pub.add_argument("wheel", type=options.existing_file, help="the printerhq wheel (*.whl)")
    pub.add_argument(
        "--key",
        required=True,
        type=options.existing_file,
        metavar="FILE",
        help="the private key from gen-update-key",
    )
    add_database_arguments(pub, "the server's data directory (as given to serve)")
    pub.set_defaults(func=publish_update)


def gen_update_key(args: argparse.Namespace) -> int:
    from printerhq import release

    pem, public = release.generate_key()
    try:
        # O_EXCL: never replace a key agents already trust; 0600 from the first byte.
        fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        print(f"printerhq server: cannot create {args.out}: {exc.strerror}", file=sys.stderr)
        return FAILURE
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    print(public)
    print(
        f"private key written to {args.out}; put the line above in each agent's "
        "[updates] public_key",
        file=sys.stderr,
    )
    return OK


def publish_update(args: argparse.Namespace) -> int:
    from printerhq import release

    existing_database(args.data_dir, args.database)
    path = Path(args.wheel)
    try:
        if path.stat().st_size > release.MAX_WHEEL_BYTES:
            limit = release.MAX_WHEEL_BYTES
            raise release.ReleaseError("wheel", f"{path.name} is larger than {limit} bytes")
        data = path.read_bytes()
        key = release.load_private_key(Path(args.key).read_bytes())
        manifest = release.make_manifest(path.name, data, created=time.time())
        signed = release.sign(manifest, key)
        _run_with_store(_publish, args, signed, manifest, data)
    except OSError as exc:
        print(f"printerhq server: {exc.filename}: {exc.strerror}", file=sys.stderr)
        return FAILURE
    except release.ReleaseError as exc:
        print(f"printerhq server: {exc.reason}", file=sys.stderr)
        return FAILURE
    print(
        f"published {manifest.name} {manifest.version} ({manifest.size} bytes, "
        f"sha256 {manifest.sha256})"
    )
    return OK


async def _publish(
    args: argparse.Namespace,
    signed: release.SignedManifest,
    manifest: release.Manifest,
    data: bytes,
) -> None:
    from printerhq.server import releases
    from printerhq.server.store import Store

    store = await Store.open(args.data_dir, args.database)
    try:
        await releases.publish(store, signed, manifest, data)
    finally:
        await store.aclose()


_CREATING = ("add-agent", "add-viewer", "add-admin")


def run(args: argparse.Namespace) -> int:
    if args.action not in _CREATING:
        existing_database(args.data_dir, args.database)
    else:
        new = sqlite_file(args.data_dir, args.database)
        if new is not None and not new.exists():
            # Said aloud, so that a mistyped --data-dir is seen at once.
            print(f"printerhq server: creating a new database at {new}", file=sys.stderr)
    return int(_run_with_store(_run, args))


def _run_with_store(main: Any, *args: Any) -> Any:
    """``trio.run(main, *args)``; a database that does not open is one line and exit 1."""
    try:
        return trio.run(main, *args)
    except Exception as exc:
        line = database_failure(exc)
        if line is None:
            raise
        raise CommandError(line) from None


async def _run(args: argparse.Namespace) -> int:
    from printerhq.server.store import Store, StoreError

    store = await Store.open(args.data_dir, args.database)
    try:
        if args.action in ("alerts", "set-alerts"):
            from printerhq.server.alerts_command import run_alerts_action

            return await run_alerts_action(store, args)
        if args.action in ("agents", "set-config"):
            from printerhq.server.agents_command import run_agents_action

            return await run_agents_action(store, args)
        if args.action in ("add-agent", "add-viewer", "add-admin"):
            role = args.action.removeprefix("add-")
            token = secrets.token_urlsafe(32)
            try:
                await store.add_agent(args.name, token, role=role, site=getattr(args, "site", None))
            except StoreError as exc:
                print(f"printerhq server: {exc}", file=sys.stderr)
                return FAILURE
            print(token)
            print(
                f"token for {role} {args.name!r} (shown once; only its hash is stored)",
                file=sys.stderr,
            )
            return OK
        if args.action == "set-site":
            try:
                await store.set_site(args.name, args.site)
            except StoreError as exc:
                print(safe(f"printerhq server: {exc}"), file=sys.stderr)
                return FAILURE
            print(safe(f"agent {args.name!r} is in site {args.site!r}; its devices follow"))
            return OK
        if args.action in ("revoke-agent", "revoke-viewer", "revoke-admin"):
            role = args.action.removeprefix("revoke-")
            if await store.revoke_agent(args.name, role=role):
                print(f"{role} {args.name!r} revoked")
                return OK
            print(f"printerhq server: no active {role} named {args.name!r}", file=sys.stderr)
            return FAILURE
        holders = await (
            store.list_tokens() if args.action == "list-tokens" else store.list_agents()
        )
        if args.json:
            print(msgspec.json.encode(holders).decode())
        else:
            for h in holders:
                role = f"{h['role']:7} " if "role" in h else ""
                print(
                    f"{role}{h['name']:24} {h['health']:10} batches={h['batches']} "
                    f"reports={h['reports']} last_seen={h['last_seen']}"
                )
        return OK
    finally:
        await store.aclose()
