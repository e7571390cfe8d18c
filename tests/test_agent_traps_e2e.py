"""``[traps]`` in the real agent, end to end on loopback: server, simulator and agent as processes,
traps sent by net-snmp's ``snmptrap`` from a chosen source address (``--clientaddr``).

A Printer-MIB alert from a printer the agent discovered makes the agent collect that printer at
once — its report reaches the server within seconds although the next cycle is an hour away —
and a trap from an address the agent does not know is counted and dropped.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from .helpers_agent_e2e import kill_agent, log_events, simulator_process, start_agent, wait_for
from .helpers_server import ServerProcess
from .test_cli_scan import FIXTURES

pytestmark = pytest.mark.skipif(
    shutil.which("snmptrap") is None, reason="net-snmp's snmptrap is not installed"
)

PREFIX = "127.85.0"
PRINTERS = [f"{PREFIX}.{i}" for i in (1, 2, 3)]
STRANGER = f"{PREFIX}.77"  # inside 127/8, never scanned, never a printer
ALERT = "1.3.6.1.2.1.43.18.2.0.1"  # printerV2Alert
ALERT_CODE = "1.3.6.1.2.1.43.18.1.1.7.1.1"  # prtAlertCode.1.1; 8 = jammed (RFC 3805)


@pytest.fixture
def simulator() -> Iterator[int]:
    with simulator_process(FIXTURES[:3], PRINTERS[0], PRINTERS[-1]) as port:
        yield port


def free_udp(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class TrapSite:
    def __init__(self, base: Path, sim_port: int):
        self.base = base
        self.server = ServerProcess(base / "server")
        self.server.start()
        self.token_file = base / "agent.token"
        self.token_file.write_text(self.server.admin("add-agent", "site-a").split()[-1] + "\n")
        self.viewer = self.server.admin("add-viewer", "reader").split()[-1]
        self.state_dir = base / "state"
        self.trap_port = free_udp()
        self.config = base / "agent.toml"
        self.config.write_text(f"""
[server]
url = "{self.server.url}"
token_file = "{self.token_file}"
ca_bundle = "{self.server.certfile}"

[[scan]]
targets = ["{PRINTERS[0]}-{PRINTERS[-1]}"]
interval = "1h"              # after the first discovery, only a trap makes it collect
discovery_interval = "1h"
port = {sim_port}
timeout = "300ms"
retries = 0
icmp = false

[agent]
name = "site-a"
state_dir = "{self.state_dir}"
jitter = "0s"
heartbeat = "500ms"

[traps]
enabled = true
listen = "127.0.0.1:{self.trap_port}"
communities = ["public"]
""")
        self.log_path = base / "agent.log"
        self.agent: subprocess.Popen | None = None

    def start_agent(self) -> None:
        self.agent = start_agent(self.config, self.log_path)

    def close(self) -> None:
        kill_agent(self.agent)
        self.server.stop()

    def devices(self) -> dict[str, dict]:
        with httpx.Client(
            base_url=self.server.url,
            timeout=10,
            verify=ssl.create_default_context(cafile=str(self.server.certfile)),
            headers={"authorization": f"Bearer {self.viewer}"},
        ) as client:
            response = client.get("/api/v1/devices")
        response.raise_for_status()
        return {device["address"]: device for device in response.json()}

    def events(self) -> list[dict]:
        return log_events(self.log_path)

    def trap_counters(self) -> dict[str, int]:
        try:
            return json.loads((self.state_dir / "status.json").read_text()).get("traps") or {}
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def send_trap(self, source: str, code: int = 8) -> None:
        subprocess.run(
            [
                "snmptrap",
                "-v",
                "2c",
                "-c",
                "public",
                f"--clientaddr={source}",
                f"127.0.0.1:{self.trap_port}",
                "",
                ALERT,
                ALERT_CODE,
                "i",
                str(code),
            ],
            check=True,
            capture_output=True,
            timeout=10,
        )

    def wait_for(self, what: str, check: Callable[[], object], timeout: float = 30.0):
        return wait_for(what, check, self.agent, self.log_path, timeout, interval=0.1)


@pytest.fixture
def site(tmp_path, simulator) -> Iterator[TrapSite]:
    s = TrapSite(tmp_path, simulator)
    try:
        yield s
    finally:
        s.close()


def test_a_trap_from_a_known_printer_gets_it_collected_at_once(site: TrapSite) -> None:
    site.start_agent()
    site.wait_for(
        "the first cycle done",
        lambda: any(e["event"] == "cycle_done" for e in site.events()),
    )
    # The simulator's fixtures include devices that are not printers: the discovery tells.
    printers = sorted(site.wait_for("printers on the server", site.devices))
    assert len(printers) >= 2 and set(printers) <= set(PRINTERS)
    listening = [e for e in site.events() if e["event"] == "traps_listening"]
    assert listening and listening[0]["address"] == f"127.0.0.1:{site.trap_port}"
    before = site.devices()

    # An unknown source first: counted and dropped, nothing collected.
    site.send_trap(STRANGER)
    counters = site.wait_for(
        "the stranger counted", lambda: (c := site.trap_counters()).get("unknown_source") and c
    )
    assert counters["unknown_source"] == 1 and counters["decoded"] == 0
    assert counters["collect_requested"] == 0

    # A jam on a known printer: its report is on the server within seconds, though the next
    # cycle is an hour away; the other printers are not collected.
    target = printers[-1]
    sent = time.monotonic()
    site.send_trap(target)
    site.wait_for(
        "the trapped printer's new report on the server",
        lambda: site.devices()[target]["last_seen"] > before[target]["last_seen"],
        timeout=15,
    )
    latency = time.monotonic() - sent
    print(f"trap to report on the server: {latency:.2f}s")
    assert latency < 5.0, f"the report took {latency:.1f}s"
    after = site.devices()
    for other in printers:
        if other != target:
            assert after[other]["last_seen"] == before[other]["last_seen"], other
    events = site.events()
    traps = [e for e in events if e["event"] == "trap"]
    assert [(e["source"], e["meaning"]) for e in traps] == [(target, "jam")]
    collected = [e for e in events if e["event"] == "trap_collected"]
    assert [(e["address"], e["reports"]) for e in collected] == [(target, 1)]
    assert sum(1 for e in events if e["event"] == "cycle_done") == 1  # no cycle did it
    counters = site.wait_for(
        "the counters in status.json", lambda: (c := site.trap_counters()).get("decoded") and c
    )
    assert counters["decoded"] == 1 and counters["collect_requested"] == 1
    assert counters["unknown_source"] == 1 and counters["received"] == 2

    assert site.agent is not None
    site.agent.send_signal(signal.SIGTERM)
    assert site.agent.wait(timeout=30) == 0
