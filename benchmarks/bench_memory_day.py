"""A day of hourly discovery scans of one /16 through the discovery memory: what each costs.

    python -m benchmarks.bench_memory_day [--scans 24] [--responders 655] [--json]

The figure users will meet: an agent re-sweeps its range on a schedule (``discovery_interval``),
and the discovery memory (``printerhq.adaptive.DiscoveryMemory``) decides which addresses each
sweep probes. Scan 2 right after scan 1 skips every blank block (their backoff has just begun),
so "a repeat scan costs 1.4% of the first" was true of scan 2 only; from scan 3 the blocks come
due again, staggered. This benchmark runs the memory's own decisions (``should_probe``,
``record``, ``end_scan``, the code the engine calls) for ``--scans`` scans an hour apart on a
simulated clock, with ``--responders`` addresses of the /16 answering (1% by default, spread
evenly), and counts the addresses each scan probes. A probe of a blank address costs the same
bytes whichever scan sends it, so the ratio of probes is the ratio of discovery bytes (known
printers are collected warm in either case and are left out of both sides).

No network and no clock: sans-IO, a few seconds of CPU.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import statistics
from typing import Any

from printerhq.adaptive import DiscoveryMemory

NETWORK = ipaddress.IPv4Network("10.250.0.0/16")
HOUR = 3600.0


def measure(scans: int = 24, responders: int = 655) -> dict[str, Any]:
    addresses = [int(a) for a in NETWORK]
    step = max(1, len(addresses) // max(1, responders))
    alive = set(addresses[::step][:responders])
    memory = DiscoveryMemory()
    probed: list[int] = []
    start = 1_800_000_000.0
    for scan in range(scans):
        now = start + scan * HOUR
        memory.begin_scan(now)
        count = 0
        for address in addresses:
            if not memory.should_probe(address, now):
                continue
            count += 1
            memory.record(address, "printer" if address in alive else None, now)
        memory.end_scan(complete=True)
        probed.append(count)
    blank_probes = [p - len(alive) for p in probed]
    ratios = [b / blank_probes[0] for b in blank_probes]
    return {
        "network": str(NETWORK),
        "responders": len(alive),
        "scans": scans,
        "interval_hours": 1,
        "probes": probed,
        "blank_probes": blank_probes,
        "ratio_to_first": [round(r, 3) for r in ratios],
        "mean_ratio_scans_2_on": round(statistics.mean(ratios[1:]), 3),
        # the responders counted too (each is probed, or collected warm, every scan)
        "mean_total_ratio_scans_2_on": round(statistics.mean(p / probed[0] for p in probed[1:]), 3),
    }


def render(result: dict[str, Any]) -> str:
    ratios = result["ratio_to_first"]
    lines = [
        f"{result['scans']} hourly scans of {result['network']}, {result['responders']} "
        "responders: blank addresses probed per scan, as a share of scan 1",
        "  " + " ".join(f"{r:.2f}" for r in ratios),
        f"scan 2: {ratios[1]:.3f}; scans 3 and 4: {ratios[2]:.2f} and {ratios[3]:.2f}; "
        f"mean over scans 2-{result['scans']}: {result['mean_ratio_scans_2_on']:.3f} "
        f"({result['mean_total_ratio_scans_2_on']:.3f} counting the responders' probes)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scans", type=int, default=24)
    parser.add_argument("--responders", type=int, default=655)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not (2 <= args.scans <= 1000 and 0 <= args.responders <= 60_000):
        parser.error("scans 2..1000, responders 0..60000")
    result = measure(args.scans, args.responders)
    print(json.dumps(result, indent=2) if args.json else render(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
