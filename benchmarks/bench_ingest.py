"""Ingest throughput: N concurrent agents (default 100) upload to one server on loopback.

    .venv/bin/python benchmarks/bench_ingest.py [--agents 100] [--reports 50] [--batch 25]
                                                [--database sqlite|postgresql|both] [--direct]
                                                [--rounds 3] [--baseline DIR]

The server runs as a separate process (``python -m printerhq.server serve``, TLS 1.3); the agents
are ``Uplink`` objects in this process, each with its own spool, pre-filled before the clock
starts. Reported: reports/s from the first connection to the last acknowledgement. On a small
machine the agents' side (TLS, compression, 100 spools) competes with the server for CPU, so
this is a lower bound for the server alone. Beside the rate, the CPU seconds each side spent in
the clock window: the server process (``/proc/PID/stat``, all its threads) and this process (the
load generator: 100 TLS clients, their spools, compression), so a reader sees which side the
two cores went to.

``--client stream`` replaces the ``Uplink`` agents by a lean load generator: per agent one TLS
connection and WebSocket on ``/api/v1/stream`` (the agent's token, the real handshake), the
agent's batches (plain ``batch`` messages of ``model.encode``d reports, the agent's own zlib
stream) encoded and compressed before the clock starts, at most ``WINDOW`` unacknowledged as the
uplink does, every acknowledgement read and checked. The server does exactly what it does for
an agent; this process no longer pays for spools, delta encoding and compression, so the rate
is closer to what the server alone sustains when its agents run on other machines.

``--rounds N`` runs N times and prints the median. ``--baseline DIR`` (a plain copy of another
commit, e.g. ``git archive main | tar -x -C DIR``) alternates rounds between DIR's server and this
checkout's, same load generator, same reports: the before/after of a server change in one run on
a shared machine.

``--direct`` measures the store alone: ``Store.ingest`` called by N concurrent tasks in this
process (no HTTP, TLS, compression or spool), the same reports and batches.
"""

from __future__ import annotations

import argparse
import os
import ssl
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import httpx
import msgspec
import trio
import trio_websocket

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from printerhq import model, wire
from printerhq.server.store import Store
from printerhq.uplink import TlsOptions, Uplink
from printerhq.uplink.spool import Spool
from tests.helpers_server import RECENT, ServerProcess, make_report, new_token


def agent_report(a: int, i: int) -> model.DeviceReport:
    """Report ``i`` of agent ``a``: 13 printers of the agent's own (serial and MAC carry the
    agent's number, as on a real fleet where sites do not share printers), timestamps within
    the server's clock window (a scan every minute over the last month)."""
    report = make_report(i, address_base=f"10.{a // 250}.{a % 250}", t0=RECENT + a)
    serial = f"A{a:04d}{report.identity.serial}"
    mac = f"02:{a >> 8 & 0xFF:02x}:{a & 0xFF:02x}:00:00:{i % 13:02x}"
    return msgspec.structs.replace(
        report, identity=msgspec.structs.replace(report.identity, serial=serial, mac=mac)
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU of process ``pid`` so far (all threads), from ``/proc``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(root: int) -> float:
    """CPU of process ``root``, of its live children, and of its children that exited (the
    PostgreSQL postmaster and its backends)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        pid, ppid = int(entry.name), int(fields[1])
        if pid == root:
            total += sum(int(f) for f in fields[11:15]) / tick  # with its reaped children
        elif ppid == root:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


class CodeServer(ServerProcess):
    """A server process that runs the code of ``repo`` (another commit's copy)."""

    def __init__(self, data_dir: Path, database: str | None, repo: Path | None):
        super().__init__(data_dir, database=database)
        if repo is not None:
            self.cwd = repo  # ``python -m`` imports from its working directory first


async def watch(servers: list[ServerProcess]) -> None:
    """Fail at once when a server process exits (not after the agents' retries time out)."""
    while True:
        for server in servers:
            if server.proc is not None and server.proc.poll() is not None:
                raise RuntimeError(f"server exited: {server.log_path.read_text()[-2000:]}")
        await trio.sleep(0.5)


async def run_one(
    database: str | None,
    agents: int,
    reports: int,
    batch: int,
    tmp: Path,
    instances: int = 1,
    repo: Path | None = None,
    client: str = "uplink",
    database_pid: int | None = None,
) -> dict:
    """Agents split over ``instances`` server processes (2+: one PostgreSQL, nothing else
    shared, as behind a load balancer); agent ``a`` talks to instance ``a % instances``.
    ``repo``: run the server from that copy of the code (``--baseline``)."""
    servers = [
        CodeServer(tmp / ("server" if k == 0 else f"server{k}"), database, repo)
        for k in range(instances)
    ]
    for server in servers:
        await trio.to_thread.run_sync(server.start)
    try:
        store = await Store.open(tmp / "server", database)
        tokens = {}
        for a in range(agents):
            tokens[f"agent-{a}"] = new_token()
            await store.add_agent(f"agent-{a}", tokens[f"agent-{a}"])
        await store.aclose()
        frames = {}
        for a, name in enumerate(tokens):  # spool (or encode) everything before the clock starts
            if client == "stream":
                frames[name] = prepared_frames(a, name, reports, batch)
                continue
            spool = Spool(tmp / "spools" / name)
            for i in range(reports):
                spool.add(model.encode(agent_report(a, i)))
            spool.close()
        done: list[bool] = []

        async def agent(name: str, server: ServerProcess):
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

        pids = [s.proc.pid for s in servers if s.proc is not None]
        server_cpu = sum(cpu_seconds(pid) for pid in pids)
        database_cpu = tree_cpu_seconds(database_pid) if database_pid else 0.0
        client_cpu = time.process_time()
        started = time.perf_counter()
        async with trio.open_nursery() as outer:
            outer.start_soon(watch, servers)
            async with trio.open_nursery() as nursery:
                for a, name in enumerate(tokens):
                    if client == "stream":
                        server = servers[a % instances]
                        nursery.start_soon(stream_agent, server, tokens[name], frames[name], done)
                    else:
                        nursery.start_soon(agent, name, servers[a % instances])
            outer.cancel_scope.cancel()
        elapsed = time.perf_counter() - started
        server_cpu = sum(cpu_seconds(pid) for pid in pids) - server_cpu
        client_cpu = time.process_time() - client_cpu
        if database_pid:
            database_cpu = tree_cpu_seconds(database_pid) - database_cpu
        store = await Store.open(tmp / "server", database)
        try:
            stored = (await store.totals())["readings"]
            readings = await store.all_readings()
            unique = {(a, bytes(r)) for a, _, r in readings}
            refused = None
            if instances > 1:
                # Revoked on one instance (its store), refused at once by every instance.
                await store.revoke_agent("agent-0")
                refused = [await refused_upload(s, tokens["agent-0"]) for s in servers]
        finally:
            await store.aclose()
        return dict(
            stored=stored,
            expected=agents * reports,
            stored_once=len(unique) == len(readings),
            refused_after_revoke=refused,
            all_flushed=len(done) == agents and all(done),
            seconds=elapsed,
            reports_per_s=stored / elapsed,
            server_cpu=server_cpu,
            client_cpu=client_cpu,
            database_cpu=database_cpu if database_pid else None,
        )
    finally:
        for server in servers:
            await trio.to_thread.run_sync(server.stop)


WINDOW = 8  # the uplink's default window (unacknowledged batches per stream)


def prepared_frames(a: int, name: str, reports: int, batch: int) -> list[tuple[str, bytes]]:
    """Agent ``a``'s batches as its stream sends them: ``(batch id, compressed frame)``."""
    compressor = wire.StreamCompressor()
    frames = []
    for n, start in enumerate(range(0, reports, batch)):
        batch_id = f"{name}-{n}"
        encoded = [
            model.encode(agent_report(a, i)) for i in range(start, min(start + batch, reports))
        ]
        message = wire.encode(wire.raw_batch(batch_id, name, encoded))
        frames.append((batch_id, compressor.compress(message)))
    return frames


async def stream_agent(
    server: ServerProcess, token: str, frames: list[tuple[str, bytes]], done: list[bool]
) -> None:
    """Send ``frames`` over one WebSocket, ``WINDOW`` in flight; every ack must name its batch."""
    context = ssl.create_default_context(cafile=str(server.certfile))
    async with trio_websocket.open_websocket_url(
        server.url.replace("https://", "wss://") + "/api/v1/stream",
        ssl_context=context,
        extra_headers=[(b"authorization", f"Bearer {token}".encode())],
    ) as ws:
        slots = trio.Semaphore(WINDOW)
        waiting = [batch_id for batch_id, _ in frames]

        async def acks() -> None:
            for expected in waiting:
                ack = wire.decode_ack(await ws.get_message())
                if not ack.ok or ack.batch_id != expected or ack.refused:
                    raise RuntimeError(f"batch {expected}: {ack}")
                slots.release()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(acks)
            for _, frame in frames:
                await slots.acquire()
                await ws.send_message(frame)
    done.append(True)


async def refused_upload(server: ServerProcess, token: str) -> bool:
    """True when ``server`` refuses an upload with ``token`` (401)."""
    report = model.encode(agent_report(0, 0))
    body = wire.encode(wire.raw_batch("after-revoke", "agent-0", [report]))
    async with httpx.AsyncClient(verify=str(server.certfile), timeout=60) as client:
        response = await client.post(
            server.url + "/api/v1/ingest",
            content=body,
            headers={"authorization": f"Bearer {token}"},
        )
    return response.status_code == 401


async def run_direct(
    database: str | None,
    agents: int,
    reports: int,
    batch: int,
    tmp: Path,
    data_dir: Path | None = None,
):
    """Store-level ingest into ``data_dir`` (default ``tmp/server``), which may hold data."""
    store = await Store.open(data_dir or tmp / "server", database)
    try:
        already = (await store.totals())["readings"]
        holders = []
        for a in range(agents):
            token = new_token()
            await store.add_agent(f"agent-{a}", token)
            holder = await store.agent_for_token(token)
            assert holder is not None
            holders.append(holder)
        batches = [
            [
                [agent_report(a, i) for i in range(start, min(start + batch, reports))]
                for start in range(0, reports, batch)
            ]
            for a in range(agents)
        ]

        async def agent(a: int) -> None:
            for n, reports_ in enumerate(batches[a]):
                await store.ingest(holders[a], f"batch-{n}", reports_)

        started = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for a in range(agents):
                nursery.start_soon(agent, a)
        elapsed = time.perf_counter() - started
        stored = (await store.totals())["readings"] - already
        return dict(
            stored=stored,
            expected=agents * reports,
            all_flushed=True,
            seconds=elapsed,
            reports_per_s=stored / elapsed,
        )
    finally:
        await store.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description="ingest throughput with concurrent agents")
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--reports", type=int, default=50, help="reports per agent")
    parser.add_argument("--batch", type=int, default=25, help="reports per batch")
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument(
        "--direct", action="store_true", help="the store alone: Store.ingest, no HTTP/TLS"
    )
    parser.add_argument(
        "--instances",
        type=int,
        default=1,
        help="server processes sharing one PostgreSQL, agents split between them",
    )
    parser.add_argument(
        "--client",
        choices=["uplink", "stream"],
        default="uplink",
        help="uplink: real agents (spools, deltas); stream: pre-encoded batches on a WebSocket",
    )
    parser.add_argument("--rounds", type=int, default=1, help="runs; the median is printed")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="a copy of another commit's tree: its server alternates rounds with this one's",
    )
    args = parser.parse_args()
    if args.instances > 1 and (args.direct or args.database != "postgresql"):
        parser.error("--instances 2+ needs --database postgresql (and not --direct)")
    run = (
        run_direct
        if args.direct
        else partial(run_one, instances=args.instances, client=args.client)
    )
    backends = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    codes: list[tuple[str, Path | None]] = [("this", None)]
    if args.baseline:
        if args.direct:
            parser.error("--baseline compares servers: not with --direct")
        codes.insert(0, ("baseline", args.baseline.resolve()))
    for backend in backends:
        results: dict[str, list[dict]] = {label: [] for label, _ in codes}
        for _ in range(args.rounds):
            for label, repo in codes:  # alternate: the machine's other load hits both alike
                r = measure(run, backend, args, repo)
                if r is None:
                    break
                results[label].append(r)
                report_line(backend, args, label if args.baseline else "", r)
        medians = {}
        for label, rs in results.items():
            if len(rs) > 1:
                r = sorted(rs, key=lambda r: r["reports_per_s"])[len(rs) // 2]
                medians[label] = r["reports_per_s"]
                report_line(backend, args, f"{label} median of {len(rs)}".strip(), r)
        if len(medians) == 2:
            print(f"  {backend}: this / baseline = {medians['this'] / medians['baseline']:.2f}")


def measure(run, backend: str, args, repo: Path | None) -> dict | None:
    cluster = None
    with tempfile.TemporaryDirectory() as tmp:
        url = None
        if backend == "postgresql":
            from tests.helpers_pg import PostgresCluster

            try:
                cluster = PostgresCluster()
            except BaseException as exc:  # pytest.skip raises a BaseException subclass
                print(f"postgresql: skipped ({exc})")
                return None
            cluster.start()
            url = cluster.create_database()
        try:
            extra: dict[str, object] = {} if args.direct else {"repo": repo}
            if cluster and not args.direct:
                pid_file = Path(cluster.data) / "postmaster.pid"
                extra["database_pid"] = int(pid_file.read_text().split()[0])
            return trio.run(
                partial(run, **extra), url, args.agents, args.reports, args.batch, Path(tmp)
            )
        finally:
            if cluster:
                cluster.stop()


def report_line(backend: str, args, label: str, r: dict) -> None:
    cpu = ""
    if "server_cpu" in r:
        per = 1000 / max(r["stored"], 1)
        cpu = (
            f"  CPU s: server {r['server_cpu']:.2f} ({r['server_cpu'] * per * 1000:.0f} ms/1000 "
            f"reports), load generator {r['client_cpu']:.2f}"
        )
        if r.get("database_cpu") is not None:
            cpu += f", PostgreSQL {r['database_cpu']:.2f}"
    print(
        f"{backend:10} {'store' if args.direct else args.client} {label + ' ' if label else ''}"
        f"agents={args.agents} reports={r['stored']}/{r['expected']} batch={args.batch} "
        f"flushed={r['all_flushed']} {r['seconds']:.2f}s  {r['reports_per_s']:.0f} reports/s" + cpu,
        flush=True,
    )
    if args.instances > 1:
        print(
            f"  {args.instances} instances on one PostgreSQL: every report stored once: "
            f"{r['stored_once'] and r['stored'] == r['expected']}; a token revoked on one "
            f"refused (401) by each: {r['refused_after_revoke']}"
        )


if __name__ == "__main__":
    main()
