"""Agents for the client's tests: a responder on our codec, and real net-snmp / snmpsim agents.

Everything listens on 127.0.0.1 at a port chosen at run time (other test runs share the
machine). Real agents are started as subprocesses and always stopped; if a binary is missing
the helpers raise ``pytest.skip`` with the package to install.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from bisect import bisect_right
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio

from printerhq.snmp.ber import SnmpDecodeError, Tag, parse_oid
from printerhq.snmp.message import (
    Message,
    Pdu,
    PduType,
    Varbind,
    Version,
    decode_message,
    encode_message,
)

Oid = tuple[int, ...]
LOOPBACK = "127.0.0.1"


# --------------------------------------------------------------------------------------------
# A table-driven agent on our own codec (sans-IO) and a UDP responder to run it


class TableAgent:
    """Answers GET/GETNEXT/GETBULK from a sorted table, in v1 or v2c semantics.

    ``communities`` maps each accepted community to the versions it may be used with; any
    other request is silently dropped, like net-snmp does (RFC 3584 section 4.2.3).
    """

    def __init__(
        self, table: Iterable[Varbind], communities: dict[bytes, set[Version]] | None = None
    ) -> None:
        self.table = {vb.oid: vb for vb in table}
        self.oids = sorted(self.table)
        self.communities = communities or {b"public": {Version.V1, Version.V2C}}

    def next_of(self, oid: Oid) -> Varbind | None:
        index = bisect_right(self.oids, oid)
        return self.table[self.oids[index]] if index < len(self.oids) else None

    def respond(self, data: bytes) -> bytes | None:
        try:
            message = decode_message(data)
        except SnmpDecodeError:
            return None
        if message.version not in self.communities.get(message.community, set()):
            return None
        pdu = message.pdu
        v1 = message.version == Version.V1
        out: list[Varbind] = []
        error_status = error_index = 0
        if pdu.type == PduType.GET:
            for index, vb in enumerate(pdu.varbinds, 1):
                found = self.table.get(vb.oid)
                if found is None and v1:
                    error_status, error_index = 2, index
                    break
                out.append(found or Varbind(vb.oid, Tag.NO_SUCH_OBJECT))
        elif pdu.type == PduType.GET_NEXT:
            for index, vb in enumerate(pdu.varbinds, 1):
                found = self.next_of(vb.oid)
                if found is None and v1:
                    error_status, error_index = 2, index
                    break
                out.append(found or Varbind(vb.oid, Tag.END_OF_MIB_VIEW))
        elif pdu.type == PduType.GET_BULK:
            non_repeaters = max(0, min(pdu.non_repeaters, len(pdu.varbinds)))
            for vb in pdu.varbinds[:non_repeaters]:
                out.append(self.next_of(vb.oid) or Varbind(vb.oid, Tag.END_OF_MIB_VIEW))
            cursors = [vb.oid for vb in pdu.varbinds[non_repeaters:]]
            for _ in range(max(0, pdu.max_repetitions)):
                if not cursors:
                    break
                for i, oid in enumerate(cursors):
                    found = self.next_of(oid) or Varbind(oid, Tag.END_OF_MIB_VIEW)
                    out.append(found)
                    cursors[i] = found.oid
                if len(out) > 1000:
                    break
        else:
            return None
        if error_status:
            out = list(pdu.varbinds)
        reply = Pdu(PduType.RESPONSE, pdu.request_id, error_status, error_index, out)
        return encode_message(Message(message.version, message.community, reply))


Handler = Callable[[bytes, tuple], Iterable[bytes]]


@dataclass
class Responder:
    host: str
    port: int
    sock: trio.socket.SocketType
    received: int = 0


def _big_buffers(sock: trio.socket.SocketType) -> None:
    for option in (getattr(socket, "SO_RCVBUFFORCE", 33), socket.SO_RCVBUF):  # 33: Linux
        if option is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, option, 16 * 1024 * 1024)
                break
            except OSError:
                continue


@asynccontextmanager
async def udp_responder(
    handler: Handler | TableAgent, host: str = LOOPBACK
) -> AsyncIterator[Responder]:
    """Serve ``handler(datagram, peer) -> replies`` on a fresh UDP port of ``host``."""
    if isinstance(handler, TableAgent):
        agent = handler

        def handler(data: bytes, peer: tuple) -> Iterable[bytes]:
            reply = agent.respond(data)
            return [reply] if reply is not None else []

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = trio.socket.socket(family, socket.SOCK_DGRAM)
    _big_buffers(sock)
    await sock.bind((host, 0))
    info = Responder(host, sock.getsockname()[1], sock)

    async def serve() -> None:
        while True:
            data, peer = await sock.recvfrom(65535)
            info.received += 1
            for reply in handler(data, peer):
                await sock.sendto(reply, peer)

    with sock:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve)
            try:
                yield info
            finally:
                nursery.cancel_scope.cancel()


def sample_table(rows: int = 50) -> list[Varbind]:
    """A small MIB: system group scalars and a Printer-MIB-like table of supplies."""
    table = [
        Varbind((1, 3, 6, 1, 2, 1, 1, 1, 0), Tag.OCTET_STRING, b"Test Printer 9000"),
        Varbind((1, 3, 6, 1, 2, 1, 1, 2, 0), Tag.OBJECT_IDENTIFIER, (1, 3, 6, 1, 4, 1, 11)),
        Varbind((1, 3, 6, 1, 2, 1, 1, 3, 0), Tag.TIMETICKS, 123456),
        Varbind((1, 3, 6, 1, 2, 1, 1, 5, 0), Tag.OCTET_STRING, b"printer-1"),
    ]
    for index in range(1, rows + 1):
        table.append(
            Varbind(
                (1, 3, 6, 1, 2, 1, 43, 11, 1, 1, 6, 1, index),
                Tag.OCTET_STRING,
                f"Toner {index}".encode(),
            )
        )
        table.append(
            Varbind((1, 3, 6, 1, 2, 1, 43, 11, 1, 1, 9, 1, index), Tag.INTEGER, index * 10 - 3)
        )
    table.append(Varbind((1, 3, 6, 1, 2, 1, 43, 10, 2, 1, 4, 1, 1), Tag.COUNTER32, 987654))
    return table


# --------------------------------------------------------------------------------------------
# Real agents


def require_binary(name: str, package: str) -> str:
    # Also look beside the running interpreter: a virtualenv's scripts (snmpsim) live there
    # even when the venv is not on PATH.
    path = shutil.which(name) or shutil.which(
        name, path=os.pathsep.join([str(Path(sys.executable).parent), "/usr/sbin", "/sbin"])
    )
    if path is None:
        pytest.skip(f"{name} not found: install {package} to run this interoperability test")
    return path


def free_udp_port(host: str = LOOPBACK) -> int:
    """A UDP port that was free a moment ago (the agent binds it right after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _answers(port: int, community: bytes, version: Version = Version.V2C) -> bool:
    request = encode_message(
        Message(
            version,
            community,
            Pdu(PduType.GET, 0x1234567, 0, 0, [Varbind((1, 3, 6, 1, 2, 1, 1, 1, 0))]),
        )
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.settimeout(0.3)
        probe.sendto(request, (LOOPBACK, port))
        try:
            probe.recvfrom(65535)
        except (TimeoutError, OSError):
            return False
    return True


def _wait_until_answering(
    process: subprocess.Popen, port: int, community: bytes, what: str, seconds: float, log: Path
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"{what} exited with {process.returncode}: "
                f"{log.read_text(errors='replace')[-2000:]}"
            )
        if _answers(port, community):
            return
    raise RuntimeError(
        f"{what} did not answer on port {port} within {seconds} s: "
        f"{log.read_text(errors='replace')[-2000:]}"
    )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


SNMPD_SYSTEM = {
    "sysContact": b"ops@example.test",
    "sysName": b"printerhq-test",
    "sysLocation": b"Lab rack 3",
}


@contextmanager
def run_snmpd(directory: Path, community: str = "public") -> Iterator[int]:
    """net-snmp snmpd on 127.0.0.1:<free port>, read-only ``community`` for v1 and v2c."""
    snmpd = require_binary("snmpd", "the Debian package 'snmpd'")
    port = free_udp_port()
    config = directory / "snmpd.conf"
    config.write_text(
        f"agentaddress udp:{LOOPBACK}:{port}\n"
        f"rocommunity {community} {LOOPBACK}\n"
        f"sysContact {SNMPD_SYSTEM['sysContact'].decode()}\n"
        f"sysName {SNMPD_SYSTEM['sysName'].decode()}\n"
        f"sysLocation {SNMPD_SYSTEM['sysLocation'].decode()}\n"
    )
    log = directory / "snmpd.log"
    env = dict(os.environ, SNMP_PERSISTENT_DIR=str(directory / "persist"), MIBS="")
    with log.open("wb") as out:
        # -f foreground, -Lo log to stdout, -C only our config, -r don't check root files.
        process = subprocess.Popen(
            [snmpd, "-f", "-Lo", "-C", "-r", "-c", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        _wait_until_answering(process, port, community.encode(), "snmpd", 15, log)
        yield port
    finally:
        _stop(process)


SNMPREC_SAMPLE = """\
1.3.6.1.2.1.1.1.0|4|Simulated Printer ZX-1
1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.2435.2.3.9.1
1.3.6.1.2.1.1.3.0|67|424242
1.3.6.1.2.1.1.5.0|4|zx1-lab
1.3.6.1.2.1.25.3.2.1.3.1|4|ZX-1 Series
1.3.6.1.2.1.43.5.1.1.17.1|4|SN0012345
1.3.6.1.2.1.43.10.2.1.4.1.1|65|81234
1.3.6.1.2.1.43.11.1.1.6.1.1|4|Black Toner Cartridge
1.3.6.1.2.1.43.11.1.1.6.1.2|4x|4379616e20546f6e6572
1.3.6.1.2.1.43.11.1.1.8.1.1|2|3000
1.3.6.1.2.1.43.11.1.1.8.1.2|2|-2
1.3.6.1.2.1.43.11.1.1.9.1.1|2|1500
1.3.6.1.2.1.43.11.1.1.9.1.2|2|-3
1.3.6.1.2.1.43.11.1.1.9.1.3|66|4294967295
1.3.6.1.4.1.2435.2.3.9.4.2.1.5.5.1.0|64|127.0.0.1
1.3.6.1.4.1.2435.2.3.9.4.2.1.5.5.8.0|70|18446744073709551615
"""


def fixture_recordings() -> list[Path]:
    """The project's fixtures/*.snmprec (may be empty)."""
    return sorted((Path(__file__).parent.parent / "fixtures").glob("*.snmprec"))


def realdata_recordings() -> list[Path]:
    """Real printer recordings from ../shared/realdata (LibreNMS, GPL-3.0), if present."""
    folder = Path(__file__).resolve().parent.parent.parent / "shared" / "realdata" / "librenms"
    return sorted(folder.glob("*.snmprec")) if folder.is_dir() else []


@contextmanager
def run_snmpsim(
    directory: Path, recordings: list[Path] | None = None
) -> Iterator[tuple[int, dict[str, Path]]]:
    """snmpsim-command-responder on 127.0.0.1:<free port> serving ``recordings``.

    Without recordings it serves :data:`SNMPREC_SAMPLE` as community ``public``. snmpsim
    serves each file under the community named after it; yields (port, {community: file}).
    snmpsim refuses to run as root unless SNMPSIM_ALLOW_ROOT is set, and writes its
    indexes to --cache-dir.
    """
    binary = require_binary("snmpsim-command-responder", "snmpsim (pip install snmpsim)")
    data = directory / "data"
    data.mkdir(exist_ok=True)
    communities: dict[str, Path] = {}
    if recordings:
        for source in recordings:
            copy = data / source.name
            shutil.copyfile(source, copy)
            communities[copy.stem] = copy
    else:
        copy = data / "public.snmprec"
        copy.write_text(SNMPREC_SAMPLE)
        communities["public"] = copy
    port = free_udp_port()
    cache = directory / "cache"
    cache.mkdir(exist_ok=True)
    log = directory / "snmpsim.log"
    env = dict(os.environ, SNMPSIM_ALLOW_ROOT="true")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                binary,
                f"--data-dir={data}",
                f"--cache-dir={cache}",
                f"--agent-udpv4-endpoint={LOOPBACK}:{port}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        _wait_until_answering(process, port, next(iter(communities)).encode(), "snmpsim", 90, log)
        yield port, communities
    finally:
        _stop(process)


# --------------------------------------------------------------------------------------------
# net-snmp command-line tools, and their output as our Varbinds

NET_SNMP_FORMAT = ["-m", "", "-On", "-Oe", "-Ox", "-t", "2", "-r", "1"]

_EXCEPTIONS = {
    "No Such Object available on this agent at this OID": Tag.NO_SUCH_OBJECT,
    "No Such Instance currently exists at this OID": Tag.NO_SUCH_INSTANCE,
    "No more variables left in this MIB View (It is past the end of the MIB tree)": (
        Tag.END_OF_MIB_VIEW
    ),
}
_LINE = re.compile(r"^(\.[0-9.]+) = ", re.M)


def net_snmp(tool: str, version: str, community: str, port: int, *args: str) -> list[Varbind]:
    """Run ``snmpget``/``snmpbulkwalk``/... and parse its ``-On -Oe -Ox`` output."""
    varbinds, stderr = net_snmp_run(tool, version, community, port, *args)
    if stderr and not varbinds:
        raise RuntimeError(f"{tool} failed: {stderr}")
    return varbinds


def net_snmp_run(
    tool: str, version: str, community: str, port: int, *args: str
) -> tuple[list[Varbind], str]:
    """Like :func:`net_snmp`, also returning stderr (where "Timeout: No Response" goes)."""
    binary = require_binary(tool, "the Debian package 'snmp'")
    completed = subprocess.run(
        [binary, *NET_SNMP_FORMAT, "-v", version, "-c", community, f"{LOOPBACK}:{port}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, MIBS=""),
    )
    return parse_net_snmp(completed.stdout), completed.stderr.strip()


def parse_net_snmp(text: str) -> list[Varbind]:
    # snmpwalk -v1 ends with "End of MIB" when the agent says noSuchName past the last object.
    text = re.sub(r"^End of MIB$", "", text, flags=re.M)
    starts = list(_LINE.finditer(text))
    varbinds = []
    for index, match in enumerate(starts):
        end = starts[index + 1].start() if index + 1 < len(starts) else len(text)
        value = text[match.end() : end].strip()
        varbinds.append(_parse_value(parse_oid(match.group(1)), value))
    return varbinds


def _parse_value(oid: Oid, text: str) -> Varbind:
    if text in _EXCEPTIONS:
        return Varbind(oid, _EXCEPTIONS[text])
    if text == '""':
        return Varbind(oid, Tag.OCTET_STRING, b"")
    if text == "NULL":
        return Varbind(oid, Tag.NULL)
    kind, _, rest = text.partition(": ")
    if kind == "Hex-STRING":
        return Varbind(oid, Tag.OCTET_STRING, bytes.fromhex(rest.replace("\n", " ")))
    if kind == "STRING":  # printable strings despite -Ox (net-snmp prints some that way)
        return Varbind(oid, Tag.OCTET_STRING, rest.strip('"').encode())
    if kind == "INTEGER":
        return Varbind(oid, Tag.INTEGER, int(rest))
    if kind == "OID":
        return Varbind(oid, Tag.OBJECT_IDENTIFIER, parse_oid(rest))
    if kind == "Timeticks":
        return Varbind(oid, Tag.TIMETICKS, int(rest.split(")")[0].lstrip("(")))
    if kind in ("Counter32", "Gauge32", "Counter64"):
        tag = {"Counter32": Tag.COUNTER32, "Gauge32": Tag.GAUGE32, "Counter64": Tag.COUNTER64}[kind]
        return Varbind(oid, tag, int(rest))
    if kind in ("IpAddress", "Network Address"):
        return Varbind(oid, Tag.IP_ADDRESS, socket.inet_aton(rest.strip()))
    if kind == "Opaque":
        return Varbind(oid, Tag.OPAQUE, bytes.fromhex(rest.replace("\n", " ")))
    raise ValueError(f"cannot parse net-snmp value {text!r} for {oid}")


def comparable(varbinds: Iterable[Varbind]) -> list[Varbind]:
    """Varbinds with values that change by the second (TimeTicks, counters) blanked."""
    volatile = {Tag.TIMETICKS, Tag.COUNTER32, Tag.COUNTER64}
    return [Varbind(vb.oid, vb.tag, None) if vb.tag in volatile else vb for vb in varbinds]


def walk_rows(varbinds: list[Varbind]) -> list[Varbind]:
    """net-snmp's walk output without the trailing endOfMibView lines.

    When a walk runs off the end of the agent's MIB, snmpbulkwalk prints every endOfMibView
    varbind of the last GETBULK response; those are not rows, and our walk ends there.
    """
    rows = list(varbinds)
    while rows and rows[-1].tag == Tag.END_OF_MIB_VIEW:
        rows.pop()
    return rows


def ANY_OID(oid: object) -> bool:
    """``SnmpClient(allowed=ANY_OID)``: for tests of the protocol itself, which walk whole MIBs;
    the privacy allow-list has its own tests (tests/test_privacy.py)."""
    return True
