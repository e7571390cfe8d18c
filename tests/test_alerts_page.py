"""The alerts page and ``GET /api/v1/alerts`` over real TLS sockets, and in headless Chromium;
the server's evaluator runs after ingest."""

from __future__ import annotations

import math
import ssl
import time

import httpx
import msgspec
import pytest
import trio
import trio.testing

from printerhq import model, wire
from printerhq.server import alert_rules as rules
from printerhq.server.alerts_store import AlertStore
from printerhq.server.alerts_worker import AlertWorker
from printerhq.server.dashboard import COOKIE
from printerhq.server.run import run_server
from printerhq.server.store import Store

from .helpers_server import make_report, new_token

SCRIPT = "<script>alert(1)</script>"


def condition(subject: str, rule: str, item: str, severity: str, message: str) -> rules.Condition:
    return rules.Condition(subject, rule, item, severity, "Acme Ltd", f"printer {SCRIPT}", message)


@pytest.fixture
async def server(tmp_path):
    async with run_server(tmp_path / "server", self_signed=True) as srv:
        assert len(srv.app.state.ingest_listeners) == 1  # the evaluator hears of each batch
        srv.agent_token, srv.viewer_token = new_token(), new_token()
        await srv.store.add_agent("acme", srv.agent_token)
        await srv.store.add_viewer("reader", srv.viewer_token)
        agent = await srv.store.agent_for_token(srv.agent_token)
        await srv.store.ingest(agent, "b-1", [make_report(1)])
        [device] = await srv.store.list_devices()
        alerts = AlertStore(srv.store)
        now = time.time()
        gone = condition("device:999", "supply_low", "1", "warning", "was low")
        await alerts.sync({gone.key: gone}, rules.AlertsConfig(), now - 7200)
        found = [
            condition("agent:1", "agent_silent", "", "critical", "no heartbeat for 45 min"),
            condition(f"device:{device['id']}", "printer_alert", "4", "info", "power up"),
            condition(f"device:{device['id']}", "printer_error", "jammed", "critical", "paper jam"),
            condition(f"device:{device['id']}", "supply_low", "1", "warning", SCRIPT),
        ]
        for n in range(len(found)):  # opened one after the other: their age differs
            await alerts.sync(
                {k.key: k for k in found[: n + 1]}, rules.AlertsConfig(), now - 3600 + n
            )
        srv.device_id = device["id"]
        srv.ctx = ssl.create_default_context(cafile=str(srv.certfile))
        yield srv


def client(server, token: str | None = None, cookie: str | None = None) -> httpx.AsyncClient:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    if cookie:
        headers["cookie"] = f"{COOKIE}={cookie}"
    return httpx.AsyncClient(verify=server.ctx, base_url=server.url, headers=headers)


async def test_api_lists_open_alerts_by_severity_then_age(server) -> None:
    async with client(server, server.viewer_token) as c:
        open_alerts = (await c.get("/api/v1/alerts")).json()
        closed = (await c.get("/api/v1/alerts", params={"state": "closed", "since": 0})).json()
        later = (
            await c.get("/api/v1/alerts", params={"state": "closed", "since": time.time() + 60})
        ).json()
        bad = [
            await c.get("/api/v1/alerts", params=p)
            for p in ({"state": "all"}, {"since": "soon"}, {"since": "nan"}, {"limit": "x"})
        ]
    assert [(a["rule"], a["severity"]) for a in open_alerts] == [
        ("agent_silent", "critical"),
        ("printer_error", "critical"),  # the younger of the two critical ones
        ("supply_low", "warning"),
        ("printer_alert", "info"),
    ]
    assert open_alerts[0]["title"] == "agent heartbeat missing"
    assert [a["message"] for a in closed] == ["was low"] and closed[0]["state"] == "closed"
    assert later == []
    assert [r.status_code for r in bad] == [400, 400, 400, 400]
    assert all(math.isfinite(a["opened_at"]) for a in open_alerts)


async def test_api_needs_a_viewer_token(server) -> None:
    async with client(server) as c:
        assert (await c.get("/api/v1/alerts")).status_code == 401
    async with client(server, server.agent_token) as c:
        assert (await c.get("/api/v1/alerts")).status_code == 403


async def test_page_shows_open_then_recently_closed_alerts_escaped(server) -> None:
    async with client(server) as c:
        r = await c.get("/alerts")
        assert r.status_code == 303 and r.headers["location"] == "/login"
    async with client(server, cookie=server.viewer_token) as c:
        page = await c.get("/alerts")
        fleet = await c.get("/")
    assert (
        page.status_code == 200 and "default-src 'none'" in page.headers["content-security-policy"]
    )
    text = page.text
    assert SCRIPT not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert text.index('id="open-alerts"') < text.index('id="closed-alerts"')
    assert text.index("paper jam") < text.index("power up")
    assert f'<a href="/devices/{server.device_id}">' in text and "agent printer" in text
    assert "Open alerts (4)" in text and "was low" in text
    assert '<a href="/alerts">Alerts</a>' in fleet.text


async def test_headless_chromium_shows_the_alerts_page(server, tmp_path) -> None:
    from .helpers_chromium import chromium_binary, open_browser

    if chromium_binary() is None:
        pytest.skip("chromium not installed (apt-get install -y chromium)")
    with trio.fail_after(120):
        async with open_browser(tmp_path / "chromium-profile", tmp_path / "chromium.log") as b:
            session = await b.new_page()
            await b.open_signed_in(session, server.url, COOKIE, server.viewer_token)
            # The fleet page's nav link leads to the alerts, as a user clicks it.
            await b.navigate_and_wait(
                session,
                lambda: b.evaluate(
                    session, "document.querySelector('a[href=\"/alerts\"]').click()"
                ),
                "p === '/alerts'",
            )
            severities = await b.evaluate(
                session,
                "[...document.querySelectorAll('#open-alerts tr.alert-row')]"
                ".map(r => r.dataset.severity)",
            )
            cells = await b.evaluate(
                session,
                "[...document.querySelectorAll('#open-alerts tr.alert-row')]"
                ".map(r => r.cells[5].textContent)",
            )
            closed = await b.evaluate(
                session, "document.querySelectorAll('#closed-alerts tr.alert-row').length"
            )
            scripts = await b.evaluate(session, "document.scripts.length")
            await b.navigate_and_wait(
                session,
                lambda: b.evaluate(session, "document.querySelector('#open-alerts a').click()"),
                "p.startsWith('/devices/')",
            )
            device_path = await b.evaluate(session, "location.pathname")
    assert severities == ["critical", "critical", "warning", "info"]
    assert cells == ["no heartbeat for 45 min", "paper jam", SCRIPT, "power up"]  # text, not run
    assert closed == 1 and scripts == 0
    assert device_path == f"/devices/{server.device_id}"
    assert not [e for e in b.events if e["method"] == "Page.javascriptDialogOpening"]


async def test_an_ingest_pokes_the_evaluator(tmp_path, autojump_clock) -> None:
    store = await Store.open(tmp_path)
    try:
        await store.add_agent("acme", "t")
        agent = await store.agent_for_token("t")
        report = make_report(1, t0=time.time())
        low = model.Supply(index=1, description="Black", percent=3.0)
        await store.ingest(agent, "b", [msgspec.structs.replace(report, supplies=[low])])
        worker = AlertWorker(store)
        starts: list[float] = []
        evaluate = worker.evaluate_once

        async def counted():  # when each evaluation starts, on the mock clock
            starts.append(trio.current_time())
            return await evaluate()

        worker.evaluate_once = counted  # type: ignore[method-assign]
        t0 = trio.current_time()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(worker.evaluate_forever, 3600.0, 5.0)
            worker.poke()
            for _ in range(100):  # bounded
                await trio.sleep(1)
                if await worker.alerts.alerts("open"):
                    break
            nursery.cancel_scope.cancel()
        # The poke, not the hourly timer, started the first evaluation: 5 s (settle) later.
        assert starts[0] - t0 == 5.0
        [alert] = await worker.alerts.alerts("open")
        assert alert["rule"] == "supply_low"
    finally:
        await store.aclose()


async def test_each_stored_batch_calls_the_ingest_listeners(server) -> None:
    calls: list[int] = []
    server.app.state.ingest_listeners.append(lambda: calls.append(1))
    batch = wire.Batch(batch_id="b-http", agent="acme", reports=[make_report(5)])
    body = wire.compress_body(wire.encode(batch))
    headers = {"authorization": f"Bearer {server.agent_token}", "content-encoding": "deflate"}
    async with client(server) as c:
        for _ in range(2):  # the second is a duplicate: nothing new to evaluate
            assert (await c.post("/api/v1/ingest", content=body, headers=headers)).is_success
    assert calls == [1]
