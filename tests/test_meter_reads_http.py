"""Meter reads over HTTP: the API's checks and answer, the dashboard's CSV (numbers equal to the
API's, formula cells defused), and the agents and sites pages; over real TLS sockets."""

from __future__ import annotations

import csv
import io
import ssl

import httpx
import pytest

from printerhq import control
from printerhq.server.agent_control import AgentControl
from printerhq.server.dashboard import COOKIE, NAV_LINKS
from printerhq.server.run import run_server

from .helpers_server import new_token
from .test_meter_reads import date, day, report

FORMULA = '=HYPERLINK("http://evil.example","x")'


@pytest.fixture
async def server(tmp_path):
    async with run_server(tmp_path / "server", self_signed=True) as srv:
        srv.viewer_token, srv.agent_token = new_token(), new_token()
        await srv.store.add_viewer("reader", srv.viewer_token)
        await srv.store.add_agent("north-1", srv.agent_token, site="north")
        await srv.store.add_agent("south-1", new_token(), site="south")
        agent = await srv.store.agent_for_token(srv.agent_token)
        reports = [
            report("A", "10.0.0.1", day(-1), total=1000, colour=100),
            report("A", "10.0.0.1", day(2), total=1200, colour=150),
            report("A", "10.0.0.1", day(4), total=40, colour=160),  # reset
            report("A", "10.0.0.1", day(9.5), total=90, colour=170),
            report(FORMULA, "10.0.0.2", day(3), total=5),
            report(FORMULA, "10.0.0.2", day(9.9), total=25),
        ]
        for i, r in enumerate(reports):
            await srv.store.ingest(agent, f"b{i}", [r])
        srv.ctx = ssl.create_default_context(cafile=str(srv.certfile))
        yield srv


def client(server, *, token: str | None = None, cookie: str | None = None) -> httpx.AsyncClient:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    if cookie:
        headers["cookie"] = f"{COOKIE}={cookie}"
    return httpx.AsyncClient(verify=server.ctx, base_url=server.url, headers=headers)


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ({}, "from is required"),
        ({"from": "2026-01-01"}, "to is required"),
        ({"from": "01/01/2026", "to": "2026-02-01"}, "YYYY-MM-DD"),
        ({"from": "2026-02-01", "to": "2026-01-01"}, "after from"),
        ({"from": "2026-01-01", "to": "2026-02-01", "site": "x" * 65}, "site name"),
        ({"from": "2026-01-01", "to": "2026-02-01", "site": "a\x1bb"}, "site name"),
    ],
)
async def test_bad_parameters_get_a_clear_400(server, query, words):
    async with client(server, token=server.viewer_token) as c:
        r = await c.get("/api/v1/meter-reads", params=query)
    assert r.status_code == 400 and words in r.json()["error"]


async def test_api_answers_the_period(server):
    async with client(server, token=server.viewer_token) as c:
        r = await c.get("/api/v1/meter-reads", params={"from": date(0), "to": date(10)})
        south = await c.get(
            "/api/v1/meter-reads", params={"from": date(0), "to": date(10), "site": "south"}
        )
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert (body["from"], body["to"], body["site"]) == (date(0), date(10), None)
    a = next(d for d in body["devices"] if d["serial"] == "A")
    assert (a["site"], a["address"], a["model"]) == ("north", "10.0.0.1", "M507")
    assert (
        a["counters"]["total"]["pages"] == 200 + 50 and "reset" in a["counters"]["total"]["flags"]
    )
    assert (a["counters"]["colour"]["start"], a["counters"]["colour"]["end"]) == (100, 170)
    assert south.json()["devices"] == []  # every device here was reported by north's agent


async def test_csv_numbers_equal_the_api_and_formulas_are_defused(server):
    period = {"from": date(0), "to": date(10)}
    async with client(server, token=server.viewer_token) as c:
        api = (await c.get("/api/v1/meter-reads", params=period)).json()
    async with client(server) as c:  # no session: to the login page
        assert (await c.get("/meter-reads.csv", params=period)).status_code == 303
    async with client(server, cookie=server.viewer_token) as c:
        r = await c.get("/meter-reads.csv", params=period)
        bad = await c.get("/meter-reads.csv", params={"from": "x", "to": date(10)})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.text
    rows = list(csv.DictReader(io.StringIO(r.text)))
    from_api = {
        (str(d["device_id"]), name): b for d in api["devices"] for name, b in d["counters"].items()
    }
    assert len(rows) == len(from_api) == 3
    for row in rows:
        b = from_api[(row["device_id"], row["counter"])]
        assert (int(row["start"]), int(row["end"]), int(row["pages"])) == (
            b["start"],
            b["end"],
            b["pages"],
        )
    hostile = next(row for row in rows if row["address"] == "10.0.0.2")
    assert hostile["serial"] == "'" + FORMULA  # a spreadsheet shows it as text


async def test_meter_reads_page_has_a_form_and_a_link(server):
    async with client(server, cookie=server.viewer_token) as c:
        page = await c.get("/meter-reads", params={"from": date(0), "to": date(10), "site": "<b>"})
        wrong = await c.get("/meter-reads", params={"from": "2026-02-30", "to": date(10)})
    assert page.status_code == 200 and '<form method="get" action="/meter-reads">' in page.text
    assert f'href="/meter-reads.csv?from={date(0)}&amp;to={date(10)}&amp;site=%3Cb%3E"' in page.text
    assert "<b>" not in page.text
    assert wrong.status_code == 400 and 'id="download"' not in wrong.text
    for path, _ in NAV_LINKS:
        assert f'href="{path}"' in page.text


async def test_agents_and_sites_pages(server):
    agents = AgentControl(server.store)
    north = await server.store.agent_for_token(server.agent_token)
    await agents.record(north.id, control.Hello(version="9.9<script>", remote_config=False))
    last = control.CycleStatus(
        time=day(9),
        kind="warm",
        duration=3.5,
        addresses=254,
        printers=7,
        errors=2,
        scan_bytes=120_000,
        upload_bytes=5_000,
    )
    await agents.record(north.id, control.Status(state="idle", cycle=4, last=last))
    async with client(server, token=server.viewer_token) as c:
        api = (await c.get("/api/v1/agents")).json()
    assert {a["name"]: a["site"] for a in api} == {"north-1": "north", "south-1": "south"}
    from printerhq.server.agents_command import render_agents

    table = render_agents(api, now=day(10)).splitlines()  # `printerhq server agents`
    assert table[0].split()[:2] == ["AGENT", "SITE"] and table[1].split()[:2] == [
        "north-1",
        "north",
    ]
    async with client(server, cookie=server.viewer_token) as c:
        page = (await c.get("/agents")).text
        sites = (await c.get("/sites")).text
    assert page.count('<tr class="agent">') == 2 and "9.9&lt;script&gt;" in page
    row = page.split('<tr class="agent">')[1]
    for cell in ("north", ">254<", ">7<", "125.0 kB", ">2<"):
        assert cell in row, cell
    assert "no cycle reported yet" in page.split('<tr class="agent">')[2]
    # north: two devices, both silent for weeks (the readings are old): both need someone.
    north_row = sites.split('<tr class="site">')[1]
    assert 'href="/?site=north"' in north_row
    assert [c.split("<")[0] for c in north_row.split('class="num')[1:]] == [
        '">1',
        '">2',
        '">0',
        ' alert">2',
    ]
    assert sites.count('<tr class="site">') == 2  # south has an agent and no device


async def test_pages_need_a_session(server):
    async with client(server) as c:
        for path in ("/agents", "/sites", "/meter-reads"):
            r = await c.get(path)
            assert r.status_code == 303 and r.headers["location"] == "/login", path


async def test_chromium_fleet_to_meter_read_csv_equal_to_the_api(server, tmp_path):
    """A real browser: from the fleet page through the navigation to the meter reads page, a
    period typed into the form, the download link clicked; the downloaded file's numbers are
    the API's."""
    import trio

    from .helpers_chromium import chromium_binary, open_browser

    if chromium_binary() is None:
        pytest.skip("chromium not installed (apt-get install -y chromium)")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with trio.fail_after(120):
        async with open_browser(tmp_path / "profile", tmp_path / "chromium.log") as b:
            session = await b.new_page()
            await b.call(
                "Browser.setDownloadBehavior",
                {"behavior": "allow", "downloadPath": str(downloads), "eventsEnabled": True},
            )
            await b.open_signed_in(session, server.url, COOKIE, server.viewer_token)
            assert await b.evaluate(session, "document.querySelectorAll('tr.device').length") == 2
            await b.navigate_and_wait(
                session,
                lambda: b.evaluate(
                    session, "document.querySelector('header a[href=\"/meter-reads\"]').click()"
                ),
                "p === '/meter-reads'",
            )
            await b.evaluate(
                session,
                f"document.querySelector('input[name=from]').value = '{date(0)}';"
                f"document.querySelector('input[name=to]').value = '{date(10)}';",
            )
            await b.navigate_and_wait(
                session,
                lambda: b.evaluate(session, "document.querySelector('main form button').click()"),
                f"p === '/meter-reads' && location.search.includes('{date(10)}')",
            )
            seen = len(b.events)
            await b.evaluate(session, "document.getElementById('download').click()")
            for _ in range(400):  # bounded: progress events until the download ends
                event = await b.wait_event("Browser.downloadProgress", after=seen)
                seen = next(i for i in range(seen, len(b.events)) if b.events[i] is event) + 1
                if event["params"]["state"] != "inProgress":
                    break
                await trio.sleep(0)
    assert event["params"]["state"] == "completed"
    [path] = list(downloads.iterdir())
    assert path.name == f"meter-reads-{date(0)}-{date(10)}.csv"
    rows = list(csv.DictReader(io.StringIO(path.read_text("utf-8"))))
    async with client(server, token=server.viewer_token) as c:
        api = (await c.get("/api/v1/meter-reads", params={"from": date(0), "to": date(10)})).json()
    from_api = sorted(
        (d["device_id"], name, b["start"], b["end"], b["pages"])
        for d in api["devices"]
        for name, b in d["counters"].items()
    )
    from_csv = sorted(
        (int(r["device_id"]), r["counter"], int(r["start"]), int(r["end"]), int(r["pages"]))
        for r in rows
    )
    assert from_csv == from_api and len(from_csv) == 3
