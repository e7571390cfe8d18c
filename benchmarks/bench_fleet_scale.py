"""A fleet of 100,000 printers with a year of history: fleet page latency, meter-read export,
database size, ingest rate, on SQLite and PostgreSQL.

    .venv/bin/python -m benchmarks.bench_fleet_scale [--devices 100000] [--history-devices 20]
        [--database sqlite|postgresql|both] [--requests 20] [--baseline DIR] [--quick]

What is loaded (through ``Store.ingest``, the server's own write path, in batches of 100):

- **the fleet**: ``--devices`` printers, 100 per agent (site), each with one current report
  (identity, 2 page counters, 4 supplies): what the fleet page and ``/api/v1/devices`` list;
- **a year of history** for ``--history-devices`` of them, in the shape the default retention
  leaves (``printerhq serve --keep-raw-days 90``): a reading every 15 minutes for the last 90
  days, one a day (the day's last) for the 275 days before. ``Store.prune`` run on it finds
  nothing to thin (checked). The database size per printer-year is the size this history adds,
  divided by the number of printers.

Then, with a server process on 127.0.0.1 and a viewer token: p50/p95 of ``GET /?limit=50`` (the
fleet page) and ``GET /api/v1/devices?limit=50`` (``limit`` is ignored by servers without
pagination, which answer the whole fleet), the meter-read export ``GET /api/v1/meter-reads``
over the last full month (printed "not available" when the server has no such route), and
store-level ingest (100 agents, batches of 25, into this database). ``--baseline DIR`` measures
the HTTP numbers again with the server code in DIR (a checkout of main) on the same database,
for the ratios; the ingest ratio is to the rates the issue quotes for main.

``--quick``: a small fleet, for the correctness test (tests/test_bench_fleet_scale.py).
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import msgspec
import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_ingest import run_direct
from printerhq import model
from printerhq.server import retention
from printerhq.server.dashboard import COOKIE
from printerhq.server.store import Store
from tests.helpers_server import make_report, new_token

REPO = Path(__file__).resolve().parent.parent
PER_AGENT = 100  # printers per agent (site) and reports per ingest batch while loading
STEP = 15 * 60  # a reading every 15 minutes
DAY = retention.DAY
# The rates the issue quotes for main (batch 25, 100 agents, this machine): reports/s.
INGEST_TODAY = {"sqlite": 1_801, "postgresql": 693}


def printer_report(n: int, t: float, day_index: int = 0) -> model.DeviceReport:
    """Printer ``n``'s report at ``t``: counters grow ~300 pages a day, toner falls 1% a day
    and is swapped at 0."""
    base = make_report(n, serials=10**9, address_base=f"10.{n // 62_500}.{n // 250 % 250}")
    pages = 10_000 + n % 5_000 + int((t - 1.7e9) / DAY * 300)
    toner = 100 - day_index % 100
    supplies = [
        msgspec.structs.replace(
            base.supplies[0],
            index=i + 1,
            colour=colour,
            description=f"{colour.title()} Cartridge",
            level=toner,
            percent=float(toner),
        )
        for i, colour in enumerate(("black", "cyan", "magenta", "yellow"))
    ]
    return msgspec.structs.replace(
        base,
        identity=msgspec.structs.replace(
            base.identity,
            serial=f"FLT{n:08d}",
            mac=f"02:00:{n >> 16 & 255:02x}:{n >> 8 & 255:02x}:{n & 255:02x}:01",
            sys_name=f"printer-{n}",
        ),
        scanned_at=t,
        counters=[
            model.Counter(name="total", value=pages),
            model.Counter(name="mono", value=pages * 2 // 3),
        ],
        supplies=supplies,
    )


async def load_fleet(store: Store, devices: int, now: float, parallel: int = 8) -> float:
    """One current report per printer, 100 printers per agent, ``parallel`` agents uploading at
    once (as the pool allows); returns seconds taken."""
    started = time.perf_counter()
    limit = trio.CapacityLimiter(parallel)

    async def site(a: int) -> None:
        async with limit:
            token = new_token()
            await store.add_agent(f"site-{a // PER_AGENT:05d}", token)
            agent = await store.agent_for_token(token)
            assert agent is not None
            numbers = range(a, min(a + PER_AGENT, devices))
            batch = [printer_report(n, now - 600 + n % 600) for n in numbers]
            await store.ingest(agent, "fleet", batch)

    async with trio.open_nursery() as nursery:
        for a in range(0, devices, PER_AGENT):
            nursery.start_soon(site, a)
    return time.perf_counter() - started


def history_times(now: float, raw_days: int, days: int = 365) -> list[tuple[float, int]]:
    """(scanned_at, day index) of one printer's year as the default retention leaves it."""
    today = retention.day_of(now) * DAY
    out = []
    for d in range(days, 0, -1):
        start = today - d * DAY
        if d > raw_days:
            out.append((start + DAY - STEP, days - d))  # the day's last reading
        else:
            out += [(start + k * STEP, days - d) for k in range(96)]
    return out


async def load_history(store: Store, printers: int, raw_days: int, now: float) -> int:
    token = new_token()
    await store.add_agent("history", token)
    agent = await store.agent_for_token(token)
    assert agent is not None
    times = history_times(now, raw_days)
    stored = 0
    for n in range(printers):
        reports = [printer_report(n, t, day) for t, day in times]
        for start in range(0, len(reports), 500):
            await store.ingest(agent, f"h{n}-{start}", reports[start : start + 500])
        stored += len(reports)
    return stored


async def database_bytes(store: Store, data_dir: Path, database: str | None) -> int:
    if database is None:
        await store.run(lambda c: c.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall())
        return sum(p.stat().st_size for p in data_dir.glob("printerhq.sqlite3*"))

    def size(conn: Any) -> int:
        conn.execute("VACUUM ANALYZE")
        return int(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0])

    return await store.run(size)


def start_server(
    code: Path, data_dir: Path, database: str | None
) -> tuple[subprocess.Popen[bytes], str]:
    ready = data_dir / "ready"
    ready.unlink(missing_ok=True)
    command = [
        sys.executable,
        "-m",
        "printerhq.server",
        "serve",
        "--data-dir",
        str(data_dir),
        "--port",
        "0",
        "--self-signed",
        "--ready-file",
        str(ready),
    ]
    if database:
        command += ["--database", database]
    with open(data_dir / "server.log", "ab") as log:
        proc = subprocess.Popen(command, cwd=code, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError((data_dir / "server.log").read_text()[-2000:])
        time.sleep(0.05)
    return proc, ready.read_text().strip()


def measure_http(url: str, certfile: Path, viewer: str, requests: int, now: float) -> dict:
    out: dict[str, Any] = {}
    headers = {"authorization": f"Bearer {viewer}"}
    with httpx.Client(base_url=url, verify=str(certfile), timeout=600) as client:
        for name, path, extra in (
            ("fleet page", "/?limit=50", {"cookie": f"{COOKIE}={viewer}"}),
            ("devices API", "/api/v1/devices?limit=50", headers),
        ):
            times, size = [], 0
            for _ in range(requests):
                started = time.perf_counter()
                r = client.get(path, headers=extra)
                times.append(time.perf_counter() - started)
                r.raise_for_status()
                size = len(r.content)
            times.sort()
            out[name] = dict(
                p50=statistics.median(times),
                p95=times[min(len(times) - 1, int(0.95 * len(times)))],
                bytes=size,
            )
        month_end = retention.day_of(now) * DAY
        params = {  # the API takes UTC dates, [from, to)
            edge: datetime.datetime.fromtimestamp(t, datetime.UTC).date().isoformat()
            for edge, t in (("from", month_end - 30 * DAY), ("to", month_end))
        }
        started = time.perf_counter()
        r = client.get("/api/v1/meter-reads", params=params, headers=headers)
        elapsed = time.perf_counter() - started
        if r.status_code == 200:
            out["meter reads"] = dict(seconds=elapsed, bytes=len(r.content))
        else:
            out["meter reads"] = dict(unavailable=f"HTTP {r.status_code}")
    return out


async def prepare(args: argparse.Namespace, data_dir: Path, database: str | None) -> dict:
    now = time.time()
    store = await Store.open(data_dir, database)
    try:
        result: dict[str, Any] = {}
        result["fleet_seconds"] = await load_fleet(store, args.devices, now)
        empty = await database_bytes(store, data_dir, database)
        result["history_readings"] = await load_history(
            store, args.history_devices, args.raw_days, now
        )
        with_history = await database_bytes(store, data_dir, database)
        result["fleet_bytes"] = empty
        result["bytes"] = with_history
        result["per_printer_year"] = (with_history - empty) / max(1, args.history_devices)
        dry = await store.prune(args.raw_days, dry_run=True)
        result["prune_would_delete"] = dry.readings
        viewer = new_token()
        await store.add_viewer("bench-viewer", viewer)
        result["viewer"] = viewer
        result["totals"] = await store.totals()
    finally:
        await store.aclose()
    return result


def run_backend(args: argparse.Namespace, backend: str, tmp: Path) -> dict:
    cluster = None
    database = None
    if backend == "postgresql":
        from tests.helpers_pg import PostgresCluster

        cluster = PostgresCluster()
        cluster.start()
        database = cluster.create_database()
    try:
        data_dir = tmp / backend
        data_dir.mkdir()
        result = trio.run(prepare, args, data_dir, database)
        codes = [("branch", REPO)] + ([("baseline", Path(args.baseline))] if args.baseline else [])
        for label, code in codes:
            proc, url = start_server(code, data_dir, database)
            try:
                result[label] = measure_http(
                    url, data_dir / "server-cert.pem", result["viewer"], args.requests, time.time()
                )
            finally:
                proc.terminate()
                proc.wait(timeout=30)
        ingest = trio.run(run_direct, database, args.ingest_agents, 50, 25, tmp, data_dir)
        result["ingest"] = ingest
        return result
    finally:
        if cluster:
            cluster.stop()


def report(backend: str, r: dict, args: argparse.Namespace) -> None:
    mib = 1 << 20
    t = r["totals"]
    print(
        f"{backend}: {t['devices']} devices, {t['readings']} readings "
        f"(fleet loaded in {r['fleet_seconds']:.1f} s; {r['history_readings']} history readings "
        f"for {args.history_devices} printers: 90 days every 15 min + 275 daily)"
    )
    print(
        f"  database {r['bytes'] / mib:.1f} MiB (fleet alone {r['fleet_bytes'] / mib:.1f} MiB); "
        f"per printer-year with the default retention {r['per_printer_year'] / mib:.2f} MiB"
        f" (prune finds {r['prune_would_delete']} readings to thin)"
    )
    for name in ("fleet page", "devices API"):
        m = r["branch"][name]
        line = (
            f"  {name:12} p50 {m['p50'] * 1000:8.1f} ms  p95 {m['p95'] * 1000:8.1f} ms  "
            f"{m['bytes']} B"
        )
        if "baseline" in r:
            b = r["baseline"][name]
            ratio = b["p95"] / m["p95"]
            line += f"  (baseline p95 {b['p95'] * 1000:.1f} ms; baseline/this {ratio:.2f})"
        print(line)
    meter = r["branch"]["meter reads"]
    if "seconds" in meter:
        print(f"  meter reads  {meter['seconds']:.2f} s for one month, {meter['bytes']} B")
    else:
        print(f"  meter reads  not available ({meter['unavailable']})")
    ingest = r["ingest"]
    today = INGEST_TODAY[backend]
    print(
        f"  ingest       {ingest['reports_per_s']:.0f} reports/s (store, 100 agents, batch 25, "
        f"{ingest['stored']} reports; x{ingest['reports_per_s'] / today:.1f} the {today} quoted "
        "for main)"
    )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--history-devices", type=int, default=20)
    parser.add_argument("--raw-days", type=int, default=retention.DEFAULT_KEEP_RAW_DAYS)
    parser.add_argument("--requests", type=int, default=10, help="per route (p95 of these)")
    parser.add_argument("--ingest-agents", type=int, default=100)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--baseline", metavar="DIR", help="server code to compare (main)")
    parser.add_argument("--quick", action="store_true", help="a small fleet, for the test")
    args = parser.parse_args(argv)
    if args.quick:
        args.devices, args.history_devices, args.raw_days = 250, 1, 3
        args.requests, args.ingest_agents = 2, 4
    backends = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            try:
                results[backend] = run_backend(args, backend, Path(tmp))
            except BaseException as exc:  # pytest.skip (no PostgreSQL) is a BaseException
                if type(exc).__name__ != "Skipped":
                    raise
                print(f"{backend}: skipped ({exc})")
                continue
            report(backend, results[backend], args)
    return results


if __name__ == "__main__":
    main()
