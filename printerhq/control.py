"""Control messages of the agent stream: configuration push, its outcome, agent status.

They share the one WebSocket that carries the report batches (printerhq.wire) but travel as
*text* frames of JSON, so the batch path stays byte-for-byte what it was: binary frames are
batches and acknowledgements, text frames are control. A peer speaks control only after both
sides agreed on the subprotocol :data:`SUBPROTOCOL` in the handshake (RFC 6455 §1.9, §11.3.4):
an older server never selects it (the agent then sends no text frame), and an older agent never
offers it (the server then pushes nothing). Unknown kinds and fields are refused.

Agent -> server: :class:`Hello` once per connection, :class:`Status` (heartbeat and the last
cycle), :class:`ConfigResult`. Server -> agent: :class:`ConfigPush`.

A server of wire 1.1 or newer (it names its version on the handshake, printerhq.wire) also reads
a :class:`Status` as a *binary* message of kind ``status``: msgpack through the connection's
zlib stream, like the batches. The agent's status after every cycle then costs a few dozen
bytes instead of a JSON text frame of ~250 (its field names and most values repeat each
cycle, which the shared compression context removes). It is not acknowledged.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

SUBPROTOCOL = "printerhq-control.1"
MAX_MESSAGE_BYTES = 96 << 10
MAX_DOCUMENT_BYTES = 64 << 10  # a remote configuration (TOML text)
MAX_REASON = 500
MAX_ERROR_SAMPLES = 10

_Name = Annotated[str, msgspec.Meta(max_length=128)]
_Count = Annotated[int, msgspec.Meta(ge=0, le=1 << 53)]
_Seconds = Annotated[float, msgspec.Meta(ge=0, le=1e10)]
_Version = Annotated[int, msgspec.Meta(ge=0, le=1 << 53)]
_Reason = Annotated[str, msgspec.Meta(max_length=MAX_REASON)]
_Document = Annotated[str, msgspec.Meta(max_length=MAX_DOCUMENT_BYTES)]

AgentState = Literal["starting", "running", "stopping"]
_options = dict(forbid_unknown_fields=True, kw_only=True, omit_defaults=True, tag_field="kind")


class CycleStatus(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The last completed cycle, as the status file and the server show it."""

    time: _Seconds  # unix time the cycle ended
    kind: Literal["warm", "discovery"]
    duration: _Seconds
    addresses: _Count = 0  # addresses probed or skipped
    printers: _Count = 0
    reports: _Count = 0  # reports spooled for upload
    errors: _Count = 0
    error_samples: Annotated[list[_Reason], msgspec.Meta(max_length=MAX_ERROR_SAMPLES)] = []
    scan_bytes: _Count = 0  # SNMP/ICMP/ARP/HTTP payload bytes, both directions
    upload_bytes: _Count = 0  # stream payload bytes sent by the uplink during the cycle
    pending: _Count = 0  # reports in the spool not yet acknowledged at the end


class Hello(msgspec.Struct, tag="hello", **_options):
    version: _Name  # the agent's software version
    remote_config: bool  # does the site allow remote configuration?
    config_version: _Version = 0  # the remote configuration in use (0: the local file)


class Status(msgspec.Struct, tag="status", **_options):
    state: AgentState
    cycle: _Count = 0
    last: CycleStatus | None = None


class ConfigResult(msgspec.Struct, tag="config_result", **_options):
    """``applied`` (valid, kept as last-good, used from the next cycle), ``rejected`` (the
    reason names the key and the problem), or ``ignored`` (the site disallows remote config)."""

    version: _Version
    outcome: Literal["applied", "rejected", "ignored"]
    reason: _Reason = ""


class ConfigPush(msgspec.Struct, tag="config", **_options):
    version: Annotated[int, msgspec.Meta(ge=1, le=1 << 53)]
    document: _Document  # TOML: [[scan]] sections only


FromAgent = Hello | Status | ConfigResult
FromServer = ConfigPush


class ControlError(ValueError):
    """A control frame that is too large, not JSON, or outside the schema."""


STATUS_KIND = "status"  # the binary message kind (wire 1.1)

_encoder = msgspec.json.Encoder()
_binary_encoder = msgspec.msgpack.Encoder()
_binary_status = msgspec.msgpack.Decoder(Status)
_from_agent = msgspec.json.Decoder(FromAgent)
_from_server = msgspec.json.Decoder(ConfigPush)


def encode(message: msgspec.Struct) -> str:
    return _encoder.encode(message).decode()


def _check_size(text: str) -> bytes:
    data = text.encode()
    if len(data) > MAX_MESSAGE_BYTES:
        raise ControlError(f"control message larger than {MAX_MESSAGE_BYTES} bytes")
    return data


def decode_from_agent(text: str) -> FromAgent:
    try:
        return _from_agent.decode(_check_size(text))
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ControlError(str(exc)) from None


def binary_status(text: str) -> bytes | None:
    """The binary (msgpack) form of a ``status`` text message, ``None`` for any other kind."""
    if not text.startswith('{"kind":"status"'):
        return None
    message = decode_from_agent(text)
    return _binary_encoder.encode(message) if isinstance(message, Status) else None


def decode_binary_status(data: bytes) -> Status:
    """A binary ``status`` message (inflated), strictly; ``ControlError`` when it is not one."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise ControlError(f"control message larger than {MAX_MESSAGE_BYTES} bytes")
    try:
        return _binary_status.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ControlError(str(exc)) from None


def decode_from_server(text: str) -> ConfigPush:
    try:
        return _from_server.decode(_check_size(text))
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ControlError(str(exc)) from None
