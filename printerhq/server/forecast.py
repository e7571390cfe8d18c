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
   counts as well: the next step has not come yet, so at most one more step (the average step
   size) was used since the first step-down; the rate is capped at
   ``(used + one step) / (now - first step-down)``. A printer idle for a month after a busy week
   therefore forecasts a slower rate, and a longer idle time never raises the rate.
5. **Too little history.** Fewer than :data:`MIN_POINTS` points or less than :data:`MIN_DAYS`
   days since the cartridge's first point give no forecast ("not enough history", or "replaced
   N days ago: too little since" after a swap). With only one step-down the average since the
   cartridge's first point is used. No step-down at all over enough time is "not being used"
   (rate 0, no empty date).
6. **Empty.** The last level 0 is "already empty": 0 days left, empty since the first 0.
7. **Result.** The supply empties ``last step level / rate`` days after the last step-down (the
   moment it was known to be at that level); days left are counted from ``now``, never below 0.

Unknown levels (-2, -3, "some left") are not percentages; callers pass only known percents.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Forecast", "forecast_supply", "SWAP_RISE", "MIN_POINTS", "MIN_DAYS"]

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


def forecast_supply(points: Sequence[tuple[float, float]], now: float) -> Forecast:
    """Forecast one supply from its known levels ``(unix time, percent 0..100)``, oldest first."""
    if not math.isfinite(now):
        return Forecast(None, None, None, "not enough history")
    history = _clean(points, now)
    # The current cartridge starts after the last rise of more than SWAP_RISE points.
    start = 0
    for i in range(1, len(history)):
        if history[i][1] - history[i - 1][1] > SWAP_RISE:
            start = i
    swapped = start > 0
    cartridge = history[start:]
    if cartridge and cartridge[-1][1] <= 0.0:
        first_empty = next(when for when, level in cartridge if level <= 0.0)
        return Forecast(0.0, first_empty, None, "already empty")
    span = now - cartridge[0][0] if cartridge else 0.0
    if len(cartridge) < MIN_POINTS or span < MIN_DAYS * DAY:
        if swapped:
            reason = f"replaced {_days(now - cartridge[0][0])} ago: too little since"
        else:
            reason = "not enough history"
        return Forecast(None, None, None, reason)
    # Step-downs: points below every earlier level of this cartridge.
    steps: list[tuple[float, float]] = []
    lowest = cartridge[0][1]
    for when, level in cartridge[1:]:
        if level < lowest:
            steps.append((when, level))
            lowest = level
    if not steps:
        return Forecast(None, None, 0.0, "not being used")
    if len(steps) == 1:
        # One drop: the average since the cartridge's first reading (all we know).
        used = cartridge[0][1] - steps[0][1]
        rate = used / (span / DAY)
        basis = f"one drop in {_days(span)}"
    else:
        (t_first, l_first), (t_last, l_last) = steps[0], steps[-1]
        used = l_first - l_last
        step_size = used / (len(steps) - 1)
        measured = used / max((t_last - t_first) / DAY, 1e-9)
        # Since the last step-down at most one more step went (the next one has not shown).
        ceiling = (used + step_size) / ((now - t_first) / DAY)
        rate = min(measured, ceiling)
        basis = f"steady use over {_days(span)}"
    if rate < MIN_RATE:
        return Forecast(None, None, 0.0, "not being used")
    t_known, l_known = steps[-1]
    empties_at = t_known + l_known / rate * DAY
    days_left = max(0.0, (empties_at - now) / DAY)
    if swapped:
        basis += f" since the swap {_days(now - cartridge[0][0])} ago"
    return Forecast(days_left, max(empties_at, now), rate, basis)
