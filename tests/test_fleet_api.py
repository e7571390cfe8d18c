"""The fleet API over real sockets (issue 14 item 5, issue 16 item 2): ``GET /api/v1/devices``
in pages, searched, filtered and sorted, trouble first by default, with the total and the next
page's link; ``GET /api/v1/devices/{id}/forecast``; every bad parameter a clear 400."""

from __future__ import annotations

import ssl
import time

import httpx
import pytest

from printerhq import wire
from printerhq.server.dashboard import COOKIE
from printerhq.server.run import run_server

from .helpers_fleet import URGENCY_ORDER, trouble_reports
from .helpers_server import new_token


@pytest.fixture
async def server(tmp_path):
    async with run_server(tmp_path / "server", self_signed=True) as srv:
        token, srv.viewer = new_token(), new_token()
        await srv.store.add_agent("site-a", token, site="Acme")
        await srv.store.add_viewer("reader", srv.viewer)
        body = wire.compress_body(
            wire.encode(
                wire.Batch(batch_id="b-1", agent="site-a", reports=trouble_reports(time.time()))
            )
        )
        async with client(srv) as c:
            r = await c.post(
                "/api/v1/ingest",
                content=body,
                headers={"authorization": f"Bearer {token}", "content-encoding": "deflate"},
            )
            assert r.status_code == 200, r.text
        # Ingest told the background task; wait for it (no sleeping, no timing).
        await srv.app.state.summaries.settle()
        yield srv


def client(server) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        verify=ssl.create_default_context(cafile=str(server.certfile)),
        base_url=server.url,
        headers={"authorization": f"Bearer {getattr(server, 'viewer', '')}"},
    )


async def test_pages_in_urgency_order_with_total_and_next_link(server):
    seen, url = [], "/api/v1/devices?limit=2"
    async with client(server) as c:
        for _ in range(5):
            r = await c.get(url)
            assert r.status_code == 200 and r.headers["x-total-count"] == "5"
            seen += [row["serial"] for row in r.json()]
            link = r.headers.get("link")
            if link is None:
                break
            assert link.endswith('>; rel="next"')
            url = link[1 : link.index(">")]
    assert seen == URGENCY_ORDER
    assert server.app.state.summaries.refreshed >= 5


async def test_search_filter_sort_include(server):
    async with client(server) as c:
        r = await c.get("/api/v1/devices", params={"q": "jam0001", "include": "latest"})
        [row] = r.json()
        assert row["urgency"] == "error" and row["status"] == "paper jam"
        assert row["latest"]["report"]["status"]["errors"] == ["jammed"]
        r = await c.get("/api/v1/devices", params={"status": "runs_out"})
        assert [d["serial"] for d in r.json()] == ["LOW0001"]
        assert r.json()[0]["runs_out_supply"] == "Black Cartridge HP 89A"
        r = await c.get(
            "/api/v1/devices", params={"site": "Acme", "vendor": "HP", "sort": "-lowest"}
        )
        assert r.headers["x-total-count"] == "5" and r.json()[0]["serial"] == "SLOW001"
        assert "link" not in r.headers
        page = await c.get(
            "/", params={"site": "Acme"}, headers={"cookie": f"{COOKIE}={server.viewer}"}
        )
        assert '<option value="Acme">' in page.text  # the site filter offers the sites
        assert page.text.count('<tr class="device"') == 5


async def test_without_parameters_every_device_as_before(server):
    async with client(server) as c:
        r = await c.get("/api/v1/devices")
    rows = r.json()
    assert [d["id"] for d in rows] == sorted(d["id"] for d in rows) and len(rows) == 5
    for key in ("id", "key", "address", "vendor", "model", "serial", "last_seen", "agent", "site"):
        assert key in rows[0]


async def test_forecast_per_supply(server):
    async with client(server) as c:
        [low] = (await c.get("/api/v1/devices", params={"q": "LOW0001"})).json()
        r = await c.get(f"/api/v1/devices/{low['id']}/forecast")
        missing = await c.get("/api/v1/devices/999999/forecast")
        anonymous = await c.get(
            f"/api/v1/devices/{low['id']}/forecast", headers={"authorization": ""}
        )
    assert anonymous.status_code == 401  # viewers only, as every read
    assert r.status_code == 200
    [supply] = r.json()["supplies"]
    assert supply["description"] == "Black Cartridge HP 89A" and supply["percent"] == 10.0
    assert supply["rate_per_day"] == pytest.approx(2.0)
    assert supply["days_left"] == pytest.approx(5.0, abs=0.01)
    assert supply["basis"] == "steady use over 10 days"
    assert missing.status_code == 404


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "501"},
        {"limit": "ten"},
        {"limit": "1e3"},
        {"offset": "-1"},
        {"offset": "99999999999999999999"},
        {"sort": "password"},
        {"sort": "--urgency"},
        {"status": "broken"},
        {"include": "everything"},
        {"q": "x" * 65},
        {"q": "a\x00b"},
        {"site": "s" * 129},
        {"page": "2"},
    ],
)
async def test_bad_parameters_are_a_clear_400(server, params):
    async with client(server) as c:
        r = await c.get("/api/v1/devices", params=params)
        page = await c.get("/", params=params, headers={"cookie": f"{COOKIE}={server.viewer}"})
    assert r.status_code == 400, r.text
    assert r.json()["error"] and "Traceback" not in r.text
    # The fleet page refuses them the same way, in words on a page.
    assert page.status_code == 400 and 'class="error"' in page.text
