"""``printerhq server set-alerts FILE`` and ``printerhq server alerts`` (docs/alerts.md)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from printerhq.cmdline.exits import FAILURE, OK, USAGE
from printerhq.server import alert_rules as rules
from printerhq.server.alerts_store import AlertStore
from printerhq.server.store import Store
from printerhq.server.webhooks import SecretError, read_secret
from printerhq.terminal import safe, safe_json


def check_file(text: str) -> rules.AlertsConfig:
    """The file validated as the server will use it, secrets readable (ConfigError if not)."""
    config = rules.parse_config(text)
    urls = [hook.url for hook in config.webhook]
    if len(set(urls)) != len(urls):
        raise rules.ConfigError("two [[webhook]] sections have the same url")
    for n, hook in enumerate(config.webhook):
        try:
            read_secret(hook.secret_file)
        except SecretError as exc:
            raise rules.ConfigError(f"webhook {n + 1} ({hook.url}): {exc}") from None
    return config


def render(alerts: list[dict[str, Any]], now: float) -> str:
    lines = [f"{'SEVERITY':9} {'FOR':>8} {'SITE':16} {'SUBJECT':40} ALERT"]
    for a in alerts:
        age = max(0.0, now - a["opened_at"])
        took = f"{age / 3600:.1f}h" if age >= 3600 else f"{age / 60:.0f}m"
        lines.append(
            safe(
                f"{a['severity']:9} {took:>8} {(a['site'] or '-')[:16]:16} "
                f"{a['label'][:40]:40} {a['title']}: {a['message']}"
            )
        )
    return "\n".join(lines)


async def run_alerts_action(store: Store, args: argparse.Namespace) -> int:
    alerts = AlertStore(store)
    if args.action == "alerts":
        state = "closed" if args.closed else "open"
        rows = await alerts.alerts(state, since=args.since)
        if args.json:
            print(safe_json(rows))
        elif rows:
            print(render(rows, time.time()))
        else:
            print(f"no {state} alerts")
        return OK
    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(safe(f"printerhq server: cannot read {args.file}: {exc}"), file=sys.stderr)
        return USAGE
    try:
        check_file(text)
        config = await alerts.set_config(text)
    except rules.ConfigError as exc:
        print(safe(f"printerhq server: {args.file}: {exc}"), file=sys.stderr)
        return FAILURE
    print(
        f"alert rules set for every server instance: {len(config.site)} site override(s), "
        f"{len(config.webhook)} webhook(s)"
    )
    return OK
