"""The dashboard: server-rendered HTML pages of the fleet, for a browser.

No JavaScript and no inline style: one stylesheet, served as a static file whose URL holds its
content hash (cached for a year, a new URL when it changes), allowed by the
Content-Security-Policy as ``style-src 'self'``; supply levels drawn with ``<meter>`` and charts
as inline SVG with presentation attributes (``charts.py``), so no ``style=`` attribute is
needed. Every value that came from a device (sysDescr, model, supply names, alert texts: all
hostile input) goes through :func:`e` (``html.escape`` with quotes) before it touches the markup.
States, units and severities reach the page in plain words (:mod:`printerhq.words`), never as
the report's machine names.

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

import datetime
import hashlib
import html
import time
import typing
import urllib.parse
from collections.abc import Callable, Iterable
from string import Template
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from printerhq import model, words
from printerhq.model import DeviceReport
from printerhq.server import charts, fleet_page
from printerhq.server.store import Store

Row = dict[str, Any]  # one row as the store returns it (column name -> value)

COOKIE = "__Host-printerhq"
SESSION_SECONDS = 12 * 3600
MAX_LOGIN_BODY = 4096
HISTORY_ROWS = 30  # scans shown in a device page's history tables
MAX_CHART_SCANS = 3000  # the newest scans a device page's charts read at most (a month hourly)
MAX_CHART_ROWS = 30_000  # and at most this many rows of each history: one page stays bounded
LOW_PERCENT = 10  # <meter low=...>: the bar turns to the "low" colour at or under this

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d2330;background:#f4f6f9}
header{background:#1d2b45;color:#fff;padding:10px 20px;display:flex;align-items:center;gap:16px}
header h1{font-size:18px;margin:0;flex:1}header a{color:#fff}
main{padding:16px 20px}
h2{font-size:16px;margin:18px 0 8px}
table{border-collapse:collapse;background:#fff;width:100%;margin-bottom:20px}
th,td{padding:5px 8px;border-bottom:1px solid #dde2ea;text-align:left;vertical-align:top}
th{background:#e8ecf2;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
meter{width:90px;height:14px;vertical-align:middle}
td.level,td.num,time{white-space:nowrap}
.alert{color:#a3231a}.muted{color:#6b7385}.ok{color:#1f7a3a}
.sev{display:inline-block;min-width:4.5em;margin-right:4px;padding:0 4px;border:1px solid;
border-radius:3px;font-size:12px;font-weight:600;text-align:center}
.sev-critical{color:#fff;background:#a3231a;border-color:#a3231a}
.sev-warning{color:#4d3200;background:#ffe0a0;border-color:#b07800}
.sev-info{color:#33415c;background:#eef1f6;border-color:#b8c2d3}
ul.alerts{list-style:none;padding:0;margin:0 0 20px}ul.alerts li{margin:3px 0}
td ul.alerts{margin:0}
form.inline{display:inline;margin:0}
#filters label{display:inline-block;margin:0 10px 6px 0;white-space:nowrap}
button{font:inherit;padding:3px 10px}
.login{max-width:420px;margin:60px auto;background:#fff;padding:24px;border:1px solid #dde2ea}
.login input{width:100%;box-sizing:border-box;font:inherit;padding:6px;margin:8px 0}
.error{color:#a3231a}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(380px,1fr));gap:12px;
margin-bottom:20px;max-width:1300px}
svg.chart{display:block;width:100%;height:auto;background:#fff;border:1px solid #dde2ea}
svg.chart.wide{max-width:560px;margin-bottom:20px}
.grid{stroke:#dde2ea}.axis{fill:#5b6375}.label{fill:#1d2330}.mark{fill:#1d2330;font-weight:600}
.caption{fill:#1d2330;font-weight:600}
table.facts{max-width:760px}table.facts th{width:8em}
.bar,.hatch-bg{fill:#4a6fa5}.hatch{stroke:#fff}.swap{stroke:#5b6375}
.line{stroke:#1d2330}.s-cyan{stroke:#0077a3}.s-magenta{stroke:#a8126f}.s-yellow{stroke:#9a7b00}
svg.spark{vertical-align:middle;color:#4a6fa5;margin-left:6px}
details{margin-bottom:20px}summary{cursor:pointer;font-weight:600;margin-bottom:8px}
.scroll{overflow-x:auto;margin-bottom:20px}.scroll table{margin-bottom:0}
@media (max-width:700px){
header{padding:8px 12px;gap:8px;flex-wrap:wrap}header h1{font-size:16px;flex-basis:100%}
main{padding:10px 8px}
table#fleet{display:block;overflow-x:auto;white-space:nowrap}
th,td{padding:4px 5px}meter{width:56px}td.level{white-space:normal}
#fleet td:first-child,#fleet th:first-child{position:sticky;left:0;background:#fff;z-index:1}
#fleet th:first-child{background:#e8ecf2}
table.facts td{word-break:break-word}
.charts{grid-template-columns:1fr}
#filters input{width:9em}
}
"""
CSS_BYTES = CSS.encode()
# The stylesheet's URL names its content, so it is cached for a year and a changed stylesheet
# is a new URL (no stale style after an upgrade).
CSS_PATH = f"/static/printerhq-{hashlib.sha256(CSS_BYTES).hexdigest()[:16]}.css"
# Nothing may load, run or frame but same-origin stylesheets and same-origin form posts.
# 'self' for styles admits only what this server serves as text/css: every other response has
# another type and nosniff, so the browser refuses it as a stylesheet; and with default-src
# 'none' even an injected stylesheet could fetch nothing (no url(), fonts or images).
CSP = (
    "default-src 'none'; style-src 'self'; form-action 'self'; "
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
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title><link rel="stylesheet" href="$css"></head>
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
    text = PAGE.substitute(title=e(title), css=CSS_PATH, nav=nav, body=body)
    return Response(
        text,
        status_code=status,
        media_type="text/html; charset=utf-8",
        headers={**HEADERS, **(headers or {})},
    )


def _when(t: float | None, now: float) -> str:
    """A compact time for people ("3 min ago", "2 Dec 14:05", "2 Dec 2025") in a ``<time>``
    whose ``datetime`` is the exact instant and whose ``title`` (shown on hover) the full UTC
    value."""
    if t is None:
        return ""
    try:
        when = datetime.datetime.fromtimestamp(t, datetime.UTC)
        today = datetime.datetime.fromtimestamp(now, datetime.UTC)
    except (OverflowError, ValueError, OSError):
        # A time stored before the server checked them (1e13, inf, -1e18): shown, not fatal.
        return '<span class="muted">invalid time</span>'
    age = now - t
    if 0 <= age < 60:
        short = "just now"
    elif 0 <= age < 3600:
        short = f"{age // 60:.0f} min ago"
    elif 0 <= age < 6 * 3600:
        short = f"{age // 3600:.0f} h ago"
    elif when.year == today.year:
        short = f"{when.day} {when:%b %H:%M}"
    else:
        short = f"{when.day} {when:%b %Y}"  # a year ago or in the future: the date says it
    full = when.strftime("%Y-%m-%d %H:%M:%S UTC")
    return f'<time datetime="{when:%Y-%m-%dT%H:%M:%SZ}" title="{full}">{e(short)}</time>'


def _meter(percent: float | None) -> str:
    shown = words.whole_percent(percent)  # rounded once, half up, as printerhq scan does
    if shown is None:
        return '<span class="muted">unknown level</span>'
    return (
        f'<meter min="0" max="100" low="{LOW_PERCENT}" high="25" optimum="100" '
        f'value="{shown}"></meter> {shown}%'
    )


def status_text(report: DeviceReport | None) -> str:
    """The device's state in words: ``running / idle / low toner, door open``."""
    if report is None or report.status is None:
        return ""
    status = report.status
    parts = [words.device_status(status.device), words.printer_status(status.printer)]
    text = " / ".join(p for p in parts if p)
    errors = ", ".join(words.detected_error(flag) for flag in status.errors)
    return " / ".join(p for p in (text, errors) if p)


def alert_text(alert: model.Alert) -> str:
    """What an alert says: the device's own text, else its code in words."""
    return " ".join(
        (alert.description or (words.plain(alert.code_name) if alert.code_name else "")).split()
    ) or (f"code {alert.code}" if alert.code is not None else "alert")


def alerts_text(report: DeviceReport | None) -> Iterable[str]:
    for alert in report.alerts if report else []:
        yield alert_text(alert)


def alerts_html(report: DeviceReport | None, limit: int | None = None) -> str:
    """The alerts as a list, each behind its severity in a word (critical, warning, info), the
    most severe first; ``limit`` shows that many and says how many more there are."""
    alerts = sorted(
        report.alerts if report else [],
        key=lambda a: words.ALERT_LEVELS.index(words.alert_level(a.severity)),
    )
    if not alerts:
        return ""
    shown = alerts if limit is None else alerts[:limit]
    items = [
        f'<li><span class="sev sev-{level}">{level}</span> {e(alert_text(a))}</li>'
        for a in shown
        for level in (words.alert_level(a.severity),)
    ]
    if len(alerts) > len(shown):
        items.append(f'<li class="muted">and {len(alerts) - len(shown)} more</li>')
    return f'<ul class="alerts">{"".join(items)}</ul>'


# The navigation of every page, in one place: (path, label).
NAV_LINKS = (
    ("/", "Fleet"),
    ("/alerts", "Alerts"),
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
def _pivot(
    rows: list[Row],
    key: Callable[[Row], str],
    value: Callable[[Row], object],
) -> tuple[list[str], list[tuple[float, dict[str, object]]]]:
    """Time series rows -> (column names, [(scanned_at, {column: cell})]) for the last scans."""
    columns: list[str] = []
    by_time: dict[float, dict[str, object]] = {}
    for row in rows:
        column = key(row)
        if column not in columns:
            columns.append(column)
        by_time.setdefault(row["scanned_at"], {})[column] = value(row)
    columns.sort(key=lambda name: name != "total")  # the page total first
    times = sorted(by_time)[-HISTORY_ROWS:]
    return columns, [(t, by_time[t]) for t in reversed(times)]


def _history_table(
    title: str, columns: list[str], rows: list[tuple[float, dict[str, object]]], now: float
) -> str:
    """The newest scans as a table, folded away under the charts that show them."""
    if not rows:
        return ""
    head = "".join(f"<th>{e(c)}</th>" for c in columns)
    body = "".join(
        f"<tr><td>{_when(t, now)}</td>"
        + "".join(f'<td class="num">{e(cells.get(c, ""))}</td>' for c in columns)
        + "</tr>"
        for t, cells in rows
    )
    return (
        f'<details class="history"><summary>{e(title)} (newest {len(rows)} scans)</summary>'
        f'<div class="scroll"><table><thead><tr><th>Scanned</th>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div></details>"
    )


def _supply_level(s: model.Supply) -> str:
    """A supply's level as a bar and words: ``67%``, ``some left``, ``350 sheets (capacity
    unknown)`` (the words of ``printerhq scan``)."""
    receptacle = not s.consumed
    state = words.supply_state(s.state, receptacle=receptacle)
    if s.percent is not None:
        shown = words.whole_percent(s.percent, s.level, s.capacity)
        text = _meter(shown) + (" full" if receptacle else "")
        return text + (f' <span class="muted">({e(state)})</span>' if state else "")
    if s.level is not None and s.capacity is None and not state:
        state = "capacity unknown"
    parts = []
    if s.level is not None and s.level >= 0:
        parts.append(f"{s.level:,} {words.unit(s.unit)}".strip())
    if state:
        parts.append(state)
    return f'<span class="muted">{e(", ".join(parts) or "unknown level")}</span>'


def _tray_level(tray: model.InputTray) -> str:
    unit = words.unit(tray.unit, default="sheets")
    if tray.level is not None and tray.level >= 0 and tray.capacity:
        return f"{_meter(tray.percent)}, {tray.level:,} of {tray.capacity:,} {e(unit)}"
    text = words.tray_state(tray.state) or "level not given"
    if tray.capacity and tray.capacity > 0:
        text += f", holds {tray.capacity:,} {unit}"
    return f'<span class="muted">{e(text)}</span>'


SCROLL = '<div class="scroll">'  # a table that may be wider than a phone scrolls by itself
CHART_DAYS = 30  # the device page's charts show this many days up to the newest reading
# Counters that count something else than pages get no pages-per-day chart.
NOT_PAGES = frozenset({"jam", "power_on"})


def _charts(counters: list[Row], supplies: list[Row]) -> tuple[str, str]:
    """(pages per day charts, supply chart) from the history rows, ``""`` where there is none."""
    by_name: dict[str, list[tuple[float, int]]] = {}
    for row in counters:
        if row["name"] not in NOT_PAGES:
            by_name.setdefault(str(row["name"]), []).append((row["scanned_at"], row["value"]))
    pages = []
    order = {name: i for i, name in enumerate(typing.get_args(model.CounterName))}
    names = sorted(by_name, key=lambda n: (order.get(n, len(order)), n))
    for name in names:
        bars = charts.daily_pages(by_name[name])
        if not bars:
            continue
        last_day = bars[-1].day
        days = min(CHART_DAYS, max(7, (last_day - bars[0].day).days + 1))
        chart_id = "pages-" + "".join(c if c.isalnum() else "-" for c in name)[:40]
        pages.append(charts.pages_chart(chart_id, name, bars, last_day, days))
    pages_html = f'<div class="charts">{"".join(pages)}</div>' if pages else ""
    series = charts.supply_series(supplies)
    times = [t for s in series for t, _ in s.points]
    supply_html = ""
    if len(set(times)) > 1:  # one reading draws no line
        end = max(times)
        start = max(min(times), end - CHART_DAYS * charts.DAY)
        supply_html = charts.supply_chart("supply-levels", series, start, end)
    return pages_html, supply_html


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
        ("Description", ident.sys_descr if ident else None),
        ("Firmware", ident.firmware if ident else None),
        ("Location", ident.location if ident else None),
        ("Status", status_text(report)),
        ("Agent", device["agent"]),
    ]
    parts = ['<table class="facts"><tbody>']
    parts += [f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in facts if v]
    parts.append(
        f"<tr><th>Last seen</th><td>{_when(device['last_seen'], now)}</td></tr></tbody></table>"
    )
    alerts = alerts_html(report)
    if alerts:
        parts.append(f"<h2>Alerts</h2>{alerts}")
    pages_charts, supply_chart = _charts(counters, supplies)
    parts.append(
        f"<h2>Supplies</h2>{SCROLL}<table><thead><tr>"
        "<th>Supply</th><th>Kind</th><th>Colour</th>"
        "<th>Level</th></tr></thead><tbody>"
    )
    for s in report.supplies if report else []:
        parts.append(
            f'<tr class="supply"><td>{e(s.description)}</td><td>{e(words.plain(s.kind))}</td>'
            f'<td>{e(s.colour)}</td><td class="level">{_supply_level(s)}</td></tr>'
        )
    parts.append("</tbody></table></div>")
    parts.append(fleet_page.forecast_block(device.get("forecasts") or [], now))
    if supply_chart:
        parts.append(f"<h2>Supply levels, last {CHART_DAYS} days</h2>{supply_chart}")
    trays = report.status.trays if report and report.status else []
    if trays:
        parts.append(
            f"<h2>Paper trays</h2>{SCROLL}<table><thead><tr>"
            "<th>Tray</th><th>Paper</th><th>Level</th>"
            "</tr></thead><tbody>"
            + "".join(
                f"<tr><td>{e(t.name or f'#{t.index}')}</td><td>{e(t.media)}</td>"
                f'<td class="level">{_tray_level(t)}</td></tr>'
                for t in trays
            )
            + "</tbody></table></div>"
        )
    parts.append(
        f"<h2>Counters</h2>{SCROLL}<table><thead><tr>"
        "<th>Counter</th><th>Value</th><th>Unit</th>"
        "</tr></thead><tbody>"
    )
    for c in report.counters if report else []:
        parts.append(
            f'<tr><td>{e(c.label or words.plain(c.name))}</td><td class="num">{c.value:,}</td>'
            f"<td>{e(words.counter_unit(c.name, c.unit))}</td></tr>"
        )
    parts.append("</tbody></table></div>")
    if pages_charts:
        parts.append(f"<h2>Pages per day</h2>{pages_charts}")
    parts.append(
        _history_table(
            "Counter history",
            *_pivot(counters, lambda r: words.plain(str(r["name"])), lambda r: f"{r['value']:,}"),
            now,
        )
    )
    parts.append(
        _history_table(
            "Supply history (%)",
            *_pivot(
                supplies,
                lambda r: str(r["description"]),
                lambda r: (
                    f"{r['percent']:.0f}"
                    if r["percent"] is not None
                    else words.supply_state(str(r["state"]), receptacle=r["kind"] == "waste")
                ),
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

    async def _chart_history(
        device_id: int, latest: Row | None, report: DeviceReport | None
    ) -> tuple[list[Row], list[Row]]:
        """The counter and supply readings of the charts' days (and the day before, which the
        first day's pages are counted from), bounded by scans and by rows: a device with many
        counters gets fewer scans, never a truncated newest end."""
        if latest is None:
            return [], []
        window = latest["scanned_at"] - (CHART_DAYS + 1) * charts.DAY
        out = []
        for width, fetch in (
            (len(report.counters) if report else 1, store.counter_history),
            (len(report.supplies) if report else 1, store.supply_history),
        ):
            scans = max(1, min(MAX_CHART_SCANS, MAX_CHART_ROWS // max(1, width)))
            since = max(window, await store.since_last_scans(device_id, scans))
            out.append(await fetch(device_id, since=since, limit=MAX_CHART_ROWS))
        return out[0], out[1]

    async def stylesheet(request: Request) -> Response:
        # Public (no session needed: nothing in it is secret); immutable, as its URL names it.
        return Response(
            CSS_BYTES,
            media_type="text/css; charset=utf-8",
            headers={
                "cache-control": "public, max-age=31536000, immutable",
                "x-content-type-options": "nosniff",
            },
        )

    async def fleet(request: Request) -> Response:
        session = await logged_in(request)
        if not (session or open_read):
            return _redirect("/login")
        return await fleet_page.render(
            store, request.query_params, now=time.time(), logged_in=session
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
        counters, supplies = await _chart_history(device_id, latest, report)
        found["forecasts"] = await fleet_page.forecasts_for(store, device_id)
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
        Route(CSS_PATH, stylesheet, methods=["GET"]),
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
