"""``printerhq agent`` end to end: simulator, server and agent as three real processes on
loopback, the agent on a 2-second interval.

Shown here: reports arrive every cycle over ONE stream (the server counts its WebSocket
connections); a configuration pushed from the server (a new range) takes effect at the next
cycle; an invalid one is rejected and the reason shows on the server; with ``remote_config =
false`` a push is ignored and the agent says so once; SIGTERM ends the agent cleanly with the
spool empty and exit status 0.
"""

from __future__ import annotations

import json
import ssl
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from printerhq.uplink.spool import Spool

from .helpers_agent_e2e import (
    agent_toml,
    kill_agent,
    log_events,
    simulator_process,
    start_agent,
    stop_agent,
    wait_for,
)
from .helpers_server import ServerProcess
from .test_cli_scan import FIXTURES

PREFIX = "127.83.0"
FIRST_RANGE = f"{PREFIX}.1-{PREFIX}.4"
SECOND_RANGE = f"{PREFIX}.5-{PREFIX}.{len(FIXTURES)}"


@pytest.fixture
def simulator() -> Iterator[int]:
    with simulator_process(FIXTURES, f"{PREFIX}.1", f"{PREFIX}.{len(FIXTURES)}") as port:
        yield port


class Site:
    """A server with an agent, a viewer and an admin token, and helpers to read it."""

    def __init__(self, base: Path, sim_port: int):
        self.base = base
        self.sim_port = sim_port
        self.server = ServerProcess(base / "server")
        self.server.start()
        self.token_file = base / "agent.token"
        self.token_file.write_text(self.server.admin("add-agent", "site-a").split()[-1] + "\n")
        self.viewer = self.server.admin("add-viewer", "reader").split()[-1]
        self.admin = self.server.admin("add-admin", "ops").split()[-1]
        self.state_dir = base / "state"
        self.agent: subprocess.Popen | None = None
        self.log_path = base / "agent.log"

    def config(self, targets: str, remote_config: bool) -> Path:
        path = self.base / "agent.toml"
        path.write_text(
            agent_toml(
                server={
                    "url": self.server.url,
                    "token_file": str(self.token_file),
                    "ca_bundle": str(self.server.certfile),
                },
                scan={"targets": [targets], "interval": "2s", "port": self.sim_port},
                site={"remote_config": remote_config},
                agent={"name": "site-a", "state_dir": str(self.state_dir), "heartbeat": "2s"},
            )
        )
        return path

    def start_agent(self, config: Path) -> None:
        self.agent = start_agent(config, self.log_path)

    def stop_agent(self) -> int:
        assert self.agent is not None
        return stop_agent(self.agent)

    def close(self) -> None:
        kill_agent(self.agent)
        self.server.stop()

    def _client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.server.url,
            timeout=10,
            verify=ssl.create_default_context(cafile=str(self.server.certfile)),
        )

    def get(self, path: str, token: str | None = None):
        with self._client() as client:
            response = client.get(path, headers={"authorization": f"Bearer {token or self.viewer}"})
        response.raise_for_status()
        return response.json() if path.startswith("/api") else response.text

    def put_config(self, document: str) -> int:
        with self._client() as client:
            response = client.put(
                "/api/v1/agents/site-a/config",
                content=document.encode(),
                headers={"authorization": f"Bearer {self.admin}"},
            )
        response.raise_for_status()
        return response.json()["version"]

    def agent_row(self) -> dict:
        [row] = self.get("/api/v1/agents")
        return row

    def ws_connections(self) -> int:
        for line in self.get("/metrics").splitlines():
            if line.startswith("printerhq_websocket_connections_total "):
                return int(float(line.split()[1]))  # prometheus-client writes 3.0
        raise AssertionError("no connection counter in /metrics")

    def addresses_on_server(self) -> set[str]:
        return {device["address"] for device in self.get("/api/v1/devices")}

    def log_events(self) -> list[dict]:
        return log_events(self.log_path)

    def wait_for(self, what: str, check: Callable[[], object], timeout: float = 30.0):
        return wait_for(what, check, self.agent, self.log_path, timeout)


@pytest.fixture
def site(tmp_path, simulator) -> Iterator[Site]:
    s = Site(tmp_path, simulator)
    try:
        yield s
    finally:
        s.close()


def scan_doc(targets: str, port: int, interval: str = "2s") -> str:
    return (
        f'[[scan]]\ntargets = ["{targets}"]\ninterval = "{interval}"\n'
        f'discovery_interval = "1h"\nport = {port}\ntimeout = "300ms"\nretries = 0\nicmp = false\n'
    )


def cycle_of(row: dict) -> int:
    return row["cycle"] or 0


def test_agent_cycles_on_one_stream_takes_remote_config_and_stops_cleanly(site: Site):
    site.start_agent(site.config(FIRST_RANGE, remote_config=True))
    row = site.wait_for("three cycles", lambda: (r := site.agent_row()) and cycle_of(r) >= 3 and r)
    assert row["state"] == "running" and row["version"] and row["remote_config"] is True
    assert site.ws_connections() == 1, "the agent did not keep one stream across cycles"
    last = row["last_cycle"]
    assert last["kind"] == "warm" and last["printers"] >= 1 and last["reports"] == last["printers"]
    assert last["scan_bytes"] > 0 and last["upload_bytes"] > 0
    # Every cycle's reports are on the server (a cycle ends when its reports are acknowledged).
    cycles = cycle_of(row)
    assert row["reports"] >= cycles * last["printers"]
    first_addresses = site.addresses_on_server()
    assert first_addresses and all(
        a.startswith(PREFIX) and int(a.rsplit(".", 1)[1]) <= 4 for a in first_addresses
    )

    # A new range pushed through the API: used from the next cycle, without a restart.
    pushed_at_cycle = cycle_of(site.agent_row())
    version = site.put_config(scan_doc(SECOND_RANGE, site.sim_port))
    row = site.wait_for(
        "the new configuration applied",
        lambda: (r := site.agent_row())["config"]["applied"] == version and r,
    )
    assert row["config"]["outcome"] == "applied" and row["config"]["wanted"] == version
    second = site.wait_for(
        "printers of the new range on the server",
        lambda: site.addresses_on_server() - first_addresses,
    )
    assert all(int(a.rsplit(".", 1)[1]) >= 5 for a in second)
    row = site.agent_row()
    assert row["last_cycle"]["addresses"] <= len(FIXTURES) - 4  # only the new range now
    applied = [e for e in site.log_events() if e["event"] == "config_applied"]
    assert len(applied) == 1 and applied[0]["version"] == version
    applied_cycle = site.wait_for(
        "the cycle with the new configuration",
        lambda: next(
            (
                e["cycle"]
                for e in site.log_events()
                if e["event"] == "cycle_done" and e["time"] >= applied[0]["time"]
            ),
            None,
        ),
    )
    assert applied_cycle <= pushed_at_cycle + 2, (
        "the pushed configuration waited more than one cycle"
    )

    # An invalid configuration, set with the command line (seen by the session's polling):
    # rejected with the key and the problem; the agent keeps running the last good one.
    out = site.server.admin(
        "set-config",
        "site-a",
        str(write(site.base / "bad.toml", scan_doc(SECOND_RANGE, site.sim_port, "2x"))),
    )
    assert "configuration 2 set" in out
    row = site.wait_for(
        "the rejection on the server",
        lambda: (r := site.agent_row())["config"]["outcome"] == "rejected" and r,
    )
    assert row["config"]["result_version"] == 2 and row["config"]["applied"] == version
    assert (
        row["config"]["reason"].startswith("scan[0].interval:") and "2x" in row["config"]["reason"]
    )
    listing = site.server.admin("agents")
    assert "v2 rejected: scan[0].interval" in listing and "site-a" in listing
    # A remote document may not change what the site decides.
    site.put_config("[site]\nremote_config = true\n" + scan_doc(SECOND_RANGE, site.sim_port))
    row = site.wait_for(
        "the [site] rejection",
        lambda: (r := site.agent_row())["config"]["result_version"] == 3 and r,
    )
    assert row["config"]["outcome"] == "rejected" and "[site]" in row["config"]["reason"]
    before = cycle_of(row)
    site.wait_for("cycles going on", lambda: cycle_of(site.agent_row()) >= before + 2)

    # SIGTERM: exit 0, nothing left in the spool, the pidfile gone, "stopping" told.
    assert site.stop_agent() == 0
    assert Spool(site.state_dir / "spool").count == 0
    assert not (site.state_dir / "agent.pid").exists()
    beat = json.loads((site.state_dir / "heartbeat.json").read_text())
    assert beat["state"] == "stopping" and beat["pid"] == site.agent.pid and beat["cycle"] >= 5
    assert set(beat) == {"pid", "time", "version", "state", "cycle", "argv", "cwd"}
    status = json.loads((site.state_dir / "status.json").read_text())
    assert status["printers"] >= 1 and status["pending"] == 0
    assert site.agent_row()["state"] == "stopping"
    # All of it on one WebSocket connection.
    assert site.ws_connections() == 1
    assert site.agent_row()["batches"] >= cycle_of(site.agent_row())


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_remote_config_off_ignores_a_push_and_says_so_once(site: Site):
    config = site.config(FIRST_RANGE, remote_config=False)
    site.start_agent(config)
    site.wait_for("a first cycle", lambda: cycle_of(site.agent_row()) >= 1)
    version = site.put_config(scan_doc(SECOND_RANGE, site.sim_port))
    row = site.wait_for(
        "the agent's answer", lambda: (r := site.agent_row())["config"]["outcome"] and r
    )
    assert row["config"]["outcome"] == "ignored" and row["config"]["result_version"] == version
    assert "remote_config = false" in row["config"]["reason"] and row["config"]["applied"] == 0
    assert row["remote_config"] is False
    # A restart (a new stream) is not pushed the same version again: said once.
    assert site.stop_agent() == 0
    site.start_agent(config)

    def cycles_after_restart() -> bool:
        events = site.log_events()
        starts = [i for i, e in enumerate(events) if e["event"] == "agent_starting"]
        return len(starts) == 2 and any(
            e["event"] == "cycle_done" and e["cycle"] >= 3 for e in events[starts[1] :]
        )

    site.wait_for("cycles after the restart", cycles_after_restart)
    ignored = [e for e in site.log_events() if e["event"] == "remote_config_ignored"]
    assert len(ignored) == 1 and ignored[0]["version"] == version
    assert site.stop_agent() == 0
    # The pushed range was never scanned.
    assert all(int(a.rsplit(".", 1)[1]) <= 4 for a in site.addresses_on_server())
    assert not (site.state_dir / "remote-config.json").exists()
