"""The dashboard's fleet page: every device in one table (``GET /``).

Rendered here, with the layout, stylesheet and escaping of :mod:`printerhq.server.dashboard`
(which routes ``/`` to :func:`fleet_page`). Every value that came from a device goes through
``dashboard.e`` before it touches the markup.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from printerhq.model import DeviceReport
from printerhq.server import dashboard as ui

Row = dict[str, Any]  # one row as the store returns it (column name -> value)

MAX_FLEET_ROWS = 10_000  # one page; bounded like every other response


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


def fleet_page(
    devices: list[Row], *, now: float, logged_in: bool, limit: int | None = None
) -> Response:
    rows = []
    for d in devices:
        report: DeviceReport | None = d["report"]
        percent, supply = lowest_supply(report)
        pages = total_pages(report)
        alerts = list(ui.alerts_text(report))
        model_text = d["model"] or (report.identity.sys_descr if report else "")
        rows.append(
            f'<tr class="device" data-device-id="{int(d["id"])}">'
            f'<td><a href="/devices/{int(d["id"])}">{ui.e(d["address"])}</a></td>'
            f"<td>{ui.e(d['vendor'])}</td><td>{ui.e(model_text)}</td><td>{ui.e(d['serial'])}</td>"
            f'<td class="level" title="{ui.e(supply)}">{ui._meter(percent)}</td>'
            f'<td class="num">{"" if pages is None else f"{pages:,}"}</td>'
            f"<td>{ui.e(ui.status_text(report))}</td>"
            f'<td class="alert">{"<br>".join(ui.e(a) for a in alerts[:3])}'
            f"{'<br>…' if len(alerts) > 3 else ''}</td>"
            f'<td class="seen">{ui._when(d["last_seen"], now)}</td><td>{ui.e(d["agent"])}</td></tr>'
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
        f'<p class="muted">{ui.e(shown)}</p><table id="fleet"><thead><tr>'
        "<th>Address</th><th>Vendor</th><th>Model</th><th>Serial</th><th>Lowest supply</th>"
        "<th>Total pages</th><th>Status</th><th>Alerts</th><th>Last seen</th><th>Agent</th>"
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )
    return ui._page("printerhq fleet", body, nav=ui._nav(logged_in))
