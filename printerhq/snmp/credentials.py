"""Credentials: how one target wants its requests wrapped and its replies unwrapped.

A credential turns a :class:`~printerhq.snmp.message.Pdu` into the bytes of a whole SNMP message
and back. The client never looks inside a message except to read the request-id it uses to
match replies (see :func:`printerhq.snmp.transport.peek_request_id`), so adding a message
format means adding a credential, not touching the client.

The seam, as a :class:`typing.Protocol`:

``version``
    :class:`~printerhq.snmp.message.Version`; ``V1`` means the walk uses GETNEXT and
    GETBULK is refused (RFC 3416 section 4.2.3 exists only from v2c on).
``protocol``
    A name for reports (``"snmpv2c"``); never the secret itself.
``encode(pdu) -> bytes``
    The whole message. The id the client matches replies by must equal ``pdu.request_id``:
    the PDU request-id for v1/v2c, and the ``msgID`` (RFC 3412 section 6.2) for v3, which the
    client can read without decrypting.
``decode(data) -> Pdu``
    The PDU of a reply. Raise :class:`~printerhq.snmp.ber.SnmpDecodeError` for anything that
    is not an acceptable reply: the client counts it, drops it and keeps waiting, so a forged
    or garbled datagram cannot end a request early.
``async prepare(client, target)`` (optional)
    Called before each request with this credential; a v3 credential discovers the engine-id
    and time here (RFC 3414 section 4) through :meth:`SnmpClient.exchange
    <printerhq.snmp.client.SnmpClient.exchange>`, and returns at once once it knows them.
    It may return the credential to use for this target (per-agent state), or None.
``async explain_timeout(client, target, exc)`` (optional)
    May replace a timeout with a more precise error (SNMPv3: wrong user or keys).
Raising :class:`~printerhq.snmp.client.SnmpResynchronised` from ``decode`` makes the client
re-encode and re-send once (SNMPv3 notInTimeWindow, RFC 3414 section 3.2 step 7.b).
"""

from __future__ import annotations

__all__ = ["Credential", "Community"]

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from .ber import SnmpDecodeError
from .message import Message, Pdu, PduType, Version, decode_message, encode_message


@runtime_checkable
class Credential(Protocol):
    """What the client needs from any credential kind (community now, USM later)."""

    @property
    def version(self) -> Version: ...

    @property
    def protocol(self) -> str: ...

    def encode(self, pdu: Pdu) -> bytes: ...

    def decode(self, data: bytes) -> Pdu: ...


@dataclass(frozen=True, slots=True)
class Community:
    """An SNMPv1 or SNMPv2c community string (RFC 1157 section 3.2.5, RFC 1901).

    The community is left out of ``repr`` so it cannot leak into logs or error messages.
    """

    community: bytes = field(repr=False)
    version: Version = Version.V2C

    def __post_init__(self) -> None:
        if isinstance(self.community, str):
            object.__setattr__(self, "community", self.community.encode())
        if self.version not in (Version.V1, Version.V2C):
            raise ValueError("a community is an SNMPv1 or SNMPv2c credential")

    @property
    def protocol(self) -> str:
        return "snmpv1" if self.version == Version.V1 else "snmpv2c"

    def encode(self, pdu: Pdu) -> bytes:
        return encode_message(Message(self.version, self.community, pdu))

    def decode(self, data: bytes) -> Pdu:
        message = decode_message(data)
        # An agent answers in the version it was asked in (RFC 3584 section 4.2.1 for
        # multi-lingual agents); anything else is not a reply to us.
        if message.version != self.version:
            raise SnmpDecodeError(
                f"reply is {message.version.name}, request was {self.version.name}", 0
            )
        if message.pdu.type != PduType.RESPONSE:
            raise SnmpDecodeError(f"expected a Response-PDU, got {message.pdu.type.name}", 0)
        # The community of the reply is not checked: RFC 1157 has agents echo it, but it proves
        # nothing (it travels in clear) and some printers answer with a fixed one.
        return message.pdu
