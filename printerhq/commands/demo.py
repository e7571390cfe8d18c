"""``printerhq demo``: the whole product in one command, on loopback only.

1. a central server (SQLite, self-signed ECDSA certificate) in a temporary data directory;
2. an agent token issued by it;
3. the simulator serving the recordings in ``fixtures/`` on ``127.77.0.1`` and up;
4. a scan of the /24 around them, each report spooled and streamed to the server;
5. a viewer token issued, and the fleet read back with it from the server's REST API (through
   ``printerhq fleet``'s client) and printed; the dashboard URL is shown.
"""

from __future__ import annotations

import argparse
import ipaddress
import secrets
import sys
import tempfile
import time
from pathlib import Path

import trio

from ..cmdline import options
from ..cmdline.exits import FAILURE, OK, USAGE
from ..engine import ScanOptions
from ..model import DeviceReport
from ..server.run import run_server
from ..sim.server import serve_fleet
from ..targets import parse_targets
from ..terminal import safe
from ..uplink import TlsOptions
from .fleet import open_fleet_client
from .scanning import address_order, scan
from .upload import UploadSettings, open_uplink

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
# The demo scans its whole network: a /20 at most keeps it a demonstration (seconds, not hours).
MAX_ADDRESSES = 4096

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def loopback_network(text: str) -> Network:
    """A loopback network of at most MAX_ADDRESSES (argparse type of ``--network``)."""
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a network (e.g. 127.77.0.0/24)"
        ) from None
    if not network.is_loopback:
        raise argparse.ArgumentTypeError(
            f"{network} is not loopback: the demo only simulates on 127.0.0.0/8 or ::1"
        )
    if network.num_addresses > MAX_ADDRESSES:
        raise argparse.ArgumentTypeError(
            f"{network} has {network.num_addresses:,} addresses; the demo scans at most "
            f"{MAX_ADDRESSES:,} (a /20)"
        )
    return network


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="simulate a printer fleet on loopback, scan it, upload it, show it",
        description="Start a server and the simulator, scan 127.77.0.0/24, upload the reports "
        "and print the fleet as the server stores it. Sends traffic only to loopback.",
    )
    parser.add_argument(
        "--recordings",
        type=options.existing_file,
        nargs="*",
        metavar="FILE",
        help="recordings to serve (default: the bundled fixtures/*.snmprec)",
    )
    parser.add_argument(
        "--network",
        type=loopback_network,
        default=loopback_network("127.77.0.0/24"),
        help="loopback network to simulate and scan (default 127.77.0.0/24)",
    )
    parser.add_argument(
        "--data-dir",
        type=options.directory,
        metavar="DIR",
        help="keep the server's database and the spool here "
        "(default: a temporary directory, removed afterwards)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    recordings = args.recordings or sorted(FIXTURES.glob("*.snmprec"))
    if not recordings:
        print(f"printerhq demo: no recordings found in {FIXTURES}", file=sys.stderr)
        return USAGE
    network = args.network
    hosts = [str(host) for _, host in zip(recordings, network.hosts(), strict=False)]
    started = time.monotonic()
    if args.data_dir:
        args.data_dir.mkdir(parents=True, exist_ok=True)
        fleet = trio.run(demo, recordings, hosts, network, args.data_dir)
    else:
        with tempfile.TemporaryDirectory(prefix="printerhq-demo-") as data_dir:
            fleet = trio.run(demo, recordings, hosts, network, Path(data_dir))
    from ..render import render_reports

    print(safe(render_reports(sorted(fleet, key=address_order)), newlines=True))
    print(
        f"\ndemo: the server holds {len(fleet)} printers; "
        f"{time.monotonic() - started:.1f} s in all",
        file=sys.stderr,
    )
    if not fleet:
        print(
            "printerhq demo: no printer reached the server (see the lines above)", file=sys.stderr
        )
        return FAILURE
    return OK


def say(text: str) -> None:
    print(safe(f"demo: {text}"), file=sys.stderr)


async def demo(
    recordings: list[Path],
    hosts: list[str],
    network: Network,
    data_dir: Path,
) -> list[DeviceReport]:
    async with run_server(data_dir / "server", port=0, self_signed=True) as server:
        say(f"server listening on {server.url} (SQLite in {data_dir / 'server'})")
        token = secrets.token_urlsafe(32)
        await server.store.add_agent("demo-agent", token)
        async with serve_fleet(recordings, hosts, port=0) as fleet:
            say(
                f"simulator serving {len(recordings)} recordings on {hosts[0]}-{hosts[-1]}, "
                f"udp port {fleet.port}"
            )
            say(f"scanning {network} ({network.num_addresses} addresses) and uploading")
            # Loopback: every 127.x address answers ping, and nothing here needs pacing.
            options = ScanOptions(port=fleet.port, timeout=0.5, retries=1, icmp=False, rate=20_000)
            settings = UploadSettings(
                server.url,
                token,
                data_dir / "spool",
                "demo-agent",
                TlsOptions(ca_bundle=str(server.certfile)),
            )
            async with open_uplink(settings) as uplink:

                async def upload(report: DeviceReport) -> None:
                    if report.identity.is_printer:
                        await uplink.submit(report, wait=True)

                reports = await scan(parse_targets(str(network)), options, upload=upload)
                _, outcome = await settings.finish(uplink)
                say(outcome)
        others = sum(not r.identity.is_printer for r in reports)
        say(f"found {len(reports) - others} printers and {others} other SNMP agents")
        viewer = secrets.token_urlsafe(32)
        await server.store.add_viewer("demo-viewer", viewer)
        say("viewer token issued to read the fleet back")
        assert server.certfile is not None  # self_signed=True: the server made one
        return await fleet_from_api(server.url, server.certfile, viewer)


async def fleet_from_api(url: str, certfile: Path, token: str) -> list[DeviceReport]:
    """Every device's latest report, as the REST API serves it to a viewer token."""
    async with open_fleet_client(url, token, TlsOptions(ca_bundle=str(certfile))) as client:
        reports = await client.reports()
    say(f"GET {url}/api/v1/devices with a viewer token: {len(reports)} devices")
    return reports
