"""Fault modes: ways a broken or hostile agent answers, for testing a collector's defences.

Sans-IO transformations of an encoded reply; the server applies them per address. Modes:

``malformed``         a reply that is not valid BER (truncated, wrong outer tag, or a length
                      that overruns the datagram), chosen by the fleet's seeded random generator
``wrong-request-id``  a well-formed reply whose request-id is not the request's
``oversized``         a well-formed reply padded with one extra OCTET STRING varbind up to the
                      largest UDP payload (65,507 bytes), far beyond what the request asked for
``other-address``     the correct reply, sent from another simulated address (server-side)
``silent``            the request is logged but never answered (server-side)
``amplified``         every request answered with :data:`AMPLIFY_COPIES` datagrams: the correct
                      reply, then copies padded as ``oversized`` (server-side): a ~100-byte request
                      draws ~450 KB
``endless-walk``      GETNEXT/GETBULK never leave a column: past its last row, the next OID is the
                      requested one with its last arc plus one, the value the row before it had
``cycling-walk``      GETNEXT/GETBULK loop: after a column's last row comes its first row again
                      (an earlier OID), for ever
``counter64-extremes`` every counter (Counter32, Counter64, Gauge32, prtMarkerLifeCount and
                      prtMarkerPowerOnCount) is served as a Counter64 of 2**64-1 or 2**63
``huge-strings``      identity strings (sysDescr, sysName, model, serial, firmware ...) grow to
                      60,000 octets and every other text string to 1,500, all of them carrying
                      terminal control sequences (ESC, BEL, CR, backspace)

``engine-boots-max``  SNMPv3 only: snmpEngineBoots and snmpEngineTime at 2**31-1
``engine-clock-backwards`` SNMPv3 only: boots and time lower in every message (see :mod:`.v3`)

``endless-walk`` to ``huge-strings`` change what the device *holds* (:func:`faulty_recording`), so
GET, GETNEXT and GETBULK stay consistent with each other the way a real broken agent's would.
"""

from __future__ import annotations

__all__ = [
    "AMPLIFY_COPIES",
    "CONTENT_FAULTS",
    "FAULT_MODES",
    "HUGE_IDENTITY_SIZE",
    "HUGE_TEXT_SIZE",
    "PADDING_OID",
    "datagrams",
    "faulty_recording",
    "malform",
    "oversize",
    "transform",
    "wrong_request_id",
]

import random
from bisect import bisect_right

from printerhq.snmp.ber import SnmpDecodeError, Tag
from printerhq.snmp.message import (
    MAX_MESSAGE_SIZE,
    REQUEST_ID_MAX,
    Varbind,
    decode_message,
    encode_message,
)

from .recording import Recording
from .v3 import CLOCK_FAULTS

CONTENT_FAULTS = frozenset(("endless-walk", "cycling-walk", "counter64-extremes", "huge-strings"))
FAULT_MODES = frozenset(
    ("malformed", "wrong-request-id", "oversized", "other-address", "silent", "amplified")
    + tuple(CONTENT_FAULTS)
    + tuple(CLOCK_FAULTS)
)
AMPLIFY_COPIES = 8
HUGE_IDENTITY_SIZE = 60_000
HUGE_TEXT_SIZE = 1_500
# A window title set, the screen cleared, a bell, a carriage return and backspaces over the line:
# what a hostile string would do to an operator's terminal if printed raw.
CONTROL_SEQUENCES = b"\x1b]0;owned\x07\x1b[2J\x1b[31m\r\x08\x08\x07"
# Where identity text lives: the system group (sysDescr, sysName, sysContact, sysLocation),
# hrDeviceDescr (a model), prtGeneralSerialNumber, and the vendors' subtrees (model, serial,
# firmware). Each such string becomes HUGE_IDENTITY_SIZE octets; two of them no longer fit one
# reply (65,507 octets), so the agent answers tooBig to a GET of both (RFC 3416 4.2.1).
_IDENTITY_TEXT = (
    (1, 3, 6, 1, 2, 1, 1),
    (1, 3, 6, 1, 2, 1, 25, 3, 2, 1, 3),
    (1, 3, 6, 1, 2, 1, 43, 5, 1, 1, 17),
    (1, 3, 6, 1, 4, 1),
)
# prtMarkerLifeCount and prtMarkerPowerOnCount (RFC 3805): Counter32 in the MIB, sent as INTEGER
# by some agents, so matched by OID as well as by type.
_MARKER_COUNTERS = ((1, 3, 6, 1, 2, 1, 43, 10, 2, 1, 4), (1, 3, 6, 1, 2, 1, 43, 10, 2, 1, 5))
_COUNTER_TAGS = frozenset((Tag.COUNTER32, Tag.COUNTER64, Tag.GAUGE32))
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


def datagrams(mode: str | None, reply: bytes, rng: random.Random) -> list[bytes]:
    """What a device in ``mode`` sends for one reply: usually one datagram; ``amplified`` sends
    the reply and then :data:`AMPLIFY_COPIES` - 1 oversized copies with the same request-id."""
    if mode is None:
        return [reply]
    try:
        if mode == "amplified":
            return [reply] + [oversize(reply)] * (AMPLIFY_COPIES - 1)
        return [transform(mode, reply, rng)]
    except (SnmpDecodeError, ValueError):
        return [reply]  # an SNMPv3 reply: the modes that re-encode act on v1/v2c replies only


class _EndlessWalk(Recording):
    """GETNEXT never leaves a column (see the module docstring: ``endless-walk``)."""

    def get_next(self, oid: tuple[int, ...]) -> Varbind:
        found = Recording.get_next(self, oid)
        parent = tuple(oid[:-1])
        if len(oid) < 2 or (not found.is_exception and found.oid[: len(parent)] == parent):
            return found
        # Past the column's end: one more row, with the value of the row before it.
        at = bisect_right(self._oids, tuple(oid)) - 1
        before = self.varbinds[at] if at >= 0 else Varbind(tuple(oid), Tag.INTEGER, 1)
        return Varbind(parent + (oid[-1] + 1,), before.tag, before.value)


class _CyclingWalk(Recording):
    """GETNEXT loops (``cycling-walk``): after a column's last row comes its first row again."""

    def get_next(self, oid: tuple[int, ...]) -> Varbind:
        found = Recording.get_next(self, oid)
        parent = tuple(oid[:-1])
        if len(oid) < 2 or (not found.is_exception and found.oid[: len(parent)] == parent):
            return found
        first = Recording.get_next(self, parent)  # the first row under the same prefix
        return first if first.oid[: len(parent)] == parent else found


def _extreme(index: int, varbind: Varbind) -> Varbind:
    counter = varbind.tag in _COUNTER_TAGS or (
        isinstance(varbind.value, int) and varbind.oid[:-2] in _MARKER_COUNTERS
    )
    if not counter:
        return varbind
    return Varbind(varbind.oid, Tag.COUNTER64, 2**64 - 1 if index % 2 == 0 else 2**63)


def _huge(varbind: Varbind) -> Varbind:
    value = varbind.value
    # Text only: binary strings (a MAC address, hrPrinterDetectedErrorState) stay as they are.
    if (
        varbind.tag != Tag.OCTET_STRING
        or not isinstance(value, bytes)
        or len(value) < 4
        or not all(0x20 <= octet < 0x7F for octet in value)
    ):
        return varbind
    identity = any(varbind.oid[: len(root)] == root for root in _IDENTITY_TEXT)
    size = HUGE_IDENTITY_SIZE if identity else HUGE_TEXT_SIZE
    filler = (CONTROL_SEQUENCES + b"A" * 50) * (size // 50 + 1)
    return Varbind(varbind.oid, varbind.tag, (value + filler)[:size])


def faulty_recording(mode: str, recording: Recording) -> Recording:
    """The recording as a device in content fault ``mode`` holds it (:data:`CONTENT_FAULTS`);
    any other mode returns ``recording`` itself."""
    name, varbinds, versions = recording.name, recording.varbinds, recording.versions
    if mode == "endless-walk":
        return _EndlessWalk(name, list(varbinds), versions, list(recording.problems))
    if mode == "cycling-walk":
        return _CyclingWalk(name, list(varbinds), versions, list(recording.problems))
    if mode == "counter64-extremes":
        changed = [_extreme(i, vb) for i, vb in enumerate(varbinds)]
        return Recording(name, changed, versions, list(recording.problems))
    if mode == "huge-strings":
        return Recording(name, [_huge(vb) for vb in varbinds], versions, list(recording.problems))
    return recording


def transform(mode: str, reply: bytes, rng: random.Random) -> bytes:
    """Apply a byte-level fault mode; the other modes leave bytes unchanged."""
    if mode == "malformed":
        return malform(reply, rng)
    if mode == "wrong-request-id":
        return wrong_request_id(reply)
    if mode == "oversized":
        return oversize(reply)
    if mode in FAULT_MODES:
        return reply
    raise ValueError(f"unknown fault mode {mode!r}; choose from {', '.join(sorted(FAULT_MODES))}")
