"""Scanner: discovery -> identification -> collection, with results as a stream.

An application embeds it in its own trio program; the library never calls ``trio.run``::

    async with Scanner(ScanOptions(credentials=[Community(b"public")])) as scanner:
        async with scanner.scan(["192.0.2.1", "192.0.2.2"]) as reports:
            async for report in reports:
                print(report.identity.address, report.identity.model)

Per address the scanner sends one discovery GET (the identity objects of
:data:`printerhq.mib.identify.DISCOVERY_OIDS`), decides whether the agent is a printer, and for
printers runs the collection plan of :mod:`printerhq.collect`. Silent addresses produce no
report; an agent that answered but failed later produces a report with ``errors`` set, so one bad
device never stops the scan.

Work is bounded: at most ``concurrency`` hosts are in progress (a ``CapacityLimiter``), the
address iterator is consumed lazily, and results leave through a bounded memory channel, so a
slow consumer applies back-pressure instead of growing memory.
"""

from __future__ import annotations

__all__ = ["ScanOptions", "Scanner"]

import ipaddress
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import AsyncIterator, Iterable, Sequence

import trio

from .collect import DeviceCache, collect
from .mib.identify import DISCOVERY_OIDS, identify
from .model import DeviceReport, Identity, ScanStats, SnmpCost
from .snmp.client import (
    SnmpClient,
    SnmpError,
    SnmpErrorStatus,
    SnmpTimeout,
    Target,
)
from .snmp.credentials import Community, Credential
from .snmp.message import Varbind, Version

# RFC 1157 section 4.1.2: an SNMPv1 GET fails whole with noSuchName when one object is missing;
# the discovery GET then drops that object and asks again, at most this many times.
_MAX_V1_RETRIES = 8
_NO_SUCH_NAME = 2


@dataclass
class ScanOptions:
    port: int = 161
    # Tried in order per host, the winner remembered: v2c first (GETBULK), then v1 for the old
    # agents that answer nothing else.
    credentials: Sequence[Credential] = field(
        default_factory=lambda: [Community(b"public"), Community(b"public", Version.V1)])
    timeout: float = 1.0
    retries: int = 1
    concurrency: int = 256  # hosts in progress at once
    collect: bool = True  # read metrics of printers (False: discovery and identity only)


class Scanner:
    """Scans addresses for SNMP agents, identifies printers and collects their metrics."""

    def __init__(self, options: ScanOptions | None = None, *,
                 client: SnmpClient | None = None) -> None:
        self.options = options or ScanOptions()
        self.stats = ScanStats()
        self.cache = DeviceCache()
        self._client = client
        self._stack: AsyncExitStack | None = None

    async def __aenter__(self) -> Scanner:
        self._stack = AsyncExitStack()
        if self._client is None:
            self._client = await self._stack.enter_async_context(
                SnmpClient(timeout=self.options.timeout, retries=self.options.retries))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._stack is not None
        await self._stack.aclose()

    @property
    def client(self) -> SnmpClient:
        if self._client is None:
            raise RuntimeError("use the Scanner as 'async with Scanner() as scanner'")
        return self._client

    @trio.as_safe_channel
    async def scan(self, addresses: Iterable[str | ipaddress.IPv4Address
                                             | ipaddress.IPv6Address]
                   ) -> AsyncIterator[DeviceReport]:
        """Reports of every address that answered, in completion order."""
        started = time.monotonic()
        limiter = trio.CapacityLimiter(self.options.concurrency)
        send, receive = trio.open_memory_channel[DeviceReport](self.options.concurrency)

        async def probe(address: str, borrower: object) -> None:
            try:
                report = await self.probe(address)
                if report is not None:
                    await send.send(report)
            finally:
                limiter.release_on_behalf_of(borrower)

        async def produce() -> None:
            async with send:
                async with trio.open_nursery() as hosts:
                    for address in addresses:
                        borrower = object()  # unique even if an address repeats
                        await limiter.acquire_on_behalf_of(borrower)
                        self.stats.addresses += 1
                        hosts.start_soon(probe, str(address), borrower)

        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(produce)
                async with receive:
                    async for report in receive:
                        yield report
        finally:
            self.stats.duration += time.monotonic() - started
            client_stats = self.client.stats
            self.stats.packets_sent = client_stats.packets_sent
            self.stats.packets_received = client_stats.packets_received
            self.stats.bytes_sent = client_stats.bytes_sent
            self.stats.bytes_received = client_stats.bytes_received

    async def probe(self, address: str) -> DeviceReport | None:
        """Discover, identify and (for printers) collect one address; None when silent."""
        target = Target(address, self.options.port, credentials=list(self.options.credentials))
        cost = SnmpCost()
        try:
            varbinds = await self._discover(target, cost)
        except SnmpTimeout:
            return None
        except SnmpError as error:
            self.stats.errors += 1
            return DeviceReport(identity=Identity(address=address), scanned_at=time.time(),
                                errors=[str(error)], cost=cost)
        self.stats.responders += 1
        identity = identify(address, varbinds)
        protocol = target.credential.protocol if target.credential else None
        if identity.is_printer:
            self.stats.printers += 1
            if self.options.collect:
                report = await collect(self.client, target, self.cache, identity=identity,
                                       cost=cost)
                if report.errors:
                    self.stats.errors += 1
                return report
        return DeviceReport(identity=identity, scanned_at=time.time(), protocol=protocol,
                            cost=cost)

    async def _discover(self, target: Target, cost: SnmpCost) -> list[Varbind]:
        oids = list(DISCOVERY_OIDS)
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
