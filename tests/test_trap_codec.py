"""Notification codec, sans-IO: SNMPv1 Trap-PDU (RFC 1157 4.1.6), RFC 3584 3.1 conversion,
SNMPv2-Trap and InformRequest (RFC 3416 4.2.6/4.2.7), the Printer-MIB alert meaning, and the
property that every byte string either decodes or raises SnmpDecodeError. Differential against
pysnmp where pysnmp can build the same trap."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto import api

from printerhq.mib.alerts import PRINTER_V1_ALERT, PRINTER_V2_ALERT, trap_alert, trap_meaning
from printerhq.snmp.ber import SnmpDecodeError, Tag
from printerhq.snmp.message import (
    Message,
    Pdu,
    PduType,
    Varbind,
    Version,
    decode_message,
    encode_message,
)
from printerhq.snmp.trap import (
    SNMP_TRAP_OID_0,
    SYS_UPTIME_0,
    TrapV1Message,
    TrapV1Pdu,
    decode_notification,
    decode_trap_v1,
    encode_trap_v1,
    v1_trap_oid,
)
from tests.pysnmp_bridge import pysnmp_encode

from .strategies_snmp import codec_settings, communities, oids, varbinds

ALERT = (1, 3, 6, 1, 2, 1, 43, 18, 1, 1)


def alert_varbinds(code: int, *, severity: int = 3, group: int = 13) -> list[Varbind]:
    """What a printer puts in printerV2Alert (RFC 3805): the new prtAlertTable row, instance
    (hrDeviceIndex 1, prtAlertIndex 7)."""
    return [
        Varbind((*ALERT, 1, 1, 7), Tag.INTEGER, 7),
        Varbind((*ALERT, 2, 1, 7), Tag.INTEGER, severity),
        Varbind((*ALERT, 4, 1, 7), Tag.INTEGER, group),
        Varbind((*ALERT, 5, 1, 7), Tag.INTEGER, 1),
        Varbind((*ALERT, 6, 1, 7), Tag.INTEGER, 13100),
        Varbind((*ALERT, 7, 1, 7), Tag.INTEGER, code),
    ]


def v2_notification(
    pdu_type: PduType,
    trap_oid: tuple[int, ...],
    extra: list[Varbind],
    request_id: int = 4242,
    uptime: int = 31337,
) -> Message:
    return Message(
        Version.V2C,
        b"public",
        Pdu(
            pdu_type,
            request_id,
            0,
            0,
            [
                Varbind(SYS_UPTIME_0, Tag.TIMETICKS, uptime),
                Varbind(SNMP_TRAP_OID_0, Tag.OBJECT_IDENTIFIER, trap_oid),
                *extra,
            ],
        ),
    )


# --------------------------------------------------------------------------------------------
# SNMPv1


@st.composite
def v1_traps(draw: st.DrawFn) -> TrapV1Message:
    return TrapV1Message(
        draw(communities()),
        TrapV1Pdu(
            draw(oids()),
            draw(st.binary(min_size=4, max_size=4)),
            draw(st.integers(0, 6)),
            draw(st.integers(0, 2**31 - 1)),
            draw(st.integers(0, 2**32 - 1)),
            tuple(draw(st.lists(varbinds(Version.V1), max_size=8))),
        ),
    )


@codec_settings
@given(v1_traps())
def test_v1_trap_round_trip(message: TrapV1Message) -> None:
    assert decode_trap_v1(encode_trap_v1(message)) == message


def _pysnmp_v1_trap(message: TrapV1Message) -> bytes:
    p = api.PROTOCOL_MODULES[api.SNMP_VERSION_1]
    pdu = p.TrapPDU()
    p.apiTrapPDU.set_defaults(pdu)
    p.apiTrapPDU.set_enterprise(pdu, message.pdu.enterprise)
    p.apiTrapPDU.set_agent_address(pdu, ".".join(map(str, message.pdu.agent_addr)))
    p.apiTrapPDU.set_generic_trap(pdu, message.pdu.generic_trap)
    p.apiTrapPDU.set_specific_trap(pdu, message.pdu.specific_trap)
    p.apiTrapPDU.set_timestamp(pdu, message.pdu.time_stamp)
    classes = {
        Tag.INTEGER: p.Integer,
        Tag.OCTET_STRING: p.OctetString,
        Tag.OBJECT_IDENTIFIER: p.ObjectIdentifier,
        Tag.TIMETICKS: p.TimeTicks,
    }
    p.apiTrapPDU.set_varbinds(
        pdu,
        [(p.ObjectIdentifier(vb.oid), classes[vb.tag](vb.value)) for vb in message.pdu.varbinds],
    )
    msg = p.Message()
    p.apiMessage.set_defaults(msg)
    p.apiMessage.set_community(msg, message.community)
    p.apiMessage.set_pdu(msg, pdu)
    return encoder.encode(msg)


_simple_v1_varbinds = st.lists(
    st.one_of(
        st.builds(Varbind, oids(), st.just(Tag.INTEGER), st.integers(-(2**31), 2**31 - 1)),
        st.builds(Varbind, oids(), st.just(Tag.OCTET_STRING), st.binary(max_size=40)),
        st.builds(Varbind, oids(), st.just(Tag.TIMETICKS), st.integers(0, 2**32 - 1)),
    ),
    max_size=6,
)


@codec_settings
@given(
    oids(),
    st.binary(min_size=4, max_size=4),
    st.integers(0, 6),
    st.integers(0, 2**31 - 1),
    st.integers(0, 2**32 - 1),
    _simple_v1_varbinds,
    st.binary(max_size=20),
)
def test_v1_trap_matches_pysnmp_both_ways(
    enterprise, addr, generic, specific, stamp, binds, community
) -> None:
    message = TrapV1Message(
        community, TrapV1Pdu(enterprise, addr, generic, specific, stamp, tuple(binds))
    )
    theirs = _pysnmp_v1_trap(message)
    assert decode_trap_v1(theirs) == message
    # ... and pysnmp reads ours back to the same fields.
    p = api.PROTOCOL_MODULES[api.SNMP_VERSION_1]
    msg, rest = decoder.decode(encode_trap_v1(message), asn1Spec=p.Message())
    assert not rest
    pdu = p.apiMessage.get_pdu(msg)
    assert tuple(p.apiTrapPDU.get_enterprise(pdu)) == enterprise
    assert bytes(p.apiTrapPDU.get_agent_address(pdu).asOctets()) == addr
    assert int(p.apiTrapPDU.get_generic_trap(pdu)) == generic
    assert int(p.apiTrapPDU.get_specific_trap(pdu)) == specific
    assert int(p.apiTrapPDU.get_timestamp(pdu)) == stamp
    assert [
        (tuple(o), int(v) if vb.tag != Tag.OCTET_STRING else bytes(v.asOctets()))
        for (o, v), vb in zip(p.apiTrapPDU.get_varbinds(pdu), binds, strict=True)
    ] == [(vb.oid, vb.value) for vb in binds]


def test_rfc3584_trap_oid_conversion() -> None:
    cold = TrapV1Pdu((1, 3, 6, 1, 4, 1, 11), b"\x0a\x00\x00\x05", 0, 0, 5)
    assert v1_trap_oid(cold) == (1, 3, 6, 1, 6, 3, 1, 1, 5, 1)  # coldStart
    auth = TrapV1Pdu((1, 3, 6, 1, 4, 1, 11), b"\x0a\x00\x00\x05", 4, 0, 5)
    assert v1_trap_oid(auth) == (1, 3, 6, 1, 6, 3, 1, 1, 5, 5)  # authenticationFailure
    printer = TrapV1Pdu(PRINTER_V1_ALERT, b"\x0a\x00\x00\x05", 6, 1, 5)
    # enterprise.0.specific-trap: printerV1Alert specific 1 is printerV2Alert (RFC 3805)
    assert v1_trap_oid(printer) == PRINTER_V2_ALERT


def test_v1_trap_notification_carries_alert() -> None:
    data = encode_trap_v1(
        TrapV1Message(
            b"public",
            TrapV1Pdu(PRINTER_V1_ALERT, bytes((10, 0, 0, 5)), 6, 1, 777, tuple(alert_varbinds(8))),
        )
    )
    notification, reply = decode_notification(data)
    assert reply is None
    assert notification.version == Version.V1
    assert notification.trap_oid == PRINTER_V2_ALERT
    assert notification.uptime == 777
    assert notification.agent_addr == "10.0.0.5"
    alert = trap_alert(notification.trap_oid, notification.varbinds)
    assert alert is not None and alert.code == 8 and alert.code_name == "jam"
    assert alert.severity == "critical" and alert.group == "mediaPath" and alert.index == 7
    assert trap_meaning(notification.trap_oid, alert) == "jam"


@pytest.mark.parametrize(
    "field, value, reason",
    [
        ("generic_trap", 7, "generic-trap"),
        ("specific_trap", -1, "specific-trap"),
    ],
)
def test_v1_trap_out_of_range_fields_are_refused(field: str, value: int, reason: str) -> None:
    good = encode_trap_v1(TrapV1Message(b"p", TrapV1Pdu((1, 3, 6, 1), b"\0\0\0\0", 0, 0, 0)))
    # generic-trap and specific-trap are the two one-octet INTEGERs 02 01 00 after the address
    at = good.index(b"\x02\x01\x00\x02\x01\x00")
    octet = bytes(((value & 0xFF),))
    patched = (
        good[:at] + b"\x02\x01" + octet + good[at + 3 :]
        if field == "generic_trap"
        else good[: at + 3] + b"\x02\x01" + octet + good[at + 6 :]
    )
    with pytest.raises(SnmpDecodeError, match=reason):
        decode_trap_v1(patched)


def test_non_trap_v1_messages_are_refused() -> None:
    get = encode_message(
        Message(Version.V1, b"public", Pdu(PduType.GET, 1, varbinds=[Varbind(SYS_UPTIME_0)]))
    )
    with pytest.raises(SnmpDecodeError, match="Trap-PDU"):
        decode_notification(get)


# --------------------------------------------------------------------------------------------
# SNMPv2c


def test_v2c_trap_and_toner_empty_meaning() -> None:
    data = encode_message(
        v2_notification(PduType.TRAP_V2, PRINTER_V2_ALERT, alert_varbinds(1101, group=11))
    )
    notification, reply = decode_notification(data)
    assert reply is None and not notification.inform
    assert notification.uptime == 31337 and notification.trap_oid == PRINTER_V2_ALERT
    assert len(notification.varbinds) == 6  # sysUpTime.0 and snmpTrapOID.0 are fields now
    alert = trap_alert(notification.trap_oid, notification.varbinds)
    assert trap_meaning(notification.trap_oid, alert) == "toner empty"
    assert alert is not None and alert.group == "markerSupplies"


def test_inform_is_answered_with_same_request_id_and_varbinds() -> None:
    message = v2_notification(
        PduType.INFORM, PRINTER_V2_ALERT, alert_varbinds(3), request_id=987654
    )
    notification, reply = decode_notification(encode_message(message))
    assert notification.inform and notification.request_id == 987654
    assert reply is not None
    response = decode_message(reply)
    assert response.version == Version.V2C and response.community == b"public"
    assert response.pdu.type == PduType.RESPONSE
    assert response.pdu.request_id == 987654
    assert (response.pdu.error_status, response.pdu.error_index) == (0, 0)
    assert response.pdu.varbinds == message.pdu.varbinds


@pytest.mark.parametrize("pdu_type", [PduType.TRAP_V2, PduType.INFORM])
def test_v2c_notification_from_pysnmp(pdu_type: PduType) -> None:
    message = v2_notification(pdu_type, PRINTER_V2_ALERT, alert_varbinds(1104))
    notification, _ = decode_notification(pysnmp_encode(message))
    assert notification.trap_oid == PRINTER_V2_ALERT and notification.inform == (
        pdu_type == PduType.INFORM
    )
    assert (
        trap_meaning(PRINTER_V2_ALERT, trap_alert(PRINTER_V2_ALERT, notification.varbinds))
        == "toner low"
    )


@pytest.mark.parametrize(
    "first_two",
    [
        [],
        [Varbind(SNMP_TRAP_OID_0, Tag.OBJECT_IDENTIFIER, (1, 3, 6, 1))],
        [
            Varbind(SYS_UPTIME_0, Tag.INTEGER, 5),
            Varbind(SNMP_TRAP_OID_0, Tag.OBJECT_IDENTIFIER, (1, 3, 6, 1)),
        ],
        [Varbind(SYS_UPTIME_0, Tag.TIMETICKS, 5), Varbind(SNMP_TRAP_OID_0, Tag.OCTET_STRING, b"x")],
    ],
)
def test_v2c_notification_needs_uptime_and_trap_oid_first(first_two: list[Varbind]) -> None:
    data = encode_message(Message(Version.V2C, b"c", Pdu(PduType.TRAP_V2, 1, 0, 0, first_two)))
    with pytest.raises(SnmpDecodeError, match=r"sysUpTime\.0"):
        decode_notification(data)


def test_responses_and_gets_are_not_notifications() -> None:
    for pdu_type in (PduType.GET, PduType.RESPONSE, PduType.REPORT):
        data = encode_message(Message(Version.V2C, b"c", Pdu(pdu_type, 1)))
        with pytest.raises(SnmpDecodeError, match="not a notification"):
            decode_notification(data)


def test_generic_meanings() -> None:
    data = encode_trap_v1(
        TrapV1Message(b"p", TrapV1Pdu((1, 3, 6, 1, 4, 1, 9), b"\0\0\0\0", 0, 0, 0))
    )
    notification, _ = decode_notification(data)
    assert trap_alert(notification.trap_oid, notification.varbinds) is None
    assert trap_meaning(notification.trap_oid, None) == "cold start"


def test_alert_with_hostile_values_keeps_the_rest() -> None:
    binds = [
        Varbind((*ALERT, 7, 1, 3), Tag.OCTET_STRING, b"not a number"),
        Varbind((*ALERT, 2, 1, 3), Tag.INTEGER, 4),
        Varbind((*ALERT, 8, 1, 3), Tag.OCTET_STRING, b"Paper jam in tray 2"),
    ]
    alert = trap_alert((1, 3, 6, 1, 4, 1, 11, 0, 1), binds)
    assert alert is not None and alert.code is None and alert.severity == "warning"
    assert alert.index == 3
    assert trap_meaning((1, 3, 6, 1, 4, 1, 11, 0, 1), alert) == "Paper jam in tray 2"


# --------------------------------------------------------------------------------------------
# Fuzz: any bytes decode or raise the codec's one error


def _decodes_or_clear_error(data: bytes) -> None:
    with contextlib.suppress(SnmpDecodeError):
        decode_notification(data)


@codec_settings
@given(st.binary(max_size=300))
def test_any_bytes_decode_or_raise_clear_error(data: bytes) -> None:
    _decodes_or_clear_error(data)


@st.composite
def mutated_notifications(draw: st.DrawFn) -> bytes:
    """Valid v1/v2c notifications with bytes flipped, cut or inserted: exercises the deep paths
    random bytes never reach."""
    kind = draw(st.sampled_from(("v1", "trap", "inform")))
    if kind == "v1":
        data = encode_trap_v1(
            TrapV1Message(
                b"public",
                TrapV1Pdu(PRINTER_V1_ALERT, b"\x7f\0\0\1", 6, 1, 99, tuple(alert_varbinds(8))),
            )
        )
    else:
        data = encode_message(
            v2_notification(
                PduType.INFORM if kind == "inform" else PduType.TRAP_V2,
                PRINTER_V2_ALERT,
                alert_varbinds(1101),
            )
        )
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(("flip", "cut", "insert")))
        at = draw(st.integers(0, max(len(buf) - 1, 0)))
        if op == "flip" and buf:
            buf[at] = draw(st.integers(0, 255))
        elif op == "cut":
            del buf[at : at + draw(st.integers(1, 8))]
        else:
            buf[at:at] = draw(st.binary(min_size=1, max_size=4))
    return bytes(buf)


@codec_settings
@given(mutated_notifications())
def test_mutated_notifications_decode_or_raise_clear_error(data: bytes) -> None:
    _decodes_or_clear_error(data)
