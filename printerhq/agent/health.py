"""Is the agent alive and working? The health check's decisions, without I/O.

The agent leaves two files in its state directory (the contract with ``printerhq agent``):

- ``agent.pid``: its process id, removed on a clean exit;
- ``heartbeat.json``: rewritten atomically at least every 5 s and after each cycle,
  ``{"pid", "time", "version", "state", "cycle", "argv", "cwd"}``.

The shell (:mod:`printerhq.agent.revive`) reads those files and ``/proc`` into an
:class:`Observation`; :func:`assess` turns it into a :class:`Verdict`. Only ``DEAD`` and
``STALE`` call for a restart: an agent that stopped cleanly (pidfile gone, last heartbeat
``stopping``) was stopped on purpose, and one that never ran here is not ours to start.

A process id alone proves little: after a crash the kernel may give the number to another
program, so a process counts as the agent only if its command line names printerhq
(:func:`looks_like_agent`) -- otherwise the health check would report a stranger as healthy,
or kill it.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Annotated, Literal

import msgspec

# Linux caps pid_max at 2**22 (PID_MAX_LIMIT in include/linux/threads.h).
MAX_PID = 1 << 22
MAX_HEARTBEAT_BYTES = 64 << 10
MAX_ARGS = 256
MAX_ARG_CHARS = 4096

_Arg = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ARG_CHARS)]


class HeartbeatError(ValueError):
    """The heartbeat file is not one the agent could have written."""


class Heartbeat(msgspec.Struct, forbid_unknown_fields=False, frozen=True):
    """What the agent says about itself. Unknown keys are allowed: a newer agent may say more."""

    pid: Annotated[int, msgspec.Meta(ge=1, lt=MAX_PID)]
    time: Annotated[float, msgspec.Meta(ge=0)]  # time.time() when written
    version: Annotated[str, msgspec.Meta(max_length=128)]
    state: Literal["starting", "running", "stopping"]
    cycle: Annotated[int, msgspec.Meta(ge=0)]
    argv: Annotated[list[_Arg], msgspec.Meta(min_length=1, max_length=MAX_ARGS)]
    cwd: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ARG_CHARS)]


def decode_heartbeat(data: bytes) -> Heartbeat:
    """The heartbeat in ``data``; :class:`HeartbeatError` says what is wrong with it."""
    if len(data) > MAX_HEARTBEAT_BYTES:
        raise HeartbeatError(f"larger than {MAX_HEARTBEAT_BYTES} bytes")
    try:
        heartbeat = msgspec.json.decode(data, type=Heartbeat)
    except msgspec.ValidationError as exc:
        raise HeartbeatError(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise HeartbeatError(f"not JSON: {exc}") from None
    if not math.isfinite(heartbeat.time):
        raise HeartbeatError(f"time is not a finite number: {heartbeat.time!r}")
    if not heartbeat.cwd.startswith("/"):
        raise HeartbeatError(f"cwd is not an absolute path: {heartbeat.cwd!r}")
    return heartbeat


def encode_heartbeat(heartbeat: Heartbeat) -> bytes:
    return msgspec.json.encode(heartbeat)


def parse_pidfile(data: bytes) -> int:
    """The process id in a pidfile (decimal, optional surrounding whitespace)."""
    text = data[:64].decode("ascii", "replace").strip()
    if not text.isdigit() or len(data) > 64:
        raise ValueError(f"not a process id: {data[:32]!r}")
    pid = int(text)
    if not 1 <= pid < MAX_PID:
        raise ValueError(f"process id {pid} is out of range")
    return pid


def looks_like_agent(cmdline: list[str]) -> bool:
    """Whether a process with this command line (``/proc/PID/cmdline``) is a printerhq agent.

    ``printerhq agent ...``, ``python -m printerhq agent ...`` and ``/opt/x/bin/printerhq agent``
    all name printerhq in some argument; a zombie or a kernel thread has an empty command line.
    """
    return any("printerhq" in arg for arg in cmdline)


def pid_to_check(pidfile_pid: int | None, heartbeat: Heartbeat | None) -> int | None:
    """The process to look at: the pidfile's, else the last heartbeat's."""
    if pidfile_pid is not None:
        return pidfile_pid
    return heartbeat.pid if heartbeat is not None else None


class ProcessState(enum.Enum):
    AGENT = "agent"  # alive, and its command line is printerhq's
    OTHER = "other"  # alive, but another program (the pid was reused)
    GONE = "gone"  # no such process, or a zombie


@dataclass(frozen=True)
class Observation:
    """What the shell saw, at ``now`` (time.time()). ``process`` is the state of
    :func:`pid_to_check` (``GONE`` when there is no pid at all)."""

    now: float
    pidfile_pid: int | None
    pidfile_age: float | None  # seconds since the pidfile was written (None: no pidfile)
    process: ProcessState
    heartbeat: Heartbeat | None
    heartbeat_problem: str | None = None  # why an existing heartbeat file was not usable


class Verdict(enum.Enum):
    HEALTHY = "healthy"  # alive, fresh heartbeat, running
    STARTING = "starting"  # alive, starting (or no heartbeat yet, within max-age of its start)
    STOPPING = "stopping"  # alive, shutting down, still beating
    STOPPED = "stopped"  # exited cleanly: pidfile removed, last heartbeat "stopping"
    ABSENT = "absent"  # no pidfile and no heartbeat: no agent has run here
    DEAD = "dead"  # the process is gone (or the pid belongs to another program)
    STALE = "stale"  # alive, but its heartbeat is older than max-age (hung, or stopped)

    @property
    def needs_restart(self) -> bool:
        return self in (Verdict.DEAD, Verdict.STALE)


@dataclass(frozen=True)
class Assessment:
    verdict: Verdict
    reason: str
    pid: int | None
    heartbeat_age: float | None  # seconds; None without a heartbeat of this process


def assess(observation: Observation, max_age: float) -> Assessment:
    """The verdict on ``observation``: a heartbeat older than ``max_age`` seconds is stale."""
    if not (math.isfinite(max_age) and max_age > 0):
        raise ValueError(f"max_age must be a positive number of seconds, not {max_age!r}")
    beat = observation.heartbeat
    pid = pid_to_check(observation.pidfile_pid, beat)
    if pid is None:
        why = "no pidfile and no heartbeat"
        if observation.heartbeat_problem:
            why += f" (heartbeat unusable: {observation.heartbeat_problem})"
        return Assessment(Verdict.ABSENT, why, None, None)

    if observation.process is not ProcessState.AGENT:
        if observation.pidfile_pid is None and beat is not None and beat.state == "stopping":
            return Assessment(Verdict.STOPPED, f"agent {pid} exited cleanly", pid, None)
        if observation.process is ProcessState.OTHER:
            why = f"process {pid} is not a printerhq agent (the pid was reused)"
        else:
            why = f"process {pid} is gone"
        if observation.pidfile_pid is None:
            why += " and its pidfile was removed without a clean stop"
        return Assessment(Verdict.DEAD, why, pid, None)

    if beat is None or beat.pid != pid:
        # No heartbeat from this process yet: give it max_age from the pidfile's birth.
        started = observation.pidfile_age
        if started is not None and started <= max_age:
            return Assessment(
                Verdict.STARTING,
                f"agent {pid} started {started:.1f}s ago, no heartbeat yet",
                pid,
                None,
            )
        why = f"agent {pid} is running but has written no heartbeat"
        if started is not None:
            why += f" in {started:.1f}s"
        if observation.heartbeat_problem:
            why += f" (heartbeat unusable: {observation.heartbeat_problem})"
        return Assessment(Verdict.STALE, why, pid, None)

    age = observation.now - beat.time
    if age > max_age:
        return Assessment(
            Verdict.STALE,
            f"agent {pid}: last heartbeat {age:.1f}s ago (max {max_age:g}s)",
            pid,
            age,
        )
    if age < -max_age:
        # The agent rewrites it every few seconds with its own clock, so a time this far
        # ahead means no rewrite since the clock stepped back: as good as stale.
        return Assessment(
            Verdict.STALE,
            f"agent {pid}: heartbeat dated {-age:.1f}s in the future (clock stepped back?)",
            pid,
            age,
        )
    verdict = {
        "starting": Verdict.STARTING,
        "running": Verdict.HEALTHY,
        "stopping": Verdict.STOPPING,
    }[beat.state]
    return Assessment(
        verdict,
        f"agent {pid} {beat.state}, cycle {beat.cycle}, heartbeat {max(age, 0.0):.1f}s ago",
        pid,
        age,
    )


def restart_command(argv: list[str], cwd: str, python: str) -> list[str]:
    """The command that starts the agent again, from its recorded ``sys.argv`` and cwd.

    ``sys.argv[0]`` is the console script (``/opt/x/bin/printerhq``), or for ``python -m
    printerhq`` the package's ``__main__.py``, which must run as a module again (run as a
    script, ``printerhq/http.py`` would shadow the standard ``http``). The interpreter for
    those is ``python`` (the health check's own: the heartbeat does not record one).
    """
    if not argv or not argv[0] or argv[0].startswith("-"):
        raise ValueError(f"cannot restart from argv {argv[:2]!r}: no program path")
    if not cwd.startswith("/"):
        raise ValueError(f"cwd {cwd!r} is not absolute")
    first = PurePosixPath(argv[0])
    program = first if first.is_absolute() else PurePosixPath(cwd) / first
    if program.name == "__main__.py" and program.parent.name == "printerhq":
        return [python, "-m", "printerhq", *argv[1:]]
    if program.suffix == ".py":
        return [python, str(program), *argv[1:]]
    return [str(program), *argv[1:]]


class Mode(enum.Enum):
    SYSTEMD = "systemd"  # systemctl restart UNIT
    DIRECT = "direct"  # stop the process ourselves and start it again detached


ExitCode = Literal[0, 1, 2, 3]
EXIT_HEALTHY: ExitCode = 0  # healthy, or nothing to do (also: not allowed to act)
EXIT_RESTARTED: ExitCode = 1
EXIT_USAGE: ExitCode = 2  # bad options or configuration
EXIT_RESTART_FAILED: ExitCode = 3
