"""Alerts in the database, on SQLite and a real PostgreSQL: each alert opens once and closes
when resolved; two instances evaluating at once open it once; the webhook outbox survives a
restart and is delivered once, signed, retried on the backoff schedule (trio's MockClock)."""

from __future__ import annotations

import http.server
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import trio
import trio.testing

from printerhq import model
from printerhq.server import alert_rules as rules
from printerhq.server import webhooks
from printerhq.server.alerts_store import AlertStore
from printerhq.server.alerts_worker import FORECAST_EVERY, AlertWorker, days_left
from printerhq.server.store import Store

from .helpers_server import make_report

SECRET = b"0123456789abcdef-test-secret"


def supply_report(
    i: int, percent: float, *, errors: tuple[str, ...] = (), at: float | None = None
) -> model.DeviceReport:
    base = make_report(i, t0=time.time() - 100 if at is None else at - i, serials=1)
    supply = model.Supply(
        index=1, description="Black Cartridge", kind="toner", percent=percent, level=int(percent)
    )
    status = model.Status(device="running", errors=list(errors))
    return model.DeviceReport(
        identity=base.identity, scanned_at=base.scanned_at, supplies=[supply], status=status
    )


class Feeder:
    """Ingests one report per call, as a fresh batch of agent ``acme``."""

    def __init__(self, store: Store):
        self.store = store
        self.n = 0

    async def __call__(self, percent: float, **kw: Any) -> None:
        agent = await self.store.agent_for_token("t-acme")
        assert agent is not None
        self.n += 1
        await self.store.ingest(agent, f"b{self.n}", [supply_report(self.n, percent, **kw)])


async def setup_fleet(store: Store) -> Feeder:
    await store.add_agent("acme", "t-acme", site="Acme Ltd")
    return Feeder(store)


async def rows(store: Store) -> list[tuple]:
    return await store.run(
        lambda c: c.execute(
            "SELECT rule, item, severity, site, closed_at IS NULL FROM alerts ORDER BY id"
        ).fetchall()
    )


async def test_an_alert_opens_once_and_closes_when_resolved(store) -> None:
    feed = await setup_fleet(store)
    worker = AlertWorker(store)
    await feed(5.0)
    first = await worker.evaluate_once()
    assert (first.opened, first.closed) == (1, 0)
    assert await rows(store) == [("supply_low", "1", "warning", "Acme Ltd", True)]
    assert (await worker.evaluate_once()).opened == 0  # every scan: still the one alert
    await feed(12.0)  # above 10 %, inside the band: still open
    assert (await worker.evaluate_once()).closed == 0
    await feed(50.0)  # a new cartridge
    assert (await worker.evaluate_once()).closed == 1
    [row] = await rows(store)
    assert row[-1] is False or row[-1] == 0  # closed, kept
    [closed] = await worker.alerts.alerts("closed")
    assert closed["closed_at"] >= closed["opened_at"] and closed["title"] == "supply low"
    await feed(4.0, errors=("jammed",))
    result = await worker.evaluate_once()
    assert (result.opened, result.closed) == (2, 0)
    open_now = await worker.alerts.alerts("open")
    assert [(a["rule"], a["severity"]) for a in open_now] == [
        ("printer_error", "critical"),  # most urgent first
        ("supply_low", "warning"),
    ]
    assert open_now[0]["message"] == "paper jam" and open_now[0]["subject_kind"] == "device"
    assert len(await rows(store)) == 3  # the first alert is not reopened: a new one is


async def test_the_database_keeps_one_open_alert_per_subject_rule_and_item(store) -> None:
    alerts = AlertStore(store)
    c = rules.Condition("device:1", "supply_low", "1", "warning", None, "d", "low")
    first = await alerts.sync({c.key: c}, rules.AlertsConfig())
    # An instance that read the open alerts before the other opened it tries again:
    stale = await store.run(alerts._sync, {c.key: c}, rules.AlertsConfig(), time.time())
    assert (first.opened, stale.opened) == (1, 0)
    unique = (sqlite3.IntegrityError, psycopg.errors.UniqueViolation)
    with pytest.raises(unique):  # the partial unique index itself
        await store.run(
            lambda conn: store._x(
                conn,
                "INSERT INTO alerts(subject, rule, item, severity, label, message, opened_at)"
                " VALUES ('device:1', 'supply_low', '1', 'warning', 'd', 'x', 0)",
            )
        )


async def test_two_instances_evaluating_at_once_open_and_close_once(
    postgres_url,
    tmp_path,
) -> None:
    a = await Store.open(tmp_path / "a", postgres_url)
    b = await Store.open(tmp_path / "b", postgres_url)
    try:
        feed = await setup_fleet(a)
        secret = tmp_path / "secret"
        secret.write_bytes(SECRET)
        await AlertStore(a).set_config(
            f'[[webhook]]\nurl = "http://127.0.0.1:9/hook"\nsecret_file = "{secret}"\n'
        )
        workers = [AlertWorker(s) for s in (a, b, a, b)]
        await feed(3.0)
        async with trio.open_nursery() as nursery:
            for w in workers:
                nursery.start_soon(w.evaluate_once)
        await feed(90.0)
        async with trio.open_nursery() as nursery:
            for w in workers:
                nursery.start_soon(w.evaluate_once)
        assert len(await rows(a)) == 1
        events = [(r["alert_id"], r["event"]) for r in await AlertStore(b).outbox()]
        assert sorted(e for _, e in events) == ["closed", "opened"]  # each queued once
    finally:
        await a.aclose()
        await b.aclose()


async def test_silent_agent_and_unseen_device(store) -> None:
    feed = await setup_fleet(store)
    await feed(80.0)
    now = time.time()
    worker = AlertWorker(store, now=lambda: now + 2 * 86400)
    await worker.evaluate_once()
    found = {(a["rule"], a["subject_kind"]): a for a in await worker.alerts.alerts("open")}
    assert set(found) == {("device_unseen", "device"), ("agent_silent", "agent")}
    assert found[("agent_silent", "agent")]["label"] == "acme"
    assert found[("agent_silent", "agent")]["severity"] == "critical"


async def test_runs_out_within_n_days_uses_the_forecaster(store) -> None:
    feed = await setup_fleet(store)
    for percent in (60.0, 50.0, 40.0):
        await feed(percent)
    seen: list[list[tuple[float, float]]] = []

    def forecaster(points, now):
        seen.append(list(points))
        return 3.0

    now = time.time()
    clock = [now]
    worker = AlertWorker(store, forecaster=forecaster, now=lambda: clock[0])
    await worker.evaluate_once()
    assert [p for _, p in seen[0]] == [60.0, 50.0, 40.0]  # oldest first
    [alert] = await worker.alerts.alerts("open")
    assert alert["rule"] == "supply_runs_out" and "about 3 days" in alert["message"]
    # Within the hour the forecast is counted down, not recomputed from the history.
    clock[0] = now + 1800
    await worker.evaluate_once()
    assert len(seen) == 1
    clock[0] = now + FORECAST_EVERY
    await worker.evaluate_once()
    assert len(seen) == 2


async def test_runs_out_within_n_days_from_the_real_forecast(store) -> None:
    """14 daily readings falling 2 points a day to 12 %: about 6 days left, within 7."""
    feed = await setup_fleet(store)
    now = time.time()
    agent = await store.agent_for_token("t-acme")
    for day in range(14):
        at = now - (13 - day) * 86400 - 3600
        await store.ingest(agent, f"d{day}", [supply_report(1, 38.0 - 2 * day, at=at)])
    del feed
    worker = AlertWorker(store, forecaster=days_left, now=lambda: now)
    await worker.evaluate_once()
    [alert] = await worker.alerts.alerts("open")
    assert alert["rule"] == "supply_runs_out", alert
    assert "runs out in about 6 days (alert within 7 days)" in alert["message"]


# -- webhooks ------------------------------------------------------------------------------
class Receiver:
    """A real HTTP server on 127.0.0.1 that answers with ``statuses`` in turn (then 204)."""

    def __init__(self, statuses: list[int]):
        self.statuses = list(statuses)
        self.requests: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                outer.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(outer.statuses.pop(0) if outer.statuses else 204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver([500, 503]) as r:
        yield r


async def configure(alerts: AlertStore, tmp_path: Path, url: str, extra: str = "") -> None:
    secret = tmp_path / "hook.secret"
    secret.write_bytes(SECRET + b"\n")
    await alerts.set_config(f'[[webhook]]\nurl = "{url}"\nsecret_file = "{secret}"\n{extra}')


async def open_one(alerts: AlertStore, now: float, severity: str = "critical") -> None:
    c = rules.Condition("device:1", "printer_error", "jammed", severity, "Acme", "d", "paper jam")
    await alerts.sync({c.key: c}, await alerts.config(), now)


async def test_webhook_retried_on_the_backoff_schedule_and_delivered_once(
    store, tmp_path, receiver, mock_clock: trio.testing.MockClock
) -> None:
    mock_clock.jump(1_800_000_000)  # wall-clock-like times: the signature carries one
    alerts = AlertStore(store)
    await configure(alerts, tmp_path, receiver.url)
    await open_one(alerts, trio.current_time())
    async with httpx.AsyncClient(trust_env=False) as client:
        deliverer = webhooks.Deliverer(alerts, client, now=trio.current_time)
        assert await deliverer.run_once() == 1  # 500
        assert await deliverer.run_once() == 0  # not due for 10 s
        mock_clock.jump(9.9)
        assert await deliverer.run_once() == 0
        mock_clock.jump(0.1)
        assert await deliverer.run_once() == 1  # 503; next in 20 s
        mock_clock.jump(19.9)
        assert await deliverer.run_once() == 0
        mock_clock.jump(0.1)
        assert await deliverer.run_once() == 1  # 204: delivered
        mock_clock.jump(10_000)
        assert await deliverer.run_once() == 0  # delivered once, never again
    assert len(receiver.requests) == 3
    bodies = {body for _, body in receiver.requests}
    assert len(bodies) == 1  # the same body (and id) on every attempt
    headers, body = receiver.requests[-1]
    signature = headers["x-printerhq-signature"]
    sent_at = 1_800_000_030  # the third attempt, 10 + 20 s after the first
    assert signature.startswith(f"t={sent_at},v1=")
    assert webhooks.verify(SECRET, body, signature, sent_at + 2)
    assert not webhooks.verify(SECRET, body, signature, trio.current_time())  # a replay, later
    assert not webhooks.verify(b"another-secret-16", body, signature, sent_at)
    assert not webhooks.verify(SECRET, body + b" ", signature, sent_at)
    sent = json.loads(body)
    assert sent["event"] == "alert.opened" and sent["alert"]["message"] == "paper jam"
    assert sent["alert"]["severity"] == "critical" and sent["id"].endswith("-opened")
    [row] = await alerts.outbox()
    assert (row["attempts"], row["failed_at"]) == (3, None) and row["delivered_at"] is not None


def test_backoff_doubles_and_gives_up() -> None:
    delays = [webhooks.backoff(n) for n in range(1, webhooks.MAX_ATTEMPTS + 1)]
    assert delays[:4] == [10, 20, 40, 80] and delays[-1] is None
    assert all(d is None or d <= webhooks.MAX_DELAY for d in delays)


async def test_a_webhook_that_keeps_failing_is_given_up(
    store, tmp_path, mock_clock: trio.testing.MockClock
) -> None:
    with Receiver([500] * 100) as r:
        alerts = AlertStore(store)
        await configure(alerts, tmp_path, r.url)
        await open_one(alerts, trio.current_time())
        async with httpx.AsyncClient(trust_env=False) as client:
            deliverer = webhooks.Deliverer(alerts, client, now=trio.current_time)
            for _ in range(20):
                await deliverer.run_once()
                mock_clock.jump(webhooks.MAX_DELAY)
    assert len(r.requests) == webhooks.MAX_ATTEMPTS
    [row] = await alerts.outbox()
    assert row["failed_at"] is not None and row["last_error"] == "HTTP 500"


async def test_filters_by_site_and_severity(store, tmp_path) -> None:
    alerts = AlertStore(store)
    await configure(
        alerts, tmp_path, "http://127.0.0.1:9/x", 'sites = ["Acme"]\nmin_severity = "warning"\n'
    )
    await open_one(alerts, time.time(), severity="info")
    assert await alerts.outbox() == []  # below the webhook's severity
    other = rules.Condition("device:2", "supply_low", "1", "warning", "Beta", "d", "low")
    await alerts.sync({other.key: other}, await alerts.config())
    assert await alerts.outbox() == []  # the info alert closed, the Beta one is another site's


async def test_outbox_survives_a_restart_and_two_deliverers_send_once(database, tmp_path) -> None:
    with Receiver([]) as r:
        first = await Store.open(*database)
        alerts = AlertStore(first)
        await configure(alerts, tmp_path, r.url)
        await open_one(alerts, time.time())
        # An instance claims the row and dies before sending: its lease must run out first.
        [claimed] = await alerts.claim("dead-instance", time.time(), webhooks.LEASE, 10)
        await first.aclose()  # restart

        stores = [await Store.open(*database) for _ in range(2)]
        try:
            async with httpx.AsyncClient(trust_env=False) as client:
                deliverers = [webhooks.Deliverer(AlertStore(s), client) for s in stores]
                assert await deliverers[0].run_once() == 0  # still held by the dead one
                later = time.time() + webhooks.LEASE + 1
                for d in deliverers:
                    d.now = lambda: later
                counts: list[int] = []

                async def one(d: webhooks.Deliverer) -> None:
                    counts.append(await d.run_once())

                async with trio.open_nursery() as nursery:
                    for d in deliverers:
                        nursery.start_soon(one, d)
            assert sorted(counts) == [0, 1]
            assert len(r.requests) == 1
            [row] = await AlertStore(stores[0]).outbox()
            assert row["delivered_at"] is not None and row["attempts"] == claimed.attempts + 1
        finally:
            for s in stores:
                await s.aclose()


async def test_secrets_come_from_files_and_failures_say_why(store, tmp_path) -> None:
    alerts = AlertStore(store)
    await alerts.set_config(
        f'[[webhook]]\nurl = "http://127.0.0.1:9/x"\nsecret_file = "{tmp_path}/missing"\n'
    )
    await open_one(alerts, time.time())
    async with httpx.AsyncClient(trust_env=False) as client:
        assert await webhooks.Deliverer(alerts, client).run_once() == 1
    [row] = await alerts.outbox()
    assert "cannot read the secret file" in row["last_error"] and row["delivered_at"] is None
    short = tmp_path / "short"
    short.write_bytes(b"abc")
    with pytest.raises(webhooks.SecretError, match="16 to 4096"):
        webhooks.read_secret(str(short))


async def test_an_error_closes_when_no_report_of_the_last_minutes_shows_it(store) -> None:
    feed = await setup_fleet(store)
    now = time.time()
    clock = [now]
    worker = AlertWorker(store, now=lambda: clock[0])
    await feed(80.0, errors=("lowPaper",))
    assert (await worker.evaluate_once()).opened == 1
    await feed(80.0)  # the next scan: the tray was filled
    assert (await worker.evaluate_once()).closed == 0  # the earlier scan still holds it
    clock[0] = now + 31 * 60  # no report of the last 30 minutes shows it any more
    assert (await worker.evaluate_once()).closed == 1
    await feed(80.0, errors=("lowPaper",))
    assert (await worker.evaluate_once()).opened == 1  # a new alert, not the old one reopened
