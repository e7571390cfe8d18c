"""What is due when: a sans-IO schedule of warm and discovery cycles per ``[[scan]]`` section.

Pure arithmetic on times the caller passes in (trio's clock in the agent, any numbers in tests):
``next_time()`` says when to wake, ``due(now)`` what to run then, ``done(job, now)`` records a
finished run. A discovery run covers the warm collection of the same section (the engine
collects known printers warm on the way), so it also resets that section's warm timer.

Cadence is fixed-rate: the next run is planned from the previous *planned* time, so cycles do
not drift by their own duration; a run that overran whole periods skips them rather than firing
a burst (as cron and systemd timers without ``Persistent=`` do).

Jitter: agents installed together (one image, one boot) would otherwise all scan and upload at
the same second. Each agent's first run waits a random 0..``jitter`` seeded by its name, so one
agent keeps its phase across restarts while a fleet spreads out; bounded by the interval.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

Kind = Literal["warm", "discovery"]

# Times within this of ``now`` count as due: sums of float periods drift by ulps, and a warm run
# a picosecond before the discovery it belongs with must not become a run of its own.
EPSILON = 1e-3


@dataclass(frozen=True)
class Job:
    section: int
    kind: Kind


@dataclass
class _Timers:
    interval: float
    discovery_interval: float
    next_warm: float
    next_discovery: float


def jitter_offset(seed: str, jitter: float, interval: float) -> float:
    """A stable offset in ``[0, min(jitter, interval))`` for the agent named ``seed``."""
    bound = max(0.0, min(jitter, interval))
    return random.Random(seed).random() * bound


class Schedule:
    """``sections`` are ``(interval, discovery_interval)`` pairs in seconds (interval > 0)."""

    def __init__(
        self,
        sections: list[tuple[float, float]],
        start: float,
        *,
        seed: str = "",
        jitter: float = 0.0,
    ):
        self._timers: list[_Timers] = []
        for interval, discovery in sections:
            if not interval > 0 or not discovery >= interval:
                raise ValueError("need 0 < interval <= discovery_interval")
            first = start + jitter_offset(seed, jitter, interval)
            # The first run of a section is a discovery: nothing is known yet (or the memory in
            # the state dir is from another configuration); the engine stays warm for printers
            # the memory already knows.
            self._timers.append(_Timers(interval, discovery, first, first))

    def __len__(self) -> int:
        return len(self._timers)

    def next_time(self) -> float:
        """When the next job is due (``inf`` with no sections)."""
        return min((min(t.next_warm, t.next_discovery) for t in self._timers), default=float("inf"))

    def due(self, now: float) -> list[Job]:
        """Jobs due at ``now``, one per section at most, discovery preferred over warm."""
        jobs = []
        for index, t in enumerate(self._timers):
            if t.next_discovery <= now + EPSILON:
                jobs.append(Job(index, "discovery"))
            elif t.next_warm <= now + EPSILON:
                jobs.append(Job(index, "warm"))
        return jobs

    def next_job(self, now: float, ran: set[int]) -> Job | None:
        """The next job of a cycle: due at ``now``, of a section not in ``ran`` (the sections
        this cycle already ran). Asked afresh after each job, so a job that ran long does not
        leave a stale warm run in front of a discovery that fell due meanwhile; each section
        runs at most once per cycle, so a cycle ends even when every run overruns."""
        return next((job for job in self.due(now) if job.section not in ran), None)

    def done(self, job: Job, now: float) -> None:
        """Record that ``job`` finished at ``now``: plan its section's next runs."""
        t = self._timers[job.section]
        t.next_warm = _advance(t.next_warm, t.interval, now)
        if job.kind == "discovery":
            t.next_discovery = _advance(t.next_discovery, t.discovery_interval, now)


def _advance(planned: float, period: float, now: float) -> float:
    """The first ``planned + k * period`` (k >= 1) clearly after ``now``."""
    if planned > now + EPSILON:
        return planned  # not due yet (a discovery ran ahead of this warm run)
    missed = max(0, int((now - planned) // period))
    planned += (missed + 1) * period
    while planned <= now + EPSILON:  # rounding put it (almost) at now: that run is done
        planned += period
    return planned
