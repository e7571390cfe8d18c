"""The update state machine, sans-IO: what to do with a release, how to judge a trial, what the
agent must remember across restarts. ``printerhq.agent.update`` does the I/O around it.

States of one release on one agent (docs/agent.md, "Updates")::

    published ──verify──> refused (unsigned | signature | manifest | tampered | downgrade | ...)
        │
        └──> installing ──> trial ──passed──> switched (pending) ──confirm──> current
                   │            │                    │
                   └─failed─────┴──failed──> bad     └──too many boots──> rolled back, bad

``bad`` versions are never retried. ``pending`` survives restarts in ``state.json`` so a new
version that passed its trial but cannot start again after the switch is rolled back at the
next start (``on_start``).
"""

from __future__ import annotations

import msgspec

MAX_BAD = 100  # remembered failed versions (oldest forgotten first)
MAX_BOOTS = 3  # starts of a switched version without a confirmed cycle before rolling back
MAX_HEARTBEAT_BYTES = 64 << 10


class Pending(msgspec.Struct, kw_only=True):
    """A switch not yet confirmed: ``version`` runs from ``current``; ``previous`` is the
    environment ``current`` pointed to before (the directory, for the rollback)."""

    version: str
    previous: str
    switched_at: float
    boots: int = 0


class UpdateState(msgspec.Struct, kw_only=True):
    """``<install_root>/state.json``."""

    bad: list[str] = msgspec.field(default_factory=list)
    pending: Pending | None = None
    last: str = ""  # the last outcome, for people: "installed 0.2.0", "refused 0.3.0: downgrade"

    def mark_bad(self, version: str) -> None:
        if version not in self.bad:
            self.bad = [*self.bad, version][-MAX_BAD:]


def decode_state(data: bytes) -> UpdateState:
    """A damaged state file must not stop the agent: start over (forgetting only bad versions)."""
    try:
        return msgspec.json.decode(data, type=UpdateState)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return UpdateState()


def encode_state(state: UpdateState) -> bytes:
    return msgspec.json.encode(state)


# -- start and confirmation after a switch -----------------------------------------------------
class StartDecision(msgspec.Struct, frozen=True):
    """``action``: ``none``, ``wait`` (a switched version starting: confirm after a good cycle)
    or ``rollback`` (point ``current`` back at ``previous`` and restart from it)."""

    action: str
    reason: str = ""


def on_start(state: UpdateState, running: str, *, max_boots: int = MAX_BOOTS) -> StartDecision:
    """Called once when an agent starts. Counts the starts of a switched, unconfirmed version;
    past ``max_boots`` it has had its chances: roll back."""
    pending = state.pending
    if pending is None:
        return StartDecision("none")
    if pending.version != running:
        # Someone started another environment by hand: the switch is not ours to judge now.
        return StartDecision("none", f"pending {pending.version} but {running} is running")
    pending.boots += 1
    if pending.boots > max_boots:
        return StartDecision(
            "rollback",
            f"{running} started {pending.boots - 1} times after the switch "
            "without a confirmed cycle",
        )
    return StartDecision("wait")


def confirm(state: UpdateState, running: str) -> bool:
    """A good cycle on the switched version: the switch is final. True when it was pending."""
    if state.pending is None or state.pending.version != running:
        return False
    state.pending = None
    state.last = f"installed {running}"
    return True


# -- judging a trial run -------------------------------------------------------------------------
class Heartbeat(msgspec.Struct, kw_only=True):
    """The agent's heartbeat file, as much of it as the judge needs (unknown fields ignored, so
    this reads every version's heartbeat)."""

    pid: int
    time: float
    version: str
    state: str = ""
    cycle: int = 0


def decode_heartbeat(data: bytes) -> Heartbeat | None:
    if len(data) > MAX_HEARTBEAT_BYTES:
        return None
    try:
        return msgspec.json.decode(data, type=Heartbeat)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None  # half-written or from something else: not yet a sign of life


class Verdict(msgspec.Struct, frozen=True):
    """``state``: ``waiting``, ``passed`` or ``failed`` (with the reason)."""

    state: str
    reason: str = ""


class TrialJudge:
    """Has the new version come up? It has when its own process (``pid``) reports its own
    ``version`` in a heartbeat written after the trial started, with at least ``min_cycles``
    good cycles, before ``deadline``. Exiting first, or the deadline, is a failure."""

    BAD_STATES = frozenset({"error", "failed", "stopping"})

    def __init__(self, version: str, started: float, deadline: float, *, min_cycles: int = 1):
        self.version = version
        self.started = started
        self.deadline = deadline
        self.min_cycles = min_cycles

    def healthy(self, beat: Heartbeat | None, pid: int) -> bool:
        return (
            beat is not None
            and beat.pid == pid
            and beat.version == self.version
            and beat.time >= self.started
            and beat.cycle >= self.min_cycles
            and beat.state not in self.BAD_STATES
        )

    def observe(
        self, now: float, beat: Heartbeat | None, pid: int, exit_code: int | None
    ) -> Verdict:
        if self.healthy(beat, pid) and exit_code in (None, 0):
            return Verdict("passed")
        if exit_code is not None:
            return Verdict(
                "failed", f"the new version exited with code {exit_code} before a good cycle"
            )
        if now >= self.deadline:
            seen = (
                "no heartbeat"
                if beat is None
                else f"last heartbeat {beat.version} cycle {beat.cycle} state {beat.state!r}"
            )
            return Verdict(
                "failed", f"no good cycle within {self.deadline - self.started:.0f}s ({seen})"
            )
        return Verdict("waiting")
