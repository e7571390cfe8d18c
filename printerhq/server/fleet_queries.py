"""The fleet's SQL: device summaries (refresh, staleness) and the paged, searched, sorted list.

Kept beside :mod:`printerhq.server.store` (whose connection pool it uses) so the ingest path
stays untouched: summaries are computed after ingest, off its transaction, by
:mod:`printerhq.server.summary_refresh`.

Cost, in SQL terms: a refresh reads one device's latest reading (index readings_device_time)
and its supplies' level changes plus one level a day over :data:`HISTORY_DAYS` (index
supply_readings_device; window functions thin the rows in the database, so a supply read every
five minutes for months sends ~hundreds of points, not tens of thousands). A page is one
``COUNT`` and one ``ORDER BY ... LIMIT`` over devices, agents and device_summary, and the
latest reports of the page's rows only.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from printerhq import model
from printerhq.server import summary as summ
from printerhq.server.device_query import DeviceQuery
from printerhq.server.forecast import DAY, Forecast, SupplyHistory
from printerhq.server.store import (
    DEVICE_COLUMNS,
    DEVICE_FIELDS,
    DEVICE_FROM,
    MAX_SHOWN_REPORT_BYTES,
    SITE_OF_AGENT,
    Store,
    device_row,
    is_device_id,
    newest_allowed,
)

HISTORY_DAYS = 120  # level history a forecast looks at
MAX_POINTS = 100_000  # readings per supply and refresh (a longer backlog: the next refresh)
REFRESH_CHUNK = 200  # devices per refresh transaction
MAX_SPARK_ROWS = 4000  # readings of one supply a fleet-page sparkline reads at most
_FAR = 1e300  # sorts after every real time (NULLs last in both dialects)

# The urgency class at the time asked (two parameters: soon, stale): see printerhq.server.summary.
_CLASS = (
    "CASE WHEN s.urgency = 0 THEN 0 WHEN s.runs_out_at < ? THEN 1 "
    "WHEN d.last_seen < ? THEN 2 ELSE 3 END"
)
_SUMMARY_FIELDS = (
    "s.problem, s.status, s.lowest_percent, s.lowest_supply, s.runs_out_at, s.runs_out_supply, "
    "s.total_pages, s.updated_at"
)
_SUMMARY_COLUMNS = (
    "problem",
    "status",
    "lowest_percent",
    "lowest_supply",
    "runs_out_at",
    "runs_out_supply",
    "total_pages",
    "summary_updated_at",
)


# --------------------------------------------------------------------------------------------
# Refresh
# --------------------------------------------------------------------------------------------
def _latest_report(
    store: Store, conn: Any, device_id: int, now: float
) -> model.DeviceReport | None:
    row = store.execute(
        conn,
        "SELECT CASE WHEN length(report) > ? THEN NULL ELSE report END FROM readings "
        "WHERE device_id = ? AND scanned_at <= ? ORDER BY scanned_at DESC, id DESC LIMIT 1",
        (MAX_SHOWN_REPORT_BYTES, device_id, newest_allowed(now)),
    ).fetchone()
    if row is None or row[0] is None:
        return None
    return model.repair_report(bytes(row[0]))


def _stored_histories(store: Store, conn: Any, device_id: int) -> dict[int, Any]:
    """Each supply's folded history as the last refresh left it (index -> state dict)."""
    row = store.execute(
        conn, "SELECT forecasts FROM device_summary WHERE device_id = ?", (device_id,)
    ).fetchone()
    try:
        stored = json.loads(row[0]) if row else []
    except ValueError:
        return {}
    if not isinstance(stored, list):
        return {}
    return {
        int(item["index"]): item.get("history")
        for item in stored
        if isinstance(item, dict) and isinstance(item.get("index"), int)
    }


def _histories(
    store: Store,
    conn: Any,
    device_id: int,
    report: model.DeviceReport,
    stored: dict[int, Any],
    now: float,
) -> dict[int, SupplyHistory]:
    """Each consumed supply's history: the stored state, with the readings since it added (one
    index range per supply: a few rows, not months). Without a state: the last HISTORY_DAYS."""
    out: dict[int, SupplyHistory] = {}
    for supply in report.supplies:
        if not supply.consumed or supply.index in out:
            continue
        history = SupplyHistory.from_dict(stored.get(supply.index))
        since = history.last_time if history.last_time is not None else now - HISTORY_DAYS * DAY
        rows = store.execute(
            conn,
            "SELECT scanned_at, percent FROM supply_readings WHERE device_id = ? AND idx = ? "
            "AND scanned_at > ? AND scanned_at <= ? AND percent IS NOT NULL "
            "ORDER BY scanned_at LIMIT ?",
            (device_id, supply.index, since, newest_allowed(now), MAX_POINTS),
        ).fetchall()
        for when, percent in rows:
            history.add(float(when), float(percent))
        out[supply.index] = history
    return out


def _forecasts_json(summary: summ.Summary, histories: dict[int, SupplyHistory]) -> str:
    return json.dumps(
        [
            {**forecast_dict(f), "history": histories[f.index].to_dict()}
            for f in summary.supplies
            if f.index in histories
        ]
    )


def summarize_device(
    store: Store, conn: Any, device_id: int, now: float, *, stored: bool = True
) -> tuple[summ.Summary, dict[int, SupplyHistory]]:
    """One device's summary from the database (blocking; inside ``store.run``), and the supply
    histories it folded. ``stored=False``: from the raw readings, not the stored states."""
    report = _latest_report(store, conn, device_id, now)
    if report is None:
        return summ.summarize(None, {}, now), {}
    states = _stored_histories(store, conn, device_id) if stored else {}
    histories = _histories(store, conn, device_id, report, states, now)
    forecasts = {index: h.forecast(now) for index, h in histories.items()}
    return summ.summarize(report, forecasts, now), histories


def _refresh_chunk(store: Store, conn: Any, device_ids: Sequence[int], now: float) -> int:
    computed = []
    for device_id in device_ids:  # reads outside the write transaction (ingest keeps going)
        seen = store.execute(
            conn, "SELECT last_seen FROM devices WHERE id = ?", (device_id,)
        ).fetchone()
        if seen is None:
            continue
        summary, histories = summarize_device(store, conn, device_id, now)
        computed.append((device_id, float(seen[0]), summary, histories))
    with store.dialect.transaction(conn):
        for device_id, seen_at, s, histories in computed:
            store.execute(
                conn,
                """INSERT INTO device_summary(device_id, urgency, problem, status, lowest_percent,
                       lowest_supply, runs_out_at, runs_out_supply, total_pages, forecasts, seen,
                       updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (device_id) DO UPDATE SET urgency = excluded.urgency,
                       problem = excluded.problem, status = excluded.status,
                       lowest_percent = excluded.lowest_percent,
                       lowest_supply = excluded.lowest_supply,
                       runs_out_at = excluded.runs_out_at,
                       runs_out_supply = excluded.runs_out_supply,
                       total_pages = excluded.total_pages, forecasts = excluded.forecasts,
                       seen = excluded.seen, updated_at = excluded.updated_at""",
                (
                    device_id,
                    s.urgency,
                    s.problem,
                    s.status,
                    s.lowest_percent,
                    s.lowest_supply,
                    s.runs_out_at,
                    s.runs_out_supply,
                    s.total_pages,
                    _forecasts_json(s, histories),
                    seen_at,
                    now,
                ),
            )
    return len(computed)


async def refresh(store: Store, device_ids: Iterable[int], now: float | None = None) -> int:
    """Recompute the summaries of ``device_ids``; returns how many devices were found."""
    when = time.time() if now is None else now
    ids = sorted({i for i in device_ids if is_device_id(i)})
    done = 0
    for start in range(0, len(ids), REFRESH_CHUNK):
        chunk = ids[start : start + REFRESH_CHUNK]
        done += await store.run(lambda conn, chunk=chunk: _refresh_chunk(store, conn, chunk, when))
    return done


async def ids_for_keys(store: Store, keys: Iterable[str]) -> list[int]:
    """Device ids of device keys (``store.device_key``); unknown keys are skipped."""
    wanted = sorted(set(keys))

    def work(conn: Any) -> list[int]:
        found: list[int] = []
        for start in range(0, len(wanted), 200):
            chunk = wanted[start : start + 200]
            rows = store.execute(
                conn,
                f"SELECT id FROM devices WHERE device_key IN ({', '.join('?' * len(chunk))})",
                tuple(chunk),
            ).fetchall()
            found += [int(r[0]) for r in rows]
        return found

    return await store.run(work) if wanted else []


async def stale(store: Store, limit: int = 1000) -> list[int]:
    """Devices whose summary is missing or older than their last reading (another instance
    ingested them, the server restarted, or a refresh was dropped under load)."""

    def work(conn: Any) -> list[int]:
        rows = store.execute(
            conn,
            "SELECT d.id FROM devices d LEFT JOIN device_summary s ON s.device_id = d.id "
            "WHERE s.device_id IS NULL OR s.seen < d.last_seen ORDER BY d.id LIMIT ?",
            (limit,),
        ).fetchall()
        return [int(r[0]) for r in rows]

    return await store.run(work)


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------
def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _where(
    query: DeviceQuery, soon: float, stale_before: float, dialect: str = "sqlite"
) -> tuple[str, tuple[object, ...]]:
    clauses: list[str] = []
    params: list[object] = []
    if query.q:
        pattern = _like(query.q)
        columns = ("d.serial", "d.model", "d.address", "d.sys_name")
        # Any case, the fastest way measured on 100,000 devices: SQLite's LIKE ignores ASCII case
        # by itself (3 times faster than with lower()); PostgreSQL's lower() LIKE is 3 to 4 times
        # faster than its ILIKE.
        match = (
            "lower({}) LIKE ? ESCAPE '\\'" if dialect == "postgresql" else "{} LIKE ? ESCAPE '\\'"
        )
        clauses.append("(" + " OR ".join(match.format(c) for c in columns) + ")")
        params += [pattern] * len(columns)
    if query.site:
        clauses.append(f"{SITE_OF_AGENT} = ?")
        params.append(query.site)
    if query.vendor:
        clauses.append("lower(d.vendor) = lower(?)")
        params.append(query.vendor)
    if query.status:
        clauses.append(f"{_CLASS} = ?")
        params += [soon, stale_before, summ.STATUSES_BY_NAME[query.status]]
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)


def _order(query: DeviceQuery, soon: float, stale_before: float) -> tuple[str, tuple[object, ...]]:
    desc = " DESC" if query.descending else ""
    if query.sort == "id":
        return f"d.id{desc}", ()
    if query.sort == "urgency":
        rank = f"CASE WHEN {_CLASS} = 2 THEN d.last_seen ELSE COALESCE(s.runs_out_at, ?) END"
        return (
            f"{_CLASS}{desc}, {rank}{desc}, d.id",
            (soon, stale_before, soon, stale_before, _FAR),
        )
    column = {
        "name": "COALESCE(d.sys_name, d.address)",
        "address": "d.address",
        "model": "d.model",
        "serial": "d.serial",
        "last_seen": "d.last_seen",
        "lowest": "s.lowest_percent",
        "runs_out": "s.runs_out_at",
    }[query.sort]
    return f"({column} IS NULL), {column}{desc}, d.id", ()


async def page(
    store: Store, query: DeviceQuery, now: float | None = None
) -> tuple[list[dict[str, Any]], int]:
    """One page of devices as ``query`` asks, and how many devices match in all. Each row has
    the fields of ``store.list_devices`` and the summary's, ``urgency`` (the class name at
    ``now``), and ``latest`` (as ``GET /api/v1/devices/{id}``) when ``include_latest``."""
    when = time.time() if now is None else now
    soon = when + summ.SOON_DAYS * 86400
    stale_before = when - summ.UNSEEN_HOURS * 3600
    where, where_params = _where(query, soon, stale_before, store.dialect.name)
    order, order_params = _order(query, soon, stale_before)
    summary_join = " LEFT JOIN device_summary s ON s.device_id = d.id"
    base = f"{DEVICE_FROM}{summary_join}"
    wide = f"SELECT {DEVICE_FIELDS}, {_SUMMARY_FIELDS}, {_CLASS} {base}"
    # Joins a count or an id list needs: agents only for a site filter, summaries only when a
    # filter or the sort reads them (a plain count of 100,000 devices is then an index count).
    narrow_from = "FROM devices d"
    if query.site:
        narrow_from += " LEFT JOIN agents a ON a.id = d.last_agent_id"
    if query.status or "s." in order:
        narrow_from += summary_join
    count_from = (
        "FROM devices d"
        + (" LEFT JOIN agents a ON a.id = d.last_agent_id" if query.site else "")
        + (summary_join if query.status else "")
    )

    def work(conn: Any) -> tuple[list[Any], int, dict[int, Any]]:
        if query.limit is None:  # every device, in id order (the API without parameters)
            sql = f"{wide}{where} ORDER BY {order}"
            rows = store.execute(conn, sql, (soon, stale_before, *where_params)).fetchall()
            total = len(rows)
        else:
            # Sort and cut on ids alone (a narrow sorter: an offset of 50,000 keeps 50,000 ids,
            # not 50,000 rows), then read the page's rows by id.
            ids = [
                int(r[0])
                for r in store.execute(
                    conn,
                    f"SELECT d.id {narrow_from}{where} ORDER BY {order} LIMIT ? OFFSET ?",
                    (*where_params, *order_params, query.limit, query.offset),
                ).fetchall()
            ]
            rows = []
            if ids:
                found = store.execute(
                    conn,
                    f"{wide} WHERE d.id IN ({', '.join('?' * len(ids))})",
                    (soon, stale_before, *ids),
                ).fetchall()
                position = {device_id: n for n, device_id in enumerate(ids)}
                rows = sorted(found, key=lambda r: position[int(r[0])])
            total = int(
                store.execute(
                    conn, f"SELECT COUNT(*) {count_from}{where}", where_params
                ).fetchone()[0]
            )
        latest: dict[int, Any] = {}
        if query.include_latest and rows:
            ids = [int(r[0]) for r in rows]
            for start in range(0, len(ids), 200):
                chunk = ids[start : start + 200]
                found = store.execute(
                    conn,
                    f"""SELECT d.id, r.scanned_at, r.received_at,
                               CASE WHEN length(r.report) > ? THEN NULL ELSE r.report END
                        FROM devices d JOIN readings r ON r.id = (
                            SELECT r2.id FROM readings r2 WHERE r2.device_id = d.id
                            AND r2.scanned_at <= ? ORDER BY r2.scanned_at DESC, r2.id DESC LIMIT 1)
                        WHERE d.id IN ({", ".join("?" * len(chunk))})""",
                    (MAX_SHOWN_REPORT_BYTES, newest_allowed(when), *chunk),
                ).fetchall()
                latest.update({int(r[0]): r[1:] for r in found})
        return rows, total, latest

    rows, total, latest = await store.run(work)
    width = len(DEVICE_COLUMNS)
    out = []
    for row in rows:
        item: dict[str, Any] = device_row(row[:width])
        item.update(zip(_SUMMARY_COLUMNS, row[width:-1], strict=True))
        item["urgency"] = summ.URGENCY_NAMES[int(row[-1])]
        if query.include_latest:
            found = latest.get(int(item["id"]))
            report = model.repair_report(bytes(found[2])) if found and found[2] else None
            item["latest"] = (
                dict(
                    device_id=item["id"],
                    scanned_at=found[0],
                    received_at=found[1],
                    report=model.to_builtins(report),
                )
                if found and report is not None
                else None
            )
            if item["summary_updated_at"] is None and report is not None:
                _fill_unrefreshed(item, report, when)
        out.append(item)
    return out, total


def _fill_unrefreshed(item: dict[str, Any], report: model.DeviceReport, now: float) -> None:
    """A device whose summary is not computed yet (just ingested) still shows its status,
    lowest supply and pages from its latest report; its forecast comes with the refresh."""
    s = summ.summarize(report, {}, now)
    item.update(
        problem=s.problem,
        status=s.status,
        lowest_percent=s.lowest_percent,
        lowest_supply=s.lowest_supply,
        total_pages=s.total_pages,
    )
    if s.urgency == summ.ERROR:
        item["urgency"] = summ.URGENCY_NAMES[summ.ERROR]


async def sites(store: Store, limit: int = 1000) -> list[str]:
    """The sites agents belong to, sorted (the fleet page offers them in its site filter)."""

    def work(conn: Any) -> list[str]:
        rows = store.execute(
            conn,
            f"SELECT DISTINCT {SITE_OF_AGENT} FROM agents a WHERE a.role = 'agent' "
            "ORDER BY 1 LIMIT ?",
            (limit,),
        ).fetchall()
        return [str(r[0]) for r in rows]

    return await store.run(work)


async def trouble_by_site(store: Store, now: float) -> dict[str, int]:
    """Per site, its devices that are not "ok" now (an error, a supply running out soon, or not
    seen recently: the urgency classes of the fleet page), in one grouped query."""
    soon = now + summ.SOON_DAYS * 86400
    stale_before = now - summ.UNSEEN_HOURS * 3600

    def work(conn: Any) -> dict[str, int]:
        rows = store.execute(
            conn,
            f"""SELECT {SITE_OF_AGENT}, COUNT(*) {DEVICE_FROM}
                LEFT JOIN device_summary s ON s.device_id = d.id
                WHERE {_CLASS} < 3 GROUP BY {SITE_OF_AGENT}""",
            (soon, stale_before),
        ).fetchall()
        return {str(site): int(n) for site, n in rows if site is not None}

    return await store.run(work)


async def daily_levels(
    store: Store, wanted: Mapping[int, int], since: float, days: int
) -> dict[int, list[float | None]]:
    """Each device's level of one supply per UTC day since ``since`` (the lowest of the day,
    ``None`` for a day without a reading), oldest first: ``wanted`` maps device id -> supply
    index. One indexed range read per device (``supply_readings_device``), bounded by rows, so
    a page of the fleet costs the same at any fleet size."""

    def work(conn: Any) -> dict[int, list[float | None]]:
        out: dict[int, list[float | None]] = {}
        for device_id, index in wanted.items():
            rows = store.execute(
                conn,
                "SELECT scanned_at, percent FROM supply_readings WHERE device_id = ? AND idx = ?"
                " AND scanned_at >= ? AND percent IS NOT NULL ORDER BY scanned_at DESC LIMIT ?",
                (device_id, index, since, MAX_SPARK_ROWS),
            ).fetchall()
            levels: list[float | None] = [None] * days
            for when, percent in rows:
                day = int((float(when) - since) // 86400)
                if 0 <= day < days:
                    old = levels[day]
                    levels[day] = float(percent) if old is None else min(old, float(percent))
            out[device_id] = levels
        return out

    return await store.run(work) if wanted else {}


async def device_forecasts(
    store: Store, device_id: int, now: float | None = None
) -> list[summ.SupplyForecast] | None:
    """The forecast of each consumed supply of the device, computed now; None: no device."""
    when = time.time() if now is None else now
    if not await store.device_exists(device_id):
        return None
    result, _ = await store.run(lambda conn: summarize_device(store, conn, device_id, when))
    return list(result.supplies)


async def stored_forecasts(store: Store, device_id: int) -> list[dict[str, Any]]:
    """The per-supply forecasts of the device's summary as stored at its last refresh."""
    if not is_device_id(device_id):
        return []

    def work(conn: Any) -> Any:
        return store.execute(
            conn, "SELECT forecasts FROM device_summary WHERE device_id = ?", (device_id,)
        ).fetchone()

    row = await store.run(work)
    try:
        value = json.loads(row[0]) if row else []
    except ValueError:
        return []
    return value if isinstance(value, list) else []


def forecast_dict(f: summ.SupplyForecast) -> dict[str, Any]:
    fc: Forecast = f.forecast
    return {
        "index": f.index,
        "description": f.description,
        "kind": f.kind,
        "colour": f.colour,
        "percent": f.percent,
        "days_left": fc.days_left,
        "empties_at": fc.empties_at,
        "rate_per_day": fc.rate_per_day,
        "basis": fc.basis,
    }
