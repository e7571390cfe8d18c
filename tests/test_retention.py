"""Retention with downsampling: the sans-IO plan (property: meter reads over whole days are
exact after thinning) and ``Store.prune`` on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import time

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from printerhq import model
from printerhq.server import retention
from printerhq.server.retention import DAY
from printerhq.server.store import Store

from .helpers_server import make_report

# "now" for the store tests: noon today (the store hides readings from the future)
NOW = (time.time() // DAY) * DAY + DAY / 2
STEP = 15 * 60  # a reading every 15 minutes


def usage(values: list[int]) -> int:
    """Pages printed over a series of counter values, a reset counting from zero (what a
    meter read over the period bills)."""
    total = 0
    for before, after in itertools.pairwise(values):
        total += after - before if after >= before else after
    return total


def thinned(rows: list[tuple[int, int, float]], counters, supplies) -> tuple[set, set, set]:
    """Apply a plan to in-memory rows: (readings, counters, supplies) left afterwards."""
    p = retention.plan(rows, counters, supplies)
    dropped = set(p.drop_readings)
    moved_c = {(r, n, t): k for k, _, n, t, r in p.move_counters}
    gone_c = {(r, n, t) for _, n, t, r in p.drop_counters}
    left_c = set()
    for r, d, n, v, t in counters:
        if (r, n, t) in gone_c:
            continue
        left_c.add((moved_c.get((r, n, t), r), d, n, v, t))
    moved_s = {(r, i, t): k for k, _, i, t, r in p.move_supplies}
    gone_s = {(r, i, t) for _, i, t, r in p.drop_supplies}
    left_s = set()
    for r, d, i, level, pct, t in supplies:
        if (r, i, t) not in gone_s:
            left_s.add((moved_s.get((r, i, t), r), d, i, level, pct, t))
    left_r = {row for row in rows if row[0] not in dropped}
    return left_r, left_c, left_s


def at(row: tuple) -> float:
    return float(row[4])


# A day's worth of steps: +pages, or a reset to a small value (negative step marker).
steps = st.lists(st.one_of(st.integers(0, 50), st.integers(-5, -1)), min_size=1, max_size=300)


@settings(max_examples=200, deadline=None)
@given(steps=steps, start=st.integers(0, 10**6), offset=st.integers(0, 95))
def test_meter_reads_over_whole_days_are_exact_after_thinning(steps, start, offset):
    rows, counters, supplies, value, level = [], [], [], start, 100
    for n, step in enumerate(steps):
        t = 10 * DAY + (offset + n) * STEP
        value = value + step if step >= 0 else -step  # a reset restarts near zero
        level = level - 1 if level > 0 and n % 3 else 100  # falls, and a swap refills it
        rows.append((n + 1, 7, t))
        counters.append((n + 1, 7, "total", value, t))
        supplies.append((n + 1, 7, 1, level, float(level), t))
    left_r, left_c, left_s = thinned(rows, counters, supplies)
    days = {retention.day_of(t) for _, _, t in rows}
    assert len(left_r) == len(days)  # one reading per device per day
    kept_ids = {r for r, _, _ in left_r}
    assert {r for r, *_ in left_c} <= kept_ids  # every kept row names a kept reading
    assert {r for r, *_ in left_s} <= kept_ids
    raw = [v for _, _, _, v, _ in sorted(counters, key=lambda c: c[4])]
    kept = [v for _, _, _, v, _ in sorted(left_c, key=lambda c: c[4])]
    # Over the whole span, and day by day: the same pages.
    assert usage(kept) == usage(raw)
    for day in days:
        raw_day = [c[3] for c in sorted(counters, key=at) if retention.day_of(c[4]) == day]
        kept_day = [c[3] for c in sorted(left_c, key=at) if retention.day_of(c[4]) == day]
        assert (kept_day[0], kept_day[-1]) == (raw_day[0], raw_day[-1])
        assert usage(kept_day) == usage(raw_day)
        # The day's last supply level survives (the forecast's daily point).
        raw_last = max((s for s in supplies if retention.day_of(s[5]) == day), key=lambda s: s[5])
        assert raw_last[3] in {s[3] for s in left_s if s[5] == raw_last[5]}


def test_a_day_with_one_reading_is_left_alone():
    rows = [(1, 1, 0.0), (2, 1, DAY), (3, 2, DAY + 5)]
    p = retention.plan(rows, [(1, 1, "total", 5, 0.0)], [])
    assert p == retention.Plan()


def test_raw_cutoff_is_a_day_boundary():
    cut = retention.raw_cutoff(NOW, 90)
    assert cut % DAY == 0 and NOW - 91 * DAY < cut <= NOW - 90 * DAY


# ----------------------------------------------------------------------------------------------
# The store
# ----------------------------------------------------------------------------------------------
def reading(device: int, t: float, total: int, level: int) -> model.DeviceReport:
    report = make_report(device, serials=1000)
    return msgspec.structs.replace(
        report,
        scanned_at=t,
        counters=[model.Counter(name="total", value=total)],
        supplies=[msgspec.structs.replace(report.supplies[0], level=level, percent=float(level))],
    )


async def load_history(store: Store, days: int, devices: int = 2) -> dict[int, list[int]]:
    """``days`` days of readings every 15 minutes ending at NOW, for ``devices`` printers;
    a counter reset on the 3rd day of device 0. Returns device index -> counter values."""
    await store.add_agent("site", "token")
    agent = await store.agent_for_token("token")
    assert agent is not None
    first = retention.day_of(NOW) * DAY - (days - 1) * DAY
    values: dict[int, list[int]] = {d: [] for d in range(devices)}
    for day in range(days):
        batch = []
        for d in range(devices):
            for n in range(96):
                t = first + day * DAY + n * STEP
                total = 1000 * (d + 1) + (day * 96 + n) * 3
                if d == 0 and day >= 2 and (day, n) >= (2, 50):
                    total -= 1000  # reset mid-day: the counter fell by 1000
                values[d].append(total)
                batch.append(reading(d, t, total, 100 - n % 100))
        await store.ingest(agent, f"day-{day}", batch)
    return values


async def test_prune_thins_old_days_and_keeps_billing_exact(store):
    values = await load_history(store, days=5)
    before = await store.totals()
    dry = await store.prune(keep_raw_days=2, now=NOW, dry_run=True)
    assert (await store.totals()) == before  # a dry run changes nothing
    done = await store.prune(keep_raw_days=2, now=NOW, devices_per_step=1, days_per_step=2)
    assert (dry.readings, dry.counter_rows, dry.supply_rows) == (
        done.readings,
        done.counter_rows,
        done.supply_rows,
    )
    cutoff = retention.raw_cutoff(NOW, 2)
    old_days = int((cutoff - (retention.day_of(NOW) * DAY - 4 * DAY)) // DAY)
    assert old_days == 2  # 5 days of history, 2 kept raw plus today: 2 days thinned
    after = await store.totals()
    assert after["readings"] == before["readings"] - done.readings
    assert done.readings == 2 * old_days * 95  # 96 a day down to 1, for 2 devices
    for device_id, index in ((1, 0), (2, 1)):  # device ids in order of first ingest
        history = await store.counter_history(device_id, limit=100_000)
        kept = [h["value"] for h in history]
        assert usage(kept) == usage(values[index])  # the meter read over the whole span
        supplies = await store.supply_history(device_id, limit=100_000)
        old = {retention.day_of(s["scanned_at"]) for s in supplies if s["scanned_at"] < cutoff}
        assert len(old) == old_days  # a level for every thinned day
    # The raw window is untouched; a second (full) pass finds nothing more to do.
    again = await store.prune(keep_raw_days=2, now=NOW, full=True)
    assert (again.readings, again.counter_rows, again.supply_rows) == (0, 0, 0)
    # Every device page still has its latest report.
    assert (await store.latest(1)) is not None


async def test_prune_resumes_and_one_instance_prunes_at_a_time(store):
    await load_history(store, days=4, devices=1)
    # Another instance holds the lease: this pass skips.
    sql = "UPDATE retention_state SET lease_holder = 'other', lease_until = ?"
    await store.run(lambda c: store._x(c, sql, (NOW + 60,)))
    held = await store.prune(keep_raw_days=1, now=NOW)
    assert held.skipped and held.readings == 0
    # The lease expired: this pass runs, and the next one starts where it stopped.
    first = await store.prune(keep_raw_days=1, now=NOW + 120)
    assert first.readings > 0 and not first.skipped
    nothing = await store.prune(keep_raw_days=1, now=NOW + 120)
    assert nothing.readings == 0


async def test_the_server_prunes_on_its_own_schedule(tmp_path, autojump_clock):
    """``prune_periodically`` (what ``serve --keep-raw-days`` starts) thins on its first tick
    and keeps ticking; a mock clock, no sleeping."""
    import trio

    from printerhq.server.run import prune_periodically

    store = await Store.open(tmp_path)
    try:
        await load_history(store, days=3, devices=1)
        before = (await store.totals())["readings"]
        async with trio.open_nursery() as nursery:
            nursery.start_soon(prune_periodically, store, 0, 3600.0)
            await trio.sleep(59)
            assert (await store.totals())["readings"] == before  # start-up is left alone
            # The mock clock also jumps while the pass waits on its database thread, so wait
            # for the effect (bounded), not for a fixed time.
            for _ in range(1000):
                await trio.sleep(600)
                if (await store.totals())["readings"] < before:
                    break
            nursery.cancel_scope.cancel()
        # keep_raw_days=0: every day before today is down to one reading.
        assert (await store.totals())["readings"] < before
    finally:
        await store.aclose()


def test_prune_command_dry_run_and_apply(tmp_path):
    import subprocess
    import sys

    import trio

    async def fill() -> None:
        store = await Store.open(tmp_path)
        await load_history(store, days=3, devices=1)
        await store.aclose()

    trio.run(fill)
    command = [sys.executable, "-m", "printerhq", "server", "prune", "--data-dir", str(tmp_path)]
    dry = subprocess.run(
        [*command, "--keep-raw-days", "0", "--dry-run"], capture_output=True, text=True, timeout=60
    )
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith("would delete 190 readings"), dry.stdout  # 2 old days x 95
    done = subprocess.run(
        [*command, "--keep-raw-days", "0"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stdout.startswith("deleted 190 readings"), done.stdout
    bad = subprocess.run(
        [*command, "--keep-raw-days", "-1"], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and "0 to" in bad.stderr
