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

``run_streams`` and ``run_amplification`` are what ``tests/test_ingest_load.py`` calls (it
asserts correctness, never timings).
"""

from __future__ import annotations

import argparse
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

from printerhq import model, wire
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--batches", type=int, default=4, help="batches per stream")
    parser.add_argument("--reports", type=int, default=5, help="reports per batch")
    parser.add_argument("--amplify", type=int, default=40, help="7 MiB uploads (0: skip)")
    parser.add_argument(
        "--server-code", metavar="DIR", help="run the server from this source tree instead"
    )
    args = parser.parse_args()
    os.nice(0)
    return trio.run(main_async, args)


if __name__ == "__main__":
    sys.exit(main())
