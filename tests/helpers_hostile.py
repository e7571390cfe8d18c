"""One printer of the loopback simulator in a hostile fault mode, scanned by the real Scanner:
the report and what the scan cost (shared by tests/test_hostile_devices.py and
benchmarks/bench_hostile.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from printerhq.engine import Scanner, ScanOptions
from printerhq.model import DeviceReport
from printerhq.sim.server import serve_fleet
from printerhq.snmp.usm import UsmUser
from printerhq.snmp.v3credential import UsmCredential

ROOT = Path(__file__).resolve().parents[1]
HP = ROOT / "fixtures" / "hp_laserjet-pro-m404dn.snmprec"
KYOCERA = ROOT / "fixtures" / "kyocera_ecosys-p3145dn.snmprec"
LEXMARK_V1 = ROOT / "fixtures" / "lexmark_e260dn.snmprec"
HOST = "127.62.0.1"


@dataclass
class HostileScan:
    mode: str | None
    report: DeviceReport
    packets_sent: int  # SNMP datagrams the scanner sent to the device
    bytes_sent: int  # their UDP payload
    packets_received: int  # datagrams that reached the scanner's socket (accepted or dropped)
    bytes_received: int
    device_bytes_out: int  # what the simulated device sent (some may be dropped on the way)
    seconds: float  # wall time of the scan (reported, never asserted)


async def scan_hostile(
    mode: str | None,
    fixture: Path = HP,
    *,
    host: str = HOST,
    timeout: float = 5.0,
    v3_user: UsmUser | None = None,
    scans: int = 1,
) -> HostileScan:
    """Scan one simulated device in fault ``mode`` (None: a healthy one), no retries (so the
    packet counts are deterministic), no ICMP, no ARP; over SNMPv3 as ``v3_user`` if given.
    ``scans`` > 1: the same Scanner scans again (warm); the last scan is returned."""
    faults = {host: mode} if mode else None
    users = [v3_user] if v3_user is not None else []
    async with serve_fleet([fixture], [host], faults=faults, users=users) as fleet:
        credentials = {"credentials": [UsmCredential(v3_user)]} if v3_user is not None else {}
        options = ScanOptions(
            port=fleet.port,
            timeout=timeout,
            retries=0,
            rate=20_000,
            collect=True,
            arp=False,
            icmp=False,
            **credentials,  # type: ignore[arg-type]
        )
        async with Scanner(options) as scanner:
            for _ in range(scans):
                started = time.monotonic()
                async with scanner.scan([host]) as stream:
                    reports = [report async for report in stream]
                seconds = time.monotonic() - started
        snmp = scanner.stats.by_protocol["snmp"]
        assert len(reports) == 1, reports
        return HostileScan(
            mode,
            reports[0],
            snmp.packets_sent,
            snmp.bytes_sent,
            snmp.packets_received,
            snmp.bytes_received,
            fleet.stats["bytes_out"],
            seconds,
        )
