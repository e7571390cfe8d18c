"""The fuzz targets: each feeds one input to the real entry points of one parser.

A target's ``run(data)`` calls what the callers call, and catches exactly what those callers
catch (read from the call sites, cited per target). Anything else escaping ``run`` is a
**crash**: the caller would not catch it either, so on a real device or agent it would end a
scan task, a receive loop or a request with a traceback. A target may also check a property
(e.g. decode-encode-decode gives the same message); a violation raises :class:`Finding`, which
counts as a crash too. A **hang** is one input running longer than the job's ``--hang-seconds``
(libFuzzer's ``-timeout``).

Some inputs start with a *mode* byte that lets the fuzzer past a checksum it cannot guess
(HMAC of an SNMPv3 message, the ICMP checksum, zlib framing): the target recomputes it, so the
code behind the check is fuzzed too. docs/fuzzing.md lists the targets and their crash rules.
"""

from __future__ import annotations

import hmac
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from printerhq import control, release, wire
from printerhq.agent.config import ConfigError, parse_config, parse_remote
from printerhq.agent.update import _claimed_version
from printerhq.http import _same_host_redirect, decode_body, identify_ews
from printerhq.icmp import internet_checksum, parse_echo_reply
from printerhq.server.releases import UpdateReport
from printerhq.snmp.ber import SnmpDecodeError
from printerhq.snmp.client import SnmpError
from printerhq.snmp.credentials import Community
from printerhq.snmp.message import Version, decode_message, encode_message, peek_version
from printerhq.snmp.transport import peek_request_id
from printerhq.snmp.trap_usm import NotificationReceiverUsm, usm_error_reply
from printerhq.snmp.usm import (
    AuthProtocol,
    PrivProtocol,
    UsmError,
    UsmSession,
    encrypt_scoped_pdu,
)
from printerhq.snmp.v3 import (
    V3Message,
    decode_v3_message,
    encode_v3_message,
    peek_msg_id,
)
from printerhq.snmp.v3credential import BoundUsm, UsmCredential
from printerhq.targets import TargetError, parse_targets
from printerhq.traps import TrapOptions, TrapProcessor

from . import seeds


class Finding(AssertionError):
    """A property of the parser that does not hold for this input (counted as a crash)."""


@dataclass(frozen=True)
class Target:
    name: str
    summary: str
    run: Callable[[bytes], None]
    expected: tuple[str, ...]  # the documented errors ``run`` catches, for the docs and report
    seeds: Callable[[bool], list[bytes]]  # realdata -> seed inputs
    modules: tuple[str, ...]  # whose lines the coverage replay counts
    max_len: int = 4096
    dictionary: Callable[[], list[bytes]] = field(default=lambda: [])


# -- SNMPv1/v2c messages (printerhq/snmp/message.py, ber.py) ------------------------------------
# Callers: SnmpTransport.deliver catches SnmpDecodeError from peek_request_id; SnmpClient.exchange
# and Sweep.receive catch SnmpDecodeError from Credential.decode (a dropped datagram).

_COMMUNITIES = (Community(b"public", Version.V2C), Community(b"public", Version.V1))


def snmp_target(data: bytes) -> None:
    try:
        peek_request_id(data)
    except SnmpDecodeError:
        pass
    for community in _COMMUNITIES:
        try:
            community.decode(data)
        except SnmpDecodeError:
            pass
    try:
        message = decode_message(data)
    except SnmpDecodeError:
        return
    # What we accept we can write back, and reading that gives the same message.
    again = decode_message(encode_message(message))
    if again != message:
        raise Finding(f"decode(encode(m)) != m for {message!r}")


# -- SNMPv3 / USM, the manager side (printerhq/snmp/v3.py, usm.py, v3credential.py) ---------------
# Callers: SnmpClient.exchange catches SnmpDecodeError; BoundUsm turns UsmError into
# SnmpDecodeError (dropped) or SnmpV3Error/SnmpResynchronised (SnmpError: the request's outcome,
# handled by the scan). handle_discovery/peek_msg_id: SnmpDecodeError or UsmError.


def _resign(data: bytes, mode: int) -> bytes:
    """Mode 1: recompute the HMAC; mode 2: encrypt msgData's octets first, then the HMAC. The
    fuzzer then reaches the code behind the digest check and the decryption."""
    if mode == 0:
        return data
    try:
        message, located = decode_v3_message(data)
    except SnmpDecodeError:
        return data
    security = message.security
    user = next((u for u in seeds.USERS if u.name == security.user_name), None)
    if user is None or user.auth_protocol is AuthProtocol.NONE or not message.authenticated:
        return data
    if not 5 <= len(security.engine_id) <= 32:
        return data
    if len(security.auth_params) != user.auth_protocol.mac_length:
        return data
    if mode == 2 and message.encrypted and user.priv_protocol is not PrivProtocol.NONE:
        if len(security.priv_params) != 8:
            return data
        encrypted = encrypt_scoped_pdu(
            user.priv_protocol,
            user.priv_key(security.engine_id),
            security.engine_boots,
            security.engine_time,
            security.priv_params,
            message.encrypted_pdu or b"",
        )
        try:
            located = encode_v3_message(
                V3Message(
                    message.msg_id,
                    message.max_size,
                    message.flags,
                    security,
                    None,
                    encrypted,
                )
            )
        except ValueError:
            return data
    whole = located.data
    zeroed = (
        whole[: located.auth_start] + bytes(len(security.auth_params)) + whole[located.auth_stop :]
    )
    mac = hmac.digest(user.auth_key(security.engine_id), zeroed, user.auth_protocol.hash_name)
    return (
        zeroed[: located.auth_start]
        + mac[: len(security.auth_params)]
        + zeroed[located.auth_stop :]
    )


def usm_target(data: bytes) -> None:
    if not data:
        return
    user = seeds.USERS[data[0] % len(seeds.USERS)]
    payload = _resign(data[1:], (data[0] >> 2) % 3)
    try:
        peek_msg_id(payload)
    except SnmpDecodeError:
        pass
    clock = seeds.FixedClock()
    fresh = UsmSession(user, clock=clock)
    try:
        fresh.handle_discovery(payload)
    except (SnmpDecodeError, UsmError):
        pass
    session = UsmSession(user, clock=clock)
    session.set_engine(seeds.AGENT_ENGINE, 3, 100)
    bound = BoundUsm(UsmCredential(user, clock=clock), session, "[127.0.0.1]:161")
    try:
        bound.decode(payload)
    except (SnmpDecodeError, SnmpError):
        pass
    if user.priv_protocol is not PrivProtocol.NONE:
        try:
            bound._decode_probe(payload)
        except (SnmpDecodeError, SnmpError):
            pass


# -- Traps and informs, every version (printerhq/snmp/trap.py, trap_usm.py, traps/core.py) -------
# Caller: the receive loop calls TrapProcessor.handle, which catches SnmpDecodeError and UsmError
# itself and returns an outcome: nothing may escape handle().

_TRAP_OPTIONS = TrapOptions(enabled=True, listen="127.0.0.1:0", communities=["public"])


def trap_target(data: bytes) -> None:
    if not data:
        return
    payload = _resign(data[1:], data[0] % 3)
    usm = NotificationReceiverUsm(seeds.USERS, engine_id=seeds.OUR_ENGINE, clock=seeds.FixedClock())
    processor = TrapProcessor(_TRAP_OPTIONS, lambda _host: True, usm)
    handled = processor.handle(payload, ("127.0.0.1", 40000), 0.0, 1.7e9)
    if handled.event is not None:
        handled.event.summary()
    try:  # the codec itself, below the processor, raises only SnmpDecodeError/UsmError
        if peek_version(payload) == Version.V3:
            try:
                usm.receive(payload)
            except UsmError as exc:
                usm_error_reply(exc)
    except (SnmpDecodeError, UsmError):
        pass


# -- ICMP (printerhq/icmp.py) -------------------------------------------------------------------
# Caller: Pinger._receive_loop calls parse_echo_reply with no try: it must return None for
# anything that is not a reply to a pinger, and never raise.


def icmp_target(data: bytes) -> None:
    if not data:
        return
    packet = bytearray(data[1:])
    if data[0] & 1 and len(packet) >= 4:
        # Fix the checksum so parsing goes past it: of the ICMP message (after the IPv4 header
        # when there is one) — the raw IPv4 socket checks it (RFC 792).
        ihl = (packet[0] & 0x0F) * 4 if packet[0] >> 4 == 4 and len(packet) >= 24 else 0
        if 20 <= ihl <= len(packet) - 4:
            body = packet[ihl:]
            body[2:4] = b"\x00\x00"
            packet[ihl + 2 : ihl + 4] = internet_checksum(bytes(body)).to_bytes(2, "big")
    for raw, v6 in itertools.product((False, True), repeat=2):
        reply = parse_echo_reply(bytes(packet), raw=raw, v6=v6)
        if reply is not None and not 0 <= reply.ident <= 0xFFFF:
            raise Finding(f"ident out of range: {reply!r}")


# -- The HTTP probe's page parser (printerhq/http.py) ------------------------------------------
# Caller: probe_http catches httpx.HTTPError, OSError, ssl.SSLError, UnicodeError and ValueError
# around _fetch, which follows a same-host Location, decodes the body (decode_body) and calls
# identify_ews ("never raises on odd input"). Held stricter here: nothing may escape.

_BASE_URL = httpx.URL("http://127.0.0.1:80/")


def http_target(data: bytes) -> None:
    # Input: Content-Type line, Server line, Location line, then the body.
    parts = (data.split(b"\n", 3) + [b"", b"", b""])[:4]
    content_type, server, location = (part.decode("latin-1") for part in parts[:3])
    body = parts[3]
    _same_host_redirect(_BASE_URL, location)
    text = decode_body(body, content_type)
    headers = [(b"server", parts[1]), (b"content-type", parts[0])]
    identify_ews(200, headers, text)
    identify_ews(None, {"Server": server}, body)


# -- Ingest: upload batches (msgpack, zlib) and control messages (JSON) -------------------------
# Callers: the server's ingest_http / receive_stream catch WireError from decompress_body,
# StreamDecompressor.decompress and decode_batch (the 4xx answer); the rejection path decodes
# the batch id catching msgspec.DecodeError/ValidationError. The agent's uplink reads
# acknowledgements with decode_server_message (msgspec.DecodeError/ValidationError).


def ingest_target(data: bytes) -> None:
    if not data:
        return
    mode, payload = data[0] % 3, data[1:]
    try:
        if mode == 0:
            raw = payload
        elif mode == 1:
            raw = wire.decompress_body(payload)
        else:  # the fuzzer writes msgpack, we compress it as the agent's stream does
            raw = wire.StreamDecompressor().decompress(wire.StreamCompressor().compress(payload))
        batch = wire.decode_batch(raw)
    except wire.WireError:
        try:
            msgspec.msgpack.decode(payload, type=_BatchIdOnly)
        except (msgspec.DecodeError, msgspec.ValidationError):
            pass
        batch = None
    if batch is not None:
        # Compared encoded: a NaN field is not equal to itself.
        encoded = msgspec.msgpack.encode(batch)
        if msgspec.msgpack.encode(wire.decode_batch(encoded)) != encoded:
            raise Finding("decode_batch(encode(batch)) != batch")
    try:
        wire.decode_server_message(payload)
    except (msgspec.DecodeError, msgspec.ValidationError):
        pass


class _BatchIdOnly(msgspec.Struct):
    batch_id: str = ""


def control_target(data: bytes) -> None:
    """JSON both ways. Mode byte 1: the payload is a release manifest, signed here with the test
    key, so the fuzzer reaches what the agent parses after the signature check."""
    if not data:
        return
    mode, payload = data[0] & 1, data[1:]
    # WebSocket text frames are UTF-8 (RFC 6455 section 5.6): the control decoders get str.
    try:
        text: str | None = payload.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        try:  # caller: receive_stream catches ControlError from ControlSession.received
            control.decode_from_agent(text)
        except control.ControlError:
            pass
        try:  # caller: the agent's link catches ControlError
            control.decode_from_server(text)
        except control.ControlError:
            pass
    try:  # caller: the server's post_report answers 400 for these two
        msgspec.json.decode(payload, type=UpdateReport)
    except (msgspec.DecodeError, msgspec.ValidationError):
        pass
    # Caller: the agent's update check catches ReleaseError from decode_signed, verify, judge.
    signed: release.SignedManifest | None = None
    try:
        if mode:
            signing = _RELEASE_KEY.sign(release.SIGNING_CONTEXT + payload)
            signed = release.SignedManifest(manifest=payload, signature=signing)
        else:
            signed = release.decode_signed(payload)
        manifest = release.verify(signed, _RELEASE_KEY.public_key())
        release.judge(manifest, "0.1.0", python="3.11.7")
    except release.ReleaseError:
        pass
    else:
        return
    _claimed_version(signed)  # the refusal names the version claimed


_RELEASE_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))  # a test key


# -- The agent configuration (printerhq/agent/config.py, TOML) ----------------------------------
# Callers: `printerhq agent` catches ConfigError from load_config -> parse_config; the remote
# configuration (RemoteConfigs.apply) catches ConfigError from parse_remote.


def config_target(data: bytes) -> None:
    try:
        parse_config(data)
    except ConfigError:
        pass
    try:
        parse_remote(data)
    except ConfigError:
        pass


# -- Target lists (printerhq/targets.py): parsing only, never resolving ------------------------
# Callers: `printerhq scan` and the configuration catch TargetError; parse_targets documents
# "raises TargetError ...; nothing else". @file includes are refused (allow_files=False), so
# the fuzzer reads no file; what a spec then answers is bounded and must not raise either.


def targets_target(data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    try:
        spec = parse_targets(text, allow_files=False, max_ipv6=1 << 16)
    except TargetError:
        return
    total = spec.count()
    first = list(itertools.islice(spec.addresses(), 64))
    if len(first) > total or (total and not first and not spec.unresolved):
        raise Finding(f"count {total} but {len(first)} addresses")
    for address in first[:8]:
        if address not in spec:
            raise Finding(f"{address} listed but not contained")
    list(itertools.islice(spec.ranges(), 64))


def _codec_names() -> list[bytes]:
    import encodings.aliases

    names = set(encodings.aliases.aliases) | set(encodings.aliases.aliases.values())
    return sorted(f"charset={n}".encode() for n in names)


def _config_keys() -> list[bytes]:
    from printerhq.agent import config as module

    keys: set[str] = set()
    for name in dir(module):
        value = getattr(module, name)
        if isinstance(value, type) and issubclass(value, msgspec.Struct):
            keys.update(f.encode_name for f in msgspec.structs.fields(value))
    return sorted(k.encode() for k in keys) + [b"[[scan]]", b"[traps]", b"[site]", b"true", b'"1s"']


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target(
            "snmp",
            "SNMPv1/v2c message decoder: peek_request_id, Community.decode, decode_message "
            "(+ decode/encode round trip)",
            snmp_target,
            ("SnmpDecodeError",),
            seeds.snmp_messages,
            ("printerhq.snmp.ber", "printerhq.snmp.message", "printerhq.snmp.transport"),
            max_len=2048,
        ),
        Target(
            "usm",
            "SNMPv3 manager side: peek_msg_id, discovery, BoundUsm.decode (USM parameters, "
            "HMAC, time window, decryption, reports), privacy probe",
            usm_target,
            ("SnmpDecodeError", "UsmError", "SnmpError (SnmpV3Error, SnmpResynchronised)"),
            lambda realdata: [
                bytes([user | mode << 2]) + m
                for user in range(len(seeds.USERS))
                for mode in range(3)
                for m in seeds.usm_messages()
            ],
            (
                "printerhq.snmp.v3",
                "printerhq.snmp.usm",
                "printerhq.snmp.v3credential",
                "printerhq.snmp.ber",
                "printerhq.snmp.message",
            ),
            max_len=2048,
        ),
        Target(
            "trap",
            "Trap receiver: TrapProcessor.handle on v1/v2c traps, informs and v3 (USM) "
            "notifications",
            trap_target,
            ("(handled inside TrapProcessor.handle)",),
            lambda realdata: [bytes([k]) + m for m in seeds.trap_messages() for k in (0, 1, 2)],
            (
                "printerhq.snmp.trap",
                "printerhq.snmp.trap_usm",
                "printerhq.traps.core",
                "printerhq.snmp.v3",
            ),
            max_len=2048,
        ),
        Target(
            "icmp",
            "ICMP/ICMPv6 echo-reply and error parser, all four socket kinds",
            icmp_target,
            ("(none: returns None)",),
            lambda realdata: [bytes([k]) + p for p in seeds.icmp_packets() for k in (0, 1)],
            ("printerhq.icmp",),
            max_len=512,
        ),
        Target(
            "http",
            "HTTP probe page parser: charset, same-host redirect, identify_ews (title, model, "
            "serial)",
            http_target,
            ("(none: identify_ews never raises, decode_body falls back to UTF-8)",),
            lambda realdata: seeds.http_inputs(),
            ("printerhq.http",),
            max_len=8192,
            dictionary=_codec_names,
        ),
        Target(
            "ingest",
            "Upload batches: zlib body and stream, decode_batch (msgpack, schema, versions), "
            "acknowledgements",
            ingest_target,
            ("WireError", "msgspec.DecodeError/ValidationError (batch id, ack)"),
            seeds.ingest_inputs,
            ("printerhq.wire", "printerhq.model"),
            max_len=16384,
        ),
        Target(
            "control",
            "JSON both ways: control frames, update reports, the signed release envelope and "
            "its manifest",
            control_target,
            ("ControlError", "ReleaseError", "msgspec.DecodeError/ValidationError (update report)"),
            lambda realdata: [bytes([k]) + m for m in seeds.control_inputs() for k in (0, 1)],
            ("printerhq.control", "printerhq.release"),
            max_len=4096,
        ),
        Target(
            "config",
            "Agent configuration (TOML): parse_config and parse_remote",
            config_target,
            ("ConfigError",),
            lambda realdata: seeds.config_inputs(),
            (
                "printerhq.agent.config",
                "printerhq.agent.durations",
                "printerhq.traps.options",
                "printerhq.targets",
            ),
            max_len=4096,
            dictionary=_config_keys,
        ),
        Target(
            "targets",
            "Target lists: parse_targets (no @file, no resolution) and the spec's answers",
            targets_target,
            ("TargetError",),
            lambda realdata: seeds.target_inputs(),
            ("printerhq.targets",),
            max_len=1024,
            dictionary=lambda: [b"::ffff:", b"/", b"-", b"!", b"@", b"%", b"::", b"255", b"#"],
        ),
    )
}
