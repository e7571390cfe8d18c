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
    "MAX_INTEGER_OCTETS",
    "read_header",
    "expect",
    "read_integer",
]

import re
from enum import IntEnum

# RFC 2578 section 3.5: "at most 128 sub-identifiers in a value", each at most 2^32-1.
MAX_OID_LENGTH = 128
MAX_SUBID = 0xFFFFFFFF
# The first sub-identifier encodes two arcs as 40 * first + second (X.690 8.19.4), so for 2.x it
# reaches 80 + (2^32 - 1).
_MAX_FIRST_SUBID = 80 + MAX_SUBID
# The longest INTEGER contents we accept, both ways: 64-bit values from agents that overstep
# Integer32, plus the sign octet. The encoder refuses more, so whatever it writes decodes.
MAX_INTEGER_OCTETS = 9
# Dotted decimal, ASCII digits only, at least two arcs.
_NUMERIC_OID = re.compile(r"[0-9]+(?:\.[0-9]+)+", re.ASCII)


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
    """Tag, definite length, contents."""
    length = len(contents)
    if length < 0x80:
        return bytes((tag, length)) + contents
    return bytes((tag,)) + encode_length(length) + contents


def encode_signed(value: int) -> bytes:
    """Minimal two's complement contents octets (X.690 8.3.2)."""
    return value.to_bytes((value + (value < 0)).bit_length() // 8 + 1, "big", signed=True)


def encode_unsigned(value: int) -> bytes:
    """Contents of an unsigned application type: still a BER INTEGER, so a leading zero octet is
    needed when the top bit is set (RFC 2578 section 7.1)."""
    return value.to_bytes(value.bit_length() // 8 + 1, "big")


def encode_oid(oid: tuple[int, ...]) -> bytes:
    """Contents octets of an OBJECT IDENTIFIER (X.690 8.19): the first two arcs share a subid.

    Raises ``ValueError`` for anything :func:`decode_oid` would reject, so whatever we encode we
    can also decode: 2 to 128 arcs, each 0..2^32-1 (RFC 2578 section 3.5).
    """
    if not 2 <= len(oid) <= MAX_OID_LENGTH:
        raise ValueError(f"an OID has 2 to {MAX_OID_LENGTH} arcs, not {len(oid)}")
    first, second = oid[0], oid[1]
    # X.690 8.19.4: under arcs 0 and 1 the second arc is below 40.
    if not (0 <= first <= 2 and 0 <= second <= (39 if first < 2 else MAX_SUBID)):
        raise ValueError(f"invalid first arcs {first}.{second}")
    head = first * 40 + second
    rest = oid[2:]
    low = min(rest, default=0)
    high = max(rest, default=0)
    if low < 0 or high > MAX_SUBID:
        raise ValueError(f"sub-identifiers are 0..2^32-1: {format_oid(oid)}")
    if head < 0x80 and high < 0x80:
        # Every subid fits one octet (all of the Printer-MIB): C-speed.
        return bytes((head, *rest))
    out = bytearray()
    for subid in (head, *rest):
        if subid < 0x80:
            out.append(subid)
            continue
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
        # Checked on every octet, not only at the end of a sub-identifier: otherwise a long run
        # of continuation octets grows one huge int, quadratic in the input length. The first
        # subid carries the first two arcs (2.x is 80 + x), hence its larger bound.
        if subid > (_MAX_FIRST_SUBID if not arcs else MAX_SUBID):
            raise SnmpDecodeError("OID sub-identifier exceeds 2^32-1", pos)
        if byte & 0x80:
            fresh = False
            continue
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
    if len(arcs) + 1 > MAX_OID_LENGTH:
        raise SnmpDecodeError(f"OID longer than {MAX_OID_LENGTH} sub-identifiers", start)
    return head + tuple(arcs[1:])


def parse_oid(text: str) -> tuple[int, ...]:
    """``"1.3.6.1.2.1.1.1.0"`` or ``".1.3.6..."`` to a tuple of ints, with a clear error.

    Only ASCII digits and dots are accepted (``int()`` alone would also take ``"1_0"``, ``"+1"``
    and non-ASCII digits), and the result is always encodable by :func:`encode_oid`.
    """
    stripped = text.strip()
    if stripped.startswith("."):
        stripped = stripped[1:]
    if not _NUMERIC_OID.fullmatch(stripped):
        raise ValueError(f"not a numeric OID: {text!r}")
    oid = tuple(map(int, stripped.split(".")))
    try:
        encode_oid(oid)
    except ValueError:
        raise ValueError(f"not a valid OID: {text!r}") from None
    return oid


def format_oid(oid: tuple[int, ...]) -> str:
    """The dotted form, without a leading dot: the inverse of :func:`parse_oid`."""
    return ".".join(map(str, oid))


# --------------------------------------------------------------------------------------------
# Reading TLV headers: the one set of bounds checks every SNMP version shares (message.py, v3.py,
# usm.py and the transport's request-id peek).


def read_header(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """Read a tag and definite length at ``pos``; return (tag, content_start, content_end)."""
    if pos + 2 > end:
        raise SnmpDecodeError("truncated tag/length", pos)
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise SnmpDecodeError("high tag numbers are not used by SNMP", pos)
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0:
            raise SnmpDecodeError("indefinite length is not allowed (RFC 3417 section 8)", pos - 1)
        if count > 4:
            raise SnmpDecodeError("length field too long", pos - 1)
        if pos + count > end:
            raise SnmpDecodeError("truncated length", pos)
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > end:
        raise SnmpDecodeError(f"length {length} overruns the enclosing value", pos)
    return tag, pos, pos + length


def expect(data: bytes, pos: int, end: int, tag: int, what: str) -> tuple[int, int]:
    """Read a header at ``pos`` that must carry ``tag``; return (content_start, content_end)."""
    got, start, stop = read_header(data, pos, end)
    if got != tag:
        raise SnmpDecodeError(f"expected {what} (tag 0x{tag:02x}), got tag 0x{got:02x}", pos)
    return start, stop


def read_integer(data: bytes, start: int, stop: int) -> int:
    """The value of INTEGER contents ``data[start:stop]`` (two's complement, X.690 8.3)."""
    if start == stop:
        raise SnmpDecodeError("empty INTEGER", start)
    if stop - start > MAX_INTEGER_OCTETS:
        raise SnmpDecodeError("INTEGER too long", start)
    return int.from_bytes(data[start:stop], "big", signed=True)
