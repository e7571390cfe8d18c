"""Runs the Scanner inside the lab's agent namespace (``python -m tests.helpers_lab_engine``) and
prints one JSON line: the reports, the scan statistics and the interface counters around it.

Used by tests/test_lab_engine.py through ``Lab.in_agent``; never run it outside a namespace.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import msgspec
import trio


def _counters(ifname: str) -> dict[str, int]:
    base = Path("/sys/class/net") / ifname / "statistics"
    return {
        name: int((base / name).read_text())
        for name in ("tx_packets", "tx_bytes", "rx_packets", "rx_bytes")
    }


def main(argv: list[str] | None = None) -> int:
    from printerhq.engine import Scanner, ScanOptions
    from printerhq.snmp.credentials import Community
    from printerhq.targets import parse_targets

    parser = argparse.ArgumentParser()
    parser.add_argument("targets")
    parser.add_argument("--interface", required=True)
    parser.add_argument("--arp", choices=("on", "off"), default="on")
    parser.add_argument("--icmp", choices=("on", "off"), default="on")
    parser.add_argument("--http", choices=("on", "off"), default="on")
    parser.add_argument("--timeout", type=float, default=0.5)
    parser.add_argument("--retries", type=int, default=1)
    parser.add_argument("--state-dir")
    parser.add_argument("--scans", type=int, default=1)
    args = parser.parse_args(argv)

    options = ScanOptions(
        credentials=[Community(b"public")],
        timeout=args.timeout,
        retries=args.retries,
        collect=False,
        rate=2000,
        arp=args.arp == "on",
        icmp=args.icmp == "on",
        http=args.http == "on",
        http_timeout=2.0,
        state_dir=args.state_dir,
    )

    async def run() -> list[dict]:
        scans = []
        for _ in range(args.scans):
            before = _counters(args.interface)
            async with Scanner(options) as scanner:
                async with scanner.scan(parse_targets(args.targets).addresses()) as reports:
                    found = [msgspec.to_builtins(r) async for r in reports]
            await trio.sleep(0.2)  # late replies reach the counters
            after = _counters(args.interface)
            scans.append(
                {
                    "reports": found,
                    "stats": msgspec.to_builtins(scanner.stats),
                    "wire": {k: after[k] - before[k] for k in before},
                }
            )
        return scans

    print(json.dumps(trio.run(run)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
