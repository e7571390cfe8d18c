"""Server under load: many concurrent agent streams, and uploads built to amplify (issue 11).

    .venv/bin/python -m benchmarks.bench_streams [--streams 500] [--batches 4] [--reports 5]
                                                 [--amplify 40]

The server runs as its own process (``python -m printerhq.server serve``, TLS 1.3, SQLite);
this process plays the agents over loopback with plain WebSocket clients (no spools, so the
clients cost little next to the server):

1. **Streams.** ``--streams`` agents, each with its own token, open their stream at once (all
   are open before the first batch goes out), then each sends ``--batches`` batches of
   ``--reports`` reports one after the other, waiting for each acknowledgement, and finally
   re-sends its first batch (a retry after a lost ack). Measured: acknowledgement latency
   (send to ack) percentiles, /healthz latency polled meanwhile, the server's peak RSS
   (``VmHWM``). Checked: every ack ok, every first send stored, every re-send a duplicate, and
   the database holds each report exactly once.
2. **Amplification.** ``--amplify`` HTTPS uploads at once, each a report with a 7 MiB sysDescr
   (a few KB compressed; main stored each as a 7 MiB row). Measured: time until all are
   answered, /healthz latency meanwhile, the server's RSS, the time of the dashboard's fleet page
   afterwards. Checked: every one refused by the bound, nothing stored.

3. **Idle streams** (``--idle N``, issue 14): N agents open their stream (with the control
   subprotocol, as the agent does) and then only ping (``--ping-every`` seconds) for ``--hold``
   seconds. Measured: the server's RSS before and with every stream open, its peak (``VmHWM``),
   the memory per stream, its open descriptors, /healthz meanwhile. Checked: every stream
   opened and still answers a ping at the end. Both processes raise their open-file limit to
   the hard limit first (each stream is a descriptor on either side).

``run_streams``, ``run_amplification`` and ``run_idle`` are what ``tests/test_ingest_load.py``
calls (it asserts correctness, never timings).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx
import msgspec
import trio
import trio_websocket

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from printerhq import control, model, wire
from printerhq.server.store import Store
from tests import helpers_server
from tests.helpers_server import ServerProcess, make_report, new_token

HUGE_TEXT = "A" * (7 << 20)


@dataclass
class Outcome:
    latencies: list[float] = field(default_factory=list)  # seconds, send -> ack
    health: list[float] = field(default_factory=list)  # seconds per /healthz
    problems: list[str] = field(default_factory=list)
    acked: int = 0
    duplicates: int = 0
    refused: int = 0
    seconds: float = 0.0


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def server_rss_kib(server: ServerProcess) -> tuple[int, int]:
    """(current RSS, peak RSS) of the server process in KiB, from /proc (Linux)."""
    assert server.proc is not None
    fields = {}
    for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.split()[0] if value.split() else "0"
    return int(fields.get("VmRSS", 0)), int(fields.get("VmHWM", 0))


def server_cpu_seconds(server: ServerProcess) -> float:
    """User + system CPU time the server process has used (Linux /proc; clock ticks)."""
    assert server.proc is not None
    fields = Path(f"/proc/{server.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def register_agents(server: ServerProcess, count: int) -> dict[str, str]:
    store = await Store.open(server.data_dir)
    try:
        tokens = {f"load-{n}": new_token() for n in range(count)}
        for name, token in tokens.items():
            await store.add_agent(name, token)
        return tokens
    finally:
        await store.aclose()


# The poller runs in its own process, so that what it measures is the server, not this
# process's event loop (busy with hundreds of clients).
_POLLER = """
import ssl, sys, time, http.client
host, port, cafile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
context = ssl.create_default_context(cafile=cafile)
deadline = time.monotonic() + float(sys.argv[4])
while time.monotonic() < deadline:
    started = time.perf_counter()
    connection = http.client.HTTPSConnection(host, port, context=context, timeout=120)
    connection.request("GET", "/healthz")
    status = connection.getresponse().status
    connection.close()
    print(status, time.perf_counter() - started, flush=True)
    time.sleep(0.2)
"""


async def poll_health(
    server: ServerProcess, outcome: Outcome, stop: trio.Event, limit: float = 900
) -> None:
    """Poll /healthz from a separate process every 0.2 s until ``stop``; record latencies."""
    host, port = server.url.removeprefix("https://").rsplit(":", 1)
    async with trio.open_nursery() as nursery:
        process = await nursery.start(
            partial(
                trio.run_process,
                [sys.executable, "-c", _POLLER, host, port, str(server.certfile), str(limit)],
                stdout=subprocess.PIPE,
                check=False,  # ended by terminate() below
            )
        )
        assert process.stdout is not None
        buffer = b""

        async def read() -> None:
            nonlocal buffer
            async for chunk in process.stdout:
                buffer += chunk

        nursery.start_soon(read)
        await stop.wait()
        process.terminate()
    for line in buffer.decode().splitlines():
        status, seconds = line.split()
        outcome.health.append(float(seconds))
        if status != "200":
            outcome.problems.append(f"/healthz answered {status}")


async def run_streams(
    server: ServerProcess,
    tokens: dict[str, str],
    *,
    batches: int = 4,
    reports: int = 5,
    connect_limit: int = 64,
    timeout: float = 600,
) -> Outcome:
    """Every agent opens a stream, all wait until all are open, then send and check acks."""
    context = ssl.create_default_context(cafile=str(server.certfile))
    ws_url = server.url.replace("https://", "wss://") + "/api/v1/stream"
    outcome = Outcome()
    all_open = trio.Event()
    opened = [0]
    connecting = trio.CapacityLimiter(connect_limit)  # handshakes at once, not streams open
    names = list(tokens)

    def batch_of(agent_index: int, n: int) -> tuple[str, bytes]:
        batch_id = f"b{agent_index}-{n}"
        first = (agent_index * batches + n) * reports
        encoded = [
            model.encode(
                make_report(first + i, address_base=f"10.{agent_index // 250}.{agent_index % 250}")
            )
            for i in range(reports)
        ]
        return batch_id, wire.encode(wire.raw_batch(batch_id, names[agent_index], encoded))

    async def agent(index: int) -> None:
        name = names[index]
        headers = [(b"authorization", f"Bearer {tokens[name]}".encode())]
        async with connecting:
            ws_manager = trio_websocket.open_websocket_url(ws_url, context, extra_headers=headers)
            ws = await ws_manager.__aenter__()
        try:
            opened[0] += 1
            if opened[0] == len(names):
                all_open.set()
            await all_open.wait()
            deflate = wire.StreamCompressor()
            sent = [batch_of(index, n) for n in range(batches)]
            for batch_id, data in [*sent, sent[0]]:  # the last: a retry after a lost ack
                started = time.perf_counter()
                await ws.send_message(deflate.compress(data))
                ack = wire.decode_ack(await ws.get_message())
                outcome.latencies.append(time.perf_counter() - started)
                if ack.batch_id != batch_id or not ack.ok or ack.refused:
                    outcome.problems.append(f"{name} {batch_id}: {ack}")
                elif ack.duplicate:
                    outcome.duplicates += 1
                else:
                    outcome.acked += 1
        finally:
            await ws_manager.__aexit__(None, None, None)

    stop = trio.Event()
    with trio.fail_after(timeout):
        async with trio.open_nursery() as outer:
            outer.start_soon(poll_health, server, outcome, stop)
            await trio.sleep(0.5)  # the poller's first answers: the server at rest
            started = time.perf_counter()
            async with trio.open_nursery() as nursery:
                for index in range(len(names)):
                    nursery.start_soon(agent, index)
            stop.set()
    outcome.seconds = time.perf_counter() - started
    return outcome


@dataclass
class IdleOutcome:
    opened: int = 0
    answered: int = 0  # streams that answered the last ping after the hold
    pings: int = 0
    health: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    rss_before_kib: int = 0
    rss_open_kib: int = 0
    peak_kib: int = 0
    descriptors: int = 0
    open_seconds: float = 0.0


def raise_open_file_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit (each stream is a descriptor); the new soft."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def run_idle(
    server: ServerProcess,
    tokens: dict[str, str],
    *,
    hold: float = 30,
    ping_every: float = 10,
    connect_limit: int = 64,
    timeout: float = 900,
) -> IdleOutcome:
    """Every agent opens its stream, then only pings until ``hold`` seconds after the last one
    opened; then each pings once more (must be answered) and closes."""
    context = ssl.create_default_context(cafile=str(server.certfile))
    ws_url = server.url.replace("https://", "wss://") + "/api/v1/stream"
    outcome = IdleOutcome()
    all_open = trio.Event()
    release = trio.Event()
    connecting = trio.CapacityLimiter(connect_limit)
    names = list(tokens)
    outcome.rss_before_kib = server_rss_kib(server)[0]

    async def agent(name: str) -> None:
        headers = [(b"authorization", f"Bearer {tokens[name]}".encode())]
        try:
            async with connecting:
                manager = trio_websocket.open_websocket_url(
                    ws_url, context, subprotocols=[control.SUBPROTOCOL], extra_headers=headers
                )
                ws = await manager.__aenter__()
        except (OSError, trio_websocket.HandshakeError) as exc:
            outcome.problems.append(f"{name}: {type(exc).__name__}: {exc}")
            return
        try:
            outcome.opened += 1
            if outcome.opened == len(names):
                all_open.set()
            async with trio.open_nursery() as nursery:

                async def drain() -> None:  # a control message would otherwise block pongs
                    with contextlib.suppress(trio_websocket.ConnectionClosed):
                        while True:
                            await ws.get_message()

                nursery.start_soon(drain)
                with trio.move_on_after(hold + timeout):
                    while not release.is_set():
                        with trio.move_on_after(ping_every):
                            await release.wait()
                        if not release.is_set():
                            await ws.ping()
                            outcome.pings += 1
                with trio.move_on_after(120):
                    await ws.ping()
                    outcome.answered += 1
                nursery.cancel_scope.cancel()
        except trio_websocket.ConnectionClosed as exc:
            outcome.problems.append(f"{name}: closed by the server: {exc}")
        finally:
            await manager.__aexit__(None, None, None)

    stop = trio.Event()
    with trio.fail_after(timeout + hold + 300):
        async with trio.open_nursery() as outer:
            outer.start_soon(poll_health, server, outcome, stop)  # type: ignore[arg-type]
            await trio.sleep(0.5)
            started = time.perf_counter()
            async with trio.open_nursery() as nursery:
                for name in names:
                    nursery.start_soon(agent, name)
                with trio.move_on_after(timeout):
                    await all_open.wait()
                outcome.open_seconds = time.perf_counter() - started
                await trio.sleep(hold)
                outcome.rss_open_kib, outcome.peak_kib = server_rss_kib(server)
                assert server.proc is not None
                outcome.descriptors = len(os.listdir(f"/proc/{server.proc.pid}/fd"))
                release.set()
            stop.set()
    return outcome


async def stored_exactly_once(server: ServerProcess, expected: int) -> list[str]:
    """Problems with what the database holds after ``run_streams`` (empty: all well)."""
    store = await Store.open(server.data_dir)
    try:
        readings = await store.all_readings()
    finally:
        await store.aclose()
    keys = [
        (agent, model.decode_device_report(data).counters[0].value) for agent, _, data in readings
    ]
    problems = []
    if len(keys) != expected:
        problems.append(f"{len(keys)} readings stored, {expected} expected")
    if len(set(keys)) != len(keys):
        problems.append(f"{len(keys) - len(set(keys))} readings stored twice")
    return problems


async def run_amplification(server: ServerProcess, token: str, uploads: int) -> Outcome:
    """``uploads`` HTTPS uploads at once, each one report with a 7 MiB sysDescr."""
    context = ssl.create_default_context(cafile=str(server.certfile))

    def report(n: int) -> model.DeviceReport:
        # A device of its own each (as on main, where each became a device whose latest report,
        # read by every fleet page, held the 7 MiB string).
        base = make_report(n)
        identity = msgspec.structs.replace(base.identity, serial=f"AMP{n:05d}", sys_descr=HUGE_TEXT)
        return msgspec.structs.replace(base, identity=identity)

    outcome = Outcome()
    # Compressed before the clock starts (zlib of 7 MiB costs this process ~30 ms each).
    body_of = {
        n: wire.compress_body(
            wire.encode(wire.raw_batch(f"amp-{n:04d}", "", [model.encode(report(n))]))
        )
        for n in range(uploads)
    }

    async def upload(client: httpx.AsyncClient, n: int) -> None:
        body = body_of[n]
        response = await client.post(
            server.url + "/api/v1/ingest",
            content=body,
            headers={"authorization": f"Bearer {token}", "content-encoding": "deflate"},
        )
        if response.status_code != 200:
            outcome.problems.append(f"upload {n}: {response.status_code}")
            return
        ack = wire.decode_ack(response.content)
        outcome.refused += len(ack.refused)

    stop = trio.Event()
    async with httpx.AsyncClient(
        verify=context, timeout=600, limits=httpx.Limits(max_connections=uploads)
    ) as client:
        async with trio.open_nursery() as outer:
            outer.start_soon(poll_health, server, outcome, stop)
            await trio.sleep(0.5)
            started = time.perf_counter()
            async with trio.open_nursery() as nursery:
                for n in range(uploads):
                    nursery.start_soon(upload, client, n)
            stop.set()
    outcome.seconds = time.perf_counter() - started
    return outcome


async def fleet_page_seconds(server: ServerProcess) -> float:
    store = await Store.open(server.data_dir)
    try:
        viewer = new_token()
        await store.add_viewer(f"bench-{viewer[:6]}", viewer)
    finally:
        await store.aclose()
    context = ssl.create_default_context(cafile=str(server.certfile))
    async with httpx.AsyncClient(verify=context, timeout=600) as client:
        started = time.perf_counter()
        response = await client.get(
            server.url + "/", headers={"cookie": f"__Host-printerhq={viewer}"}
        )
        if response.status_code != 200:
            raise RuntimeError(f"fleet page answered {response.status_code}")
        return time.perf_counter() - started


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


async def main_async(args: argparse.Namespace) -> int:
    if args.server_code:
        # Another source tree's server (e.g. an export of main, for before/after figures):
        # ServerProcess starts ``python -m printerhq.server`` in that directory.
        helpers_server.REPO = Path(args.server_code).resolve()
    with tempfile.TemporaryDirectory(prefix="phq-ingest-bench-") as tmp:
        server = ServerProcess(Path(tmp) / "server")
        await trio.to_thread.run_sync(server.start)
        try:
            if args.idle:
                return await idle_main(server, args)
            tokens = await register_agents(server, args.streams)
            _, peak_before = server_rss_kib(server)
            cpu_before = server_cpu_seconds(server)
            streams = await run_streams(server, tokens, batches=args.batches, reports=args.reports)
            cpu_streams = server_cpu_seconds(server) - cpu_before
            expected = args.streams * args.batches * args.reports
            problems = streams.problems + await stored_exactly_once(server, expected)
            rss, peak = server_rss_kib(server)
            print(
                f"streams: {args.streams} open at once, {args.batches} batches x "
                f"{args.reports} reports each + 1 re-send; {streams.seconds:.1f} s\n"
                f"  acks: {streams.acked} stored, {streams.duplicates} duplicates, "
                f"{len(problems)} problems\n"
                f"  ack latency p50 {_ms(percentile(streams.latencies, 50))}, "
                f"p95 {_ms(percentile(streams.latencies, 95))}, "
                f"p99 {_ms(percentile(streams.latencies, 99))}, "
                f"max {_ms(max(streams.latencies, default=0))}\n"
                f"  /healthz meanwhile: {len(streams.health)} polls, "
                f"p50 {_ms(percentile(streams.health, 50))}, "
                f"max {_ms(max(streams.health, default=0))}\n"
                f"  server RSS {rss / 1024:.0f} MiB now, peak {peak / 1024:.0f} MiB "
                f"(before the streams {peak_before / 1024:.0f} MiB); server CPU "
                f"{cpu_streams:.1f} s; load average {os.getloadavg()[0]:.1f}"
            )
            for problem in problems[:10]:
                print("  PROBLEM:", problem)
            if args.amplify:
                cpu_before = server_cpu_seconds(server)
                amp = await run_amplification(server, next(iter(tokens.values())), args.amplify)
                cpu_amp = server_cpu_seconds(server) - cpu_before
                rss, peak_amp = server_rss_kib(server)
                page = await fleet_page_seconds(server)
                print(
                    f"amplification: {args.amplify} uploads of a 7 MiB sysDescr at once: "
                    f"{amp.refused} refused, answered in {amp.seconds:.1f} s "
                    f"(server CPU {cpu_amp:.1f} s)\n"
                    f"  /healthz meanwhile: {len(amp.health)} polls, "
                    f"max {_ms(max(amp.health, default=0))}\n"
                    f"  server RSS {rss / 1024:.0f} MiB now, peak {peak_amp / 1024:.0f} MiB; "
                    f"dashboard fleet page afterwards: {_ms(page)}"
                )
                problems += amp.problems
                if amp.refused != args.amplify:
                    problems.append(f"{amp.refused} of {args.amplify} amplified uploads refused")
            return 1 if problems else 0
        finally:
            await trio.to_thread.run_sync(server.stop)


async def idle_main(server: ServerProcess, args: argparse.Namespace) -> int:
    tokens = await register_agents(server, args.idle)
    out = await run_idle(
        server, tokens, hold=args.hold, ping_every=args.ping_every, timeout=args.idle_timeout
    )
    grown = max(0, out.rss_open_kib - out.rss_before_kib)
    print(
        f"idle streams: {out.opened}/{args.idle} open in {out.open_seconds:.1f} s, held "
        f"{args.hold:.0f} s pinging every {args.ping_every:.0f} s ({out.pings} pings); "
        f"{out.answered} answered the last ping\n"
        f"  server RSS {out.rss_before_kib / 1024:.0f} MiB before, "
        f"{out.rss_open_kib / 1024:.0f} MiB with every stream open, peak (VmHWM) "
        f"{out.peak_kib / 1024:.0f} MiB; {grown / max(1, out.opened):.1f} KiB per stream; "
        f"{out.descriptors} descriptors open\n"
        f"  /healthz meanwhile: {len(out.health)} polls, p50 {_ms(percentile(out.health, 50))}, "
        f"max {_ms(max(out.health, default=0))}; load average {os.getloadavg()[0]:.1f}"
    )
    for problem in out.problems[:10]:
        print("  PROBLEM:", problem)
    return 1 if out.problems or out.answered != args.idle else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--batches", type=int, default=4, help="batches per stream")
    parser.add_argument("--reports", type=int, default=5, help="reports per batch")
    parser.add_argument("--amplify", type=int, default=40, help="7 MiB uploads (0: skip)")
    parser.add_argument(
        "--server-code", metavar="DIR", help="run the server from this source tree instead"
    )
    parser.add_argument(
        "--idle", type=int, default=0, metavar="N", help="instead: N streams that only ping"
    )
    parser.add_argument("--hold", type=float, default=30, help="idle: seconds all are open")
    parser.add_argument(
        "--ping-every", type=float, default=25, help="idle: seconds per ping (the agent's 25)"
    )
    parser.add_argument(
        "--idle-timeout", type=float, default=1800, help="idle: bound on opening them all"
    )
    args = parser.parse_args()
    args.idle = min(args.idle, 20_000)  # bounded: loopback, one machine
    raise_open_file_limit()
    os.nice(0)
    return trio.run(main_async, args)


if __name__ == "__main__":
    sys.exit(main())
