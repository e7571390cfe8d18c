"""``printerhq server agents`` and ``printerhq server set-config AGENT FILE``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import msgspec

from printerhq.server.agent_control import AgentControl
from printerhq.server.store import Store, StoreError
from printerhq.terminal import safe, safe_json


def _ago(t: float | None, now: float) -> str:
    if t is None:
        return "-"
    seconds = max(0, int(now - t))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def _config_cell(config: dict) -> str:
    wanted, applied, outcome = config["wanted"], config["applied"], config["outcome"]
    text = f"want={wanted or '-'} run={applied or 0}"
    if outcome in ("rejected", "ignored"):
        text += f" v{config['result_version']} {outcome}"
        if config["reason"]:
            text += f": {config['reason']}"
    return text


def render_agents(rows: list[dict], now: float) -> str:
    header = (
        f"{'AGENT':20} {'SITE':16} {'HEALTH':10} {'STATE':9} {'VERSION':10} {'HEARTBEAT':10} "
        f"{'LAST CYCLE':36} CONFIG"
    )
    lines = [header]
    for row in rows:
        cycle = row["last_cycle"]
        last = "-"
        if cycle:
            last = (
                f"{cycle['kind']} {cycle.get('printers', 0)}p/{cycle.get('addresses', 0)}a "
                f"{cycle.get('errors', 0)}err {cycle['duration']:.1f}s "
                f"{cycle.get('scan_bytes', 0) + cycle.get('upload_bytes', 0)}B"
            )
        lines.append(  # the agent reports its state and version: shown safely, on one line
            safe(
                f"{row['name']:20} {row.get('site') or '-':16} {row['health']:10} "
                f"{row['state'] or '-':9} "
                f"{row['version'] or '-':10} {_ago(row['heartbeat_at'], now):10} {last:36} "
                f"{_config_cell(row['config'])}"
            )
        )
    return "\n".join(lines)


async def run_agents_action(store: Store, args: argparse.Namespace) -> int:
    agents = AgentControl(store)
    if args.action == "agents":
        rows = await agents.overview()
        if args.json:
            print(safe_json(msgspec.to_builtins(rows)))
        else:
            print(render_agents(rows, time.time()))
        return 0
    try:
        document = sys.stdin.read() if args.file == "-" else Path(args.file).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"printerhq server: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    try:
        _, version = await agents.set_config(args.name, document, by="cli")
    except StoreError as exc:
        print(safe(f"printerhq server: {exc}"), file=sys.stderr)
        return 1
    print(
        f"configuration {version} set for agent {args.name!r}; it is pushed on the agent's "
        f"stream (the agent validates it and reports the outcome: printerhq server agents)"
    )
    return 0
