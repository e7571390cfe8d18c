"""`printerhq scan --upload` end to end: simulator, server and scanner as three real processes
talking over loopback (UDP for SNMP, TLS for the upload)."""

from __future__ import annotations

import json
import os
import ssl

import httpx
import pytest

from .helpers_agent_e2e import simulator_process
from .helpers_server import ServerProcess
from .test_cli_scan import FIXTURES, is_printer_recording, printerhq


@pytest.fixture
def simulator():
    with simulator_process(FIXTURES, "127.81.0.1", f"127.81.0.{len(FIXTURES)}") as port:
        yield port


@pytest.fixture
def server(tmp_path):
    process = ServerProcess(tmp_path / "server")
    process.start()
    yield process
    process.stop()


def scan_and_upload(port: int, server: ServerProcess, token: str, spool, *extra: str):
    env = {**os.environ, "PRINTERHQ_TOKEN": token}
    return printerhq(
        "scan",
        f"127.81.0.1-127.81.0.{len(FIXTURES)}",
        "--port",
        str(port),
        "--json",
        "--timeout",
        "0.3",
        "--retries",
        "0",
        "--no-icmp",
        "--upload",
        server.url,
        "--ca-bundle",
        str(server.certfile),
        "--spool-dir",
        str(spool),
        *extra,
        env=env,
    )


def viewer_token(server: ServerProcess) -> str:
    """A viewer token for the read API, issued once per server (the API needs one)."""
    if not getattr(server, "viewer_token", None):
        server.viewer_token = server.admin("add-viewer", "test-reader").split()[-1]
    return server.viewer_token


def api(server: ServerProcess, path: str):
    context = ssl.create_default_context(cafile=str(server.certfile))
    response = httpx.get(
        f"{server.url}{path}",
        verify=context,
        headers={"authorization": f"Bearer {viewer_token(server)}"},
    )
    response.raise_for_status()
    return response.json()


def devices_on(server: ServerProcess) -> dict[str, dict]:
    return {device["address"]: device for device in api(server, "/api/v1/devices")}


def test_scan_uploads_every_printer_once(simulator, server, tmp_path):
    token = server.admin("add-agent", "site-a").split()[-1]
    result = scan_and_upload(simulator, server, token, tmp_path / "spool")
    assert result.returncode == 0, result.stderr
    assert "uploaded to" in result.stderr
    assert token not in result.stdout + result.stderr
    scanned = {r["identity"]["address"]: r for r in json.loads(result.stdout)}
    expected = {
        f"127.81.0.{i + 1}" for i, path in enumerate(FIXTURES) if is_printer_recording(path)
    }
    assert set(scanned) == expected
    stored = devices_on(server)
    assert set(stored) == expected
    for address, device in stored.items():
        assert device["serial"] == scanned[address]["identity"].get("serial")

    # A second run adds readings, never devices: ingest is per device, idempotent per batch.
    again = scan_and_upload(simulator, server, token, tmp_path / "spool")
    assert again.returncode == 0, again.stderr
    assert set(devices_on(server)) == expected


def test_dead_server_keeps_reports_spooled_then_delivers(simulator, server, tmp_path):
    token = server.admin("add-agent", "site-b").split()[-1]
    certfile = server.certfile.read_bytes()
    server.stop()
    result = scan_and_upload(simulator, server, token, tmp_path / "spool", "--upload-timeout", "1")
    assert result.returncode == 3, result.stderr
    assert "safe in" in result.stderr
    # The server comes back on another port; the next run delivers what was spooled.
    server.start()
    assert server.certfile.read_bytes() == certfile  # same identity after a restart
    second = scan_and_upload(simulator, server, token, tmp_path / "spool", "--identify-only")
    assert second.returncode == 0, second.stderr
    printers = sum(is_printer_recording(p) for p in FIXTURES)
    stored = devices_on(server)
    assert len(stored) == printers
    # The spooled first run arrived too: only it read counters (the second is --identify-only).
    for device in stored.values():
        assert api(server, f"/api/v1/devices/{device['id']}/counters"), device


def test_wrong_token_is_refused_and_nothing_is_lost(simulator, server, tmp_path):
    server.admin("add-agent", "site-c")
    result = scan_and_upload(
        simulator, server, "not-a-real-token", tmp_path / "spool", "--upload-timeout", "2"
    )
    # A refusal is a failure (1), not "reports waiting" (3): retrying will not help; the line
    # says so and where the reports wait.
    assert result.returncode == 1, result.stderr
    assert "refused the upload" in result.stderr and "wait in" in result.stderr
    assert "not-a-real-token" not in result.stdout + result.stderr
    assert devices_on(server) == {}


def test_upload_refused_with_403_is_a_failure(simulator, server, tmp_path):
    """Issue 11 item 6: the token of site-a uploading as another agent is answered 403; main
    printed "uploaded ... (0 batches acknowledged)" and exited 0."""
    token = server.admin("add-agent", "site-a").split()[-1]
    spool = tmp_path / "spool"
    result = scan_and_upload(simulator, server, token, spool, "--agent", "site-b")
    assert result.returncode == 1, result.stderr
    assert "403" in result.stderr and "refused the upload" in result.stderr
    assert "uploaded to" not in result.stderr
    assert f"wait in {spool}" in result.stderr
    assert devices_on(server) == {}
    # Nothing was thrown away: the next run with the right name delivers every report.
    again = scan_and_upload(simulator, server, token, spool, "--agent", "site-a")
    assert again.returncode == 0, again.stderr
    assert len(devices_on(server)) == sum(is_printer_recording(f) for f in FIXTURES)


def test_upload_needs_a_token():
    result = printerhq("scan", "127.81.0.1", "--upload", "https://127.0.0.1:9")
    assert result.returncode == 2
    assert "needs a token" in result.stderr
