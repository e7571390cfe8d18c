"""Collection cost per printer: request/response pairs, SNMP bytes, and CPU, ours vs pysnmp's codec.

    python -m benchmarks.bench_collect [--rounds 20] [--no-realdata]

For every fixture (and every LibreNMS recording when ``../shared/realdata`` is present):

* a **cold** collection (nothing cached) and a **warm** one (the cache from the cold one), each
  through the simulator's sans-IO agent with every request and reply really encoded: requests,
  SNMP payload bytes both ways, and an on-the-wire estimate with IPv4+UDP headers (28 B per
  datagram). The discovery GET that precedes a first collection is shown separately.
* **CPU per printer collected** (cold + warm): the same collection replayed from the recorded
  replies, once with our codec and once with pysnmp's (pyasn1 BER) encoding the requests and
  decoding the replies into the same structures; the planner and decoders are shared, so the
  ratio is the codec's share of a whole collection. Same process, same run, interleaved.
Targets: cold <= 2,000 B and warm <= 800 B on the wire per printer; CPU >= 10x less than pysnmp.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from printerhq.collect import IP_UDP_OVERHEAD, DeviceCache, collect_in_process
from printerhq.mib import DISCOVERY_OIDS, identify
from printerhq.model import Identity
from printerhq.sim.agent import Agent
from printerhq.sim.recording import Recording
from printerhq.snmp.message import (
    Message,
    Pdu,
    PduType,
    Varbind,
    Version,
    decode_message,
    encode_message,
)
from tests.pysnmp_bridge import pysnmp_decode, pysnmp_encode

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
LIBRENMS = ROOT.parent / "shared" / "realdata" / "librenms"
COLD_TARGET, WARM_TARGET, CPU_TARGET = 2000, 800, 10.0  # CPU: issue 15

# --- pysnmp codec path: tests.pysnmp_bridge, the same conversions the differential tests use


def pysnmp_decoder(version: Version) -> Callable[[bytes], Message]:
    return lambda data: pysnmp_decode(data, version)


# --- measurement


def _version(recording: Recording) -> Version:
    return Version.V2C if Version.V2C in recording.versions else Version.V1


def discovery_cost(agent: Agent, version: Version) -> int:
    request = encode_message(
        Message(
            version,
            b"public",
            Pdu(PduType.GET, 0x0100_0000, 0, 0, [Varbind(o) for o in DISCOVERY_OIDS]),
        )
    )
    reply = agent.respond(request) or b""
    return len(request) + len(reply) + 2 * IP_UDP_OVERHEAD


def measure(path: Path, rounds: int) -> dict[str, Any]:
    recording = Recording.load(path, strict=False)
    version = _version(recording)
    agent = Agent(recording)
    identity: Identity = identify("127.0.0.1", [recording.get(o) for o in DISCOVERY_OIDS])
    replies: list[bytes | None] = []

    def tap(data: bytes) -> bytes | None:
        reply = agent.respond(data)
        replies.append(reply)
        return reply

    cache = DeviceCache()
    cold = collect_in_process(identity, tap, cache, version=version, now=0.0)
    warm = collect_in_process(identity, tap, cache, version=version, now=0.0)

    def replay_once(encode, decode) -> float:
        feed = iter(replies)
        started = time.process_time()
        fresh = DeviceCache()
        collect_in_process(
            identity,
            lambda _: next(feed),
            fresh,
            version=version,
            encode=encode,
            decode=decode,
            now=0.0,
        )
        collect_in_process(
            identity,
            lambda _: next(feed),
            fresh,
            version=version,
            encode=encode,
            decode=decode,
            now=0.0,
        )
        return time.process_time() - started

    ours, theirs = [], []
    decode_theirs = pysnmp_decoder(version)
    for _ in range(rounds):  # interleaved, so both paths see the same machine state
        ours.append(replay_once(encode_message, decode_message))
        theirs.append(replay_once(pysnmp_encode, decode_theirs))
    return {
        "name": path.stem,
        "vendor": identity.vendor or "-",
        "printer": identity.is_printer,
        "discovery": discovery_cost(agent, version),
        "cold_req": cold.cost.requests,
        "cold_wire": cold.cost.wire_bytes,
        "cold_payload": cold.cost.sent_bytes + cold.cost.received_bytes,
        "warm_req": warm.cost.requests,
        "warm_wire": warm.cost.wire_bytes,
        "warm_payload": warm.cost.sent_bytes + warm.cost.received_bytes,
        "ours_us": statistics.median(ours) * 1e6,
        "pysnmp_us": statistics.median(theirs) * 1e6,
        "supplies": len(cold.supplies),
        "counters": len(cold.counters),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=20, help="CPU replays per path (median)")
    parser.add_argument("--no-realdata", action="store_true", help="fixtures only")
    args = parser.parse_args(argv)
    paths = sorted(FIXTURES.glob("*.snmprec"))
    if not args.no_realdata and LIBRENMS.is_dir():
        paths += sorted(LIBRENMS.glob("*.snmprec"))
    rows = [measure(p, args.rounds) for p in paths]
    printers = [r for r in rows if r["printer"]]
    header = (
        f"{'recording':32} {'vendor':15} {'disc B':>6} {'cold req':>8} {'cold B':>7} "
        f"{'warm req':>8} {'warm B':>7} {'ours µs':>8} {'pysnmp µs':>9} {'ratio':>6}"
    )
    print("Per printer: wire bytes include IPv4+UDP headers (28 B/datagram), both directions.")
    print("CPU = one cold + one warm collection replayed, median of", args.rounds, "rounds.")
    print(header)
    print("-" * len(header))
    for r in rows:
        ratio = r["pysnmp_us"] / r["ours_us"] if r["ours_us"] else float("nan")
        flag = "" if r["printer"] else "  (not a printer)"
        print(
            f"{r['name'][:32]:32} {r['vendor'][:15]:15} {r['discovery']:>6} {r['cold_req']:>8} "
            f"{r['cold_wire']:>7} {r['warm_req']:>8} {r['warm_wire']:>7} {r['ours_us']:>8.0f} "
            f"{r['pysnmp_us']:>9.0f} {ratio:>6.1f}{flag}"
        )
    if printers:

        def med(key: str) -> float:
            return statistics.median(r[key] for r in printers)

        total_ours = sum(r["ours_us"] for r in printers)
        total_theirs = sum(r["pysnmp_us"] for r in printers)

        def p90(key: str) -> float:
            return statistics.quantiles([r[key] for r in printers], n=10, method="inclusive")[-1]

        cold_ok = sum(r["cold_wire"] <= COLD_TARGET for r in printers)
        warm_ok = sum(r["warm_wire"] <= WARM_TARGET for r in printers)
        print("-" * len(header))
        print(
            f"printers: {len(printers)}; median cold {med('cold_wire'):.0f} B in "
            f"{med('cold_req'):.0f} requests, median warm {med('warm_wire'):.0f} B in "
            f"{med('warm_req'):.0f} requests"
        )
        for kind in ("cold", "warm"):
            wire = [r[f"{kind}_wire"] for r in printers]
            print(
                f"{kind}: median {med(f'{kind}_wire'):.0f} B, p90 {p90(f'{kind}_wire'):.0f} B, "
                f"max {max(wire)} B, total {sum(wire)} B; requests median "
                f"{med(f'{kind}_req'):.0f}, max {max(r[f'{kind}_req'] for r in printers)}"
            )
        print(
            f"cold <= {COLD_TARGET} B: {cold_ok}/{len(printers)} printers; "
            f"warm <= {WARM_TARGET} B: {warm_ok}/{len(printers)} printers"
        )
        print(
            f"CPU per printer (cold+warm): ours {total_ours / len(printers):.0f} µs, pysnmp codec "
            f"{total_theirs / len(printers):.0f} µs, ratio {total_theirs / total_ours:.1f}x "
            f"(target >= {CPU_TARGET:.0f}x)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
