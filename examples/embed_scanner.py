"""Embedding the printerhq scanner in another trio application.

The application owns the event loop and the nursery; the scanner is one more task in it. Here
the "application" is a tiny inventory service: a task that scans, a task that consumes reports
into an inventory (through the scanner's stream, so a slow consumer slows the scan instead of
buffering it), and a heartbeat that reads live scan statistics. The application also shares its
own SNMP client with the scanner (``client=``), as a service that talks SNMP elsewhere would.

Run against the bundled simulator (loopback only)::

    python -m printerhq sim fixtures/*.snmprec --addresses 127.88.0.1-127.88.0.9 --port 16161 &
    python examples/embed_scanner.py 127.88.0.0/24 --port 16161

Nothing here calls into printerhq internals: only the public API listed in the README
(``Scanner``, ``ScanOptions``, ``SnmpClient``, ``parse_targets``, ``DeviceReport``).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field

import trio

from printerhq import DeviceReport, Scanner, ScanOptions, ScanStats, SnmpClient, parse_targets


@dataclass
class Inventory:
    """The application's own state, filled from the report stream."""

    devices: dict[str, DeviceReport] = field(default_factory=dict)
    heartbeats: list[ScanStats] = field(default_factory=list)

    @property
    def printers(self) -> list[str]:
        return sorted(a for a, r in self.devices.items() if r.identity.is_printer)


async def run_inventory(
    targets: str, port: int, *, heartbeat: float = 0.2, deadline: float = 60.0
) -> Inventory:
    """Scan ``targets`` inside this application's nursery and return what was found."""
    inventory = Inventory()
    options = ScanOptions(port=port, timeout=0.3, retries=1, collect=False, icmp=False, rate=5_000)
    async with SnmpClient(timeout=0.3, retries=1) as client:  # the application's own client
        async with Scanner(options, client=client) as scanner:
            with trio.move_on_after(deadline):  # the application bounds the whole job
                async with trio.open_nursery() as nursery:

                    async def beat() -> None:
                        while True:
                            inventory.heartbeats.append(scanner.stats)
                            await trio.sleep(heartbeat)

                    nursery.start_soon(beat)
                    async with scanner.scan(parse_targets(targets).addresses()) as reports:
                        async for report in reports:
                            inventory.devices[report.identity.address] = report
                    nursery.cancel_scope.cancel()  # scan done: stop the heartbeat
    return inventory


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets")
    parser.add_argument("--port", type=int, default=161)
    args = parser.parse_args(argv)
    inventory = trio.run(run_inventory, args.targets, args.port)
    for address in inventory.printers:
        identity = inventory.devices[address].identity
        print(f"{address}\t{identity.vendor or '?'}\t{identity.model or '?'}")
    print(f"{len(inventory.devices)} agents, {len(inventory.printers)} printers", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
