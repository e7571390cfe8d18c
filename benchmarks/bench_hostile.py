"""Hostile devices: what one hostile printer costs a scan, per fault mode.

    python -m benchmarks.bench_hostile

One device of the loopback simulator (:func:`printerhq.sim.server.serve_fleet`) in each hostile
fault mode (``printerhq/sim/faults.py``, ``printerhq/sim/v3.py``), scanned by a real
:class:`~printerhq.engine.Scanner` with no retries and no ICMP. Printed per mode: SNMP packets
and UDP payload bytes the scanner sent and received (``ScanStats.by_protocol["snmp"]``), the
bytes the device sent (the simulator's count: an amplifying device sends more than reaches the
scanner), the wall time, and what the report kept. tests/test_hostile_devices.py asserts bounds
on the packet and byte counts (deterministic); the time is only reported.
"""

from __future__ import annotations

from pathlib import Path

import trio

from printerhq.snmp.usm import AuthProtocol, PrivProtocol, UsmUser
from tests.helpers_hostile import HP, LEXMARK_V1, scan_hostile

V3_USER = UsmUser("hostile", AuthProtocol.SHA256, "auth-pass-phrase", PrivProtocol.AES, "priv-pass")
CASES: list[tuple[Path, str | None, UsmUser | None]] = [
    *((HP, mode, None) for mode in (None, "endless-walk", "cycling-walk", "amplified")),
    *((HP, mode, None) for mode in ("counter64-extremes", "huge-strings", "oversized")),
    *((LEXMARK_V1, mode, None) for mode in (None, "endless-walk", "cycling-walk")),
    *((HP, mode, V3_USER) for mode in (None, "engine-boots-max", "engine-clock-backwards")),
]


async def main() -> None:
    print(
        "| device | mode | sent pkts | sent B | recv pkts | recv B | device sent B | wall s "
        "| supplies | counters | problems | errors |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for fixture, mode, user in CASES:
        # v1: the scanner tries SNMPv2c first and waits 1 s for it (the Lexmark is v1 only).
        scan = await scan_hostile(mode, fixture, timeout=1.0, v3_user=user)
        report = scan.report
        device = fixture.stem.split("_")[0] + (" v3" if user else "")
        print(
            f"| {device} | {mode or 'healthy'} | {scan.packets_sent} | {scan.bytes_sent:,} "
            f"| {scan.packets_received} | {scan.bytes_received:,} | {scan.device_bytes_out:,} "
            f"| {scan.seconds:.2f} | {len(report.supplies)} | {len(report.counters)} "
            f"| {len(report.invalid)} | {len(report.errors)} |"
        )


if __name__ == "__main__":
    trio.run(main)
