"""SNMPv3 message codec (RFC 3412 section 6): round-trips, pysnmp/pyasn1 differential, rejects."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder as ber_decoder
from pyasn1.codec.ber import encoder as ber_encoder
from pysnmp.proto.mpmod.rfc3412 import SNMPv3Message
from pysnmp.proto.secmod.rfc3414.service import UsmSecurityParameters as PyUsmParams

from printerhq.snmp.ber import SnmpDecodeError
from printerhq.snmp.message import Message, Pdu, PduType, Varbind, Version, encode_message
from printerhq.snmp.v3 import (
    FLAG_AUTH,
    FLAG_PRIV,
    FLAG_REPORTABLE,
    ScopedPdu,
    UsmSecurityParameters,
    V3Message,
    decode_v3_message,
    encode_v3_message,
    peek_msg_id,
)

int31 = st.integers(0, 0x7FFF_FFFF)
oids = st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=12).map(lambda t: (1, 3, *t))
varbinds = st.lists(
    st.one_of(
        st.builds(Varbind, oids, st.just(0x05), st.none()),
        st.builds(Varbind, oids, st.just(0x02), st.integers(-(2**31), 2**31 - 1)),
        st.builds(Varbind, oids, st.just(0x04), st.binary(max_size=300)),
        st.builds(Varbind, oids, st.just(0x41), st.integers(0, 2**32 - 1)),
    ),
    max_size=8,
)
pdus = st.builds(
    Pdu,
    st.sampled_from(
        [PduType.GET, PduType.GET_NEXT, PduType.GET_BULK, PduType.RESPONSE, PduType.REPORT]
    ),
    st.integers(-(2**31), 2**31 - 1),
    st.integers(0, 18),
    st.integers(0, 100),
    varbinds,
)
securities = st.builds(
    UsmSecurityParameters,
    st.binary(max_size=32),
    int31,
    int31,
    st.binary(max_size=32),
    st.binary(max_size=48),
    st.binary(max_size=8),
)


@st.composite
def messages(draw) -> V3Message:
    flags = draw(
        st.sampled_from(
            [
                0,
                FLAG_REPORTABLE,
                FLAG_AUTH,
                FLAG_AUTH | FLAG_REPORTABLE,
                FLAG_AUTH | FLAG_PRIV | FLAG_REPORTABLE,
            ]
        )
    )
    security = draw(securities)
    if flags & FLAG_PRIV:
        return V3Message(
            draw(int31),
            draw(st.integers(484, 0x7FFF_FFFF)),
            flags,
            security,
            None,
            draw(st.binary(max_size=400)),
        )
    scoped = ScopedPdu(draw(st.binary(max_size=32)), draw(st.binary(max_size=32)), draw(pdus))
    return V3Message(draw(int31), draw(st.integers(484, 0x7FFF_FFFF)), flags, security, scoped)


@settings(deadline=None)
@given(messages())
def test_round_trip_and_auth_location(message: V3Message) -> None:
    encoded = encode_v3_message(message)
    decoded, located = decode_v3_message(encoded.data)
    assert decoded == message
    assert (located.auth_start, located.auth_stop) == (encoded.auth_start, encoded.auth_stop)
    assert encoded.data[encoded.auth_start : encoded.auth_stop] == message.security.auth_params
    assert peek_msg_id(encoded.data) == message.msg_id


@settings(deadline=None)
@given(messages())
def test_pysnmp_decodes_what_we_encode(message: V3Message) -> None:
    """pyasn1 with pysnmp's RFC 3412/3414 ASN.1 specs reads every field as we wrote it."""
    data = encode_v3_message(message).data
    theirs, rest = ber_decoder.decode(data, asn1Spec=SNMPv3Message())
    assert rest == b""
    header = theirs["msgGlobalData"]
    assert int(header["msgID"]) == message.msg_id
    assert int(header["msgMaxSize"]) == message.max_size
    assert bytes(header["msgFlags"]) == bytes((message.flags,))
    assert int(header["msgSecurityModel"]) == 3
    usm, rest = ber_decoder.decode(bytes(theirs["msgSecurityParameters"]), asn1Spec=PyUsmParams())
    assert rest == b""
    sec = message.security
    assert bytes(usm["msgAuthoritativeEngineId"]) == sec.engine_id
    assert int(usm["msgAuthoritativeEngineBoots"]) == sec.engine_boots
    assert int(usm["msgAuthoritativeEngineTime"]) == sec.engine_time
    assert bytes(usm["msgUserName"]) == sec.user_name
    assert bytes(usm["msgAuthenticationParameters"]) == sec.auth_params
    assert bytes(usm["msgPrivacyParameters"]) == sec.priv_params
    data_choice = theirs["msgData"]
    if message.encrypted_pdu is not None:
        assert bytes(data_choice["encryptedPDU"]) == message.encrypted_pdu
    else:
        scoped = data_choice["plaintext"]
        assert bytes(scoped["contextEngineId"]) == message.scoped_pdu.context_engine_id
        assert bytes(scoped["contextName"]) == message.scoped_pdu.context_name
        inner = scoped["data"].getComponent()
        pdu = message.scoped_pdu.pdu
        assert int(inner["request-id"]) == pdu.request_id
        assert [tuple(vb["name"]) for vb in inner["variable-bindings"]] == [
            vb.oid for vb in pdu.varbinds
        ]
        # pyasn1 re-encodes the header and security parameters to the same bytes. (Not the
        # whole message: pyasn1 0.6 encodes INTEGER -128 as 02 02 ff 80, not minimally.)
        assert ber_encoder.encode(theirs["msgGlobalData"]) in data
        assert ber_encoder.encode(usm) in data


def test_rejects_v2c_and_bad_flags() -> None:
    v2c = encode_message(Message(Version.V2C, b"public", Pdu(PduType.GET, 1)))
    with pytest.raises(SnmpDecodeError, match="not an SNMPv3 message"):
        decode_v3_message(v2c)
    message = V3Message(
        1, 484, FLAG_AUTH, UsmSecurityParameters(), ScopedPdu(b"", b"", Pdu(PduType.GET, 1))
    )
    data = bytearray(encode_v3_message(message).data)
    at = data.index(bytes((0x04, 0x01, FLAG_AUTH)))
    data[at + 2] = FLAG_PRIV  # privFlag without authFlag: RFC 3412 section 7.2 step 5
    with pytest.raises(SnmpDecodeError, match="privFlag without authFlag"):
        decode_v3_message(bytes(data))
    with pytest.raises(ValueError):
        encode_v3_message(
            V3Message(1, 100, 0, UsmSecurityParameters(), ScopedPdu(b"", b"", Pdu(PduType.GET, 1)))
        )


@settings(deadline=None)
@given(messages(), st.data())
def test_truncated_or_extended_input_rejected(message: V3Message, data) -> None:
    encoded = encode_v3_message(message).data
    cut = data.draw(st.integers(0, len(encoded) - 1))
    with pytest.raises(SnmpDecodeError):
        decode_v3_message(encoded[:cut])
    with pytest.raises(SnmpDecodeError):
        decode_v3_message(encoded + b"\x00")


@settings(deadline=None)
@given(st.binary(max_size=200))
def test_garbage_never_crashes(data: bytes) -> None:
    try:
        decode_v3_message(data)
    except SnmpDecodeError:
        pass
