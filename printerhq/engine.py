"""Scanner: discovery -> identification -> collection, with results as a stream.

An application embeds it in its own trio program; the library never calls ``trio.run``::

    async with Scanner(ScanOptions(credentials=[Community(b"public")])) as scanner:
        async with scanner.scan(["192.0.2.1", "192.0.2.2"]) as reports:
            async for report in reports:
                print(report.identity.address, report.identity.model)

A scan is a nursery tree (``examples/embed_scanner.py`` runs one inside another application)::

    scan ── producer ── host tasks (at most ``concurrency``) ── ICMP echo ┐ concurrently:
         │     │                                                 SNMP GET ┘ SNMP wins, ICMP is
         │     ├─ ARP sweeps of attached subnets (privileged)               cancelled
         │     └─ discovery sweep (GETs + echoes) ── host tasks for its responders, and for
         │                                           ping-only hosts to HTTP-probe or report
         └─ the consumer's ``async for`` (a bounded memory channel: back-pressure)

**Batched discovery** (``batched_discovery=True``, :mod:`printerhq.sweep`): an address that
needs discovery gets no task of its own: the sweep sends the pre-encoded discovery GET of the
leading community credentials from the client's shared socket, with ICMP on a pre-encoded echo
beside it (:meth:`Pinger.send_echo_nowait <printerhq.icmp.Pinger.send_echo_nowait>`), paced by
the same token bucket, and re-sends only to silent addresses. Responders then get a host task
from identification on; silent addresses are done, or counted alive when they answered the
echo (a host task only for the HTTP probe), or reported when the echo drew an ICMP error (which
ends their SNMP wait, as on the per-host path); without ping, with SNMPv3 credentials after the
communities, they go on to the per-host path with those (with ping, such credential lists use
the per-host path throughout).
Addresses whose reply came from elsewhere, was unreadable, or whose send failed take the
per-host path again, which reports exactly what it finds. Known printers, ARP-proved hosts,
and hostnames use the per-host path.

Per address, in order:

0. **Known printers skip discovery**: a printer whose collection state is warm
   (:meth:`DeviceCache.known <printerhq.collect.DeviceCache.known>`) gets one warm collection
   straight away, with the credential that answered last time and no ping; its single GETBULK
   also carries the change detectors (sysUpTime.0, the serial's source). A restart, another
   device, an error or silence there (:class:`~printerhq.collect.DeviceChanged`) sends the
   address down the full path below in the same scan, so correctness never rests on the
   shortcut; a device that is gone costs one unanswered warm request more than a blank address
   and gives no report, as any silent address. With a discovery memory the cache is its
   ``devices`` and persists in ``state_dir`` (an agent that restarts stays warm).
1. **Adaptive skip**: with a :class:`~printerhq.adaptive.DiscoveryMemory` (``state_dir``), blank
   space in backoff is not probed this time (``stats.skipped``).
2. **Pacing**: a token bucket (``rate`` packets per second, ``burst``) and a CapacityLimiter
   (``concurrency`` hosts in progress). Each host is charged its first discovery packets before
   it starts and its re-sends when it ends, so the long-run packet rate never exceeds ``rate``.
3. **ARP first** on directly attached subnets when privileged (``arp=None``: automatic): one ARP
   request per address in batches; silent addresses are done, the others are probed over IP
   (without ping: ARP already proved them alive). Unprivileged or routed: ICMP + SNMP.
4. **Discovery**: an ICMP echo and the SNMP discovery GET (:data:`DISCOVERY_OIDS`) concurrently;
   a host that drops ICMP is still found by SNMP, an SNMP answer cancels the ping wait, an ICMP
   error (unreachable) ends the SNMP wait.
5. **Identification** (:func:`identify`), then **collection** of printers
   (:func:`printerhq.collect.collect`), or for hosts alive without SNMP an **HTTP probe** of the
   embedded web server (``http=True``) that finds printers whose SNMP is off.

Reports: every SNMP agent, every printer found over HTTP, and every address where something
went wrong (``errors``: name not resolved, network unreachable, ICMP error, a reply from another
address, an unreadable reply). Silent and ping-only addresses give no report; they are counted in
:class:`~printerhq.model.ScanStats` (``scanner.stats``: the current or last scan), which also
holds packets and bytes per protocol. One bad device never stops the scan.

Cancellation: everything a scan starts lives in its nursery, the ARP socket in a ``with``; the
SNMP client, pinger and HTTP client belong to the Scanner (or to the application that passed
them in). The discovery memory is saved atomically (rename), so cancelling at any point leaves
the previous state file or a complete new one.
"""

from __future__ import annotations

__all__ = ["ScanOptions", "Scanner", "DEFAULT_RATE", "DEFAULT_BURST"]

import ipaddress
import logging
import socket as stdlib_socket
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator, Iterable, Sequence

import trio

from .adaptive import DiscoveryMemory, DiscoveryPolicy
from .collect import DeviceCache, DeviceChanged, DeviceState, collect, collect_known
from .icmp import PingResult, Pinger
from .mib.identify import DISCOVERY_OIDS, identify
from .model import DeviceReport, Identity, ScanStats, SnmpCost, TrafficCount
from .ratelimit import DEFAULT_BURST, DEFAULT_RATE, RateLimiter
from .snmp.client import (
    IPV4_OVERHEAD,
    IPV6_OVERHEAD,
    SnmpBadReply,
    SnmpClient,
    SnmpError,
    SnmpErrorStatus,
    SnmpTimeout,
    Target,
)
from .snmp.credentials import Community, Credential
from .snmp.message import Varbind, Version
from .sweep import DiscoverySweep, Responder, Silent, SweepRunner, discovery_templates

if TYPE_CHECKING:  # imported lazily: httpx is slow to import and optional per scan
    import httpx

log = logging.getLogger(__name__)

Address = str | ipaddress.IPv4Address | ipaddress.IPv6Address

# RFC 1157 section 4.1.2: an SNMPv1 GET fails whole with noSuchName when one object is missing;
# the discovery GET then drops that object and asks again, at most this many times.
_MAX_V1_RETRIES = 8
_NO_SUCH_NAME = 2
# Addresses ARPed per sweep: a /20 at a time. Each sweep ends with a wait for late answers
# (timeout x (retries + 1)), so batches much smaller would make that wait dominate a /16; much
# larger would hold the producer's list of addresses for long.
_ARP_BATCH = 4096
_DNS_TIMEOUT = 5.0


@dataclass
class ScanOptions:
    """How a scan behaves. Defaults are conservative: 500 packets/s, 256 hosts in progress."""

    port: int = 161
    # Tried in order per host, the winner remembered: v2c first (GETBULK), then v1 for the old
    # agents that answer nothing else.
    credentials: Sequence[Credential] = field(
        default_factory=lambda: [Community(b"public"), Community(b"public", Version.V1)])
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

    def __post_init__(self) -> None:
        if self.timeout <= 0 or self.retries < 0 or self.concurrency < 1:
            raise ValueError("timeout > 0, retries >= 0 and concurrency >= 1 required")
        if not self.rate > 0 or self.burst < 1 or self.http_timeout <= 0:
            raise ValueError("rate > 0, burst >= 1 and http_timeout > 0 required")


@dataclass
class _Host:
    """One address in progress: what it is called, and what was learned."""

    name: str  # as given (a hostname stays a hostname)
    address: str | None  # numeric, once known
    via_arp: bool = False


class Scanner:
    """Scans addresses for SNMP agents, identifies printers and collects their metrics.

    ``client``, ``pinger`` and ``http_client`` let an application share its own (already open)
    :class:`SnmpClient`, :class:`~printerhq.icmp.Pinger` and ``httpx.AsyncClient``; the Scanner
    then neither opens nor closes them. ``memory`` overrides ``options.state_dir``.
    """

    def __init__(self, options: ScanOptions | None = None, *,
                 client: SnmpClient | None = None, pinger: Pinger | None = None,
                 http_client: httpx.AsyncClient | None = None,
                 memory: DiscoveryMemory | None = None) -> None:
        self.options = options or ScanOptions()
        self.stats = ScanStats()
        self.cache = DeviceCache()
        self.memory = memory
        self._client = client
        self._pinger = pinger
        self._http = http_client
        self._given = (client, pinger, http_client)
        self._http_stats: Any = None
        self._stack: AsyncExitStack | None = None
        self._memory_lock = trio.Lock()

    async def __aenter__(self) -> Scanner:
        stack = AsyncExitStack()
        try:
            if self._client is None:
                self._client = await stack.enter_async_context(
                    SnmpClient(timeout=self.options.timeout, retries=self.options.retries))
            if self._pinger is None and self.options.icmp:
                self._pinger = await stack.enter_async_context(Pinger())
            if self.options.http:
                from .http import HttpProbeStats, probe_client

                self._http_stats = HttpProbeStats()
                if self._http is None:
                    self._http = await stack.enter_async_context(
                        probe_client(self.options.http_timeout))
            if self.memory is None and self.options.state_dir is not None:
                self.memory = DiscoveryMemory.load(self.options.state_dir, self.options.policy)
            if self.memory is not None:
                self.cache = self.memory.devices  # persisted with the memory
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        stack, self._stack = self._stack, None
        assert stack is not None
        try:
            await stack.aclose()
        finally:
            # What this Scanner opened is closed now: forget it, so the Scanner can be entered
            # again; what the application passed in stays.
            self._client, self._pinger, self._http = self._given

    @property
    def client(self) -> SnmpClient:
        if self._client is None:
            raise RuntimeError("use the Scanner as 'async with Scanner() as scanner'")
        return self._client

    # -- a scan -------------------------------------------------------------------------------

    @trio.as_safe_channel
    async def scan(self, addresses: Iterable[Address]) -> AsyncIterator[DeviceReport]:
        """Reports of every address that answered or failed, in completion order.

        ``addresses`` is consumed lazily (a /8 streams in constant memory); hostnames are
        resolved per host, and a failure is reported on that host's report.
        """
        if self._stack is None:
            raise RuntimeError("use the Scanner as 'async with Scanner() as scanner'")
        stats = ScanStats()
        self.stats = stats
        async with AsyncExitStack() as scoped:
            memory = self.memory
            if memory is not None:
                # One scan at a time updates a memory: its backoff counts scans.
                await scoped.enter_async_context(self._memory_lock)
                self.cache = memory.devices  # the printers' collection state lives there
            run = _ScanRun(self, stats, memory)
            run.start()
            completed = False
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(run.produce, addresses)
                    async with run.receive:
                        async for report in run.receive:
                            yield report
                completed = True
            finally:
                run.finish(completed)

    async def probe(self, address: str) -> DeviceReport | None:
        """Discover, identify and (for printers) collect one address; None when silent."""
        run = _ScanRun(self, self.stats, None)
        return await run.host(_host_of(address))

    async def _discover(self, target: Target, cost: SnmpCost,
                        oids: list[tuple[int, ...]] | None = None) -> list[Varbind]:
        oids = list(DISCOVERY_OIDS) if oids is None else oids
        for _ in range(_MAX_V1_RETRIES):
            try:
                return await self.client.get(target, oids, cost=cost)
            except SnmpErrorStatus as error:
                # SNMPv1 reports the first missing object and returns nothing else.
                if error.error_status != _NO_SUCH_NAME or not 1 <= error.error_index <= len(oids):
                    raise
                del oids[error.error_index - 1]
                if not oids:
                    raise
        raise SnmpError(f"{target}: gave up after {_MAX_V1_RETRIES} noSuchName answers")


class _ScanRun:
    """The state of one scan: limits, counters at the start, the report channel."""

    def __init__(self, scanner: Scanner, stats: ScanStats,
                 memory: DiscoveryMemory | None) -> None:
        options = scanner.options
        self.scanner = scanner
        self.options = options
        self.stats = stats
        self.memory = memory
        self.limiter = trio.CapacityLimiter(options.concurrency)
        self.rate = RateLimiter(options.rate, options.burst)
        self.send, self.receive = trio.open_memory_channel[DeviceReport](options.concurrency)
        self.pinger = scanner._pinger if options.icmp else None
        self.arp_stats: Any = None
        # The batched sweep takes the leading community credentials; the rest (SNMPv3 needs an
        # engine-id discovery per agent) are tried per host on the addresses it found silent.
        credentials = list(options.credentials)
        leading = 0
        while leading < len(credentials) and isinstance(credentials[leading], Community):
            leading += 1
        self.swept_credentials = credentials[:leading]
        self.rest_credentials = credentials[leading:]
        self.sweeper: SweepRunner | None = None
        self._started = 0.0
        self._before: dict[str, tuple[int, int, int, int]] = {}

    # -- bookkeeping ----------------------------------------------------------------------

    def _counters(self) -> dict[str, tuple[int, int, int, int]]:
        scanner = self.scanner
        found: dict[str, tuple[int, int, int, int]] = {}
        if scanner._client is not None:
            s = scanner.client.stats
            found["snmp"] = (s.packets_sent, s.packets_received, s.bytes_sent, s.bytes_received)
        if self.pinger is not None:
            c = self.pinger.counters
            found["icmp"] = (c.packets_sent, c.packets_received, c.bytes_sent, c.bytes_received)
        if scanner._http_stats is not None:
            h = scanner._http_stats
            found["http"] = (h.requests, h.requests - h.errors, 0, h.body_bytes)
        return found

    def start(self) -> None:
        self._started = time.monotonic()
        self._before = self._counters()
        if self.memory is not None:
            self.memory.begin_scan(time.time())

    def finish(self, completed: bool) -> None:
        """Counters of this scan, and the memory saved. Synchronous: runs even when the scan is
        being cancelled, and the save is atomic (see DiscoveryMemory.save)."""
        stats = self.stats
        stats.duration = time.monotonic() - self._started
        after = self._counters()
        by_protocol: dict[str, TrafficCount] = {}
        for name, now in after.items():
            then = self._before.get(name, (0, 0, 0, 0))
            delta = [a - b for a, b in zip(now, then)]
            if any(delta):
                by_protocol[name] = TrafficCount(packets_sent=delta[0], packets_received=delta[1],
                                                 bytes_sent=delta[2], bytes_received=delta[3])
        if self.arp_stats is not None and self.arp_stats.frames_sent:
            a = self.arp_stats
            by_protocol["arp"] = TrafficCount(packets_sent=a.frames_sent,
                                              packets_received=a.replies,
                                              bytes_sent=a.bytes_sent,
                                              bytes_received=a.replies * 42)
        stats.by_protocol = by_protocol
        # The historical totals are the SNMP figures (what they always counted).
        snmp = by_protocol.get("snmp", TrafficCount())
        stats.packets_sent = snmp.packets_sent
        stats.packets_received = snmp.packets_received
        stats.bytes_sent = snmp.bytes_sent
        stats.bytes_received = snmp.bytes_received
        if self.memory is not None:
            self.memory.end_scan(complete=completed)
            try:
                self.memory.save()
            except OSError as exc:
                log.warning("could not save the discovery state: %s", exc)

    # -- the producer ---------------------------------------------------------------------

    async def produce(self, addresses: Iterable[Address]) -> None:
        """Feed hosts to the nursery, lazily, within the rate and the capacity limits."""
        stats = self.stats
        memory = self.memory
        async with self.send:
            async with trio.open_nursery() as hosts:
                self.sweeper = self._open_sweep(hosts)
                if self.sweeper is not None:
                    hosts.start_soon(self.sweeper.run)
                networks = await self._arp_networks()
                batch: list[str] = []
                for item in addresses:
                    stats.addresses += 1
                    host = _host_of(item)
                    if memory is not None and host.address is not None \
                            and not memory.should_probe(host.address):
                        stats.skipped += 1
                        stats.completed += 1
                        if stats.skipped % 256 == 0:
                            await trio.lowlevel.checkpoint()  # a /8 of skips stays responsive
                        continue
                    if networks and host.address is not None and ":" not in host.address:
                        from .arp import interface_for

                        if interface_for(host.address, networks) is not None:
                            batch.append(host.address)
                            if len(batch) >= _ARP_BATCH:
                                await self._arp_batch(hosts, batch, networks)
                                batch = []
                            continue
                    await self._admit(hosts, host)
                if batch:
                    await self._arp_batch(hosts, batch, networks)
                if self.sweeper is not None:
                    self.sweeper.close()  # run() returns once every address has its event

    async def _arp_batch(self, hosts: trio.Nursery, batch: list[str], networks: list[Any]
                         ) -> None:
        """ARP the batch (per interface); probe over IP only those that answered."""
        from .arp import ArpStats, ArpUnavailable, arp_sweep, interface_for

        if self.arp_stats is None:
            self.arp_stats = ArpStats()
        by_interface: dict[str, list[str]] = {}
        for address in batch:
            net = interface_for(address, networks)
            by_interface.setdefault(net.interface if net else "", []).append(address)
        for interface, group in by_interface.items():
            live: dict[str, str] | None = None
            if interface and networks:
                # arp_sweep paces its frames at the scan's rate itself; no IP probe starts
                # while it runs (the producer is here), so the two share the budget in turn.
                try:
                    live = await arp_sweep(interface, group, rate=self.options.rate,
                                           burst=self.options.burst,
                                           timeout=self.options.timeout,
                                           retries=self.options.retries,
                                           stats=self.arp_stats, networks=networks)
                except ArpUnavailable as exc:
                    # Asked for explicitly (arp=True): say so loudly; automatic: quietly.
                    log.log(logging.WARNING if self.options.arp else logging.INFO,
                            "ARP-first discovery off for this scan: %s", exc)
                    networks.clear()  # fall back to ICMP + SNMP for the rest of the scan
            for address in group:
                if live is None:
                    await self._admit(hosts, _Host(address, address))
                elif address in live:
                    await self._start_host(hosts, _Host(address, address, via_arp=True))
                else:  # silent on its own segment: absent, nothing more to send
                    if self.memory is not None:
                        self.memory.record(address, None)
                    self.stats.completed += 1

    async def _arp_networks(self) -> list[Any]:
        if self.options.arp is False:
            return []
        from . import arp

        networks = await trio.to_thread.run_sync(arp.attached_networks)
        return [n for n in networks if n.up and n.arp and n.mac]

    # -- the batched sweep ----------------------------------------------------------------

    def _open_sweep(self, hosts: trio.Nursery) -> SweepRunner | None:
        """The sweep for this scan, or None when no address could use it: it needs a
        community credential first in the list and, with ping, no SNMPv3 credential after the
        communities (the ping then runs per host beside every credential; docs/engine.md)."""
        options = self.options
        if not options.batched_discovery or not self.swept_credentials:
            return None
        pinger = self.pinger if self.pinger is not None and self.pinger.mode != "off" else None
        if pinger is not None and self.rest_credentials:
            # SNMPv3 after the communities: the per-host path pings once alongside all of them.
            return None
        client = self.scanner.client
        templates, decoders = discovery_templates(self.swept_credentials, DISCOVERY_OIDS)
        transport = client.transport
        sweep = DiscoverySweep(templates, decoders, timeout=client.timeout,
                               retries=client.retries, backoff=client.backoff,
                               capacity=options.concurrency, in_use=transport.id_in_use)
        return SweepRunner(sweep, transport, self.rate.bucket, client.stats,
                           lambda event, ping=None: self._swept(hosts, event, ping),
                           batch=options.burst,  # never more back to back than the bucket allows
                           pinger=pinger, echoes=options.retries + 1)

    async def _admit(self, hosts: trio.Nursery, host: _Host) -> None:
        """Into the sweep if it can take the address, else a host task of its own."""
        sweeper = self.sweeper
        if sweeper is not None and host.address is not None and not host.via_arp \
                and self._known_state(host) is None:
            try:
                packed = stdlib_socket.inet_pton(
                    stdlib_socket.AF_INET6 if ":" in host.address else stdlib_socket.AF_INET,
                    host.address)
            except OSError:  # e.g. an IPv6 zone index: the per-host path handles it
                packed = None
            if packed is not None:
                await sweeper.add((packed, self.options.port))
                return
        await self._start_host(hosts, host)

    def _swept(self, hosts: trio.Nursery, event: Responder | Silent,
               ping: PingResult | None = None) -> bool:
        """One outcome of the sweep (with the echo's, when it pinged). True: a host task now
        holds the address's slot."""
        pinged = ping is not None and ping.status not in ("timeout", "off")
        if type(event) is Silent and event.answered_from is None and event.problem is None \
                and not pinged and not self.rest_credentials and self.memory is None:
            self.stats.completed += 1  # the common case: blank space, nothing to remember
            return False
        packed = event.address[0]  # type: ignore[index]
        address = stdlib_socket.inet_ntop(
            stdlib_socket.AF_INET if len(packed) == 4 else stdlib_socket.AF_INET6, packed)
        if isinstance(event, Responder):
            hosts.start_soon(self._run_swept, _Host(address, address), event)
            return True
        if event.answered_from is not None or event.problem is not None:
            # Rare (a reply from elsewhere, an unreadable one, a failed send): the per-host
            # path asks again with every credential and reports exactly what it finds.
            hosts.start_soon(self._run_swept, _Host(address, address), None)
            return True
        if pinged:  # alive by ICMP but silent on SNMP, or an ICMP error: no SNMP left to try
            assert ping is not None
            if ping.status == "reply" and not (self.options.http
                                               and self.scanner._http is not None):
                # Alive, nothing more to ask and nothing to report (as _unanswered): no task.
                self.stats.alive += 1
                if self.memory is not None:
                    self.memory.record(address, "alive")
                self.stats.completed += 1
                return False
            hosts.start_soon(self._run_pinged, _Host(address, address), event, ping)
            return True
        if self.rest_credentials:  # SNMPv3 credentials after the communities
            hosts.start_soon(self._run_swept, _Host(address, address), event)
            return True
        if self.memory is not None:
            self.memory.record(address, None)
        self.stats.completed += 1
        return False

    async def _run_swept(self, host: _Host, event: Responder | Silent | None) -> None:
        """A host task for an address the sweep handed on; frees its slot when done."""
        assert host.address is not None and self.sweeper is not None
        try:
            options = self.options
            credentials = list(options.credentials)
            cost = SnmpCost()
            if isinstance(event, Responder):
                overhead = IPV6_OVERHEAD if ":" in host.address else IPV4_OVERHEAD
                cost = SnmpCost(requests=event.requests, sent_bytes=event.sent_bytes,
                                received_bytes=event.received_bytes,
                                wire_bytes=event.sent_bytes + event.received_bytes
                                + overhead * (event.requests + 1))
                target = Target(host.address, options.port, credentials=credentials,
                                credential=self.swept_credentials[event.credential])
                pdu = event.pdu
                if pdu.error_status == 0 and len(pdu.varbinds) == len(DISCOVERY_OIDS):
                    report = await self._identified(host, target, pdu.varbinds, cost)
                else:
                    # An error-status (SNMPv1 noSuchName: drop the object, ask again) or an
                    # odd answer: the per-host discovery with the credential that answered.
                    await self.rate.acquire(1)
                    again = SnmpCost()  # its re-sends are charged to the bucket alone
                    oids = list(DISCOVERY_OIDS)
                    if pdu.error_status == _NO_SUCH_NAME and 1 <= pdu.error_index <= len(oids):
                        # SNMPv1 names the first missing object (RFC 1157 section 4.1.2):
                        # ask again without it, as _discover does.
                        del oids[pdu.error_index - 1]
                    # It answered the sweep's GET: no second ping (the per-host path pings
                    # once, beside every SNMP exchange of the address).
                    report = await self._discover_host(host, target, again, oids or None,
                                                       ping_it=False)
                    again.requests += cost.requests
                    again.sent_bytes += cost.sent_bytes
                    again.received_bytes += cost.received_bytes
                    again.wire_bytes += cost.wire_bytes
            else:
                if isinstance(event, Silent):  # only the credentials the sweep could not try
                    target = Target(host.address, options.port,
                                    credentials=list(self.rest_credentials))
                else:
                    target = Target(host.address, options.port, credentials=credentials)
                await self.rate.acquire(1)
                report = await self._discover_host(host, target, cost)
            if report is not None:
                await self.send.send(report)
        finally:
            self.stats.completed += 1
            self.sweeper.release()

    async def _run_pinged(self, host: _Host, event: Silent, ping: PingResult) -> None:
        """A host task for an address silent on SNMP that answered the sweep's echo (or
        drew an ICMP error): what the per-host path does after the same outcome."""
        assert host.address is not None and self.sweeper is not None
        try:
            report = await self._unanswered(host, None, ping, SnmpCost(requests=event.requests))
            if report is not None:
                await self.send.send(report)
        finally:
            self.stats.completed += 1
            self.sweeper.release()

    async def _start_host(self, hosts: trio.Nursery, host: _Host) -> None:
        borrower = object()  # unique even if an address repeats
        await self.limiter.acquire_on_behalf_of(borrower)
        try:
            await self.rate.acquire(self._first_packets(host))
        except BaseException:
            self.limiter.release_on_behalf_of(borrower)
            raise
        hosts.start_soon(self._run_host, host, borrower)

    def _first_packets(self, host: _Host) -> int:
        if self._known_state(host) is not None:
            return 1  # one warm request, no ping
        return 1 + (1 if self.pinger is not None and not host.via_arp else 0)

    def _known_state(self, host: _Host) -> DeviceState | None:
        """The collection state of a printer known warm, if this scan may skip its discovery."""
        if not (self.options.collect and self.options.skip_known) or host.address is None:
            return None
        state = self.scanner.cache.known(host.address)
        if state is None or state.credential is None:
            return None
        credentials = self.options.credentials
        if not 0 <= state.credential < len(credentials) \
                or credentials[state.credential].protocol != state.protocol:
            return None  # the credentials were reconfigured: discover afresh
        if self.memory is not None and self.memory.kind_of(host.address) not in (None, "printer"):
            return None
        return state

    async def _run_host(self, host: _Host, borrower: object) -> None:
        try:
            report = await self.host(host)
            if report is not None:
                await self.send.send(report)
        finally:
            self.stats.completed += 1
            self.limiter.release_on_behalf_of(borrower)

    # -- one host -------------------------------------------------------------------------

    async def host(self, host: _Host) -> DeviceReport | None:
        """Discovery, identification and collection of one address."""
        options = self.options
        stats = self.stats
        if host.address is None:
            failure = await self._resolve(host)
            if failure is not None:
                stats.errors += 1
                self._remember(host, None)
                return DeviceReport(identity=Identity(address=host.name),
                                    scanned_at=time.time(), errors=[failure])
        assert host.address is not None
        cost = SnmpCost()
        state = self._known_state(host)
        if state is not None:
            report = await self._known(host, state, cost)
            if report is not None:
                return report
            if self.pinger is not None and not host.via_arp:
                self.rate.bucket.take(trio.current_time(), 1)  # the ping not charged up front
        target = Target(host.address, options.port, credentials=list(options.credentials))
        return await self._discover_host(host, target, cost)

    async def _discover_host(self, host: _Host, target: Target, cost: SnmpCost,
                             oids: list[tuple[int, ...]] | None = None, *,
                             ping_it: bool = True) -> DeviceReport | None:
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
                varbinds = await self.scanner._discover(target, cost, oids)
            except SnmpError as exc:
                snmp_error = _detached(exc)
        else:
            varbinds, snmp_error, ping = await self._discover_and_ping(pinger, target, cost,
                                                                      oids)
        self._charge_resends(cost, ping, ping_started, pinger is not None)

        if varbinds is not None:
            return await self._identified(host, target, varbinds, cost)
        return await self._unanswered(host, snmp_error, ping, cost)

    async def _unanswered(self, host: _Host, snmp_error: SnmpError | None,
                          ping: PingResult | None, cost: SnmpCost) -> DeviceReport | None:
        """An address whose SNMP discovery got no usable answer: alive (ping, ARP) or not,
        the HTTP probe, and the report of what went wrong (None: nothing to report)."""
        assert host.address is not None
        options = self.options
        stats = self.stats
        errors: list[str] = []
        if ping is not None and ping.status not in ("reply", "timeout", "off"):
            errors.append(f"icmp {ping.status}: {ping.detail}".rstrip(": "))
        if snmp_error is not None and not isinstance(snmp_error, SnmpTimeout):
            # An agent that answered unreadably, or a send the kernel refused (no route).
            stats.errors += 1
            if isinstance(snmp_error, SnmpBadReply):
                stats.responders += 1
            self._remember(host, "snmp" if isinstance(snmp_error, SnmpBadReply) else None)
            return DeviceReport(identity=Identity(address=host.address), scanned_at=time.time(),
                                errors=errors + [str(snmp_error)], cost=cost)
        answered_elsewhere = isinstance(snmp_error, SnmpTimeout) and bool(snmp_error.answered_from)
        if answered_elsewhere:
            errors.append(str(snmp_error))
        alive = host.via_arp or answered_elsewhere or (ping is not None
                                                        and ping.status == "reply")
        if alive:
            stats.alive += 1
            if options.http and self.scanner._http is not None:
                report = await self._http_probe(host, errors)
                if report is not None:
                    return report
        self._remember(host, "alive" if alive else None)
        if errors:
            stats.errors += 1
            return DeviceReport(identity=Identity(address=host.address), scanned_at=time.time(),
                                errors=errors, cost=cost)
        return None

    async def _known(self, host: _Host, state: DeviceState, cost: SnmpCost
                     ) -> DeviceReport | None:
        """A known printer: one warm collection, no discovery; None when it must be
        discovered after all (the device changed, or did not answer)."""
        assert host.address is not None and state.credential is not None
        credentials = list(self.options.credentials)
        target = Target(host.address, self.options.port, credentials=credentials,
                        credential=credentials[state.credential])
        try:
            report = await collect_known(self.scanner.client, target, self.scanner.cache,
                                         cost=cost)
        except DeviceChanged as exc:
            log.info("%s: %s; discovering it again", host.address, exc)
            state.forget_discovery()  # also next time, unless discovery finds it again
            return None
        if report is None:
            return None
        stats = self.stats
        stats.responders += 1
        stats.printers += 1
        if report.errors:
            stats.errors += 1
        self._remember(host, "printer")
        return report

    async def _discover_and_ping(self, pinger: Pinger, target: Target, cost: SnmpCost,
                                 oids: list[tuple[int, ...]] | None = None
                                 ) -> tuple[list[Varbind] | None, SnmpError | None,
                                            PingResult | None]:
        """SNMP discovery and an ICMP echo at once; the first conclusive answer ends both."""
        options = self.options
        varbinds: list[Varbind] | None = None
        snmp_error: SnmpError | None = None
        ping: PingResult | None = None
        async with trio.open_nursery() as nursery:
            async def snmp() -> None:
                nonlocal varbinds, snmp_error
                try:
                    varbinds = await self.scanner._discover(target, cost, oids)
                except SnmpError as exc:
                    snmp_error = _detached(exc)
                    return
                nursery.cancel_scope.cancel()  # an SNMP answer: the ping has nothing to add

            async def icmp() -> None:
                nonlocal ping
                ping = await pinger.probe(target.address, timeout=options.timeout,
                                          retries=options.retries)
                if ping.status not in ("reply", "timeout", "off"):
                    # An ICMP error (unreachable, ...) for this very host: SNMP cannot get
                    # through either (RFC 1122 section 3.2.2.1), no need to wait it out.
                    nursery.cancel_scope.cancel()

            nursery.start_soon(snmp)
            nursery.start_soon(icmp)
        return varbinds, snmp_error, ping

    def _charge_resends(self, cost: SnmpCost, ping: PingResult | None, started: float,
                        pinged: bool) -> None:
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

    async def _identified(self, host: _Host, target: Target, varbinds: list[Varbind],
                          cost: SnmpCost) -> DeviceReport:
        stats = self.stats
        assert host.address is not None
        stats.responders += 1
        identity = identify(host.address, varbinds)
        protocol = target.credential.protocol if target.credential else None
        self._remember(host, "printer" if identity.is_printer else "snmp")
        cache = self.scanner.cache
        if identity.is_printer:
            stats.printers += 1
            if self.options.collect:
                report = await collect(self.scanner.client, target, cache,
                                       identity=identity, cost=cost)
                if report.errors:
                    stats.errors += 1
                self._remember_credential(cache.devices.get(host.address), target)
                return report
        else:
            known = cache.devices.get(host.address)
            if known is not None:
                known.forget_discovery()  # no longer a printer: never skip its discovery
        return DeviceReport(identity=identity, scanned_at=time.time(), protocol=protocol,
                            cost=cost)

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

    async def _http_probe(self, host: _Host, errors: list[str]) -> DeviceReport | None:
        from .http import probe_http

        assert host.address is not None
        ews = await probe_http(host.address, timeout=self.options.http_timeout,
                               client=self.scanner._http, stats=self.scanner._http_stats)
        if ews is None:
            return None
        self.stats.printers += 1
        self._remember(host, "ews")
        identity = Identity(address=host.address, is_printer=True, vendor=ews.vendor,
                            model=ews.model, serial=ews.serial, device_kind="printer")
        return DeviceReport(identity=identity, scanned_at=time.time(), protocol="http",
                            errors=errors)

    async def _resolve(self, host: _Host) -> str | None:
        """Resolve a hostname to its first address; the error text when that fails."""
        with trio.move_on_after(_DNS_TIMEOUT):
            try:
                found = await trio.socket.getaddrinfo(host.name, self.options.port,
                                                      type=trio.socket.SOCK_DGRAM)
            except OSError as exc:  # socket.gaierror is an OSError
                return f"dns: cannot resolve {host.name}: {exc.strerror or exc}"
            if not found:
                return f"dns: {host.name} has no address"
            host.address = str(found[0][4][0]).split("%", 1)[0]
            return None
        return f"dns: resolving {host.name} timed out after {_DNS_TIMEOUT:g} s"

    def _remember(self, host: _Host, kind: str | None) -> None:
        if self.memory is not None and host.address is not None:
            self.memory.record(host.address, kind)


def _detached(error: SnmpError) -> SnmpError:
    """The error without its traceback. Kept, the traceback would tie the exception to the
    frames that hold it (a reference cycle per silent host, some 40 objects): only the cyclic GC
    could free them, and a /16 sweep's memory would grow with the GC's patience."""
    error.__traceback__ = None
    return error


def _host_of(item: Address) -> _Host:
    """A numeric address is used as given (normalised); anything else is a name to resolve."""
    if isinstance(item, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        text = str(item)
        return _Host(text, text)
    text = str(item).strip()
    try:
        return _Host(text, str(ipaddress.ip_address(text)))
    except ValueError:
        return _Host(text, None)
