"""SNMPv3 notifications at the receiving end: USM as the trap and inform receiver, sans-IO.

USM decides who is *authoritative* by the message class (RFC 3412 section 6.4, RFC 3414
section 1.5.1):

* a **trap** is unconfirmed, so its *sender* is authoritative: ``msgAuthoritativeEngineID`` is the
  sender's engine-id and the receiver localises the user's keys to it (RFC 3414 section 2.6).
  Keys are localised once per engine-id seen (``usm``'s bounded caches), and the receiver keeps
  each engine's boots/time, bounded too, to refuse replays (section 3.2 step 7.b);
* an **inform** is confirmed, so the *receiver* is authoritative: the sender first discovers our
  engine-id (section 4: its empty-engine-id probe gets a usmStatsUnknownEngineIDs report), then
  sends the inform localised to our engine; we check it against our own clock (step 7.a) and
  answer with a Response at the same security level (RFC 3416 section 4.2.7).

:meth:`NotificationReceiverUsm.receive` takes one datagram and returns a
:class:`V3Outcome`: a notification, a reply to send, or both. Malformed bytes raise
:class:`~printerhq.snmp.ber.SnmpDecodeError`; security failures raise the specific
:class:`~printerhq.snmp.usm.UsmError` (``UnknownUserName``, ``WrongDigest`` ...), after which the
outcome's reply, if any, is on the exception as ``reply``.
"""

from __future__ import annotations

__all__ = [
    "MAX_ENGINES",
    "NotificationReceiverUsm",
    "V3Outcome",
    "new_engine_id",
    "usm_error_reply",
]

import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .ber import SnmpDecodeError, Tag, read_header
from .message import Pdu, PduType, Varbind, Version
from .trap import Notification, notification_from_pdu
from .usm import (
    TIME_WINDOW,
    DecryptionError,
    NotInTimeWindow,
    PrivProtocol,
    SecurityLevel,
    UnknownEngineId,
    UnknownUserName,
    UnsupportedSecLevel,
    UsmError,
    UsmUser,
    WrongDigest,
    decrypt_scoped_pdu,
    encrypt_scoped_pdu,
)
from .v3 import (
    FLAG_AUTH,
    FLAG_PRIV,
    FLAG_REPORTABLE,
    ScopedPdu,
    UsmSecurityParameters,
    V3Message,
    decode_scoped_pdu,
    decode_v3_message,
    encode_scoped_pdu,
    encode_v3_message,
)

#: Sender engines whose boots/time are remembered; the oldest is forgotten beyond this. A
#: forgotten engine is re-learnt from its next authentic trap, so the bound only weakens replay
#: protection for an engine that has been silent while this many others spoke.
MAX_ENGINES = 4096
_MAX_BOOTS = 0x7FFF_FFFF
_USM_STATS = (1, 3, 6, 1, 6, 3, 15, 1, 1)
_NOT_IN_TIME_WINDOWS = (*_USM_STATS, 2, 0)
_UNKNOWN_ENGINE_IDS = (*_USM_STATS, 4, 0)
_RESPONSE_MAX_SIZE = 65507


def new_engine_id() -> bytes:
    """A fresh snmpEngineID (RFC 3411 section 5, SnmpEngineID): first bit set, enterprise 0
    (we have no enterprise number of our own), format 5 (administratively assigned octets), then
    12 random octets: 17 octets, within the 5..32 the RFC allows."""
    return bytes((0x80, 0, 0, 0, 5)) + secrets.token_bytes(12)


@dataclass(slots=True, frozen=True)
class V3Outcome:
    notification: Notification | None = None
    reply: bytes | None = None  # a Report (discovery, time window) or the inform's Response


@dataclass(slots=True)
class _EngineClock:
    """What a non-authoritative receiver knows of a sender's clock (RFC 3414 section 2.3)."""

    boots: int
    latest_time: int
    synced_at: float

    def time_now(self, now: float) -> int:
        return self.latest_time + int(now - self.synced_at)


class NotificationReceiverUsm:
    """USM for a notification receiver: configured users, our engine, sender engines' clocks.

    ``clock`` gives monotonic seconds: our snmpEngineTime counts from construction, and
    ``engine_boots`` is fixed for the receiver's life (a fresh random ``engine_id`` per start,
    the default, is what makes a replay from an earlier run useless).
    """

    def __init__(
        self,
        users: Iterable[UsmUser],
        *,
        engine_id: bytes | None = None,
        engine_boots: int = 1,
        max_engines: int = MAX_ENGINES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.users = {user.name: user for user in users}
        self.engine_id = engine_id if engine_id is not None else new_engine_id()
        if not 5 <= len(self.engine_id) <= 32:
            raise ValueError("an snmpEngineID has 5 to 32 octets (RFC 3411 section 5)")
        if not 1 <= engine_boots < _MAX_BOOTS:
            raise ValueError("engine_boots must be in 1..2^31-2")
        self.engine_boots = engine_boots
        self.clock = clock
        self._started = clock()
        self._engines: OrderedDict[bytes, _EngineClock] = OrderedDict()
        self.max_engines = max_engines
        self._salt = secrets.randbits(64)
        self.unknown_engine_ids = 0  # usmStatsUnknownEngineIDs, carried in discovery reports
        self.not_in_time_windows = 0

    @property
    def engine_time(self) -> int:
        return min(int(self.clock() - self._started), _MAX_BOOTS)

    @property
    def engines_known(self) -> int:
        return len(self._engines)

    # -- receiving ---------------------------------------------------------------------------

    def receive(self, data: bytes) -> V3Outcome:
        opened = self.open(data)
        if isinstance(opened, bytes):
            return V3Outcome(reply=opened)
        message, user, level, scoped = opened
        ours = message.security.engine_id == self.engine_id
        pdu = scoped.pdu
        notification = notification_from_pdu(Version.V3, user.name, pdu)
        if notification.inform and not ours:
            # RFC 3412 section 6.4: a confirmed-class PDU names the receiver's engine. A sender
            # still using the engine-id of an earlier run (ours is new at each start) gets a
            # usmStatsUnknownEngineIDs report with the current one and re-discovers
            # (RFC 3414 section 3.2 step 3).
            error = UnknownEngineId("inform not addressed to our engine-id")
            error.reply = self.unknown_engine_report(  # type: ignore[attr-defined]
                message, pdu.request_id
            )
            raise error
        if ours and not notification.inform:
            raise UnknownEngineId(
                "trap carrying our own engine-id: a trap's authoritative "
                "engine is its sender (RFC 3412 section 6.4)"
            )
        if not notification.inform:
            return V3Outcome(notification)
        response = Pdu(PduType.RESPONSE, pdu.request_id, 0, 0, list(pdu.varbinds))
        reply = self.encode_reply(
            message.msg_id,
            user,
            level,
            ScopedPdu(scoped.context_engine_id, scoped.context_name, response),
        )
        return V3Outcome(notification, reply)

    def open(self, data: bytes) -> bytes | tuple[V3Message, UsmUser, SecurityLevel, ScopedPdu]:
        """Decode, authenticate, check the time window and decrypt one message: the discovery
        report to send back (bytes), or the message, its user, level and plaintext scoped PDU.
        Raises like :meth:`receive`. Shared with a command responder (``printerhq.sim.v3``),
        which is authoritative for every request as we are for informs."""
        message, located = decode_v3_message(data)
        sec = message.security
        if not sec.engine_id:
            return self._discovery_report(message)
        user = self.users.get(sec.user_name)
        if user is None:
            raise UnknownUserName(f"user {sec.user_name[:32]!r} is not configured")
        level = (
            SecurityLevel.AUTH_PRIV
            if message.encrypted
            else SecurityLevel.AUTH_NO_PRIV
            if message.authenticated
            else SecurityLevel.NO_AUTH_NO_PRIV
        )
        if level < user.security_level or level > user.security_level:
            # Below the user's level would let anyone who knows the name forge traps; above it
            # we hold no key for (RFC 3414 section 3.2 step 5).
            raise UnsupportedSecLevel(
                f"message at {level.name}, user {user.name!r} is {user.security_level.name}"
            )
        ours = sec.engine_id == self.engine_id
        if not 5 <= len(sec.engine_id) <= 32:
            raise UnknownEngineId(f"engine-id of {len(sec.engine_id)} octets (RFC 3411: 5..32)")
        if level >= SecurityLevel.AUTH_NO_PRIV:
            auth_key = user.auth_key(sec.engine_id)
            mac_length = user.auth_protocol.mac_length
            if len(sec.auth_params) != mac_length:
                raise WrongDigest(
                    f"msgAuthenticationParameters of {len(sec.auth_params)} "
                    f"octets, expected {mac_length}"
                )
            zeroed = (
                located.data[: located.auth_start]
                + b"\x00" * mac_length
                + located.data[located.auth_stop :]
            )
            mac = hmac.digest(auth_key, zeroed, user.auth_protocol.hash_name)[:mac_length]
            if not hmac.compare_digest(mac, sec.auth_params):
                raise WrongDigest("HMAC does not match")
            if ours:
                self._check_our_window(message, user)
            else:
                self._check_sender_window(sec.engine_id, sec.engine_boots, sec.engine_time)
        scoped = message.scoped_pdu
        if message.encrypted:
            plaintext = decrypt_scoped_pdu(
                user.priv_protocol,
                user.priv_key(sec.engine_id),
                sec.engine_boots,
                sec.engine_time,
                sec.priv_params,
                message.encrypted_pdu or b"",
            )
            try:
                _, _, stop = read_header(plaintext, 0, len(plaintext))
                scoped = decode_scoped_pdu(plaintext[:stop])
            except SnmpDecodeError as exc:
                raise DecryptionError(f"decrypted data is not a ScopedPDU ({exc.reason})") from None
        assert scoped is not None
        return message, user, level, scoped

    # -- time windows (RFC 3414 section 3.2 step 7) ----------------------------------------

    def _check_our_window(self, message: V3Message, user: UsmUser) -> None:
        """Step 7.a: we are authoritative. A stale message gets an authenticated
        usmStatsNotInTimeWindows report with our clock, so the sender re-synchronises."""
        sec = message.security
        if (
            self.engine_boots == _MAX_BOOTS
            or sec.engine_boots != self.engine_boots
            or abs(sec.engine_time - self.engine_time) > TIME_WINDOW
        ):
            self.not_in_time_windows += 1
            report = Pdu(
                PduType.REPORT,
                0,
                varbinds=[Varbind(_NOT_IN_TIME_WINDOWS, Tag.COUNTER32, self.not_in_time_windows)],
            )
            reply = self.encode_reply(
                message.msg_id,
                user,
                SecurityLevel.AUTH_NO_PRIV,
                ScopedPdu(self.engine_id, b"", report),
            )
            error = NotInTimeWindow(
                f"boots/time {sec.engine_boots}/{sec.engine_time}, ours "
                f"{self.engine_boots}/{self.engine_time}"
            )
            error.reply = reply  # type: ignore[attr-defined]
            raise error

    def _check_sender_window(self, engine_id: bytes, boots: int, engine_time: int) -> None:
        """Step 7.b: the sender is authoritative; only called after the HMAC has been checked,
        so a first-seen engine's clock is adopted from an authentic message."""
        now = self.clock()
        known = self._engines.get(engine_id)
        if known is None:
            self._engines[engine_id] = _EngineClock(boots, engine_time, now)
            if len(self._engines) > self.max_engines:
                self._engines.popitem(last=False)
            return
        self._engines.move_to_end(engine_id)
        if boots > known.boots or (boots == known.boots and engine_time > known.latest_time):
            known.boots, known.latest_time, known.synced_at = boots, engine_time, now
        if (
            known.boots == _MAX_BOOTS
            or boots < known.boots
            or (boots == known.boots and engine_time < known.time_now(now) - TIME_WINDOW)
        ):
            self.not_in_time_windows += 1
            raise NotInTimeWindow(
                f"trap boots/time {boots}/{engine_time}, local notion "
                f"{known.boots}/{known.time_now(now)}"
            )

    # -- replies ------------------------------------------------------------------------------

    def _discovery_report(self, message: V3Message) -> bytes:
        """RFC 3414 section 4: an unauthenticated, reportable message with an empty engine-id is
        a discovery probe; answer with our engine-id, boots and time in a report."""
        if message.authenticated or not message.flags & FLAG_REPORTABLE:
            raise UnknownEngineId("empty engine-id on a message that is not a discovery probe")
        return self.unknown_engine_report(
            message, message.scoped_pdu.pdu.request_id if message.scoped_pdu else 0
        )

    def unknown_engine_report(self, message: V3Message, request_id: int) -> bytes:
        """A noAuthNoPriv usmStatsUnknownEngineIDs report carrying our engine-id, boots and
        time: what a sender needs to (re-)discover us."""
        self.unknown_engine_ids += 1
        report = Pdu(
            PduType.REPORT,
            request_id,
            varbinds=[
                Varbind(_UNKNOWN_ENGINE_IDS, Tag.COUNTER32, self.unknown_engine_ids & 0xFFFF_FFFF)
            ],
        )
        security = UsmSecurityParameters(
            self.engine_id, self.engine_boots, self.engine_time, message.security.user_name
        )
        return encode_v3_message(
            V3Message(
                message.msg_id,
                _RESPONSE_MAX_SIZE,
                0,
                security,
                ScopedPdu(self.engine_id, b"", report),
            )
        ).data

    def _next_salt(self, priv: PrivProtocol) -> bytes:
        self._salt = (self._salt + 1) & 0xFFFF_FFFF_FFFF_FFFF
        if priv is PrivProtocol.DES:
            # RFC 3414 8.1.1.1: salt = snmpEngineBoots || 32-bit local integer.
            return self.engine_boots.to_bytes(4, "big") + (self._salt & 0xFFFF_FFFF).to_bytes(
                4, "big"
            )
        return self._salt.to_bytes(8, "big")

    def encode_reply(
        self, msg_id: int, user: UsmUser, level: SecurityLevel, scoped: ScopedPdu
    ) -> bytes:
        """A message from our (authoritative) engine: a Response or a Report, never reportable
        (RFC 3412 section 6.4)."""
        boots, engine_time = self.engine_boots, self.engine_time
        flags = 0
        plain: ScopedPdu | None = scoped
        encrypted = None
        priv_params = b""
        if level is SecurityLevel.AUTH_PRIV:
            flags = FLAG_AUTH | FLAG_PRIV
            priv_params = self._next_salt(user.priv_protocol)
            encrypted = encrypt_scoped_pdu(
                user.priv_protocol,
                user.priv_key(self.engine_id),
                boots,
                engine_time,
                priv_params,
                encode_scoped_pdu(scoped),
            )
            plain = None
        elif level is SecurityLevel.AUTH_NO_PRIV:
            flags = FLAG_AUTH
        mac_length = user.auth_protocol.mac_length if flags else 0
        security = UsmSecurityParameters(
            self.engine_id, boots, engine_time, user.name, b"\x00" * mac_length, priv_params
        )
        encoded = encode_v3_message(
            V3Message(msg_id, _RESPONSE_MAX_SIZE, flags, security, plain, encrypted)
        )
        if not flags:
            return encoded.data
        mac = hmac.digest(
            user.auth_key(self.engine_id), encoded.data, user.auth_protocol.hash_name
        )[:mac_length]
        return encoded.data[: encoded.auth_start] + mac + encoded.data[encoded.auth_stop :]


def usm_error_reply(error: UsmError) -> bytes | None:
    """The report a :class:`UsmError` from :meth:`NotificationReceiverUsm.receive` carries."""
    return getattr(error, "reply", None)
