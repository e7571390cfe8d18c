"""Hypothesis strategies for SNMP values, varbinds, PDUs and messages (reusable by any test).

Every strategy here produces only *valid* data: values in the range of their SMI type (RFC 2578
section 7.1), OIDs of 2..128 arcs each below 2^32, and PDU types that exist in the message's
version. By default the ranges are also the ones pysnmp enforces (``Integer32`` for INTEGER and
request-id, ``0..18`` for error-status), so the same messages drive the differential tests;
``wide=True`` widens INTEGER to everything our codec accepts (nine content octets).

Public strategies:

- :func:`oids` -- any valid OID; ``printer_oids()`` -- realistic Printer-MIB / HP-style OIDs
- :func:`values_for_tag` -- a value of one SMI type
- :func:`varbinds` -- a varbind of any type allowed in a version
- :func:`pdus`, :func:`messages` -- whole PDUs and messages, SNMPv1 or SNMPv2c
"""

from __future__ import annotations

import os

from hypothesis import settings
from hypothesis import strategies as st

from printerhq.snmp import Message, Pdu, PduType, Tag, Varbind, Version
from printerhq.snmp.ber import MAX_OID_LENGTH, MAX_SUBID

# The codec tests' hypothesis settings: no per-example deadline (2 shared cores, no timing);
# PRINTERHQ_CODEC_EXAMPLES raises the example count for a long soak run.
codec_settings = settings(
    deadline=None, max_examples=int(os.environ.get("PRINTERHQ_CODEC_EXAMPLES", "100"))
)

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
# Nine content octets: the widest INTEGER the codec reads or writes.
WIDE_INT_MIN, WIDE_INT_MAX = -(2**71), 2**71 - 1

V1_VALUE_TAGS = (
    Tag.INTEGER,
    Tag.OCTET_STRING,
    Tag.NULL,
    Tag.OBJECT_IDENTIFIER,
    Tag.IP_ADDRESS,
    Tag.COUNTER32,
    Tag.GAUGE32,
    Tag.TIMETICKS,
    Tag.OPAQUE,
)
# RFC 3416 section 3 adds Counter64 and the three exceptions; v1 has neither (RFC 1157 4.1).
V2C_VALUE_TAGS = V1_VALUE_TAGS + (
    Tag.COUNTER64,
    Tag.NO_SUCH_OBJECT,
    Tag.NO_SUCH_INSTANCE,
    Tag.END_OF_MIB_VIEW,
)
V1_PDU_TYPES = (PduType.GET, PduType.GET_NEXT, PduType.RESPONSE, PduType.SET)
V2C_PDU_TYPES = V1_PDU_TYPES + (
    PduType.GET_BULK,
    PduType.INFORM,
    PduType.TRAP_V2,
    PduType.REPORT,
)

# Sub-identifiers biased towards the encoding boundaries of base-128 (X.690 8.19.2).
_SUBID_EDGES = (0, 1, 127, 128, 255, 16383, 16384, 2**21 - 1, 2**21, 2**28 - 1, 2**28, MAX_SUBID)
subids = st.one_of(
    st.integers(0, 200),
    st.sampled_from(_SUBID_EDGES),
    st.integers(0, MAX_SUBID),
)


@st.composite
def general_oids(draw: st.DrawFn, max_arcs: int = MAX_OID_LENGTH) -> tuple[int, ...]:
    first = draw(st.integers(0, 2))
    # X.690 8.19.4: the second arc is below 40 under arcs 0 and 1; under 2 it is unbounded,
    # but SNMP caps every arc at 2^32-1 (RFC 2578 section 3.5).
    second = draw(st.integers(0, 39) if first < 2 else subids)
    rest = draw(st.lists(subids, max_size=max_arcs - 2))
    return (first, second, *rest)


@st.composite
def printer_oids(draw: st.DrawFn) -> tuple[int, ...]:
    """What a printer agent really answers: Printer-MIB, Host-Resources, HP's enterprise tree."""
    prefix = draw(
        st.sampled_from(
            (
                (1, 3, 6, 1, 2, 1, 1),  # system
                (1, 3, 6, 1, 2, 1, 25, 3, 2, 1),  # hrDeviceTable
                (1, 3, 6, 1, 2, 1, 43, 10, 2, 1),  # prtMarkerTable
                (1, 3, 6, 1, 2, 1, 43, 11, 1, 1),  # prtMarkerSuppliesTable
                (1, 3, 6, 1, 4, 1, 11, 2, 3, 9, 4, 2, 1),  # HP
                (1, 3, 6, 1, 4, 1, 1347, 43, 5, 1, 1),  # Kyocera
            )
        )
    )
    index = draw(st.lists(st.integers(0, 300), min_size=1, max_size=4))
    return (*prefix, *index)


def oids(max_arcs: int = MAX_OID_LENGTH) -> st.SearchStrategy[tuple[int, ...]]:
    """Any valid OID, often a realistic one."""
    return st.one_of(printer_oids(), general_oids(max_arcs))


def octet_strings(max_size: int = 300) -> st.SearchStrategy[bytes]:
    """Bytes, sometimes long enough for one- and two-octet long-form lengths (X.690 8.1.3.5)."""
    return st.one_of(
        st.binary(max_size=40),
        st.sampled_from((b"HP LaserJet 4250", b"Black Cartridge 58A", b"", b"\x00\xff")),
        st.binary(min_size=120, max_size=max_size),
    )


def values_for_tag(tag: int, *, wide: bool = False) -> st.SearchStrategy:
    """A valid Python value for a varbind of SMI type ``tag``."""
    if tag == Tag.INTEGER:
        low, high = (WIDE_INT_MIN, WIDE_INT_MAX) if wide else (INT32_MIN, INT32_MAX)
        return st.one_of(
            st.integers(-2, 100),
            st.sampled_from((low, high, -129, 128, 255)),
            st.integers(low, high),
        )
    if tag in (Tag.COUNTER32, Tag.GAUGE32, Tag.TIMETICKS):
        return st.one_of(
            st.sampled_from((0, 127, 128, 2**31, 2**32 - 1)), st.integers(0, 2**32 - 1)
        )
    if tag == Tag.COUNTER64:
        return st.one_of(st.sampled_from((0, 2**63, 2**64 - 1)), st.integers(0, 2**64 - 1))
    if tag in (Tag.OCTET_STRING, Tag.OPAQUE):
        return octet_strings()
    if tag == Tag.IP_ADDRESS:
        return st.binary(min_size=4, max_size=4)
    if tag == Tag.OBJECT_IDENTIFIER:
        return oids(max_arcs=40)
    if tag in (Tag.NULL, Tag.NO_SUCH_OBJECT, Tag.NO_SUCH_INSTANCE, Tag.END_OF_MIB_VIEW):
        return st.none()
    raise ValueError(f"no strategy for tag 0x{tag:02x}")


def tags_for(version: Version) -> tuple[Tag, ...]:
    return V1_VALUE_TAGS if version == Version.V1 else V2C_VALUE_TAGS


@st.composite
def varbinds(draw: st.DrawFn, version: Version = Version.V2C, *, wide: bool = False) -> Varbind:
    """A varbind of any SMI type that exists in ``version``."""
    tag = draw(st.sampled_from(tags_for(version)))
    return Varbind(draw(oids()), tag, draw(values_for_tag(tag, wide=wide)))


@st.composite
def pdus(
    draw: st.DrawFn, version: Version = Version.V2C, *, wide: bool = False, max_varbinds: int = 12
) -> Pdu:
    """A PDU of any type that exists in ``version``; GetBulk gets non-repeaters and
    max-repetitions in the error-status / error-index positions (RFC 3416 section 4.2.3)."""
    pdu_type = draw(st.sampled_from(V1_PDU_TYPES if version == Version.V1 else V2C_PDU_TYPES))
    if wide:
        request_id = draw(st.integers(WIDE_INT_MIN, WIDE_INT_MAX))
    else:
        request_id = draw(
            st.one_of(
                st.integers(INT32_MIN, INT32_MAX),
                st.sampled_from((0, -1, 127, 128, INT32_MAX, INT32_MIN)),
            )
        )
    if pdu_type == PduType.GET_BULK:
        error_status = draw(st.integers(0, INT32_MAX))
    else:
        error_status = draw(st.integers(0, 5 if version == Version.V1 else 18))
    error_index = draw(st.one_of(st.integers(0, 20), st.integers(0, INT32_MAX)))
    bindings = draw(st.lists(varbinds(version, wide=wide), max_size=max_varbinds))
    return Pdu(pdu_type, request_id, error_status, error_index, bindings)


def communities() -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.sampled_from((b"public", b"private", b"")),
        st.binary(max_size=20),
        st.binary(min_size=128, max_size=200),
    )


@st.composite
def messages(
    draw: st.DrawFn, version: Version | None = None, *, wide: bool = False, max_varbinds: int = 12
) -> Message:
    """A whole SNMPv1 or SNMPv2c message (``version`` fixes which)."""
    if version is None:
        version = draw(st.sampled_from((Version.V1, Version.V2C)))
    return Message(
        version, draw(communities()), draw(pdus(version, wide=wide, max_varbinds=max_varbinds))
    )
