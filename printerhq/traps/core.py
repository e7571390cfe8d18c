"""The trap receiver's decisions, sans-IO: one datagram in, at most one event and one reply out.

Every datagram ends in exactly one outcome, counted in :class:`TrapStats`, cheapest test first so
that a flood costs as little as possible:

1. ``oversize``: larger than ``max_datagram``;
2. ``unknown_source``: the source address is not a printer the agent knows (no decoding at all);
3. ``rate_limited``: the source's token bucket, then the global one, is empty (RFC 2697 buckets
   from :mod:`printerhq.ratelimit`; per source first, so one noisy printer cannot spend the
   budget of the others);
4. ``malformed``: not a notification this codec can read
   (:class:`~printerhq.snmp.ber.SnmpDecodeError`);
5. ``rejected``: a community not accepted, or an SNMPv3 security failure (unknown user, wrong
   digest, outside the time window, ...);
6. ``discovery``: an SNMPv3 engine-id discovery probe, answered with a report (the first step of
   every v3 inform, RFC 3414 section 4);
7. ``decoded``: a :class:`TrapEvent`.

So ``received == oversize + unknown_source + rate_limited + malformed + rejected + discovery +
decoded`` always. ``informs_answered`` and ``reports_sent`` count replies produced.
"""

from __future__ import annotations

__all__ = ["Handled", "TrapEvent", "TrapProcessor", "TrapStats"]

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, fields

from printerhq.mib.alerts import trap_alert, trap_meaning
from printerhq.model import Alert
from printerhq.snmp.ber import SnmpDecodeError, format_oid
from printerhq.snmp.message import Varbind, Version, peek_version
from printerhq.snmp.trap import Notification, decode_notification
from printerhq.snmp.trap_usm import NotificationReceiverUsm, usm_error_reply
from printerhq.snmp.usm import UsmError
from printerhq.tokenbucket import TokenBucket

from .options import TrapOptions

OID = tuple[int, ...]
_VERSION_NAMES = {Version.V1: "v1", Version.V2C: "v2c", Version.V3: "v3"}


@dataclass(frozen=True, slots=True)
class TrapEvent:
    """One trap or inform from a known printer, normalised across versions.

    ``trap_oid`` is the SNMPv2 snmpTrapOID (a v1 trap converted per RFC 3584 section 3.1);
    ``uptime`` the sender's sysUpTime in hundredths of a second; ``varbinds`` the objects the
    notification carries (without sysUpTime.0 and snmpTrapOID.0). ``alert`` is the Printer-MIB
    prtAlertTable row it carries, if any, and ``meaning`` a few words ("jam", "toner empty").
    """

    source: str
    port: int
    received_at: float  # wall-clock seconds (time.time()) when the datagram was read
    version: str  # "v1", "v2c", "v3"
    inform: bool
    trap_oid: OID
    uptime: int | None
    varbinds: tuple[Varbind, ...]
    user: str | None  # the SNMPv3 USM user; None for v1/v2c (a community is never kept)
    enterprise: OID | None = None  # v1 only
    agent_addr: str | None = None  # v1 only: the agent-addr field, which the sender chose
    alert: Alert | None = None
    meaning: str | None = None

    def summary(self) -> str:
        what = self.meaning or format_oid(self.trap_oid)
        return f"{self.source}: {'inform' if self.inform else 'trap'} {self.version} {what}"


@dataclass(slots=True)
class TrapStats:
    received: int = 0
    oversize: int = 0
    unknown_source: int = 0
    rate_limited: int = 0
    malformed: int = 0
    rejected: int = 0
    discovery: int = 0
    decoded: int = 0
    informs_answered: int = 0
    reports_sent: int = 0
    # Kept by the trio shell: events dropped because the queue was full (the oldest goes),
    # collection requests not queued (already pending, too recent, or the queue full).
    queue_dropped: int = 0
    collect_requested: int = 0
    collect_suppressed: int = 0

    def outcomes(self) -> int:
        """The sum every received datagram lands in exactly once (equals ``received``)."""
        return (
            self.oversize
            + self.unknown_source
            + self.rate_limited
            + self.malformed
            + self.rejected
            + self.discovery
            + self.decoded
        )

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class Handled:
    event: TrapEvent | None = None
    reply: bytes | None = None
    outcome: str = "decoded"
    detail: str = ""


@dataclass(slots=True)
class TrapProcessor:
    """Counters, buckets and decoding for one receiver. ``is_known(address)`` says whether an
    address is one of the agent's printers; ``now`` passed to :meth:`handle` is a monotonic
    clock (trio's in the shell, so tests can use ``MockClock``)."""

    options: TrapOptions
    is_known: Callable[[str], bool]
    usm: NotificationReceiverUsm
    stats: TrapStats = field(default_factory=TrapStats)
    _global: TokenBucket = field(init=False)
    _per_source: OrderedDict[str, TokenBucket] = field(init=False, default_factory=OrderedDict)
    _communities: frozenset[bytes] = field(init=False)

    def __post_init__(self) -> None:
        self._global = TokenBucket(self.options.global_rate, self.options.global_burst)
        self._communities = frozenset(c.encode() for c in self.options.communities)

    def handle(self, data: bytes, source: tuple[str, int], now: float, wall: float) -> Handled:
        stats = self.stats
        stats.received += 1
        host, port = source[0], source[1]
        if len(data) > self.options.max_datagram:
            stats.oversize += 1
            return Handled(outcome="oversize")
        if not self.is_known(host):
            stats.unknown_source += 1
            return Handled(outcome="unknown_source")
        if not self._bucket(host).try_take(now) or not self._global.try_take(now):
            stats.rate_limited += 1
            return Handled(outcome="rate_limited")
        try:
            notification, reply = self._decode(data)
        except SnmpDecodeError as exc:
            stats.malformed += 1
            return Handled(outcome="malformed", detail=str(exc))
        except (UsmError, _Rejected) as exc:
            stats.rejected += 1
            reply = usm_error_reply(exc) if isinstance(exc, UsmError) else None
            if reply is not None:
                stats.reports_sent += 1
            return Handled(reply=reply, outcome="rejected", detail=str(exc))
        if notification is None:
            stats.discovery += 1
            if reply is not None:
                stats.reports_sent += 1
            return Handled(reply=reply, outcome="discovery")
        stats.decoded += 1
        if reply is not None:
            stats.informs_answered += 1
        return Handled(self._event(notification, host, port, wall), reply)

    def _bucket(self, host: str) -> TokenBucket:
        bucket = self._per_source.get(host)
        if bucket is None:
            bucket = TokenBucket(self.options.per_source_rate, self.options.per_source_burst)
            self._per_source[host] = bucket
            if len(self._per_source) > self.options.max_sources:
                self._per_source.popitem(last=False)
        else:
            self._per_source.move_to_end(host)
        return bucket

    def _decode(self, data: bytes) -> tuple[Notification | None, bytes | None]:
        if peek_version(data) == Version.V3:
            outcome = self.usm.receive(data)
            return outcome.notification, outcome.reply
        notification, reply = decode_notification(data)
        if self._communities and notification.security_name not in self._communities:
            raise _Rejected("community not accepted")
        return notification, reply

    @staticmethod
    def _event(notification: Notification, host: str, port: int, wall: float) -> TrapEvent:
        alert = trap_alert(notification.trap_oid, notification.varbinds)
        return TrapEvent(
            source=host,
            port=port,
            received_at=wall,
            version=_VERSION_NAMES[notification.version],
            inform=notification.inform,
            trap_oid=notification.trap_oid,
            uptime=notification.uptime,
            varbinds=notification.varbinds,
            user=(
                notification.security_name.decode("utf-8", "replace")
                if notification.version == Version.V3
                else None
            ),
            enterprise=notification.enterprise,
            agent_addr=notification.agent_addr,
            alert=alert,
            meaning=trap_meaning(notification.trap_oid, alert),
        )


class _Rejected(Exception):
    """A well-formed notification we do not accept (wrong community)."""
