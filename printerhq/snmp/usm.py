"""The User-based Security Model (RFC 3414), with SHA-2 (RFC 7860) and AES (RFC 3826): sans-IO.

:class:`UsmSession` is the state a manager keeps per agent: the agent's authoritative engine-id
(learned once by discovery, RFC 3414 section 4), its boots/time clock (section 2.3) and the keys
localised to that engine-id. It turns PDUs into bytes and bytes into PDUs; it never touches a
socket, so the trio client and the tests drive it the same way.

Cryptography comes from the ``cryptography`` package (DES, AES) and the standard library's
``hashlib``/``hmac`` (password-to-key, HMAC); nothing here implements a primitive itself.

Errors are specific: an agent's Report PDU (RFC 3412 section 7.1 step 3) naming a usmStats
counter becomes the matching :class:`UsmError` subclass, and the same classes are raised when a
response fails our own checks (``from_agent`` tells which).
"""

from __future__ import annotations

__all__ = [
    "AuthProtocol",
    "PrivProtocol",
    "SecurityLevel",
    "UsmUser",
    "UsmSession",
    "UsmError",
    "ReportError",
    "UnsupportedSecLevel",
    "NotInTimeWindow",
    "UnknownUserName",
    "UnknownEngineId",
    "WrongDigest",
    "DecryptionError",
    "password_to_key",
    "localize_key",
    "localized_auth_key",
    "localized_priv_key",
    "TIME_WINDOW",
]

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # Imported when a message is encrypted or decrypted (_des_cipher, _aes_cipher): the
    # cryptography package costs every scan about 8 MB of memory, and most never use SNMPv3
    # privacy.
    from cryptography.hazmat.decrepit.ciphers.modes import CFB
    from cryptography.hazmat.primitives.ciphers import Cipher, modes

from .ber import SnmpDecodeError, read_header
from .message import MAX_MESSAGE_SIZE, Pdu, PduType, Varbind
from .v3 import (
    FLAG_AUTH,
    FLAG_PRIV,
    FLAG_REPORTABLE,
    EncodedV3,
    ScopedPdu,
    UsmSecurityParameters,
    V3Message,
    decode_scoped_pdu,
    decode_v3_message,
    encode_scoped_pdu,
    encode_v3_message,
)

TIME_WINDOW = 150  # seconds, RFC 3414 section 3.2 step 7.b
_MAX_BOOTS = 0x7FFF_FFFF  # RFC 3414 section 2.2.2: boots at 2^31-1 means "locked"
# snmpEngineTime.0 (RFC 3411): what the privacy probe asks for
SNMP_ENGINE_TIME = (1, 3, 6, 1, 6, 3, 10, 2, 1, 3, 0)


class SecurityLevel(IntEnum):
    """RFC 3411 section 5, SnmpSecurityLevel."""

    NO_AUTH_NO_PRIV = 1
    AUTH_NO_PRIV = 2
    AUTH_PRIV = 3


class AuthProtocol(Enum):
    """(hash name, truncated MAC length in octets). RFC 3414 sections 6 and 7 truncate MD5 and
    SHA-1 to 96 bits; RFC 7860 section 4.2.1 truncates SHA-2 to 128/192/256/384 bits."""

    NONE = ("", 0)
    MD5 = ("md5", 12)
    SHA = ("sha1", 12)
    SHA224 = ("sha224", 16)
    SHA256 = ("sha256", 24)
    SHA384 = ("sha384", 32)
    SHA512 = ("sha512", 48)

    @property
    def hash_name(self) -> str:
        return self.value[0]

    @property
    def mac_length(self) -> int:
        return self.value[1]


class PrivProtocol(Enum):
    """(cipher, key length). AES-192/256 are not IETF standards; two key-extension schemes are
    in the field: draft-blumenthal-aes-usm-04 (net-snmp's AES-192/AES-256) and
    draft-reeder-snmpv3-usm-3desede-00 (Cisco's, net-snmp's "-C" variants)."""

    _value_: tuple[str, int]  # (cipher name, key octets)

    NONE = ("", 0)
    DES = ("des", 16)  # 8 octets of DES key + 8 octets of pre-IV, RFC 3414 section 8.1.1.1
    AES = ("aes", 16)  # RFC 3826
    AES192 = ("aes", 24)  # Blumenthal
    AES256 = ("aes", 32)  # Blumenthal
    AES192_REEDER = ("aes-reeder", 24)
    AES256_REEDER = ("aes-reeder", 32)

    @property
    def key_length(self) -> int:
        return self.value[1]


# --------------------------------------------------------------------------------------------
# Keys (RFC 3414 section 2.6 and appendix A.2)

_ONE_MEGABYTE = 1_048_576


@lru_cache(maxsize=256)
def password_to_key(passphrase: bytes, hash_name: str) -> bytes:
    """Ku: hash of the passphrase repeated to 1 MiB (RFC 3414 appendix A.2.1/A.2.2, RFC 7860
    section 9.3). Cached: it hashes a megabyte."""
    if not passphrase:
        raise ValueError("empty passphrase")
    repeated = passphrase * (_ONE_MEGABYTE // len(passphrase) + 1)
    return hashlib.new(hash_name, repeated[:_ONE_MEGABYTE]).digest()


def localize_key(master_key: bytes, engine_id: bytes, hash_name: str) -> bytes:
    """Kul = H(Ku || engineID || Ku), RFC 3414 section 2.6."""
    return hashlib.new(hash_name, master_key + engine_id + master_key).digest()


@lru_cache(maxsize=1024)
def localized_auth_key(master_key: bytes, engine_id: bytes, auth: AuthProtocol) -> bytes:
    return localize_key(master_key, engine_id, auth.hash_name)


@lru_cache(maxsize=1024)
def localized_priv_key(
    master_key: bytes, engine_id: bytes, auth: AuthProtocol, priv: PrivProtocol
) -> bytes:
    """The privacy key, localised with the *auth* protocol's hash (RFC 3414 section 8.1.1.1,
    RFC 3826 section 3.1.2.1) and extended when the cipher needs more octets than the hash gives.
    """
    name = auth.hash_name
    key = localize_key(master_key, engine_id, name)
    if priv.value[0] == "aes-reeder":
        # Reeder draft section 2.1: run password-to-key again with the key as the passphrase.
        while len(key) < priv.key_length:
            key += localize_key(password_to_key(key, name), engine_id, name)
    else:
        # Blumenthal draft section 3.1.2.1: Kul || H(Kul) || H(Kul || H(Kul)) ...
        while len(key) < priv.key_length:
            key += hashlib.new(name, key).digest()
    return key[: priv.key_length]


# --------------------------------------------------------------------------------------------
# Users


def _as_bytes(value: str | bytes | None) -> bytes | None:
    if value is None:
        return None
    return value.encode() if isinstance(value, str) else bytes(value)


@dataclass(frozen=True, slots=True)
class UsmUser:
    """A USM user. Secrets are given either as passphrases or as master keys (Ku, as net-snmp's
    ``-3m``/``-3M``); ``repr()`` never shows them."""

    name: bytes
    auth_protocol: AuthProtocol = AuthProtocol.NONE
    auth_passphrase: bytes | None = field(default=None, repr=False)
    priv_protocol: PrivProtocol = PrivProtocol.NONE
    priv_passphrase: bytes | None = field(default=None, repr=False)
    auth_master_key: bytes | None = field(default=None, repr=False)
    priv_master_key: bytes | None = field(default=None, repr=False)

    def __init__(
        self,
        name: str | bytes,
        auth_protocol: AuthProtocol = AuthProtocol.NONE,
        auth_passphrase: str | bytes | None = None,
        priv_protocol: PrivProtocol = PrivProtocol.NONE,
        priv_passphrase: str | bytes | None = None,
        *,
        auth_master_key: bytes | None = None,
        priv_master_key: bytes | None = None,
    ) -> None:
        set_ = object.__setattr__
        set_(self, "name", _as_bytes(name))
        set_(self, "auth_protocol", auth_protocol)
        set_(self, "auth_passphrase", _as_bytes(auth_passphrase))
        set_(self, "priv_protocol", priv_protocol)
        set_(self, "priv_passphrase", _as_bytes(priv_passphrase))
        set_(self, "auth_master_key", auth_master_key)
        set_(self, "priv_master_key", priv_master_key)
        if len(self.name) > 32:
            raise ValueError("USM user names are at most 32 octets (RFC 3414 section 2.4)")
        if auth_protocol is AuthProtocol.NONE:
            if priv_protocol is not PrivProtocol.NONE:
                raise ValueError("privacy requires authentication (RFC 3414 section 1.4.3)")
            if self.auth_passphrase or auth_master_key:
                raise ValueError("an auth secret was given without an auth protocol")
        elif (self.auth_passphrase is None) == (auth_master_key is None):
            raise ValueError("give exactly one of auth_passphrase and auth_master_key")
        if priv_protocol is not PrivProtocol.NONE:
            if (self.priv_passphrase is None) == (priv_master_key is None):
                raise ValueError("give exactly one of priv_passphrase and priv_master_key")
        elif self.priv_passphrase or priv_master_key:
            raise ValueError("a privacy secret was given without a privacy protocol")
        # RFC 3414 section 11.2 recommends at least 8 octets; net-snmp refuses shorter ones.
        for what, secret in (("auth", self.auth_passphrase), ("priv", self.priv_passphrase)):
            if secret is not None and len(secret) < 8:
                raise ValueError(f"{what} passphrase must be at least 8 characters")

    def __repr__(self) -> str:
        return (
            f"UsmUser(name={self.name!r}, auth={self.auth_protocol.name}, "
            f"priv={self.priv_protocol.name}, level={self.security_level.name})"
        )

    __str__ = __repr__

    @property
    def security_level(self) -> SecurityLevel:
        if self.auth_protocol is AuthProtocol.NONE:
            return SecurityLevel.NO_AUTH_NO_PRIV
        if self.priv_protocol is PrivProtocol.NONE:
            return SecurityLevel.AUTH_NO_PRIV
        return SecurityLevel.AUTH_PRIV

    def auth_key(self, engine_id: bytes) -> bytes:
        master = self.auth_master_key or password_to_key(
            self.auth_passphrase or b"", self.auth_protocol.hash_name
        )
        return localized_auth_key(master, engine_id, self.auth_protocol)

    def priv_key(self, engine_id: bytes) -> bytes:
        master = self.priv_master_key or password_to_key(
            self.priv_passphrase or b"", self.auth_protocol.hash_name
        )
        return localized_priv_key(master, engine_id, self.auth_protocol, self.priv_protocol)


# --------------------------------------------------------------------------------------------
# Errors


class UsmError(Exception):
    """An SNMPv3 security failure. ``from_agent`` is true when the agent reported it."""

    counter_name = "usm"

    def __init__(self, detail: str = "", *, from_agent: bool = False) -> None:
        self.from_agent = from_agent
        origin = "agent reported" if from_agent else "response failed check"
        super().__init__(f"{self.counter_name} ({origin}){': ' + detail if detail else ''}")


class ReportError(UsmError):
    """A Report PDU about a counter without its own class (e.g. snmpInvalidMsgs)."""

    counter_name = "report"

    def __init__(
        self, detail: str = "", *, from_agent: bool = True, oid: tuple[int, ...] = ()
    ) -> None:
        self.oid = oid
        super().__init__(detail, from_agent=from_agent)


class UnsupportedSecLevel(UsmError):
    counter_name = "unsupportedSecLevel"


class NotInTimeWindow(UsmError):
    """Boots/time outside the 150 s window. ``engine_boots``/``engine_time`` are the agent's
    values when known (from an authenticated report); the session has already adopted them, so
    the caller re-encodes the request and retries once."""

    counter_name = "notInTimeWindow"

    def __init__(
        self,
        detail: str = "",
        *,
        from_agent: bool = False,
        engine_boots: int | None = None,
        engine_time: int | None = None,
    ) -> None:
        self.engine_boots = engine_boots
        self.engine_time = engine_time
        super().__init__(detail, from_agent=from_agent)


class UnknownUserName(UsmError):
    counter_name = "unknownUserName"


class UnknownEngineId(UsmError):
    counter_name = "unknownEngineID"


class WrongDigest(UsmError):
    counter_name = "wrongDigest"


class DecryptionError(UsmError):
    counter_name = "decryptionError"


# usmStats counters, RFC 3414 section 5: 1.3.6.1.6.3.15.1.1.N.0
_USM_STATS = (1, 3, 6, 1, 6, 3, 15, 1, 1)
_REPORT_CLASSES: dict[int, type[UsmError]] = {
    1: UnsupportedSecLevel,
    2: NotInTimeWindow,
    3: UnknownUserName,
    4: UnknownEngineId,
    5: WrongDigest,
    6: DecryptionError,
}
# snmpMPDStats, RFC 3412 section 5: 1.3.6.1.6.3.11.2.1.N.0
_MPD_STATS_NAMES: dict[tuple[int, ...], str] = {
    (1, 3, 6, 1, 6, 3, 11, 2, 1, n, 0): name
    for n, name in (
        (1, "snmpUnknownSecurityModels"),
        (2, "snmpInvalidMsgs"),
        (3, "snmpUnknownPDUHandlers"),
    )
}


def _report_error(pdu: Pdu, security: UsmSecurityParameters, authenticated: bool) -> UsmError:
    varbind = pdu.varbinds[0] if pdu.varbinds else Varbind((0, 0))
    oid = varbind.oid
    detail = f"counter {'.'.join(map(str, oid))} = {varbind.value!r}"
    if len(oid) == len(_USM_STATS) + 2 and oid[:-2] == _USM_STATS and oid[-1] == 0:
        cls = _REPORT_CLASSES.get(oid[-2])
        if cls is NotInTimeWindow:
            return NotInTimeWindow(
                detail,
                from_agent=True,
                engine_boots=security.engine_boots if authenticated else None,
                engine_time=security.engine_time if authenticated else None,
            )
        if cls is not None:
            return cls(detail, from_agent=True)
    name = _MPD_STATS_NAMES.get(oid)
    return ReportError(f"{name or 'unknown report'}: {detail}", oid=oid)


# --------------------------------------------------------------------------------------------
# Privacy (RFC 3414 section 8: CBC-DES; RFC 3826 section 3: CFB128-AES)


def _des_cipher(key: bytes, salt: bytes) -> Cipher[modes.CBC]:
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    from cryptography.hazmat.primitives.ciphers import Cipher, modes

    # RFC 3414 8.1.1.1: key = first 8 octets, pre-IV = last 8 octets, IV = pre-IV XOR salt.
    iv = bytes(a ^ b for a, b in zip(key[8:16], salt, strict=True))
    # Three-key TDES with K1=K2=K3 is single DES (the "EDE" collapses): the supported way to get
    # DES out of cryptography without its deprecated 8-octet key path.
    return Cipher(TripleDES(key[:8] * 3), modes.CBC(iv))


def _aes_cipher(key: bytes, boots: int, engine_time: int, salt: bytes) -> Cipher[CFB]:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

    try:  # CFB moved to the "decrepit" namespace in cryptography 47; the old name warns.
        from cryptography.hazmat.decrepit.ciphers.modes import CFB
    except ImportError:  # pragma: no cover - older cryptography
        from cryptography.hazmat.primitives.ciphers.modes import CFB

    # RFC 3826 3.1.2.1: IV = boots (4 octets) || time (4 octets) || 64-bit salt.
    iv = boots.to_bytes(4, "big") + engine_time.to_bytes(4, "big") + salt
    return Cipher(algorithms.AES(key), CFB(iv))


def encrypt_scoped_pdu(
    priv: PrivProtocol, key: bytes, boots: int, engine_time: int, salt: bytes, plaintext: bytes
) -> bytes:
    """Encrypt with the given salt (8 octets, which becomes msgPrivacyParameters)."""
    if priv is PrivProtocol.DES:
        # RFC 3414 8.1.1.2: pad to a multiple of 8; the BER length makes the padding harmless.
        plaintext += b"\x00" * (-len(plaintext) % 8)
        encryptor = _des_cipher(key, salt).encryptor()
    else:
        encryptor = _aes_cipher(key, boots, engine_time, salt).encryptor()
    return encryptor.update(plaintext) + encryptor.finalize()


def decrypt_scoped_pdu(
    priv: PrivProtocol, key: bytes, boots: int, engine_time: int, salt: bytes, ciphertext: bytes
) -> bytes:
    if len(salt) != 8:
        raise DecryptionError("msgPrivacyParameters must be 8 octets")
    if priv is PrivProtocol.DES:
        if len(ciphertext) % 8:
            # RFC 3414 8.3.2 step 2: not a multiple of 8 is a decryptionError.
            raise DecryptionError("DES ciphertext length is not a multiple of 8")
        decryptor = _des_cipher(key, salt).decryptor()
    else:
        decryptor = _aes_cipher(key, boots, engine_time, salt).decryptor()
    return decryptor.update(ciphertext) + decryptor.finalize()


def _strip_padding(plaintext: bytes) -> bytes:
    """The ScopedPDU's own BER length tells where DES padding starts."""
    try:
        _, _, stop = read_header(plaintext, 0, len(plaintext))
    except SnmpDecodeError as exc:
        raise DecryptionError(f"decrypted data is not a ScopedPDU ({exc.reason})") from None
    return plaintext[:stop]


# --------------------------------------------------------------------------------------------
# The per-agent session


class UsmSession:
    """Sans-IO SNMPv3/USM state for one (agent, user) pair.

    Typical use::

        session = UsmSession(user)
        send(session.discovery_request(msg_id))          # once per agent
        session.handle_discovery(receive())
        send(session.encode_request(pdu))                  # msgID = pdu.request_id
        try:
            response = session.decode_response(receive())
        except NotInTimeWindow:                            # session re-synced: retry once
            send(session.encode_request(pdu)); response = session.decode_response(receive())

    ``clock`` returns seconds (monotonic); it drives the local notion of the agent's engine time
    (RFC 3414 section 2.3).
    """

    def __init__(
        self,
        user: UsmUser,
        *,
        context_name: bytes = b"",
        context_engine_id: bytes | None = None,
        max_size: int = MAX_MESSAGE_SIZE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.user = user
        self.context_name = context_name
        self._context_engine_id = context_engine_id
        self.max_size = max_size
        self.clock = clock
        self.engine_id: bytes | None = None
        self.engine_boots = 0
        self._engine_time_at_sync = 0
        self._synced_at = clock()
        self._latest_received_time = 0
        # Salt counters start at random values (RFC 3414 8.1.1.1, RFC 3826 3.1.2.1).
        self._salt = secrets.randbits(64)
        self._auth_key = b""
        self._priv_key = b""

    def __repr__(self) -> str:
        engine = self.engine_id.hex() if self.engine_id else None
        return f"UsmSession(user={self.user!r}, engine_id={engine})"

    # -- engine state -----------------------------------------------------------------------

    @property
    def discovered(self) -> bool:
        return self.engine_id is not None

    @property
    def context_engine_id(self) -> bytes:
        return (
            self._context_engine_id
            if self._context_engine_id is not None
            else (self.engine_id or b"")
        )

    @property
    def engine_time(self) -> int:
        """Local notion of the agent's snmpEngineTime (RFC 3414 section 2.3)."""
        elapsed = int(self.clock() - self._synced_at)
        return min(self._engine_time_at_sync + max(elapsed, 0), _MAX_BOOTS)

    def set_engine(self, engine_id: bytes, boots: int = 0, engine_time: int = 0) -> None:
        """Adopt an engine-id (from discovery or configuration) and its boots/time; localises
        the keys (cached per engine-id, so many sessions to one engine pay once)."""
        if not 5 <= len(engine_id) <= 32:
            raise UnknownEngineId(f"engine-id of {len(engine_id)} octets (RFC 3411: 5..32)")
        self.engine_id = engine_id
        self._sync(boots, engine_time)
        if self.user.security_level >= SecurityLevel.AUTH_NO_PRIV:
            self._auth_key = self.user.auth_key(engine_id)
        if self.user.security_level is SecurityLevel.AUTH_PRIV:
            self._priv_key = self.user.priv_key(engine_id)

    def _sync(self, boots: int, engine_time: int) -> None:
        self.engine_boots = boots
        self._engine_time_at_sync = engine_time
        self._latest_received_time = engine_time
        self._synced_at = self.clock()

    # -- discovery (RFC 3414 section 4) -----------------------------------------------------

    def discovery_request(self, msg_id: int) -> bytes:
        """A noAuthNoPriv, reportable GET with no varbinds and an empty engine-id: the agent
        answers with a usmStatsUnknownEngineIDs report carrying its engine-id."""
        message = V3Message(
            msg_id,
            self.max_size,
            FLAG_REPORTABLE,
            UsmSecurityParameters(),
            ScopedPdu(b"", b"", Pdu(PduType.GET, msg_id)),
        )
        return encode_v3_message(message).data

    def handle_discovery(self, data: bytes) -> bytes:
        """Read the discovery report; returns the agent's engine-id.

        The report's boots/time are unauthenticated; like net-snmp and pysnmp we use them as a
        first guess, and an authenticated notInTimeWindow report corrects them if wrong."""
        message, _ = decode_v3_message(data)
        scoped = message.scoped_pdu
        if scoped is None or scoped.pdu.type is not PduType.REPORT:
            raise UnknownEngineId("discovery answer is not a plaintext Report PDU")
        engine_id = message.security.engine_id
        if not engine_id:
            raise _report_error(scoped.pdu, message.security, False)
        self.set_engine(engine_id, message.security.engine_boots, message.security.engine_time)
        return engine_id

    # -- requests ---------------------------------------------------------------------------

    def _next_salt(self) -> bytes:
        self._salt = (self._salt + 1) & 0xFFFF_FFFF_FFFF_FFFF
        if self.user.priv_protocol is PrivProtocol.DES:
            # RFC 3414 8.1.1.1: salt = snmpEngineBoots || 32-bit local integer.
            low = self._salt & 0xFFFF_FFFF
            return self.engine_boots.to_bytes(4, "big") + low.to_bytes(4, "big")
        return self._salt.to_bytes(8, "big")

    def encode_request(self, pdu: Pdu, msg_id: int | None = None) -> bytes:
        """Encode ``pdu`` at the user's security level; msgID defaults to the request-id."""
        return self._encode(
            pdu, pdu.request_id if msg_id is None else msg_id, self.user.security_level
        )

    def _encode(self, pdu: Pdu, msg_id: int, level: SecurityLevel) -> bytes:
        if self.engine_id is None:
            raise UnknownEngineId("engine-id not discovered yet: call discovery_request first")
        user = self.user
        boots, engine_time = self.engine_boots, self.engine_time
        flags = FLAG_REPORTABLE
        plain = ScopedPdu(self.context_engine_id, self.context_name, pdu)
        scoped: ScopedPdu | None = plain
        encrypted = None
        priv_params = b""
        if level is SecurityLevel.AUTH_PRIV:
            flags |= FLAG_AUTH | FLAG_PRIV
            priv_params = self._next_salt()
            encrypted = encrypt_scoped_pdu(
                user.priv_protocol,
                self._priv_key,
                boots,
                engine_time,
                priv_params,
                encode_scoped_pdu(plain),
            )
            scoped = None
        elif level is SecurityLevel.AUTH_NO_PRIV:
            flags |= FLAG_AUTH
        mac_length = user.auth_protocol.mac_length if level > SecurityLevel.NO_AUTH_NO_PRIV else 0
        security = UsmSecurityParameters(
            self.engine_id, boots, engine_time, user.name, b"\x00" * mac_length, priv_params
        )
        encoded = encode_v3_message(
            V3Message(msg_id, self.max_size, flags, security, scoped, encrypted)
        )
        if level is SecurityLevel.NO_AUTH_NO_PRIV:
            return encoded.data
        mac = self._mac(encoded.data)
        return encoded.data[: encoded.auth_start] + mac + encoded.data[encoded.auth_stop :]

    # -- telling a wrong privacy key from a lost packet --------------------------------------

    def privacy_probe_request(self, msg_id: int) -> bytes:
        """An authNoPriv GET of snmpEngineTime.0, for an authPriv user whose requests go
        unanswered.

        An agent that cannot decrypt a scoped PDU (wrong privacy passphrase or cipher) usually
        drops it without a report (net-snmp does), which looks like packet loss. If the same
        user's *authenticated* but unencrypted request is answered, authentication is right and
        the agent is up, so the privacy key is what is wrong: see :meth:`handle_privacy_probe`.
        """
        if self.user.security_level is not SecurityLevel.AUTH_PRIV:
            raise ValueError("the privacy probe is for authPriv users")
        pdu = Pdu(PduType.GET, msg_id, varbinds=[Varbind(SNMP_ENGINE_TIME)])
        return self._encode(pdu, msg_id, SecurityLevel.AUTH_NO_PRIV)

    def handle_privacy_probe(self, data: bytes) -> DecryptionError:
        """Check the probe's answer. Returns the :class:`DecryptionError` to raise when the
        answer is authentic; raises the agent's own :class:`UsmError` (e.g. a report) otherwise.
        """
        self._decode(data, None, SecurityLevel.AUTH_NO_PRIV, reports_as_errors=False)
        return DecryptionError(
            "authPriv requests went unanswered while an authNoPriv request "
            "was answered: the privacy passphrase or protocol is wrong"
        )

    def _mac(self, whole_message: bytes) -> bytes:
        # RFC 3414 6.3.1 / 7.3.1, RFC 7860 4.2.1: HMAC over the whole message with
        # msgAuthenticationParameters zero-filled, truncated.
        auth = self.user.auth_protocol
        return hmac.digest(self._auth_key, whole_message, auth.hash_name)[: auth.mac_length]

    # -- responses --------------------------------------------------------------------------

    def decode_response(self, data: bytes, expected_msg_id: int | None = None) -> Pdu:
        """Verify, decrypt and decode a response; raise a :class:`UsmError` subclass for a
        Report PDU or a failed check, :class:`~printerhq.snmp.ber.SnmpDecodeError` if malformed.
        """
        return self._decode(data, expected_msg_id, self.user.security_level)

    def _decode(
        self,
        data: bytes,
        expected_msg_id: int | None,
        level: SecurityLevel,
        reports_as_errors: bool = True,
    ) -> Pdu:
        message, located = decode_v3_message(data)
        if expected_msg_id is not None and message.msg_id != expected_msg_id:
            raise SnmpDecodeError(f"msgID {message.msg_id} does not match {expected_msg_id}", 0)
        security = message.security
        if message.authenticated:
            self._verify(message, located)
        plaintext_scoped = message.scoped_pdu
        if message.encrypted:
            if self.user.security_level is not SecurityLevel.AUTH_PRIV:
                raise UnsupportedSecLevel("encrypted response for a user without privacy")
            plaintext = decrypt_scoped_pdu(
                self.user.priv_protocol,
                self._priv_key,
                security.engine_boots,
                security.engine_time,
                security.priv_params,
                message.encrypted_pdu or b"",
            )
            try:
                plaintext_scoped = decode_scoped_pdu(_strip_padding(plaintext))
            except SnmpDecodeError as exc:
                raise DecryptionError(f"decrypted data is not a ScopedPDU ({exc.reason})") from None
        assert plaintext_scoped is not None
        pdu = plaintext_scoped.pdu
        if pdu.type is PduType.REPORT:
            error = _report_error(pdu, security, message.authenticated)
            if reports_as_errors or not message.authenticated:
                raise error
            return pdu
        received = (
            SecurityLevel.AUTH_PRIV
            if message.encrypted
            else SecurityLevel.AUTH_NO_PRIV
            if message.authenticated
            else SecurityLevel.NO_AUTH_NO_PRIV
        )
        if received != level:
            # RFC 3412 section 7.2 step 12: a response must come at the request's level.
            raise UnsupportedSecLevel(f"response at {received.name}, request at {level.name}")
        return pdu

    def _verify(self, message: V3Message, located: EncodedV3) -> None:
        """RFC 3414 section 3.2 steps 3, 6 and 7 for an authenticated incoming message."""
        security = message.security
        user = self.user
        if user.security_level is SecurityLevel.NO_AUTH_NO_PRIV:
            raise UnsupportedSecLevel("authenticated response for a noAuthNoPriv user")
        if security.user_name != user.name:
            raise UnknownUserName(f"response for user {security.user_name!r}")
        if security.engine_id != self.engine_id:
            raise UnknownEngineId("response from another authoritative engine-id")
        mac_length = user.auth_protocol.mac_length
        if len(security.auth_params) != mac_length:
            raise WrongDigest(
                f"msgAuthenticationParameters of {len(security.auth_params)} "
                f"octets, expected {mac_length}"
            )
        data = located.data
        zeroed = data[: located.auth_start] + b"\x00" * mac_length + data[located.auth_stop :]
        if not hmac.compare_digest(self._mac(zeroed), security.auth_params):
            raise WrongDigest("HMAC does not match")
        self._check_time_window(message)

    def _check_time_window(self, message: V3Message) -> None:
        security = message.security
        boots, engine_time = security.engine_boots, security.engine_time
        scoped = message.scoped_pdu  # reports are sent unencrypted (RFC 3414 section 3.1.1)
        is_time_report = (
            scoped is not None
            and scoped.pdu.type is PduType.REPORT
            and scoped.pdu.varbinds
            and scoped.pdu.varbinds[0].oid == (*_USM_STATS, 2, 0)
        )
        if is_time_report:
            # An authenticated notInTimeWindow report is the agent telling us its clock
            # (RFC 3414 section 4, second step of discovery): adopt it even if older than ours,
            # since the HMAC proves it comes from the agent.
            self._sync(boots, engine_time)
            return
        # RFC 3414 section 3.2 step 7.b (non-authoritative receiver).
        if boots > self.engine_boots or (
            boots == self.engine_boots and engine_time > self._latest_received_time
        ):
            self._sync(boots, engine_time)
        if (
            self.engine_boots == _MAX_BOOTS
            or boots < self.engine_boots
            or (boots == self.engine_boots and engine_time < self.engine_time - TIME_WINDOW)
        ):
            raise NotInTimeWindow(
                f"response boots/time {boots}/{engine_time}, local notion "
                f"{self.engine_boots}/{self.engine_time}"
            )
