"""What the collector remembers per device between scans (static data, counters' last values).

msgspec Structs, so an agent can persist the cache (msgpack) across restarts.
"""

from __future__ import annotations

import sys
from typing import cast

import msgspec

from printerhq.mib.oids import OID
from printerhq.model import Alert, CounterName, CounterUnit, Identity


class CachedCounter(msgspec.Struct, array_like=True):
    name: CounterName
    oid: OID
    label: str
    unit: CounterUnit
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
    identity: dict[str, str | None] = {}
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
    # -- what lets a repeat scan skip discovery (see Collection.known and docs/engine.md) --
    # discovery's identity at the last full scan (uptime left out: it is read fresh)
    discovery: Identity | None = None
    # the object the serial was read from and its text then: a change detector sent with
    # every warm request that skips discovery (a different text: a different device)
    serial_source: OID | None = None
    serial_seen: str | None = None
    collected_at: float | None = None  # Unix time of the last collection (uptime plausibility)
    # position in the scanner's credential list of the one that answered, and its protocol
    # ("snmpv2c", ...): which credential the shortcut tries. Never the secret itself.
    credential: int | None = None
    protocol: str | None = None
    # report field -> why the cold pass cut its walk (runs.TableRun.problem): the cached rows
    # are what was kept, so every warm report repeats the reason
    walk_problems: dict[str, str] = {}

    def can_skip_discovery(self) -> bool:
        """Warm, a printer, with something to tell a restart or another device by (sysUpTime,
        the serial's source or sysObjectID): a repeat scan may go straight to a warm
        collection that carries these change detectors."""
        discovery = self.discovery
        return (
            bool(self.identity)
            and discovery is not None
            and discovery.is_printer
            and self.vendor == discovery.vendor
            and (
                self.uptime_seen
                or self.serial_source is not None
                or discovery.sys_object_id is not None
            )
        )

    def forget_discovery(self) -> None:
        """The next scan of this device runs discovery again (the shortcut found a change)."""
        self.discovery = None


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

    def known(self, address: str) -> DeviceState | None:
        """The state of ``address`` if it is warm enough for a collection without discovery
        (see :meth:`~printerhq.collect.Collection.known`); does not touch the LRU order."""
        state = self.devices.get(address)
        return state if state is not None and state.can_skip_discovery() else None

    def encode(self) -> bytes:
        """msgpack bytes of the whole cache (what :meth:`decode` reads back)."""
        return msgspec.msgpack.encode(self)

    @classmethod
    def decode(cls, data: bytes) -> DeviceCache:
        """The cache from :meth:`encode`'s bytes; raises ``msgspec.DecodeError`` /
        ``msgspec.ValidationError`` when they do not fit (e.g. an older layout)."""
        cache = msgspec.msgpack.decode(data, type=cls)
        for state in cache.devices.values():
            for counter in state.counters:
                # Reports omit default values by identity (msgspec's omit_defaults): a decoded
                # "impressions" must be the interned literal, or every counter grows a "unit".
                counter.unit = cast(CounterUnit, sys.intern(counter.unit))  # the same value
        return cache
