"""What probing costs on the wire: the one counter type and the one cost type, no I/O.

A low-level module on purpose: the SNMP client, the pinger, the ARP sweep and the HTTP probe
count their traffic in :class:`Traffic` (extended with their own protocol counters), and the
per-device :class:`SnmpCost` is filled in by the client and the collector alike, so none of them
has to import the data model or another prober to share the shape. :mod:`printerhq.model`
re-exports :class:`SnmpCost` and :class:`TrafficCount`, which travel in reports.
"""

from __future__ import annotations

__all__ = [
    "AuditSink",
    "UploadAuditSink",
    "IPV4_UDP_OVERHEAD",
    "IPV6_UDP_OVERHEAD",
    "SnmpCost",
    "Traffic",
    "TrafficCount",
    "udp_overhead",
]

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import msgspec

# Bytes of IP + UDP header per datagram, for SnmpCost.wire_bytes (RFC 791: 20, RFC 8200: 40,
# RFC 768: 8). Link-layer framing is left out: it depends on the medium.
IPV4_UDP_OVERHEAD = 28
IPV6_UDP_OVERHEAD = 48


def udp_overhead(address: str) -> int:
    """IP + UDP header bytes per datagram to or from ``address`` (a numeric IPv4/IPv6 text)."""
    return IPV6_UDP_OVERHEAD if ":" in address else IPV4_UDP_OVERHEAD


class AuditSink(Protocol):
    """Where a prober reports each request it put on the wire (the agent's audit trail,
    ``printerhq/audit``, docs/audit.md). Probers hold ``None`` when auditing is off, so the cost
    then is one ``if`` per send. Implementations must never raise nor block: a full disk is the
    sink's problem, never the scan's.

    ``protocol``: snmpv1, snmpv2c, snmpv3/<security level>, icmp, arp, http, https.
    ``kind``: the PDU type (GET, GET_NEXT, GET_BULK), echo-request, who-has, or the HTTP
    method. ``items``: the dotted OIDs asked, or the URL path. ``size``: bytes handed to the
    socket (UDP payload, ICMP message, Ethernet frame); None when a library writes them (HTTP).
    """

    def request(
        self,
        protocol: str,
        address: str,
        port: int,
        kind: str,
        items: Sequence[str],
        size: int | None,
    ) -> None: ...


class UploadAuditSink(Protocol):
    """Where the uplink reports each message it sends the server (docs/audit.md).

    ``kind``: "batch" (reports; ``upload_id`` is the batch id) or "control" (a status on the
    agent stream). ``message``: the exact message the server decodes (before the transport's
    deflate); ``sent``: bytes handed to the connection for it (compressed); ``via``:
    "websocket" or "https"/"http". Must never raise nor block.
    """

    def upload(self, kind: str, upload_id: str, message: bytes, sent: int, via: str) -> None: ...


@dataclass
class Traffic:
    """Packets and bytes one prober put on the wire and took off it, as seen at its socket
    (UDP payload for SNMP, ICMP message for ping, Ethernet frame for ARP, body for HTTP).

    Every prober's counters extend this one type, so a scan reads them all the same way.
    """

    packets_sent: int = 0
    bytes_sent: int = 0
    packets_received: int = 0
    bytes_received: int = 0

    def count_sent(self, size: int) -> None:
        self.packets_sent += 1
        self.bytes_sent += size

    def count_received(self, size: int) -> None:
        self.packets_received += 1
        self.bytes_received += size

    def traffic(self) -> TrafficCount:
        """A snapshot of the four traffic counters (protocol extras left out)."""
        return TrafficCount(
            packets_sent=self.packets_sent,
            packets_received=self.packets_received,
            bytes_sent=self.bytes_sent,
            bytes_received=self.bytes_received,
        )


# Wire structs: same options as printerhq.model (see there for why).
_options = dict(forbid_unknown_fields=True, omit_defaults=True, kw_only=True)


class SnmpCost(msgspec.Struct, **_options):
    """What collecting one device cost on the wire."""

    requests: int = 0  # request/response exchanges, retries included
    sent_bytes: int = 0  # SNMP message bytes (UDP payload)
    received_bytes: int = 0
    wire_bytes: int = 0  # estimate with IP and UDP headers, both directions


class TrafficCount(msgspec.Struct, **_options):
    """Packets and bytes of one protocol in one scan (payload bytes as seen at the socket:
    UDP payload for SNMP, ICMP message for ping, Ethernet frame for ARP, body for HTTP)."""

    packets_sent: int = 0
    packets_received: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0

    def __add__(self, other: TrafficCount) -> TrafficCount:
        return TrafficCount(
            packets_sent=self.packets_sent + other.packets_sent,
            packets_received=self.packets_received + other.packets_received,
            bytes_sent=self.bytes_sent + other.bytes_sent,
            bytes_received=self.bytes_received + other.bytes_received,
        )

    def __sub__(self, other: TrafficCount) -> TrafficCount:
        return TrafficCount(
            packets_sent=self.packets_sent - other.packets_sent,
            packets_received=self.packets_received - other.packets_received,
            bytes_sent=self.bytes_sent - other.bytes_sent,
            bytes_received=self.bytes_received - other.bytes_received,
        )
