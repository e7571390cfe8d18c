"""Hostile input: decode_message either returns a Message or raises SnmpDecodeError (with a
reason and an in-range offset), never any other exception, and never spins.

Two halves: hypothesis mutates, truncates and extends valid encodings (and throws plain random
bytes); then hand-written cases name each attack and the error it must produce.

The watchdog below is not a timing assertion: it only turns a hang (a decoder loop that does not
terminate, or work quadratic in a 64 KiB datagram) into a failure instead of a stuck test run.
Every decode here takes well under a millisecond; the watchdog allows ten seconds.
"""

from __future__ import annotations

import contextlib
import re
import signal
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from printerhq.snmp import (
    Message,
    Pdu,
    PduType,
    SnmpDecodeError,
    Tag,
    Varbind,
    Version,
    decode_message,
    encode_message,
)
from printerhq.snmp.ber import encode_length, encode_tlv
from printerhq.snmp.message import MAX_MESSAGE_SIZE, MAX_VARBINDS, encode_varbind

from .strategies_snmp import codec_settings, messages

WATCHDOG_SECONDS = 10


class DecoderHung(Exception):
    pass


@contextlib.contextmanager
def watchdog(seconds: float = WATCHDOG_SECONDS) -> Iterator[None]:
    """Raise DecoderHung if the body runs longer than ``seconds`` (SIGALRM; main thread)."""

    def expire(signum: int, frame: object) -> None:
        raise DecoderHung(f"decode did not finish within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def decode_or_error(data: bytes) -> Message | SnmpDecodeError:
    """Decode; an SnmpDecodeError is returned (and checked), anything else propagates."""
    with watchdog():
        try:
            message = decode_message(data)
        except SnmpDecodeError as error:
            assert isinstance(error.reason, str) and error.reason
            assert 0 <= error.offset <= len(data), (error.offset, len(data))
            return error
    assert isinstance(message, Message)
    return message


def check_decoded_is_consistent(message: Message) -> None:
    # Whatever the decoder accepts, the encoder can write and the decoder reads back unchanged.
    assert decode_message(encode_message(message)) == message


def rejects(data: bytes, reason: str, offset: int | None = None) -> SnmpDecodeError:
    outcome = decode_or_error(data)
    assert isinstance(outcome, SnmpDecodeError), f"accepted hostile input: {outcome!r}"
    assert re.search(reason, outcome.reason), outcome.reason
    if offset is not None:
        assert outcome.offset == offset, str(outcome)
    return outcome


# ---------------------------------------------------------------------------------------------
# Mutation fuzzing (hypothesis)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid encoding, then one to four edits: overwrite, insert, delete, truncate, extend,
    or plant a length-ish octet (0x80..0x84, 0xFF) somewhere."""
    data = bytearray(encode_message(draw(messages(max_varbinds=6))))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(
            st.sampled_from(("overwrite", "insert", "delete", "truncate", "extend", "length"))
        )
        at = draw(st.integers(0, len(data)))
        if op == "overwrite" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        elif op == "truncate":
            del data[at:]
        elif op == "extend":
            data += draw(st.binary(min_size=1, max_size=16))
        elif op == "length" and at < len(data):
            data[at] = draw(st.sampled_from((0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0xFF)))
    return bytes(data)


@codec_settings
@given(mutated())
def test_mutated_encodings(data: bytes) -> None:
    outcome = decode_or_error(data)
    if isinstance(outcome, Message):
        check_decoded_is_consistent(outcome)


@codec_settings
@given(messages(max_varbinds=6), st.data())
def test_every_truncation_is_rejected(message: Message, data: st.DataObject) -> None:
    encoded = encode_message(message)
    cut = data.draw(st.integers(0, len(encoded) - 1))
    # A strict prefix of a message is never a message: the outer length no longer fits.
    rejects(encoded[:cut], ".")


@codec_settings
@given(messages(max_varbinds=6), st.binary(min_size=1, max_size=32))
def test_trailing_bytes_are_rejected(message: Message, tail: bytes) -> None:
    encoded = encode_message(message)
    rejects(encoded + tail, "trailing bytes after message", offset=len(encoded))


@codec_settings
@given(st.binary(max_size=600))
def test_random_bytes(data: bytes) -> None:
    outcome = decode_or_error(data)
    if isinstance(outcome, Message):
        check_decoded_is_consistent(outcome)


@codec_settings
@given(st.binary(max_size=400))
def test_random_bytes_behind_a_plausible_header(body: bytes) -> None:
    # Random contents inside a correct outer SEQUENCE with a v2c version and community, so the
    # fuzzing gets past the first checks and into the PDU and varbinds.
    prefix = b"\x02\x01\x01\x04\x06public"
    data = encode_tlv(Tag.SEQUENCE, prefix + body)
    outcome = decode_or_error(data)
    if isinstance(outcome, Message):
        check_decoded_is_consistent(outcome)


@codec_settings
@given(st.lists(st.binary(max_size=12), max_size=8), st.sampled_from(list(PduType)))
def test_random_varbinds_in_a_valid_pdu(raw_varbinds: list[bytes], pdu_type: PduType) -> None:
    varbind_list = encode_tlv(
        Tag.SEQUENCE, b"".join(encode_tlv(Tag.SEQUENCE, raw) for raw in raw_varbinds)
    )
    pdu = encode_tlv(pdu_type, b"\x02\x04\x01\x02\x03\x04\x02\x01\x00\x02\x01\x00" + varbind_list)
    data = encode_tlv(Tag.SEQUENCE, b"\x02\x01\x01\x04\x06public" + pdu)
    outcome = decode_or_error(data)
    if isinstance(outcome, Message):
        check_decoded_is_consistent(outcome)


# ---------------------------------------------------------------------------------------------
# Hand-written hostile cases

COMMUNITY = b"\x04\x06public"
V2C = b"\x02\x01\x01"
REQUEST_HEAD = b"\x02\x04\x01\x02\x03\x04\x02\x01\x00\x02\x01\x00"


def message_bytes(
    varbinds: bytes = b"",
    *,
    pdu_tag: int = PduType.RESPONSE,
    head: bytes = REQUEST_HEAD,
    version: bytes = V2C,
) -> bytes:
    pdu = encode_tlv(pdu_tag, head + encode_tlv(Tag.SEQUENCE, varbinds))
    return encode_tlv(Tag.SEQUENCE, version + COMMUNITY + pdu)


def varbind_bytes(value: bytes, name: bytes = b"\x06\x03\x2b\x06\x01") -> bytes:
    return encode_tlv(Tag.SEQUENCE, name + value)


def test_helper_builds_valid_messages() -> None:
    # The hostile cases below are one edit away from this.
    message = decode_message(message_bytes(varbind_bytes(b"\x02\x01\x05")))
    assert message.pdu.varbinds == [Varbind((1, 3, 6, 1), Tag.INTEGER, 5)]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "truncated tag/length"),
        (b"\x30", "truncated tag/length"),
        (b"\x30\x00", "truncated tag/length"),
        (b"\x30\x02\x05\x00", "expected version"),
        (b"\x04\x00", "expected Message SEQUENCE"),
        (b"\xff\xff\xff", "high tag"),
    ],
)
def test_tiny_inputs(data: bytes, reason: str) -> None:
    rejects(data, reason)


def test_indefinite_length_message() -> None:
    body = V2C + COMMUNITY + b"\xa2\x0e" + REQUEST_HEAD + b"\x30\x00"
    rejects(b"\x30\x80" + body + b"\x00\x00", "indefinite length", offset=1)


def test_indefinite_length_in_a_varbind() -> None:
    data = message_bytes(b"\x30\x80\x06\x03\x2b\x06\x01\x05\x00\x00\x00")
    rejects(data, "indefinite length")


def test_length_overrunning_the_datagram() -> None:
    valid = message_bytes(varbind_bytes(b"\x05\x00"))
    rejects(b"\x30\x7f" + valid[2:], "overruns", offset=2)
    rejects(b"\x30\x84\xff\xff\xff\xff" + valid[2:], "overruns")


def test_length_overrunning_the_enclosing_value() -> None:
    # The varbind's own length fits the datagram but not its VarBindList.
    inner = varbind_bytes(b"\x05\x00")
    stretched = inner[:1] + bytes((inner[1] + 3,)) + inner[2:]
    varbind_list = b"\x30" + encode_length(len(inner)) + stretched
    pdu = encode_tlv(PduType.RESPONSE, REQUEST_HEAD + varbind_list)
    # Three spare octets after the PDU, inside the message: room the varbind must not claim.
    data = encode_tlv(Tag.SEQUENCE, V2C + COMMUNITY + pdu + b"\x00\x00\x00")
    error = rejects(data, "overrun")
    assert error.offset < len(data) - 3


def test_five_octet_length_field() -> None:
    rejects(b"\x30\x85\x00\x00\x00\x00\x10" + b"\x00" * 16, "length field too long", offset=1)


def test_message_larger_than_a_udp_datagram() -> None:
    filler = varbind_bytes(encode_tlv(Tag.OCTET_STRING, b"x" * (MAX_MESSAGE_SIZE + 1)))
    rejects(message_bytes(filler), "larger than", offset=0)


def test_huge_varbind_count() -> None:
    # The smallest legal varbind is 7 octets, so a 64 KiB datagram holds over 9,000 of them.
    tiny = varbind_bytes(b"\x05\x00", name=b"\x06\x01\x2b")
    assert len(tiny) == 7
    data = message_bytes(tiny * (MAX_VARBINDS + 100))
    assert len(data) <= MAX_MESSAGE_SIZE
    rejects(data, f"more than {MAX_VARBINDS} varbinds")
    decode_message(message_bytes(tiny * MAX_VARBINDS))  # the limit itself is fine


def test_heaviest_legal_datagram_decodes() -> None:
    # Worst case for the general path: a near-64 KiB response of varbinds whose names are 128
    # arcs of five-octet sub-identifiers, lengths in long form. Linear work, well inside the
    # watchdog; the point is that it completes and is exact.
    oid = (1, 3) + (2**32 - 1,) * 126
    binding = Varbind(oid, Tag.OBJECT_IDENTIFIER, oid)
    count = (MAX_MESSAGE_SIZE - 100) // len(encode_varbind(binding))
    message = Message(Version.V2C, b"public", Pdu(PduType.RESPONSE, 1, 0, 0, [binding] * count))
    data = encode_message(message)
    assert MAX_MESSAGE_SIZE - 1400 < len(data) <= MAX_MESSAGE_SIZE
    assert decode_or_error(data) == message


def test_huge_varbind_count_declared_but_absent() -> None:
    # A VarBindList that claims 16 MB in a small datagram: rejected at the length, no allocation.
    pdu = encode_tlv(PduType.RESPONSE, REQUEST_HEAD + b"\x30\x83\xff\xff\xff")
    rejects(encode_tlv(Tag.SEQUENCE, V2C + COMMUNITY + pdu), "overruns")


def test_oid_with_200_arcs() -> None:
    name = encode_tlv(Tag.OBJECT_IDENTIFIER, b"\x2b" + b"\x01" * 199)
    rejects(message_bytes(varbind_bytes(b"\x05\x00", name=name)), "longer than 128")
    value = encode_tlv(Tag.OBJECT_IDENTIFIER, b"\x2b" + b"\x01" * 199)
    rejects(message_bytes(varbind_bytes(value)), "longer than 128")


def test_oid_with_128_arcs_is_the_limit() -> None:
    name = encode_tlv(Tag.OBJECT_IDENTIFIER, b"\x2b" + b"\x01" * 126)
    message = decode_message(message_bytes(varbind_bytes(b"\x05\x00", name=name)))
    assert len(message.pdu.varbinds[0].oid) == 128


@pytest.mark.parametrize(
    "contents",
    [
        b"\x2b\x80\x01",  # 0x80 leading octet: 1 written in two octets
        b"\x2b\x06\x80\x80\x01",
        b"\x80\x2b",  # the first subid itself
    ],
)
def test_non_minimal_oid_subids(contents: bytes) -> None:
    name = encode_tlv(Tag.OBJECT_IDENTIFIER, contents)
    rejects(message_bytes(varbind_bytes(b"\x05\x00", name=name)), "non-minimal OID")


def test_oid_subid_runs_are_cut_short() -> None:
    # 60,000 continuation octets: rejected five octets in, not after a quadratic bignum build.
    name = b"\x06\x82\xea\x62" + b"\x2b" + b"\xff" * 60_000 + b"\x01"
    error = rejects(message_bytes(varbind_bytes(b"\x05\x00", name=name)), "exceeds 2\\^32-1")
    assert error.offset < 100


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (message_bytes(varbind_bytes(b"\x05\x00")) + b"\x00", "trailing bytes after message"),
        (
            encode_tlv(
                Tag.SEQUENCE,
                V2C
                + COMMUNITY
                + encode_tlv(PduType.RESPONSE, REQUEST_HEAD + b"\x30\x00")
                + b"\x05\x00",
            ),
            "trailing bytes after PDU",
        ),
        (
            encode_tlv(
                Tag.SEQUENCE,
                V2C + COMMUNITY + encode_tlv(PduType.RESPONSE, REQUEST_HEAD + b"\x30\x00\x05\x00"),
            ),
            "trailing bytes in PDU",
        ),
        (message_bytes(varbind_bytes(b"\x05\x00\x05\x00")), "trailing bytes in VarBind"),
    ],
)
def test_trailing_bytes_at_every_level(data: bytes, reason: str) -> None:
    rejects(data, reason)


@pytest.mark.parametrize(
    ("head", "reason"),
    [
        (b"\x04\x04abcd\x02\x01\x00\x02\x01\x00", "expected request-id"),
        (b"\x05\x00\x02\x01\x00\x02\x01\x00", "expected request-id"),
        (b"\x41\x01\x05\x02\x01\x00\x02\x01\x00", "expected request-id"),
        (b"\x02\x00\x02\x01\x00\x02\x01\x00", "empty INTEGER"),
        (b"\x02\x0a" + b"\x01" * 10 + b"\x02\x01\x00\x02\x01\x00", "INTEGER too long"),
        (b"\x02\x01\x01\x04\x01\x00\x02\x01\x00", "expected error-status"),
        (b"\x02\x01\x01\x02\x01\x00", "expected error-index"),
    ],
)
def test_wrong_pdu_header_fields(head: bytes, reason: str) -> None:
    rejects(message_bytes(head=head), reason)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"\x02\x00", "empty INTEGER"),
        (b"\x40\x03\x0a\x00\x01", "IpAddress must be 4 octets"),
        (b"\x40\x05\x0a\x00\x00\x01\x01", "IpAddress must be 4 octets"),
        (b"\x41\x00", "empty unsigned"),
        (b"\x41\x05\x01\x00\x00\x00\x00", "COUNTER32 value out of range"),
        (b"\x42\x05\x01\x00\x00\x00\x00", "GAUGE32 value out of range"),
        (b"\x43\x05\x01\x00\x00\x00\x00", "TIMETICKS value out of range"),
        (b"\x46\x09\x01" + b"\x00" * 8, "COUNTER64 value out of range"),
        (b"\x46\x0a" + b"\x00" * 10, "unsigned integer too long"),
        (b"\x05\x01\x00", "NULL or exception value with contents"),
        (b"\x80\x01\x00", "NULL or exception value with contents"),
        (b"\x06\x00", "empty OBJECT IDENTIFIER"),
        (b"\x06\x02\x2b\x86", "truncated OID"),
        (b"\x47\x01\x00", "unknown value tag 0x47"),
        (b"\x24\x03\x04\x01\x41", "unknown value tag 0x24"),  # constructed OCTET STRING
        (b"\x30\x02\x05\x00", "unknown value tag 0x30"),  # no nested structures
        (b"\x1f\x81\x01\x00", "high tag"),
        (b"", "truncated tag/length"),
    ],
)
def test_bad_values(value: bytes, reason: str) -> None:
    error = rejects(message_bytes(varbind_bytes(value)), reason)
    assert error.offset >= len(message_bytes()) - 2  # points into the varbind, not the header


def test_unknown_value_tag_offset_points_at_the_tag() -> None:
    value = b"\x47\x81\x01\x00"  # long-form length: the old offset (start - 2) was off by one
    data = message_bytes(varbind_bytes(value))
    error = rejects(data, "unknown value tag")
    assert data[error.offset] == 0x47


def test_deep_nesting_is_not_followed() -> None:
    # 20,000 nested SEQUENCEs where a value should be: SNMP's grammar has a fixed depth, so the
    # decoder never recurses; it stops at the first unexpected tag.
    nested = b"\x05\x00"
    for _ in range(20_000):
        nested = b"\x30" + encode_length(len(nested)) + nested
        if len(nested) > 60_000:
            break
    rejects(message_bytes(varbind_bytes(nested)), "unknown value tag 0x30")


def test_nested_sequences_as_varbind_list_items() -> None:
    rejects(message_bytes(b"\x30\x04\x30\x02\x05\x00"), "expected VarBind name")


@pytest.mark.parametrize(
    ("version", "reason"),
    [
        (b"\x02\x01\x02", "unknown SNMP version 2"),
        (b"\x02\x01\xff", "unknown SNMP version -1"),
        (b"\x02\x00", "empty INTEGER"),
        (b"\x04\x01\x01", "expected version"),
    ],
)
def test_bad_versions(version: bytes, reason: str) -> None:
    rejects(message_bytes(version=version), reason)


def test_snmpv3_is_routed_with_a_clear_error() -> None:
    # net-snmp 5.9's engine-ID discovery probe (snmpget -v3 -u probe), as captured on loopback.
    probe = bytes.fromhex(
        "303e020103301102044269ca1c020300ffe30401040201030410300e0400020100020100040004000400"
        "301404000400a00e020402c708100201000201003000"
    )
    error = rejects(probe, "SNMPv3 message", offset=4)
    assert "printerhq.snmp.v3" in error.reason


@pytest.mark.parametrize(
    ("pdu_tag", "reason"),
    [
        (0xA9, "unknown PDU tag 0xa9"),
        (0xBF, "high tag"),
        (0x30, "unknown PDU tag 0x30"),
        (PduType.TRAP_V1, "SNMPv1 Trap-PDU is not supported"),
    ],
)
def test_bad_pdu_tags(pdu_tag: int, reason: str) -> None:
    rejects(message_bytes(pdu_tag=pdu_tag), reason)


@pytest.mark.parametrize(
    "pdu_type", [PduType.GET_BULK, PduType.INFORM, PduType.TRAP_V2, PduType.REPORT]
)
def test_v2_pdus_in_a_v1_message(pdu_type: PduType) -> None:
    rejects(message_bytes(pdu_tag=pdu_type, version=b"\x02\x01\x00"), "in an SNMPv1 message")


def test_v2_trap_decodes() -> None:
    # RFC 3416 4.2.6: sysUpTime.0 and snmpTrapOID.0 first.
    bindings = varbind_bytes(
        b"\x43\x02\x30\x39", name=b"\x06\x08\x2b\x06\x01\x02\x01\x01\x03\x00"
    ) + varbind_bytes(
        b"\x06\x09\x2b\x06\x01\x06\x03\x01\x01\x05\x01",
        name=b"\x06\x0a\x2b\x06\x01\x06\x03\x01\x01\x04\x01\x00",
    )
    message = decode_message(message_bytes(bindings, pdu_tag=PduType.TRAP_V2))
    assert message.pdu.type == PduType.TRAP_V2
    assert message.pdu.varbinds == [
        Varbind((1, 3, 6, 1, 2, 1, 1, 3, 0), Tag.TIMETICKS, 12345),
        Varbind(
            (1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0), Tag.OBJECT_IDENTIFIER, (1, 3, 6, 1, 6, 3, 1, 1, 5, 1)
        ),
    ]


# Lenient on purpose (BER, not DER; what agents really send), and still re-encodable.


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"\x41\x04\xff\xff\xff\xff", (Tag.COUNTER32, 2**32 - 1)),  # no leading zero octet
        (b"\x02\x02\x00\x05", (Tag.INTEGER, 5)),  # non-minimal INTEGER
        (b"\x02\x02\xff\x80", (Tag.INTEGER, -128)),  # pyasn1's form of -128
        (b"\x04\x81\x02hi", (Tag.OCTET_STRING, b"hi")),  # non-minimal length
        (b"\x02\x09\x7f" + b"\xff" * 8, (Tag.INTEGER, 2**71 - 1)),  # beyond Integer32
    ],
)
def test_lenient_but_exact(value: bytes, expected: tuple[int, object]) -> None:
    message = decode_message(message_bytes(varbind_bytes(value)))
    (varbind,) = message.pdu.varbinds
    assert (varbind.tag, varbind.value) == expected
    check_decoded_is_consistent(message)


def test_errors_are_one_type_and_a_value_error() -> None:
    # Callers catch SnmpDecodeError (or ValueError); nothing else escapes for malformed input.
    error = rejects(b"\x30\x03\x02\x01", "overruns")
    assert isinstance(error, ValueError)
    assert str(error).endswith(f"at byte {error.offset}")


def test_unmutated_encoding_decodes() -> None:
    # Sanity anchor for the mutation tests: the unmutated corpus decodes.
    message = Message(
        Version.V2C,
        b"public",
        Pdu(PduType.RESPONSE, 1, 0, 0, [Varbind((1, 3, 6, 1), Tag.COUNTER64, 5)]),
    )
    assert decode_or_error(encode_message(message)) == message
