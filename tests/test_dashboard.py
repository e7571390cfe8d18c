"""The HTML dashboard over real TLS sockets: login, cookie flags, escaping of hostile device
strings, CSRF refusals, and the fleet and device pages' content."""

from __future__ import annotations

import base64
import datetime
import itertools
import os
import re
import ssl
from pathlib import Path

import httpx
import msgspec
import pytest
import trio

from printerhq import model
from printerhq.server.charts import BOTTOM, SUPPLY_H, TOP
from printerhq.server.dashboard import COOKIE
from printerhq.server.run import run_server

from .helpers_server import make_report, new_token

SCRIPT = "<script>alert(1)</script>"
HOSTILE = {
    "sys_descr": SCRIPT,
    "model": None,  # the fleet table falls back to sysDescr: the script reaches the fleet page
    "vendor": '"><img src=x onerror=alert(2)>',
    "serial": "S'onmouseover='alert(3)",
    "location": "</td></tr></table><h1>owned</h1>",
}


def hostile_report(i: int) -> model.DeviceReport:
    report = make_report(i)
    identity = msgspec.structs.replace(report.identity, **HOSTILE)
    supplies = [
        msgspec.structs.replace(
            report.supplies[0], description="<b>Toner</b><script>alert(4)</script>"
        )
    ]
    alerts = [
        model.Alert(index=1, severity="warning", description="<iframe src=javascript:alert(5)>")
    ]
    return msgspec.structs.replace(report, identity=identity, supplies=supplies, alerts=alerts)


@pytest.fixture
async def server(tmp_path):
    async with run_server(tmp_path / "server", self_signed=True) as srv:
        srv.agent_token, srv.viewer_token = new_token(), new_token()
        await srv.store.add_agent("site-<a>", srv.agent_token)
        await srv.store.add_viewer("reader", srv.viewer_token)
        agent = await srv.store.agent_for_token(srv.agent_token)
        await srv.store.ingest(
            agent, "b-1", [make_report(i) for i in range(3)] + [hostile_report(100)]
        )
        await srv.store.ingest(agent, "b-2", [make_report(i + 13) for i in range(3)])
        srv.ctx = ssl.create_default_context(cafile=str(srv.certfile))
        yield srv


def browser(server, token: str | None = None) -> httpx.AsyncClient:
    headers = {"cookie": f"{COOKIE}={token}"} if token else {}
    return httpx.AsyncClient(verify=server.ctx, base_url=server.url, headers=headers)


async def test_pages_redirect_to_login_without_a_session(server):
    async with browser(server) as c:
        for path in ("/", "/devices/1"):
            r = await c.get(path)
            assert r.status_code == 303 and r.headers["location"] == "/login", path
        login = await c.get("/login")
    assert login.status_code == 200 and '<form method="post" action="/login">' in login.text
    assert "default-src 'none'" in login.headers["content-security-policy"]
    assert login.headers["x-content-type-options"] == "nosniff"
    assert "<script" not in login.text  # no JavaScript at all


async def test_login_sets_a_strict_cookie_and_logout_clears_it(server):
    async with browser(server) as c:
        r = await c.post("/login", data={"token": server.viewer_token})
        assert r.status_code == 303 and r.headers["location"] == "/"
        cookie = r.headers["set-cookie"]
        for flag in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/"):
            assert flag in cookie, flag
        assert cookie.startswith(f"{COOKIE}=") and "Domain" not in cookie
        assert server.viewer_token not in r.headers["location"]
        page = await c.get("/")  # the client's jar now holds the cookie: a browser session
        assert page.status_code == 200 and page.text.count('<tr class="device"') == 4
        out = await c.post("/logout")
        assert out.status_code == 303 and "Max-Age=0" in out.headers["set-cookie"]
        assert (await c.get("/")).status_code == 303


@pytest.mark.parametrize("which", ["agent", "unknown", "revoked", "empty"])
async def test_login_refuses_anything_but_an_active_viewer_token(server, which):
    revoked = new_token()
    await server.store.add_viewer("gone", revoked)
    await server.store.revoke_viewer("gone")
    token = {"agent": server.agent_token, "unknown": new_token(), "revoked": revoked, "empty": ""}[
        which
    ]
    async with browser(server) as c:
        r = await c.post("/login", data={"token": token})
        assert r.status_code in (401, 422) and "set-cookie" not in r.headers
        assert "not an active viewer token" in r.text or which == "empty"
    async with browser(server, token or "x") as c:  # the same token as a forged cookie
        assert (await c.get("/")).status_code == 303


async def test_revoking_the_viewer_ends_the_browser_session(server):
    async with browser(server, server.viewer_token) as c:
        assert (await c.get("/")).status_code == 200
        await server.store.revoke_viewer("reader")
        assert (await c.get("/")).status_code == 303


async def test_cross_site_login_and_logout_are_refused(server):
    async with browser(server) as c:
        r = await c.post(
            "/login",
            data={"token": server.viewer_token},
            headers={"origin": "https://evil.example"},
        )
        assert r.status_code == 403 and "set-cookie" not in r.headers
        r = await c.post(
            "/login", data={"token": server.viewer_token}, headers={"sec-fetch-site": "cross-site"}
        )
        assert r.status_code == 403
        r = await c.post("/login", data={"token": server.viewer_token}, headers={"origin": "null"})
        assert r.status_code == 403  # an opaque origin (sandboxed frame) without Fetch Metadata
        assert (await c.get("/login?token=x")).status_code == 200  # GET never logs in
        assert "set-cookie" not in (await c.get(f"/login?token={server.viewer_token}")).headers
        same = await c.post(
            "/login", data={"token": server.viewer_token}, headers={"origin": server.url}
        )
        assert same.status_code == 303 and "set-cookie" in same.headers
        r = await c.post("/logout", headers={"origin": "https://evil.example"})
        assert r.status_code == 403 and "set-cookie" not in r.headers
        assert (await c.get("/")).status_code == 200  # still signed in


async def test_hostile_device_strings_are_escaped(server):
    devices = await server.store.list_devices()
    hostile_id = next(d["id"] for d in devices if d["sys_name"] == "printer-9")
    async with browser(server, server.viewer_token) as c:
        fleet = (await c.get("/")).text
        device = (await c.get(f"/devices/{hostile_id}")).text
    for page in (fleet, device):
        assert SCRIPT not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "<img" not in page and "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;" in page
        assert "onmouseover='" not in page and "S&#x27;onmouseover=&#x27;alert(3)" in page
        assert "<iframe" not in page and "&lt;iframe src=javascript:alert(5)&gt;" in page
        assert "site-&lt;a&gt;" in page
        assert page.count("<script") == 0
    assert "<h1>owned</h1>" not in device and "&lt;h1&gt;owned&lt;/h1&gt;" in device
    assert "&lt;b&gt;Toner&lt;/b&gt;&lt;script&gt;alert(4)&lt;/script&gt;" in device


async def test_fleet_and_device_pages_show_the_stored_fleet(server):
    devices = await server.store.list_devices()
    first = next(d for d in devices if d["serial"] == "PHQ00000")
    async with browser(server, server.viewer_token) as c:
        fleet = (await c.get("/")).text
        device = await c.get(f"/devices/{first['id']}")
        missing = await c.get("/devices/999999")
    for d in devices:
        assert f'href="/devices/{d["id"]}"' in fleet
    # PHQ00000's latest scan is make_report(13): level 67 %, 10,013 pages.
    assert 'value="67"></meter> 67%' in fleet and "10,013" in fleet
    assert device.status_code == 200
    text = device.text
    assert "Black Cartridge HP 89A" in text and "10,013" in text and "9,013" in text
    assert "Counter history" in text and "10,000" in text  # the older scan is in the history
    assert "Supply history" in text and ">80<" in text and ">67<" in text
    assert missing.status_code == 404


async def test_login_body_is_bounded(server):
    async with browser(server) as c:
        r = await c.post(
            "/login",
            content=b"token=" + b"a" * 10_000,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    assert r.status_code == 413


async def test_headless_chromium_signs_in_and_sees_the_fleet(server, tmp_path):
    """A real browser: the fleet URL redirects to the login form, the viewer token is typed into
    it and submitted, the fleet page renders; its DOM holds the fleet rows, no hostile script ran,
    the session cookie has the flags, and a screenshot PNG of the page is taken."""
    from .helpers_chromium import chromium_binary, open_browser, png_size

    if chromium_binary() is None:
        pytest.skip("chromium not installed (apt-get install -y chromium)")
    with trio.fail_after(120):
        async with open_browser(tmp_path / "chromium-profile", tmp_path / "chromium.log") as b:
            session = await b.new_page()
            await b.call(
                "Emulation.setDeviceMetricsOverride",
                {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False},
                session,
            )
            await b.navigate_and_wait(
                session,
                lambda: b.call("Page.navigate", {"url": server.url + "/"}, session),
                "p === '/login'",
            )
            assert await b.evaluate(session, "location.pathname") == "/login"
            # Type the token as a user would, and press the button.
            await b.evaluate(session, "document.getElementById('token').focus()")
            await b.call("Input.insertText", {"text": server.viewer_token}, session)
            await b.navigate_and_wait(
                session,
                lambda: b.evaluate(
                    session, "document.querySelector('button[type=submit]').click()"
                ),
                "p === '/'",
            )
            assert await b.evaluate(session, "location.pathname") == "/", await b.evaluate(
                session, "document.body.innerText"
            )
            serials = await b.evaluate(
                session,
                "[...document.querySelectorAll('tr.device')].map(r => r.cells[4].textContent)",
            )
            scripts = await b.evaluate(session, "document.scripts.length")
            hostile_text = await b.evaluate(
                session, "document.body.innerText.includes('<script>alert(1)</script>')"
            )
            meters = await b.evaluate(session, "document.querySelectorAll('meter').length")
            cookies = (await b.call("Network.getCookies", {"urls": [server.url + "/"]}, session))[
                "cookies"
            ]
            shot = await b.call("Page.captureScreenshot", {"format": "png"}, session)
            # Follow the first device's link, as a user clicks it.
            await b.navigate_and_wait(
                session,
                lambda: b.evaluate(session, "document.querySelector('tr.device a').click()"),
                "p.startsWith('/devices/')",
            )
            device_path = await b.evaluate(session, "location.pathname")
            headings = await b.evaluate(
                session, "[...document.querySelectorAll('h2')].map(h => h.textContent)"
            )
            supply_rows = await b.evaluate(session, "document.querySelectorAll('tr.supply').length")
            device_shot = await b.call("Page.captureScreenshot", {"format": "png"}, session)
    (tmp_path / "device.png").write_bytes(base64.b64decode(device_shot["data"]))
    assert device_path.startswith("/devices/") and supply_rows == 1
    assert {"Supplies", "Runs out", "Counters"} <= set(headings)
    png = base64.b64decode(shot["data"])
    (tmp_path / "fleet.png").write_bytes(png)
    assert png_size(png) == (1280, 900)
    assert sorted(serials) == ["PHQ00000", "PHQ00001", "PHQ00002", HOSTILE["serial"]]
    assert scripts == 0 and hostile_text is True and meters == 4  # shown as text, never run
    assert not [e for e in b.events if e["method"] == "Page.javascriptDialogOpening"]
    [cookie] = cookies
    assert (cookie["name"], cookie["httpOnly"], cookie["secure"], cookie["sameSite"]) == (
        COOKIE,
        True,
        True,
        "Strict",
    )


async def test_device_history_shows_the_newest_scans(server):
    from printerhq.server.dashboard import HISTORY_ROWS

    agent = await server.store.agent_for_token(server.agent_token)
    scans = HISTORY_ROWS + 5
    await server.store.ingest(
        agent, "long", [make_report(1000 + 13 * i) for i in range(scans)]
    )  # one serial
    serial = make_report(1000).identity.serial
    device = next(d for d in await server.store.list_devices() if d["serial"] == serial)
    async with browser(server, server.viewer_token) as c:
        page = (await c.get(f"/devices/{device['id']}")).text
    history = page.split("<summary>Counter history", 1)[1].split("</table>", 1)[0]
    assert history.count("<tr>") == HISTORY_ROWS + 1  # header + the newest scans
    newest, oldest = 10_000 + 1000 + 13 * (scans - 1), 10_000 + 1000
    assert f"{newest:,}" in history and f">{oldest:,}<" not in history


# --------------------------------------------------------------------------------------------
# A demo fleet with history, in a real browser: charts against the API, plain words, phone
# --------------------------------------------------------------------------------------------
# A machine name in running text: snake_case (some_remaining) or camelCase (lowToner).
MACHINE_NAME = re.compile(r"\b[a-z]+_[a-z0-9_]+\b|\b[a-z]{2,}[A-Z][a-z]+[A-Za-z]*\b")
RED = "rgb(163, 35, 26)"


@pytest.fixture
async def demo_server(tmp_path):
    from .helpers_dashboard import demo_fleet

    async with run_server(tmp_path / "demo", self_signed=True) as srv:
        srv.agent_token, srv.viewer_token = new_token(), new_token()
        await srv.store.add_agent("head-office", srv.agent_token)
        await srv.store.add_viewer("reader", srv.viewer_token)
        agent = await srv.store.agent_for_token(srv.agent_token)
        for k, scan in enumerate(demo_fleet()):
            await srv.store.ingest(agent, f"demo-{k}", scan)
        # stored past the app's ingest: the summaries (urgency, runs out) refreshed as after it
        srv.app.state.summaries.touched(d["key"] for d in await srv.store.list_devices())
        await srv.app.state.summaries.settle()
        srv.ctx = ssl.create_default_context(cafile=str(srv.certfile))
        yield srv


def artefacts_dir(tmp_path) -> Path:
    """Where the screenshots go: ``$PRINTERHQ_ARTEFACTS``, else the test's tmp dir."""
    path = Path(os.environ.get("PRINTERHQ_ARTEFACTS") or tmp_path / "artefacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _utc_day(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.UTC).date().isoformat()


def expected_pages(rows: list[dict]) -> dict[str, int]:
    """Pages per UTC day from the API's counter readings: the increases of the intervals that
    end that day, an interval where the counter went down counting nothing; the first
    reading's day (only partly seen) left out."""
    ordered = sorted((r["scanned_at"], r["value"]) for r in rows)
    days: dict[str, int] = {}
    for (_, v0), (t1, v1) in itertools.pairwise(ordered):
        days[_utc_day(t1)] = days.get(_utc_day(t1), 0) + max(0, v1 - v0) * (v1 >= v0)
    days.pop(_utc_day(ordered[0][0]), None)
    return days


async def test_compressed_responses_say_vary(demo_server):
    async with browser(demo_server, demo_server.viewer_token) as c:
        c.headers["authorization"] = f"Bearer {demo_server.viewer_token}"
        fleet = await c.get("/")
        css_path = re.search(r'href="(/static/[^"]+\.css)"', fleet.text)[1]
        for path in (
            "/",
            "/devices/2",
            "/api/v1/devices",
            "/api/v1/devices/2/counters",
            "/metrics",
            css_path,
        ):
            r = await c.get(path, headers={"accept-encoding": "gzip"})
            assert r.status_code == 200, path
            assert r.headers["content-encoding"] == "gzip", path
            assert "accept-encoding" in r.headers["vary"].lower(), path
            raw = await c.get(path, headers={"accept-encoding": "identity"})
            assert "content-encoding" not in raw.headers and raw.content == r.content, path
        css = await c.get(css_path)
    assert css.headers["content-type"].startswith("text/css")
    assert (
        "immutable" in css.headers["cache-control"]
        and "max-age=31536000" in css.headers["cache-control"]
    )
    assert fleet.headers["cache-control"] == "no-store"  # the pages themselves are never cached
    csp = fleet.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "style-src 'self';" in csp
    assert "unsafe-inline" not in csp and "script-src" not in csp


async def test_pages_speak_plain_words(demo_server):
    devices = await demo_server.store.list_devices()
    async with browser(demo_server, demo_server.viewer_token) as c:
        pages = {"fleet": (await c.get("/")).text} | {
            d["serial"]: (await c.get(f"/devices/{d['id']}")).text for d in devices
        }
    for page in pages.values():
        text = re.sub(r"<[^>]*>", " ", page)  # the text a reader sees, attributes left out
        assert not MACHINE_NAME.findall(text), MACHINE_NAME.findall(text)[:5]
        assert "style=" not in page and "<script" not in page
    device = pages["DEMO0000"]
    assert "some left" in device and "250 of 500 sheets" in device and "unknown level" in device
    assert '<span class="sev sev-info">info</span> Power up' in device
    assert '<span class="sev sev-critical">critical</span> Paper jam in tray 2' in device
    assert "paper jam, door open" in device  # the detected error flags, in words


async def test_browser_draws_the_fleet_and_device_charts_from_the_api(demo_server, tmp_path):
    """Chromium renders the fleet and a device page of the demo fleet at 1280 and 375 px: the
    bars and lines hold the API's numbers, the stylesheet applies under the CSP with no
    violation, the document came gzip-compressed, and nothing overflows a phone's width.
    Screenshots are saved as artefacts."""
    from .helpers_chromium import chromium_binary, open_browser, png_size

    if chromium_binary() is None:
        pytest.skip("chromium not installed (apt-get install -y chromium)")
    server = demo_server
    devices = await server.store.list_devices()
    device = next(d for d in devices if d["serial"] == "DEMO0001")  # colour, reset, swaps
    headers = {"authorization": f"Bearer {server.viewer_token}"}
    async with httpx.AsyncClient(verify=server.ctx, base_url=server.url, headers=headers) as c:
        counters = (
            await c.get(f"/api/v1/devices/{device['id']}/counters?name=total&limit=10000")
        ).json()
        supplies = (await c.get(f"/api/v1/devices/{device['id']}/supplies?limit=10000")).json()
    out = artefacts_dir(tmp_path)
    shots: dict[str, bytes] = {}
    with trio.fail_after(180):
        async with open_browser(tmp_path / "chromium-profile", tmp_path / "chromium.log") as b:
            session = await b.new_page()
            # Scripts added over DevTools are not the page's: the CSP does not stop this one,
            # which records every violation the page's own markup causes.
            await b.call(
                "Page.addScriptToEvaluateOnNewDocument",
                {
                    "source": "window.__csp = []; document.addEventListener("
                    "'securitypolicyviolation', e => window.__csp.push(e.violatedDirective));"
                },
                session,
            )
            await b.call(
                "Network.setCookie",
                {
                    "name": COOKIE,
                    "value": server.viewer_token,
                    "url": server.url + "/",
                    "secure": True,
                    "httpOnly": True,
                    "sameSite": "Strict",
                },
                session,
            )

            async def show(path: str, width: int, name: str) -> dict:
                await b.call(
                    "Emulation.setDeviceMetricsOverride",
                    {
                        "width": width,
                        "height": 900 if width > 600 else 812,
                        "deviceScaleFactor": 1,
                        "mobile": width < 600,
                    },
                    session,
                )
                start = len(b.events)
                await b.navigate_and_wait(
                    session,
                    lambda: b.call("Page.navigate", {"url": server.url + path}, session),
                    f"p === {path!r}",
                )
                metrics = await b.call("Page.getLayoutMetrics", session=session)
                height = min(int(metrics["cssContentSize"]["height"]), 6000)
                shot = await b.call(
                    "Page.captureScreenshot",
                    {
                        "format": "png",
                        "captureBeyondViewport": True,
                        "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
                    },
                    session,
                )
                shots[name] = base64.b64decode(shot["data"])
                documents = [
                    e["params"]["response"]
                    for e in b.events[start:]
                    if e["method"] == "Network.responseReceived"
                    and e["params"]["type"] in ("Document", "Stylesheet")
                ]
                return {
                    "responses": documents,
                    "csp": await b.evaluate(session, "window.__csp"),
                    # The widest thing on the page: the document, and every block in <main>
                    # (a table wider than a phone scrolls inside its own box).
                    "overflow": await b.evaluate(
                        session,
                        "Math.max(document.documentElement.scrollWidth, ...[...document."
                        "querySelectorAll('main > *')].map(e => e.getBoundingClientRect()"
                        ".right)) - " + str(width),
                    ),
                    "rules": await b.evaluate(
                        session, "[...document.styleSheets].map(s => s.cssRules.length)"
                    ),
                    "text": await b.evaluate(session, "document.body.innerText"),
                }

            fleet_desk = await show("/", 1280, "fleet-desktop")
            fleet_phone = await show("/", 375, "fleet-phone")
            fleet_cells = await b.evaluate(
                session,
                "(() => { const t = document.getElementById('fleet');"
                " return [t.scrollWidth > t.clientWidth, t.clientWidth]; })()",
            )
            device_path = f"/devices/{device['id']}"
            device_desk = await show(device_path, 1280, "device-desktop")
            bars = await b.evaluate(
                session,
                "[...document.querySelectorAll('#pages-total rect.bar')].map(r => [r.dataset.day,"
                " +r.dataset.pages, +r.getAttribute('height')])",
            )
            resets = await b.evaluate(
                session, "document.querySelectorAll('#pages-total text.mark').length"
            )
            lines = await b.evaluate(
                session,
                "[...document.querySelectorAll('#supply-levels polyline')].map(p => [p.dataset."
                "supply, p.dataset.t, p.dataset.v, p.getAttribute('points'),"
                " p.getAttribute('stroke-dasharray')])",
            )
            swaps = await b.evaluate(
                session,
                "[...document.querySelectorAll('#supply-levels line.swap')].map(l => +l.dataset.t)",
            )
            chart_names = await b.evaluate(
                session,
                "[...document.querySelectorAll('svg.chart')].map(s => s.getAttribute('role') +"
                " ':' + s.querySelector('title').textContent + ':' +"
                " (s.querySelector('desc').textContent.length > 40))",
            )
            info_colour = await b.evaluate(
                session,
                "[...document.querySelectorAll('.sev-info')].map(s => getComputedStyle(s)"
                ".backgroundColor + '|' + getComputedStyle(s).color)",
            )
            times = await b.evaluate(
                session,
                "[...document.querySelectorAll('time')].every(t => t.getAttribute('datetime')"
                " && t.title.endsWith('UTC'))",
            )
            device_phone = await show(device_path, 375, "device-phone")
            chart_width = await b.evaluate(
                session, "document.getElementById('supply-levels').getBoundingClientRect().width"
            )
    for name, png in shots.items():
        path = out / f"{name}.png"
        path.write_bytes(png)
        print(f"screenshot: {path}")
        assert png_size(png)[0] == (1280 if "desktop" in name else 375)

    for view in (fleet_desk, fleet_phone, device_desk, device_phone):
        assert view["csp"] == [] and view["rules"] and view["rules"][0] > 20  # styled, no breach
        assert not MACHINE_NAME.findall(view["text"]), MACHINE_NAME.findall(view["text"])[:5]
        document = view["responses"][0]
        assert document["headers"].get("content-encoding") == "gzip"
    assert fleet_phone["overflow"] <= 0 and device_phone["overflow"] <= 0  # nothing off-screen
    assert fleet_cells[0] and fleet_cells[1] <= 375  # the fleet table scrolls within itself
    assert chart_width <= 375

    # Pages per day: every bar is the API's number, drawn to one scale; the reset is marked.
    wanted = expected_pages(counters)
    assert {day: pages for day, pages, _ in bars} == wanted
    scales = {round(height / pages, 3) for _, pages, height in bars if pages}
    assert max(scales) - min(scales) < 0.01 * max(scales) + 0.05
    assert resets == 1
    # Supply levels: every change of level the API holds is a point of the line.
    by_supply: dict[str, list[tuple[float, float]]] = {}
    for row in supplies:
        if row["percent"] is not None:
            by_supply.setdefault(row["description"], []).append(
                (round(row["scanned_at"]), row["percent"])
            )
    assert [name for name, *_ in lines] == list(by_supply)  # the drum has no level: no line
    api_swaps = []
    for name, data_t, data_v, points, _dash in lines:
        drawn = list(zip(map(int, data_t.split()), map(float, data_v.split()), strict=True))
        api = sorted(by_supply[name])
        assert set(drawn) <= set(api) and drawn[0] == api[0] and drawn[-1] == api[-1]
        for before, here in itertools.pairwise(api):
            if before[1] != here[1]:
                assert before in drawn and here in drawn, (name, before, here)
        ys = [float(xy.split(",")[1]) for xy in points.split()]
        bottom, plot_h = SUPPLY_H - BOTTOM, SUPPLY_H - TOP - BOTTOM  # 0 % at the bottom
        wanted_ys = [bottom - p / 100 * plot_h for _, p in drawn]
        assert all(abs(y - w) <= 0.051 for y, w in zip(ys, wanted_ys, strict=True))
        receptacle = name == "Waste Toner Box"
        api_swaps += [
            t1
            for (_, p0), (t1, p1) in itertools.pairwise(api)
            if (p0 - p1 if receptacle else p1 - p0) >= 15
        ]
    assert sorted(swaps) == sorted(api_swaps) and swaps  # the demo replaces toners
    assert len({dash for *_, dash in lines}) == len(lines)  # each line its own dash style
    assert all(name.startswith("img:") and name.endswith(":true") for name in chart_names)
    assert "img:Supply levels over time:true" in chart_names
    assert info_colour and all(RED not in colour for colour in info_colour)
    assert times


async def test_device_page_reads_a_bounded_history_and_keeps_its_newest_end(server, monkeypatch):
    """The charts read at most MAX_CHART_ROWS rows of each history: a device with many scans
    (or many counters) gets fewer scans, and never loses the newest ones."""
    from printerhq.server import dashboard

    monkeypatch.setattr(dashboard, "MAX_CHART_ROWS", 20)  # 2 counters a scan: 10 scans
    agent = await server.store.agent_for_token(server.agent_token)
    await server.store.ingest(agent, "many", [make_report(2000 + 13 * i) for i in range(40)])
    serial = make_report(2000).identity.serial
    device = next(d for d in await server.store.list_devices() if d["serial"] == serial)
    async with browser(server, server.viewer_token) as c:
        page = (await c.get(f"/devices/{device['id']}")).text
    history = page.split("<summary>Counter history", 1)[1].split("</table>", 1)[0]
    assert history.count("<tr>") == 10 + 1  # header + the 10 newest scans
    newest = 10_000 + 2000 + 13 * 39
    assert f">{newest:,}<" in history and f">{newest - 13 * 10:,}<" not in history


async def test_one_reading_draws_no_chart_and_two_draw_them(server):
    devices = await server.store.list_devices()
    once = next(d for d in devices if d["sys_name"] == "printer-9")  # the hostile one, once
    twice = next(d for d in devices if d["serial"] == "PHQ00000")  # make_report(0) and (13)
    async with browser(server, server.viewer_token) as c:
        single = (await c.get(f"/devices/{once['id']}")).text
        double = (await c.get(f"/devices/{twice['id']}")).text
    assert "<svg" not in single and "Pages per day" not in single
    assert 'id="supply-levels"' in double and 'data-v="80 67"' in double
    assert "&lt;b&gt;Toner&lt;/b&gt;" in single  # the tables are there all the same


@pytest.fixture
async def trouble_server(tmp_path):
    """A fleet with a paper jam, a toner out in about five days, a device silent for five days
    and two fine ones, uploaded through ingest; the summaries refreshed before the test."""
    import time

    from printerhq import wire

    from .helpers_fleet import trouble_reports

    async with run_server(tmp_path / "server", self_signed=True) as srv:
        agent_token, srv.viewer_token = new_token(), new_token()
        await srv.store.add_agent("branch", agent_token, site="Acme")
        await srv.store.add_viewer("reader", srv.viewer_token)
        srv.ctx = ssl.create_default_context(cafile=str(srv.certfile))
        batch = wire.Batch(batch_id="b-1", agent="branch", reports=trouble_reports(time.time()))
        async with httpx.AsyncClient(verify=srv.ctx, base_url=srv.url) as c:
            r = await c.post(
                "/api/v1/ingest",
                content=wire.compress_body(wire.encode(batch)),
                headers={"authorization": f"Bearer {agent_token}", "content-encoding": "deflate"},
            )
            assert r.status_code == 200
        await srv.app.state.summaries.settle()
        yield srv


async def test_chromium_fleet_trouble_first_and_device_forecast(trouble_server, tmp_path):
    """Issue 16 item 2 in a real browser: the fleet page lists the jam first, then the toner
    running out, then the device not seen for days, then the rest; a filter is a bookmarkable
    URL; the device page of the toner running out shows its forecast."""
    from .helpers_chromium import chromium_binary, open_browser
    from .helpers_fleet import URGENCY_ORDER

    if chromium_binary() is None:
        pytest.skip("chromium not installed (apt-get install -y chromium)")
    server = trouble_server
    cells = "[...document.querySelectorAll('tr.device')].map(r => [r.cells[4].textContent, "
    cells += "r.dataset.urgency, r.cells[0].innerText, r.querySelector('td.runs-out').innerText])"
    with trio.fail_after(120):
        async with open_browser(tmp_path / "chromium-profile", tmp_path / "chromium.log") as b:
            session = await b.new_page()
            await b.open_signed_in(session, server.url, COOKIE, server.viewer_token)
            rows = await b.evaluate(session, cells)
            await b.call(
                "Emulation.setDeviceMetricsOverride",
                {"width": 1400, "height": 700, "deviceScaleFactor": 1, "mobile": False},
                session,
            )
            shot = await b.call("Page.captureScreenshot", {"format": "png"}, session)
            (tmp_path / "fleet-trouble.png").write_bytes(base64.b64decode(shot["data"]))
            # The status filter through the form, as a user picks it: the URL says it.
            await b.navigate_and_wait(
                session,
                lambda: b.evaluate(
                    session,
                    "document.querySelector('select[name=status]').value = 'unseen';"
                    "document.querySelector('#filters button').click()",
                ),
                "location.search.includes('status=unseen')",
            )
            filtered = await b.evaluate(session, cells)
            search = await b.evaluate(session, "location.search")
            await b.navigate_and_wait(
                session,
                lambda: b.call("Page.navigate", {"url": server.url + "/?q=LOW0001"}, session),
                "location.search === '?q=LOW0001'",
            )
            await b.navigate_and_wait(
                session,
                lambda: b.evaluate(session, "document.querySelector('tr.device a').click()"),
                "p.startsWith('/devices/')",
            )
            forecast = await b.evaluate(
                session,
                "[...document.querySelectorAll('#forecast tr.forecast')].map(r => r.innerText)",
            )
    assert [r[0] for r in rows] == URGENCY_ORDER
    assert [r[1] for r in rows] == ["error", "runs_out", "unseen", "ok", "ok"]
    assert "paper jam" in rows[0][2] and rows[1][3].startswith("within 5 days")
    assert [r[0] for r in filtered] == ["GONE001"] and "status=unseen" in search
    [line] = forecast
    assert "Black Cartridge HP 89A" in line and "within 5 days" in line
    assert "2.0 % a day" in line and "steady use over 10 days" in line


async def test_fleet_page_draws_each_lowest_supply_as_a_sparkline(demo_server):
    """Each fleet row with a supply history shows its lowest supply's level per day; the line
    ends at the level of the device's latest reading of that supply."""
    async with browser(demo_server, demo_server.viewer_token) as c:
        page = (await c.get("/?limit=50")).text
        c.headers["authorization"] = f"Bearer {demo_server.viewer_token}"
        devices = (await c.get("/api/v1/devices?limit=50&include=latest")).json()
    rows = re.findall(r'<tr class="device" data-device-id="(\d+)".*?</tr>', page, re.S)
    assert len(rows) == len(devices) == 8
    for device in devices:
        row = re.search(rf'data-device-id="{device["id"]}".*?</tr>', page, re.S)[0]
        spark = re.search(r'<svg class="spark"[^>]*aria-label="level (\d+)% to (\d+)%', row)
        assert spark, device["serial"]
        assert int(spark[2]) == round(device["lowest_percent"]), device["serial"]
