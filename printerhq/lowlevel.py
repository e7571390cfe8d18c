"""The scan engine's plumbing, for applications that build their own scan loop.

:class:`printerhq.Scanner` is the supported way to scan; these are the parts it is made of,
documented in docs/engine.md ("Low-level API"). They are public but low level: their signatures
follow the engine and may change in a minor release, with a CHANGELOG entry. Anything imported
from elsewhere in the package (``printerhq.<module>._name`` or a module not named here or in
:mod:`printerhq`) is internal.
"""

from __future__ import annotations

from printerhq.http import HttpProbeStats, probe_client, probe_http
from printerhq.icmp import EchoTemplate, PingCounters, Pinger, PingResult
from printerhq.ratelimit import RateLimiter, TokenBucket
from printerhq.snmp.client import ClientStats
from printerhq.snmp.message import RequestTemplate
from printerhq.snmp.transport import UdpTransport
from printerhq.sweep import DiscoverySweep, Responder, Silent, SweepRunner, discovery_templates
from printerhq.traffic import Traffic

__all__ = [
    "ClientStats",
    "DiscoverySweep",
    "EchoTemplate",
    "HttpProbeStats",
    "PingCounters",
    "PingResult",
    "Pinger",
    "RateLimiter",
    "RequestTemplate",
    "Responder",
    "Silent",
    "SweepRunner",
    "TokenBucket",
    "Traffic",
    "UdpTransport",
    "discovery_templates",
    "probe_client",
    "probe_http",
]
