"""``printerhq demo``: a simulated printer fleet on loopback, scanned and shown.

Everything runs in one trio program and only on loopback: the simulator serves the recordings in
``fixtures/`` on ``127.77.0.1`` and up, the scanner sweeps the /24 around them, and the result is
printed the way ``printerhq scan`` prints it.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
import time
from pathlib import Path

import trio

from ..engine import ScanOptions
from ..sim.server import serve_fleet
from ..targets import parse_targets
from .scan import scan

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="simulate a printer fleet on loopback, scan it and show it",
        description="Start the simulator with the bundled recordings on 127.77.0.1 and up, "
                    "scan 127.77.0.0/24 and print what was found. Sends traffic only to loopback.",
    )
    parser.add_argument("--recordings", type=Path, nargs="*", metavar="FILE",
                        help="recordings to serve (default: the bundled fixtures/*.snmprec)")
    parser.add_argument("--network", default="127.77.0.0/24",
                        help="loopback network to simulate and scan (default 127.77.0.0/24)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..render import render_scan

    recordings = args.recordings or sorted(FIXTURES.glob("*.snmprec"))
    if not recordings:
        print(f"printerhq demo: no recordings found in {FIXTURES}", file=sys.stderr)
        return 2
    network = ipaddress.ip_network(args.network, strict=False)
    if not network.is_loopback:
        print("printerhq demo: the demo only simulates on loopback (127.0.0.0/8)",
              file=sys.stderr)
        return 2
    hosts = [str(host) for _, host in zip(recordings, network.hosts())]

    async def main() -> list:
        async with serve_fleet(recordings, hosts, port=0) as fleet:
            print(f"demo: simulator serving {len(recordings)} recordings on {hosts[0]}-"
                  f"{hosts[-1]}, udp port {fleet.port}", file=sys.stderr)
            print(f"demo: scanning {network} ({network.num_addresses} addresses)",
                  file=sys.stderr)
            # Loopback: every 127.x address answers ping, and nothing here needs pacing.
            options = ScanOptions(port=fleet.port, timeout=0.5, retries=1, icmp=False,
                                  rate=20_000)
            return await scan(parse_targets(str(network)), options)

    started = time.monotonic()
    reports = trio.run(main)
    printers = [r for r in reports if r.identity.is_printer]
    print(render_scan(printers))
    others = len(reports) - len(printers)
    print(f"\ndemo: {len(printers)} printers and {others} other SNMP agents found in "
          f"{time.monotonic() - started:.1f} s", file=sys.stderr)
    return 0
