"""Upload bytes per report with real collected reports, through bench_upload_bytes' harness.

    python -m benchmarks.bench_real_reports [--no-realdata]

``bench_upload_bytes`` measures near-identical synthetic reports (``tests.helpers_server.
make_report``: one toner, two counters), which compress far better than what a fleet sends.
Here the reports are real: every printer fixture and every LibreNMS recording
(``../shared/realdata/librenms``, when present; 32 printers with both) served by the UDP
simulator on loopback and collected by a real :class:`~printerhq.engine.Scanner`, twice (a cold
collection, then the warm one of a known printer). Each scan's reports are then uploaded on one
open WebSocket stream, one report per batch, each acknowledged before the next, through the same
TCP relay as ``bench_upload_bytes`` (TCP payload both ways; ``wire`` adds 66 B of
Ethernet+IPv4+TCP header per segment the kernel counted). The connection's first report (TLS
and WebSocket handshakes) is left out of the per-report figures.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import trio

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from printerhq import model  # noqa: E402
from printerhq.engine import Scanner, ScanOptions  # noqa: E402
from printerhq.server.run import run_server  # noqa: E402
from printerhq.sim.recording import Recording  # noqa: E402
from printerhq.sim.server import serve_fleet  # noqa: E402
from printerhq.uplink import TlsOptions, Uplink  # noqa: E402
from tests.helpers_server import TcpProxy, new_token  # noqa: E402

FIXTURES = ROOT / "fixtures"
LIBRENMS = ROOT.parent / "shared" / "realdata" / "librenms"
FIRST_ADDRESS = ipaddress.IPv4Address("127.97.0.1")


async def collect(paths: list[Path]) -> tuple[list[model.DeviceReport], list[model.DeviceReport]]:
    """The printers' reports of a cold scan and of the warm scan after it."""
    recordings = [Recording.load(p, strict=False) for p in paths]
    addresses = [str(FIRST_ADDRESS + i) for i in range(len(recordings))]
    scans: list[list[model.DeviceReport]] = []
    async with serve_fleet(recordings, addresses) as fleet:
        options = ScanOptions(
            port=fleet.port, timeout=1.0, retries=1, rate=20_000, arp=False, icmp=False
        )
        async with Scanner(options) as scanner:
            for _ in range(2):
                async with scanner.scan(addresses) as reports:
                    found = [r async for r in reports if r.identity.is_printer]
                scans.append(sorted(found, key=lambda r: ipaddress.ip_address(r.identity.address)))
    return scans[0], scans[1]


async def upload(scans: dict[str, list[model.DeviceReport]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        async with (
            run_server(base / "server", self_signed=True) as server,
            trio.open_nursery() as nursery,
        ):
            token = new_token()
            await server.store.add_agent("bench", token)
            proxy = TcpProxy(server.port)
            await nursery.start(proxy.serve)
            async with Uplink(
                f"https://127.0.0.1:{proxy.port}",
                token,
                base / "spool",
                agent="bench",
                transport="websocket",
                tls=TlsOptions(ca_bundle=str(server.certfile)),
            ) as up:
                for label, reports in scans.items():
                    before, before_wire = proxy.total_bytes, proxy.wire_bytes()
                    for report in reports:
                        await up.submit(report)
                        if not await up.flush(30):
                            raise RuntimeError("no acknowledgement in 30 s")
                        if label == "cold" and report is reports[0]:
                            # the connection's handshakes: not a per-report cost
                            before, before_wire = proxy.total_bytes, proxy.wire_bytes()
                    counted = len(reports) - (1 if label == "cold" else 0)
                    out[label] = {
                        "reports": len(reports),
                        "msgpack_bytes_mean": round(
                            sum(len(model.encode(r)) for r in reports) / len(reports)
                        ),
                        "payload_per_report": round((proxy.total_bytes - before) / counted),
                        "wire_per_report": round((proxy.wire_bytes() - before_wire) / counted),
                    }
            nursery.cancel_scope.cancel()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--no-realdata", action="store_true", help="fixtures only")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    paths = sorted(FIXTURES.glob("*.snmprec"))
    if not args.no_realdata and LIBRENMS.is_dir():
        paths += sorted(LIBRENMS.glob("*.snmprec"))
    cold, warm = trio.run(collect, paths)
    result = trio.run(upload, {"cold": cold, "warm": warm})
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for label, row in result.items():
            print(
                f"{label:5} {row['reports']:3} printers: {row['wire_per_report']:5} B per report "
                f"on the wire ({row['payload_per_report']} B TCP payload; msgpack "
                f"{row['msgpack_bytes_mean']} B before compression)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
