"""Benchmark: SNMPv3 authPriv (SHA-256 + AES-128) beside SNMPv2c, same agent, same run.

    python -m benchmarks.bench_v3 [--requests N] [--in-flight 1,16]

The agent is a real net-snmp ``snmpd`` on 127.0.0.1 (started here, as in the interop tests),
so both versions pay the same agent. Each request is a GET of sysDescr.0 through
:class:`SnmpClient`. Per row: requests/s, our CPU per request (process time, all of this
process's threads) and snmpd's CPU per request (from /proc). A second table isolates the
sans-IO cost: encode one request plus decode one real response, in a loop, no I/O.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from printerhq.snmp.client import SnmpClient, Target  # noqa: E402
from printerhq.snmp.credentials import Community  # noqa: E402
from printerhq.snmp.message import Pdu, PduType, Varbind  # noqa: E402
from printerhq.snmp.usm import AuthProtocol, PrivProtocol, UsmSession  # noqa: E402
from printerhq.snmp.v3credential import UsmCredential  # noqa: E402
from tests.helpers_snmpv3 import COMMUNITY, make_user, start_snmpd  # noqa: E402

SYS_DESCR = (1, 3, 6, 1, 2, 1, 1, 1, 0)
CASES = [
    ("v2c", lambda: Community(COMMUNITY)),
    (
        "v3 noAuthNoPriv",
        lambda: UsmCredential(make_user(AuthProtocol.NONE, PrivProtocol.NONE, name="u_none_none")),
    ),
    (
        "v3 authNoPriv SHA-256",
        lambda: UsmCredential(make_user(AuthProtocol.SHA256, PrivProtocol.NONE)),
    ),
    (
        "v3 authPriv SHA-256+AES",
        lambda: UsmCredential(make_user(AuthProtocol.SHA256, PrivProtocol.AES)),
    ),
]


def agent_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_case(
    port: int, pid: int, make_credential, requests: int, in_flight: int
) -> tuple[float, float, float, int]:
    target = Target("127.0.0.1", port, credentials=[make_credential()])
    async with SnmpClient(timeout=2.0, retries=2) as client:
        await client.get(target, [SYS_DESCR])  # discovery (v3) and warm-up, not timed
        per_task = requests // in_flight
        cpu0, wall0, agent0 = time.process_time(), time.perf_counter(), agent_cpu_seconds(pid)

        async def worker() -> None:
            for _ in range(per_task):
                await client.get(target, [SYS_DESCR])

        async with trio.open_nursery() as nursery:
            for _ in range(in_flight):
                nursery.start_soon(worker)
        done = per_task * in_flight
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        agent = agent_cpu_seconds(pid) - agent0
        return done / wall, cpu / done * 1e6, agent / done * 1e6, client.stats.retries


def sans_io_cost(port: int, loops: int) -> list[tuple[str, float]]:
    """µs to encode one GET and decode one captured real response, per version."""
    results = []
    pdu = Pdu(PduType.GET, 0x800001, varbinds=[Varbind(SYS_DESCR)])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        sock.connect(("127.0.0.1", port))
        community = Community(COMMUNITY)
        sock.send(community.encode(pdu))
        reply = sock.recv(65535)
        start = time.process_time()
        for _ in range(loops):
            community.encode(pdu)
            community.decode(reply)
        results.append(("v2c", (time.process_time() - start) / loops * 1e6))
        session = UsmSession(make_user(AuthProtocol.SHA256, PrivProtocol.AES))
        sock.send(session.discovery_request(0x800002))
        session.handle_discovery(sock.recv(65535))
        sock.send(session.encode_request(pdu))
        reply = sock.recv(65535)
        start = time.process_time()
        for _ in range(loops):
            session.encode_request(pdu)
            session.decode_response(reply)
        results.append(("v3 authPriv SHA-256+AES", (time.process_time() - start) / loops * 1e6))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--in-flight", default="1,16")
    parser.add_argument("--loops", type=int, default=5000)
    args = parser.parse_args()
    server = start_snmpd(Path(tempfile.mkdtemp(prefix="bench-v3-")))
    try:
        print(f"snmpd on 127.0.0.1:{server.port}; {args.requests} GETs of sysDescr.0 per row")
        print(
            f"{'case':<26}{'in flight':>10}{'req/s':>10}{'our CPU µs/req':>16}"
            f"{'snmpd CPU µs/req':>18}{'retries':>9}"
        )
        for in_flight in (int(n) for n in args.in_flight.split(",")):
            for name, make_credential in CASES:
                rate, cpu, agent, retries = trio.run(
                    run_case,
                    server.port,
                    server.process.pid,
                    make_credential,
                    args.requests,
                    in_flight,
                )
                print(
                    f"{name:<26}{in_flight:>10}{rate:>10.0f}{cpu:>16.1f}{agent:>18.1f}{retries:>9}"
                )
        print(f"\nsans-IO only: encode one GET + decode one real response ({args.loops} loops)")
        for name, micros in sans_io_cost(server.port, args.loops):
            print(f"{name:<26}{micros:>10.1f} µs")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
