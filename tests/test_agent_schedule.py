"""The sans-IO schedule (hypothesis) and the agent's cycle loop on trio's MockClock."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import trio
import trio.testing
from hypothesis import example, given, settings
from hypothesis import strategies as st

from printerhq import control
from printerhq.agent.config import parse_config
from printerhq.agent.schedule import Job, Schedule, jitter_offset
from printerhq.agent.service import AgentService

intervals = st.floats(min_value=0.5, max_value=3600, allow_nan=False)


@st.composite
def sections(draw):
    count = draw(st.integers(min_value=1, max_value=4))
    out = []
    for _ in range(count):
        interval = draw(intervals)
        out.append((interval, interval * draw(st.integers(min_value=1, max_value=20))))
    return out


def simulate(schedule: Schedule, horizon: float, durations: list[float]) -> list[tuple[float, Job]]:
    """Run ``schedule`` as the agent does: wake at next_time, run what is due, report done."""
    runs: list[tuple[float, Job]] = []
    step = 0
    now = schedule.next_time()
    for _ in range(100_000):  # bounded even when the schedule under test is broken
        if now >= horizon:
            break
        ran: set[int] = set()
        while (job := schedule.next_job(now, ran)) is not None:
            runs.append((now, job))
            now += durations[step % len(durations)]
            step += 1
            schedule.done(job, now)
            ran.add(job.section)
        now = max(now, schedule.next_time())
    return runs


@settings(max_examples=200, deadline=None)
# Float grids that once let a section run twice at one instant (found by hypothesis).
@example([(2.1494212214969366, 4.298842442993873)], [0.0], 0.0, "")
@example(
    [(1.67578125, 1.67578125), (1.6756340502442393, 1.6756340502442393)],
    [0.0, 0.0, 1.6756340502442393],
    0.0,
    "",
)
@example([(1.0, 1.0), (1.0, 2.0)], [0.0, 2.0], 0.0, "")
@given(
    sections(),
    st.lists(st.floats(min_value=0, max_value=5), min_size=1, max_size=5),
    st.floats(min_value=0, max_value=100),
    st.text(max_size=8),
)
def test_each_section_runs_on_its_cadence(spec, durations, jitter, seed):
    start = 1000.0
    schedule = Schedule(spec, start, seed=seed, jitter=jitter)
    horizon = start + 200 * min(i for i, _ in spec) + jitter
    runs = simulate(schedule, horizon, durations)
    for index, (interval, discovery) in enumerate(spec):
        mine = [(t, job.kind) for t, job in runs if job.section == index]
        assert mine, "a section never ran"
        assert mine[0][1] == "discovery", "the first run of a section is a discovery"
        first = mine[0][0]
        # Planned within the jitter; other sections due at the same time may run first.
        assert start <= first <= start + min(jitter, interval) + len(spec) * max(durations) + 1e-9
        times = [t for t, _ in mine]
        for (t0, _), (t1, _) in itertools.pairwise(mine):
            assert t1 > t0 + 1e-6, "a section ran twice at once"
        for t0, t2 in zip(times, times[2:], strict=False):
            # No burst after an overrun: a late run may be followed by one on the grid, but
            # never two more within one interval.
            assert t2 - t0 >= interval - 1e-6
        # ...and no drift: runs stay on the planned grid, so almost none are lost to run time.
        slow = max(durations) * len(spec)
        if slow < interval:
            expected = int((horizon - first) // interval)
            assert len(mine) >= expected - 1
        discoveries = [t for t, kind in mine if kind == "discovery"]
        for t0, t2 in zip(discoveries, discoveries[2:], strict=False):
            assert t2 - t0 >= discovery - 1e-6
        if slow < interval:  # on time: exactly one discovery per discovery interval
            assert len(discoveries) >= int((horizon - first) // discovery) - 1


@given(sections(), st.floats(min_value=0, max_value=1e6))
def test_nothing_is_due_before_next_time(spec, start):
    schedule = Schedule(spec, start)
    t = schedule.next_time()
    assert schedule.due(t - 2e-3) == [] and schedule.due(t) != []
    job = schedule.due(t)[0]
    schedule.done(job, t)
    assert all(j.section != job.section for j in schedule.due(t))


@given(
    st.text(max_size=20),
    st.floats(min_value=0, max_value=1e5),
    st.floats(min_value=0.001, max_value=1e5),
)
def test_jitter_is_seeded_and_bounded(seed, jitter, interval):
    offset = jitter_offset(seed, jitter, interval)
    assert 0 <= offset <= min(jitter, interval)
    assert offset == jitter_offset(seed, jitter, interval)


def test_jitter_spreads_agents_that_start_together():
    offsets = {round(jitter_offset(f"site-{i}", 60, 900), 3) for i in range(50)}
    assert len(offsets) == 50 and max(offsets) - min(offsets) > 30


def test_a_discovery_also_counts_as_the_warm_run():
    schedule = Schedule([(10, 100)], 0)
    assert schedule.due(0) == [Job(0, "discovery")]
    schedule.done(Job(0, "discovery"), 1)
    assert schedule.next_time() == 10 and schedule.due(10) == [Job(0, "warm")]
    schedule.done(Job(0, "warm"), 11)
    for t in range(20, 100, 10):
        assert schedule.due(t) == [Job(0, "warm")]
        schedule.done(Job(0, "warm"), t + 0.5)
    assert schedule.due(100) == [Job(0, "discovery")]


def test_an_overrun_skips_missed_runs_instead_of_bursting():
    schedule = Schedule([(10, 1000)], 0)
    schedule.done(Job(0, "discovery"), 35)  # the first discovery took 35 s
    assert schedule.next_time() == 40


def test_bad_sections_are_refused():
    with pytest.raises(ValueError):
        Schedule([(0, 10)], 0)
    with pytest.raises(ValueError):
        Schedule([(10, 5)], 0)


# -- the agent's loop on a mock clock --------------------------------------------------
CONFIG = """
[server]
url = "https://hq.example:8443"
token_file = "/nonexistent"
[[scan]]
targets = ["192.0.2.1"]
interval = "2s"
discovery_interval = "10s"
[[scan]]
targets = ["192.0.2.2"]
interval = "5s"
[site]
remote_config = true
[agent]
name = "mock"
state_dir = "{state_dir}"
jitter = "0s"
"""


async def test_the_cycle_loop_runs_what_is_due_and_switches_config_at_the_next_cycle(
    tmp_path: Path, autojump_clock
):
    clock = trio.lowlevel.current_clock()
    assert isinstance(clock, trio.testing.MockClock)
    config = parse_config(CONFIG.format(state_dir=tmp_path).encode())
    service = AgentService(config)
    runs: list[tuple[float, str, str]] = []

    async def fake_job(job: Job, uplink: object) -> control.CycleStatus:
        runs.append((trio.current_time(), service.scans[job.section].targets[0], job.kind))
        await trio.sleep(0.5)  # a cycle takes time
        return control.CycleStatus(time=0, kind=job.kind, duration=0.5, printers=1)

    service._run_job = fake_job  # type: ignore[method-assign]
    start = trio.current_time()
    with trio.move_on_after(11.9):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(service._cycles, None)
            await trio.sleep(4.2)
            remote = control.ConfigPush(
                version=7, document='[[scan]]\ntargets = ["192.0.2.9"]\ninterval = "3s"\n'
            )
            assert service.keeper.offer(remote).outcome == "applied"  # type: ignore[union-attr]
    at = [(round(t - start, 1), target, kind) for t, target, kind in runs]
    assert at[:2] == [(0.0, "192.0.2.1", "discovery"), (0.5, "192.0.2.2", "discovery")]
    # Section 0 every 2 s on its grid (the second section's run does not shift it).
    assert (2.0, "192.0.2.1", "warm") in at and (4.0, "192.0.2.1", "warm") in at
    # Pushed at 4.2: the next due cycle (section 1's warm run at 5.0) runs the new section
    # instead, with a discovery, and then every 3 s; the old sections never run again.
    after = [entry for entry in at if entry[0] > 4.2]
    assert after == [
        (5.0, "192.0.2.9", "discovery"),
        (8.0, "192.0.2.9", "warm"),
        (11.0, "192.0.2.9", "warm"),
    ]
    assert service.keeper.version == 7 and service.cycle == len(at) - 1  # 0 and 0.5 were one cycle
    assert service.last is not None and (tmp_path / "status.json").exists()
    assert (tmp_path / "heartbeat.json").exists()
