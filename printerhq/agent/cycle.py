"""One cycle of one ``[[scan]]`` section: scan, spool every report, summarise.

A *discovery* cycle scans the whole target range (the engine still collects printers it knows
warm, and its memory probes long-blank space less often). A *warm* cycle scans only the printers
the section's memory knows warm: one warm collection each, no discovery.

Each section keeps its memory (discovery state and collection caches) in
``<state_dir>/scan-<key>``, where the key hashes the targets and port: a section with a new range
starts afresh, the same section after a restart or a re-sent configuration stays warm.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import trio

from printerhq.adaptive import DiscoveryMemory
from printerhq.agent.config import ScanSection, target_spec
from printerhq.agent.schedule import Kind
from printerhq.control import MAX_ERROR_SAMPLES, CycleStatus
from printerhq.engine import Scanner, ScanOptions
from printerhq.model import DeviceReport, ScanStats
from printerhq.scan.outcome import is_device
from printerhq.snmp.message import Version
from printerhq.snmp.v3credential import credentials_in_order
from printerhq.targets import TargetSpec
from printerhq.traffic import AuditSink
from printerhq.uplink import Uplink
from printerhq.v3users import resolve_v3_user


def section_dir(state_dir: Path, section: ScanSection) -> Path:
    key = hashlib.sha256(repr((sorted(section.targets), section.port)).encode()).hexdigest()[:12]
    return state_dir / f"scan-{key}"


def scan_options(section: ScanSection) -> ScanOptions:
    """Engine options for ``section`` (``CredentialError`` for a bad v3 file)."""
    user = None
    if section.v3 is not None:
        user = resolve_v3_user(section.v3.user, file=section.v3.file, environ={})
    communities = section.communities or ([] if section.v3 else ["public"])
    credentials = credentials_in_order(user, communities, (Version.V2C, Version.V1))
    return ScanOptions(
        port=section.port,
        credentials=credentials,
        timeout=section.timeout,
        retries=section.retries,
        rate=section.rate,
        concurrency=section.concurrency,
        icmp=section.icmp,
    )


def wanted(report: DeviceReport) -> bool:
    """What is uploaded: printers, and devices with problems (as ``scan --upload``); never an
    address that only failed (errors are not devices: they go in the cycle status)."""
    return is_device(report) and (report.identity.is_printer or bool(report.errors))


def _scan_bytes(stats: ScanStats) -> int:
    if stats.by_protocol:
        return sum(t.bytes_sent + t.bytes_received for t in stats.by_protocol.values())
    return stats.bytes_sent + stats.bytes_received


def _known(memory: DiscoveryMemory, spec: TargetSpec) -> list[str]:
    return [
        a for a in list(memory.devices.devices) if a in spec and memory.devices.known(a) is not None
    ]


def known_printers(section: ScanSection, state_dir: Path) -> set[str]:
    """The printers ``section``'s memory knows warm (the trap receiver's known sources)."""
    return set(_known(DiscoveryMemory.load(section_dir(state_dir, section)), target_spec(section)))


async def run_cycle(
    kind: Kind,
    section: ScanSection,
    state_dir: Path,
    uplink: Uplink,
    flush_timeout: float = 10.0,
    *,
    only: str | None = None,
    audit: AuditSink | None = None,
) -> CycleStatus:
    """``only``: a warm collection of that one known printer (a trap asked for it). ``audit``:
    the audit trail every request of the scan is logged to (docs/audit.md)."""
    clock = trio.current_time()
    sent_before = uplink.stats["bytes_sent"]
    spec = target_spec(section)
    memory = DiscoveryMemory.load(section_dir(state_dir, section))
    if kind == "warm":
        addresses = [a for a in _known(memory, spec) if only is None or a == only]
    else:
        addresses = spec.addresses()  # type: ignore[assignment]  # lazy: a /16 is not a list
    reports = printers = errors = 0
    samples: list[str] = []
    options = scan_options(section)
    options.audit = audit
    scanner = Scanner(options, memory=memory)
    results: trio.abc.ReceiveChannel[DeviceReport]
    report: DeviceReport
    # One batch per cycle: the reports wait in the spool until the scan ends (a full batch
    # goes at once), then leave together under one acknowledgement.
    async with uplink.holding(), scanner, scanner.scan(addresses) as results:
        async for report in results:
            printers += report.identity.is_printer
            if report.errors:
                errors += 1
                if len(samples) < MAX_ERROR_SAMPLES:
                    samples.append(f"{report.identity.address}: {report.errors[0]}"[:500])
            if wanted(report):
                # Durable in the spool before the cycle counts it done; a full disk pauses
                # collection rather than dropping a report.
                await uplink.submit(report, wait=True)
                reports += 1
    # The cycle ends when the server has its reports (or after ``flush_timeout``; what is not
    # acknowledged stays spooled and goes with the next cycle): the status then tells the truth
    # about bytes on the wire and what is pending.
    await uplink.flush(flush_timeout)
    stats = scanner.stats
    return CycleStatus(
        time=time.time(),
        kind=kind,
        duration=round(trio.current_time() - clock, 3),
        addresses=stats.addresses,
        printers=printers,
        reports=reports,
        errors=errors,
        error_samples=samples,
        scan_bytes=_scan_bytes(stats),
        upload_bytes=uplink.stats["bytes_sent"] - sent_before,
        pending=uplink.pending,
    )
