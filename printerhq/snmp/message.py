"""SNMPv1 and SNMPv2c messages: PDUs, varbinds, encoding and a fast decoder.

Message layout (RFC 1157 section 4, RFC 1901, RFC 3416 section 3)::

    Message ::= SEQUENCE { version INTEGER, community OCTET STRING, data PDU }
    PDU     ::= [tag] SEQUENCE { request-id, error-status, error-index, VarBindList }
    VarBind ::= SEQUENCE { name OBJECT IDENTIFIER, value ObjectSyntax | exception }

GetBulkRequest reuses the error-status and error-index positions for non-repeaters and
max-repetitions (RFC 3416 section 4.2.3); :class:`Pdu` keeps the raw fields and offers both names.

A varbind value is kept as its tag plus a plain Python value, which is lossless and cheap:

=====================================  =========================
tag                                    Python value
=====================================  =========================
INTEGER, Counter32, Gauge32,           ``int``
TimeTicks, Counter64
OCTET STRING, Opaque, IpAddress        ``bytes``
OBJECT IDENTIFIER                      ``tuple[int, ...]``
NULL, noSuchObject, noSuchInstance,    ``None``
endOfMibView
=====================================  =========================

The decoder is a flat loop: SNMP's nesting depth is fixed by the grammar above, so there is no
recursion to bound, and every length is checked against its enclosing one before it is used.
Sizes are bounded too: a message by MAX_MESSAGE_SIZE, a PDU by MAX_VARBINDS, an OID by 128 arcs
of at most 2^32-1 (RFC 2578 section 3.5), an INTEGER by MAX_INTEGER_OCTETS. Every failure is one
:class:`SnmpDecodeError` with the offending byte offset. ``decode_varbinds`` has a fast path for
the common varbind shape; ``_decode_varbinds_general`` is the reference the tests prove it
equal to, errors included.
"""

from __future__ import annotations

__all__ = [
    "PduType",
    "Version",
    "Varbind",
    "Pdu",
    "Message",
    "encode_message",
    "decode_message",
    "encode_varbind",
    "RequestTemplate",
    "REQUEST_ID_MIN",
    "REQUEST_ID_MAX",
    "MAX_MESSAGE_SIZE",
    "MAX_VARBINDS",
    "EXCEPTION_TAGS",
    "ERROR_STATUS_NAMES",
    "ErrorStatus",
]

from dataclasses import dataclass, field
from enum import IntEnum
from typing import NamedTuple

from .ber import (
    MAX_INTEGER_OCTETS,
    SnmpDecodeError,
    Tag,
    decode_oid,
    encode_oid,
    encode_signed,
    encode_tlv,
    encode_unsigned,
    expect,
    read_header,
    read_integer,
)

# The largest UDP payload; RFC 3417 section 3.2 requires only 484 but agents send far more.
MAX_MESSAGE_SIZE = 65507
# A sanity bound on varbinds per PDU: a 64 KiB datagram cannot carry more than ~6,500 real ones.
MAX_VARBINDS = 8192
# Request-ids in this range always encode as exactly four content octets (X.690 8.3.2: minimal
# two's complement), so an encoded request can be reused with only those four octets patched.
REQUEST_ID_MIN = 0x0080_0000
REQUEST_ID_MAX = 0x7FFF_FFFF


class Version(IntEnum):
    V1 = 0
    V2C = 1
    V3 = 3


class PduType(IntEnum):
    GET = 0xA0
    GET_NEXT = 0xA1
    RESPONSE = 0xA2
    SET = 0xA3
    TRAP_V1 = 0xA4
    GET_BULK = 0xA5
    INFORM = 0xA6
    TRAP_V2 = 0xA7
    REPORT = 0xA8


EXCEPTION_TAGS = frozenset((Tag.NO_SUCH_OBJECT, Tag.NO_SUCH_INSTANCE, Tag.END_OF_MIB_VIEW))


class ErrorStatus(IntEnum):
    """RFC 3416 section 3, error-status values (RFC 1157 section 4.1.1 for 0-5)."""

    NO_ERROR = 0
    TOO_BIG = 1
    NO_SUCH_NAME = 2
    BAD_VALUE = 3
    READ_ONLY = 4
    GEN_ERR = 5
    NO_ACCESS = 6
    WRONG_TYPE = 7
    WRONG_LENGTH = 8
    WRONG_ENCODING = 9
    WRONG_VALUE = 10
    NO_CREATION = 11
    INCONSISTENT_VALUE = 12
    RESOURCE_UNAVAILABLE = 13
    COMMIT_FAILED = 14
    UNDO_FAILED = 15
    AUTHORIZATION_ERROR = 16
    NOT_WRITABLE = 17
    INCONSISTENT_NAME = 18


# The RFC's camelCase names, for messages.
ERROR_STATUS_NAMES = {
    status.value: "".join(
        word.capitalize() if i else word.lower() for i, word in enumerate(status.name.split("_"))
    )
    for status in ErrorStatus
}

_INTEGER_TAGS = frozenset((Tag.INTEGER,))
_UNSIGNED_TAGS = frozenset((Tag.COUNTER32, Tag.GAUGE32, Tag.TIMETICKS, Tag.COUNTER64))
_BYTES_TAGS = frozenset((Tag.OCTET_STRING, Tag.OPAQUE, Tag.IP_ADDRESS))
_UNSIGNED_LIMIT: dict[int, int] = {
    Tag.COUNTER32: 1 << 32,
    Tag.GAUGE32: 1 << 32,
    Tag.TIMETICKS: 1 << 32,
    Tag.COUNTER64: 1 << 64,
}


class Varbind(NamedTuple):
    oid: tuple[int, ...]
    tag: int = Tag.NULL
    value: int | bytes | tuple[int, ...] | None = None

    @property
    def is_exception(self) -> bool:
        """noSuchObject, noSuchInstance or endOfMibView (RFC 3416 section 3)."""
        return self.tag in EXCEPTION_TAGS


@dataclass(slots=True)
class Pdu:
    type: PduType
    request_id: int
    error_status: int = 0
    error_index: int = 0
    varbinds: list[Varbind] = field(default_factory=list)

    @property
    def non_repeaters(self) -> int:
        return self.error_status

    @property
    def max_repetitions(self) -> int:
        return self.error_index

    @property
    def error_name(self) -> str:
        return ERROR_STATUS_NAMES.get(self.error_status, f"error-status {self.error_status}")


@dataclass(slots=True)
class Message:
    """An SNMPv1 or SNMPv2c message (community-based)."""

    version: Version
    community: bytes
    pdu: Pdu


# --------------------------------------------------------------------------------------------
# Encoding


def _encode_integer(value: int) -> bytes:
    contents = encode_signed(value)
    if len(contents) > MAX_INTEGER_OCTETS:
        raise ValueError(f"INTEGER {value} longer than {MAX_INTEGER_OCTETS} octets")
    return encode_tlv(Tag.INTEGER, contents)


def encode_value(tag: int, value: int | bytes | tuple[int, ...] | None) -> bytes:
    if tag == Tag.INTEGER:
        return _encode_integer(value)  # type: ignore[arg-type]
    if tag in _UNSIGNED_TAGS:
        if not 0 <= value < _UNSIGNED_LIMIT[tag]:  # type: ignore[operator]
            raise ValueError(f"{Tag(tag).name} out of range: {value!r}")
        return encode_tlv(tag, encode_unsigned(value))  # type: ignore[arg-type]
    if tag in _BYTES_TAGS:
        if tag == Tag.IP_ADDRESS and len(value) != 4:  # type: ignore[arg-type]
            raise ValueError("IpAddress must be 4 octets")
        return encode_tlv(tag, bytes(value))  # type: ignore[arg-type]
    if tag == Tag.OBJECT_IDENTIFIER:
        return encode_tlv(tag, encode_oid(value))  # type: ignore[arg-type]
    if tag == Tag.NULL or tag in EXCEPTION_TAGS:
        return bytes((tag, 0))
    raise ValueError(f"cannot encode tag 0x{tag:02x}")


# Request varbinds (an OID and NULL) already encoded, by OID: a collector asks the same cells
# of the same devices over and over. Bounded (cleared when full); only what encoded cleanly.
_NULL_VARBINDS: dict[tuple[int, ...], bytes] = {}
_NULL_VARBINDS_MAX = 8192


def encode_varbind(varbind: Varbind) -> bytes:
    """One VarBind SEQUENCE: name, then value (RFC 3416 section 3)."""
    if varbind.tag == Tag.NULL:
        oid = varbind.oid
        known = _NULL_VARBINDS.get(oid)
        if known is None:
            known = encode_tlv(
                Tag.SEQUENCE, encode_tlv(Tag.OBJECT_IDENTIFIER, encode_oid(oid)) + b"\x05\x00"
            )
            if len(_NULL_VARBINDS) >= _NULL_VARBINDS_MAX:
                _NULL_VARBINDS.clear()
            _NULL_VARBINDS[oid] = known
        return known
    return encode_tlv(
        Tag.SEQUENCE,
        encode_tlv(Tag.OBJECT_IDENTIFIER, encode_oid(varbind.oid))
        + encode_value(varbind.tag, varbind.value),
    )


def encode_pdu(pdu: Pdu) -> bytes:
    varbinds = b"".join(map(encode_varbind, pdu.varbinds))
    body = (
        _encode_integer(pdu.request_id)
        + _encode_integer(pdu.error_status)
        + _encode_integer(pdu.error_index)
        + encode_tlv(Tag.SEQUENCE, varbinds)
    )
    return encode_tlv(pdu.type, body)


def encode_message(message: Message) -> bytes:
    if message.version not in (Version.V1, Version.V2C):
        raise ValueError("community messages are SNMPv1 or SNMPv2c")
    if message.version == Version.V1 and message.pdu.type in (
        PduType.GET_BULK,
        PduType.INFORM,
        PduType.TRAP_V2,
        PduType.REPORT,
    ):
        raise ValueError(f"{message.pdu.type.name} does not exist in SNMPv1")
    body = (
        encode_tlv(Tag.INTEGER, encode_signed(message.version))
        + encode_tlv(Tag.OCTET_STRING, message.community)
        + encode_pdu(message.pdu)
    )
    return encode_tlv(Tag.SEQUENCE, body)


class RequestTemplate:
    """A request encoded once; each send patches only the four request-id octets.

    This is how fast scanners (onesixtyone, braa) keep per-packet CPU near zero on sweeps.
    Request-ids must lie in ``[REQUEST_ID_MIN, REQUEST_ID_MAX]``, where the minimal BER encoding
    of the id is always four octets, so the patched message is byte-identical to a fresh
    encoding with that id.
    """

    __slots__ = ("_prefix", "_suffix", "message")

    def __init__(self, message: Message) -> None:
        self.message = message
        placeholder = Message(
            message.version,
            message.community,
            Pdu(
                message.pdu.type,
                REQUEST_ID_MAX,
                message.pdu.error_status,
                message.pdu.error_index,
                list(message.pdu.varbinds),
            ),
        )
        encoded = encode_message(placeholder)
        # Walk the headers to the request-id: Message SEQUENCE, version, community, PDU tag.
        _, pos, _ = read_header(encoded, 0, len(encoded))
        _, _, pos = read_header(encoded, pos, len(encoded))  # version
        _, _, pos = read_header(encoded, pos, len(encoded))  # community
        _, pos, _ = read_header(encoded, pos, len(encoded))  # into the PDU
        at = pos + 2  # past the INTEGER tag and its length octet (always 4)
        assert encoded[at - 2 : at] == b"\x02\x04"
        self._prefix = encoded[:at]
        self._suffix = encoded[at + 4 :]

    def render(self, request_id: int) -> bytes:
        if not REQUEST_ID_MIN <= request_id <= REQUEST_ID_MAX:
            raise ValueError(f"request-id {request_id} outside the patchable range")
        return self._prefix + request_id.to_bytes(4, "big") + self._suffix


# --------------------------------------------------------------------------------------------
# Decoding


def _value(
    data: bytes, tag: int, start: int, stop: int, tag_pos: int
) -> int | bytes | tuple[int, ...] | None:
    if tag in _BYTES_TAGS:
        if tag == Tag.IP_ADDRESS and stop - start != 4:
            raise SnmpDecodeError("IpAddress must be 4 octets", start)
        return data[start:stop]
    if tag == Tag.INTEGER:
        return read_integer(data, start, stop)
    if tag in _UNSIGNED_TAGS:
        if start == stop:
            raise SnmpDecodeError("empty unsigned integer", start)
        if stop - start > MAX_INTEGER_OCTETS:
            raise SnmpDecodeError("unsigned integer too long", start)
        # Read as unsigned even without the leading zero octet: some agents omit it, and a
        # Counter32 is never negative (net-snmp reads them the same way).
        number = int.from_bytes(data[start:stop], "big")
        if number >= _UNSIGNED_LIMIT[tag]:
            raise SnmpDecodeError(f"{Tag(tag).name} value out of range", start)
        return number
    if tag == Tag.OBJECT_IDENTIFIER:
        return decode_oid(data, start, stop)
    if tag == Tag.NULL or tag in EXCEPTION_TAGS:
        if start != stop:
            raise SnmpDecodeError("NULL or exception value with contents", start)
        return None
    raise SnmpDecodeError(f"unknown value tag 0x{tag:02x}", tag_pos)


def _decode_varbind(data: bytes, pos: int, end: int) -> tuple[Varbind, int]:
    """The general path: one varbind at ``pos``, every header through :func:`read_header`.
    Returns the varbind and the position after it."""
    start, stop = expect(data, pos, end, Tag.SEQUENCE, "VarBind SEQUENCE")
    name_start, name_stop = expect(data, start, stop, Tag.OBJECT_IDENTIFIER, "VarBind name")
    oid = decode_oid(data, name_start, name_stop)
    tag, value_start, value_stop = read_header(data, name_stop, stop)
    if value_stop != stop:
        raise SnmpDecodeError("trailing bytes in VarBind", value_stop)
    return Varbind(oid, tag, _value(data, tag, value_start, value_stop, name_stop)), stop


def _decode_varbinds_general(data: bytes, pos: int, end: int) -> list[Varbind]:
    """:func:`decode_varbinds` without its fast path: the reference the tests hold it to."""
    varbinds: list[Varbind] = []
    while pos < end:
        if len(varbinds) >= MAX_VARBINDS:
            raise SnmpDecodeError(f"more than {MAX_VARBINDS} varbinds", pos)
        varbind, pos = _decode_varbind(data, pos, end)
        varbinds.append(varbind)
    return varbinds


# Varbind names already decoded, by their contents octets (bounded; cleared when full).
_NAMES: dict[bytes, tuple[int, ...]] = {}
_NAMES_MAX = 4096


def decode_varbinds(data: bytes, pos: int, end: int) -> list[Varbind]:
    """Decode the varbinds in ``data[pos:end]`` (the contents of a VarBindList).

    Same result as :func:`_decode_varbinds_general` for every input, errors included, only
    faster: a varbind whose lengths are all short-form and whose name is 1.x with one-octet
    arcs (all of the Printer-MIB and Host-Resources, most enterprise trees) is read with a few
    index checks and C-level slicing; anything else, valid or not, takes the general path.
    """
    varbinds: list[Varbind] = []
    append = varbinds.append
    make = tuple.__new__  # Varbind(...) without the NamedTuple __new__ wrapper
    while pos < end:
        if len(varbinds) >= MAX_VARBINDS:
            raise SnmpDecodeError(f"more than {MAX_VARBINDS} varbinds", pos)
        if (
            pos + 4 <= end
            and data[pos] == 0x30
            and data[pos + 1] < 0x80
            and data[pos + 2] == 0x06
            and data[pos + 3] < 0x80
        ):
            stop = pos + 2 + data[pos + 1]
            name_stop = pos + 4 + data[pos + 3]
            # Room for the name and a value header inside the varbind, the varbind inside the
            # list: exactly what the general path's header checks would establish.
            if name_stop + 2 <= stop <= end:
                raw_oid = data[pos + 4 : name_stop]
                tag = data[name_stop]
                length = data[name_stop + 1]
                # A short-form name has at most 127 octets, so at most 128 arcs: the
                # MAX_OID_LENGTH check cannot fail here.
                if (
                    length < 0x80
                    and name_stop + 2 + length == stop
                    and tag & 0x1F != 0x1F
                    and raw_oid
                ):
                    # A name is decoded (and checked) once per distinct contents, then looked
                    # up: a fleet's replies name the same cells scan after scan.
                    oid = _NAMES.get(raw_oid)
                    if oid is None:
                        if 40 <= raw_oid[0] < 80 and max(raw_oid) < 0x80:
                            oid = (1, raw_oid[0] - 40, *raw_oid[1:])
                        else:  # multi-octet arcs (enterprise numbers)
                            oid = decode_oid(data, pos + 4, name_stop)
                        if len(_NAMES) >= _NAMES_MAX:
                            _NAMES.clear()
                        _NAMES[raw_oid] = oid
                    value_start = name_stop + 2
                    if tag == 0x04:
                        value: int | bytes | tuple[int, ...] | None = data[value_start:stop]
                    elif tag == 0x02 and 0 < length <= MAX_INTEGER_OCTETS:
                        value = int.from_bytes(data[value_start:stop], "big", signed=True)
                    else:
                        value = _value(data, tag, value_start, stop, name_stop)
                    append(make(Varbind, (oid, tag, value)))
                    pos = stop
                    continue
        varbind, pos = _decode_varbind(data, pos, end)
        append(varbind)
    return varbinds


# Lookups instead of Enum calls on the hot path (an Enum call costs about half a microsecond).
_PDU_TYPE_OF = {int(t): t for t in PduType if t != PduType.TRAP_V1}
_VERSION_OF = {int(Version.V1): Version.V1, int(Version.V2C): Version.V2C}
_V2_ONLY_PDU_TYPES = frozenset((PduType.GET_BULK, PduType.INFORM, PduType.TRAP_V2, PduType.REPORT))


def _read_integer(data: bytes, pos: int, end: int, what: str) -> tuple[int, int]:
    if pos + 2 <= end and data[pos] == 0x02 and 0 < data[pos + 1] <= MAX_INTEGER_OCTETS:
        # The usual short INTEGER: what expect() and read_integer() would accept, read at once.
        stop = pos + 2 + data[pos + 1]
        if stop <= end:
            return int.from_bytes(data[pos + 2 : stop], "big", signed=True), stop
    start, stop = expect(data, pos, end, Tag.INTEGER, what)
    return read_integer(data, start, stop), stop


def decode_pdu(data: bytes, pos: int, end: int) -> tuple[Pdu, int]:
    """Decode the PDU at ``pos``; return it and the position after it."""
    tag, start, stop = read_header(data, pos, end)
    pdu_type = _PDU_TYPE_OF.get(tag)
    if pdu_type is None:
        if tag == PduType.TRAP_V1:
            raise SnmpDecodeError("SNMPv1 Trap-PDU is not supported", pos)
        raise SnmpDecodeError(f"unknown PDU tag 0x{tag:02x}", pos)
    request_id, cursor = _read_integer(data, start, stop, "request-id")
    error_status, cursor = _read_integer(data, cursor, stop, "error-status")
    error_index, cursor = _read_integer(data, cursor, stop, "error-index")
    list_start, list_stop = expect(data, cursor, stop, Tag.SEQUENCE, "VarBindList")
    if list_stop != stop:
        raise SnmpDecodeError("trailing bytes in PDU", list_stop)
    pdu = Pdu(
        pdu_type,
        request_id,
        error_status,
        error_index,
        decode_varbinds(data, list_start, list_stop),
    )
    return pdu, stop


def peek_version(data: bytes) -> int:
    """The version field of any SNMP message, so callers can route v3 elsewhere."""
    end = len(data)
    start, stop = expect(data, 0, end, Tag.SEQUENCE, "Message SEQUENCE")
    version_start, version_stop = expect(data, start, stop, Tag.INTEGER, "version")
    return read_integer(data, version_start, version_stop)


def read_message_version(
    data: bytes, message: str = "Message SEQUENCE", version: str = "version"
) -> tuple[int, int, int, int]:
    """The frame every SNMP message shares (RFC 3416 section 3, RFC 3412 section 6): at most
    MAX_MESSAGE_SIZE bytes, one SEQUENCE and nothing after it, an INTEGER version first.

    Returns the version, where its value starts and stops, and where the SEQUENCE stops;
    ``message`` and ``version`` name the two fields in errors.
    """
    end = len(data)
    if end > MAX_MESSAGE_SIZE:
        raise SnmpDecodeError(f"message larger than {MAX_MESSAGE_SIZE} bytes", 0)
    start, stop = expect(data, 0, end, Tag.SEQUENCE, message)
    if stop != end:
        raise SnmpDecodeError("trailing bytes after message", stop)
    v_start, v_stop = expect(data, start, stop, Tag.INTEGER, version)
    return read_integer(data, v_start, v_stop), v_start, v_stop, stop


def decode_message(data: bytes) -> Message:
    """Decode an SNMPv1/v2c message. Raises :class:`SnmpDecodeError` on anything malformed."""
    data = bytes(data)
    version, version_start, version_stop, stop = read_message_version(data)
    known_version = _VERSION_OF.get(version)
    if known_version is None:
        if version == Version.V3:
            raise SnmpDecodeError("SNMPv3 message: decode with printerhq.snmp.v3", version_start)
        raise SnmpDecodeError(f"unknown SNMP version {version}", version_start)
    community_start, community_stop = expect(
        data, version_stop, stop, Tag.OCTET_STRING, "community"
    )
    pdu, pdu_stop = decode_pdu(data, community_stop, stop)
    if pdu_stop != stop:
        raise SnmpDecodeError("trailing bytes after PDU", pdu_stop)
    if known_version == Version.V1 and pdu.type in _V2_ONLY_PDU_TYPES:
        raise SnmpDecodeError(f"{pdu.type.name} in an SNMPv1 message", community_stop)
    return Message(known_version, data[community_start:community_stop], pdu)
