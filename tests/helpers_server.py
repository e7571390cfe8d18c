"""Helpers for the server and uplink tests: report factory, server subprocesses, a TCP proxy.

The proxy sits between an agent and a server on loopback. It counts bytes in both directions
(the upload benchmarks use it), can be *cut* (every connection reset, new ones refused: a network
outage) and *restored*, can be pointed at a new upstream port (a restarted server), and can refuse
WebSocket upgrades like a proxy that strips them.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import trio

from printerhq import model

REPO = Path(__file__).resolve().parent.parent


# 30 days before this test process started: inside the server's window of accepted scan times
# (printerhq.limits: MAX_REPORT_AGE back, MAX_CLOCK_SKEW ahead), fixed so reports repeat.
RECENT = float(int(time.time()) - 30 * 86400)


def make_report(
    i: int, *, address_base: str = "127.0.1", serials: int = 13, t0: float = RECENT
) -> model.DeviceReport:
    """A plausible printer report; ``i`` makes it unique (scanned_at and the counter value)."""
    return model.DeviceReport(
        identity=model.Identity(
            address=f"{address_base}.{i % 250 + 1}",
            is_printer=True,
            vendor="HP",
            model="LaserJet M507",
            serial=f"PHQ{i % serials:05d}",
            sys_name=f"printer-{i % serials}",
            mac=f"00:11:22:33:44:{i % serials:02x}",
        ),
        scanned_at=t0 + i,
        protocol="snmpv2c",
        counters=[
            model.Counter(name="total", value=10_000 + i),
            model.Counter(name="mono", value=9_000 + i),
        ],
        supplies=[
            model.Supply(
                index=1,
                description="Black Cartridge HP 89A",
                kind="toner",
                colour="black",
                unit="percent",
                level=80 - i % 80,
                capacity=100,
                percent=float(80 - i % 80),
            )
        ],
        status=model.Status(device="running", printer="idle"),
        cost=model.SnmpCost(requests=3, sent_bytes=400, received_bytes=1400, wire_bytes=1970),
    )


def report_key(report: model.DeviceReport) -> tuple[str, float]:
    return (report.identity.serial or report.identity.address, report.scanned_at)


# --------------------------------------------------------------------------------------------
# Server subprocess
# --------------------------------------------------------------------------------------------
class ServerProcess:
    """``python -m printerhq.server serve`` as a child process (for SIGKILL tests)."""

    def __init__(self, data_dir: Path, database: str | None = None, tls: str = "--self-signed"):
        self.data_dir = Path(data_dir)
        self.database = database
        self.tls = tls
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.log_path = self.data_dir / "server.log"
        self.cwd = REPO  # the code that ``python -m`` runs (bench_ingest --baseline: another copy)

    def start(self, timeout: float = 60) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        ready = self.data_dir / "ready"
        ready.unlink(missing_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "printerhq.server",
            "serve",
            "--data-dir",
            str(self.data_dir),
            "--port",
            "0",
            self.tls,
            "--ready-file",
            str(ready),
        ]
        if self.database:
            cmd += ["--database", self.database]
        with open(self.log_path, "ab") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=self.cwd)
        deadline = time.monotonic() + timeout
        while not ready.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError("server did not start")
            time.sleep(0.05)
        self.url = ready.read_text().strip()
        return self.url

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def admin(self, *args: str) -> str:
        cmd = [
            sys.executable,
            "-m",
            "printerhq.server",
            "server",
            *args,
            "--data-dir",
            str(self.data_dir),
        ]
        if self.database:
            cmd += ["--database", self.database]
        return subprocess.run(
            cmd, check=True, capture_output=True, text=True, cwd=REPO, timeout=60
        ).stdout.strip()

    @property
    def certfile(self) -> Path:
        return self.data_dir / "server-cert.pem"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def new_token() -> str:
    return secrets.token_urlsafe(32)


# --------------------------------------------------------------------------------------------
# TCP proxy
# --------------------------------------------------------------------------------------------
def _segments(sock) -> int:
    """tcpi_segs_out + tcpi_segs_in from Linux ``struct tcp_info`` (offsets 136 and 140)."""
    import socket as _socket
    import struct

    try:
        info = sock.getsockopt(_socket.IPPROTO_TCP, _socket.TCP_INFO, 256)
    except OSError:
        return 0
    if len(info) < 144:
        return 0
    segs_out, segs_in = struct.unpack_from("II", info, 136)
    return segs_out + segs_in


class TcpProxy:
    """A loopback TCP relay with byte counters and fault injection.
    Run ``await nursery.start(proxy.serve)``."""

    def __init__(self, upstream_port: int, *, refuse_upgrade: bool = False):
        self.upstream_port = upstream_port
        self.refuse_upgrade = refuse_upgrade
        self.port = 0
        self.up_bytes = 0  # agent -> server
        self.down_bytes = 0  # server -> agent
        self.connections = 0
        self._cut = False
        self._scopes: set[trio.CancelScope] = set()
        self._open_sockets: set = set()
        self._closed_segments = 0
        self._final_segments: dict = {}

    @property
    def total_bytes(self) -> int:
        return self.up_bytes + self.down_bytes

    def segments(self) -> int:
        """TCP segments both ways on the agent-side connections (SYN, FIN and bare ACKs
        included), from the kernel's TCP_INFO; ``wire_bytes`` adds their headers."""
        total = self._closed_segments
        for sock in self._open_sockets:
            total += _segments(sock)
        return total

    def wire_bytes(self, header: int = 66) -> int:
        """Payload plus Ethernet (14) + IPv4 (20) + TCP with timestamps (32) per segment."""
        return self.total_bytes + header * self.segments()

    def cut(self) -> None:
        """Drop every open connection and refuse new ones."""
        self._cut = True
        for scope in list(self._scopes):
            scope.cancel()

    def restore(self, upstream_port: int | None = None) -> None:
        if upstream_port is not None:
            self.upstream_port = upstream_port
        self._cut = False

    async def serve(self, task_status=trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        task_status.started(self.port)
        await trio.serve_listeners(self._handle, listeners)

    async def _handle(self, client: trio.SocketStream) -> None:
        self._open_sockets.add(client.socket)
        try:
            await self._relay(client)
        finally:
            self._open_sockets.discard(client.socket)
            self._closed_segments += self._final_segments.pop(client.socket, 0)

    async def _relay(self, client: trio.SocketStream) -> None:
        async with client:
            if self._cut:
                return
            with trio.CancelScope() as scope:
                self._scopes.add(scope)
                try:
                    try:
                        upstream = await trio.open_tcp_stream("127.0.0.1", self.upstream_port)
                    except OSError:
                        return
                    self.connections += 1
                    async with upstream, trio.open_nursery() as nursery:
                        nursery.start_soon(self._pipe, client, upstream, "up", nursery)
                        nursery.start_soon(self._pipe, upstream, client, "down", nursery)
                finally:
                    self._scopes.discard(scope)
                    self._final_segments[client.socket] = _segments(client.socket)

    async def _pipe(self, source, sink, direction: str, nursery) -> None:
        first = True
        try:
            while True:
                data = await source.receive_some(65536)
                if not data:
                    break
                if (
                    first
                    and direction == "up"
                    and self.refuse_upgrade
                    and b"\r\nupgrade: websocket" in data.lower()
                ):
                    await source.send_all(
                        b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                    break
                first = False
                if direction == "up":
                    self.up_bytes += len(data)
                else:
                    self.down_bytes += len(data)
                await sink.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        nursery.cancel_scope.cancel()
