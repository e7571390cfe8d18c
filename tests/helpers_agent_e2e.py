"""Pieces the end-to-end tests of ``printerhq agent`` share: its configuration file, the simulator
as a process, the agent as a process with its JSON log, and a bounded wait that shows the
agent's log when it fails.

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

TomlValue = str | bool | int | list[str]

# What every test agent scans with unless it says otherwise: fast, no ICMP, discovery rarely.
SCAN_DEFAULTS: dict[str, TomlValue] = {
    "interval": "1h",
    "discovery_interval": "1h",
    "timeout": "300ms",
    "retries": 0,
    "icmp": False,
}
AGENT_DEFAULTS: dict[str, TomlValue] = {"jitter": "0s", "heartbeat": "500ms"}


def _toml_value(value: TomlValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value)  # a TOML basic string or array of them is valid JSON


def agent_toml(
    *,
    server: dict[str, TomlValue],
    scan: dict[str, TomlValue],
    agent: dict[str, TomlValue],
    **tables: dict[str, TomlValue],
) -> str:
    """An agent configuration: ``[server]``, one ``[[scan]]`` (over :data:`SCAN_DEFAULTS`),
    ``[agent]`` (over :data:`AGENT_DEFAULTS`) and any other tables (``site``, ``updates``)."""
    sections = [("[server]", server), ("[[scan]]", {**SCAN_DEFAULTS, **scan})]
    sections += [(f"[{name}]", table) for name, table in tables.items()]
    sections.append(("[agent]", {**AGENT_DEFAULTS, **agent}))
    return "\n".join(
        "\n".join([title, *(f"{key} = {_toml_value(value)}" for key, value in table.items())])
        + "\n"
        for title, table in sections
    )


def idle_agent_toml(root: Path, state_dir: Path, **tables: dict[str, TomlValue]) -> str:
    """A configuration the real agent accepts with nothing to talk to: its server and its one
    target are loopback ports where nothing listens (the agent runs, beats, and collects
    nothing). Writes the token file it names."""
    token = root / "token"
    token.write_text("t0ken\n")
    return agent_toml(
        server={"url": "http://127.0.0.1:9", "token_file": str(token), "insecure": True},
        scan={"targets": ["127.0.0.1"], "port": 9},
        agent={"state_dir": str(state_dir)},
        **tables,
    )


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
