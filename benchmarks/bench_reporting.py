"""Reporting at fleet scale: ``/metrics`` (scrape time and size) and the meter reads of a month
(API and CSV export time and size), on a server on loopback holding N devices.

    .venv/bin/python benchmarks/bench_reporting.py [--devices 10000] [--readings 10]
                                                   [--database sqlite|postgresql URL]

Devices (10 sites, 5 counters and 4 supplies each) get ``--readings`` readings spread over the 40
days before the period's end, stored through the store's ingest path in batches of 500. The
server runs in this process (plain HTTP on 127.0.0.1); each request is timed three times and the
median reported, with the body size.
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from printerhq import model
from printerhq.server.run import run_server
from tests.helpers_server import new_token

SITES = 10
DAY = 86400.0


def device_report(n: int, t: float, k: int) -> model.DeviceReport:
    used = 200 * k + n % 97
    return model.DeviceReport(
        identity=model.Identity(
            address=f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}",
            is_printer=True,
            vendor="HP",
            model="Color LaserJet M480",
            serial=f"BENCH{n:07d}",
        ),
        scanned_at=t,
        counters=[
            model.Counter(name="total", value=10_000 + used),
            model.Counter(name="mono", value=8_000 + used // 2),
            model.Counter(name="colour", value=2_000 + used // 2),
            model.Counter(name="copy", value=1_000 + used // 4),
            model.Counter(name="scan", value=500 + used // 8),
        ],
        supplies=[
            model.Supply(
                index=i,
                description=f"{c} toner",
                kind="toner",
                colour=c,
                percent=float(max(0, 100 - k * 3 - i)),
            )
            for i, c in enumerate(("black", "cyan", "magenta", "yellow"), 1)
        ],
        status=model.Status(device="running", printer="idle"),
    )


async def timed(client: httpx.AsyncClient, path: str, params: dict) -> tuple[float, float, int]:
    """Median wall time and CPU time (this process: server and client) of three requests, and
    the body size. CPU time is what to compare on a shared machine: wall time there depends on
    the other jobs."""
    walls, cpus, size = [], [], 0
    for _ in range(3):
        start, cpu = time.perf_counter(), time.process_time()
        r = await client.get(path, params=params)
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
        r.raise_for_status()
        size = len(r.content)
    return statistics.median(walls), statistics.median(cpus), size


async def main(devices: int, readings: int, database: str | None) -> None:
    end_day = datetime.datetime.now(datetime.UTC).date().replace(day=1)
    start_day = (end_day - datetime.timedelta(days=1)).replace(day=1)
    end = datetime.datetime.combine(end_day, datetime.time(), datetime.UTC).timestamp()
    with tempfile.TemporaryDirectory() as tmp:
        async with run_server(Path(tmp), insecure_http=True, database=database) as srv:
            viewer = new_token()
            await srv.store.add_viewer("bench", viewer)
            agents = []
            for s in range(SITES):
                token = new_token()
                await srv.store.add_agent(f"agent-{s}", token, site=f"site-{s}")
                agents.append(await srv.store.agent_for_token(token))
            loading = time.perf_counter()
            batches: list[list[model.DeviceReport]] = [[] for _ in range(SITES)]
            count = 0
            for k in range(readings):
                t = end - 40 * DAY + k * (40 * DAY / readings)
                for n in range(devices):
                    batch = batches[n % SITES]  # a device stays with its site's agent
                    batch.append(device_report(n, t + n % 3600, k))
                    if len(batch) == 500 or (k == readings - 1 and n >= devices - SITES):
                        await srv.store.ingest(agents[n % SITES], f"b{count}", batch)
                        count += 1
                        batch.clear()
            load_s = time.perf_counter() - loading
            print(f"loaded {devices} devices x {readings} readings in {load_s:.0f} s")
            headers = {"authorization": f"Bearer {viewer}"}
            period = {"from": start_day.isoformat(), "to": end_day.isoformat()}
            async with httpx.AsyncClient(base_url=srv.url, headers=headers, timeout=600) as c:
                cookie = {"cookie": f"__Host-printerhq={viewer}"}
                for name, path, params, extra in (
                    ("/metrics (whole fleet)", "/metrics", {}, {}),
                    ("/metrics?site= (one site)", "/metrics", {"site": "site-0"}, {}),
                    ("/metrics?fleet=0", "/metrics", {"fleet": "0"}, {}),
                    ("/api/v1/meter-reads (a month)", "/api/v1/meter-reads", period, {}),
                    ("/meter-reads.csv (a month)", "/meter-reads.csv", period, cookie),
                ):
                    c.headers.update(extra)
                    wall, cpu, size = await timed(c, path, params)
                    print(
                        f"{name:32} {wall * 1000:9.0f} ms wall {cpu * 1000:9.0f} ms CPU "
                        f"{size / 1e6:9.2f} MB"
                    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--readings", type=int, default=10)
    parser.add_argument("--database", default=None, help="a postgresql:// URL (default SQLite)")
    args = parser.parse_args()
    if not 0 < args.devices <= 200_000 or not 0 < args.readings <= 400:
        parser.error("--devices 1..200000, --readings 1..400")
    trio.run(main, args.devices, args.readings, args.database)
