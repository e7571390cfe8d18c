"""A stand-in for ``printerhq agent`` in the health-check end-to-end tests, until it is merged.

It keeps only the agent's contract with ``printerhq health-check`` (printerhq/agent/files.py on
the agent branch): ``--config FILE [--pidfile FILE]``; ``[agent] state_dir`` and ``heartbeat``
from the configuration; a pidfile; ``heartbeat.json`` rewritten atomically every heartbeat
period with pid, time, version, state, cycle, argv and cwd; on SIGTERM/SIGINT a last
``stopping`` heartbeat, the pidfile removed, exit 0. It does no scanning and no networking.

The file name contains "printerhq" because the health check recognises its agent by the
command line (as it does ``printerhq agent`` and ``python -m printerhq agent``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
import tomllib
from pathlib import Path

STOP = False


def _stop(signum: int, frame: object) -> None:
    global STOP
    STOP = True


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def _seconds(text: str) -> float:
    return float(text[:-2]) / 1000 if text.endswith("ms") else float(text.rstrip("s"))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["agent"])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--pidfile", type=Path)
    args = parser.parse_args()
    config = tomllib.loads(args.config.read_text())
    state_dir = Path(config["agent"]["state_dir"])
    period = _seconds(config["agent"].get("heartbeat", "5s"))
    pidfile = args.pidfile or state_dir / "agent.pid"
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    state_dir.mkdir(parents=True, exist_ok=True)
    _write_atomic(pidfile, f"{os.getpid()}\n".encode())

    def beat(state: str, cycle: int) -> None:
        _write_atomic(state_dir / "heartbeat.json", json.dumps({
            "pid": os.getpid(), "time": time.time(), "version": "0.0.0+fake", "state": state,
            "cycle": cycle, "argv": sys.argv, "cwd": os.getcwd()}).encode())

    beat("starting", 0)
    cycle = 0
    while not STOP:
        cycle += 1
        beat("running", cycle)
        deadline = time.monotonic() + period
        while not STOP and time.monotonic() < deadline:
            time.sleep(0.02)
    beat("stopping", cycle)
    if pidfile.read_text().strip() == str(os.getpid()):
        pidfile.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
