"""Meter reads over HTTP: ``GET /api/v1/meter-reads`` (JSON, viewer token), and on the dashboard
the page ``/meter-reads`` (a date form and a download link) and ``/meter-reads.csv``.

Both answers stream, chunk of devices after chunk (``meter_reads_query.py``): 100,000 devices
never sit in memory at once. Parameters are checked first and refused with a clear 400.
"""

from __future__ import annotations

import datetime
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable

import msgspec
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from printerhq.server import meter_reads as mr
from printerhq.server.dashboard import HEADERS, e, nav, page, redirect
from printerhq.server.meter_reads_query import MeterReads
from printerhq.server.pages import viewer_session
from printerhq.server.store import Store, StoreError, check_site_name


def _query(request: Request) -> tuple[mr.Period, str | None]:
    """``from``, ``to`` and ``site`` of the query string (``PeriodError`` when wrong)."""
    params = request.query_params
    period = mr.parse_period(params.get("from"), params.get("to"))
    site = params.get("site") or None
    if site is not None:
        try:
            check_site_name(site)
        except StoreError as exc:
            raise mr.PeriodError(str(exc)) from None
    return period, site


def _error(status: int, reason: str) -> Response:
    return Response(
        msgspec.json.encode({"error": reason}), status_code=status, media_type="application/json"
    )


async def json_stream(
    reads: MeterReads, period: mr.Period, site: str | None
) -> AsyncIterator[bytes]:
    head = {"from": period.first_day, "to": period.last_day, "site": site}
    yield msgspec.json.encode(head)[:-1] + b',"devices":['
    first = True
    async for chunk in reads.stream(period, site):
        parts = [msgspec.json.encode(d.as_dict()) for d in chunk]
        if parts:
            yield (b"" if first else b",") + b",".join(parts)
            first = False
    yield b"]}"


async def csv_stream(
    reads: MeterReads, period: mr.Period, site: str | None
) -> AsyncIterator[bytes]:
    yield mr.csv_text([list(mr.CSV_COLUMNS)]).encode()
    async for chunk in reads.stream(period, site):
        text = mr.csv_text(row for d in chunk for row in mr.csv_rows(d.as_dict()))
        if text:
            yield text.encode()


def api_handler(store: Store) -> Callable[[Request], Awaitable[Response]]:
    """``GET /api/v1/meter-reads?from=YYYY-MM-DD&to=YYYY-MM-DD&site=`` (wrap it in the viewer
    check)."""
    reads = MeterReads(store)

    async def meter_reads(request: Request) -> Response:
        try:
            period, site = _query(request)
        except mr.PeriodError as exc:
            return _error(400, str(exc))
        return StreamingResponse(json_stream(reads, period, site), media_type="application/json")

    return meter_reads


def _last_month(now: float) -> tuple[str, str]:
    today = datetime.datetime.fromtimestamp(now, datetime.UTC).date()
    end = today.replace(day=1)
    start = (end - datetime.timedelta(days=1)).replace(day=1)
    return start.isoformat(), end.isoformat()


def meter_readspage(
    request: Request, *, logged_in: bool, error: str = "", status: int = 200
) -> Response:
    params = request.query_params
    default_from, default_to = _last_month(time.time())
    start = params.get("from") or default_from
    end = params.get("to") or default_to
    site = params.get("site") or ""
    query = urllib.parse.urlencode({"from": start, "to": end, **({"site": site} if site else {})})
    message = f'<p class="error">{e(error)}</p>' if error else ""
    link = (
        ""
        if error
        else f'<p><a id="download" href="/meter-reads.csv?{e(query)}" download>'
        f"Download the meter reads from {e(start)} to {e(end)}"
        f"{' for site ' + e(site) if site else ''} (CSV)</a></p>"
    )
    body = (
        '<p class="muted">Start and end of every page counter per device, for billing. The '
        "period runs from the first day (included) to the last (excluded), midnight UTC: a "
        "month is from the 1st to the 1st of the next month. The start is the last reading "
        "before the period, so consecutive periods add up.</p>"
        f"{message}"
        '<form method="get" action="/meter-reads">'
        f'<label>From <input type="date" name="from" value="{e(start)}" required></label> '
        f'<label>To <input type="date" name="to" value="{e(end)}" required></label> '
        f'<label>Site <input name="site" value="{e(site)}" maxlength="64"></label> '
        '<button type="submit">Show</button></form>'
        f"{link}"
        '<p class="muted">Flags in the file: '
        + ", ".join(f"<code>{e(k)}</code> {e(v)}" for k, v in mr.FLAG_WORDS.items())
        + ".</p>"
    )
    return page("Meter reads", body, nav=nav(logged_in), status=status)


def routes(store: Store, *, open_read: bool = False) -> list[Route]:
    reads = MeterReads(store)

    async def form(request: Request) -> Response:
        session = await viewer_session(store, request)
        if not (session or open_read):
            return redirect("/login")
        if request.query_params.get("from") or request.query_params.get("to"):
            try:
                _query(request)
            except mr.PeriodError as exc:
                return meter_readspage(request, logged_in=session, error=str(exc), status=400)
        return meter_readspage(request, logged_in=session)

    async def download(request: Request) -> Response:
        session = await viewer_session(store, request)
        if not (session or open_read):
            return redirect("/login")
        try:
            period, site = _query(request)
        except mr.PeriodError as exc:
            return meter_readspage(request, logged_in=session, error=str(exc), status=400)
        name = f"meter-reads-{period.first_day}-{period.last_day}.csv"
        return StreamingResponse(
            csv_stream(reads, period, site),
            media_type="text/csv; charset=utf-8",
            headers={**HEADERS, "content-disposition": f'attachment; filename="{name}"'},
        )

    return [
        Route("/meter-reads", form, methods=["GET"]),
        Route("/meter-reads.csv", download, methods=["GET"]),
    ]
