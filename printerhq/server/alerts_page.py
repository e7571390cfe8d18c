"""Alerts for people and programs: the ``/alerts`` page and ``GET /api/v1/alerts``.

The page lists open alerts, most urgent first and then the oldest, in plain words, and below
them the alerts closed in the last ``RECENT_DAYS``. Everything an alert says may quote a device
(a supply's description, an alert text): it goes through :func:`dashboard.e`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from printerhq.server import dashboard
from printerhq.server.alerts_store import MAX_LISTED, AlertStore
from printerhq.server.dashboard import e
from printerhq.server.store import Store

RECENT_DAYS = 7
RECENT_ROWS = 200
_SEVERITY_CLASS = {"critical": "alert", "warning": "", "info": "muted"}
Handler = Callable[[Request], Awaitable[Response]]


def _subject(alert: dict[str, Any]) -> str:
    if alert["subject_kind"] == "device" and alert["subject_id"] is not None:
        return f'<a href="/devices/{int(alert["subject_id"])}">{e(alert["label"])}</a>'
    return f"agent {e(alert['label'])}"


def _row(alert: dict[str, Any], now: float, closed: bool) -> str:
    severity = str(alert["severity"])
    cells = [
        f'<td class="{_SEVERITY_CLASS.get(severity, "")}">{e(severity)}</td>',
        f"<td>{dashboard._when(alert['opened_at'], now)}</td>",
    ]
    if closed:
        cells.append(f"<td>{dashboard._when(alert['closed_at'], now)}</td>")
    cells += [
        f"<td>{_subject(alert)}</td>",
        f"<td>{e(alert['site'])}</td>",
        f"<td>{e(alert['title'])}</td>",
        f"<td>{e(alert['message'])}</td>",
    ]
    return (
        f'<tr class="alert-row" data-alert-id="{int(alert["id"])}" '
        f'data-severity="{e(severity)}">{"".join(cells)}</tr>'
    )


def alerts_page(
    open_alerts: list[dict[str, Any]], closed: list[dict[str, Any]], *, now: float, logged_in: bool
) -> Response:
    head = "<tr><th>Severity</th><th>Since</th><th>Printer or agent</th><th>Site</th>"
    tail = "<th>Alert</th><th>Details</th></tr>"
    parts = [f"<h2>Open alerts ({len(open_alerts)})</h2>"]
    if open_alerts:
        rows = "".join(_row(a, now, False) for a in open_alerts)
        parts.append(f'<table id="open-alerts">{head}{tail}{rows}</table>')
    else:
        parts.append('<p class="ok" id="no-open-alerts">No open alerts.</p>')
    parts.append(f"<h2>Closed in the last {RECENT_DAYS} days</h2>")
    if closed:
        closed_head = head.replace("<th>Since</th>", "<th>Opened</th><th>Closed</th>")
        rows = "".join(_row(a, now, True) for a in closed)
        parts.append(f'<table id="closed-alerts">{closed_head}{tail}{rows}</table>')
    else:
        parts.append('<p class="muted">None.</p>')
    return dashboard._page("printerhq alerts", "".join(parts), nav=dashboard._nav(logged_in))


def _error(status: int, reason: str) -> Response:
    return Response(
        msgspec.json.encode({"error": reason}), status_code=status, media_type="application/json"
    )


def routes(
    store: Store, reader: Callable[[Handler], Handler], *, open_read: bool = False
) -> list[Route]:
    """``/alerts`` (a viewer's session, like the dashboard) and ``/api/v1/alerts`` (guarded
    by ``reader``, like the rest of the read API)."""
    alerts = AlertStore(store)

    async def logged_in(request: Request) -> bool:
        token = request.cookies.get(dashboard.COOKIE)
        if not token or len(token) > 256:
            return False
        holder = await store.token_holder(token)
        return holder is not None and holder.role == "viewer"

    async def page(request: Request) -> Response:
        session = await logged_in(request)
        if not (session or open_read):
            return Response(status_code=303, headers={"location": "/login", **dashboard.HEADERS})
        now = time.time()
        open_alerts = await alerts.alerts("open")
        closed = await alerts.alerts("closed", since=now - RECENT_DAYS * 86400, limit=RECENT_ROWS)
        return alerts_page(open_alerts, closed, now=now, logged_in=session)

    async def api(request: Request) -> Response:
        query = request.query_params
        state = query.get("state", "open")
        if state not in ("open", "closed"):
            return _error(400, "state must be open or closed")
        try:
            since = float(query.get("since", 0))
            limit = int(query.get("limit", MAX_LISTED))
        except ValueError:
            return _error(400, "since and limit must be numbers")
        if not math.isfinite(since):
            return _error(400, "since must be a finite number (unix time)")
        return Response(
            msgspec.json.encode(await alerts.alerts(state, since=since, limit=limit)),
            media_type="application/json",
        )

    return [
        Route("/alerts", page, methods=["GET"]),
        Route("/api/v1/alerts", reader(api), methods=["GET"]),
    ]
