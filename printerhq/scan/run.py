"""One scan: the producer, admission and pacing, ARP first, and the scan's counters.

:class:`ScanRun` feeds the addresses lazily to the discovery sweep
(:class:`~printerhq.scan.dispatch.SweepDispatch`) or to host tasks
(:class:`~printerhq.scan.host.HostPipeline`), within the rate (a token bucket) and the
capacity (a CapacityLimiter) of the scan; addresses on directly attached subnets are ARPed
first in batches (:func:`printerhq.arp.arp_discover`). At the end it turns the traffic counters
into ``ScanStats.by_protocol`` and saves the discovery memory.
"""

from __future__ import annotations

__all__ = ["ScanRun"]

import logging
import socket
import time
from collections.abc import Iterable
from ipaddress import IPv4Address
from typing import TYPE_CHECKING

import trio

from ..model import DeviceReport
from ..ratelimit import RateLimiter
from ..traffic import TrafficCount
from .dispatch import SweepDispatch
from .host import Address, Host, HostPipeline, ScanTools, host_of
from .outcome import Answer, Ledger

if TYPE_CHECKING:
    from ..arp import ArpStats, AttachedNetwork

log = logging.getLogger("printerhq.engine")  # the logger name users configure

# Addresses ARPed per sweep: a /20 at a time. Each sweep ends with a wait for late answers
# (timeout x (retries + 1)), so batches much smaller would make that wait dominate a /16; much
# larger would hold the producer's list of addresses for long.
ARP_BATCH = 4096
# Fast-lane addresses handed to the sweep at once (one checkpoint each: the sender runs between)
FAST_BATCH = 256

Counters = tuple[int, int, int, int]  # packets sent, received, bytes sent, received


def packed_ipv4(address: str) -> bytes | None:
    """The four octets of an IPv4 address in text, None for anything else."""
    try:
        return socket.inet_pton(socket.AF_INET, address)
    except OSError:
        return None


class ScanRun:
    """The state of one scan: limits, counters at the start, the report channel."""

    def __init__(self, tools: ScanTools, ledger: Ledger) -> None:
        options = tools.options
        self.tools = tools
        self.options = options
        self.ledger = ledger
        self.memory = ledger.memory
        self.limiter = trio.CapacityLimiter(options.in_flight)
        self.rate = RateLimiter(options.rate, options.burst)
        self.send, self.receive = trio.open_memory_channel[DeviceReport](options.in_flight)
        self.pipeline = HostPipeline(tools, ledger, self.rate)
        self.dispatch = SweepDispatch(self.pipeline, self.rate, self.send)
        self._started = 0.0
        self._before: dict[str, Counters] = {}
        self._refused_before = 0
        self._arp = TrafficCount()  # every ARP batch of the scan, added up
        self._own: set[str] = set()  # this machine's addresses: never probed
        self._kernel_refused = False  # the neighbour table refused once: do not ask again

    # -- bookkeeping ----------------------------------------------------------------------

    def _counters(self) -> dict[str, Counters]:
        tools = self.tools
        s = tools.client.stats
        found = {"snmp": (s.packets_sent, s.packets_received, s.bytes_sent, s.bytes_received)}
        if self.pipeline.pinger is not None:
            c = self.pipeline.pinger.counters
            found["icmp"] = (c.packets_sent, c.packets_received, c.bytes_sent, c.bytes_received)
        if tools.http_stats is not None:
            h = tools.http_stats
            found["http"] = (h.requests, h.requests - h.errors, 0, h.body_bytes)
        return found

    def start(self) -> None:
        self._started = time.monotonic()
        self._before = self._counters()
        self._refused_before = self.tools.client.stats.refused
        if self.memory is not None:
            self.memory.begin_scan(time.time())

    def finish(self, completed: bool) -> None:
        """Counters of this scan, and the memory saved. Synchronous: runs even when the scan is
        being cancelled, and the save is atomic (see DiscoveryMemory.save)."""
        stats = self.ledger.stats
        stats.duration = time.monotonic() - self._started
        after = self._counters()
        by_protocol: dict[str, TrafficCount] = {}
        for name, now in after.items():
            then = self._before.get(name, (0, 0, 0, 0))
            delta = [a - b for a, b in zip(now, then, strict=True)]
            if any(delta):
                by_protocol[name] = TrafficCount(
                    packets_sent=delta[0],
                    packets_received=delta[1],
                    bytes_sent=delta[2],
                    bytes_received=delta[3],
                )
        if self._arp.packets_sent:
            by_protocol["arp"] = self._arp
        stats.by_protocol = by_protocol
        stats.refused = self.tools.client.stats.refused - self._refused_before
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
        ledger = self.ledger
        stats = ledger.stats
        memory = self.memory
        async with self.send, trio.open_nursery() as hosts:
            sweeper = self.dispatch.open(hosts)
            if sweeper is not None:
                hosts.start_soon(sweeper.run)
            networks = await self._arp_networks()
            batch: list[str] = []
            # The fast lane, for what most of a wide sweep is: a numeric IPv4 address (what
            # TargetSpec.addresses yields) that goes straight into the sweep, because there is
            # no discovery memory to consult, no ARP, no known printer to take the shortcut and
            # it is not our own. The same decisions as the path below, without a Host, a text
            # form of the address or a coroutine per address (a /16 in about 0.1 CPU s, not 0.5).
            options = self.options
            fast = sweeper is not None and memory is None and not networks
            known = self.tools.cache.devices if options.collect and options.skip_known else {}
            own = {packed_ipv4(a) for a in self._own} - {None}
            port = options.port
            # Fast-lane keys gathered, handed to the sweep FAST_BATCH at a time (and before any
            # address that takes the other path, so the order of sends is the order given).
            keys: list[tuple[bytes, int]] = []
            for item in addresses:
                if fast and type(item) is IPv4Address and not known:
                    packed = int(item).to_bytes(4, "big")  # item.packed, one call less
                    if packed not in own:
                        keys.append((packed, port))
                        if len(keys) >= FAST_BATCH:
                            stats.addresses += len(keys)  # ledger.admitted()
                            await self._hand_over(keys)
                            keys = []
                        continue
                if keys:
                    stats.addresses += len(keys)
                    await self._hand_over(keys)
                    keys = []
                ledger.admitted()
                host = host_of(item)
                if host.address in self._own:
                    # Our own address (the agent's machine, inside its own range): probing it
                    # would go over loopback, v2c then v1 with retries, for no printer.
                    ledger.settle(host.address, Answer(skipped=True))
                    ledger.done()
                    continue
                if (
                    memory is not None
                    and host.address is not None
                    and not memory.should_probe(host.address)
                ):
                    ledger.settle(host.address, Answer(skipped=True))
                    ledger.done()
                    if stats.skipped % 256 == 0:
                        await trio.lowlevel.checkpoint()  # a /8 of skips stays responsive
                    continue
                if networks and host.address is not None and ":" not in host.address:
                    from ..arp import interface_for

                    if interface_for(host.address, networks) is not None:
                        batch.append(host.address)
                        if len(batch) >= ARP_BATCH:
                            await self._arp_batch(hosts, batch, networks)
                            batch = []
                        continue
                await self._admit(hosts, host)
            if keys:
                stats.addresses += len(keys)
                await self._hand_over(keys)
            if batch:
                await self._arp_batch(hosts, batch, networks)
            if sweeper is not None:
                sweeper.close()  # run() returns once every address has its event

    async def _hand_over(self, keys: list[tuple[bytes, int]]) -> None:
        """Fast-lane addresses into the sweep: at once as many as it has room for, the rest
        one by one as room frees up (back-pressure); then let the sender run."""
        sweeper = self.dispatch.runner
        assert sweeper is not None  # the fast lane implies a sweep
        taken = sweeper.add_batch(keys)
        for key in keys[taken:]:
            await sweeper.add(key)  # full, or its socket not open yet: waits
        await trio.lowlevel.checkpoint()  # let the sender run; a cancellation point

    async def _arp_batch(
        self, hosts: trio.Nursery, batch: list[str], networks: list[AttachedNetwork]
    ) -> None:
        """ARP the batch (per interface); probe over IP only those that answered.

        One ARP request per address: a blank address costs 42 B, not 84 (RFC 826 has no
        retransmission; the kernel's three solicitations are for a host it must reach). The
        network shows it is lossy when a responder the memory knows stays silent: then every
        silent address gets ``retries`` more requests, and a known responder still silent is
        probed over IP (kernel ARP and SNMP retries) rather than declared absent, so a lossy
        segment never loses a printer that was found.
        """
        from ..arp import arp_discover

        options = self.options
        sweep = {
            "networks": networks,
            "rate": options.rate,
            "burst": options.burst,
            "audit": options.audit,
        }
        # arp_discover paces its frames at the scan's rate itself; no IP probe starts while it
        # runs (the producer is here), so the two share the budget in turn.
        found = await arp_discover(batch, timeout=options.timeout, retries=0, **sweep)  # type: ignore[arg-type]
        self._count_arp(found.stats)
        live = dict(found.live)
        swept = set(found.swept)
        memory = self.memory
        known = {a for a in batch if memory is not None and memory.kind_of(a) is not None}
        unheard_known = [a for a in known if a in swept and a not in live]
        if unheard_known and options.retries > 0 and found.reason is None:
            silent = [a for a in found.swept if a not in live]
            log.info(
                "ARP: %d known responders silent; the network looks lossy, asking %d silent "
                "addresses again",
                len(unheard_known),
                len(silent),
            )
            again = await arp_discover(
                silent,
                timeout=options.timeout,
                retries=options.retries - 1,
                **sweep,  # type: ignore[arg-type]
            )
            self._count_arp(again.stats)
            live.update(again.live)
        if found.reason is not None:
            # Asked for explicitly (arp=True): say so loudly; automatic: quietly.
            log.log(
                logging.WARNING if options.arp else logging.INFO,
                "ARP-first discovery off for this scan: %s",
                found.reason,
            )
            networks.clear()  # fall back to ICMP + SNMP for the rest of the scan
        await self._teach_kernel(live, networks)
        for address in batch:
            if address in live:
                await self._start_host(hosts, Host(address, address, via_arp=True))
            elif address in swept and address not in known:
                # silent on its own segment: absent, nothing more to send
                self.ledger.settle(address, Answer(arp=False))
                self.ledger.done()
            else:
                await self._admit(hosts, Host(address, address))

    async def _teach_kernel(self, live: dict[str, str], networks: list[AttachedNetwork]) -> None:
        """Give the kernel the MAC addresses the sweep heard, so the SNMP that follows does not
        make it ARP for each printer again (needs CAP_NET_ADMIN; without it, say so once)."""
        if not live or not networks or self._kernel_refused:
            return
        from ..arp import teach_kernel

        why = await trio.to_thread.run_sync(teach_kernel, live, list(networks))
        if why is not None:
            self._kernel_refused = True
            log.info("ARP results not given to the kernel (it ARPs again per printer): %s", why)

    def _count_arp(self, stats: ArpStats) -> None:
        self._arp = self._arp + stats.traffic()

    async def _arp_networks(self) -> list[AttachedNetwork]:
        """The subnets to ARP on (none with ``arp=False``); also learns our own addresses."""
        from .. import arp

        networks = await trio.to_thread.run_sync(arp.attached_networks)
        self._own = arp.own_addresses(networks)
        if self.options.arp is False:
            return []
        return [n for n in networks if n.up and n.arp and n.mac]

    # -- admission ------------------------------------------------------------------------

    async def _admit(self, hosts: trio.Nursery, host: Host) -> None:
        """Into the sweep if it can take the address, else a host task of its own."""
        if not await self.dispatch.offer(host):
            await self._start_host(hosts, host)

    async def _start_host(self, hosts: trio.Nursery, host: Host) -> None:
        borrower = object()  # unique even if an address repeats
        await self.limiter.acquire_on_behalf_of(borrower)
        try:
            await self.rate.acquire(self._first_packets(host))
        except BaseException:
            self.limiter.release_on_behalf_of(borrower)
            raise
        hosts.start_soon(self._run_host, host, borrower)

    def _first_packets(self, host: Host) -> int:
        if self.pipeline.known_state(host) is not None:
            return 1  # one warm request, no ping
        return 1 + (1 if self.pipeline.pinger is not None and not host.via_arp else 0)

    async def _run_host(self, host: Host, borrower: object) -> None:
        try:
            report = await self.pipeline.run(host)
            if report is not None:
                await self.send.send(report)
        finally:
            self.ledger.done()
            self.limiter.release_on_behalf_of(borrower)
