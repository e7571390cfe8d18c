"""What the collector remembers per device between scans (static data, counters' last values).

msgspec Structs, so an agent can persist the cache (msgpack) across restarts.
"""

from __future__ import annotations

from typing import Any

import msgspec

from printerhq.mib.oids import OID
from printerhq.model import Alert


class CachedCounter(msgspec.Struct, array_like=True):
    name: str
    oid: OID
    label: str
    unit: str
    skip_zero: bool = False


class CachedSupply(msgspec.Struct, array_like=True):
    index: OID  # row index (hrDeviceIndex, supply index)
    type_code: int | None
    description: str | None
    unit_code: int | None
    capacity: int | None
    last_level: int | None = None


class CachedTray(msgspec.Struct, array_like=True):
    index: OID
    name: str | None
    media: str | None
    unit_code: int | None
    capacity: int | None


class DeviceState(msgspec.Struct, kw_only=True):
    """What one device told us that rarely changes, and the state needed between scans."""

    vendor: str | None = None
    serial: str | None = None
    uptime_ticks: int | None = None
    scans_since_refresh: int = 0
    identity: dict[str, Any] = {}
    supplies: list[CachedSupply] = []
    trays: list[CachedTray] = []
    covers: dict[str, str | None] = {}  # dotted row index -> description
    console_rows: list[OID] = []
    marker_unit: int | None = None
    colorants: int | None = None
    counters: list[CachedCounter] = []  # the counter layout: which OIDs answered
    counter_last: dict[str, list[int]] = {}  # dotted OID -> [last raw value, wraps]
    alert_rows: int = 0
    status_oids: list[OID] = []  # hrDeviceStatus & co. that answered in the cold pass
    alerts: dict[str, Alert] = {}  # dotted row index -> the alert (rows never change)
    alerts_possible: bool = True  # last status showed a problem (see Collection._alerts_possible)
    alert_events: int | None = None  # prtAlertAllEvents.1 when last read (None: no such object)
    max_varbinds: int | None = None  # learned from tooBig
    uptime_seen: bool = False  # sysUpTime answered (else a warm scan does not ask for it)
    # dotted counter-table value column -> its row indexes at the last cold pass (rows we skip
    # included): what a warm walk passes, and whether the cached counter names still fit
    column_rows: dict[str, list[list[int]]] = {}


class DeviceCache(msgspec.Struct, kw_only=True):
    """Per-device state for a whole fleet, keyed by address; a msgspec Struct so the agent can
    persist it between runs. Bounded: past ``max_devices`` the least recently collected device
    is forgotten (its next collection is simply cold)."""

    devices: dict[str, DeviceState] = {}
    max_devices: int = 100_000

    def state_for(self, address: str) -> DeviceState:
        state = self.devices.pop(address, None)
        if state is None:
            state = DeviceState()
            while len(self.devices) >= self.max_devices:
                self.devices.pop(next(iter(self.devices)))
        self.devices[address] = state  # most recently used last
        return state
