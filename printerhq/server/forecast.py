"""When does a supply run out? Days to empty from one supply's level history (sans-IO).

:func:`forecast_supply` takes the known levels of one supply, ``(unix time, percent)`` oldest
first, and the current time, and returns a :class:`Forecast`: the use rate in percent per day,
the days left, the time it empties, and ``basis``, the reason in plain words.

How it is computed (docs/forecast.md says the same for readers):

1. **Clean.** Points that are not finite, outside 0..100 or later than ``now`` are dropped; the
   rest are sorted by time (a caller's order is not trusted).
2. **Cartridge swaps.** A rise of more than :data:`SWAP_RISE` points is a new cartridge: only the
   points from the last such rise on count. Smaller rises are noise (a level that wobbles by a
   point or two) and are ignored.
3. **Step-downs, not a line through plateaus.** Within the current cartridge, the level's
   running minimum is followed; a *step-down* is a point whose level is below every earlier one.
   Devices that report a few coarse steps (100/75/50/25) stay flat for days and then drop: the
   moment of each drop is what is known, so the rate is measured between the first and the last
   step-down, ``(first step level - last step level) / (calendar time between them)``. With
   fine-grained levels almost every reading is a step-down and this is the plain average rate.
4. **Idle periods.** The time is calendar time, so a week without printing between two
   step-downs lowers the rate instead of breaking the forecast. Time since the last step-down
   up to the last reading counts as well: the next step had not come yet, so at most one more
   step (the average step size) was used since the first step-down; the rate is capped at
   ``(used + one step) / (last reading - first step-down)``. A printer read idle for a month
   after a busy week therefore forecasts a slower rate. Silence (no readings: an agent down)
   is not idleness and changes nothing.
5. **Too little history.** Fewer than :data:`MIN_POINTS` points or less than :data:`MIN_DAYS`
   days between the cartridge's first and last reading give no forecast ("not enough
   history", or "replaced N days ago: too little since" after a swap). With only one
   step-down the average since the cartridge's first point is used. No step-down at all over
   enough time is "not being used" (rate 0, no empty date).
6. **Empty.** The last level 0 is "already empty": 0 days left, empty since the first 0.
7. **Result.** The supply empties ``last step level / rate`` days after the last step-down (the
   moment it was known to be at that level); days left are counted from ``now``, never below 0.

Unknown levels (-2, -3, "some left") are not percentages; callers pass only known percents.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "Forecast",
    "SupplyHistory",
    "forecast_supply",
    "SWAP_RISE",
    "MIN_POINTS",
    "MIN_DAYS",
]

DAY = 86400.0
SWAP_RISE = 10.0  # percentage points: a bigger rise is a new cartridge, a smaller one noise
MIN_POINTS = 3  # readings of the current cartridge needed for a forecast
MIN_DAYS = 2.0  # days of history of the current cartridge needed for a forecast
# Below this use (percent per day) a supply would last over 27 years: say "not being used"
# rather than print a date nobody can act on (and never divide by a subnormal number).
MIN_RATE = 0.01


@dataclass(frozen=True, slots=True)
class Forecast:
    """One supply's forecast. Every number is None when there is no forecast (see ``basis``)."""

    days_left: float | None  # days from now until empty; 0 when already empty
    empties_at: float | None  # unix time it empties (or emptied)
    rate_per_day: float | None  # percentage points used per calendar day
    basis: str  # why, in plain words: "steady use over 21 days", "not enough history", ...


def _days(seconds: float) -> str:
    days = max(0, round(seconds / DAY))
    return "1 day" if days == 1 else f"{days} days"


def _clean(points: Sequence[tuple[float, float]], now: float) -> list[tuple[float, float]]:
    kept: list[tuple[float, float]] = []
    for point in points:
        try:
            when, level = float(point[0]), float(point[1])
        except (TypeError, ValueError, IndexError):
            continue
        if math.isfinite(when) and math.isfinite(level) and 0.0 <= level <= 100.0 and when <= now:
            kept.append((when, level))
    kept.sort(key=lambda p: p[0])  # stable: equal times keep the caller's order
    return kept


@dataclass(slots=True)
class SupplyHistory:
    """What a forecast needs of one supply's history, folded point by point (O(1) state):
    :func:`forecast_supply` is ``add`` over the cleaned points and then ``forecast``. A store
    keeps this state (:meth:`to_dict`) and adds only the readings since ``last_time``, so a
    refresh does not read months of history again. A point older than ``last_time`` (a late
    reading) is ignored."""

    last_time: float | None = None
    last_level: float | None = None
    start_time: float = 0.0  # the current cartridge's first reading
    start_level: float = 0.0
    points: int = 0  # readings of the current cartridge
    swapped: bool = False  # the current cartridge began with a rise (a swap was seen)
    lowest: float = 0.0  # the running minimum of the current cartridge
    steps: int = 0  # step-downs: readings below every earlier one of the cartridge
    first_step_time: float = 0.0
    first_step_level: float = 0.0
    last_step_time: float = 0.0
    last_step_level: float = 0.0
    first_empty: float | None = None  # the cartridge's first reading at 0

    def add(self, when: float, level: float) -> None:
        """One known level, in time order (see :func:`forecast_supply` for what is dropped)."""
        if not (math.isfinite(when) and math.isfinite(level) and 0.0 <= level <= 100.0):
            return
        if self.last_time is not None and when < self.last_time:
            return
        previous = self.last_level
        self.last_time, self.last_level = when, level
        if previous is None or level - previous > SWAP_RISE:
            # The first reading, or a new cartridge: only what follows counts.
            self.swapped = previous is not None
            self.start_time = when
            self.start_level = self.lowest = level
            self.points, self.steps = 1, 0
            self.first_empty = when if level <= 0.0 else None
            return
        self.points += 1
        if level < self.lowest:
            self.lowest = level
            self.steps += 1
            if self.steps == 1:
                self.first_step_time, self.first_step_level = when, level
            self.last_step_time, self.last_step_level = when, level
        if level <= 0.0 and self.first_empty is None:
            self.first_empty = when

    def forecast(self, now: float) -> Forecast:
        if not math.isfinite(now):
            return Forecast(None, None, None, "not enough history")
        if self.last_level is not None and self.last_level <= 0.0:
            return Forecast(0.0, self.first_empty, None, "already empty")
        last_time = self.last_time if self.last_time is not None else self.start_time
        # Days the readings cover. Silence after the last reading says nothing about use (an
        # unplugged agent is no idle printer): only readings without a drop count as idle.
        observed = last_time - self.start_time
        if self.points < MIN_POINTS or observed < MIN_DAYS * DAY:
            if self.swapped:
                since = _days(now - self.start_time)
                return Forecast(None, None, None, f"replaced {since} ago: too little since")
            return Forecast(None, None, None, "not enough history")
        if not self.steps:
            return Forecast(None, None, 0.0, "not being used")
        if self.steps == 1:
            # One drop: the average since the cartridge's first reading (all we know).
            rate = (self.start_level - self.first_step_level) / (observed / DAY)
            basis = f"one drop in {_days(observed)}"
        else:
            used = self.first_step_level - self.last_step_level
            step_size = used / (self.steps - 1)
            elapsed = max((self.last_step_time - self.first_step_time) / DAY, 1e-9)
            measured = used / elapsed
            # Until the last reading at most one more step went (the next one has not shown).
            ceiling = (used + step_size) / max((last_time - self.first_step_time) / DAY, 1e-9)
            rate = min(measured, ceiling)
            basis = f"steady use over {_days(observed)}"
        if rate < MIN_RATE:
            return Forecast(None, None, 0.0, "not being used")
        empties_at = self.last_step_time + self.last_step_level / rate * DAY
        days_left = max(0.0, (empties_at - now) / DAY)
        if self.swapped:
            basis += f" since the swap {_days(now - self.start_time)} ago"
        return Forecast(days_left, max(empties_at, now), rate, basis)

    def to_dict(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_dict(cls, data: object) -> SupplyHistory:
        """The state :meth:`to_dict` wrote; anything else (damaged, older) starts afresh."""
        history = cls()
        if not isinstance(data, dict):
            return history
        try:
            for name in cls.__slots__:
                if name in data:
                    value = data[name]
                    if name == "swapped":
                        history.swapped = bool(value)
                    elif name == "points" or name == "steps":
                        setattr(history, name, int(value))
                    else:
                        setattr(history, name, None if value is None else float(value))
        except (TypeError, ValueError):
            return cls()
        return history


def forecast_supply(points: Sequence[tuple[float, float]], now: float) -> Forecast:
    """Forecast one supply from its known levels ``(unix time, percent 0..100)``, oldest first."""
    if not math.isfinite(now):
        return Forecast(None, None, None, "not enough history")
    history = SupplyHistory()
    for when, level in _clean(points, now):
        history.add(when, level)
    return history.forecast(now)
