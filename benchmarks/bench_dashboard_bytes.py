"""Bytes of the dashboard's fleet page for N printers (default 100), gzip or not, on loopback.

    .venv/bin/python -m benchmarks.bench_dashboard_bytes [--printers 100] [--json]

A server (in this process, on 127.0.0.1) holds one demo scan per printer
(tests/helpers_dashboard.py: colour and mono printers, several supplies, trays, alerts). A raw
HTTP/1.1 client signed in with a viewer cookie sends the request headers a browser sends
(User-Agent, Accept, Accept-Language, Accept-Encoding, Cookie) and counts every byte both ways:

- ``http``: the request and the response (status line, headers, body) as HTTP bytes;
- ``tls``: the same on a fresh TLS 1.3 connection, counted on the TCP stream (handshake with the
  server's self-signed certificate, records, close), i.e. bytes on the wire less TCP/IP headers.

Rows: the page with ``Accept-Encoding: gzip`` and with ``identity`` (what the dashboard sent
before it compressed, less its then inline stylesheet), and the stylesheet, fetched once and
then cached for a year (its URL names its content). The documented budget counts 60,860 B for
loading one ordinary web page (shared DESIGN.md); the result is printed beside it.
"""

from __future__ import annotations

import argparse
import json
import re
import ssl
import sys
import tempfile
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from printerhq.server.dashboard import COOKIE
from printerhq.server.run import run_server
from tests.helpers_dashboard import demo_fleet
from tests.helpers_server import new_token

WEB_PAGE_BUDGET = 60_860  # bytes: "loading one ordinary web page", the documented scale
BROWSER_HEADERS = (
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    "Accept-Language: en-GB,en;q=0.9\r\n"
)
MAX_RESPONSE = 16 * 1024 * 1024  # a bound on what the client reads


class CountingStream(trio.abc.HalfCloseableStream):
    """A TCP stream that counts the bytes it carries (under TLS: the records, handshake too)."""

    def __init__(self, inner: trio.SocketStream):
        self.inner, self.sent, self.received = inner, 0, 0

    async def send_all(self, data) -> None:
        self.sent += len(data)
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes=None) -> bytes:
        data = await self.inner.receive_some(max_bytes)
        self.received += len(data)
        return data

    async def send_eof(self) -> None:
        await self.inner.send_eof()

    async def aclose(self) -> None:
        await self.inner.aclose()


async def fetch(port: int, path: str, cookie: str, encoding: str, ctx: ssl.SSLContext) -> dict:
    """One GET on a fresh TLS connection: HTTP bytes and TLS (TCP payload) bytes, both ways."""
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{BROWSER_HEADERS}"
        f"Accept-Encoding: {encoding}\r\nCookie: {COOKIE}={cookie}\r\nConnection: close\r\n\r\n"
    ).encode()
    with trio.fail_after(30):
        tcp = CountingStream(await trio.open_tcp_stream("127.0.0.1", port))
        stream = trio.SSLStream(tcp, ctx, server_hostname="127.0.0.1")
        await stream.send_all(request)
        response = bytearray()
        while len(response) < MAX_RESPONSE:
            try:
                chunk = await stream.receive_some(65536)
            except trio.BrokenResourceError:
                break  # the server closed without close_notify: the response is complete
            if not chunk:
                break
            response += chunk
        await stream.aclose()
    head, _, body = bytes(response).partition(b"\r\n\r\n")
    return {
        "status": int(head.split()[1]),
        "encoding": (re.search(rb"(?im)^content-encoding: *(\S+)", head) or [b"", b"identity"])[
            1
        ].decode(),
        "headers": len(head) + 4,
        "body": len(body),
        "http": len(request) + len(response),
        "tls": tcp.sent + tcp.received,
        "text": body,
    }


async def measure(printers: int, tmp: Path) -> dict:
    """The rows of the table (see the module's docstring), for ``printers`` printers."""
    async with run_server(tmp / "server", self_signed=True) as srv:
        agent_token, viewer = new_token(), new_token()
        await srv.store.add_agent("head-office", agent_token)
        await srv.store.add_viewer("reader", viewer)
        agent = await srv.store.agent_for_token(agent_token)
        [scan] = demo_fleet(printers=printers, days=1, per_day=1)
        await srv.store.ingest(agent, "bench", scan)
        ctx = ssl.create_default_context(cafile=str(srv.certfile))
        gzip = await fetch(srv.port, "/", viewer, "gzip, deflate, br, zstd", ctx)
        plain = await fetch(srv.port, "/", viewer, "identity", ctx)
        assert gzip["status"] == plain["status"] == 200 and gzip["encoding"] == "gzip"
        assert plain["text"].count(b'<tr class="device"') == printers
        css_path = re.search(rb'href="(/static/[^"]+\.css)"', plain["text"])[1].decode()
        css = await fetch(srv.port, css_path, viewer, "gzip, deflate, br, zstd", ctx)
    rows = {"page gzip": gzip, "page identity": plain, "stylesheet gzip (once)": css}
    return {
        "printers": printers,
        "budget": WEB_PAGE_BUDGET,
        "rows": {
            name: {k: v for k, v in row.items() if k not in ("text", "status")}
            for name, row in rows.items()
        },
        "first_visit_tls": gzip["tls"] + css["tls"],
    }


def report(result: dict) -> str:
    lines = [
        f"dashboard fleet page, {result['printers']} printers (loopback, fresh TLS 1.3 "
        "connection per request, browser-like request headers)",
        f"{'':26} {'encoding':>9} {'headers':>8} {'body':>8} {'HTTP both ways':>15} "
        f"{'TLS wire':>9}",
    ]
    for name, row in result["rows"].items():
        lines.append(
            f"{name:26} {row['encoding']:>9} {row['headers']:>8,} {row['body']:>8,} "
            f"{row['http']:>15,} {row['tls']:>9,}"
        )
    first = result["first_visit_tls"]
    again = result["rows"]["page gzip"]["tls"]
    budget = result["budget"]
    lines.append(
        f"first visit (page + stylesheet, gzip): {first:,} B on TLS = {first / budget:.0%} of "
        f"the {budget:,} B of one ordinary web page; later visits (stylesheet cached): "
        f"{again:,} B = {again / budget:.0%}"
    )
    return "\n".join(lines)


async def _main(printers: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp:
        return await measure(printers, Path(tmp))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--printers", type=int, default=100, choices=range(1, 501), metavar="N")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    result = trio.run(_main, args.printers)
    print(json.dumps(result, indent=2) if args.json else report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
