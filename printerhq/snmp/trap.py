"""Notifications on the wire, sans-IO: the SNMPv1 Trap-PDU, SNMPv2-Trap and InformRequest.

SNMPv1 (RFC 1157 section 4.1.6) has its own PDU shape, unlike every other PDU::

    Trap-PDU ::= [4] IMPLICIT SEQUENCE {
        enterprise OBJECT IDENTIFIER, agent-addr NetworkAddress (IpAddress),
        generic-trap INTEGER (0..6), specific-trap INTEGER, time-stamp TimeTicks,
        variable-bindings VarBindList }

SNMPv2c (RFC 3416 sections 4.2.6 and 4.2.7) reuses the ordinary PDU; the first two varbinds are
``sysUpTime.0`` and ``snmpTrapOID.0``, and an InformRequest is answered with a Response carrying
the same request-id and varbinds.

:func:`decode_notification` turns either version into one :class:`Notification` whose trap OID is
the SNMPv2 one: a v1 trap is converted per RFC 3584 section 3.1. Everything malformed, and every
message that is not a notification, raises :class:`~printerhq.snmp.ber.SnmpDecodeError`, the
codec's one error. SNMPv3 is decoded by :mod:`printerhq.snmp.trap_usm`, which reuses
:func:`notification_from_pdu`.
"""

from __future__ import annotations

__all__ = [
    "SNMP_TRAPS",
    "SNMP_TRAP_OID_0",
    "SYS_UPTIME_0",
    "GenericTrap",
    "Notification",
    "TrapV1Message",
    "TrapV1Pdu",
    "decode_notification",
    "decode_trap_v1",
    "encode_trap_v1",
    "inform_response",
    "notification_from_pdu",
    "v1_trap_oid",
]

from dataclasses import dataclass
from enum import IntEnum

from .ber import (
    SnmpDecodeError,
    Tag,
    decode_oid,
    encode_oid,
    encode_signed,
    encode_tlv,
    encode_unsigned,
    expect,
    read_integer,
)
from .message import (
    Message,
    Pdu,
    PduType,
    Varbind,
    Version,
    decode_message,
    decode_varbinds,
    encode_message,
    encode_varbind,
    peek_version,
    read_message_version,
)

OID = tuple[int, ...]


# SNMPv2-MIB (RFC 3418): the two varbinds every SNMPv2 notification starts with.
SYS_UPTIME_0: OID = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SNMP_TRAP_OID_0: OID = (1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0)
# snmpTraps: coldStart is .1, so a v1 generic-trap g becomes snmpTraps.(g + 1) (RFC 3584 3.1).
SNMP_TRAPS: OID = (1, 3, 6, 1, 6, 3, 1, 1, 5)
_TIMETICKS_LIMIT = 1 << 32


class GenericTrap(IntEnum):
    """RFC 1157 section 4.1.6, generic-trap."""

    COLD_START = 0
    WARM_START = 1
    LINK_DOWN = 2
    LINK_UP = 3
    AUTHENTICATION_FAILURE = 4
    EGP_NEIGHBOR_LOSS = 5
    ENTERPRISE_SPECIFIC = 6


@dataclass(slots=True, frozen=True)
class TrapV1Pdu:
    enterprise: OID
    agent_addr: bytes  # 4 octets (NetworkAddress is always an IpAddress)
    generic_trap: int
    specific_trap: int
    time_stamp: int
    varbinds: tuple[Varbind, ...] = ()


@dataclass(slots=True, frozen=True)
class TrapV1Message:
    community: bytes
    pdu: TrapV1Pdu


@dataclass(slots=True, frozen=True)
class Notification:
    """One trap or inform, whatever the version, in SNMPv2 terms.

    ``varbinds`` are the notification's own objects: without ``sysUpTime.0`` and
    ``snmpTrapOID.0``, which become ``uptime`` and ``trap_oid``. ``enterprise`` and
    ``agent_addr`` are set for SNMPv1 only; ``request_id`` for informs (and v2c/v3 traps, where
    it is meaningless but present); ``security_name`` is the community (v1/v2c) or the USM user.
    """

    version: Version
    inform: bool
    trap_oid: OID
    uptime: int | None
    varbinds: tuple[Varbind, ...]
    security_name: bytes
    request_id: int | None = None
    enterprise: OID | None = None
    agent_addr: str | None = None


# --------------------------------------------------------------------------------------------
# SNMPv1 Trap-PDU


def encode_trap_v1(message: TrapV1Message) -> bytes:
    pdu = message.pdu
    if len(pdu.agent_addr) != 4:
        raise ValueError("agent-addr must be 4 octets")
    if not 0 <= pdu.generic_trap <= 6:
        raise ValueError(f"generic-trap must be 0..6, got {pdu.generic_trap}")
    if not 0 <= pdu.specific_trap <= 0x7FFF_FFFF:
        raise ValueError(f"specific-trap must be 0..2^31-1, got {pdu.specific_trap}")
    if not 0 <= pdu.time_stamp < _TIMETICKS_LIMIT:
        raise ValueError(f"time-stamp must be 0..2^32-1, got {pdu.time_stamp}")
    body = (
        encode_tlv(Tag.OBJECT_IDENTIFIER, encode_oid(pdu.enterprise))
        + encode_tlv(Tag.IP_ADDRESS, pdu.agent_addr)
        + encode_tlv(Tag.INTEGER, encode_signed(pdu.generic_trap))
        + encode_tlv(Tag.INTEGER, encode_signed(pdu.specific_trap))
        + encode_tlv(Tag.TIMETICKS, encode_unsigned(pdu.time_stamp))
        + encode_tlv(Tag.SEQUENCE, b"".join(map(encode_varbind, pdu.varbinds)))
    )
    return encode_tlv(
        Tag.SEQUENCE,
        encode_tlv(Tag.INTEGER, encode_signed(Version.V1))
        + encode_tlv(Tag.OCTET_STRING, message.community)
        + encode_tlv(PduType.TRAP_V1, body),
    )


def decode_trap_v1(data: bytes) -> TrapV1Message:
    """Decode an SNMPv1 message carrying a Trap-PDU; :class:`SnmpDecodeError` otherwise."""
    data = bytes(data)
    version, v_start, v_stop, stop = read_message_version(data)
    if version != Version.V1:
        raise SnmpDecodeError("a Trap-PDU is only valid in SNMPv1", v_start)
    c_start, c_stop = expect(data, v_stop, stop, Tag.OCTET_STRING, "community")
    p_start, p_stop = expect(data, c_stop, stop, PduType.TRAP_V1, "Trap-PDU")
    if p_stop != stop:
        raise SnmpDecodeError("trailing bytes after PDU", p_stop)
    e_start, pos = expect(data, p_start, p_stop, Tag.OBJECT_IDENTIFIER, "enterprise")
    enterprise = decode_oid(data, e_start, pos)
    a_start, pos = expect(data, pos, p_stop, Tag.IP_ADDRESS, "agent-addr")
    if pos - a_start != 4:
        raise SnmpDecodeError("agent-addr must be 4 octets", a_start)
    agent_addr = data[a_start:pos]
    g_start, pos = expect(data, pos, p_stop, Tag.INTEGER, "generic-trap")
    generic = read_integer(data, g_start, pos)
    if not 0 <= generic <= 6:
        raise SnmpDecodeError(f"generic-trap {generic} outside 0..6", g_start)
    s_start, pos = expect(data, pos, p_stop, Tag.INTEGER, "specific-trap")
    specific = read_integer(data, s_start, pos)
    if not 0 <= specific <= 0x7FFF_FFFF:
        # RFC 3584 3.1 appends it to an OID as a sub-identifier: it must be one.
        raise SnmpDecodeError(f"specific-trap {specific} outside 0..2^31-1", s_start)
    t_start, pos = expect(data, pos, p_stop, Tag.TIMETICKS, "time-stamp")
    if t_start == pos or pos - t_start > 5:
        raise SnmpDecodeError("time-stamp of bad length", t_start)
    time_stamp = int.from_bytes(data[t_start:pos], "big")
    if time_stamp >= _TIMETICKS_LIMIT:
        raise SnmpDecodeError("time-stamp out of range", t_start)
    l_start, l_stop = expect(data, pos, p_stop, Tag.SEQUENCE, "VarBindList")
    if l_stop != p_stop:
        raise SnmpDecodeError("trailing bytes in Trap-PDU", l_stop)
    varbinds = tuple(decode_varbinds(data, l_start, l_stop))
    return TrapV1Message(
        data[c_start:c_stop],
        TrapV1Pdu(enterprise, agent_addr, generic, specific, time_stamp, varbinds),
    )


def v1_trap_oid(pdu: TrapV1Pdu) -> OID:
    """snmpTrapOID for a v1 trap, RFC 3584 section 3.1 (2): a generic trap becomes
    ``snmpTraps.(generic-trap + 1)``; an enterprise-specific one ``enterprise.0.specific-trap``."""
    if pdu.generic_trap != GenericTrap.ENTERPRISE_SPECIFIC:
        return (*SNMP_TRAPS, pdu.generic_trap + 1)
    return (*pdu.enterprise, 0, pdu.specific_trap)


# --------------------------------------------------------------------------------------------
# SNMPv2 notifications


def notification_from_pdu(version: Version, security_name: bytes, pdu: Pdu) -> Notification:
    """A v2c/v3 SNMPv2-Trap or InformRequest PDU as a :class:`Notification`.

    RFC 3416 sections 4.2.6/4.2.7: the first varbind is sysUpTime.0 (TimeTicks), the second
    snmpTrapOID.0 (an OID). A PDU without them is not a notification we can name.
    """
    if pdu.type not in (PduType.TRAP_V2, PduType.INFORM):
        raise SnmpDecodeError(f"{pdu.type.name} is not a notification", 0)
    varbinds = pdu.varbinds
    if (
        len(varbinds) < 2
        or varbinds[0].oid != SYS_UPTIME_0
        or varbinds[0].tag != Tag.TIMETICKS
        or varbinds[1].oid != SNMP_TRAP_OID_0
        or varbinds[1].tag != Tag.OBJECT_IDENTIFIER
    ):
        raise SnmpDecodeError(
            "a notification must begin with sysUpTime.0 (TimeTicks) and "
            "snmpTrapOID.0 (OID), RFC 3416 section 4.2.6",
            0,
        )
    return Notification(
        version,
        pdu.type == PduType.INFORM,
        varbinds[1].value,  # type: ignore[arg-type]
        varbinds[0].value,  # type: ignore[arg-type]
        tuple(varbinds[2:]),
        security_name,
        pdu.request_id,
    )


def inform_response(message: Message) -> bytes:
    """The Response to a v2c InformRequest: same community, request-id and varbinds, no error
    (RFC 3416 section 4.2.7)."""
    pdu = message.pdu
    return encode_message(
        Message(
            message.version,
            message.community,
            Pdu(PduType.RESPONSE, pdu.request_id, 0, 0, list(pdu.varbinds)),
        )
    )


def decode_notification(data: bytes) -> tuple[Notification, bytes | None]:
    """A v1/v2c notification and, for an inform, the Response to send back.

    Raises :class:`SnmpDecodeError` for anything else: malformed bytes, SNMPv3 (see
    :mod:`printerhq.snmp.trap_usm`), a GET or a Response.
    """
    data = bytes(data)
    version = peek_version(data)
    if version == Version.V1:
        # The v1 decoder checks the whole message; anything but a Trap-PDU is refused there.
        v1 = decode_trap_v1(data)
        pdu = v1.pdu
        addr = ".".join(map(str, pdu.agent_addr))
        return Notification(
            Version.V1,
            False,
            v1_trap_oid(pdu),
            pdu.time_stamp,
            pdu.varbinds,
            v1.community,
            None,
            pdu.enterprise,
            addr,
        ), None
    if version == Version.V3:
        raise SnmpDecodeError("SNMPv3 message: decode with printerhq.snmp.trap_usm", 0)
    message = decode_message(data)
    if message.version != Version.V2C:
        raise SnmpDecodeError(f"SNMP version {int(message.version)} notification", 0)
    notification = notification_from_pdu(message.version, message.community, message.pdu)
    return notification, inform_response(message) if notification.inform else None
