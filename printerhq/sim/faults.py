"""Fault modes: ways a broken or hostile agent answers, for testing a collector's defences.

Sans-IO transformations of an encoded reply; the server applies them per address. Modes:

``malformed``         a reply that is not valid BER (truncated, wrong outer tag, or a length
                      that overruns the datagram), chosen by the fleet's seeded random generator
``wrong-request-id``  a well-formed reply whose request-id is not the request's
``oversized``         a well-formed reply padded with one extra OCTET STRING varbind up to the
                      largest UDP payload (65,507 bytes), far beyond what the request asked for
``other-address``     the correct reply, sent from another simulated address (server-side)
``silent``            the request is logged but never answered (server-side)
"""

from __future__ import annotations

__all__ = [
    "FAULT_MODES",
    "PADDING_OID",
    "malform",
    "oversize",
    "transform",
    "wrong_request_id",
]

import random

from printerhq.snmp.ber import Tag
from printerhq.snmp.message import (
    MAX_MESSAGE_SIZE,
    REQUEST_ID_MAX,
    Varbind,
    decode_message,
    encode_message,
)

FAULT_MODES = frozenset(("malformed", "wrong-request-id", "oversized", "other-address", "silent"))
# Under the IANA "example" enterprise number (RFC 5612: 32473), so it never names a real object.
PADDING_OID = (1, 3, 6, 1, 4, 1, 32473, 99, 0)


def malform(reply: bytes, rng: random.Random) -> bytes:
    """Break the BER framing of ``reply`` in one of three ways."""
    kind = rng.randrange(3)
    if kind == 0:  # truncated in the middle
        return reply[: max(1, len(reply) // 2)]
    if kind == 1:  # not a SEQUENCE at all
        return b"\x31" + reply[1:]
    # Outer length claims more than the datagram holds.
    return b"\x30\x84\x7f\xff\xff\xff" + reply[2:]


def wrong_request_id(reply: bytes) -> bytes:
    """The same reply with a different request-id (request-id + 1, wrapping)."""
    message = decode_message(reply)
    message.pdu.request_id = (message.pdu.request_id + 1) % (REQUEST_ID_MAX + 1)
    return encode_message(message)


def oversize(reply: bytes, size: int = MAX_MESSAGE_SIZE) -> bytes:
    """The reply plus one padding varbind, making the datagram exactly ``size`` bytes when it
    can (a few bytes less if the length octets make an exact fit impossible)."""
    message = decode_message(reply)
    base = len(reply)
    # Padding varbind overhead: SEQUENCE(4) + OID TLV + OCTET STRING header (4) + list growth (4).
    filler = max(size - base - 12 - len(PADDING_OID) - 2, 0)
    message.pdu.varbinds.append(Varbind(PADDING_OID, Tag.OCTET_STRING, b"\x00" * filler))
    encoded = encode_message(message)
    while len(encoded) > size and filler > 0:
        filler -= len(encoded) - size
        filler = max(filler, 0)
        message.pdu.varbinds[-1] = Varbind(PADDING_OID, Tag.OCTET_STRING, b"\x00" * filler)
        encoded = encode_message(message)
    return encoded


def transform(mode: str, reply: bytes, rng: random.Random) -> bytes:
    """Apply a byte-level fault mode; ``other-address`` and ``silent`` leave bytes unchanged."""
    if mode == "malformed":
        return malform(reply, rng)
    if mode == "wrong-request-id":
        return wrong_request_id(reply)
    if mode == "oversized":
        return oversize(reply)
    if mode in FAULT_MODES:
        return reply
    raise ValueError(f"unknown fault mode {mode!r}; choose from {', '.join(sorted(FAULT_MODES))}")
