"""sd_notify over a real AF_UNIX datagram socket standing in for systemd's ``NOTIFY_SOCKET``.

The notifier and the agent come from the agent branch; until it is merged these tests skip.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers_agent_e2e import idle_agent_toml


def _listener(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(0.2)
    return sock


def test_sd_notify_reaches_a_filesystem_and_an_abstract_socket(tmp_path: Path) -> None:
    notify = pytest.importorskip("printerhq.agent.notify")
    with _listener(str(tmp_path / "notify")) as sock:
        assert notify.sd_notify(
            "READY=1", "STATUS=up", environ={"NOTIFY_SOCKET": str(tmp_path / "notify")}
        )
        assert sock.recv(4096) == b"READY=1\nSTATUS=up"
    name = f"printerhq-test-{os.getpid()}-{time.monotonic_ns()}"
    with _listener("\0" + name) as sock:
        assert notify.sd_notify("WATCHDOG=1", environ={"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(4096) == b"WATCHDOG=1"
    assert not notify.sd_notify("READY=1", environ={})
    assert not notify.sd_notify("READY=1", environ={"NOTIFY_SOCKET": str(tmp_path / "gone")})


def test_agent_says_ready_watchdog_stopping(tmp_path: Path) -> None:
    state = tmp_path / "state"
    config = tmp_path / "agent.toml"
    config.write_text(idle_agent_toml(tmp_path, state))
    address = str(tmp_path / "notify")
    with _listener(address) as sock:
        agent = subprocess.Popen(
            [sys.executable, "-m", "printerhq", "agent", "--config", str(config)],
            env={**os.environ, "NOTIFY_SOCKET": address},
            stdin=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            heard: list[str] = []
            deadline = time.monotonic() + 30
            while heard.count("WATCHDOG=1") < 3 and time.monotonic() < deadline:
                try:
                    heard += sock.recv(4096).decode().split("\n")
                except TimeoutError:
                    assert agent.poll() is None, "the agent exited"
            assert "READY=1" in heard and heard.count("WATCHDOG=1") >= 3, heard
            agent.send_signal(signal.SIGTERM)
            assert agent.wait(timeout=30) == 0
            rest: list[str] = []
            while True:
                try:
                    rest += sock.recv(4096).decode().split("\n")
                except TimeoutError:
                    break
            assert "STOPPING=1" in rest, rest
        finally:
            agent.kill()
            agent.wait()
