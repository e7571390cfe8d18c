"""Benchmark: SnmpClient requests per second at 1 and at 10,000 requests in flight.

    python -m benchmarks.bench_client [--server sim|responder|both] [--requests N]

The agent runs in a separate process (so the client's number is not shared with the agent's
CPU time on one thread): the printerhq simulator serving fixtures/ when it is importable, and
a minimal responder on our own codec either way. Every request is a GET of sysDescr.0 with
community "public" on 127.0.0.1. "in flight" is the number of concurrent request tasks, each
issuing GETs back to back, so the client holds that many outstanding at all times.

Printed per row: requests completed, wall time, requests/s, retries, timeouts, and replies
dropped as mismatched. Retries mean the agent (not the client) dropped requests: its socket
buffer overflowed.
"""

from __future__ import annotations

import argparse
import gc
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import trio

from printerhq.snmp.client import Community, SnmpClient, SnmpTimeout, Target

ROOT = Path(__file__).resolve().parent.parent
SYS_DESCR = (1, 3, 6, 1, 2, 1, 1, 1, 0)


# -- agents (run in a child process) ------------------------------------------------------


def serve_responder() -> None:
    """The cheapest agent possible, so the client is what is measured: a blocking socket and
    one pre-encoded Response whose request-id is patched (message.RequestTemplate)."""
    from printerhq.snmp.ber import SnmpDecodeError, Tag
    from printerhq.snmp.message import Message, Pdu, PduType, RequestTemplate, Varbind, Version
    from printerhq.snmp.transport import peek_request_id

    reply = RequestTemplate(
        Message(
            Version.V2C,
            b"public",
            Pdu(
                PduType.RESPONSE,
                0,
                0,
                0,
                [Varbind(SYS_DESCR, Tag.OCTET_STRING, b"Benchmark printer")],
            ),
        )
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    _grow(sock)
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    while True:
        data, peer = sock.recvfrom(65535)
        try:
            sock.sendto(reply.render(peek_request_id(data)), peer)
        except (SnmpDecodeError, ValueError):
            continue


async def serve_sim() -> None:
    from printerhq.sim.server import serve_fleet

    recordings = sorted((ROOT / "fixtures").glob("*.snmprec"))[:1]
    if not recordings:
        raise SystemExit("no fixtures/*.snmprec for the simulator")
    async with serve_fleet(recordings, ["127.0.0.1"], port=0) as fleet:
        print(fleet.port, flush=True)
        await trio.sleep_forever()


def _grow(sock: socket.socket) -> None:
    for option in (getattr(socket, "SO_RCVBUFFORCE", 33), socket.SO_RCVBUF):  # 33: Linux
        if option is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, option, 16 * 1024 * 1024)
                return
            except OSError:
                continue


def simulator_available() -> bool:
    try:
        import printerhq.sim.server  # noqa: F401
    except ImportError:
        return False
    return any((ROOT / "fixtures").glob("*.snmprec"))


class Agent:
    """A child process running one of the agents above on a free loopback port."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.bench_client", "--serve", kind],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            env=dict(os.environ),
        )
        line = self.process.stdout.readline() if self.process.stdout else ""
        if not line.strip().isdigit():
            self.close()
            raise RuntimeError(f"{kind} agent did not start")
        self.port = int(line)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


# -- the client side ----------------------------------------------------------------------


async def measure(port: int, in_flight: int, total: int) -> dict[str, float]:
    target = Target("127.0.0.1", port, credentials=[Community(b"public")])
    failures = 0
    per_task = max(1, total // in_flight)
    async with SnmpClient(timeout=10.0, retries=3, max_in_flight=in_flight) as client:
        await client.get(target, [SYS_DESCR])  # settle the credential, open the socket

        async def worker() -> None:
            nonlocal failures
            for _ in range(per_task):
                try:
                    await client.get(target, [SYS_DESCR])
                except SnmpTimeout:
                    failures += 1

        stats_before = (client.stats.retries, client.stats.mismatched_replies)
        started = time.perf_counter()
        with trio.move_on_after(600):
            async with trio.open_nursery() as nursery:
                for _ in range(in_flight):
                    nursery.start_soon(worker)
        elapsed = time.perf_counter() - started
        done = per_task * in_flight - failures
        return {
            "in_flight": in_flight,
            "requests": done,
            "seconds": elapsed,
            "per_second": done / elapsed,
            "retries": client.stats.retries - stats_before[0],
            "timeouts": failures,
            "mismatched": client.stats.mismatched_replies - stats_before[1],
        }


# Python's cyclic GC is what slows 10,000 in flight most: every gen-0 collection that
# escalates walks all live tasks and frames. An application (not this library) may raise the
# thresholds; the "gc" column shows the default and a tuned setting side by side.
TUNED_GC = (50_000, 20, 100)


async def run(servers: list[str], total_many: int, total_one: int) -> None:
    print(
        f"{'agent':<10} {'gc':<8} {'in flight':>9} {'requests':>9} {'seconds':>8} "
        f"{'req/s':>9} {'retries':>8} {'timeouts':>8} {'mismatch':>8}"
    )
    default_gc = gc.get_threshold()
    plan = [
        ("default", default_gc, 1, total_one),
        ("default", default_gc, 10_000, total_many),
        ("tuned", TUNED_GC, 10_000, total_many),
    ]
    for kind in servers:
        agent = Agent(kind)
        try:
            for label, threshold, in_flight, total in plan:
                gc.set_threshold(*threshold)
                gc.collect()
                try:
                    row = await measure(agent.port, in_flight, total)
                finally:
                    gc.set_threshold(*default_gc)
                print(
                    f"{kind:<10} {label:<8} {row['in_flight']:>9,} {row['requests']:>9,} "
                    f"{row['seconds']:>8.2f} {row['per_second']:>9,.0f} "
                    f"{row['retries']:>8,} {row['timeouts']:>8,} {row['mismatched']:>8,}",
                    flush=True,
                )
        finally:
            agent.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", choices=("sim", "responder", "both"), default="both")
    parser.add_argument(
        "--requests", type=int, default=50_000, help="requests at 10,000 in flight (default 50,000)"
    )
    parser.add_argument(
        "--requests-one", type=int, default=3_000, help="requests at 1 in flight (default 3,000)"
    )
    parser.add_argument("--serve", choices=("sim", "responder"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        try:
            if args.serve == "sim":
                trio.run(serve_sim)
            else:
                serve_responder()
        except KeyboardInterrupt:
            pass
        return 0
    servers = ["sim", "responder"] if args.server == "both" else [args.server]
    if "sim" in servers and not simulator_available():
        print("printerhq.sim or fixtures/*.snmprec not available: skipping the simulator")
        servers.remove("sim")
    trio.run(run, servers, args.requests, args.requests_one)
    return 0


if __name__ == "__main__":
    sys.exit(main())
