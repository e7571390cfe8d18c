"""Running a scan to the end for the commands that show or upload its reports (scan, demo)
and the order they list reports in (scan, demo, fleet)."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable

import trio

from ..engine import Scanner, ScanOptions
from ..model import DeviceReport
from ..targets import TargetSpec
from .progress import Progress


async def scan(
    spec: TargetSpec,
    options: ScanOptions,
    progress: Progress | None = None,
    upload: Callable[[DeviceReport], Awaitable[None]] | None = None,
) -> list[DeviceReport]:
    """Scan ``spec``; each report is handed to ``upload`` (if given) as soon as it exists."""
    reports: list[DeviceReport] = []
    async with Scanner(options) as scanner:
        async with trio.open_nursery() as nursery:
            if progress:
                nursery.start_soon(_tick, progress, scanner)
            async with scanner.scan(spec.addresses()) as results:
                async for report in results:
                    reports.append(report)
                    if upload is not None:
                        await upload(report)
            nursery.cancel_scope.cancel()
        if progress:
            progress.update(scanner.stats, final=True)
    reports.sort(key=address_order)
    return reports


async def _tick(progress: Progress, scanner: Scanner) -> None:
    while True:
        progress.update(scanner.stats)
        await trio.sleep(progress.interval)


def address_order(report: DeviceReport) -> tuple[int, int, str]:
    """Sort key: IPv4 before IPv6, numerically; unresolved hostnames last."""
    try:
        parsed = ipaddress.ip_address(report.identity.address)
    except ValueError:  # a hostname that did not resolve
        return (9, 0, report.identity.address)
    return (parsed.version, int(parsed), "")
