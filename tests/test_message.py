"""SNMPv1/v2c messages (printerhq.snmp.message): round trips, known encodings, the request
template, the decoder's fast path, and interoperation with net-snmp's command-line tools."""

from __future__ import annotations

import shutil
import socket
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from printerhq.snmp import (
    Message,
    Pdu,
    PduType,
    RequestTemplate,
    SnmpDecodeError,
    Tag,
    Varbind,
    Version,
    decode_message,
    encode_message,
)
from printerhq.snmp.ber import decode_oid, encode_oid
from printerhq.snmp.message import (
    REQUEST_ID_MAX,
    REQUEST_ID_MIN,
    _decode_varbinds_general,
    decode_varbinds,
    encode_varbind,
    peek_version,
)

from .strategies_snmp import (
    V1_PDU_TYPES,
    V2C_PDU_TYPES,
    codec_settings,
    messages,
    oids,
    printer_oids,
    varbinds,
)

SYS_DESCR = (1, 3, 6, 1, 2, 1, 1, 1, 0)


def _get(
    oid: tuple[int, ...] = SYS_DESCR, request_id: int = 0x12345678, version: Version = Version.V2C
) -> Message:
    return Message(version, b"public", Pdu(PduType.GET, request_id, 0, 0, [Varbind(oid)]))


# ---------------------------------------------------------------------------------------------
# Round trips


@codec_settings
@given(messages(wide=True))
def test_round_trip(message: Message) -> None:
    assert decode_message(encode_message(message)) == message


@codec_settings
@given(messages())
def test_encoding_is_canonical(message: Message) -> None:
    # Decoding and re-encoding our own output reproduces it byte for byte.
    encoded = encode_message(message)
    assert encode_message(decode_message(encoded)) == encoded


@codec_settings
@given(messages(), st.sampled_from((bytes, bytearray, memoryview)))
def test_decode_accepts_any_buffer(message: Message, kind: type) -> None:
    encoded = encode_message(message)
    decoded = decode_message(kind(encoded))
    assert decoded == message
    assert type(decoded.community) is bytes


@codec_settings
@given(st.lists(varbinds(), max_size=10))
def test_decode_varbinds_alone(bindings: list[Varbind]) -> None:
    body = b"".join(map(encode_varbind, bindings))
    assert decode_varbinds(body, 0, len(body)) == bindings


# ---------------------------------------------------------------------------------------------
# Known encodings


def test_get_request_known_answer() -> None:
    # snmpget -v2c -c public <host> sysDescr.0, request-id 0x12345678.
    expected = bytes.fromhex(
        "3029"
        "020101"
        "0406" + b"public".hex() + "a01c"
        "020412345678"
        "020100"
        "020100"
        "300e"
        "300c"
        "06082b06010201010100"
        "0500"
    )
    assert encode_message(_get()) == expected
    assert decode_message(expected) == _get()


def test_response_with_every_type_known_answer() -> None:
    bindings = [
        Varbind((1, 3, 6, 1, 2, 1, 43, 11, 1, 1, 9, 1, 1), Tag.INTEGER, -3),
        Varbind((1, 3, 6, 1, 2, 1, 1, 5, 0), Tag.OCTET_STRING, b"HP"),
        Varbind((1, 3, 6, 1, 2, 1, 1, 2, 0), Tag.OBJECT_IDENTIFIER, (1, 3, 6, 1, 4, 1, 11)),
        Varbind((1, 3, 1), Tag.IP_ADDRESS, bytes((10, 0, 0, 1))),
        Varbind((1, 3, 2), Tag.COUNTER32, 2**31),
        Varbind((1, 3, 3), Tag.GAUGE32, 100),
        Varbind((1, 3, 4), Tag.TIMETICKS, 0),
        Varbind((1, 3, 5), Tag.OPAQUE, b"\x9f\x78\x04\x3f\x80\x00\x00"),
        Varbind((1, 3, 6), Tag.COUNTER64, 2**64 - 1),
        Varbind((1, 3, 7), Tag.NO_SUCH_OBJECT),
        Varbind((1, 3, 8), Tag.NO_SUCH_INSTANCE),
        Varbind((1, 3, 9), Tag.END_OF_MIB_VIEW),
        Varbind((1, 3, 10), Tag.NULL),
    ]
    varbind_hex = [
        "3011060c2b060102012b0b01010901010201fd",
        "300e06082b0601020101050004024850",
        "301206082b0601020101020006062b060104010b",
        "300a06022b0140040a000001",
        "300b06022b0241050080000000",
        "300706022b03420164",
        "300706022b04430100",
        "300d06022b0544079f78043f800000",
        "300f06022b06460900ffffffffffffffff",
        "300606022b078000",
        "300606022b088100",
        "300606022b098200",
        "300606022b0a0500",
    ]
    body = "".join(varbind_hex)
    assert len(body) // 2 == 0xA2
    pdu = "a281ae0201010201000201003081a2" + body
    expected = bytes.fromhex("3081bc0201010406" + b"public".hex() + pdu)
    message = Message(Version.V2C, b"public", Pdu(PduType.RESPONSE, 1, 0, 0, bindings))
    assert encode_message(message) == expected
    assert decode_message(expected) == message


def test_long_form_lengths_one_and_two_octets() -> None:
    community = b"c" * 200  # 0x81 0xC8
    value = b"v" * 300  # 0x82 0x01 0x2C
    message = Message(
        Version.V2C,
        community,
        Pdu(PduType.RESPONSE, 7, 0, 0, [Varbind((1, 3), Tag.OCTET_STRING, value)]),
    )
    encoded = encode_message(message)
    assert b"\x04\x81\xc8" + community in encoded
    assert b"\x04\x82\x01\x2c" + value in encoded
    assert encoded[:2] == b"\x30\x82"
    assert decode_message(encoded) == message


# ---------------------------------------------------------------------------------------------
# Model


def test_pdu_field_names() -> None:
    bulk = Pdu(PduType.GET_BULK, 1, 2, 25)
    assert (bulk.non_repeaters, bulk.max_repetitions) == (2, 25)
    assert Pdu(PduType.RESPONSE, 1, 2, 1).error_name == "noSuchName"
    assert Pdu(PduType.RESPONSE, 1, 18, 1).error_name == "inconsistentName"
    assert Pdu(PduType.RESPONSE, 1, 99, 1).error_name == "error-status 99"


@pytest.mark.parametrize("tag", [Tag.NO_SUCH_OBJECT, Tag.NO_SUCH_INSTANCE, Tag.END_OF_MIB_VIEW])
def test_exceptions(tag: Tag) -> None:
    assert Varbind((1, 3), tag).is_exception
    assert not Varbind((1, 3)).is_exception
    assert not Varbind((1, 3), Tag.INTEGER, 0).is_exception


def test_error_status_and_index_survive() -> None:
    message = Message(
        Version.V1,
        b"public",
        Pdu(
            PduType.RESPONSE, 99, 2, 3, [Varbind((1, 3, 6)), Varbind((1, 3, 7)), Varbind((1, 3, 8))]
        ),
    )
    decoded = decode_message(encode_message(message))
    assert (decoded.pdu.error_status, decoded.pdu.error_index) == (2, 3)
    assert decoded.pdu.error_name == "noSuchName"


@pytest.mark.parametrize(
    ("message", "match"),
    [
        (_get(version=Version.V3), "SNMPv1 or SNMPv2c"),
        (Message(Version.V1, b"p", Pdu(PduType.GET_BULK, 1)), "does not exist in SNMPv1"),
        (Message(Version.V1, b"p", Pdu(PduType.TRAP_V2, 1)), "does not exist in SNMPv1"),
        (Message(Version.V2C, b"p", Pdu(PduType.GET, 2**80)), "INTEGER"),
        (
            Message(
                Version.V2C,
                b"p",
                Pdu(PduType.RESPONSE, 1, 0, 0, [Varbind((1, 3), Tag.IP_ADDRESS, b"\x01\x02\x03")]),
            ),
            "IpAddress",
        ),
        (
            Message(
                Version.V2C,
                b"p",
                Pdu(PduType.RESPONSE, 1, 0, 0, [Varbind((1, 3), Tag.COUNTER32, 2**32)]),
            ),
            "out of range",
        ),
        (
            Message(
                Version.V2C,
                b"p",
                Pdu(PduType.RESPONSE, 1, 0, 0, [Varbind((1, 3), Tag.COUNTER64, -1)]),
            ),
            "out of range",
        ),
        (
            Message(
                Version.V2C,
                b"p",
                Pdu(PduType.RESPONSE, 1, 0, 0, [Varbind((1, 3), Tag.INTEGER, 2**72)]),
            ),
            "INTEGER",
        ),
        (
            Message(Version.V2C, b"p", Pdu(PduType.RESPONSE, 1, 0, 0, [Varbind((1, 3), 0x47, 1)])),
            "cannot encode",
        ),
        (Message(Version.V2C, b"p", Pdu(PduType.RESPONSE, 1, 0, 0, [Varbind((1, 40))])), "arcs"),
        (
            Message(
                Version.V2C,
                b"p",
                Pdu(PduType.RESPONSE, 1, 0, 0, [Varbind((1, 3), Tag.OBJECT_IDENTIFIER, (7,))]),
            ),
            "arcs",
        ),
    ],
)
def test_encode_rejects(message: Message, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        encode_message(message)


@codec_settings
@given(messages())
def test_peek_version(message: Message) -> None:
    assert peek_version(encode_message(message)) == message.version


# ---------------------------------------------------------------------------------------------
# RequestTemplate: encode once, patch the request-id per send


@codec_settings
@given(st.one_of(st.just(_get()), messages()), st.integers(REQUEST_ID_MIN, REQUEST_ID_MAX))
def test_template_render_equals_fresh_encoding(message: Message, request_id: int) -> None:
    template = RequestTemplate(message)
    rendered = template.render(request_id)
    fresh = Message(
        message.version,
        message.community,
        Pdu(
            message.pdu.type,
            request_id,
            message.pdu.error_status,
            message.pdu.error_index,
            list(message.pdu.varbinds),
        ),
    )
    assert rendered == encode_message(fresh)
    assert decode_message(rendered).pdu.request_id == request_id


@pytest.mark.parametrize(
    "request_id",
    [REQUEST_ID_MIN, REQUEST_ID_MIN + 1, 0x0100_0000, REQUEST_ID_MAX - 1, REQUEST_ID_MAX],
)
def test_template_edges(request_id: int) -> None:
    template = RequestTemplate(_get())
    fresh = encode_message(_get(request_id=request_id))
    assert template.render(request_id) == fresh


@pytest.mark.parametrize("request_id", [REQUEST_ID_MIN - 1, 0, -1, REQUEST_ID_MAX + 1, 2**40])
def test_template_refuses_ids_outside_the_patchable_range(request_id: int) -> None:
    with pytest.raises(ValueError):
        RequestTemplate(_get()).render(request_id)


def test_template_range_is_exactly_the_four_octet_ids() -> None:
    # The range is what makes patching safe: every id in it, and none just outside it, has a
    # four-octet minimal encoding.
    assert len(encode_message(_get(request_id=REQUEST_ID_MIN))) == len(encode_message(_get()))
    assert (
        len(encode_message(_get(request_id=REQUEST_ID_MIN - 1))) == len(encode_message(_get())) - 1
    )
    assert (
        len(encode_message(_get(request_id=REQUEST_ID_MAX + 1))) == len(encode_message(_get())) + 1
    )


def test_template_does_not_alias_the_message() -> None:
    message = _get()
    template = RequestTemplate(message)
    before = template.render(REQUEST_ID_MIN)
    message.pdu.varbinds.append(Varbind((1, 3, 6)))
    assert template.render(REQUEST_ID_MIN) == before


# ---------------------------------------------------------------------------------------------
# The fast path in decode_varbinds is equivalent to the general path


_CONSTRUCTED = frozenset((0x30, *range(0xA0, 0xA9)))


def _long_form(data: bytes) -> bytes:
    """Re-encode a message with every length in two-octet long form (legal BER, never what a
    minimal encoder writes). That pushes every varbind off the decoder's short-form fast path
    and through the general, fully checked header reader."""

    def walk(pos: int, end: int) -> bytes:
        out = bytearray()
        while pos < end:
            tag, length = data[pos], data[pos + 1]
            pos += 2
            if length & 0x80:
                count = length & 0x7F
                length = int.from_bytes(data[pos : pos + count], "big")
                pos += count
            contents = data[pos : pos + length]
            if tag in _CONSTRUCTED:
                contents = walk(pos, pos + length)
            out += bytes((tag, 0x82)) + len(contents).to_bytes(2, "big") + contents
            pos += length
        return bytes(out)

    return walk(0, len(data))


@codec_settings
@given(messages(wide=True))
def test_general_path_agrees_with_fast_path(message: Message) -> None:
    minimal = encode_message(message)
    stretched = _long_form(minimal)
    assert stretched != minimal
    assert decode_message(stretched) == decode_message(minimal) == message


@codec_settings
@given(st.one_of(printer_oids(), oids()))
def test_fast_oid_path_agrees_with_decode_oid(oid: tuple[int, ...]) -> None:
    # A varbind name goes through the single-octet-arcs shortcut when it can; decode_oid is
    # the reference for every OID.
    contents = encode_oid(oid)
    binding = encode_varbind(Varbind(oid))
    assert (
        decode_varbinds(binding, 0, len(binding))[0].oid
        == decode_oid(contents, 0, len(contents))
        == oid
    )


def _outcome(decode: object, data: bytes) -> object:
    try:
        return decode(data, 0, len(data))  # type: ignore[operator]
    except SnmpDecodeError as error:
        return ("error", error.reason, error.offset)


@st.composite
def varbind_lists_and_noise(draw: st.DrawFn) -> bytes:
    """Valid VarBindList contents, some with one octet overwritten, some plain noise, some
    hand-assembled varbinds with a random value header (the fast path's trickiest checks)."""
    kind = draw(st.sampled_from(("valid", "edited", "noise", "assembled")))
    if kind == "noise":
        return draw(st.binary(max_size=200))
    if kind == "assembled":
        name = draw(st.one_of(st.just(encode_oid(draw(printer_oids()))), st.binary(max_size=8)))
        value = bytes((draw(st.integers(0, 255)), draw(st.integers(0, 255))))
        value += draw(st.binary(max_size=10))
        body = bytes((0x06, len(name))) + name + value
        return (
            bytes((0x30, draw(st.sampled_from((len(body), len(body) - 1, len(body) + 1, 0x81)))))
            + body
        )
    data = bytearray(b"".join(map(encode_varbind, draw(st.lists(varbinds(), max_size=6)))))
    if kind == "edited" and data:
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


@codec_settings
@given(varbind_lists_and_noise())
def test_fast_path_equals_general_path_on_any_bytes(data: bytes) -> None:
    # The same bytes through decode_varbinds (fast path where it applies) and through the
    # general path alone: identical varbinds, or the identical error at the identical offset.
    assert _outcome(decode_varbinds, data) == _outcome(_decode_varbinds_general, data)


@codec_settings
@given(st.binary(min_size=1, max_size=127), st.binary(max_size=6))
def test_fast_path_equals_general_path_for_any_name(contents: bytes, value: bytes) -> None:
    # Arbitrary name contents (the one-octet-arcs shortcut against decode_oid) with a NULL or
    # an arbitrary value.
    for tail in (b"\x05\x00", value):
        body = bytes((0x06, len(contents))) + contents + tail
        if len(body) < 0x80:
            data = bytes((0x30, len(body))) + body
            assert _outcome(decode_varbinds, data) == _outcome(_decode_varbinds_general, data)


def test_fast_path_takes_the_common_shapes(monkeypatch: pytest.MonkeyPatch) -> None:
    # The equivalence tests above would pass vacuously if the fast path were never taken. Here
    # the general path is booby-trapped: the printer-shaped varbinds must not reach it.
    from printerhq.snmp import message as message_module

    def trap(*args: object) -> object:
        raise AssertionError("general path taken")

    bindings = [
        Varbind((1, 3, 6, 1, 2, 1, 43, 11, 1, 1, 9, 1, 1), Tag.INTEGER, -3),
        Varbind((1, 3, 6, 1, 2, 1, 43, 11, 1, 1, 6, 1, 1), Tag.OCTET_STRING, b"Black Toner"),
        Varbind((1, 3, 6, 1, 2, 1, 1, 3, 0), Tag.TIMETICKS, 2**32 - 1),
        Varbind((1, 3, 6, 1, 2, 1, 43, 10, 2, 1, 4, 1, 1), Tag.COUNTER32, 123456),
        Varbind((1, 3, 6, 1, 2, 1, 1, 2, 0), Tag.OBJECT_IDENTIFIER, (1, 3, 6, 1, 4, 1, 11)),
        Varbind((1, 3, 6, 1, 2, 1, 1, 9, 0), Tag.NO_SUCH_INSTANCE),
    ]
    body = b"".join(map(encode_varbind, bindings))
    monkeypatch.setattr(message_module, "_decode_varbind", trap)
    decoded = decode_varbinds(body, 0, len(body))
    assert decoded == bindings
    assert all(type(varbind) is Varbind for varbind in decoded)
    # Multi-octet arcs (Kyocera's 1347) stay on it too (their name decoded once, then looked
    # up), the second time as the first ...
    kyocera = encode_varbind(Varbind((1, 3, 6, 1, 4, 1, 1347, 43, 5, 1, 1, 1)))
    for _ in range(2):
        assert decode_varbinds(kyocera, 0, len(kyocera)) == [
            Varbind((1, 3, 6, 1, 4, 1, 1347, 43, 5, 1, 1, 1))
        ]
    # ... while a long-form length (a value of 128 octets or more) does reach the general path.
    long = encode_varbind(Varbind((1, 3, 6, 1, 2, 1, 1, 1, 0), Tag.OCTET_STRING, b"x" * 200))
    with pytest.raises(AssertionError, match="general path taken"):
        decode_varbinds(long, 0, len(long))


# ---------------------------------------------------------------------------------------------
# Interoperation with net-snmp's tools (a real third-party encoder and decoder), on loopback


def _net_snmp_request(
    argv: list[str],
    names: list[str],
) -> tuple[bytes, subprocess.Popen[str], socket.socket]:
    """Start a net-snmp command against a loopback UDP port of ours; return its datagram."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(10)
    port = sock.getsockname()[1]
    process = subprocess.Popen(
        [*argv, f"127.0.0.1:{port}", *names],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        datagram, peer = sock.recvfrom(65535)
    except BaseException:
        process.kill()
        process.wait(5)
        sock.close()
        raise
    sock.connect(peer)
    return datagram, process, sock


needs_net_snmp = pytest.mark.skipif(
    shutil.which("snmpget") is None, reason="net-snmp tools not installed"
)


@pytest.mark.interop
@needs_net_snmp
@pytest.mark.parametrize("version", [Version.V1, Version.V2C])
def test_net_snmp_get_round_trip(version: Version) -> None:
    flag = "-v1" if version == Version.V1 else "-v2c"
    datagram, process, sock = _net_snmp_request(
        ["snmpget", flag, "-c", "public", "-r", "0", "-t", "5", "-On"], ["1.3.6.1.2.1.1.1.0"]
    )
    with sock:
        request = decode_message(datagram)
        assert request.version == version and request.community == b"public"
        assert request.pdu.type == PduType.GET
        assert request.pdu.varbinds == [Varbind(SYS_DESCR)]
        assert encode_message(request) == datagram  # net-snmp writes minimal BER too
        response = Message(
            version,
            b"public",
            Pdu(
                PduType.RESPONSE,
                request.pdu.request_id,
                0,
                0,
                [Varbind(SYS_DESCR, Tag.OCTET_STRING, b"HP LaserJet 4250")],
            ),
        )
        sock.send(encode_message(response))
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert out.strip() == '.1.3.6.1.2.1.1.1.0 = STRING: "HP LaserJet 4250"', out


@pytest.mark.interop
@needs_net_snmp
def test_net_snmp_bulk_and_every_type() -> None:
    datagram, process, sock = _net_snmp_request(
        ["snmpbulkget", "-v2c", "-c", "public", "-r", "0", "-t", "5", "-On", "-Cn1", "-Cr3"],
        ["1.3.6.1.2.1.1.3", "1.3.6.1.2.1.43.11.1.1.9"],
    )
    with sock:
        request = decode_message(datagram)
        assert request.pdu.type == PduType.GET_BULK
        assert (request.pdu.non_repeaters, request.pdu.max_repetitions) == (1, 3)
        assert [vb.oid for vb in request.pdu.varbinds] == [
            (1, 3, 6, 1, 2, 1, 1, 3),
            (1, 3, 6, 1, 2, 1, 43, 11, 1, 1, 9),
        ]
        assert encode_message(request) == datagram
        level = (1, 3, 6, 1, 2, 1, 43, 11, 1, 1, 9, 1)
        bindings = [
            Varbind((1, 3, 6, 1, 2, 1, 1, 3, 0), Tag.TIMETICKS, 123456),
            Varbind((*level, 1), Tag.INTEGER, -3),
            Varbind((*level, 2), Tag.COUNTER32, 4294967295),
            Varbind((*level, 3), Tag.GAUGE32, 77),
            Varbind((1, 3, 6, 1, 4, 1, 11, 1), Tag.IP_ADDRESS, bytes((127, 0, 0, 9))),
            Varbind((1, 3, 6, 1, 4, 1, 11, 2), Tag.COUNTER64, 2**64 - 1),
            Varbind((1, 3, 6, 1, 4, 1, 11, 3), Tag.OBJECT_IDENTIFIER, (1, 3, 6, 1, 4, 1, 11)),
            Varbind((1, 3, 6, 1, 4, 1, 11, 4), Tag.END_OF_MIB_VIEW),
        ]
        response = Message(
            Version.V2C, b"public", Pdu(PduType.RESPONSE, request.pdu.request_id, 0, 0, bindings)
        )
        sock.send(encode_message(response))
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    lines = out.splitlines()
    assert "Timeticks: (123456)" in lines[0]
    assert lines[1].endswith("INTEGER: -3")
    assert lines[2].endswith("Counter32: 4294967295")
    assert lines[3].endswith("Gauge32: 77")
    assert lines[4].endswith("IpAddress: 127.0.0.9")
    assert lines[5].endswith("Counter64: 18446744073709551615")
    assert lines[6].endswith("OID: .1.3.6.1.4.1.11")
    assert "No more variables left in this MIB View" in lines[7]


def test_pdu_type_lists_cover_the_enum() -> None:
    assert set(V2C_PDU_TYPES) | {PduType.TRAP_V1} == set(PduType)
    assert set(V1_PDU_TYPES) < set(V2C_PDU_TYPES)
