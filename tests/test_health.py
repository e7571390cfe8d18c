"""The health check's decisions (pure) and its observations of real processes and files."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from printerhq.agent.health import (
    MAX_PID,
    Heartbeat,
    HeartbeatError,
    Observation,
    ProcessState,
    Verdict,
    assess,
    decode_heartbeat,
    encode_heartbeat,
    looks_like_agent,
    parse_pidfile,
    pid_to_check,
    restart_command,
)
from printerhq.agent.revive import observe, process_state
from printerhq.agent.site import SiteConfigError, read_site_settings, site_allows_health_check

NOW = 1_764_670_000.0
pids = st.integers(1, MAX_PID - 1)
args = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=40)
heartbeats = st.builds(
    Heartbeat,
    pid=pids,
    time=st.floats(0, 4e9),
    version=st.text(max_size=20),
    state=st.sampled_from(["starting", "running", "stopping"]),
    cycle=st.integers(0, 2**40),
    argv=st.lists(args, min_size=1, max_size=6),
    cwd=st.just("/").map(str) | args.map("/{}".format),
)
max_ages = st.floats(0.5, 3600)


def observation(
    *,
    pidfile_pid: int | None = 4242,
    pidfile_age: float | None = 100.0,
    process: ProcessState = ProcessState.AGENT,
    heartbeat: Heartbeat | None = None,
) -> Observation:
    return Observation(
        now=NOW,
        pidfile_pid=pidfile_pid,
        pidfile_age=pidfile_age,
        process=process,
        heartbeat=heartbeat,
    )


def beat(pid: int = 4242, age: float = 1.0, state: str = "running") -> Heartbeat:
    return Heartbeat(
        pid=pid,
        time=NOW - age,
        version="1.0",
        state=state,  # type: ignore[arg-type]
        cycle=7,
        argv=["/usr/bin/printerhq", "agent"],
        cwd="/",
    )


# -- the heartbeat and pidfile codecs -----------------------------------------------------------
@given(heartbeats)
def test_heartbeat_round_trips(heartbeat: Heartbeat) -> None:
    assert decode_heartbeat(encode_heartbeat(heartbeat)) == heartbeat


@given(
    st.binary(max_size=300)
    | heartbeats.map(msgspec.to_builtins).map(lambda d: msgspec.json.encode({**d, "pid": -1}))
)
def test_heartbeat_decoder_only_raises_heartbeat_error(data: bytes) -> None:
    try:
        decoded = decode_heartbeat(data)
    except HeartbeatError:
        return
    assert 1 <= decoded.pid < MAX_PID and decoded.cwd.startswith("/")


@pytest.mark.parametrize(
    "data",
    [
        b'{"pid": 5, "time": 1.0, "version": "v", "state": "dancing", "cycle": 0, "argv": ["x"], '
        b'"cwd": "/"}',
        b'{"pid": 5, "time": 1.0, "version": "v", "state": "running", "cycle": 0, "argv": [], '
        b'"cwd": "/"}',
        b'{"pid": 5, "time": 1.0, "version": "v", "state": "running", "cycle": 0, "argv": ["x"], '
        b'"cwd": "relative"}',
        b'{"pid": 0, "time": 1.0, "version": "v", "state": "running", "cycle": 0, "argv": ["x"], '
        b'"cwd": "/"}',
        b" " * (70 << 10),
    ],
)
def test_insane_heartbeats_are_refused(data: bytes) -> None:
    with pytest.raises(HeartbeatError):
        decode_heartbeat(data)


@given(pids, st.sampled_from(["", "\n", " \n"]))
def test_pidfile_round_trips(pid: int, tail: str) -> None:
    assert parse_pidfile(f"{pid}{tail}".encode()) == pid


@given(st.binary(max_size=80))
def test_pidfile_parser_is_total(data: bytes) -> None:
    try:
        pid = parse_pidfile(data)
    except ValueError:
        return
    assert 1 <= pid < MAX_PID


@pytest.mark.parametrize("data", [b"", b"0", b"-5", b"12abc", b"99999999", b"\xff", b"1" * 70])
def test_bad_pidfiles_are_refused(data: bytes) -> None:
    with pytest.raises(ValueError):
        parse_pidfile(data)


# -- assess ------------------------------------------------------------------------------------
@given(max_ages, st.data())
def test_fresh_heartbeat_of_a_live_agent_is_never_restarted(
    max_age: float, data: st.DataObject
) -> None:
    age = data.draw(st.floats(-max_age, max_age))
    state = data.draw(st.sampled_from(["starting", "running", "stopping"]))
    heartbeat = beat(age=age, state=state)
    assume(abs(NOW - heartbeat.time) <= max_age)  # the age as assess computes it, after rounding
    result = assess(observation(heartbeat=heartbeat), max_age)
    assert (
        result.verdict
        is {"starting": Verdict.STARTING, "running": Verdict.HEALTHY, "stopping": Verdict.STOPPING}[
            state
        ]
    )
    assert not result.verdict.needs_restart and result.pid == 4242


@given(max_ages, st.floats(0.001, 1e6), st.sampled_from(["starting", "running", "stopping"]))
def test_old_heartbeat_of_a_live_agent_is_stale(max_age: float, excess: float, state: str) -> None:
    for age in (max_age + excess, -(max_age + excess)):
        heartbeat = beat(age=age, state=state)
        assume(abs(NOW - heartbeat.time) > max_age)  # not lost to rounding
        result = assess(observation(heartbeat=heartbeat), max_age)
        assert result.verdict is Verdict.STALE and result.verdict.needs_restart


@given(max_ages, st.floats(-1e6, 1e6), st.floats(0, 1e6))
def test_staleness_is_monotonic_in_age(max_age: float, age: float, more: float) -> None:
    assume(age >= 0)
    first = assess(observation(heartbeat=beat(age=age)), max_age).verdict
    later = assess(observation(heartbeat=beat(age=age + more)), max_age).verdict
    if first is Verdict.STALE:
        assert later is Verdict.STALE


@given(st.sampled_from([ProcessState.GONE, ProcessState.OTHER]), st.none() | heartbeats, max_ages)
def test_a_pidfile_whose_process_is_gone_or_foreign_means_dead(
    process: ProcessState, heartbeat: Heartbeat | None, max_age: float
) -> None:
    result = assess(observation(process=process, heartbeat=heartbeat), max_age)
    assert result.verdict is Verdict.DEAD and result.pid == 4242


@given(st.sampled_from([ProcessState.GONE, ProcessState.OTHER]), heartbeats, max_ages)
def test_without_pidfile_only_a_clean_stop_is_respected(
    process: ProcessState, heartbeat: Heartbeat, max_age: float
) -> None:
    result = assess(
        observation(pidfile_pid=None, pidfile_age=None, process=process, heartbeat=heartbeat),
        max_age,
    )
    expected = Verdict.STOPPED if heartbeat.state == "stopping" else Verdict.DEAD
    assert result.verdict is expected and result.pid == heartbeat.pid


def test_nothing_at_all_is_absent_not_dead() -> None:
    result = assess(observation(pidfile_pid=None, pidfile_age=None, process=ProcessState.GONE), 30)
    assert result.verdict is Verdict.ABSENT and not result.verdict.needs_restart


@given(max_ages, st.floats(0, 1e6), st.none() | pids)
def test_a_live_agent_without_its_own_heartbeat_gets_max_age_to_start(
    max_age: float, since: float, other_pid: int | None
) -> None:
    assume(other_pid != 4242)
    heartbeat = None if other_pid is None else beat(pid=other_pid, age=0)
    result = assess(observation(pidfile_age=since, heartbeat=heartbeat), max_age)
    assert result.verdict is (Verdict.STARTING if since <= max_age else Verdict.STALE)


@given(
    st.none() | pids,
    st.none() | st.floats(0, 1e6),
    st.sampled_from(ProcessState),
    st.none() | heartbeats,
    max_ages,
)
def test_assess_is_total(
    pid: int | None,
    age: float | None,
    process: ProcessState,
    heartbeat: Heartbeat | None,
    max_age: float,
) -> None:
    result = assess(
        Observation(
            now=NOW, pidfile_pid=pid, pidfile_age=age, process=process, heartbeat=heartbeat
        ),
        max_age,
    )
    assert result.pid == pid_to_check(pid, heartbeat)
    assert result.reason


@pytest.mark.parametrize("max_age", [0, -1, float("nan"), float("inf")])
def test_absurd_max_age_is_refused(max_age: float) -> None:
    with pytest.raises(ValueError):
        assess(observation(), max_age)


# -- restart command and agent recognition -----------------------------------------------------
@given(st.lists(args, min_size=1, max_size=6), args)
def test_restart_command_keeps_the_arguments(argv: list[str], cwd: str) -> None:
    assume(not argv[0].startswith("-"))
    command = restart_command(argv, "/" + cwd, "/usr/bin/python3")
    assert command[len(command) - len(argv) + 1 :] == argv[1:]
    assert command[0].startswith("/")


def test_restart_command_forms() -> None:
    python = "/usr/bin/python3"
    assert restart_command(
        ["/opt/phq/bin/printerhq", "agent", "--config", "a.toml"], "/srv", python
    ) == ["/opt/phq/bin/printerhq", "agent", "--config", "a.toml"]
    assert restart_command(
        ["/v/lib/python3.11/site-packages/printerhq/__main__.py", "agent"], "/srv", python
    ) == [python, "-m", "printerhq", "agent"]
    assert restart_command(["bin/printerhq", "agent"], "/srv", python) == [
        "/srv/bin/printerhq",
        "agent",
    ]
    assert restart_command(["tool.py", "agent"], "/srv", python) == [
        python,
        "/srv/tool.py",
        "agent",
    ]
    for bad in ([], ["-c", "agent"], [""]):
        with pytest.raises(ValueError):
            restart_command(bad, "/srv", python)


@given(st.lists(args.filter(lambda a: "printerhq" not in a), max_size=5))
def test_only_printerhq_command_lines_are_agents(cmdline: list[str]) -> None:
    assert not looks_like_agent(cmdline)
    assert looks_like_agent([*cmdline, "/usr/bin/printerhq"])


# -- observing real processes and files --------------------------------------------------------
def test_process_state_of_real_processes() -> None:
    agent_like = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)", "printerhq", "agent"]
    )
    other = subprocess.Popen(["sleep", "30"])
    zombie = subprocess.Popen(["true"])
    try:
        deadline = time.monotonic() + 10
        while b"Z" not in Path(f"/proc/{zombie.pid}/stat").read_bytes().rpartition(b")")[2][:3]:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert process_state(agent_like.pid) is ProcessState.AGENT
        assert process_state(other.pid) is ProcessState.OTHER
        assert process_state(zombie.pid) is ProcessState.GONE  # exited, not yet reaped
        zombie.wait()
        assert process_state(zombie.pid) is ProcessState.GONE
    finally:
        for process in (agent_like, other, zombie):
            process.kill()
            process.wait()


def test_observe_reads_files_and_reports_problems(tmp_path: Path) -> None:
    pidfile, heartbeat = tmp_path / "agent.pid", tmp_path / "heartbeat.json"
    seen, problems = observe(pidfile, heartbeat)
    assert (seen.pidfile_pid, seen.heartbeat, problems) == (None, None, [])
    pidfile.write_text(f"{os.getpid()}\n")
    heartbeat.write_bytes(encode_heartbeat(beat(pid=os.getpid(), age=0)))
    seen, problems = observe(pidfile, heartbeat, now=time.time())
    assert seen.pidfile_pid == os.getpid() and seen.heartbeat is not None and not problems
    assert seen.pidfile_age is not None and 0 <= seen.pidfile_age < 60
    pidfile.write_text("garbage")
    heartbeat.write_text("{")
    seen, problems = observe(pidfile, heartbeat)
    assert seen.pidfile_pid is None and len(problems) == 1 and "garbage" in problems[0]
    assert seen.heartbeat is None and seen.heartbeat_problem and "JSON" in seen.heartbeat_problem


# -- what the site allows ----------------------------------------------------------------------
def test_site_settings(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text('[server]\nurl = "https://hq.example"\n')
    assert not site_allows_health_check(config)  # off unless switched on
    assert read_site_settings(config).state_dir == Path("/var/lib/printerhq")
    config.write_text('[site]\nhealth_check = true\n[agent]\nstate_dir = "/srv/phq"\n')
    assert site_allows_health_check(config)
    assert read_site_settings(config).state_dir == Path("/srv/phq")
    for text, key in (
        ('[site]\nhealth_check = "yes"\n', "site.health_check"),
        ("site = 3\n", "site"),
        ("[agent]\nstate_dir = 5\n", "agent.state_dir"),
        ("[site\n", "not valid TOML"),
    ):
        config.write_text(text)
        with pytest.raises(SiteConfigError, match=key):
            read_site_settings(config)
    with pytest.raises(SiteConfigError, match="cannot read"):
        read_site_settings(tmp_path / "missing.toml")
