"""The fleet page and list at scale (issue 14 item 5, issue 16 item 2).

    .venv/bin/python -m benchmarks.bench_fleet_page [--devices 100000] [--repeat 30]
                                                    [--database postgresql://...]
                                                    [--history-devices 200]

1. **Load.** ``--devices`` devices in bulk (SQL ``executemany``, not the ingest path: this
   measures reading), over 100 agents in 20 sites, each with one reading (its report, as the
   page shows its alerts) and a summary row: 1 % with an error, 4 % running out, 3 % not seen
   for two days, the rest fine with forecasts spread over a year.
2. **Pages.** The fleet page as the dashboard renders it (``fleet_page.render``: the query, the
   count, the page's latest reports, the HTML), ``--repeat`` times for each view: the default
   (trouble first, 100 rows), a deep page (offset 50,000), a search by serial, the "runs out"
   status filter, sorted by lowest supply, 500 rows. Reported: p50, p95, bytes. The page before
   this change read ``store.fleet(10_000)``: that query alone is timed too, for the ratio.
3. **Refresh.** ``--history-devices`` devices with 90 days of hourly readings of 4 supplies
   (8,640 supply rows each) through ``store.ingest``, then their summaries refreshed:
   milliseconds per device.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec
import trio

from printerhq import model
from printerhq.server import fleet_page, fleet_queries
from printerhq.server.store import Store, device_key

DAY = 86400.0


def _report(i: int, now: float, errors: list[str]) -> model.DeviceReport:
    return model.DeviceReport(
        identity=model.Identity(
            address=f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}",
            is_printer=True,
            vendor=("HP", "Ricoh", "Brother", "Kyocera")[i % 4],
            model=f"Model {i % 37}",
            serial=f"SN{i:08d}",
            sys_name=f"printer-{i}",
        ),
        scanned_at=now - 600,
        counters=[model.Counter(name="total", value=10_000 + i)],
        supplies=[
            model.Supply(index=1, description="Black toner", kind="toner", percent=50.0),
        ],
        status=model.Status(device="running", printer="idle", errors=errors),
    )


def _loader(store: Store, devices: int, now: float) -> Any:
    """The bulk load, as a function for ``store.run``."""
    rng = random.Random(14)

    def work(conn: Any) -> None:
        x = store.execute
        with store.dialect.transaction(conn):
            for a in range(100):
                x(
                    conn,
                    "INSERT INTO agents(name, token_hash, created_at, role, site) "
                    "VALUES (?, ?, ?, 'agent', ?)",
                    (f"agent-{a}", f"hash-{a}", now, f"site-{a % 20}"),
                )
            agent_ids = [int(r[0]) for r in x(conn, "SELECT id FROM agents ORDER BY id").fetchall()]
        for start in range(0, devices, 5000):
            rows, readings, summaries = [], [], []
            for i in range(start, min(devices, start + 5000)):
                kind = rng.random()
                unseen = 0.03 <= kind < 0.06
                seen = now - (2 * DAY if unseen else 600)
                errors = ["jammed"] if kind < 0.01 else []
                report = _report(i, now, errors)
                rows.append(
                    (
                        f"serial:x:{i}",
                        report.identity.address,
                        report.identity.vendor,
                        report.identity.model,
                        report.identity.serial,
                        report.identity.sys_name,
                        seen - 30 * DAY,
                        seen,
                        agent_ids[i % 100],
                    )
                )
                readings.append((i + 1, agent_ids[i % 100], seen, now, model.encode(report)))
                runs_out = (
                    now
                    + (rng.uniform(0, 14) if 0.01 <= kind < 0.05 else rng.uniform(15, 365)) * DAY
                )
                summaries.append(
                    (
                        i + 1,
                        0 if errors else (1 if runs_out < now + 14 * DAY else 3),
                        "paper jam" if errors else "",
                        "paper jam" if errors else "idle",
                        rng.uniform(0, 100),
                        "Black toner",
                        runs_out,
                        "Black toner",
                        10_000 + i,
                        "[]",
                        seen,
                        now,
                    )
                )
            with store.dialect.transaction(conn):
                conn.cursor().executemany(
                    store.dialect.sql(
                        "INSERT INTO devices(device_key, address, vendor, model, serial, sys_name,"
                        " first_seen, last_seen, last_agent_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    ),
                    rows,
                )
                conn.cursor().executemany(
                    store.dialect.sql(
                        "INSERT INTO readings(device_id, agent_id, batch_id, scanned_at, "
                        "received_at, report) VALUES (?, ?, 'bulk', ?, ?, ?)"
                    ),
                    readings,
                )
                conn.cursor().executemany(
                    store.dialect.sql(
                        "INSERT INTO device_summary(device_id, urgency, problem, status, "
                        "lowest_percent, lowest_supply, runs_out_at, runs_out_supply, "
                        "total_pages, forecasts, seen, updated_at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    ),
                    summaries,
                )
        x(conn, "ANALYZE")

    return work


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def _pages(
    store: Store, repeat: int, now: float
) -> list[tuple[str, float, float, float, int]]:
    views = {
        "default (trouble first, 100)": {},
        "deep page (offset 50,000)": {"offset": "50000"},
        "search serial": {"q": "SN00031337"},
        "status runs out": {"status": "runs_out"},
        "sort lowest supply": {"sort": "lowest"},
        "site filter": {"site": "site-7"},
        "500 rows": {"limit": "500"},
    }
    out = []
    for name, params in views.items():
        times, cpu, size = [], [], 0
        for _ in range(repeat):
            start, start_cpu = time.perf_counter(), time.process_time()
            response = await fleet_page.render(store, params, now=now, logged_in=True)
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)  # this process only: the machine is shared
            size = len(response.body)
            assert response.status_code == 200
        out.append(
            (name, statistics.median(times), _percentile(times, 95), _percentile(cpu, 95), size)
        )
    return out


async def _old_query(store: Store, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(max(3, repeat // 5)):
        start = time.perf_counter()
        await store.fleet(10_000)
        times.append(time.perf_counter() - start)
    return statistics.median(times), _percentile(times, 95)


async def _refresh_cost(store: Store, devices: int, now: float) -> tuple[float, float]:
    await store.add_agent("history", "history-token-" + "h" * 20)
    agent = await store.agent_for_token("history-token-" + "h" * 20)
    assert agent is not None
    hours = 90 * 24
    for d in range(devices):
        reports = []
        for h in range(hours):
            base = _report(10_000_000 + d, now, [])
            level = max(0.0, 100.0 - (h / 24) * 0.8)
            supplies = [
                model.Supply(index=s, description=f"Toner {s}", kind="toner", percent=level)
                for s in range(1, 5)
            ]
            reports.append(
                msgspec.structs.replace(
                    base, scanned_at=now - (hours - h) * 3600.0, supplies=supplies
                )
            )
        await store.ingest(agent, f"history-{d}", reports)
    keys = [device_key(_report(10_000_000 + d, now, []).identity) for d in range(devices)]
    ids = await fleet_queries.ids_for_keys(store, keys)
    start = time.perf_counter()
    await fleet_queries.refresh(store, ids, now)
    first = (time.perf_counter() - start) / max(1, len(ids)) * 1000
    # One more reading of each device, as the next agent cycle brings: the refresh that follows.
    for d in range(devices):
        base = _report(10_000_000 + d, now, [])
        supplies = [
            model.Supply(index=s, description=f"Toner {s}", kind="toner", percent=20.0)
            for s in range(1, 5)
        ]
        await store.ingest(
            agent, f"next-{d}", [msgspec.structs.replace(base, scanned_at=now, supplies=supplies)]
        )
    start = time.perf_counter()
    await fleet_queries.refresh(store, ids, now + 1)
    return first, (time.perf_counter() - start) / max(1, len(ids)) * 1000


async def main(args: argparse.Namespace) -> None:
    now = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.open(Path(tmp), args.database)
        try:
            start = time.perf_counter()
            await store.run(_loader(store, args.devices, now))
            print(f"loaded {args.devices:,} devices in {time.perf_counter() - start:.1f} s")
            print(f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
            for name, p50, p95, cpu95, size in await _pages(store, args.repeat, now):
                print(
                    f"  {name:30} p50 {p50 * 1000:6.1f} ms  p95 {p95 * 1000:7.1f} ms  "
                    f"CPU p95 {cpu95 * 1000:6.1f} ms  {size:,} B"
                )
            p50, p95 = await _old_query(store, args.repeat)
            print(
                f"  before: store.fleet(10,000) query  p50 {p50 * 1000:7.1f} ms  "
                f"p95 {p95 * 1000:7.1f} ms"
            )
            if args.history_devices:
                first, then = await _refresh_cost(store, args.history_devices, now)
                print(
                    f"  refresh per device (90 days hourly, 4 supplies, {args.history_devices} "
                    f"devices): first {first:.1f} ms (whole history), next {then:.2f} ms"
                )
        finally:
            await store.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--database", default=None)
    parser.add_argument("--history-devices", type=int, default=20)
    trio.run(main, parser.parse_args())
