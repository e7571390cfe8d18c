"""Repeat scan of known printers through the engine: bytes per printer, before and after.

    python -m benchmarks.bench_repeat [--no-realdata]

Every fixture and every LibreNMS recording (``../shared/realdata/librenms``, when present) is
served by the UDP simulator (:func:`printerhq.sim.server.serve_fleet`) on its own loopback
address; a real :class:`~printerhq.engine.Scanner` scans the fleet three times:

* **before** (``skip_known=False``): the second scan of a printer is discovery + a warm
  collection, as every repeat scan was until now;
* **after** (``skip_known=True``, the default): the second scan of a known printer is one warm
  collection whose request also carries the change detectors (sysUpTime.0, the serial);
* **after restart**: a new Scanner on the same ``state_dir`` (the device cache persisted).

Bytes are each report's ``cost.wire_bytes``: SNMP messages both ways plus the IPv4+UDP
headers (28 B per datagram), as counted by the SNMP client; the scan's SNMP total from
``ScanStats.by_protocol`` is printed as a cross-check. ICMP is off (with ICMP on, the before
path also sends an echo per printer, which the shortcut skips). Target: warm <= 800 B.
"""

from __future__ import annotations

import argparse
import ipaddress
import statistics
import tempfile
from pathlib import Path
from typing import Any

import trio

from printerhq.engine import Scanner, ScanOptions
from printerhq.sim.recording import Recording
from printerhq.sim.server import serve_fleet

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
LIBRENMS = ROOT.parent / "shared" / "realdata" / "librenms"
WARM_TARGET = 800
FIRST_ADDRESS = ipaddress.IPv4Address("127.96.0.1")


def _options(port: int, skip_known: bool, state_dir: Path | None = None) -> ScanOptions:
    return ScanOptions(
        port=port,
        timeout=1.0,
        retries=1,
        rate=20_000,
        collect=True,
        arp=False,
        icmp=False,
        skip_known=skip_known,
        state_dir=state_dir,
    )


async def _scan(scanner: Scanner, addresses: list[str]) -> dict[str, Any]:
    async with scanner.scan(addresses) as reports:
        found = {r.identity.address: r async for r in reports}
    return found


async def _measure(paths: list[Path]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    recordings = [Recording.load(p, strict=False) for p in paths]
    addresses = [str(FIRST_ADDRESS + i) for i in range(len(recordings))]
    totals: dict[str, int] = {}
    async with serve_fleet(recordings, addresses) as fleet:
        with tempfile.TemporaryDirectory() as state:
            async with Scanner(_options(fleet.port, False)) as scanner:
                await _scan(scanner, addresses)
                before = await _scan(scanner, addresses)
                totals["before"] = (
                    scanner.stats.by_protocol["snmp"].bytes_sent
                    + scanner.stats.by_protocol["snmp"].bytes_received
                )
            async with Scanner(_options(fleet.port, True, Path(state))) as scanner:
                first = await _scan(scanner, addresses)
                after = await _scan(scanner, addresses)
                totals["after"] = (
                    scanner.stats.by_protocol["snmp"].bytes_sent
                    + scanner.stats.by_protocol["snmp"].bytes_received
                )
            async with Scanner(_options(fleet.port, True, Path(state))) as scanner:
                restarted = await _scan(scanner, addresses)
    rows = []
    for address, recording in zip(addresses, recordings, strict=True):
        report = first.get(address)
        if report is None or not report.identity.is_printer:
            continue
        b, a, r = before[address], after[address], restarted[address]
        rows.append(
            {
                "name": recording.name,
                "vendor": report.identity.vendor or "-",
                "before_req": b.cost.requests,
                "before": b.cost.wire_bytes,
                "after_req": a.cost.requests,
                "after": a.cost.wire_bytes,
                "restart": r.cost.wire_bytes,
                "same": _same(b, a) and _same(b, r),
            }
        )
    return rows, totals


def _same(one: Any, other: Any) -> bool:
    """Both reports say the same about the device (identity, counters, supplies, status)."""
    return (
        one.identity == other.identity
        and one.counters == other.counters
        and one.supplies == other.supplies
        and one.status == other.status
        and one.alerts == other.alerts
    )


def _summary(label: str, values: list[int]) -> str:
    p90 = statistics.quantiles(values, n=10, method="inclusive")[-1]
    ok = sum(v <= WARM_TARGET for v in values)
    return (
        f"{label:32} median {statistics.median(values):6.0f} B  p90 {p90:6.0f} B  "
        f"max {max(values):5d} B  <= {WARM_TARGET} B: {ok}/{len(values)}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-realdata", action="store_true", help="fixtures only")
    args = parser.parse_args(argv)
    paths = sorted(FIXTURES.glob("*.snmprec"))
    if not args.no_realdata and LIBRENMS.is_dir():
        paths += sorted(LIBRENMS.glob("*.snmprec"))
    rows, totals = trio.run(_measure, paths)
    header = (
        f"{'recording':32} {'vendor':15} {'before req':>10} {'before B':>8} "
        f"{'after req':>9} {'after B':>7} {'restart B':>9}"
    )
    print(
        "Repeat scan of a known printer through the engine; wire bytes include IPv4+UDP "
        "headers, both directions."
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        flag = "" if r["same"] else "  REPORTS DIFFER"
        print(
            f"{r['name'][:32]:32} {r['vendor'][:15]:15} {r['before_req']:>10} "
            f"{r['before']:>8} {r['after_req']:>9} {r['after']:>7} {r['restart']:>9}{flag}"
        )
    print("-" * len(header))
    print(f"printers: {len(rows)}")
    print(_summary("before (discovery + warm)", [r["before"] for r in rows]))
    print(_summary("after (one warm + detectors)", [r["after"] for r in rows]))
    print(_summary("after an agent restart", [r["restart"] for r in rows]))
    print(
        f"SNMP payload of the whole repeat scan (printers and the rest): before "
        f"{totals['before']} B, after {totals['after']} B"
    )
    differ = sum(not r["same"] for r in rows)
    if differ:
        print(f"{differ} printers reported differently after the shortcut")
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
