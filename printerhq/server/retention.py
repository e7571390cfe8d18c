"""History retention with downsampling: what to keep of readings older than the raw window.

Readings newer than ``keep_raw_days`` (default 90) are kept as they came. Older ones are thinned
to **one reading per device per UTC day** (the day's last: its full report stays for the device
page), and of the counter and supply rows of that day only what the fleet's two long-range uses
need:

- **Billing** (meter reads over a period) needs each counter's first and last value of the day,
  and, when a counter went backwards that day (a reset, a replaced board), the two values on each
  side of the drop: so a meter read over any period of whole days is exactly what it was on the
  raw data.
- **Supply forecast** needs a daily level: each supply's last row of the day, and the two rows on
  each side of a rise (a cartridge swap), so the swap stays visible.

Rows kept from a reading that is dropped are re-attached to the day's kept reading (their own
``scanned_at`` and value are untouched). This module is the sans-IO core: it takes the rows of a
window and returns a :class:`Plan`; ``Store.prune`` reads and applies it in bounded steps.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

DAY = 86_400.0
DEFAULT_KEEP_RAW_DAYS = 90
MAX_KEEP_RAW_DAYS = 36_500  # a hundred years: beyond it the cut-off is before any clock
# One step of a pass (one transaction): this many devices over this many days. At a reading
# every 15 minutes, 10 devices x 7 days is 6,720 readings, thinned in 0.1-0.25 s on SQLite on
# a loaded 2-core machine (50 devices took 2.5 s a step, and longer in all).
DEVICES_PER_STEP = 10
DAYS_PER_STEP = 7

# (reading id, device id, scanned_at)
ReadingRow = tuple[int, int, float]
# (reading id, device id, name, value, scanned_at)
CounterRow = tuple[int, int, str, int, float]
# (reading id, device id, idx, level, percent, scanned_at)
SupplyRow = tuple[int, int, int, "int | None", "float | None", float]


def day_of(scanned_at: float) -> int:
    """The UTC day number of a timestamp (days since 1970-01-01)."""
    return int(scanned_at // DAY)


def raw_cutoff(now: float, keep_raw_days: int) -> float:
    """The start of the oldest UTC day whose readings are all kept raw: readings before it are
    downsampled. Whole days only, so a day is never half thinned."""
    return (day_of(now - keep_raw_days * DAY)) * DAY


@dataclass
class Plan:
    """What to change in one window. Counter and supply rows are named by their index key plus
    reading id (the tables have no key of their own): ``(device_id, name|idx, scanned_at,
    reading_id)``; a move adds the reading id the row is re-attached to, first."""

    drop_readings: list[int] = field(default_factory=list)
    drop_counters: list[tuple[int, str, float, int]] = field(default_factory=list)
    move_counters: list[tuple[int, int, str, float, int]] = field(default_factory=list)
    drop_supplies: list[tuple[int, int, float, int]] = field(default_factory=list)
    move_supplies: list[tuple[int, int, int, float, int]] = field(default_factory=list)

    def extend(self, other: Plan) -> None:
        self.drop_readings += other.drop_readings
        self.drop_counters += other.drop_counters
        self.move_counters += other.move_counters
        self.drop_supplies += other.drop_supplies
        self.move_supplies += other.move_supplies


def _kept_positions(values: Sequence[float | None], *, keep_first: bool, rising: bool) -> set[int]:
    """Positions (in time order) to keep of one series of a day: the last, the first when
    asked, and both sides of every step against the usual direction (a counter that falls, a
    supply that rises)."""
    last = len(values) - 1
    keep = {last}
    if keep_first:
        keep.add(0)
    for i in range(1, len(values)):
        before, after = values[i - 1], values[i]
        if before is None or after is None:
            continue
        if (after > before) if rising else (after < before):
            keep.update((i - 1, i))
    return keep


def plan(
    readings: Iterable[ReadingRow],
    counters: Iterable[CounterRow],
    supplies: Iterable[SupplyRow],
) -> Plan:
    """The plan for a window of rows (all of them older than the raw cut-off)."""
    days: dict[tuple[int, int], list[tuple[float, int]]] = defaultdict(list)
    for reading_id, device_id, scanned_at in readings:
        days[(device_id, day_of(scanned_at))].append((scanned_at, reading_id))
    keeper: dict[int, int] = {}  # reading id -> the id of its day's kept reading
    out = Plan()
    for group in days.values():
        if len(group) < 2:
            continue
        group.sort()
        kept = group[-1][1]
        for _, reading_id in group:
            keeper[reading_id] = kept
        out.drop_readings.extend(reading_id for _, reading_id in group[:-1])
    if not out.drop_readings:
        return out
    series: dict[tuple[int, str], list[tuple[float, int, float | None]]] = defaultdict(list)
    device_of: dict[int, int] = {}
    for reading_id, device_id, name, value, scanned_at in counters:
        if reading_id in keeper:
            series[(keeper[reading_id], name)].append((scanned_at, reading_id, value))
            device_of[reading_id] = device_id
    for (kept, name), rows in series.items():
        rows.sort()
        keep = _kept_positions([v for _, _, v in rows], keep_first=True, rising=False)
        for i, (scanned_at, reading_id, _) in enumerate(rows):
            if reading_id == kept:
                continue
            device_id = device_of[reading_id]
            if i in keep:
                out.move_counters.append((kept, device_id, name, scanned_at, reading_id))
            else:
                out.drop_counters.append((device_id, name, scanned_at, reading_id))
    supply_series: dict[tuple[int, int], list[tuple[float, int, float | None]]] = defaultdict(list)
    for reading_id, device_id, idx, level, percent, scanned_at in supplies:
        if reading_id in keeper:
            amount = percent if percent is not None else level
            supply_series[(keeper[reading_id], idx)].append((scanned_at, reading_id, amount))
            device_of[reading_id] = device_id
    for (kept, idx), rows in supply_series.items():
        rows.sort()
        keep = _kept_positions([v for _, _, v in rows], keep_first=False, rising=True)
        for i, (scanned_at, reading_id, _) in enumerate(rows):
            if reading_id == kept:
                continue
            device_id = device_of[reading_id]
            if i in keep:
                out.move_supplies.append((kept, device_id, idx, scanned_at, reading_id))
            else:
                out.drop_supplies.append((device_id, idx, scanned_at, reading_id))
    return out


@dataclass
class PruneResult:
    """What one pass did (or, dry, would do)."""

    readings: int = 0
    counter_rows: int = 0
    supply_rows: int = 0
    moved_rows: int = 0
    cutoff: float = 0.0
    skipped: str = ""  # why nothing was done (another instance holds the lease; nothing old)
