"""How a scan behaves: :class:`ScanOptions`, validated when made."""

from __future__ import annotations

__all__ = ["DEFAULT_BURST", "DEFAULT_RATE", "ScanOptions"]

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..adaptive import DiscoveryPolicy
from ..ratelimit import DEFAULT_BURST, DEFAULT_RATE
from ..snmp.credentials import Community, Credential
from ..snmp.message import Version
from ..traffic import AuditSink


@dataclass
class ScanOptions:
    """How a scan behaves. Defaults are conservative: 500 packets/s, 256 hosts in progress."""

    port: int = 161
    # Tried in order per host, the winner remembered: v2c first (GETBULK), then v1 for the old
    # agents that answer nothing else.
    credentials: Sequence[Credential] = field(
        default_factory=lambda: [Community(b"public"), Community(b"public", Version.V1)]
    )
    timeout: float = 1.0  # seconds, first attempt (SNMP backs off x2 per re-send)
    retries: int = 1
    # Hosts in progress at once. A blank host stays in progress for the whole timeout/retry
    # schedule of every credential (about 6 s with the defaults), so sustaining `rate` needs
    # roughly rate / 4 packets-per-host * 6 s = 750 hosts in flight; below that, concurrency and
    # not the rate would bound a sweep.
    concurrency: int = 1024
    collect: bool = True  # read metrics of printers (False: discovery and identity only)
    rate: float = DEFAULT_RATE  # discovery packets per second, long-run average
    burst: int = DEFAULT_BURST  # packets that may leave back to back
    icmp: bool = True  # ping alongside SNMP (finds hosts alive without SNMP)
    http: bool = False  # probe the web page of hosts alive without SNMP
    http_timeout: float = 3.0
    arp: bool | None = None  # None: ARP-first on attached subnets when permitted
    state_dir: str | Path | None = None  # where the discovery memory persists (None: nowhere)
    policy: DiscoveryPolicy = field(default_factory=DiscoveryPolicy)
    # Printers known warm get one warm collection carrying the change detectors instead of
    # discovery + collection (docs/engine.md); False: discovery on every scan.
    skip_known: bool = True
    # Discovery of addresses that get no ping (icmp=False, or ICMP unavailable) with the
    # leading community credentials runs as one batched sweep (printerhq/sweep.py): no task
    # per silent address. False: the per-host path for every address.
    batched_discovery: bool = True
    # The audit trail (docs/audit.md): every request the scan sends is told to it. None: off.
    # Used by the clients the Scanner opens; a client passed in keeps its own.
    audit: AuditSink | None = None

    def __post_init__(self) -> None:
        # `not timeout > 0` also refuses NaN (every comparison with NaN is false); an infinite
        # timeout would wait for ever on the first silent host.
        if not 0 < self.timeout < math.inf or self.retries < 0 or self.concurrency < 1:
            raise ValueError("finite timeout > 0, retries >= 0 and concurrency >= 1 required")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0 to 65535, not {self.port}")
        if not self.rate > 0 or self.burst < 1 or self.http_timeout <= 0:
            raise ValueError("rate > 0, burst >= 1 and http_timeout > 0 required")
