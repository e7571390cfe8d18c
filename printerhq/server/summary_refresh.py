"""Keeps ``device_summary`` fresh, off the ingest path: a background task of the server.

Ingest tells :meth:`SummaryRefresher.touched` which device keys a stored batch carried (a set
add, nothing else: ingest stays as fast as it was). The task wakes, takes up to
:data:`BATCH` keys at a time, and recomputes those devices' summaries
(:func:`printerhq.server.fleet_queries.refresh`); a device touched many times while waiting is
refreshed once. It rests between rounds (:data:`REST_FACTOR`), so in a burst of uploads it
takes a bounded share of the database and ingest keeps its pace. Every :data:`SWEEP_SECONDS`
(and at start) it also refreshes devices whose summary is missing or older than their last
reading: devices another instance ingested, a database from before migration 10, keys dropped
because more than :data:`MAX_PENDING` waited.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable

import trio

from printerhq.server import fleet_queries
from printerhq.server.store import Store

log = logging.getLogger("printerhq.server.summary")

BATCH = 500  # device keys per refresh round
MAX_PENDING = 100_000  # keys waiting; beyond, the sweep finds them
SWEEP_SECONDS = 60.0
GATHER_SECONDS = 0.5  # after the first key, wait this long for more (fewer, larger rounds)
# After a round that took t seconds, rest REST_FACTOR * t: the refresh takes at most a quarter of
# the database's time in a burst of uploads, and ingest keeps the rest.
REST_FACTOR = 3.0


class SummaryRefresher:
    def __init__(
        self,
        store: Store,
        *,
        sweep_seconds: float = SWEEP_SECONDS,
        gather_seconds: float = GATHER_SECONDS,
        rest_factor: float = REST_FACTOR,
    ):
        self.store = store
        self.sweep_seconds = sweep_seconds
        self.gather_seconds = gather_seconds
        self.rest_factor = rest_factor
        self._pending: set[str] = set()
        self._wake = trio.Event()
        self._idle = trio.Event()
        self._idle.set()
        self.refreshed = 0  # devices refreshed since start (for tests and logs)
        self.dropped = 0

    def touched(self, keys: Iterable[str]) -> None:
        """Device keys whose readings were just stored (called by ingest; never blocks)."""
        for key in keys:
            if len(self._pending) >= MAX_PENDING:
                self.dropped += 1  # the sweep catches it
                continue
            self._pending.add(key)
        if self._pending:
            self._idle = trio.Event() if self._idle.is_set() else self._idle
            self._wake.set()

    async def settle(self) -> None:
        """Wait until every key touched so far is refreshed (tests; a page that must be exact)."""
        await self._idle.wait()

    async def run(self) -> None:
        """Refresh until cancelled. Database errors are logged and retried on the next round."""
        next_sweep = trio.current_time()
        while True:
            with trio.move_on_at(next_sweep if not self._pending else -math.inf):
                await self._wake.wait()
            self._wake = trio.Event()
            if self._pending and len(self._pending) < BATCH:
                await trio.sleep(self.gather_seconds)
            started = trio.current_time()
            try:
                if self._pending:
                    keys = sorted(self._pending)[:BATCH]
                    self._pending.difference_update(keys)
                    ids = await fleet_queries.ids_for_keys(self.store, keys)
                    self.refreshed += await fleet_queries.refresh(self.store, ids)
                elif trio.current_time() >= next_sweep:
                    ids = await fleet_queries.stale(self.store, BATCH)
                    self.refreshed += await fleet_queries.refresh(self.store, ids)
                    # A full batch: more may be stale (a migrated database); sweep again soon.
                    next_sweep = trio.current_time() + (
                        0 if len(ids) == BATCH else self.sweep_seconds
                    )
            except Exception as exc:  # the database went away: the next round tries again
                log.warning("device summary refresh failed: %s: %s", type(exc).__name__, exc)
                await trio.sleep(1)
            if not self._pending:
                self._idle.set()
            await trio.sleep(self.rest_factor * (trio.current_time() - started))
