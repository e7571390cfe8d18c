"""SNMPv3 notifications at the receiver, sans-IO: traps (sender authoritative, keys localised to
the sender's engine) and informs (we are authoritative: discovery report, time window, Response).
The sender side is the project's own manager-side ``UsmSession``; net-snmp's snmptrap and
snmpinform are in test_traps_receiver.py."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from printerhq.mib.alerts import PRINTER_V2_ALERT
from printerhq.snmp.ber import SnmpDecodeError, Tag
from printerhq.snmp.message import Pdu, PduType, Varbind
from printerhq.snmp.trap import SNMP_TRAP_OID_0, SYS_UPTIME_0
from printerhq.snmp.trap_usm import NotificationReceiverUsm, usm_error_reply
from printerhq.snmp.usm import (
    AuthProtocol,
    NotInTimeWindow,
    PrivProtocol,
    UnknownEngineId,
    UnknownUserName,
    UnsupportedSecLevel,
    UsmError,
    UsmSession,
    UsmUser,
    WrongDigest,
)

from .strategies_snmp import codec_settings

SENDER_ENGINE = bytes.fromhex("8000000001020304")
OUR_ENGINE = bytes.fromhex("80000000050a0b0c0d0e0f")
USER = UsmUser(
    "trapuser", AuthProtocol.SHA256, "auth-pass-phrase", PrivProtocol.AES, "priv-pass-phrase"
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def notification_pdu(pdu_type: PduType, request_id: int = 77) -> Pdu:
    return Pdu(
        pdu_type,
        request_id,
        varbinds=[
            Varbind(SYS_UPTIME_0, Tag.TIMETICKS, 500),
            Varbind(SNMP_TRAP_OID_0, Tag.OBJECT_IDENTIFIER, PRINTER_V2_ALERT),
            Varbind((1, 3, 6, 1, 2, 1, 43, 18, 1, 1, 7, 1, 1), Tag.INTEGER, 8),
        ],
    )


def sender(
    user: UsmUser = USER, *, boots: int = 3, engine_time: int = 100, clock: Clock | None = None
) -> UsmSession:
    """A trap sender: authoritative, so it encodes with its own engine-id and clock."""
    session = UsmSession(user, clock=clock or Clock())
    session.set_engine(SENDER_ENGINE, boots, engine_time)
    return session


def receiver(*users: UsmUser, clock: Clock | None = None) -> NotificationReceiverUsm:
    return NotificationReceiverUsm(users or (USER,), engine_id=OUR_ENGINE, clock=clock or Clock())


@pytest.mark.parametrize(
    "auth, priv",
    [
        (AuthProtocol.NONE, PrivProtocol.NONE),
        (AuthProtocol.MD5, PrivProtocol.NONE),
        (AuthProtocol.SHA, PrivProtocol.DES),
        (AuthProtocol.SHA, PrivProtocol.AES),
        (AuthProtocol.SHA512, PrivProtocol.AES256),
    ],
)
def test_trap_is_decoded_with_keys_localised_to_the_sender(
    auth: AuthProtocol, priv: PrivProtocol
) -> None:
    user = UsmUser(
        "u",
        auth,
        "auth-pass-phrase" if auth is not AuthProtocol.NONE else None,
        priv,
        "priv-pass-phrase" if priv is not PrivProtocol.NONE else None,
    )
    outcome = receiver(user).receive(sender(user).encode_request(notification_pdu(PduType.TRAP_V2)))
    assert outcome.reply is None
    assert outcome.notification is not None
    assert outcome.notification.trap_oid == PRINTER_V2_ALERT
    assert outcome.notification.security_name == b"u" and not outcome.notification.inform


def test_wrong_passphrase_unknown_user_and_lower_level_are_refused() -> None:
    wrong = UsmUser(
        "trapuser", AuthProtocol.SHA256, "another-pass-phrase", PrivProtocol.AES, "priv-pass-phrase"
    )
    with pytest.raises(WrongDigest):
        receiver().receive(sender(wrong).encode_request(notification_pdu(PduType.TRAP_V2)))
    stranger = UsmUser("stranger", AuthProtocol.SHA256, "auth-pass-phrase")
    with pytest.raises(UnknownUserName):
        receiver().receive(sender(stranger).encode_request(notification_pdu(PduType.TRAP_V2)))
    # Knowing the user's name is not enough: a noAuthNoPriv trap for an authPriv user is refused.
    spoof = UsmUser("trapuser")
    with pytest.raises(UnsupportedSecLevel):
        receiver().receive(sender(spoof).encode_request(notification_pdu(PduType.TRAP_V2)))


def test_tampered_trap_fails_the_digest() -> None:
    data = bytearray(sender().encode_request(notification_pdu(PduType.TRAP_V2)))
    data[-3] ^= 0x01  # inside the encrypted scoped PDU, covered by the HMAC
    with pytest.raises(WrongDigest):
        receiver().receive(bytes(data))


def test_replayed_old_trap_is_outside_the_time_window() -> None:
    usm = receiver()
    old = sender(engine_time=100).encode_request(notification_pdu(PduType.TRAP_V2))
    assert (
        usm.receive(
            sender(engine_time=1000).encode_request(notification_pdu(PduType.TRAP_V2))
        ).notification
        is not None
    )
    with pytest.raises(NotInTimeWindow):
        usm.receive(old)  # 900 s older than the sender's clock as we know it
    with pytest.raises(NotInTimeWindow):  # an earlier boot is always stale
        usm.receive(
            sender(boots=2, engine_time=5000).encode_request(notification_pdu(PduType.TRAP_V2))
        )
    # A later boot is adopted.
    assert (
        usm.receive(
            sender(boots=4, engine_time=1).encode_request(notification_pdu(PduType.TRAP_V2))
        ).notification
        is not None
    )


def test_sender_engines_are_bounded() -> None:
    usm = NotificationReceiverUsm([USER], engine_id=OUR_ENGINE, max_engines=3, clock=Clock())
    for n in range(10):
        session = UsmSession(USER, clock=Clock())
        session.set_engine(SENDER_ENGINE + bytes((n,)), 1, 10)
        assert (
            usm.receive(session.encode_request(notification_pdu(PduType.TRAP_V2))).notification
            is not None
        )
    assert usm.engines_known == 3


@pytest.mark.parametrize(
    "user", [USER, UsmUser("plain"), UsmUser("md5", AuthProtocol.MD5, "auth-pass-phrase")]
)
def test_inform_discovery_then_response(user: UsmUser) -> None:
    """The whole v3 inform exchange against the manager-side session: it discovers our engine
    (RFC 3414 section 4), sends the inform localised to it, and reads our Response."""
    clock = Clock()
    usm = receiver(user, clock=clock)
    client = UsmSession(user, clock=clock)
    report = usm.receive(client.discovery_request(555))
    assert report.notification is None and report.reply is not None
    assert client.handle_discovery(report.reply) == OUR_ENGINE
    clock.now += 30
    outcome = usm.receive(client.encode_request(notification_pdu(PduType.INFORM, 9001)))
    assert outcome.notification is not None and outcome.notification.inform
    assert outcome.reply is not None
    response = client.decode_response(outcome.reply, expected_msg_id=9001)
    assert response.type == PduType.RESPONSE and response.request_id == 9001
    assert response.varbinds == notification_pdu(PduType.INFORM).varbinds


def test_stale_inform_gets_an_authenticated_time_report_and_the_retry_works() -> None:
    clock = Clock()
    usm = receiver(clock=clock)
    client = UsmSession(USER, clock=clock)
    client.handle_discovery(usm.receive(client.discovery_request(1)).reply or b"")
    client.set_engine(OUR_ENGINE, usm.engine_boots, usm.engine_time + 500)  # our clock, wrong
    with pytest.raises(NotInTimeWindow) as caught:
        usm.receive(client.encode_request(notification_pdu(PduType.INFORM, 2)))
    reply = usm_error_reply(caught.value)
    assert reply is not None
    with pytest.raises(NotInTimeWindow) as resync:  # the manager adopts our clock from it
        client.decode_response(reply)
    assert resync.value.engine_time == usm.engine_time
    outcome = usm.receive(client.encode_request(notification_pdu(PduType.INFORM, 3)))
    assert outcome.notification is not None


def test_inform_localised_to_another_engine_and_trap_with_ours_are_refused() -> None:
    clock = Clock()
    with pytest.raises(UnknownEngineId) as caught:
        receiver(clock=clock).receive(sender().encode_request(notification_pdu(PduType.INFORM)))
    # ... with a report that lets the sender re-discover our engine (ours is new each start)
    reply = usm_error_reply(caught.value)
    assert reply is not None
    assert UsmSession(USER, clock=clock).handle_discovery(reply) == OUR_ENGINE
    clock = Clock()
    usm = receiver(clock=clock)
    ours = UsmSession(USER, clock=clock)
    ours.set_engine(OUR_ENGINE, usm.engine_boots, usm.engine_time)
    with pytest.raises(UnknownEngineId):
        usm.receive(ours.encode_request(notification_pdu(PduType.TRAP_V2)))


def test_gets_are_not_notifications() -> None:
    with pytest.raises(SnmpDecodeError, match="not a notification"):
        receiver().receive(sender().encode_request(Pdu(PduType.GET, 5)))


@codec_settings
@given(st.binary(max_size=300))
def test_any_bytes_decode_or_raise_clear_errors(data: bytes) -> None:
    with contextlib.suppress(SnmpDecodeError, UsmError):
        receiver().receive(data)


@codec_settings
@given(st.data())
def test_mutated_v3_traps_decode_or_raise_clear_errors(data: st.DataObject) -> None:
    user = data.draw(st.sampled_from([USER, UsmUser("plain")]))
    buf = bytearray(sender(user).encode_request(notification_pdu(PduType.TRAP_V2)))
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(buf) - 1))
        if data.draw(st.booleans()):
            buf[at] = data.draw(st.integers(0, 255))
        else:
            del buf[at : at + data.draw(st.integers(1, 6))]
            if not buf:
                break
    with contextlib.suppress(SnmpDecodeError, UsmError):
        receiver(user).receive(bytes(buf))
