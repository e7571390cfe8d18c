"""BER primitives (printerhq.snmp.ber): lengths, integers, OIDs, dotted OID text."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from printerhq.snmp import SnmpDecodeError, Tag, format_oid, parse_oid
from printerhq.snmp.ber import (
    MAX_OID_LENGTH,
    MAX_SUBID,
    decode_oid,
    encode_length,
    encode_oid,
    encode_signed,
    encode_tlv,
    encode_unsigned,
    read_header,
)

from .strategies_snmp import codec_settings, general_oids, oids


def _decode_whole_oid(contents: bytes) -> tuple[int, ...]:
    return decode_oid(contents, 0, len(contents))


# ---------------------------------------------------------------------------------------------
# Lengths (X.690 8.1.3)


@codec_settings
@given(st.integers(0, 2**32 - 1))
def test_length_round_trips_through_header(length: int) -> None:
    encoded = encode_length(length)
    # The header reader checks the length against the buffer, so give it one that fits exactly
    # (without allocating gigabytes: lie about the end instead).
    data = bytes((Tag.OCTET_STRING,)) + encoded
    tag, start, stop = read_header(data, 0, len(data) + length)
    assert (tag, start, stop - start) == (Tag.OCTET_STRING, len(data), length)


@codec_settings
@given(st.integers(0, 2**32 - 1))
def test_length_is_minimal(length: int) -> None:
    encoded = encode_length(length)
    if length < 0x80:
        assert encoded == bytes((length,))
    else:
        count = encoded[0] & 0x7F
        assert encoded[0] & 0x80 and count == len(encoded) - 1
        assert encoded[1] != 0, "long form must not carry leading zero octets"


@pytest.mark.parametrize(
    ("length", "expected"),
    [
        (0, b"\x00"),
        (127, b"\x7f"),
        (128, b"\x81\x80"),
        (255, b"\x81\xff"),
        (256, b"\x82\x01\x00"),
        (65535, b"\x82\xff\xff"),
        (65536, b"\x83\x01\x00\x00"),
    ],
)
def test_length_known_answers(length: int, expected: bytes) -> None:
    assert encode_length(length) == expected


def test_header_accepts_non_minimal_long_form() -> None:
    # BER (unlike DER) allows 0x81 0x05 for 5; agents do send it, and pysnmp reads it.
    assert read_header(b"\x04\x81\x05hello", 0, 8) == (4, 3, 8)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "truncated tag/length"),
        (b"\x04", "truncated tag/length"),
        (b"\x04\x80", "indefinite length"),
        (b"\x04\x85\x00\x00\x00\x00\x01", "length field too long"),
        (b"\x04\x82\x01", "truncated length"),
        (b"\x04\x05abc", "overruns"),
        (b"\x1f\x01\x00", "high tag"),
    ],
)
def test_header_rejects(data: bytes, reason: str) -> None:
    with pytest.raises(SnmpDecodeError, match=reason) as caught:
        read_header(data, 0, len(data))
    assert 0 <= caught.value.offset <= len(data)


# ---------------------------------------------------------------------------------------------
# INTEGER contents (X.690 8.3)


@codec_settings
@given(st.integers(-(2**80), 2**80))
def test_signed_round_trip_and_minimal(value: int) -> None:
    contents = encode_signed(value)
    assert int.from_bytes(contents, "big", signed=True) == value
    if len(contents) > 1:
        # X.690 8.3.2: the first nine bits are never all ones or all zeros.
        top9 = (contents[0] << 1) | (contents[1] >> 7)
        assert top9 not in (0, 0x1FF)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, b"\x00"),
        (127, b"\x7f"),
        (128, b"\x00\x80"),
        (-1, b"\xff"),
        (-128, b"\x80"),
        (-129, b"\xff\x7f"),
        (256, b"\x01\x00"),
        (2**31 - 1, b"\x7f\xff\xff\xff"),
    ],
)
def test_signed_known_answers(value: int, expected: bytes) -> None:
    assert encode_signed(value) == expected


@codec_settings
@given(st.integers(0, 2**64 - 1))
def test_unsigned_is_a_non_negative_ber_integer(value: int) -> None:
    contents = encode_unsigned(value)
    # RFC 2578 7.1: Counter32 etc. are still INTEGERs on the wire, so they read back the same
    # as signed (a leading zero octet when the top bit is set) and are the minimal form.
    assert int.from_bytes(contents, "big", signed=True) == value
    assert contents == encode_signed(value)


# ---------------------------------------------------------------------------------------------
# OBJECT IDENTIFIER (X.690 8.19)


@codec_settings
@given(oids())
def test_oid_round_trip(oid: tuple[int, ...]) -> None:
    assert _decode_whole_oid(encode_oid(oid)) == oid


@pytest.mark.parametrize(
    ("oid", "contents"),
    [
        ((1, 3, 6, 1, 2, 1, 1, 1, 0), bytes.fromhex("2b06010201010100")),
        (
            (1, 3, 6, 1, 4, 1, 11, 2, 3, 9, 4, 2, 1, 1, 3, 3, 0),
            bytes.fromhex("2b060104010b02030904020101030300"),
        ),
        ((1, 3, 6, 1, 4, 1, 1347, 42), bytes.fromhex("2b06010401 8a43 2a".replace(" ", ""))),
        ((2, 999, 3), bytes.fromhex("883703")),  # X.690 8.19.5 example
        ((0, 0), b"\x00"),
        ((1, 3, MAX_SUBID), bytes.fromhex("2b8fffffff7f")),
    ],
)
def test_oid_known_answers(oid: tuple[int, ...], contents: bytes) -> None:
    assert encode_oid(oid) == contents
    assert _decode_whole_oid(contents) == oid


@pytest.mark.parametrize(
    "oid",
    [
        (1,),
        (),
        (3, 1),
        (1, 40),
        (0, 40),
        (-1, 3),
        (1, -1),
        (1, 3, -1),
        (1, 3, MAX_SUBID + 1),
        (2, MAX_SUBID + 1),
        (1, 3) + (1,) * (MAX_OID_LENGTH - 1),
    ],
)
def test_encode_oid_rejects(oid: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        encode_oid(oid)


def test_encode_oid_accepts_the_longest() -> None:
    oid = (1, 3) + (1,) * (MAX_OID_LENGTH - 2)
    assert _decode_whole_oid(encode_oid(oid)) == oid


@pytest.mark.parametrize(
    ("contents", "reason"),
    [
        (b"", "empty OBJECT IDENTIFIER"),
        (b"\x2b\x80\x01", "non-minimal"),
        (b"\x80\x2b", "non-minimal"),
        (b"\x2b\x86", "truncated"),
        (b"\x2b\x90\x80\x80\x80\x00", "exceeds 2^32-1"),  # 2^32
        (b"\x2b" + b"\x01" * 200, "longer than 128"),
        (b"\x2b" + b"\xff" * 50_000 + b"\x01", "exceeds 2^32-1"),
        (b"\xff" * 50_000 + b"\x01", "exceeds 2^32-1"),
    ],
)
def test_decode_oid_rejects(contents: bytes, reason: str) -> None:
    with pytest.raises(SnmpDecodeError, match=re.escape(reason)) as caught:
        _decode_whole_oid(contents)
    assert 0 <= caught.value.offset <= len(contents)


def test_decode_oid_huge_subid_fails_at_the_first_octet_too_many() -> None:
    # A run of continuation octets is rejected as soon as the value passes 2^32-1 (five
    # octets in), rather than after building a 350,000-bit integer.
    contents = b"\x2b" + b"\xff" * 50_000 + b"\x01"
    with pytest.raises(SnmpDecodeError) as caught:
        _decode_whole_oid(contents)
    assert caught.value.offset == 5


def test_first_subid_may_exceed_2_32_under_arc_2() -> None:
    # 2.(2^32-1) is valid: its first subid is 80 + 2^32 - 1.
    oid = (2, MAX_SUBID, 5)
    assert _decode_whole_oid(encode_oid(oid)) == oid
    too_big = encode_oid((2, MAX_SUBID))
    # Bump the last octet by one: 2.(2^32).
    with pytest.raises(SnmpDecodeError):
        _decode_whole_oid(too_big[:-1] + bytes((too_big[-1] + 1,)))


# ---------------------------------------------------------------------------------------------
# Dotted text


@codec_settings
@given(oids())
def test_parse_format_round_trip(oid: tuple[int, ...]) -> None:
    text = format_oid(oid)
    assert parse_oid(text) == oid
    assert parse_oid("." + text) == oid


@codec_settings
@given(general_oids())
def test_parse_oid_output_is_always_encodable(oid: tuple[int, ...]) -> None:
    encode_oid(parse_oid(format_oid(oid)))


@pytest.mark.parametrize(
    "text",
    [
        "",
        ".",
        "1",
        "1.",
        "1..3",
        "1.3.",
        "a.b",
        "1.3.x",
        "1_0.3",
        "+1.3",
        "1.-3",
        "1. 3",
        "1.\u0663",
        "3.1",
        "1.40",
        "1.3." + str(MAX_SUBID + 1),
        "..1.3",
        ".".join(["1"] * (MAX_OID_LENGTH + 1)),
    ],
)
def test_parse_oid_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_oid(text)


def test_parse_oid_tolerates_surrounding_space_and_leading_dot() -> None:
    assert parse_oid(" .1.3.6.1.2.1.43 \n") == (1, 3, 6, 1, 2, 1, 43)


# ---------------------------------------------------------------------------------------------
# Misc


def test_decode_error_carries_reason_and_offset() -> None:
    error = SnmpDecodeError("something odd", 17)
    assert (error.reason, error.offset) == ("something odd", 17)
    assert "something odd" in str(error) and "17" in str(error)
    assert isinstance(error, ValueError)


@codec_settings
@given(st.integers(0, 0xFE).filter(lambda t: t & 0x1F != 0x1F), st.binary(max_size=300))
def test_tlv_reads_back(tag: int, contents: bytes) -> None:
    data = encode_tlv(tag, contents)
    got_tag, start, stop = read_header(data, 0, len(data))
    assert (got_tag, data[start:stop], stop) == (tag, contents, len(data))
