"""The health check's I/O: read the pidfile, heartbeat and ``/proc``; stop and start the agent.

Synchronous on purpose: the health check is a short one-shot command (a systemd timer runs it
once a minute) that waits on other processes, not on sockets. The decisions are in
:mod:`printerhq.agent.health`; this module only observes and acts.

Two ways to restart (:class:`~printerhq.agent.health.Mode`):

- ``SYSTEMD``: ``systemctl restart UNIT``. systemd owns the process, its user and sandbox;
  with ``Type=notify`` the call returns once the new agent has sent ``READY=1``.
- ``DIRECT`` (containers, tests, no service manager): SIGTERM the old process (and SIGCONT, so
  a stopped one can act on it), SIGKILL after a grace period, then start the command recorded
  in the heartbeat in a new session, its output appended to ``agent.log`` beside the pidfile,
  and wait for its first heartbeat.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from printerhq.agent.health import (
    MAX_HEARTBEAT_BYTES,
    Heartbeat,
    HeartbeatError,
    Observation,
    ProcessState,
    decode_heartbeat,
    looks_like_agent,
    parse_pidfile,
    pid_to_check,
)

LOG_NAME = "agent.log"
MAX_LOG_BYTES = 10 << 20  # agent.log is moved to agent.log.1 at a restart beyond this
LOCK_NAME = "health-check.lock"
POLL = 0.1  # seconds between looks at a process or file we are waiting for
# Variables that tie a process to the service manager that started the health check; a
# detached agent must not answer to it.
SERVICE_VARIABLES = (
    "NOTIFY_SOCKET",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
    "LISTEN_FDS",
    "LISTEN_PID",
    "LISTEN_FDNAMES",
    "INVOCATION_ID",
)


class ReviveError(RuntimeError):
    """The agent could not be restarted; the message says why."""


# -- looking ----------------------------------------------------------------------------------
def process_state(pid: int, proc: Path = Path("/proc")) -> ProcessState:
    """Whether ``pid`` is alive and a printerhq agent (a zombie counts as gone)."""
    try:
        stat_line = (proc / str(pid) / "stat").read_bytes()
        cmdline = (proc / str(pid) / "cmdline").read_bytes()
    except FileNotFoundError:
        return ProcessState.GONE
    except ProcessLookupError:
        return ProcessState.GONE
    except PermissionError:
        return ProcessState.OTHER  # hidepid: not a process we may watch or touch
    # "pid (comm) S ...": comm may hold spaces and parentheses, the state follows the last ')'.
    state = stat_line.rpartition(b")")[2].split()[:1]
    if state in ([b"Z"], [b"X"], [b"x"]):
        return ProcessState.GONE
    args = [arg.decode("utf-8", "replace") for arg in cmdline.split(b"\0") if arg]
    return ProcessState.AGENT if looks_like_agent(args) else ProcessState.OTHER


def read_heartbeat(path: Path) -> tuple[Heartbeat | None, str | None]:
    """The heartbeat and, when the file exists but is unusable, why."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_HEARTBEAT_BYTES + 1)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"cannot read {path}: {exc.strerror or exc}"
    try:
        return decode_heartbeat(data), None
    except HeartbeatError as exc:
        return None, str(exc)


def read_pidfile(path: Path, now: float) -> tuple[int | None, float | None, str | None]:
    """(pid, seconds since it was written, problem) of the pidfile at ``path``."""
    try:
        with path.open("rb") as file:
            data = file.read(65)
            written = os.fstat(file.fileno()).st_mtime
    except FileNotFoundError:
        return None, None, None
    except OSError as exc:
        return None, None, f"cannot read {path}: {exc.strerror or exc}"
    try:
        return parse_pidfile(data), max(0.0, now - written), None
    except ValueError as exc:
        return None, None, f"{path}: {exc}"


def observe(
    pidfile: Path, heartbeat_path: Path, now: float | None = None
) -> tuple[Observation, list[str]]:
    """What the files and ``/proc`` say now, and the problems met on the way."""
    now = time.time() if now is None else now
    problems: list[str] = []
    pid, age, pid_problem = read_pidfile(pidfile, now)
    if pid_problem:
        problems.append(pid_problem)
    beat, beat_problem = read_heartbeat(heartbeat_path)
    target = pid_to_check(pid, beat)
    process = ProcessState.GONE if target is None else process_state(target)
    return Observation(
        now=now,
        pidfile_pid=pid,
        pidfile_age=age,
        process=process,
        heartbeat=beat,
        heartbeat_problem=beat_problem,
    ), problems


# -- acting -----------------------------------------------------------------------------------
def _signal(pid: int, signum: int) -> None:
    # Look again just before each signal: the process may have exited and its pid been reused
    # since we last looked.
    if process_state(pid) is ProcessState.AGENT:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while process_state(pid) is ProcessState.AGENT:
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL)
    return True


def stop_process(pid: int, grace: float) -> None:
    """SIGTERM (and SIGCONT: a stopped process cannot act on SIGTERM), SIGKILL after ``grace``."""
    _signal(pid, signal.SIGTERM)
    _signal(pid, signal.SIGCONT)
    if _wait_gone(pid, grace):
        return
    _signal(pid, signal.SIGKILL)
    if not _wait_gone(pid, 5.0):
        raise ReviveError(f"agent {pid} survived SIGKILL for 5s (uninterruptible sleep?)")


def check_trusted(path: Path) -> None:
    """Refuse to run a command from a file another user could have written.

    The direct restart runs the argv found in the heartbeat; if that file belonged to another
    user (the agent's, when the check runs as root), it would let that user run commands as us.
    """
    info = path.stat()
    if info.st_uid != os.geteuid():
        raise ReviveError(
            f"{path} belongs to uid {info.st_uid}, not to us (uid {os.geteuid()}): "
            f"refusing to run the command it names"
        )
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ReviveError(
            f"{path} is writable by group or others: refusing to run the command it names"
        )


def _open_log(log_path: Path) -> int:
    with contextlib.suppress(FileNotFoundError):
        if log_path.stat().st_size > MAX_LOG_BYTES:
            log_path.replace(log_path.with_name(log_path.name + ".1"))
    return os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)


def spawn_detached(command: list[str], cwd: str, log_path: Path) -> subprocess.Popen[bytes]:
    """Start ``command`` in a new session (no terminal, not in our process group, so it
    outlives us), stdin from /dev/null and output appended to ``log_path``."""
    env = {key: value for key, value in os.environ.items() if key not in SERVICE_VARIABLES}
    log = _open_log(log_path)
    try:
        with log_path.open("ab") as note:
            note.write(
                f"--- {time.strftime('%Y-%m-%dT%H:%M:%S%z')} health check starts: "
                f"{' '.join(command)}\n".encode()
            )
        return subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    except OSError as exc:
        raise ReviveError(f"cannot start {command[0]}: {exc.strerror or exc}") from None
    finally:
        os.close(log)


@dataclass(frozen=True)
class Started:
    pid: int
    heartbeat: Heartbeat | None  # its first heartbeat, None if none came within the wait


def wait_for_heartbeat(
    process: subprocess.Popen[bytes], heartbeat_path: Path, timeout: float
) -> Started:
    """Wait for the new agent's first heartbeat; :class:`ReviveError` if it exits first."""
    deadline = time.monotonic() + timeout
    while True:
        beat, _ = read_heartbeat(heartbeat_path)
        if beat is not None and beat.pid == process.pid:
            return Started(process.pid, beat)
        status = process.poll()
        if status is not None:
            raise ReviveError(
                f"the restarted agent exited at once with status {status}; "
                f"see {heartbeat_path.with_name(LOG_NAME)}"
            )
        if time.monotonic() >= deadline:
            return Started(process.pid, None)
        time.sleep(POLL)


@contextlib.contextmanager
def exclusive(lock_path: Path, timeout: float) -> Iterator[None]:
    """One direct restart at a time per state directory (a timer and a person may overlap)."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise
                if time.monotonic() >= deadline:
                    raise ReviveError(
                        f"another health check holds {lock_path} for more than {timeout:g}s"
                    ) from None
                time.sleep(POLL)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def systemctl_restart(unit: str, systemctl: str = "systemctl", timeout: float = 300.0) -> None:
    """``systemctl restart UNIT``; :class:`ReviveError` with systemctl's words if it fails."""
    try:
        done = subprocess.run(
            [systemctl, "restart", "--", unit],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise ReviveError(f"{systemctl} not found: is this a systemd machine?") from None
    except subprocess.TimeoutExpired:
        raise ReviveError(f"systemctl restart {unit} did not finish in {timeout:g}s") from None
    if done.returncode != 0:
        said = (done.stderr or done.stdout).decode("utf-8", "replace").strip()[-500:]
        raise ReviveError(f"systemctl restart {unit} failed (status {done.returncode}): {said}")
