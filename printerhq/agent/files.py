"""Files the agent keeps in its state dir for people and for ``printerhq health-check``.

* ``agent.pid``: the process id (``--pidfile``), removed on a clean exit.
* ``heartbeat.json``: rewritten at least every 5 s and after each cycle::

      {"pid": 4242, "time": 1764670000.5, "version": "0.9.0", "state": "running",
       "cycle": 12, "argv": ["/usr/bin/printerhq", "agent", "--config", "..."], "cwd": "/"}

  ``state`` is ``starting``, ``running`` or ``stopping``; ``time`` is unix time.
* ``status.json``: the last cycle (:class:`printerhq.control.CycleStatus`, JSON).

Every write is atomic (a temporary file in the same directory, fsync, rename: POSIX rename(2)
replaces the target in one step), so a reader never sees half a file.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import msgspec

from printerhq.atomicfile import write_atomic
from printerhq.control import AgentState, CycleStatus

HEARTBEAT = "heartbeat.json"
STATUS = "status.json"
PIDFILE = "agent.pid"


class Heartbeat(msgspec.Struct, forbid_unknown_fields=True):
    pid: int
    time: float
    version: str
    state: AgentState
    cycle: int
    argv: list[str]
    cwd: str


def write_heartbeat(
    state_dir: Path, version: str, state: AgentState, cycle: int, *, path: Path | None = None
) -> Heartbeat:
    """``<state_dir>/heartbeat.json``, or ``path`` (an update trial's heartbeat)."""
    beat = Heartbeat(
        pid=os.getpid(),
        time=time.time(),
        version=version,
        state=state,
        cycle=cycle,
        argv=list(sys.argv),
        cwd=os.getcwd(),
    )
    # No fsync: a heartbeat lost in a power cut is harmless, and it is written every 5 s.
    write_atomic(path or state_dir / HEARTBEAT, msgspec.json.encode(beat), sync=False)
    return beat


def read_heartbeat(state_dir: Path) -> Heartbeat:
    return msgspec.json.decode((state_dir / HEARTBEAT).read_bytes(), type=Heartbeat)


def write_status(
    state_dir: Path, status: CycleStatus, *, traps: dict[str, int] | None = None
) -> None:
    """The cycle status; with ``traps``, the trap receiver's counters beside it."""
    content: object = status
    if traps is not None:
        content = {**msgspec.to_builtins(status), "traps": traps}
    write_atomic(
        state_dir / STATUS, msgspec.json.format(msgspec.json.encode(content)) + b"\n", sync=False
    )


def write_pidfile(path: Path) -> None:
    write_atomic(path, f"{os.getpid()}\n".encode())


def remove_pidfile(path: Path) -> None:
    """Remove ``path`` if it still names this process (a successor may have replaced it)."""
    try:
        if path.read_text().strip() == str(os.getpid()):
            path.unlink()
    except (OSError, ValueError):
        pass
