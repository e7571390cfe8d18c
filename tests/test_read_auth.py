"""Read access control: viewer tokens read the fleet, agent tokens upload, neither does the other.

Every read endpoint is tried with no token, an unknown token, an agent token, a revoked viewer
token and a valid viewer token, over real TLS sockets; ``--open-read`` restores open reads.
"""

from __future__ import annotations

import logging
import ssl
import subprocess
import sys

import httpx
import pytest
import trio_websocket

from printerhq import wire
from printerhq.server.run import run_server

from .helpers_server import REPO, make_report, new_token

READ_PATHS = [
    "/api/v1/devices",
    "/api/v1/devices/{id}",
    "/api/v1/devices/{id}/counters",
    "/api/v1/devices/{id}/supplies",
    "/api/v1/agents",
    "/api/v1/meter-reads?from=2026-01-01&to=2026-02-01",
    "/metrics",
]


@pytest.fixture
async def server(tmp_path):
    async with run_server(tmp_path / "server", self_signed=True) as srv:
        srv.agent_token, srv.viewer_token, srv.revoked_token = new_token(), new_token(), new_token()
        await srv.store.add_agent("site-a", srv.agent_token)
        await srv.store.add_viewer("reader", srv.viewer_token)
        await srv.store.add_viewer("former", srv.revoked_token)
        await srv.store.revoke_viewer("former")
        agent = await srv.store.agent_for_token(srv.agent_token)
        await srv.store.ingest(agent, "b-1", [make_report(i) for i in range(3)])
        srv.device_id = (await srv.store.list_devices())[0]["id"]
        srv.ctx = ssl.create_default_context(cafile=str(srv.certfile))
        yield srv


async def get(server, path: str, token: str | None) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token is not None else {}
    async with httpx.AsyncClient(verify=server.ctx) as c:
        return await c.get(server.url + path.format(id=server.device_id), headers=headers)


@pytest.mark.parametrize("path", READ_PATHS)
async def test_read_endpoint_needs_a_viewer_token(server, path):
    no_token = await get(server, path, None)
    assert no_token.status_code == 401 and no_token.headers["www-authenticate"] == "Bearer"
    assert (await get(server, path, new_token())).status_code == 401
    assert (await get(server, path, server.revoked_token)).status_code == 401
    agent = await get(server, path, server.agent_token)
    assert agent.status_code == 403 and "viewer" in agent.json()["error"]
    ok = await get(server, path, server.viewer_token)
    assert ok.status_code == 200
    if path == "/metrics":
        assert 'printerhq_rows{table="readings"} 3.0' in ok.text
        assert 'printerhq_rejected_total{reason="read_wrong_role"}' in ok.text
    else:
        assert ok.json()  # a non-empty answer: the data really is behind the check


async def test_healthz_stays_open(server):
    r = await get(server, "/healthz", None)
    assert r.status_code == 200 and r.json()["status"] == "ok"


async def test_revoking_a_viewer_takes_effect_at_once(server):
    token = new_token()
    await server.store.add_viewer("temp", token)
    assert (await get(server, "/api/v1/devices", token)).status_code == 200
    assert await server.store.revoke_viewer("temp")
    assert (await get(server, "/api/v1/devices", token)).status_code == 401


async def test_viewer_token_cannot_upload(server, caplog):
    caplog.set_level(logging.WARNING)
    body = wire.compress_body(
        wire.encode(wire.Batch(batch_id="v-1", agent="reader", reports=[make_report(7)]))
    )
    headers = {"authorization": f"Bearer {server.viewer_token}", "content-encoding": "deflate"}
    async with httpx.AsyncClient(verify=server.ctx) as c:
        r = await c.post(server.url + "/api/v1/ingest", content=body, headers=headers)
    assert r.status_code == 401
    with pytest.raises(trio_websocket.ConnectionRejected) as info:
        ws_headers = [(b"authorization", f"Bearer {server.viewer_token}".encode())]
        async with trio_websocket.open_websocket_url(
            server.ws_url, server.ctx, extra_headers=ws_headers
        ):
            pass
    assert info.value.status_code == 401
    assert (await server.store.totals())["readings"] == 3  # only the fixture's batch
    assert server.viewer_token not in caplog.text


async def test_open_read_serves_without_token_and_warns(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    async with run_server(tmp_path / "open", self_signed=True, open_read=True) as srv:
        ctx = ssl.create_default_context(cafile=str(srv.certfile))
        async with httpx.AsyncClient(verify=ctx) as c:
            for path in ("/api/v1/devices", "/api/v1/agents", "/metrics", "/"):
                assert (await c.get(srv.url + path)).status_code == 200, path
    assert "--open-read" in caplog.text


def admin(data_dir, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "printerhq.server", "server", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )


def test_viewer_commands(tmp_path):
    added = admin(tmp_path, "add-viewer", "grafana")
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    assert len(token) >= 40 and "shown once" in added.stderr
    stored = b"".join(f.read_bytes() for f in tmp_path.glob("printerhq.sqlite3*"))  # with the WAL
    assert token.encode() not in stored  # stored hashed
    import hashlib

    assert hashlib.sha256(token.encode()).hexdigest().encode() in stored
    assert admin(tmp_path, "add-agent", "site-a").returncode == 0
    assert admin(tmp_path, "add-viewer", "site-a").returncode == 1  # one namespace for names
    listed = admin(tmp_path, "list-tokens").stdout
    assert "viewer  grafana" in listed and "agent   site-a" in listed
    assert "grafana" not in admin(tmp_path, "list-agents").stdout
    assert admin(tmp_path, "revoke-agent", "grafana").returncode == 1  # wrong role
    revoked = admin(tmp_path, "revoke-viewer", "grafana")
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    assert '"health":"revoked"' in admin(tmp_path, "list-tokens", "--json").stdout
