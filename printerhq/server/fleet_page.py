"""The dashboard's fleet page (``GET /``) and the forecast block of the device page.

Trouble first: by default devices come in urgency order (errors such as a jam, a door open,
offline or no toner; then supplies running out soonest; then devices not seen recently; then
the rest, see :mod:`printerhq.server.summary`). Search, filters (site, vendor, status), sort and
page are GET parameters (:mod:`printerhq.server.device_query`), so every view is a URL that can
be bookmarked. The work is SQL with indexes (:mod:`printerhq.server.fleet_queries`): a page
costs the same with 100 or 100,000 devices, and only the page's rows are rendered.

Rendered with the layout, stylesheet and escaping of :mod:`printerhq.server.dashboard`. Every
value that came from a device goes through ``ui.e`` before it touches the markup.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec
from starlette.responses import Response

from printerhq.model import DeviceReport
from printerhq.server import charts, device_query, fleet_queries
from printerhq.server import dashboard as ui
from printerhq.server.device_query import DeviceQuery, QueryError
from printerhq.server.store import Store
from printerhq.server.summary import runs_out_words

Row = dict[str, Any]  # one row as the store returns it (column name -> value)

PAGE_SIZES = (50, 100, 200, 500)
SPARK_DAYS = 14  # the lowest supply's sparkline: its level per day over this many days
# The urgency classes in words, and how each is set off (existing classes of the stylesheet).
URGENCY_WORDS = {
    "error": ("error", "alert"),
    "runs_out": ("runs out", "alert"),
    "unseen": ("not seen", "muted"),
    "ok": ("ok", "ok"),
}
STATUS_CHOICES = (("", "any status"), *((k, v[0]) for k, v in URGENCY_WORDS.items()))
SORT_CHOICES = (
    ("urgency", "trouble first"),
    ("runs_out", "runs out soonest"),
    ("lowest", "lowest supply"),
    ("last_seen", "longest unseen"),
    ("-last_seen", "seen most recently"),
    ("name", "name"),
    ("address", "address"),
    ("model", "model"),
    ("serial", "serial"),
)
# Column header -> the sort it links to (None: not sortable).
COLUMNS = (
    ("Status", "urgency"),
    ("Address", "address"),
    ("Vendor", None),
    ("Model", "model"),
    ("Serial", "serial"),
    ("Site", None),
    ("Lowest supply", "lowest"),
    ("Runs out", "runs_out"),
    ("Total pages", None),
    ("Alerts", None),
    ("Last seen", "-last_seen"),
    ("Agent", None),
)


def _href(query: DeviceQuery, **changes: object) -> str:
    params = query.params(**changes)
    return "/?" + urllib.parse.urlencode(params) if params else "/"


def sparkline_cell(row: Row) -> str:
    """The lowest supply's level per day over the last ``SPARK_DAYS`` (``row["spark"]``, filled
    by :func:`render`) as a tiny chart, in the cell under the lowest supply's meter."""
    return charts.sparkline(row.get("spark") or [])


def _report(row: Row) -> DeviceReport | None:
    """The row's latest report (as ``GET /api/v1/devices/{id}``) back as a struct."""
    found = (row.get("latest") or {}).get("report")
    try:
        return msgspec.convert(found, DeviceReport) if found else None
    except msgspec.ValidationError:
        return None


def _lowest_index(row: Row, report: DeviceReport | None) -> int | None:
    """The supply index of the row's lowest supply (the summary names it by description)."""
    for supply in report.supplies if report else []:
        if supply.description == row.get("lowest_supply") and supply.percent is not None:
            return supply.index
    return None


def _options(choices: Iterable[tuple[str, str]], chosen: str) -> str:
    return "".join(
        f'<option value="{ui.e(value)}"{" selected" if value == chosen else ""}>{ui.e(text)}'
        "</option>"
        for value, text in choices
    )


def _form(query: DeviceQuery, sites: Sequence[str] = ()) -> str:
    sort = ("-" if query.descending else "") + query.sort
    sorts = (
        SORT_CHOICES if any(v == sort for v, _ in SORT_CHOICES) else (*SORT_CHOICES, (sort, sort))
    )
    size = str(query.limit or device_query.DEFAULT_LIMIT)
    return (
        '<form id="filters" method="get" action="/">'
        f'<label>Search <input name="q" type="search" value="{ui.e(query.q)}" '
        f'maxlength="{device_query.MAX_SEARCH}" placeholder="serial, model, address, name">'
        "</label> "
        f'<label>Site <input name="site" list="sites" value="{ui.e(query.site)}" '
        f'maxlength="{device_query.MAX_NAME}"></label><datalist id="sites">'
        + "".join(f'<option value="{ui.e(site)}">' for site in sites)
        + "</datalist> "
        f'<label>Vendor <input name="vendor" value="{ui.e(query.vendor)}" '
        f'maxlength="{device_query.MAX_NAME}"></label> '
        f'<label>Status <select name="status">{_options(STATUS_CHOICES, query.status)}</select>'
        "</label> "
        f'<label>Sort <select name="sort">{_options(sorts, sort)}</select></label> '
        f'<label>Per page <select name="limit">'
        f"{_options(((str(n), str(n)) for n in PAGE_SIZES), size)}</select></label> "
        '<button type="submit">Show</button> <a href="/">Reset</a></form>'
    )


def _pager(query: DeviceQuery, shown: int, total: int) -> str:
    limit = query.limit or device_query.DEFAULT_LIMIT
    if total == 0:
        return '<p class="muted" id="pager">No device matches.</p>'
    first, last = query.offset + 1, query.offset + shown
    links = []
    if query.offset > 0:
        links.append(f'<a rel="first" href="{ui.e(_href(query, offset=0))}">First</a>')
        previous = max(0, query.offset - limit)
        links.append(f'<a rel="prev" href="{ui.e(_href(query, offset=previous))}">Previous</a>')
    if last < total:
        links.append(
            f'<a rel="next" href="{ui.e(_href(query, offset=query.offset + limit))}">Next</a>'
        )
        end = min(device_query.MAX_OFFSET, (total - 1) // limit * limit)
        links.append(f'<a rel="last" href="{ui.e(_href(query, offset=end))}">Last</a>')
    span = f"{first:,} to {last:,} of {total:,} devices" if shown else f"none of {total:,} here"
    return f'<p id="pager"><span class="muted">{span}</span> {" ".join(links)}</p>'


def _header(query: DeviceQuery) -> str:
    cells = []
    for title, sort in COLUMNS:
        if sort is None:
            cells.append(f"<th>{ui.e(title)}</th>")
            continue
        current = ("-" if query.descending else "") + query.sort == sort
        link = _href(query, sort=sort.lstrip("-"), descending=sort.startswith("-"), offset=0)
        mark = ' aria-sort="ascending"' if current else ""
        cells.append(f'<th{mark}><a href="{ui.e(link)}">{ui.e(title)}</a></th>')
    return "".join(cells)


def _lowest_supply(row: Row) -> str:
    percent = row.get("lowest_percent")
    if percent is None:
        return '<span class="muted">unknown</span>'
    return f'{ui._meter(percent)}<br><span class="muted">{ui.e(row.get("lowest_supply"))}</span>'


def _runs_out(row: Row, now: float) -> str:
    words = runs_out_words(row.get("runs_out_at"), now)
    if not words:
        return ""
    return f'{ui.e(words)}<br><span class="muted">{ui.e(row.get("runs_out_supply"))}</span>'


def _status(row: Row) -> str:
    words, css = URGENCY_WORDS[row["urgency"]]
    detail = row.get("status") or ""
    return f'<strong class="{css}">{ui.e(words)}</strong>' + (
        f"<br>{ui.e(detail)}" if detail and detail != words else ""
    )


def _row(d: Row, now: float) -> str:
    report = d.get("report")
    model_text = d["model"] or (report.identity.sys_descr if report else "") or ""
    pages = d.get("total_pages")
    return (
        f'<tr class="device" data-device-id="{int(d["id"])}" '
        f'data-urgency="{ui.e(d["urgency"])}">'
        f"<td>{_status(d)}</td>"
        f'<td><a href="/devices/{int(d["id"])}">{ui.e(d["address"])}</a></td>'
        f"<td>{ui.e(d['vendor'])}</td><td>{ui.e(model_text)}</td><td>{ui.e(d['serial'])}</td>"
        f"<td>{ui.e(d['site'])}</td>"
        f'<td class="level">{_lowest_supply(d)}{sparkline_cell(d)}</td>'
        f'<td class="runs-out">{_runs_out(d, now)}</td>'
        f'<td class="num">{"" if pages is None else f"{int(pages):,}"}</td>'
        f"<td>{ui.alerts_html(report, limit=3)}</td>"
        f'<td class="seen">{ui._when(d["last_seen"], now)}</td><td>{ui.e(d["agent"])}</td></tr>'
    )


def fleet_html(
    query: DeviceQuery,
    rows: list[Row],
    total: int,
    *,
    now: float,
    sites: Sequence[str] = (),
) -> str:
    """The page's body: the form, the pager, the table."""
    body = [_row(d, now) for d in rows]
    if not body:
        message = (
            "No devices yet: start an agent with an agent token."
            if total == 0 and not (query.q or query.site or query.vendor or query.status)
            else "No device matches this search."
        )
        body.append(f'<tr><td colspan="{len(COLUMNS)}" class="muted">{message}</td></tr>')
    pager = _pager(query, len(rows), total)
    return (
        f'{_form(query, sites)}{pager}<table id="fleet"><thead><tr>{_header(query)}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>{pager if len(rows) > 20 else ''}"
    )


async def render(
    store: Store, params: Mapping[str, str], *, now: float, logged_in: bool
) -> Response:
    """``GET /`` with its query string."""
    try:
        query = device_query.parse(params)
    except QueryError as exc:
        return ui._page(
            "printerhq fleet",
            f'<p class="error">{ui.e(exc)}</p><p><a href="/">Back to the fleet</a></p>',
            nav=ui._nav(logged_in),
            status=400,
        )
    # The latest report of the page's rows only (their alerts); links keep the view's query.
    rows, total = await fleet_queries.page(
        store, dataclasses.replace(query, include_latest=True), now
    )
    since = (now // 86400 - SPARK_DAYS + 1) * 86400  # midnight UTC, SPARK_DAYS days ago
    wanted = {}
    for row in rows:
        row["report"] = _report(row)
        index = _lowest_index(row, row["report"])
        if index is not None:
            wanted[int(row["id"])] = index
    levels = await fleet_queries.daily_levels(store, wanted, since, SPARK_DAYS)
    for row in rows:
        row["spark"] = levels.get(int(row["id"]))
    sites = await fleet_queries.sites(store)
    body = fleet_html(query, rows, total, now=now, sites=sites)
    return ui._page("printerhq fleet", body, nav=ui._nav(logged_in))


# --------------------------------------------------------------------------------------------
# The device page's forecast block
# --------------------------------------------------------------------------------------------
async def forecasts_for(store: Store, device_id: int) -> list[dict[str, Any]]:
    """Each consumed supply's forecast, computed now (for :func:`forecast_block`)."""
    found = await fleet_queries.device_forecasts(store, device_id)
    return [fleet_queries.forecast_dict(f) for f in found or []]


def forecast_block(forecasts: list[dict[str, Any]], now: float) -> str:
    """ "When does it run out" per supply, for the device page (docs/forecast.md)."""
    if not forecasts:
        return ""
    rows = []
    for f in forecasts:
        words = runs_out_words(f.get("empties_at"), now) or "no date"
        rate = f.get("rate_per_day")
        rows.append(
            f'<tr class="forecast"><td>{ui.e(f.get("description"))}</td>'
            f"<td>{ui.e(words)}</td>"
            f'<td class="num">{"" if rate is None else f"{rate:.1f} % a day"}</td>'
            f'<td class="muted">{ui.e(f.get("basis"))}</td></tr>'
        )
    return (
        '<h2>Runs out</h2><table id="forecast"><thead><tr><th>Supply</th><th>Runs out</th>'
        "<th>Use</th><th>Based on</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


__all__ = ["render", "fleet_html", "forecast_block", "forecasts_for", "sparkline_cell"]
