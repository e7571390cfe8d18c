"""Seed corpora for the fuzz targets, built at run time from real data.

SNMP replies and requests are the exchanges of a real collection (``collect_in_process``, every
request and reply encoded and decoded) against the simulator serving each recording: our
fixtures and, when present, the LibreNMS recordings in ``../shared/realdata`` (read here, never
copied into the repository). Upload batches are the reports those collections produce; traps,
v3 messages, ICMP packets, EWS pages, control messages, configurations and target lists are
built with our own encoders from the same kind of values the tests use.
"""

from __future__ import annotations

import functools
import os
import re
import zlib
from collections.abc import Iterator
from pathlib import Path

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from printerhq import control, release, wire
from printerhq.agent.example import EXAMPLE_CONFIG
from printerhq.collect import DeviceCache, collect_in_process
from printerhq.icmp import encode_echo_request, internet_checksum
from printerhq.mib import DISCOVERY_OIDS, identify
from printerhq.mib.alerts import PRINTER_V2_ALERT
from printerhq.model import DeviceReport
from printerhq.sim.agent import Agent
from printerhq.sim.recording import Recording
from printerhq.snmp.ber import Tag
from printerhq.snmp.message import Message, Pdu, PduType, Varbind, Version, encode_message
from printerhq.snmp.trap import (
    SNMP_TRAP_OID_0,
    SYS_UPTIME_0,
    TrapV1Message,
    TrapV1Pdu,
    encode_trap_v1,
)
from printerhq.snmp.usm import AuthProtocol, PrivProtocol, UsmSession, UsmUser

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
# PRINTERHQ_REALDATA overrides; absent, the fuzz job seeds from the fixtures alone.
REALDATA = Path(os.environ.get("PRINTERHQ_REALDATA", ROOT.parent / "shared" / "realdata"))

# The SNMPv3 users of the usm and trap targets (passphrases are test values).
AGENT_ENGINE = bytes.fromhex("80001f8880e9630000d61ff449")
SENDER_ENGINE = bytes.fromhex("8000000001020304")
OUR_ENGINE = bytes.fromhex("80000000050a0b0c0d0e0f")
USERS = (
    UsmUser("noauth"),
    UsmUser("authsha256", AuthProtocol.SHA256, "auth-pass-phrase"),
    UsmUser("shaaes", AuthProtocol.SHA, "auth-pass-phrase", PrivProtocol.AES, "priv-pass-phrase"),
    UsmUser("md5des", AuthProtocol.MD5, "auth-pass-phrase", PrivProtocol.DES, "priv-pass-phrase"),
)


class FixedClock:
    """A clock that stands still, so a fuzz input gives the same result every time."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def recording_paths(realdata: bool = True) -> list[Path]:
    paths = sorted(FIXTURES.glob("*.snmprec"))
    librenms = REALDATA / "librenms"
    if realdata and librenms.is_dir():
        paths += sorted(librenms.glob("*.snmprec")) + sorted(librenms.glob("*/*.snmprec"))
    return paths


def _collect(path: Path, version: Version) -> tuple[list[bytes], DeviceReport | None]:
    recording = Recording.load(path, strict=False)
    agent = Agent(recording, versions=(Version.V1, Version.V2C))
    identity = identify("127.0.0.1", [recording.get(o) for o in DISCOVERY_OIDS])
    exchanged: list[bytes] = []

    def tap(request: bytes) -> bytes | None:
        exchanged.append(request)
        reply = agent.respond(request)
        if reply is not None:
            exchanged.append(reply)
        return reply

    try:
        report = collect_in_process(identity, tap, DeviceCache(), version=version, now=0.0)
    except Exception:  # a recording the collector cannot finish still gave its exchanges
        report = None
    return exchanged, report


@functools.cache
def _collections(realdata: bool) -> tuple[tuple[bytes, ...], tuple[DeviceReport, ...]]:
    messages: list[bytes] = []
    reports: list[DeviceReport] = []
    for path in recording_paths(realdata):
        for version in (Version.V2C, Version.V1):
            exchanged, report = _collect(path, version)
            messages += exchanged
            if report is not None:
                reports.append(report)
    return tuple(dict.fromkeys(messages)), tuple(reports)


def snmp_messages(realdata: bool = True) -> list[bytes]:
    """Every request and reply of a v2c and a v1 collection of every recording."""
    return list(_collections(realdata)[0])


def device_reports(realdata: bool = True) -> list[DeviceReport]:
    return list(_collections(realdata)[1])


def _notification_pdu(pdu_type: PduType, request_id: int = 77) -> Pdu:
    return Pdu(
        pdu_type,
        request_id,
        varbinds=[
            Varbind(SYS_UPTIME_0, Tag.TIMETICKS, 500),
            Varbind(SNMP_TRAP_OID_0, Tag.OBJECT_IDENTIFIER, PRINTER_V2_ALERT),
            Varbind((1, 3, 6, 1, 2, 1, 43, 18, 1, 1, 7, 1, 1), Tag.INTEGER, 8),
            Varbind((1, 3, 6, 1, 2, 1, 43, 18, 1, 1, 8, 1, 1), Tag.OCTET_STRING, b"Toner low"),
        ],
    )


def v3_session(
    user: UsmUser, engine_id: bytes, boots: int = 3, engine_time: int = 100
) -> UsmSession:
    session = UsmSession(user, clock=FixedClock())
    session.set_engine(engine_id, boots, engine_time)
    return session


def v3_messages(engine_id: bytes, pdu_types: tuple[PduType, ...]) -> list[bytes]:
    """Messages of every user and security level, as an authoritative engine ``engine_id``
    encodes them (a v3 agent's responses and reports, a trap sender's notifications)."""
    out = [UsmSession(USERS[0], clock=FixedClock()).discovery_request(1)]
    for user in USERS:
        session = v3_session(user, engine_id)
        for pdu_type in pdu_types:
            out.append(session.encode_request(_notification_pdu(pdu_type, 4242)))
        report = Pdu(
            PduType.REPORT,
            0,
            varbinds=[Varbind((1, 3, 6, 1, 6, 3, 15, 1, 1, 4, 0), Tag.COUNTER32, 7)],
        )
        out.append(session.encode_request(report, msg_id=4242))
        if user.priv_protocol is not PrivProtocol.NONE:
            out.append(session.privacy_probe_request(4243))
    return out


def trap_messages() -> list[bytes]:
    out = [
        encode_trap_v1(
            TrapV1Message(
                b"public", TrapV1Pdu((1, 3, 6, 1, 4, 1, 11), b"\x7f\x00\x00\x01", 6, 1, 12345)
            )
        )
    ]
    for version in (Version.V2C, Version.V1):
        for pdu_type in (PduType.TRAP_V2, PduType.INFORM):
            if version == Version.V1 and pdu_type is PduType.INFORM:
                continue
            try:
                out.append(encode_message(Message(version, b"public", _notification_pdu(pdu_type))))
            except ValueError:  # Trap-PDU v2 does not exist in SNMPv1
                pass
    out += v3_messages(SENDER_ENGINE, (PduType.TRAP_V2, PduType.INFORM))
    out += v3_messages(OUR_ENGINE, (PduType.INFORM,))
    return out


def usm_messages() -> list[bytes]:
    return v3_messages(AGENT_ENGINE, (PduType.RESPONSE,)) + [
        m for m in snmp_messages(realdata=False)[:40]
    ]


def icmp_packets() -> list[bytes]:
    """Echo replies and ICMP errors quoting our echo requests, bare and behind an IPv4 header."""
    out: list[bytes] = []
    for v6 in (False, True):
        request = encode_echo_request(0x1234, 7, b"printerhq", v6=v6)
        reply = bytearray(request)
        reply[0] = 129 if v6 else 0
        reply[2:4] = b"\x00\x00"
        if not v6:
            checksum = internet_checksum(bytes(reply))
            reply[2:4] = checksum.to_bytes(2, "big")
        out.append(bytes(reply))
        if v6:
            ip6 = bytes([0x60, 0, 0, 0, 0, len(request), 58, 64]) + bytes(15) + b"\x01"
            ip6 += bytes.fromhex("20010db8000000000000000000000007")
            error = bytearray([1, 3, 0, 0, 0, 0, 0, 0]) + ip6 + request
        else:
            ip4 = bytes([0x45, 0, 0, 28 + len(request), 0, 0, 0, 0, 64, 1, 0, 0])
            ip4 += bytes([127, 0, 0, 1, 192, 0, 2, 7])
            error = bytearray([3, 1, 0, 0, 0, 0, 0, 0]) + ip4 + request
            error[2:4] = internet_checksum(bytes(error)).to_bytes(2, "big")
            header = bytes([0x45, 0, 0, 20 + len(reply), 0, 0, 0, 0, 64, 1, 0, 0])
            header += bytes([127, 0, 0, 1, 127, 0, 0, 1])
            out += [header + reply, header + bytes(error)]
        out.append(bytes(error))
    return out


def http_inputs() -> list[bytes]:
    """Content-Type line, Server line, Location line, then the page (targets.http_target)."""
    from tests.helpers_ews import NOT_PRINTERS, SAMPLES

    pages = [(s.server, s.html) for s in SAMPLES] + list(NOT_PRINTERS)
    out = []
    for server, html in pages:
        for charset in ("utf-8", "iso-8859-1"):
            head = f"text/html; charset={charset}\n{server or ''}\n/index.html\n"
            out.append(head.encode() + html.encode(charset, "replace"))
    return out


def _batch(reports: list[DeviceReport], number: int) -> bytes:
    encoded = [msgspec.msgpack.encode(r) for r in reports]
    return wire.encode(wire.raw_batch(f"seed-{number}", "agent-1", encoded))


def ingest_inputs(realdata: bool = True) -> list[bytes]:
    """Batches of real collection reports (1, 3 and 10 a batch), raw and zlib-compressed, and
    the wire fixture."""
    reports = device_reports(realdata)
    batches = [(FIXTURES / "wire" / "batch-v1.msgpack").read_bytes()]
    for size in (1, 3, 10):
        for start in range(0, len(reports), size):
            batches.append(_batch(reports[start : start + size], len(batches)))
    # Mode byte first (see targets.ingest_target): 0 raw msgpack, 1 zlib body, 2 compress here.
    out = [b"\x00" + b for b in batches] + [b"\x02" + b for b in batches[:20]]
    out += [b"\x01" + zlib.compress(b) for b in batches[:20]]
    return out


def control_inputs() -> list[bytes]:
    status = control.Status(
        state="running",
        cycle=3,
        last=control.CycleStatus(
            time=1.7e9, kind="warm", duration=2.5, printers=4, error_samples=["10.0.0.9: timeout"]
        ),
    )
    messages = [
        control.Hello(version="0.1.0", remote_config=True, config_version=2),
        status,
        control.ConfigResult(version=2, outcome="rejected", reason="scan[0].interval: too short"),
        control.ConfigPush(version=3, document='[[scan]]\ntargets = ["192.0.2.0/24"]\n'),
    ]
    out = [control.encode(m).encode() for m in messages]
    out.append(b'{"version":"0.2.0","outcome":"refused","kind":"signature","reason":"bad"}')
    manifest = release.Manifest(
        name="printerhq",
        version="0.2.0",
        wheel="printerhq-0.2.0-py3-none-any.whl",
        sha256="ab" * 32,
        size=123456,
        created=1.7e9,
        requires_python=">=3.11",
    )
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    out.append(release.encode_manifest(manifest))
    out.append(release.encode_signed(release.sign(manifest, key)))
    return out


def _toml_blocks(path: Path) -> Iterator[str]:
    if path.is_file():
        yield from re.findall(r"```toml\n(.*?)```", path.read_text(), re.S)


def config_inputs() -> list[bytes]:
    docs = ROOT / "docs"
    texts = [EXAMPLE_CONFIG]
    for page in ("agent.md", "traps.md", "server.md"):
        texts += list(_toml_blocks(docs / page))
    texts.append(
        '[server]\nurl = "https://hq.example:8443"\ntoken_file = "t"\n'
        '[[scan]]\ntargets = ["192.0.2.0/24", "!192.0.2.128/25"]\ninterval = "15m"\n'
        '[traps]\nenabled = true\nlisten = "127.0.0.1:1162"\nengine_id = "80000000050a0b0c0d"\n'
    )
    texts.append('[[scan]]\ntargets = ["198.51.100.0/24"]\ninterval = "1h"\ntimeout = "2s"\n')
    return [t.encode() for t in texts]


def target_inputs() -> list[bytes]:
    texts = [
        "10.0.0.7 2001:db8::7",
        "10.0.0.0/24, 2001:db8::/120",
        "10.0.0.1-10.0.3.254 10.0.0.1-254 10.0.0.1-3.254",
        "printer.example !10.0.3.0/24 10.0.0.0/16",
        "# a comment\n192.0.2.1\t192.0.2.9-12 !192.0.2.10\n",
        "2001:db8::1-2001:db8::ff !2001:db8::80",
        "@more-targets.txt",
        "fe80::1%eth0 ::ffff:10.0.0.1 10.0.0.9/24",
    ]
    page = ROOT / "docs" / "targets.md"
    if page.is_file():
        texts += re.findall(r"`([^`\n]{1,80})`", page.read_text())
    return [t.encode() for t in dict.fromkeys(texts)]
