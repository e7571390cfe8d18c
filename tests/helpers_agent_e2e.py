"""Pieces the end-to-end tests of ``printerhq agent`` share: the simulator as a process, the agent
as a process with its JSON log, and a bounded wait that shows the agent's log when it fails.

Everything runs on loopback; the simulator listens on a port chosen at run time.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .test_cli_scan import ROOT, free_udp_port


@contextmanager
def simulator_process(recordings: Sequence[Path], first: str, last: str) -> Iterator[int]:
    """``printerhq sim`` serving ``recordings`` on ``first``-``last``; yields its UDP port."""
    port = free_udp_port(first)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "printerhq",
            "sim",
            *map(str, recordings),
            "--addresses",
            f"{first}-{last}",
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None and process.stdout.readline().startswith("sim: serving")
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def start_agent(config: Path, log_path: Path) -> subprocess.Popen[bytes]:
    """``printerhq agent --config``; its output is appended to ``log_path``."""
    with open(log_path, "a") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "printerhq", "agent", "--config", str(config)],
            stdout=log,
            stderr=log,
            cwd=ROOT,
        )


def stop_agent(agent: subprocess.Popen[bytes]) -> int:
    """SIGTERM, as systemd stops it; the exit status."""
    agent.send_signal(signal.SIGTERM)
    return agent.wait(timeout=30)


def kill_agent(agent: subprocess.Popen[bytes] | None) -> None:
    if agent is not None and agent.poll() is None:
        agent.kill()
        agent.wait(timeout=10)


def log_events(log_path: Path) -> list[dict[str, Any]]:
    """The agent's JSON log lines, parsed (other lines skipped)."""
    return [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]


def wait_for(
    what: str,
    check: Callable[[], object],
    agent: subprocess.Popen[bytes] | None,
    log_path: Path,
    timeout: float,
    interval: float = 0.2,
) -> Any:
    """``check()``'s first true result within ``timeout`` s; fails at once if the agent exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if agent is not None and agent.poll() is not None:
            raise AssertionError(
                f"agent exited ({agent.returncode}) waiting for {what}:\n"
                f"{log_path.read_text()[-3000:]}"
            )
        result = check()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}:\n{log_path.read_text()[-3000:]}")
