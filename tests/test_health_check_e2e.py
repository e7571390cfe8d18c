"""``printerhq health-check`` against real agent processes: killed, stopped, forbidden to act.

Every process is a real one: the agent is started, SIGKILLed or SIGSTOPped, the health check
runs as ``python -m printerhq health-check`` in its own process, and the agent it starts again
is found through the pidfile and ``/proc``. No network traffic, no systemctl: the systemd path
runs a fake ``systemctl`` on a PATH that holds nothing else.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from printerhq.agent.health import ProcessState, decode_heartbeat
from printerhq.agent.revive import process_state
from tests.helpers_agent_e2e import idle_agent_toml

# The real agent, as a site runs it.
AGENT = [sys.executable, "-m", "printerhq", "agent"]

MAX_AGE = 3.0  # seconds; the agents below beat every 0.5 s
pytestmark = pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")


class Site:
    """A state directory, a configuration, and the agents started in them (all stopped at the
    end of the test, including those the health check started)."""

    def __init__(self, root: Path, *, health_check: bool = True) -> None:
        self.root = root
        self.state = root / "state"
        self.state.mkdir()
        self.pidfile = self.state / "agent.pid"
        self.heartbeat = self.state / "heartbeat.json"
        (root / "token").write_text("t0ken\n")
        self.config = root / "agent.toml"
        self.write_config(health_check)
        self.started: list[subprocess.Popen[bytes]] = []

    def write_config(self, health_check: bool) -> None:
        # A configuration the real agent accepts too: loopback only, nothing listening.
        self.config.write_text(
            idle_agent_toml(self.root, self.state, site={"health_check": health_check})
        )

    def start_agent(self) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [*AGENT, "--config", str(self.config), "--pidfile", str(self.pidfile)],
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.started.append(process)
        self.wait_heartbeat(process.pid, "running")
        return process

    def read_heartbeat(self) -> dict[str, object] | None:
        try:
            return json.loads(self.heartbeat.read_bytes())
        except (FileNotFoundError, ValueError):
            return None

    def wait_heartbeat(
        self, pid: int, state: str = "running", timeout: float = 20.0
    ) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            beat = self.read_heartbeat()
            if beat and beat["pid"] == pid and beat["state"] == state:
                return beat
            time.sleep(0.05)
        raise AssertionError(
            f"no {state} heartbeat from {pid} in {timeout}s: {self.read_heartbeat()}"
        )

    def health_check(
        self, *extra: str, env: dict[str, str] | None = None
    ) -> tuple[int, dict[str, object]]:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "printerhq",
                "health-check",
                "--pidfile",
                str(self.pidfile),
                "--config",
                str(self.config),
                "--max-age",
                str(MAX_AGE),
                "--grace",
                "3",
                "--wait",
                "20",
                "--json",
                *extra,
            ],
            capture_output=True,
            timeout=60,
            env=env,
            check=False,
        )
        assert done.stderr == b"", done.stderr.decode()
        return done.returncode, json.loads(done.stdout)

    def stop_all(self) -> None:
        """SIGKILL every process whose command line names this site's configuration: the
        agents started here and any the health check started (a pid alone could be reused)."""
        for pid in _pids_with(str(self.config)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for process in self.started:
            process.wait(timeout=10)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    made = Site(tmp_path)
    try:
        yield made
    finally:
        made.stop_all()


def _pidfile_pid(site: Site) -> int:
    return int(site.pidfile.read_text())


def _assert_new_agent(site: Site, old_pid: int, new_pid: int) -> None:
    assert new_pid != old_pid
    assert _pidfile_pid(site) == new_pid
    assert process_state(new_pid) is ProcessState.AGENT
    beat = decode_heartbeat(site.heartbeat.read_bytes())
    assert beat.pid == new_pid
    assert time.time() - beat.time < MAX_AGE
    # And it keeps beating: a later heartbeat from the same process.
    site.wait_heartbeat(new_pid, "running")
    later = decode_heartbeat(site.heartbeat.read_bytes())
    deadline = time.monotonic() + 5
    while later.time <= beat.time and time.monotonic() < deadline:
        time.sleep(0.1)
        later = decode_heartbeat(site.heartbeat.read_bytes())
    assert later.pid == new_pid and later.time > beat.time


def test_healthy_agent_is_left_alone(site: Site) -> None:
    agent = site.start_agent()
    code, report = site.health_check()
    assert (code, report["verdict"], report["action"]) == (0, "healthy", "none")
    assert report["pid"] == agent.pid and agent.poll() is None
    # The pidfile found through [agent] state_dir, and the words for people.
    done = subprocess.run(
        [sys.executable, "-m", "printerhq", "health-check", "--config", str(site.config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and done.stdout.startswith(
        f"health-check: healthy: agent {agent.pid} running"
    ), done.stdout


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--pidfile", "p", "--max-age", "0"],
        ["--pidfile", "p", "--max-age", "nan"],
        ["--pidfile", "p", "--unit", "a/b"],
        ["--config", "/nonexistent/agent.toml"],
    ],
)
def test_usage_and_configuration_errors_exit_2(tmp_path: Path, args: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "printerhq", "health-check", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 2 and done.stderr and "Traceback" not in done.stderr


def test_killed_agent_is_restarted(site: Site) -> None:
    agent = site.start_agent()
    os.kill(agent.pid, signal.SIGKILL)
    agent.wait(timeout=10)
    code, report = site.health_check()
    assert (code, report["verdict"], report["action"]) == (1, "dead", "restarted"), report
    _assert_new_agent(site, agent.pid, int(report["new_pid"]))  # type: ignore[call-overload]
    # The restarted agent was started in the recorded cwd, its output in the state dir's log.
    assert Path(f"/proc/{report['new_pid']}/cwd").resolve() == site.root.resolve()
    assert "health check starts" in (site.state / "agent.log").read_text()
    # A second look finds it healthy.
    code, report = site.health_check()
    assert (code, report["verdict"]) == (0, "healthy")


def test_stopped_agent_is_stale_and_replaced(site: Site) -> None:
    agent = site.start_agent()
    os.kill(agent.pid, signal.SIGSTOP)
    time.sleep(MAX_AGE + 0.5)
    code, report = site.health_check()
    assert (code, report["verdict"], report["action"]) == (1, "stale", "restarted"), report
    # SIGTERM + SIGCONT let the stopped agent shut down cleanly (status 0, not -9).
    assert agent.wait(timeout=10) == 0
    _assert_new_agent(site, agent.pid, int(report["new_pid"]))  # type: ignore[call-overload]


def test_site_that_disallows_gets_a_report_only(site: Site) -> None:
    site.write_config(health_check=False)
    agent = site.start_agent()
    os.kill(agent.pid, signal.SIGKILL)
    agent.wait(timeout=10)
    before = site.heartbeat.read_bytes()
    code, report = site.health_check()
    assert (code, report["verdict"], report["allowed"], report["action"]) == (
        0,
        "dead",
        False,
        "none",
    )
    time.sleep(1.0)  # a started agent would have beaten twice by now
    assert site.heartbeat.read_bytes() == before
    assert _pidfile_pid(site) == agent.pid
    # --restart does not override the site's decision.
    code, report = site.health_check("--restart")
    assert (code, report["action"]) == (0, "none")


def test_clean_stop_is_respected(site: Site) -> None:
    agent = site.start_agent()
    agent.send_signal(signal.SIGTERM)
    assert agent.wait(timeout=10) == 0
    code, report = site.health_check()
    assert (code, report["verdict"], report["action"]) == (0, "stopped", "none")
    assert not site.pidfile.exists()


def test_restart_that_fails_exits_3(site: Site) -> None:
    # A heartbeat whose recorded command exits at once, from a process that is gone.
    gone = subprocess.Popen(["true"])
    gone.wait()
    site.pidfile.write_text(f"{gone.pid}\n")
    site.heartbeat.write_text(
        json.dumps(
            {
                "pid": gone.pid,
                "time": time.time() - 100,
                "version": "x",
                "state": "running",
                "cycle": 3,
                "argv": ["/bin/false", "agent"],
                "cwd": str(site.root),
            }
        )
    )
    code, report = site.health_check()
    assert (code, report["verdict"], report["action"]) == (3, "dead", "failed"), report
    assert "exited at once with status 1" in str(report["error"])


def test_heartbeat_writable_by_others_is_not_obeyed(site: Site) -> None:
    agent = site.start_agent()
    os.kill(agent.pid, signal.SIGKILL)
    agent.wait(timeout=10)
    site.heartbeat.chmod(0o666)
    code, report = site.health_check()
    assert (code, report["action"]) == (3, "failed")
    assert "writable by group or others" in str(report["error"])


def _fake_systemctl(directory: Path, status: int) -> Path:
    log = directory / "systemctl.log"
    script = directory / "systemctl"
    script.write_text(
        f'#!/bin/sh\necho "$@" >> {log}\n'
        f"[ {status} -eq 0 ] || echo 'Job failed.' >&2\nexit {status}\n"
    )
    script.chmod(0o755)
    return log


@pytest.mark.parametrize(("status", "code", "action"), [(0, 1, "restarted"), (1, 3, "failed")])
def test_systemd_mode_asks_systemctl(
    site: Site, tmp_path: Path, status: int, code: int, action: str
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = _fake_systemctl(bin_dir, status)
    agent = site.start_agent()
    os.kill(agent.pid, signal.SIGKILL)
    agent.wait(timeout=10)
    # PATH holds the fake systemctl and nothing else: the real one cannot be reached.
    env = {**os.environ, "PATH": str(bin_dir)}
    got, report = site.health_check("--unit", "printerhq-agent", env=env)
    assert (got, report["verdict"], report["mode"], report["action"]) == (
        code,
        "dead",
        "systemd",
        action,
    )
    assert log.read_text() == "restart -- printerhq-agent.service\n"


def test_two_checks_at_once_start_one_agent(site: Site) -> None:
    agent = site.start_agent()
    os.kill(agent.pid, signal.SIGKILL)
    agent.wait(timeout=10)
    command = [
        sys.executable,
        "-m",
        "printerhq",
        "health-check",
        "--pidfile",
        str(site.pidfile),
        "--config",
        str(site.config),
        "--max-age",
        str(MAX_AGE),
        "--wait",
        "20",
        "--json",
    ]
    checks = [subprocess.Popen(command, stdout=subprocess.PIPE) for _ in range(2)]
    reports = [json.loads(check.communicate(timeout=60)[0]) for check in checks]
    assert sorted(report["exit"] for report in reports) == [0, 1], reports
    restarted = next(report for report in reports if report["exit"] == 1)
    _assert_new_agent(site, agent.pid, int(restarted["new_pid"]))
    # Exactly one new agent: no other process runs with this site's configuration.
    assert _pids_with(str(site.config)) == [restarted["new_pid"]]


def _pids_with(text: str) -> list[int]:
    """Live processes (zombies excluded: empty command line) whose command line holds text."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                cmdline = Path(f"/proc/{name}/cmdline").read_bytes()
            except OSError:
                continue
            if text.encode() in cmdline:
                found.append(int(name))
    return found
