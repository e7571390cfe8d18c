"""Planner requests and replies, and their SNMP encoding (our codec)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from printerhq.allowlist import entry_for
from printerhq.mib.oids import OID
from printerhq.snmp.ber import Tag
from printerhq.snmp.message import Message, Pdu, PduType, Varbind, Version, encode_message
from printerhq.traffic import IPV4_UDP_OVERHEAD as IP_UDP_OVERHEAD  # in-process estimates: IPv4
from printerhq.traffic import SnmpCost


@dataclass(slots=True)
class Request:
    """One PDU to send: ``kind`` "get", "next" (GETNEXT, SNMPv1 only) or "bulk" (GETBULK)."""

    kind: Literal["get", "next", "bulk"]
    oids: list[OID]
    non_repeaters: int = 0
    max_repetitions: int = 0


@dataclass(slots=True)
class Response:
    varbinds: list[Varbind]
    error_status: int = 0
    error_index: int = 0


def screened(response: Response) -> tuple[Response, int]:
    """The response with every varbind outside the allow-list (:mod:`printerhq.allowlist`)
    emptied, and how many were.

    A GETBULK answers beyond what was asked (max-repetitions rows past the end of a column run
    into whatever the agent holds next: the Job-Monitoring MIB after the Printer-MIB, hrSWRun
    after hrPrinter), and a hostile agent may answer anything. Such a varbind keeps its place
    and its OID (position pairs a reply with its request, and the OID still ends a walk) but
    becomes endOfMibView without a value, which the planner never stores: nothing of it can
    reach a report."""
    dropped = 0
    varbinds = response.varbinds
    for position, varbind in enumerate(varbinds):
        if entry_for(varbind.oid) is not None:  # is_allowed, one call less per varbind
            continue
        if not dropped:
            varbinds = list(varbinds)
        varbinds[position] = Varbind(varbind.oid, Tag.END_OF_MIB_VIEW)
        dropped += 1
    if not dropped:
        return response, 0
    return Response(varbinds, response.error_status, response.error_index), dropped


def request_message(
    request: Request, request_id: int, community: bytes = b"public", version: Version = Version.V2C
) -> Message:
    """The SNMP message for a planner request."""
    if request.kind in ("get", "next"):
        kind = PduType.GET if request.kind == "get" else PduType.GET_NEXT
        pdu = Pdu(kind, request_id, 0, 0, [Varbind(o) for o in request.oids])
    else:
        pdu = Pdu(
            PduType.GET_BULK,
            request_id,
            request.non_repeaters,
            request.max_repetitions,
            [Varbind(o) for o in request.oids],
        )
    return Message(version, community, pdu)


def encode_request(
    request: Request, request_id: int, community: bytes = b"public", version: Version = Version.V2C
) -> bytes:
    """The SNMP message bytes for a planner request (our codec)."""
    return encode_message(request_message(request, request_id, community, version))


def account(cost: SnmpCost, sent: int, received: int | None) -> None:
    cost.requests += 1
    cost.sent_bytes += sent
    cost.wire_bytes += sent + IP_UDP_OVERHEAD
    if received is not None:
        cost.received_bytes += received
        cost.wire_bytes += received + IP_UDP_OVERHEAD
