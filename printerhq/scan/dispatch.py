"""The adapter between the batched discovery sweep (:mod:`printerhq.sweep`) and host tasks.

:class:`SweepDispatch` opens the scan's :class:`~printerhq.sweep.SweepRunner` when the
credentials allow it, takes the addresses the sweep can discover (:meth:`SweepDispatch.offer`),
and turns each event of the sweep into what the per-host path would have done after the same
answers: a host task from identification on for a responder, the per-host path again for the
rare odd cases, a task for the HTTP probe or the report of an ICMP error, and for the common
silent and ping-only addresses no task at all, only their outcome settled.
"""

from __future__ import annotations

import functools

__all__ = ["MAX_SWEEP_BATCH", "SweepDispatch", "split_credentials", "sweep_batch"]

import socket as stdlib_socket
from collections.abc import Sequence

import trio

from ..icmp import PingResult
from ..mib.identify import DISCOVERY_OIDS
from ..model import DeviceReport
from ..ratelimit import MIN_SLEEP, RateLimiter
from ..snmp.client import IPV4_OVERHEAD, IPV6_OVERHEAD, Target
from ..snmp.credentials import Community, Credential
from ..snmp.errors import without_missing
from ..snmp.message import ErrorStatus
from ..sweep import DiscoverySweep, Responder, Silent, SweepRunner, discovery_templates
from ..traffic import SnmpCost
from .host import Host, HostPipeline
from .outcome import Answer, Ledger


def split_credentials(
    credentials: Sequence[Credential],
) -> tuple[list[Community], list[Credential]]:
    """The leading community credentials (the sweep takes them) and the rest (SNMPv3 needs an
    engine-id discovery per agent: tried per host on the addresses the sweep found silent)."""
    credentials = list(credentials)
    leading = 0
    while leading < len(credentials) and isinstance(credentials[leading], Community):
        leading += 1
    return credentials[:leading], credentials[leading:]  # type: ignore[return-value]


#: The largest batch per charge of the bucket, whatever the rate: a batch is sent without a
#: checkpoint, so this bounds how long the sweep holds the event loop (about 1 ms of sends).
MAX_SWEEP_BATCH = 1024


def sweep_batch(rate: float, burst: int) -> int:
    """Datagrams the sweep sends per charge of the token bucket."""
    return max(1, burst, min(MAX_SWEEP_BATCH, int(rate * MIN_SLEEP)))


class SweepDispatch:
    """The discovery sweep of one scan and the host tasks it hands addresses on to."""

    def __init__(
        self, pipeline: HostPipeline, rate: RateLimiter, send: trio.MemorySendChannel[DeviceReport]
    ) -> None:
        self.pipeline = pipeline
        self.options = pipeline.options
        self.ledger: Ledger = pipeline.ledger
        self.rate = rate
        self.send = send
        self.swept_credentials, self.rest_credentials = split_credentials(self.options.credentials)
        self.runner: SweepRunner | None = None
        self._hosts: trio.Nursery | None = None

    def open(self, hosts: trio.Nursery) -> SweepRunner | None:
        """The sweep for this scan, its tasks in ``hosts``, or None when no address could use
        it: it needs a community credential first in the list and, with ping, no SNMPv3
        credential after the communities (the ping then runs per host beside every
        credential; docs/engine.md)."""
        options = self.options
        if not options.batched_discovery or not self.swept_credentials:
            return None
        pinger = self.pipeline.pinger
        pinger = pinger if pinger is not None and pinger.mode != "off" else None
        if pinger is not None and self.rest_credentials:
            # SNMPv3 after the communities: the per-host path pings once alongside all of them.
            return None
        client = self.pipeline.client
        templates, decoders = discovery_templates(self.swept_credentials, DISCOVERY_OIDS)
        transport = client.transport
        # Blank space with nothing to remember and nothing left to try is only counted
        # (_swept's common case, in bulk): no event, no call per address.
        counted = pinger is None and not self.rest_credentials and self.ledger.memory is None
        sweep = DiscoverySweep(
            templates,
            decoders,
            timeout=client.timeout,
            retries=client.retries,
            backoff=client.backoff,
            capacity=options.in_flight,
            in_use=transport.id_in_use,
            count_blank=counted,
            noted=transport.bad_sources,
        )
        self._hosts = hosts
        self.runner = SweepRunner(
            sweep,
            transport,
            self.rate.bucket,
            client.stats,
            self._swept,
            # Per token-bucket charge: the burst, or what accrues in MIN_SLEEP when that is
            # more (a lifted rate). The bucket already lets rate * MIN_SLEEP packets beyond
            # the burst leave at once (ratelimit.py); batches that size cost one loop round
            # per millisecond of sending instead of one per 32 packets.
            batch=sweep_batch(options.rate, options.burst),
            pinger=pinger,
            echoes=options.retries + 1,
            on_blank=self.ledger.blank if counted else None,
        )
        # Every new id of the sweep is checked against its own table, then against the
        # transport's other users: one call per id, not three (the runner asking about itself).
        sweep.check_ids_with(functools.partial(transport.id_in_use_besides, sink=self.runner))
        return self.runner

    async def offer(self, host: Host) -> bool:
        """Into the sweep if it can take the address (True), else the caller starts a host
        task of its own."""
        runner = self.runner
        if (
            runner is None
            or host.address is None
            or host.via_arp
            or self.pipeline.known_state(host) is not None
        ):
            return False
        try:
            packed = stdlib_socket.inet_pton(
                stdlib_socket.AF_INET6 if ":" in host.address else stdlib_socket.AF_INET,
                host.address,
            )
        except OSError:  # e.g. an IPv6 zone index: the per-host path handles it
            return False
        await runner.add((packed, self.options.port))
        return True

    def _swept(self, event: Responder | Silent, ping: PingResult | None = None) -> bool:
        """One outcome of the sweep (with the echo's, when it pinged). True: a host task now
        holds the address's slot."""
        hosts = self._hosts
        assert hosts is not None
        pinged = ping is not None and ping.status not in ("timeout", "off")
        if (
            type(event) is Silent
            and event.answered_from is None
            and event.problem is None
            and not pinged
            and not self.rest_credentials
            and self.ledger.memory is None
        ):
            # The common case: blank space, nothing to remember.
            self.ledger.settle(None, Answer())
            self.ledger.done()
            return False
        packed = event.address[0]  # type: ignore[index]
        address = stdlib_socket.inet_ntop(
            stdlib_socket.AF_INET if len(packed) == 4 else stdlib_socket.AF_INET6, packed
        )
        if isinstance(event, Responder):
            hosts.start_soon(self._run_swept, Host(address, address), event)
            return True
        if event.answered_from is not None or event.problem is not None:
            # Rare (a reply from elsewhere, an unreadable one, a failed send): the per-host
            # path asks again with every credential and reports exactly what it finds.
            hosts.start_soon(self._run_swept, Host(address, address), None)
            return True
        if pinged:  # alive by ICMP but silent on SNMP, or an ICMP error: no SNMP left to try
            assert ping is not None
            if ping.status == "reply" and self.pipeline.tools.http is None:
                # Alive, nothing more to ask and nothing to report (as unanswered): no task.
                self.ledger.settle(address, Answer(echo=ping.status))
                self.ledger.done()
                return False
            hosts.start_soon(self._run_pinged, Host(address, address), event, ping)
            return True
        if self.rest_credentials:  # SNMPv3 credentials after the communities
            hosts.start_soon(self._run_swept, Host(address, address), event)
            return True
        self.ledger.settle(address, Answer())
        self.ledger.done()
        return False

    async def _run_swept(self, host: Host, event: Responder | Silent | None) -> None:
        """A host task for an address the sweep handed on; frees its slot when done."""
        assert host.address is not None and self.runner is not None
        pipeline = self.pipeline
        try:
            options = self.options
            credentials = list(options.credentials)
            cost = SnmpCost()
            report: DeviceReport | None
            if isinstance(event, Responder):
                overhead = IPV6_OVERHEAD if ":" in host.address else IPV4_OVERHEAD
                cost = SnmpCost(
                    requests=event.requests,
                    sent_bytes=event.sent_bytes,
                    received_bytes=event.received_bytes,
                    wire_bytes=event.sent_bytes
                    + event.received_bytes
                    + overhead * (event.requests + 1),
                )
                target = Target(
                    host.address,
                    options.port,
                    credentials=credentials,
                    credential=self.swept_credentials[event.credential],
                )
                pdu = event.pdu
                if pdu.error_status == ErrorStatus.NO_ERROR and len(pdu.varbinds) == len(
                    DISCOVERY_OIDS
                ):
                    report = await pipeline.identified(host, target, pdu.varbinds, cost)
                else:
                    # An error-status (SNMPv1 noSuchName: drop the object, ask again) or an
                    # odd answer: the per-host discovery with the credential that answered.
                    await self.rate.acquire(1)
                    again = SnmpCost()  # its re-sends are charged to the bucket alone
                    # SNMPv1 names the first missing object (RFC 1157 section 4.1.2): ask
                    # again without it, as discover() does.
                    oids = without_missing(list(DISCOVERY_OIDS), pdu.error_status, pdu.error_index)
                    # It answered the sweep's GET: no second ping (the per-host path pings
                    # once, beside every SNMP exchange of the address).
                    report = await pipeline.discover_host(
                        host, target, again, oids or None, ping_it=False
                    )
                    again.requests += cost.requests
                    again.sent_bytes += cost.sent_bytes
                    again.received_bytes += cost.received_bytes
                    again.wire_bytes += cost.wire_bytes
            else:
                if isinstance(event, Silent):  # only the credentials the sweep could not try
                    target = Target(
                        host.address, options.port, credentials=list(self.rest_credentials)
                    )
                else:
                    target = Target(host.address, options.port, credentials=credentials)
                await self.rate.acquire(1)
                report = await pipeline.discover_host(host, target, cost)
            if report is not None:
                await self.send.send(report)
        finally:
            self.ledger.done()
            self.runner.release()

    async def _run_pinged(self, host: Host, event: Silent, ping: PingResult) -> None:
        """A host task for an address silent on SNMP that answered the sweep's echo (or
        drew an ICMP error): what the per-host path does after the same outcome."""
        assert host.address is not None and self.runner is not None
        try:
            report = await self.pipeline.unanswered(
                host, None, ping, SnmpCost(requests=event.requests)
            )
            if report is not None:
                await self.send.send(report)
        finally:
            self.ledger.done()
            self.runner.release()
