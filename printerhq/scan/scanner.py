"""The Scanner: its lifecycle (the clients it opens and closes), one scan, one probe.

The package docstring (:mod:`printerhq.scan`) describes what a scan does; this module owns what
outlives a scan: the SNMP client, the pinger, the HTTP client, the printers' collection state
and the discovery memory, and hands them to each :class:`~printerhq.scan.run.ScanRun`
explicitly (:class:`~printerhq.scan.host.ScanTools`).
"""

from __future__ import annotations

__all__ = ["Scanner"]

from collections.abc import AsyncGenerator, Iterable
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import trio

from ..adaptive import DiscoveryMemory
from ..collect import DeviceCache
from ..icmp import Pinger
from ..model import DeviceReport, ScanStats
from ..ratelimit import RateLimiter
from ..snmp.client import SnmpClient
from .host import Address, HostPipeline, ScanTools, host_of
from .options import ScanOptions
from .outcome import Ledger
from .run import ScanRun

if TYPE_CHECKING:  # imported lazily: httpx is slow to import and optional per scan
    import httpx

    from ..http import HttpProbeStats


class Scanner:
    """Scans addresses for SNMP agents, identifies printers and collects their metrics.

    ``client``, ``pinger`` and ``http_client`` let an application share its own (already open)
    :class:`SnmpClient`, :class:`~printerhq.icmp.Pinger` and ``httpx.AsyncClient``; the Scanner
    then neither opens nor closes them. ``memory`` overrides ``options.state_dir``.
    """

    def __init__(
        self,
        options: ScanOptions | None = None,
        *,
        client: SnmpClient | None = None,
        pinger: Pinger | None = None,
        http_client: httpx.AsyncClient | None = None,
        memory: DiscoveryMemory | None = None,
    ) -> None:
        self.options = options or ScanOptions()
        self.stats = ScanStats()
        self.cache = DeviceCache()
        self.memory = memory
        self._client = client
        self._pinger = pinger
        self._http = http_client
        self._given = (client, pinger, http_client)
        self._http_stats: HttpProbeStats | None = None
        self._stack: AsyncExitStack | None = None
        self._memory_lock = trio.Lock()

    async def __aenter__(self) -> Scanner:
        stack = AsyncExitStack()
        try:
            if self._client is None:
                self._client = await stack.enter_async_context(
                    SnmpClient(
                        timeout=self.options.timeout,
                        retries=self.options.retries,
                        audit=self.options.audit,
                    )
                )
            if self._pinger is None and self.options.icmp:
                self._pinger = await stack.enter_async_context(Pinger(audit=self.options.audit))
            if self.options.http:
                from ..http import HttpProbeStats, probe_client

                self._http_stats = HttpProbeStats()
                if self._http is None:
                    self._http = await stack.enter_async_context(
                        probe_client(self.options.http_timeout)
                    )
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

    def _tools(self) -> ScanTools:
        """What a scan (or a probe) works with: passed explicitly, never read back from here."""
        options = self.options
        return ScanTools(
            options=options,
            client=self.client,
            pinger=self._pinger if options.icmp else None,
            http=self._http if options.http else None,
            http_stats=self._http_stats,
            cache=self.cache,
        )

    # -- a scan -------------------------------------------------------------------------------

    @trio.as_safe_channel
    async def scan(self, addresses: Iterable[Address]) -> AsyncGenerator[DeviceReport, None]:
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
            run = ScanRun(self._tools(), Ledger(stats, memory))
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
        options = self.options
        pipeline = HostPipeline(
            self._tools(), Ledger(self.stats, None), RateLimiter(options.rate, options.burst)
        )
        return await pipeline.run(host_of(address))
