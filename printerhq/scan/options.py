"""How a scan behaves: :class:`ScanOptions`, validated when made."""

from __future__ import annotations

__all__ = ["DEFAULT_BURST", "DEFAULT_RATE", "MAX_IN_FLIGHT", "ScanOptions", "in_flight_for"]

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..adaptive import DiscoveryPolicy
from ..ratelimit import DEFAULT_BURST, DEFAULT_RATE
from ..snmp.credentials import Community, Credential
from ..snmp.message import Version
from ..traffic import AuditSink

#: The most addresses a scan holds in progress, however high the rate: 65,536 probes of the
#: sweep are a few megabytes (one small list, one dict slot and one deadline entry each).
MAX_IN_FLIGHT = 65_536
#: Headroom over the steady state Little's law gives: responders hold their slot a little longer
#: (identification), and batches leave a millisecond's worth of packets at once.
_HEADROOM = 1.1


def in_flight_for(rate: float, timeout: float, retries: int, backoff: float = 2.0) -> int:
    """Addresses in progress that let ``rate`` packets/s, not the in-flight bound, pace a sweep.

    Little's law: a silent address is held for its whole schedule, ``timeout * (1 + backoff +
    ... + backoff**retries)`` seconds per credential, and costs ``retries + 1`` packets in that
    time; so sending ``rate`` packets/s keeps ``rate * hold / (retries + 1)`` addresses waiting
    (with one try: ``rate * timeout``). The same ratio holds for every credential tried, so
    their number cancels out. Echoes only add packets per address (fewer addresses needed), so
    counting SNMP alone errs on the side of the rate. Bounded by :data:`MAX_IN_FLIGHT`.
    """
    tries = retries + 1
    hold = timeout * sum(backoff**n for n in range(tries))
    wanted = math.ceil(rate * hold / tries * _HEADROOM) + DEFAULT_BURST
    return max(1, min(MAX_IN_FLIGHT, wanted))


@dataclass
class ScanOptions:
    """How a scan behaves. Defaults are conservative: 500 packets/s, and as many hosts in
    progress as that rate needs (:func:`in_flight_for`: 858 with the default timeout, retries
    and rate)."""

    port: int = 161
    # Tried in order per host, the winner remembered: v2c first (GETBULK), then v1 for the old
    # agents that answer nothing else.
    credentials: Sequence[Credential] = field(
        default_factory=lambda: [Community(b"public"), Community(b"public", Version.V1)]
    )
    timeout: float = 1.0  # seconds, first attempt (SNMP backs off x2 per re-send)
    retries: int = 1
    # Hosts in progress at once. A blank host stays in progress for the whole timeout/retry
    # schedule of every credential, so a fixed number would let the in-flight bound, not the
    # rate, set the pace of a fast sweep (1,024 at 20,000 packets/s and a 0.5 s timeout: 975
    # addresses/s). None: derived from rate, timeout and retries (`in_flight`).
    concurrency: int | None = None
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
        if not 0 < self.timeout < math.inf or self.retries < 0:
            raise ValueError("finite timeout > 0 and retries >= 0 required")
        if self.concurrency is not None and self.concurrency < 1:
            raise ValueError("concurrency >= 1 (or None: derived from the rate) required")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0 to 65535, not {self.port}")
        if not self.rate > 0 or self.burst < 1 or self.http_timeout <= 0:
            raise ValueError("rate > 0, burst >= 1 and http_timeout > 0 required")

    @property
    def in_flight(self) -> int:
        """Hosts in progress at once: ``concurrency`` when set, else what ``rate`` needs."""
        if self.concurrency is not None:
            return self.concurrency
        # The client's backoff (SnmpClient's default, 2): attempt n waits timeout * 2**n.
        return in_flight_for(self.rate, self.timeout, self.retries)
