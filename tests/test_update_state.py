"""The sans-IO update state machine: trial verdicts, restarts after a switch, the state file."""

from __future__ import annotations

import msgspec

from printerhq.agent import update_state as us


def beat(**kw) -> us.Heartbeat:
    fields = dict(pid=42, time=1000.5, version="0.2.0", state="running", cycle=1)
    fields.update(kw)
    return us.Heartbeat(**fields)


def test_trial_passes_only_on_the_new_versions_own_good_cycle() -> None:
    judge = us.TrialJudge("0.2.0", started=1000.0, deadline=1060.0)
    assert judge.observe(1001, None, 42, None).state == "waiting"
    assert judge.observe(1001, beat(), 42, None).state == "passed"
    assert judge.observe(1001, beat(), 42, 0).state == "passed"  # one cycle, then a clean exit
    for stale in (
        beat(version="0.1.0"),
        beat(pid=41),
        beat(time=999.0),
        beat(cycle=0),
        beat(state="error"),
    ):
        assert judge.observe(1001, stale, 42, None).state == "waiting", stale


def test_trial_fails_on_exit_or_deadline() -> None:
    judge = us.TrialJudge("0.2.0", started=1000.0, deadline=1060.0)
    exited = judge.observe(1001, None, 42, 1)
    assert exited.state == "failed" and "code 1" in exited.reason
    assert judge.observe(1001, beat(), 42, 3).state == "failed"  # healthy beat, but it crashed
    late = judge.observe(1060, beat(cycle=0), 42, None)
    assert late.state == "failed" and "within 60s" in late.reason and "cycle 0" in late.reason


def test_restarts_after_a_switch_roll_back_past_the_limit() -> None:
    state = us.UpdateState(pending=us.Pending(version="0.2.0", previous="/old", switched_at=1.0))
    for _ in range(us.MAX_BOOTS):
        assert us.on_start(state, "0.2.0").action == "wait"
    assert us.on_start(state, "0.2.0").action == "rollback"


def test_confirm_ends_the_pending_switch() -> None:
    state = us.UpdateState(pending=us.Pending(version="0.2.0", previous="/old", switched_at=1.0))
    assert not us.confirm(state, "0.1.0")  # not the switched version
    assert us.on_start(state, "0.1.0").action == "none"
    assert us.confirm(state, "0.2.0")
    assert state.pending is None and state.last == "installed 0.2.0"
    assert us.on_start(state, "0.2.0").action == "none"
    assert not us.confirm(state, "0.2.0")


def test_state_file_round_trip_and_damage() -> None:
    state = us.UpdateState()
    for i in range(us.MAX_BAD + 5):
        state.mark_bad(f"0.{i}.0")
    state.mark_bad(f"0.{us.MAX_BAD + 4}.0")
    assert len(state.bad) == us.MAX_BAD and state.bad[0] == "0.5.0"
    assert us.decode_state(us.encode_state(state)) == state
    assert us.decode_state(b"\x00garbage") == us.UpdateState()
    assert us.decode_heartbeat(b"{") is None
    assert us.decode_heartbeat(b" " * (us.MAX_HEARTBEAT_BYTES + 1)) is None
    extra = msgspec.json.encode({**msgspec.to_builtins(beat()), "argv": ["x"], "cwd": "/"})
    assert us.decode_heartbeat(extra) == beat()
