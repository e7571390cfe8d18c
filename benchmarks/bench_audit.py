"""Benchmark: what the audit trail costs per SNMP datagram sent (docs/audit.md).

    python -m benchmarks.bench_audit [--json] [--sends N]

Sends the same 3-OID GET ``--sends`` times through the shared transport's ``send_nowait`` to a
socket on 127.0.0.1 (drained as it goes), and reports the CPU time per send:

- audit off (``transport.audit is None``: the one ``if`` of the hook);
- audit on, the request described by the client (the collector's path);
- audit on, the request read back from its bytes (the discovery sweep's path; cached per
  template, so after the first datagram only the bytes around the request-id are parsed).

The trail is written to a temporary directory. Each figure is the best of 5 repeats (the minimum
is the least disturbed by other load on a shared machine). Loopback only.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import tempfile
import time
from pathlib import Path

from printerhq.audit.log import AuditLog
from printerhq.snmp.client import ClientStats
from printerhq.snmp.message import Message, Pdu, PduType, Varbind, Version, encode_message
from printerhq.snmp.transport import About, UdpTransport

OIDS = [(1, 3, 6, 1, 2, 1, 1, 1, 0), (1, 3, 6, 1, 2, 1, 1, 2, 0), (1, 3, 6, 1, 2, 1, 1, 5, 0)]
REPEATS = 5


def _per_send(sends: int, audit: AuditLog | None, about: About | None) -> float:
    data = encode_message(
        Message(
            Version.V2C, b"public", Pdu(PduType.GET, 0x1234_5678, 0, 0, [Varbind(o) for o in OIDS])
        )
    )
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock,
    ):
        sink.bind(("127.0.0.1", 0))
        sink.setblocking(False)
        sock.setblocking(False)
        address = sink.getsockname()
        transport = UdpTransport(ClientStats())
        transport.audit = audit
        started = time.process_time()
        for n in range(sends):
            transport.send_nowait(sock, data, address, about)
            if n % 64 == 0:  # drain, so the sends never meet a full buffer
                try:
                    while True:
                        sink.recv(65535)
                except BlockingIOError:
                    pass
        return (time.process_time() - started) / sends * 1e6


def measure(sends: int) -> dict[str, float]:
    described: About = ("snmpv2c", "GET", OIDS)
    results: dict[str, list[float]] = {"off": [], "on_described": [], "on_read_back": []}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(REPEATS):
            results["off"].append(_per_send(sends, None, described))
            with AuditLog(Path(tmp) / f"d{repeat}") as audit:
                results["on_described"].append(_per_send(sends, audit, described))
            with AuditLog(Path(tmp) / f"r{repeat}") as audit:
                results["on_read_back"].append(_per_send(sends, audit, None))
    return {name: round(min(values), 2) for name, values in results.items()}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_audit")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--sends", type=int, default=20_000)
    args = parser.parse_args(argv)
    result = measure(args.sends)
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"CPU per SNMP datagram sent ({args.sends} sends, best of {REPEATS}):\n"
            f"  audit off                         {result['off']:6.2f} µs\n"
            f"  audit on, described by the client {result['on_described']:6.2f} µs\n"
            f"  audit on, read back (sweep)       {result['on_read_back']:6.2f} µs"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
