"""``printerhq server set-alerts FILE`` and ``printerhq server alerts``, as an administrator
runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import trio

from printerhq.server import alert_rules as rules
from printerhq.server.alerts_store import AlertStore
from printerhq.server.store import Store


def admin(tmp_path: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "printerhq.server", "server", *args, "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        input=stdin,
    )


def test_set_alerts_validates_and_stores_for_every_instance(tmp_path: Path) -> None:
    assert admin(tmp_path, "add-agent", "acme-1", "--site", "Acme Ltd").returncode == 0
    secret = tmp_path / "hook.secret"
    secret.write_text("s3cret-s3cret-s3cret\n")
    good = tmp_path / "alerts.toml"
    good.write_text(
        "[defaults]\nsupply_below_percent = 15\n"
        '[site."Acme Ltd"]\nsupply_below_percent = 5\n'
        f'[[webhook]]\nurl = "https://127.0.0.1:8443/hook"\nsecret_file = "{secret}"\n'
        'sites = ["Acme Ltd"]\n'
    )
    done = admin(tmp_path, "set-alerts", str(good))
    assert done.returncode == 0, done.stderr
    assert "1 site override(s), 1 webhook(s)" in done.stdout
    assert "s3cret" not in done.stdout + done.stderr

    bad = tmp_path / "bad.toml"
    bad.write_text('[site."Acme Ltd"]\nsupply_below_percent = 150\n')
    refused = admin(tmp_path, "set-alerts", str(bad))
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        f"printerhq server: {bad}: Expected `float` <= 100.0 - at "
        '`site."Acme Ltd".supply_below_percent`'
    )
    missing = admin(
        tmp_path,
        "set-alerts",
        "-",
        stdin=f'[[webhook]]\nurl = "https://127.0.0.1/h"\nsecret_file = "{tmp_path}/nope"\n',
    )
    assert missing.returncode == 1 and "cannot read the secret file" in missing.stderr

    async def stored() -> rules.AlertsConfig:
        store = await Store.open(tmp_path)
        try:
            return await AlertStore(store).config()
        finally:
            await store.aclose()

    config = trio.run(stored)  # the refused files changed nothing
    assert config.for_site("Acme Ltd").supply_below_percent == 5
    assert config.for_site("Beta").supply_below_percent == 15


def test_alerts_lists_open_and_closed(tmp_path: Path) -> None:
    assert admin(tmp_path, "add-agent", "acme-1").returncode == 0
    assert admin(tmp_path, "alerts").stdout.strip() == "no open alerts"

    async def open_some() -> None:
        store = await Store.open(tmp_path)
        try:
            alerts = AlertStore(store)
            c = rules.Condition(
                "device:1",
                "printer_error",
                "jammed",
                "critical",
                "Acme",
                "127.0.0.5 M507\x1b[2J",
                "paper jam",
            )
            await alerts.sync({c.key: c}, rules.AlertsConfig())
        finally:
            await store.aclose()

    trio.run(open_some)
    listed = admin(tmp_path, "alerts")
    assert listed.returncode == 0
    header, line = listed.stdout.splitlines()
    assert header.split()[:4] == ["SEVERITY", "FOR", "SITE", "SUBJECT"]
    assert line.startswith("critical") and "printer error: paper jam" in line
    assert "\x1b" not in listed.stdout  # a device's text is shown safely
    [row] = json.loads(admin(tmp_path, "alerts", "--json").stdout)
    assert (row["rule"], row["state"]) == ("printer_error", "open")
    assert json.loads(admin(tmp_path, "alerts", "--closed", "--json").stdout) == []
