"""One address through the scan: discovery, identification, collection, or what went wrong.

:class:`HostPipeline` runs the per-host path (``docs/engine.md``, "What a scan does"): the
known-printer shortcut, the SNMP discovery GET beside an ICMP echo, identification, collection
of printers, the HTTP probe of hosts alive without SNMP, and the DNS lookup of names. Each path
ends with one :meth:`Ledger.settle <printerhq.scan.outcome.Ledger.settle>`, which decides what
the address counts as; this module only gathers the evidence and builds the report.
"""

from __future__ import annotations

__all__ = ["Host", "HostPipeline", "ScanTools", "detached", "discover", "host_of"]

import ipaddress
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import trio

from ..adaptive import DiscoveryMemory
from ..collect import DeviceCache, DeviceChanged, DeviceState, collect, collect_known
from ..collect.bounds import fit_report
from ..icmp import Pinger, PingResult
from ..mib.identify import DISCOVERY_OIDS, identify
from ..model import DeviceReport, Identity
from ..ratelimit import RateLimiter
from ..snmp.client import (
    SnmpBadReply,
    SnmpClient,
    SnmpError,
    SnmpErrorStatus,
    SnmpTimeout,
    Target,
)
from ..snmp.errors import without_missing
from ..snmp.message import ErrorStatus, Varbind
from ..traffic import SnmpCost
from .options import ScanOptions
from .outcome import Answer, Ledger, Snmp, Verdict, is_alive

if TYPE_CHECKING:  # imported lazily: httpx is slow to import and optional per scan
    import httpx

    from ..http import EwsIdentity, HttpProbeStats

log = logging.getLogger("printerhq.engine")  # the logger name users configure

Address = str | ipaddress.IPv4Address | ipaddress.IPv6Address
Oid = tuple[int, ...]

# RFC 1157 section 4.1.2: an SNMPv1 GET fails whole with noSuchName when one object is missing;
# the discovery GET then drops that object and asks again, at most this many times.
MAX_V1_RETRIES = 8
DNS_TIMEOUT = 5.0


@dataclass
class Host:
    """One address in progress: what it is called, and what was learned."""

    name: str  # as given (a hostname stays a hostname)
    address: str | None  # numeric, once known
    via_arp: bool = False


def host_of(item: Address) -> Host:
    """A numeric address is used as given (normalised); anything else is a name to resolve."""
    if isinstance(item, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        text = str(item)
        return Host(text, text)
    text = str(item).strip()
    try:
        return Host(text, str(ipaddress.ip_address(text)))
    except ValueError:
        return Host(text, None)


def detached(error: SnmpError) -> SnmpError:
    """The error without its traceback. Kept, the traceback would tie the exception to the
    frames that hold it (a reference cycle per silent host, some 40 objects): only the cyclic GC
    could free them, and a /16 sweep's memory would grow with the GC's patience."""
    error.__traceback__ = None
    return error


@dataclass(frozen=True)
class ScanTools:
    """What a scan works with, handed over by the Scanner: the options, its open clients (the
    pinger only with ``icmp``, the HTTP client only with ``http``) and the printers' state."""

    options: ScanOptions
    client: SnmpClient
    pinger: Pinger | None
    http: httpx.AsyncClient | None
    http_stats: HttpProbeStats | None
    cache: DeviceCache


async def discover(
    client: SnmpClient, target: Target, cost: SnmpCost, oids: list[Oid] | None = None
) -> list[Varbind]:
    """The discovery GET (:data:`DISCOVERY_OIDS`, or ``oids``); an SNMPv1 agent that lacks one
    of the objects is asked again without it; an answer too big for one message is asked for
    in halves."""
    oids = list(DISCOVERY_OIDS) if oids is None else oids
    for _ in range(MAX_V1_RETRIES):
        try:
            return await client.get(target, oids, cost=cost)
        except SnmpErrorStatus as error:
            if error.error_status == ErrorStatus.TOO_BIG and len(oids) > 1:
                # RFC 3416 section 4.2.1: the answer does not fit the agent's largest message
                # (a sysDescr and a serial of 60 KB each do not fit one datagram). At most
                # 2 * len(oids) - 1 requests; a single object too big stays an error.
                half = len(oids) // 2
                first = await discover(client, target, cost, oids[:half])
                return first + await discover(client, target, cost, oids[half:])
            # SNMPv1 reports the first missing object and returns nothing else.
            rest = without_missing(oids, error.error_status, error.error_index)
            if not rest:  # another error, or no object left to ask for
                raise
            oids = rest
    raise SnmpError(f"{target}: gave up after {MAX_V1_RETRIES} noSuchName answers")


class HostPipeline:
    """The per-host path of one scan (or of :meth:`Scanner.probe`)."""

    def __init__(self, tools: ScanTools, ledger: Ledger, rate: RateLimiter) -> None:
        self.tools = tools
        self.options = tools.options
        self.client = tools.client
        self.pinger = tools.pinger
        self.ledger = ledger
        self.memory: DiscoveryMemory | None = ledger.memory
        self.rate = rate

    async def run(self, host: Host) -> DeviceReport | None:
        """Discovery, identification and collection of one address: the report, inside the
        bounds of :mod:`printerhq.limits` whichever path built it (:func:`fit_report`)."""
        report = await self._run(host)
        return fit_report(report) if report is not None else None

    async def _run(self, host: Host) -> DeviceReport | None:
        if host.address is None:
            failure = await self._resolve(host)
            if failure is not None:
                self.ledger.settle(None, Answer(unresolved=True))
                return DeviceReport(
                    identity=Identity(address=host.name), scanned_at=time.time(), errors=[failure]
                )
        assert host.address is not None
        cost = SnmpCost()
        state = self.known_state(host)
        if state is not None:
            report = await self._known(host, state, cost)
            if report is not None:
                return report
            if self.pinger is not None and not host.via_arp:
                self.rate.bucket.take(trio.current_time(), 1)  # the ping not charged up front
        options = self.options
        target = Target(host.address, options.port, credentials=list(options.credentials))
        return await self.discover_host(host, target, cost)

    def known_state(self, host: Host) -> DeviceState | None:
        """The collection state of a printer known warm, if this scan may skip its discovery."""
        options = self.options
        if not (options.collect and options.skip_known) or host.address is None:
            return None
        state = self.tools.cache.known(host.address)
        if state is None or state.credential is None:
            return None
        credentials = options.credentials
        if (
            not 0 <= state.credential < len(credentials)
            or credentials[state.credential].protocol != state.protocol
        ):
            return None  # the credentials were reconfigured: discover afresh
        if self.memory is not None and self.memory.kind_of(host.address) not in (None, "printer"):
            return None
        return state

    async def discover_host(
        self,
        host: Host,
        target: Target,
        cost: SnmpCost,
        oids: list[Oid] | None = None,
        *,
        ping_it: bool = True,
    ) -> DeviceReport | None:
        """Discovery of one address (with a ping unless ARP proved it, or ``ping_it`` is
        False: it answered SNMP already), then identification, collection, or the report of
        what went wrong."""
        assert host.address is not None
        varbinds: list[Varbind] | None = None
        snmp_error: SnmpError | None = None
        ping: PingResult | None = None
        pinger = None if host.via_arp or not ping_it else self.pinger
        ping_started = trio.current_time()

        if pinger is None:  # SNMP alone: no nursery, no extra task (the common fast path)
            try:
                varbinds = await discover(self.client, target, cost, oids)
            except SnmpError as exc:
                snmp_error = detached(exc)
        else:
            varbinds, snmp_error, ping = await self._discover_and_ping(pinger, target, cost, oids)
        self._charge_resends(cost, ping, ping_started, pinger is not None)

        if varbinds is not None:
            return await self.identified(host, target, varbinds, cost)
        return await self.unanswered(host, snmp_error, ping, cost)

    async def unanswered(
        self, host: Host, snmp_error: SnmpError | None, ping: PingResult | None, cost: SnmpCost
    ) -> DeviceReport | None:
        """An address whose SNMP discovery got no usable answer: alive (ping, ARP) or not,
        the HTTP probe, and the report of what went wrong (None: nothing to report)."""
        assert host.address is not None
        echo = ping.status if ping is not None else None
        errors: list[str] = []
        if ping is not None and ping.status not in ("reply", "timeout", "off"):
            errors.append(f"icmp {ping.status}: {ping.detail}".rstrip(": "))
        if snmp_error is not None and not isinstance(snmp_error, SnmpTimeout):
            # An agent that answered unreadably, or a send the kernel refused (no route).
            snmp = Snmp.UNREADABLE if isinstance(snmp_error, SnmpBadReply) else Snmp.FAILED
            self.ledger.settle(host.address, Answer(snmp=snmp, echo=echo))
            return DeviceReport(
                identity=Identity(address=host.address),
                scanned_at=time.time(),
                errors=[*errors, str(snmp_error)],
                cost=cost,
            )
        answered_elsewhere = isinstance(snmp_error, SnmpTimeout) and bool(snmp_error.answered_from)
        if answered_elsewhere:
            errors.append(str(snmp_error))
        answer = Answer(
            answered_elsewhere=answered_elsewhere, echo=echo, arp=True if host.via_arp else None
        )
        ews: EwsIdentity | None = None
        if self.tools.http is not None and is_alive(answer):
            ews = await self._http_probe(host.address)
            answer = answer._replace(ews=ews is not None)
        outcome = self.ledger.settle(host.address, answer)
        if outcome.verdict is Verdict.EWS:
            assert ews is not None
            identity = Identity(
                address=host.address,
                is_printer=True,
                vendor=ews.vendor,
                model=ews.model,
                serial=ews.serial,
                device_kind="printer",
            )
            return DeviceReport(
                identity=identity, scanned_at=time.time(), protocol="http", errors=errors
            )
        if outcome.error:
            return DeviceReport(
                identity=Identity(address=host.address),
                scanned_at=time.time(),
                errors=errors,
                cost=cost,
            )
        return None

    async def _known(self, host: Host, state: DeviceState, cost: SnmpCost) -> DeviceReport | None:
        """A known printer: one warm collection, no discovery; None when it must be
        discovered after all (the device changed, or did not answer)."""
        assert host.address is not None and state.credential is not None
        credentials = list(self.options.credentials)
        target = Target(
            host.address,
            self.options.port,
            credentials=credentials,
            credential=credentials[state.credential],
        )
        try:
            report = await collect_known(self.client, target, self.tools.cache, cost=cost)
        except DeviceChanged as exc:
            log.info("%s: %s; discovering it again", host.address, exc)
            state.forget_discovery()  # also next time, unless discovery finds it again
            return None
        if report is None:
            return None
        self.ledger.settle(
            host.address, Answer(snmp=Snmp.PRINTER, report_errors=bool(report.errors))
        )
        return report

    async def _discover_and_ping(
        self, pinger: Pinger, target: Target, cost: SnmpCost, oids: list[Oid] | None = None
    ) -> tuple[list[Varbind] | None, SnmpError | None, PingResult | None]:
        """SNMP discovery and an ICMP echo at once; the first conclusive answer ends both."""
        options = self.options
        varbinds: list[Varbind] | None = None
        snmp_error: SnmpError | None = None
        ping: PingResult | None = None
        async with trio.open_nursery() as nursery:

            async def snmp() -> None:
                nonlocal varbinds, snmp_error
                try:
                    varbinds = await discover(self.client, target, cost, oids)
                except SnmpError as exc:
                    snmp_error = detached(exc)
                    return
                nursery.cancel_scope.cancel()  # an SNMP answer: the ping has nothing to add

            async def icmp() -> None:
                nonlocal ping
                ping = await pinger.probe(
                    target.address, timeout=options.timeout, retries=options.retries
                )
                if ping.status not in ("reply", "timeout", "off"):
                    # An ICMP error (unreachable, ...) for this very host: SNMP cannot get
                    # through either (RFC 1122 section 3.2.2.1), no need to wait it out.
                    nursery.cancel_scope.cancel()

            nursery.start_soon(snmp)
            nursery.start_soon(icmp)
        return varbinds, snmp_error, ping

    def _charge_resends(
        self, cost: SnmpCost, ping: PingResult | None, started: float, pinged: bool
    ) -> None:
        """Charge the bucket for the packets sent beyond the first ones (re-sends, further
        credentials): a debt the next hosts wait out, so the long-run rate holds."""
        extra = max(cost.requests - 1, 0)
        if pinged and ping is not None and ping.status == "timeout":
            extra += self.options.retries
        elif pinged and ping is None:  # cancelled by SNMP: estimate re-sends by elapsed time
            elapsed = trio.current_time() - started
            extra += min(self.options.retries, int(elapsed // self.options.timeout))
        if extra:
            self.rate.bucket.take(trio.current_time(), extra)

    async def identified(
        self, host: Host, target: Target, varbinds: list[Varbind], cost: SnmpCost
    ) -> DeviceReport:
        """An address that answered discovery: identification, and collection of printers."""
        assert host.address is not None
        identity = identify(host.address, varbinds)
        protocol = target.credential.protocol if target.credential else None
        cache = self.tools.cache
        if identity.is_printer:
            if self.options.collect:
                # Settled when the collection ends: whether its report has errors is part of
                # the outcome (a scan cancelled meanwhile does not remember the printer).
                report = await collect(self.client, target, cache, identity=identity, cost=cost)
                self.ledger.settle(
                    host.address, Answer(snmp=Snmp.PRINTER, report_errors=bool(report.errors))
                )
                self._remember_credential(cache.devices.get(host.address), target)
                return report
            self.ledger.settle(host.address, Answer(snmp=Snmp.PRINTER))
        else:
            self.ledger.settle(host.address, Answer(snmp=Snmp.AGENT))
            known = cache.devices.get(host.address)
            if known is not None:
                known.forget_discovery()  # no longer a printer: never skip its discovery
        return DeviceReport(identity=identity, scanned_at=time.time(), protocol=protocol, cost=cost)

    def _remember_credential(self, state: DeviceState | None, target: Target) -> None:
        """Which of the configured credentials answered: what the next scan's shortcut uses
        (its position and protocol only; the secret stays in the options)."""
        if state is None or target.credential is None:
            return
        credentials = list(self.options.credentials)
        index = next((i for i, c in enumerate(credentials) if c is target.credential), None)
        if index is None and target.credential in credentials:
            index = credentials.index(target.credential)
        state.credential = index
        state.protocol = target.credential.protocol if index is not None else None

    async def _http_probe(self, address: str) -> EwsIdentity | None:
        from ..http import probe_http

        return await probe_http(
            address,
            timeout=self.options.http_timeout,
            client=self.tools.http,
            stats=self.tools.http_stats,
            audit=self.options.audit,
        )

    async def _resolve(self, host: Host) -> str | None:
        """Resolve a hostname to its first address; the error text when that fails."""
        with trio.move_on_after(DNS_TIMEOUT):
            try:
                found = await trio.socket.getaddrinfo(
                    host.name, self.options.port, type=trio.socket.SOCK_DGRAM
                )
            except OSError as exc:  # socket.gaierror is an OSError
                return f"dns: cannot resolve {host.name}: {exc.strerror or exc}"
            if not found:
                return f"dns: {host.name} has no address"
            host.address = str(found[0][4][0]).split("%", 1)[0]
            return None
        return f"dns: resolving {host.name} timed out after {DNS_TIMEOUT:g} s"
