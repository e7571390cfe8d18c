"""The server's alert tasks: evaluate the rules after ingest (and periodically), deliver
webhooks. Started by ``run_server`` in its nursery; every instance runs them, the database
decides (see ``alerts_store.py``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

import httpx
import trio

from printerhq.server import alert_rules as rules
from printerhq.server.alerts_store import AlertStore, Forecaster, SyncResult
from printerhq.server.forecast import forecast_supply
from printerhq.server.store import Store
from printerhq.server.webhooks import Deliverer

log = logging.getLogger("printerhq.server.alerts")

INTERVAL = 60.0  # evaluate at least this often: silence (no ingest) is what some rules watch
SETTLE = 5.0  # after an ingest, wait this long so that a burst of batches is evaluated once


def days_left(points: Sequence[tuple[float, float]], now: float) -> float | None:
    """The forecast's days to empty (``forecast.py``): what "runs out within N days" tests."""
    return forecast_supply(points, now).days_left


class AlertWorker:
    def __init__(
        self,
        store: Store,
        *,
        forecaster: Forecaster | None = None,
        now: Callable[[], float] = time.time,
    ):
        self.alerts = AlertStore(store)
        self.forecaster = forecaster
        self.now = now
        self._wake = trio.Event()
        self.deliverer: Deliverer | None = None

    def poke(self) -> None:
        """New reports arrived: evaluate soon."""
        self._wake.set()

    async def evaluate_once(self) -> SyncResult:
        now = self.now()
        config = await self.alerts.config()
        open_keys = await self.alerts.open_keys()
        devices = await self.alerts.device_states(now, self.forecaster)
        agents = await self.alerts.agent_states()
        conditions = rules.evaluate(devices, agents, config, now, open_keys)
        result = await self.alerts.sync(conditions, config, now)
        if result.opened or result.closed:
            log.info("alerts: %d opened, %d closed", result.opened, result.closed)
        if result.queued and self.deliverer is not None:
            self.deliverer.poke()
        return result

    async def evaluate_forever(self, interval: float = INTERVAL, settle: float = SETTLE) -> None:
        while True:
            # The first evaluation waits too: agents reconnecting to a restarted server have not
            # sent their first heartbeat yet.
            with trio.move_on_after(interval):
                await self._wake.wait()
                await trio.sleep(settle)
            self._wake = trio.Event()
            try:
                await self.evaluate_once()
            except Exception:
                log.exception("alert evaluation failed; trying again later")

    async def run(self, *, interval: float = INTERVAL, settle: float = SETTLE) -> None:
        """Evaluate and deliver until cancelled."""
        async with httpx.AsyncClient(trust_env=False) as client:
            self.deliverer = Deliverer(self.alerts, client, now=self.now)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self.evaluate_forever, interval, settle)
                nursery.start_soon(self.deliverer.run)
