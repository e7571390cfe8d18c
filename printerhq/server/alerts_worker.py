"""The server's alert tasks: evaluate the rules after ingest (and periodically), deliver
webhooks. Started by ``run_server`` in its nursery; every instance runs them, the database
decides (see ``alerts_store.py``)."""

from __future__ import annotations

import dataclasses
import logging
import math
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
# Forecasts read weeks of supply history: recomputed this often, counted down in between (a
# forecast moves by days, not minutes).
FORECAST_EVERY = 3600.0


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
        self._days: dict[int, dict[int, float | None]] = {}  # device -> supply -> days left
        self._days_at = -math.inf

    def poke(self) -> None:
        """New reports arrived: evaluate soon."""
        self._wake.set()

    async def evaluate_once(self) -> SyncResult:
        now = self.now()
        config = await self.alerts.config()
        open_keys = await self.alerts.open_keys()
        refresh = self.forecaster is not None and now - self._days_at >= FORECAST_EVERY
        devices = await self.alerts.device_states(now, self.forecaster if refresh else None)
        if refresh:
            self._days, self._days_at = {d.id: dict(d.days_left) for d in devices}, now
        elif self.forecaster is not None:
            devices = [
                dataclasses.replace(d, days_left=self._counted_down(d.id, now)) for d in devices
            ]
        devices = await self._with_recent(devices, config, open_keys, now)
        agents = await self.alerts.agent_states()
        conditions = await trio.to_thread.run_sync(  # CPU for a large fleet: off the event loop
            rules.evaluate, devices, agents, config, now, open_keys
        )
        result = await self.alerts.sync(conditions, config, now)
        if result.opened or result.closed:
            log.info("alerts: %d opened, %d closed", result.opened, result.closed)
        if result.queued and self.deliverer is not None:
            self.deliverer.poke()
        return result

    async def _with_recent(
        self,
        devices: list[rules.DeviceState],
        config: rules.AlertsConfig,
        open_keys: set[rules.Key],
        now: float,
    ) -> list[rules.DeviceState]:
        """Devices with an open error alert get their reports of the last
        ``error_close_minutes`` (the hysteresis of error states); the others need none."""
        held = {
            int(subject.removeprefix("device:"))
            for subject, rule, _ in open_keys
            if rule in rules.ERROR_RULES and subject.removeprefix("device:").isdigit()
        }
        if not held:
            return devices
        window = max(
            [config.defaults.error_close_minutes]
            + [config.for_site(site).error_close_minutes for site in config.site]
        )
        recent = await self.alerts.recent_reports(held, now - window * 60, now)
        return [
            dataclasses.replace(d, recent=recent[d.id]) if d.id in recent else d for d in devices
        ]

    def _counted_down(self, device_id: int, now: float) -> dict[int, float | None]:
        elapsed = (now - self._days_at) / 86400
        known = self._days.get(device_id, {})
        return {i: None if d is None else d - elapsed for i, d in known.items()}

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
