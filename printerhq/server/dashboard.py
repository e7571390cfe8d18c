"""The dashboard: server-rendered HTML pages of the fleet, for a browser.

No JavaScript, no external assets: one inline stylesheet allowed by its hash in the
Content-Security-Policy, and supply levels drawn with ``<meter>`` so no inline ``style=``
attribute is needed. Every value that came from a device (sysDescr, model, supply names, alert
texts: all hostile input) goes through :func:`e` (``html.escape`` with quotes) before it
touches the markup.

Authentication: ``POST /login`` with a viewer token sets the cookie ``__Host-printerhq`` holding
the token itself — HttpOnly (no script reads it), Secure, SameSite=Strict, Path=/ (the
``__Host-`` prefix makes the browser enforce Secure and no Domain). Each page looks the token's
hash up in the database like the API does, so ``printerhq server revoke-viewer`` logs the browser
out at its next click. No token ever appears in a URL.

CSRF: the dashboard has no state-changing action but login and logout, both POST-only. The
cookie is SameSite=Strict, so a cross-site page can neither read a page with it nor make the
browser send it; in addition a POST whose ``Origin`` (or ``Sec-Fetch-Site``) says it came from
another site is refused, which also stops login CSRF (being logged in as someone else).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import html
import time
import urllib.parse
from collections.abc import Callable, Iterable
from string import Template
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from printerhq import model
from printerhq.model import DeviceReport
from printerhq.server.store import Store

Row = dict[str, Any]  # one row as the store returns it (column name -> value)

COOKIE = "__Host-printerhq"
SESSION_SECONDS = 12 * 3600
MAX_LOGIN_BODY = 4096
MAX_FLEET_ROWS = 10_000  # one page; bounded like every other response
HISTORY_ROWS = 30  # scans shown in a device page's history tables
LOW_PERCENT = 10  # <meter low=...>: the bar turns to the "low" colour at or under this

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d2330;background:#f4f6f9}
header{background:#1d2b45;color:#fff;padding:10px 20px;display:flex;align-items:center;gap:16px}
header h1{font-size:18px;margin:0;flex:1}header a{color:#fff}
main{padding:16px 20px}
table{border-collapse:collapse;background:#fff;width:100%;margin-bottom:20px}
th,td{padding:5px 8px;border-bottom:1px solid #dde2ea;text-align:left;vertical-align:top}
th{background:#e8ecf2;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
meter{width:90px;height:14px;vertical-align:middle}
td.level,td.num{white-space:nowrap}
.alert{color:#a3231a}.muted{color:#6b7385}.ok{color:#1f7a3a}
form.inline{display:inline;margin:0}
button{font:inherit;padding:3px 10px}
.login{max-width:420px;margin:60px auto;background:#fff;padding:24px;border:1px solid #dde2ea}
.login input{width:100%;box-sizing:border-box;font:inherit;padding:6px;margin:8px 0}
.error{color:#a3231a}
"""
_CSS_HASH = base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()
# Nothing may load, run or frame; only the one stylesheet above and same-origin form posts.
CSP = (
    f"default-src 'none'; style-src 'sha256-{_CSS_HASH}'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    # same-origin, not no-referrer: with no-referrer Chromium sends "Origin: null" on our own
    # form posts; nothing leaks to other sites either way.
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
    "x-frame-options": "DENY",
}

PAGE = Template("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>$title</title><style>$css</style></head>
<body><header><h1>$title</h1>$nav</header><main>$body</main></body></html>
""")


def e(value: object) -> str:
    """Escape any value for HTML text or a quoted attribute (``None`` is empty)."""
    return "" if value is None else html.escape(str(value), quote=True)


def _page(
    title: str,
    body: str,
    *,
    nav: str = "",
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    text = PAGE.substitute(title=e(title), css=CSS, nav=nav, body=body)
    return Response(
        text,
        status_code=status,
        media_type="text/html; charset=utf-8",
        headers={**HEADERS, **(headers or {})},
    )


def _when(t: float | None, now: float) -> str:
    if t is None:
        return ""
    try:
        stamp = datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    except (OverflowError, ValueError, OSError):
        # A time stored before the server checked them (1e13, inf, -1e18): shown, not fatal.
        return '<span class="muted">invalid time</span>'
    age = max(0.0, now - t)
    if age < 120:
        ago = f"{age:.0f} s ago"
    elif age < 7200:
        ago = f"{age / 60:.0f} min ago"
    elif age < 172800:
        ago = f"{age / 3600:.0f} h ago"
    else:
        ago = f"{age / 86400:.0f} days ago"
    return f'{e(stamp)}<br><span class="muted">{e(ago)}</span>'


def _meter(percent: float | None) -> str:
    if percent is None:
        return '<span class="muted">unknown</span>'
    clamped = min(100.0, max(0.0, float(percent)))
    return (
        f'<meter min="0" max="100" low="{LOW_PERCENT}" high="25" optimum="100" '
        f'value="{clamped:.0f}"></meter> {clamped:.0f}%'
    )


def lowest_supply(report: DeviceReport | None) -> tuple[float | None, str]:
    """The consumable with the lowest known percentage: ``(percent, description)``."""
    known = [
        (s.percent, s)
        for s in (report.supplies if report else [])
        if s.consumed and s.percent is not None
    ]
    if not known:
        return None, ""
    percent, low = min(known, key=lambda pair: pair[0])
    return percent, low.description


def total_pages(report: DeviceReport | None) -> int | None:
    for counter in report.counters if report else []:
        if counter.name == "total":
            return counter.value
    return None


def status_text(report: DeviceReport | None) -> str:
    if report is None or report.status is None:
        return ""
    parts = [p for p in (report.status.device, report.status.printer) if p]
    return " / ".join(parts + list(report.status.errors))


def alerts_text(report: DeviceReport | None) -> Iterable[str]:
    for alert in report.alerts if report else []:
        yield alert.description or alert.code_name or alert.severity or "alert"


# The navigation of every page, in one place: (path, label).
NAV_LINKS = (
    ("/", "Fleet"),
    ("/sites", "Sites"),
    ("/agents", "Agents"),
    ("/meter-reads", "Meter reads"),
)


def _nav(logged_in: bool) -> str:
    links = " ".join(f'<a href="{e(path)}">{e(label)}</a>' for path, label in NAV_LINKS)
    if logged_in:
        links += (
            ' <form class="inline" method="post" action="/logout">'
            '<button type="submit">Log out</button></form>'
        )
    return links


# --------------------------------------------------------------------------------------------
# Pages
# --------------------------------------------------------------------------------------------
def fleet_page(
    devices: list[Row], *, now: float, logged_in: bool, limit: int | None = None
) -> Response:
    rows = []
    for d in devices:
        report: DeviceReport | None = d["report"]
        percent, supply = lowest_supply(report)
        pages = total_pages(report)
        alerts = list(alerts_text(report))
        model_text = d["model"] or (report.identity.sys_descr if report else "")
        rows.append(
            f'<tr class="device" data-device-id="{int(d["id"])}">'
            f'<td><a href="/devices/{int(d["id"])}">{e(d["address"])}</a></td>'
            f"<td>{e(d['vendor'])}</td><td>{e(model_text)}</td><td>{e(d['serial'])}</td>"
            f'<td class="level" title="{e(supply)}">{_meter(percent)}</td>'
            f'<td class="num">{"" if pages is None else f"{pages:,}"}</td>'
            f"<td>{e(status_text(report))}</td>"
            f'<td class="alert">{"<br>".join(e(a) for a in alerts[:3])}'
            f"{'<br>…' if len(alerts) > 3 else ''}</td>"
            f'<td class="seen">{_when(d["last_seen"], now)}</td><td>{e(d["agent"])}</td></tr>'
        )
    if not rows:
        rows.append(
            '<tr><td colspan="10" class="muted">'
            "No devices yet: start an agent with an agent token.</td></tr>"
        )
    shown = (
        f"the first {len(devices)} devices"
        if limit is not None and len(devices) >= limit
        else f"{len(devices)} devices"
    )
    body = (
        f'<p class="muted">{e(shown)}</p><table id="fleet"><thead><tr>'
        "<th>Address</th><th>Vendor</th><th>Model</th><th>Serial</th><th>Lowest supply</th>"
        "<th>Total pages</th><th>Status</th><th>Alerts</th><th>Last seen</th><th>Agent</th>"
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )
    return _page("printerhq fleet", body, nav=_nav(logged_in))


def _pivot(
    rows: list[Row],
    key: str,
    value: Callable[[Row], object],
) -> tuple[list[str], list[tuple[float, dict[str, object]]]]:
    """Time series rows -> (column names, [(scanned_at, {column: cell})]) for the last scans."""
    columns: list[str] = []
    by_time: dict[float, dict[str, object]] = {}
    for row in rows:
        column = str(row[key])
        if column not in columns:
            columns.append(column)
        by_time.setdefault(row["scanned_at"], {})[column] = value(row)
    columns.sort(key=lambda name: name != "total")  # the page total first
    times = sorted(by_time)[-HISTORY_ROWS:]
    return columns, [(t, by_time[t]) for t in reversed(times)]


def _history_table(
    title: str, columns: list[str], rows: list[tuple[float, dict[str, object]]], now: float
) -> str:
    if not rows:
        return f'<h2>{e(title)}</h2><p class="muted">No history.</p>'
    head = "".join(f"<th>{e(c)}</th>" for c in columns)
    body = "".join(
        f"<tr><td>{_when(t, now)}</td>"
        + "".join(f'<td class="num">{e(cells.get(c, ""))}</td>' for c in columns)
        + "</tr>"
        for t, cells in rows
    )
    return (
        f"<h2>{e(title)}</h2><table><thead><tr><th>Scanned</th>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


def device_page(
    device: Row,
    report: DeviceReport | None,
    counters: list[Row],
    supplies: list[Row],
    *,
    now: float,
    logged_in: bool,
) -> Response:
    ident = report.identity if report else None
    facts = [
        ("Address", device["address"]),
        ("Vendor", device["vendor"]),
        ("Model", device["model"]),
        ("Serial", device["serial"]),
        ("MAC", device["mac"]),
        ("Name", device["sys_name"]),
        ("sysDescr", ident.sys_descr if ident else None),
        ("Firmware", ident.firmware if ident else None),
        ("Location", ident.location if ident else None),
        ("Status", status_text(report)),
        ("Agent", device["agent"]),
    ]
    parts = ["<table><tbody>"]
    parts += [f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in facts if v]
    parts.append(
        f"<tr><th>Last seen</th><td>{_when(device['last_seen'], now)}</td></tr></tbody></table>"
    )
    parts.append(
        "<h2>Supplies</h2><table><thead><tr><th>Supply</th><th>Kind</th><th>Colour</th><th>Level</th></tr></thead><tbody>"
    )
    for s in report.supplies if report else []:
        level = (
            _meter(s.percent)
            if s.percent is not None
            else f'<span class="muted">{e(s.state)}</span>'
        )
        parts.append(
            f'<tr class="supply"><td>{e(s.description)}</td><td>{e(s.kind)}</td>'
            f'<td>{e(s.colour)}</td><td class="level">{level}</td></tr>'
        )
    parts.append("</tbody></table>")
    parts.append(
        "<h2>Counters</h2><table><thead><tr><th>Counter</th><th>Value</th><th>Unit</th></tr></thead><tbody>"
    )
    for c in report.counters if report else []:
        parts.append(
            f'<tr><td>{e(c.label or c.name)}</td><td class="num">{c.value:,}</td>'
            f"<td>{e(c.unit)}</td></tr>"
        )
    parts.append("</tbody></table>")
    alerts = list(alerts_text(report))
    if alerts:
        parts.append(
            "<h2>Alerts</h2><ul>"
            + "".join(f'<li class="alert">{e(a)}</li>' for a in alerts)
            + "</ul>"
        )
    parts.append(
        _history_table(
            "Counter history", *_pivot(counters, "name", lambda r: f"{r['value']:,}"), now
        )
    )
    parts.append(
        _history_table(
            "Supply history (%)",
            *_pivot(
                supplies,
                "description",
                lambda r: "" if r["percent"] is None else f"{r['percent']:.0f}",
            ),
            now,
        )
    )
    title = f"{device['vendor'] or ''} {device['model'] or ''} {device['address']}".strip()
    return _page(title, "".join(parts), nav=_nav(logged_in))


def login_page(error: str = "", status: int = 200) -> Response:
    message = f'<p class="error">{e(error)}</p>' if error else ""
    body = (
        '<div class="login"><h2>Sign in</h2>'
        '<p class="muted">Paste a viewer token (<code>printerhq server add-viewer NAME</code>).</p>'
        f"{message}"
        '<form method="post" action="/login"><label for="token">Viewer token</label>'
        '<input id="token" name="token" type="password" autocomplete="current-password" required>'
        '<button type="submit">Sign in</button></form></div>'
    )
    return _page("printerhq", body, status=status)


# --------------------------------------------------------------------------------------------
# Routes
# --------------------------------------------------------------------------------------------
def _redirect(location: str, headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=303, headers={"location": location, **HEADERS, **(headers or {})})


def _cross_site(request: Request) -> bool:
    """True when the browser says the POST came from another site (Fetch metadata, Origin)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:  # Fetch Metadata: set by the browser, not by page script
        return site not in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return False  # not a browser, or an old one: SameSite=Strict still holds
    # Host and port only: a TLS-terminating proxy in front makes the scheme differ. An opaque
    # origin ("null": sandboxed frames, data: URLs) counts as another site.
    return urllib.parse.urlsplit(origin).netloc != request.url.netloc


def routes(store: Store, *, open_read: bool = False) -> list[Route]:
    """The dashboard's routes; pages need the session cookie of a viewer unless ``open_read``."""

    async def logged_in(request: Request) -> bool:
        token = request.cookies.get(COOKIE)
        if not token or len(token) > 256:
            return False
        holder = await store.token_holder(token)
        return holder is not None and holder.role == "viewer"

    async def fleet(request: Request) -> Response:
        session = await logged_in(request)
        if not (session or open_read):
            return _redirect("/login")
        return fleet_page(
            await store.fleet(MAX_FLEET_ROWS),
            now=time.time(),
            logged_in=session,
            limit=MAX_FLEET_ROWS,
        )

    async def device(request: Request) -> Response:
        session = await logged_in(request)
        if not (session or open_read):
            return _redirect("/login")
        device_id = request.path_params["device_id"]
        found = await store.device(device_id)
        if found is None:
            return _page(
                "No such device",
                '<p>No such device. <a href="/">Back to the fleet</a></p>',
                status=404,
                nav=_nav(session),
            )
        latest = await store.latest(device_id)
        report = model.repair_report(latest["report"]) if latest else None
        since = await store.since_last_scans(device_id, HISTORY_ROWS)  # the newest scans only
        counters = await store.counter_history(device_id, since=since, limit=10_000)
        supplies = await store.supply_history(device_id, since=since, limit=10_000)
        return device_page(found, report, counters, supplies, now=time.time(), logged_in=session)

    async def login_form(request: Request) -> Response:
        if await logged_in(request):
            return _redirect("/")
        return login_page()

    async def login(request: Request) -> Response:
        if _cross_site(request):
            return login_page("Cross-site sign-in refused.", 403)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_LOGIN_BODY:
                return login_page("Request too large.", 413)
        try:
            fields = urllib.parse.parse_qs(body.decode("ascii"), max_num_fields=4)
        except (UnicodeDecodeError, ValueError):
            return login_page("Malformed form.", 400)
        token = (fields.get("token") or [""])[0].strip()
        holder = await store.token_holder(token) if token and len(token) <= 256 else None
        if holder is None or holder.role != "viewer":
            # One message for unknown, revoked and agent tokens: nothing to probe.
            return login_page("That is not an active viewer token.", 401)
        cookie = (
            f"{COOKIE}={token}; Max-Age={SESSION_SECONDS}; "
            "Path=/; Secure; HttpOnly; SameSite=Strict"
        )
        return _redirect("/", {"set-cookie": cookie})

    async def logout(request: Request) -> Response:
        if _cross_site(request):
            return login_page("Cross-site sign-out refused.", 403)
        return _redirect(
            "/login",
            {"set-cookie": f"{COOKIE}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Strict"},
        )

    return [
        Route("/", fleet, methods=["GET"]),
        Route("/devices/{device_id:int}", device, methods=["GET"]),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]


# The layout the other dashboard pages share (agents_page.py, meter_reads_page.py): one header,
# one navigation (NAV_LINKS), one stylesheet and one set of security headers.
page = _page
nav = _nav
redirect = _redirect
when = _when
