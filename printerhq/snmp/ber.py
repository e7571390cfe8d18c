"""BER primitives for SNMP: tags, definite lengths, INTEGER and OBJECT IDENTIFIER contents.

SNMP uses a small, fixed subset of ASN.1 BER (RFC 3417 section 8): definite lengths only, no
constructed strings, no high tag numbers. Keeping to that subset is what lets the decoder in
``message.py`` be a flat loop over bytes instead of a general ASN.1 engine.

Everything here is pure: bytes in, values out. Malformed input raises :class:`SnmpDecodeError`
with the byte offset, never ``IndexError``.
"""

from __future__ import annotations

__all__ = [
    "SnmpDecodeError",
    "Tag",
    "encode_length",
    "encode_tlv",
    "encode_signed",
    "encode_unsigned",
    "encode_oid",
    "decode_oid",
    "parse_oid",
    "format_oid",
    "MAX_OID_LENGTH",
]

from enum import IntEnum

# RFC 2578 section 3.5: "at most 128 sub-identifiers in a value", each at most 2^32-1.
MAX_OID_LENGTH = 128
MAX_SUBID = 0xFFFFFFFF


class SnmpDecodeError(ValueError):
    """A message could not be decoded. ``offset`` is the byte position where decoding failed."""

    def __init__(self, reason: str, offset: int) -> None:
        super().__init__(f"{reason} at byte {offset}")
        self.reason = reason
        self.offset = offset


class Tag(IntEnum):
    """Identifier octets of every type SNMP puts on the wire (RFC 2578, RFC 3416)."""

    INTEGER = 0x02
    OCTET_STRING = 0x04
    NULL = 0x05
    OBJECT_IDENTIFIER = 0x06
    SEQUENCE = 0x30
    # Application types, RFC 2578 section 7.1.
    IP_ADDRESS = 0x40
    COUNTER32 = 0x41
    GAUGE32 = 0x42  # also Unsigned32: same tag, RFC 2578 section 7.1.11
    TIMETICKS = 0x43
    OPAQUE = 0x44
    COUNTER64 = 0x46
    # Exception values in a varbind, RFC 3416 section 3.
    NO_SUCH_OBJECT = 0x80
    NO_SUCH_INSTANCE = 0x81
    END_OF_MIB_VIEW = 0x82


def encode_length(length: int) -> bytes:
    """Definite-form length (X.690 8.1.3): short form below 128, else long form."""
    if length < 0x80:
        return bytes((length,))
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def encode_tlv(tag: int, contents: bytes) -> bytes:
    return bytes((tag,)) + encode_length(len(contents)) + contents


def encode_signed(value: int) -> bytes:
    """Minimal two's complement contents octets (X.690 8.3.2)."""
    return value.to_bytes((value + (value < 0)).bit_length() // 8 + 1, "big", signed=True)


def encode_unsigned(value: int) -> bytes:
    """Contents of an unsigned application type: still a BER INTEGER, so a leading zero octet is
    needed when the top bit is set (RFC 2578 section 7.1)."""
    return value.to_bytes(value.bit_length() // 8 + 1, "big")


def encode_oid(oid: tuple[int, ...]) -> bytes:
    """Contents octets of an OBJECT IDENTIFIER (X.690 8.19): the first two arcs share a subid."""
    if len(oid) < 2:
        raise ValueError(f"an OID needs at least two arcs: {oid!r}")
    first, second = oid[0], oid[1]
    if first > 2 or (first < 2 and second > 39):
        raise ValueError(f"invalid first arcs {first}.{second}")
    out = bytearray()
    for subid in (first * 40 + second, *oid[2:]):
        if subid < 0x80:
            out.append(subid)
            continue
        if subid < 0:
            raise ValueError(f"negative sub-identifier in {oid!r}")
        chunk = bytearray((subid & 0x7F,))
        subid >>= 7
        while subid:
            chunk.append(0x80 | (subid & 0x7F))
            subid >>= 7
        chunk.reverse()
        out += chunk
    return bytes(out)


def decode_oid(data: bytes, start: int, end: int) -> tuple[int, ...]:
    """Decode OBJECT IDENTIFIER contents octets ``data[start:end]``."""
    if start == end:
        raise SnmpDecodeError("empty OBJECT IDENTIFIER", start)
    arcs: list[int] = []
    subid = 0
    fresh = True
    for pos in range(start, end):
        byte = data[pos]
        if fresh and byte == 0x80:
            # X.690 8.19.2: the leading octet of a sub-identifier shall not be 0x80.
            raise SnmpDecodeError("non-minimal OID sub-identifier", pos)
        subid = (subid << 7) | (byte & 0x7F)
        if byte & 0x80:
            fresh = False
            continue
        if subid > MAX_SUBID and arcs:
            raise SnmpDecodeError("OID sub-identifier exceeds 2^32-1", pos)
        arcs.append(subid)
        subid = 0
        fresh = True
    if not fresh:
        raise SnmpDecodeError("truncated OID sub-identifier", end)
    first = arcs[0]
    if first < 40:
        head = (0, first)
    elif first < 80:
        head = (1, first - 40)
    else:
        head = (2, first - 80)
        if head[1] > MAX_SUBID:
            raise SnmpDecodeError("OID sub-identifier exceeds 2^32-1", start)
    if len(arcs) + 1 > MAX_OID_LENGTH:
        raise SnmpDecodeError(f"OID longer than {MAX_OID_LENGTH} sub-identifiers", start)
    return head + tuple(arcs[1:])


def parse_oid(text: str) -> tuple[int, ...]:
    """``"1.3.6.1.2.1.1.1.0"`` or ``".1.3.6..."`` to a tuple of ints, with a clear error."""
    stripped = text.strip().lstrip(".")
    try:
        oid = tuple(int(part) for part in stripped.split("."))
    except ValueError:
        raise ValueError(f"not a numeric OID: {text!r}") from None
    if len(oid) < 2 or any(arc < 0 or arc > MAX_SUBID for arc in oid) or len(oid) > MAX_OID_LENGTH:
        raise ValueError(f"not a valid OID: {text!r}")
    return oid


def format_oid(oid: tuple[int, ...]) -> str:
    return ".".join(map(str, oid))
