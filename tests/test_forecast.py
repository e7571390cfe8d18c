"""Supply forecasts (printerhq.server.forecast) on synthetic histories: steady use, a cartridge
swap, coarse steps, idle periods, too little history, an empty supply; and a property test that
no history makes it raise or answer nonsense."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from printerhq.server.forecast import DAY, forecast_supply

T0 = 1_750_000_000.0


def daily(levels, start=T0):
    return [(start + i * DAY, float(level)) for i, level in enumerate(levels)]


def test_steady_use():
    # 2 points a day for 20 days: 80 -> 40, so 2 %/day and 20 days left.
    points = daily(range(80, 39, -2))
    now = points[-1][0]
    fc = forecast_supply(points, now)
    assert fc.rate_per_day == pytest.approx(2.0)
    assert fc.days_left == pytest.approx(20.0)
    assert fc.empties_at == pytest.approx(now + 20 * DAY)
    assert fc.basis == "steady use over 20 days"


def test_swap_counts_only_the_new_cartridge():
    # The old cartridge went at 5 %/day; the new one at 1 %/day.
    old = daily(range(60, 9, -5))
    new = daily(range(100, 89, -1), start=old[-1][0] + DAY)
    now = new[-1][0]
    fc = forecast_supply(old + new, now)
    assert fc.rate_per_day == pytest.approx(1.0)
    assert fc.days_left == pytest.approx(90.0)
    assert "since the swap" in fc.basis


def test_fresh_swap_is_too_little_history():
    old = daily(range(60, 9, -5))
    swap_at = old[-1][0] + DAY
    points = [*old, (swap_at, 100.0), (swap_at + 3600, 100.0)]
    fc = forecast_supply(points, swap_at + 3 * DAY)
    assert fc.days_left is None and fc.rate_per_day is None
    assert fc.basis == "replaced 3 days ago: too little since"


def test_small_rise_is_noise_not_a_swap():
    points = daily([50, 48, 49, 46, 47, 44, 42])
    fc = forecast_supply(points, points[-1][0])
    assert fc.rate_per_day == pytest.approx(6 / 5)  # 48 on day 1 -> 42 on day 6
    assert "swap" not in fc.basis


def test_coarse_steps_use_the_step_times():
    # Hourly readings of a device reporting 100/75/50/25: steps every 10 days.
    points = []
    for hour in range(0, 24 * 31):
        level = 100 - 25 * (hour // (24 * 10))
        points.append((T0 + hour * 3600.0, float(level)))
    now = points[-1][0]  # the last step (to 25) was on day 30
    fc = forecast_supply(points, now)
    assert fc.rate_per_day == pytest.approx(2.5)  # 25 points per 10 days
    # 25 % left at the day-30 step: empty on day 40, about 9 days after now (day 31).
    assert fc.days_left == pytest.approx(9.0, abs=0.05)
    # A line through the plateaus (least squares) would say otherwise; the step times do not.


def test_coarse_steps_long_plateau_lowers_the_rate():
    points = [(T0, 100.0), (T0 + DAY, 75.0), (T0 + 2 * DAY, 50.0)]
    busy = forecast_supply(points, T0 + 2 * DAY)
    idle = forecast_supply([*points, (T0 + 30 * DAY, 50.0)], T0 + 30 * DAY)
    assert busy.rate_per_day == pytest.approx(25.0)
    # Read at 50 % on day 30: since day 1 at most 25 + 25 points went over 29 days.
    assert idle.rate_per_day == pytest.approx(50 / 29)
    assert idle.days_left is not None and idle.days_left > 0
    # Silence is not idleness: without the day-30 reading nothing is known of days 2 to 30.
    silent = forecast_supply(points, T0 + 30 * DAY)
    assert silent.rate_per_day == pytest.approx(25.0) and silent.days_left == 0.0


def test_idle_week_lowers_the_rate_without_breaking_the_forecast():
    busy = daily(range(90, 69, -2))  # 10 days at 2 %/day
    idle_start = busy[-1][0]
    idle = [(idle_start + i * DAY, 70.0) for i in range(1, 8)]
    after = [(idle_start + (7 + i) * DAY, 70.0 - 2 * i) for i in range(1, 6)]
    points = busy + idle + after
    fc = forecast_supply(points, points[-1][0])
    assert fc.rate_per_day is not None and fc.days_left is not None
    # 30 points over 22 calendar days (88 -> 60 from day 1 to day 22): a week idle counted.
    assert fc.rate_per_day == pytest.approx(28 / 21)
    assert fc.days_left == pytest.approx(60 / (28 / 21))


def test_not_being_used():
    points = daily([60] * 10)
    fc = forecast_supply(points, points[-1][0])
    assert fc.days_left is None and fc.empties_at is None
    assert fc.rate_per_day == 0.0
    assert fc.basis == "not being used"


@pytest.mark.parametrize(
    ("points", "now"),
    [
        ([], T0),
        ([(T0, 50.0)], T0 + 10 * DAY),
        ([(T0, 50.0), (T0 + DAY, 40.0)], T0 + 10 * DAY),  # two points
        ([(T0, 50.0), (T0 + 3600, 49.0), (T0 + 7200, 48.0)], T0 + 7200),  # two hours
    ],
)
def test_too_little_history(points, now):
    fc = forecast_supply(points, now)
    assert (fc.days_left, fc.empties_at, fc.rate_per_day) == (None, None, None)
    assert fc.basis == "not enough history"


def test_already_empty():
    points = daily([20, 10, 0, 0])
    fc = forecast_supply(points, points[-1][0] + DAY)
    assert fc.days_left == 0.0
    assert fc.empties_at == points[2][0]
    assert fc.basis == "already empty"


def test_one_drop_uses_the_average_since_the_first_reading():
    points = daily([80, 80, 80, 80, 70])
    fc = forecast_supply(points, points[-1][0])
    assert fc.rate_per_day == pytest.approx(10 / 4)
    assert fc.basis == "one drop in 4 days"


def test_untrusted_points_are_dropped():
    points = [*daily(range(80, 39, -2)), (math.nan, 5.0), (T0, math.inf), (T0, 150.0), (T0, -3)]
    fc = forecast_supply(points, T0 + 20 * DAY)
    assert fc.rate_per_day == pytest.approx(2.0)
    future = forecast_supply([*daily(range(80, 39, -2)), (T0 + 99 * DAY, 0.0)], T0 + 20 * DAY)
    assert future.days_left == pytest.approx(20.0)  # a reading from the future is ignored


_odd = st.sampled_from([math.nan, math.inf, -math.inf])
_times = st.floats(min_value=0, max_value=400 * DAY) | _odd
# Levels on a few steps as well as any value, so coarse devices and swaps come up often.
_levels = st.sampled_from([0.0, 25.0, 50.0, 75.0, 100.0]) | st.floats(-10, 110) | _odd


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.tuples(_times, _levels), max_size=60),
    st.floats(min_value=0, max_value=400 * DAY),
    st.floats(min_value=0, max_value=100 * DAY),
)
def test_property_sane_and_idle_never_speeds_up(points, now, idle):
    points = [(T0 + t, level) for t, level in points]
    now = T0 + now
    fc = forecast_supply(points, now)
    assert isinstance(fc.basis, str) and fc.basis
    assert fc.days_left is None or (math.isfinite(fc.days_left) and fc.days_left >= 0)
    assert fc.rate_per_day is None or (math.isfinite(fc.rate_per_day) and fc.rate_per_day >= 0)
    assert (fc.days_left is None) == (fc.empties_at is None)
    if fc.days_left is not None and fc.basis != "already empty":
        assert fc.empties_at == pytest.approx(now + fc.days_left * DAY, abs=1.0)
    # Monotone: waiting longer with no new reading never raises the rate (it changes nothing).
    later = forecast_supply(points, now + idle)
    if fc.rate_per_day is not None and later.rate_per_day is not None:
        assert later.rate_per_day <= fc.rate_per_day * (1 + 1e-9) + 1e-12


@settings(max_examples=200, deadline=None)
@given(
    st.floats(min_value=30, max_value=100),  # starting level
    st.floats(min_value=0.1, max_value=5),  # percent per day
    st.floats(min_value=1.05, max_value=4),  # a faster printer uses this many times more
    st.integers(min_value=3, max_value=40),  # readings
    st.floats(min_value=0.1, max_value=2),  # days between readings
)
def test_property_faster_use_runs_out_sooner(start, rate, faster, count, every):
    def history(r):
        return [(T0 + i * every * DAY, max(0.0, start - r * i * every)) for i in range(count)]

    slow = forecast_supply(history(rate), T0 + (count - 1) * every * DAY)
    fast = forecast_supply(history(rate * faster), T0 + (count - 1) * every * DAY)
    if slow.days_left is not None and fast.days_left is not None:
        assert fast.days_left <= slow.days_left + 1e-6
    if slow.basis.startswith("steady use") and slow.rate_per_day is not None:
        assert slow.rate_per_day == pytest.approx(rate, rel=1e-6)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 200 * DAY), _levels), max_size=60),
    st.integers(min_value=0, max_value=60),
)
def test_property_folded_state_resumes_exactly(points, cut):
    """A store keeps the folded state (to_dict) and adds only later readings: the forecast is
    the same as over the whole history at once."""
    from printerhq.server.forecast import SupplyHistory

    points = sorted(((T0 + t, level) for t, level in points), key=lambda p: p[0])
    now = T0 + 201 * DAY
    first = SupplyHistory()
    for when, level in points[:cut]:
        first.add(when, level)
    resumed = SupplyHistory.from_dict(first.to_dict())
    for when, level in points[cut:]:
        resumed.add(when, level)
    assert resumed.forecast(now) == forecast_supply(points, now)


def test_damaged_state_starts_afresh():
    from printerhq.server.forecast import SupplyHistory

    for damaged in (None, [], "x", {"points": "many"}, {"last_time": [1]}):
        assert SupplyHistory.from_dict(damaged) == SupplyHistory()
