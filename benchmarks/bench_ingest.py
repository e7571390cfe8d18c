"""Ingest throughput: N concurrent agents (default 100) upload to one server on loopback.

    /work/venv/bin/python benchmarks/bench_ingest.py [--agents 100] [--reports 50] [--batch 25]
                                                     [--database sqlite|postgresql|both]

The server runs as a separate process (``python -m printerhq.server serve``, TLS 1.3); the agents
are ``Uplink`` objects in this process, each with its own spool, pre-filled before the clock
starts. Reported: reports/s from the first connection to the last acknowledgement. On a small
machine the agents' side (TLS, compression, 100 spools) competes with the server for CPU, so
this is a lower bound for the server alone.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from printerhq import model
from printerhq.server.store import Store
from printerhq.uplink import TlsOptions, Uplink
from printerhq.uplink.spool import Spool
from tests.helpers_server import ServerProcess, make_report, new_token


async def run_one(database: str | None, agents: int, reports: int, batch: int, tmp: Path) -> dict:
    server = ServerProcess(tmp / "server", database=database)
    await trio.to_thread.run_sync(server.start)
    try:
        store = await Store.open(tmp / "server", database)
        tokens = {}
        for a in range(agents):
            tokens[f"agent-{a}"] = new_token()
            await store.add_agent(f"agent-{a}", tokens[f"agent-{a}"])
        await store.aclose()
        for a, name in enumerate(tokens):  # spool everything before the clock starts
            spool = Spool(tmp / "spools" / name)
            for i in range(reports):
                spool.add(
                    model.encode(
                        make_report(a * 100_000 + i, address_base=f"10.{a // 250}.{a % 250}")
                    )
                )
            spool.close()
        done = []

        async def agent(name: str):
            async with Uplink(
                server.url,
                tokens[name],
                tmp / "spools" / name,
                agent=name,
                batch_reports=batch,
                tls=TlsOptions(ca_bundle=str(server.certfile)),
                backoff_initial=0.1,
            ) as up:
                ok = await up.flush(600)
                done.append(ok)

        started = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for name in tokens:
                nursery.start_soon(agent, name)
        elapsed = time.perf_counter() - started
        store = await Store.open(tmp / "server", database)
        stored = (await store.totals())["readings"]
        await store.aclose()
        return dict(
            stored=stored,
            expected=agents * reports,
            all_flushed=all(done),
            seconds=elapsed,
            reports_per_s=stored / elapsed,
        )
    finally:
        await trio.to_thread.run_sync(server.stop)


def main() -> None:
    parser = argparse.ArgumentParser(description="ingest throughput with concurrent agents")
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--reports", type=int, default=50, help="reports per agent")
    parser.add_argument("--batch", type=int, default=25, help="reports per batch")
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    for backend in backends:
        cluster = None
        with tempfile.TemporaryDirectory() as tmp:
            url = None
            if backend == "postgresql":
                from tests.helpers_pg import PostgresCluster

                try:
                    cluster = PostgresCluster()
                except BaseException as exc:  # pytest.skip raises a BaseException subclass
                    print(f"postgresql: skipped ({exc})")
                    continue
                cluster.start()
                url = cluster.create_database()
            try:
                r = trio.run(run_one, url, args.agents, args.reports, args.batch, Path(tmp))
            finally:
                if cluster:
                    cluster.stop()
        print(
            f"{backend:10} agents={args.agents} reports={r['stored']}/{r['expected']} "
            f"batch={args.batch} "
            f"flushed={r['all_flushed']} {r['seconds']:.2f}s  {r['reports_per_s']:.0f} reports/s"
        )


if __name__ == "__main__":
    main()
