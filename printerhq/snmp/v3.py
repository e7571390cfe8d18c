"""SNMPv3 messages (RFC 3412 section 6) and USM security parameters (RFC 3414 section 2.4).

Wire layout::

    SNMPv3Message ::= SEQUENCE {
        msgVersion            INTEGER (3),
        msgGlobalData         SEQUENCE { msgID, msgMaxSize, msgFlags OCTET STRING (SIZE(1)),
                                         msgSecurityModel },
        msgSecurityParameters OCTET STRING,   -- BER of UsmSecurityParameters below
        msgData               ScopedPDU | encryptedPDU OCTET STRING }
    ScopedPDU ::= SEQUENCE { contextEngineID OCTET STRING, contextName OCTET STRING, data PDU }
    UsmSecurityParameters ::= SEQUENCE {
        msgAuthoritativeEngineID, msgAuthoritativeEngineBoots, msgAuthoritativeEngineTime,
        msgUserName, msgAuthenticationParameters, msgPrivacyParameters }

This module is only the codec: no keys, no clocks. The one thing it does for ``usm`` is report
where ``msgAuthenticationParameters`` sits in the encoded bytes, because RFC 3414 section 6.3.1
computes the HMAC over the *whole message* with that field zero-filled and then patches it in.

PDUs inside the scoped PDU are encoded and decoded by ``message.encode_pdu``/``decode_pdu``, so
v1/v2c and v3 share one varbind codec.
"""

from __future__ import annotations

__all__ = [
    "SECURITY_MODEL_USM",
    "FLAG_AUTH",
    "FLAG_PRIV",
    "FLAG_REPORTABLE",
    "MIN_MAX_SIZE",
    "UsmSecurityParameters",
    "ScopedPdu",
    "V3Message",
    "EncodedV3",
    "encode_scoped_pdu",
    "decode_scoped_pdu",
    "encode_v3_message",
    "decode_v3_message",
    "peek_msg_id",
]

from dataclasses import dataclass

# ber.py's header readers keep one set of bounds checks for every SNMP version.
from .ber import SnmpDecodeError, Tag, encode_signed, encode_tlv, expect, read_header, read_integer
from .message import Pdu, Version, decode_pdu, encode_pdu, read_message_version

SECURITY_MODEL_USM = 3  # RFC 3411 section 5, SnmpSecurityModel
# RFC 3412 section 6.4, msgFlags bits.
FLAG_AUTH = 0x01
FLAG_PRIV = 0x02
FLAG_REPORTABLE = 0x04
MIN_MAX_SIZE = 484  # RFC 3412 section 6.2: msgMaxSize INTEGER (484..2147483647)
_INT31 = 0x7FFF_FFFF
MAX_USER_NAME = 32  # RFC 3414 section 2.4: msgUserName OCTET STRING (SIZE(0..32))


@dataclass(slots=True, frozen=True)
class UsmSecurityParameters:
    """The USM fields carried in ``msgSecurityParameters`` (RFC 3414 section 2.4)."""

    engine_id: bytes = b""
    engine_boots: int = 0
    engine_time: int = 0
    user_name: bytes = b""
    auth_params: bytes = b""
    priv_params: bytes = b""


@dataclass(slots=True, frozen=True)
class ScopedPdu:
    """RFC 3412 section 6.8: a PDU with the context it is addressed to."""

    context_engine_id: bytes
    context_name: bytes
    pdu: Pdu


@dataclass(slots=True)
class V3Message:
    """One SNMPv3 message: exactly one of ``scoped_pdu`` (plaintext) and ``encrypted_pdu``."""

    msg_id: int
    max_size: int
    flags: int
    security: UsmSecurityParameters
    scoped_pdu: ScopedPdu | None = None
    encrypted_pdu: bytes | None = None
    security_model: int = SECURITY_MODEL_USM

    @property
    def authenticated(self) -> bool:
        return bool(self.flags & FLAG_AUTH)

    @property
    def encrypted(self) -> bool:
        return bool(self.flags & FLAG_PRIV)


@dataclass(slots=True, frozen=True)
class EncodedV3:
    """Encoded bytes plus the slice holding msgAuthenticationParameters' contents."""

    data: bytes
    auth_start: int
    auth_stop: int


def encode_scoped_pdu(scoped: ScopedPdu) -> bytes:
    return encode_tlv(
        Tag.SEQUENCE,
        encode_tlv(Tag.OCTET_STRING, scoped.context_engine_id)
        + encode_tlv(Tag.OCTET_STRING, scoped.context_name)
        + encode_pdu(scoped.pdu),
    )


def _check_int31(value: int, what: str) -> None:
    if not 0 <= value <= _INT31:
        raise ValueError(f"{what} must be in 0..2^31-1, got {value}")


def encode_v3_message(message: V3Message) -> EncodedV3:
    """Encode; ``auth_start:auth_stop`` locates msgAuthenticationParameters' contents."""
    _check_int31(message.msg_id, "msgID")
    if not MIN_MAX_SIZE <= message.max_size <= _INT31:
        raise ValueError(f"msgMaxSize must be in 484..2^31-1, got {message.max_size}")
    if (message.scoped_pdu is None) == (message.encrypted_pdu is None):
        raise ValueError("exactly one of scoped_pdu and encrypted_pdu must be given")
    if message.flags & FLAG_PRIV and not message.flags & FLAG_AUTH:
        raise ValueError("msgFlags privFlag without authFlag (RFC 3412 section 6.4)")
    sec = message.security
    _check_int31(sec.engine_boots, "msgAuthoritativeEngineBoots")
    _check_int31(sec.engine_time, "msgAuthoritativeEngineTime")
    if len(sec.user_name) > MAX_USER_NAME:
        raise ValueError(f"msgUserName longer than {MAX_USER_NAME} octets")

    before_auth = (
        encode_tlv(Tag.OCTET_STRING, sec.engine_id)
        + encode_tlv(Tag.INTEGER, encode_signed(sec.engine_boots))
        + encode_tlv(Tag.INTEGER, encode_signed(sec.engine_time))
        + encode_tlv(Tag.OCTET_STRING, sec.user_name)
    )
    auth_tlv = encode_tlv(Tag.OCTET_STRING, sec.auth_params)
    usm_body = before_auth + auth_tlv + encode_tlv(Tag.OCTET_STRING, sec.priv_params)
    usm = encode_tlv(Tag.SEQUENCE, usm_body)
    sec_params_tlv = encode_tlv(Tag.OCTET_STRING, usm)

    head = encode_tlv(Tag.INTEGER, encode_signed(Version.V3)) + encode_tlv(
        Tag.SEQUENCE,
        encode_tlv(Tag.INTEGER, encode_signed(message.msg_id))
        + encode_tlv(Tag.INTEGER, encode_signed(message.max_size))
        + encode_tlv(Tag.OCTET_STRING, bytes((message.flags,)))
        + encode_tlv(Tag.INTEGER, encode_signed(message.security_model)),
    )
    if message.scoped_pdu is not None:
        data = encode_scoped_pdu(message.scoped_pdu)
    else:
        data = encode_tlv(Tag.OCTET_STRING, message.encrypted_pdu)  # type: ignore[arg-type]
    body = head + sec_params_tlv + data
    whole = encode_tlv(Tag.SEQUENCE, body)
    outer_header = len(whole) - len(body)
    # Offsets inside sec_params_tlv: its own header, the USM SEQUENCE header, then the fields.
    sec_header = len(sec_params_tlv) - len(usm)
    usm_header = len(usm) - len(usm_body)
    auth_tlv_at = outer_header + len(head) + sec_header + usm_header + len(before_auth)
    auth_start = auth_tlv_at + len(auth_tlv) - len(sec.auth_params)
    return EncodedV3(whole, auth_start, auth_start + len(sec.auth_params))


def decode_scoped_pdu(data: bytes, pos: int = 0, end: int | None = None) -> ScopedPdu:
    """Decode a ScopedPDU occupying ``data[pos:end]`` exactly."""
    if end is None:
        end = len(data)
    start, stop = expect(data, pos, end, Tag.SEQUENCE, "ScopedPDU")
    if stop != end:
        raise SnmpDecodeError("trailing bytes after ScopedPDU", stop)
    ce_start, ce_stop = expect(data, start, stop, Tag.OCTET_STRING, "contextEngineID")
    cn_start, cn_stop = expect(data, ce_stop, stop, Tag.OCTET_STRING, "contextName")
    pdu, pdu_stop = decode_pdu(data, cn_stop, stop)
    if pdu_stop != stop:
        raise SnmpDecodeError("trailing bytes after PDU", pdu_stop)
    return ScopedPdu(data[ce_start:ce_stop], data[cn_start:cn_stop], pdu)


def _read_int31(data: bytes, pos: int, end: int, what: str) -> tuple[int, int]:
    start, stop = expect(data, pos, end, Tag.INTEGER, what)
    value = read_integer(data, start, stop)
    if not 0 <= value <= _INT31:
        raise SnmpDecodeError(f"{what} out of range 0..2^31-1", start)
    return value, stop


def decode_v3_message(data: bytes) -> tuple[V3Message, EncodedV3]:
    """Decode an SNMPv3 message with USM parameters.

    Returns the message and an :class:`EncodedV3` locating msgAuthenticationParameters in
    ``data`` (needed to verify the HMAC). The scoped PDU stays encrypted if privFlag is set.
    """
    data = bytes(data)
    version, v_start, v_stop, stop = read_message_version(data, "SNMPv3Message", "msgVersion")
    if version != Version.V3:
        raise SnmpDecodeError("not an SNMPv3 message", v_start)

    g_start, g_stop = expect(data, v_stop, stop, Tag.SEQUENCE, "msgGlobalData")
    msg_id, pos = _read_int31(data, g_start, g_stop, "msgID")
    max_size, pos = _read_int31(data, pos, g_stop, "msgMaxSize")
    if max_size < MIN_MAX_SIZE:
        raise SnmpDecodeError("msgMaxSize below 484", pos)
    f_start, f_stop = expect(data, pos, g_stop, Tag.OCTET_STRING, "msgFlags")
    if f_stop - f_start != 1:
        raise SnmpDecodeError("msgFlags must be one octet", f_start)
    flags = data[f_start]
    if flags & FLAG_PRIV and not flags & FLAG_AUTH:
        # RFC 3412 section 7.2 step 5: an invalid flag combination is snmpInvalidMsgs.
        raise SnmpDecodeError("privFlag without authFlag", f_start)
    model, pos = _read_int31(data, f_stop, g_stop, "msgSecurityModel")
    if pos != g_stop:
        raise SnmpDecodeError("trailing bytes in msgGlobalData", pos)
    if model != SECURITY_MODEL_USM:
        raise SnmpDecodeError(f"security model {model} is not USM", pos)

    s_start, s_stop = expect(data, g_stop, stop, Tag.OCTET_STRING, "msgSecurityParameters")
    u_start, u_stop = expect(data, s_start, s_stop, Tag.SEQUENCE, "UsmSecurityParameters")
    if u_stop != s_stop:
        raise SnmpDecodeError("trailing bytes in msgSecurityParameters", u_stop)
    pos = u_start
    e_start, pos = expect(data, pos, u_stop, Tag.OCTET_STRING, "msgAuthoritativeEngineID")
    engine_id = data[e_start:pos]
    boots, pos = _read_int31(data, pos, u_stop, "msgAuthoritativeEngineBoots")
    engine_time, pos = _read_int31(data, pos, u_stop, "msgAuthoritativeEngineTime")
    n_start, pos = expect(data, pos, u_stop, Tag.OCTET_STRING, "msgUserName")
    if pos - n_start > MAX_USER_NAME:
        raise SnmpDecodeError(f"msgUserName longer than {MAX_USER_NAME} octets", n_start)
    user = data[n_start:pos]
    a_start, a_stop = expect(data, pos, u_stop, Tag.OCTET_STRING, "msgAuthenticationParameters")
    p_start, p_stop = expect(data, a_stop, u_stop, Tag.OCTET_STRING, "msgPrivacyParameters")
    if p_stop != u_stop:
        raise SnmpDecodeError("trailing bytes in UsmSecurityParameters", p_stop)
    security = UsmSecurityParameters(
        engine_id, boots, engine_time, user, data[a_start:a_stop], data[p_start:p_stop]
    )

    tag, d_start, d_stop = read_header(data, s_stop, stop)
    if d_stop != stop:
        raise SnmpDecodeError("trailing bytes after msgData", d_stop)
    if flags & FLAG_PRIV:
        if tag != Tag.OCTET_STRING:
            raise SnmpDecodeError("privFlag set but msgData is not an encryptedPDU", s_stop)
        message = V3Message(msg_id, max_size, flags, security, None, data[d_start:d_stop], model)
    else:
        message = V3Message(
            msg_id, max_size, flags, security, decode_scoped_pdu(data, s_stop, stop), None, model
        )
    return message, EncodedV3(data, a_start, a_stop)


def peek_msg_id(data: bytes) -> int:
    """msgID of an SNMPv3 message without decoding the rest: for demultiplexing on a shared
    socket. Reports about undecryptable requests carry request-id 0 but always the msgID
    (RFC 3412 section 7.1 step 3), so v3 responses are matched by msgID."""
    end = len(data)
    start, stop = expect(data, 0, end, Tag.SEQUENCE, "SNMPv3Message")
    v_start, v_stop = expect(data, start, stop, Tag.INTEGER, "msgVersion")
    if read_integer(data, v_start, v_stop) != Version.V3:
        raise SnmpDecodeError("not an SNMPv3 message", v_start)
    g_start, g_stop = expect(data, v_stop, stop, Tag.SEQUENCE, "msgGlobalData")
    return _read_int31(data, g_start, g_stop, "msgID")[0]
