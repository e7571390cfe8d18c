"""Bytes per uploaded report: cold (new connection, TLS handshake included) and warm (on the
open stream), counted as TCP payload in both directions by a relay between agent and server.

    /work/venv/bin/python benchmarks/bench_upload_bytes.py [--reports 20]

Columns: TCP payload (both directions), and ``*_wire_est``: payload plus 66 bytes of
Ethernet+IPv4+TCP header for every segment the kernel counted (TCP_INFO segs_in + segs_out on the
agent-side socket, handshake and bare ACKs included). Loopback delays ACKs like a LAN would, but
its MSS is 64 KiB, so large bodies would take more segments on a real link.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from printerhq import model
from printerhq.server.run import run_server
from printerhq.uplink import TlsOptions, Uplink
from tests.helpers_server import TcpProxy, make_report, new_token


async def measure(reports: int) -> dict[str, float]:
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        async with (
            run_server(tmp / "server", self_signed=True) as server,
            trio.open_nursery() as nursery,
        ):
            token = new_token()
            await server.store.add_agent("bench", token)
            proxy = TcpProxy(server.port)
            await nursery.start(proxy.serve)
            url = f"https://127.0.0.1:{proxy.port}"
            one = make_report(0)
            results["report_msgpack_bytes"] = len(model.encode(one))

            for transport in ("websocket", "http"):
                proxy.up_bytes = proxy.down_bytes = 0
                proxy._closed_segments = 0
                async with Uplink(
                    url,
                    token,
                    tmp / f"spool-{transport}",
                    agent="bench",
                    transport=transport,
                    tls=TlsOptions(ca_bundle=str(server.certfile)),
                ) as up:
                    await up.submit(make_report(1))
                    assert await up.flush(30)
                    results[f"{transport}_cold_first_report"] = proxy.total_bytes
                    results[f"{transport}_cold_first_report_wire_est"] = proxy.wire_bytes()
                    before, before_wire = proxy.total_bytes, proxy.wire_bytes()
                    for i in range(
                        reports
                    ):  # one report per batch, each acknowledged before the next
                        await up.submit(make_report(2 + i))
                        assert await up.flush(30)
                    results[f"{transport}_warm_per_report"] = (proxy.total_bytes - before) / reports
                    results[f"{transport}_warm_per_report_wire_est"] = (
                        proxy.wire_bytes() - before_wire
                    ) / reports
                    before = proxy.total_bytes
                    for i in range(reports):  # a whole scan cycle in one batch
                        await up.submit(make_report(1000 + i))
                    assert await up.flush(30)
                    results[f"{transport}_warm_per_report_batched_{reports}"] = (
                        proxy.total_bytes - before
                    ) / reports
                    if transport == "websocket":
                        proxy.cut()
                        proxy.restore()
                        await trio.sleep(0.2)  # let the dropped connection's segments settle
                        before, before_wire = proxy.total_bytes, proxy.wire_bytes()
                        await up.submit(make_report(5000))
                        assert await up.flush(30)
                        results["websocket_reconnect_resumed_first_report"] = (
                            proxy.total_bytes - before
                        )
                        results["websocket_reconnect_resumed_first_report_wire_est"] = (
                            proxy.wire_bytes() - before_wire
                        )
                        results["tls_sessions_resumed"] = up.connector.resumed
            nursery.cancel_scope.cancel()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=20)
    args = parser.parse_args()
    results = trio.run(measure, args.reports)
    for name, value in results.items():
        print(f"{name:45} {value:10.1f}")


if __name__ == "__main__":
    main()
