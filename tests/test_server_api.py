"""The server's ingest endpoints, REST API, /healthz, /metrics and TLS, over real sockets."""

from __future__ import annotations

import ssl
import stat

import httpx
import pytest
import trio_websocket
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from printerhq import wire
from printerhq.server.run import run_server
from printerhq.uplink import TlsOptions, Uplink

from .helpers_server import make_report, new_token


@pytest.fixture
async def server(tmp_path):
    async with run_server(tmp_path / "server", self_signed=True) as srv:
        srv.token = new_token()
        await srv.store.add_agent("site-a", srv.token)
        srv.viewer = new_token()
        await srv.store.add_viewer("reader", srv.viewer)
        yield srv


def client(server) -> httpx.AsyncClient:
    """A client that reads with the viewer token (ingest requests set their own agent token)."""
    return httpx.AsyncClient(
        verify=ssl.create_default_context(cafile=str(server.certfile)),
        base_url=server.url,
        headers={"authorization": f"Bearer {server.viewer}"},
    )


def batch_bytes(batch_id: str, reports, agent="site-a") -> bytes:
    return wire.encode(wire.Batch(batch_id=batch_id, agent=agent, reports=reports))


async def test_healthz_tls13_and_small_ecdsa_certificate(server, tmp_path):
    async with client(server) as c:
        r = await c.get("/healthz")
        assert r.status_code == 200 and r.json()["status"] == "ok"
        assert r.extensions["network_stream"].get_extra_info("ssl_object").version() == "TLSv1.3"
    cert = x509.load_pem_x509_certificate(server.certfile.read_bytes())
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.public_key().curve.name == "secp256r1"
    key = server.certfile.parent / "server-key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    # TLS 1.2 is refused: the server is 1.3-only.
    ctx = ssl.create_default_context(cafile=str(server.certfile))
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    async with httpx.AsyncClient(verify=ctx) as old:
        with pytest.raises(httpx.ConnectError):
            await old.get(server.url + "/healthz")


async def test_self_signed_certificate_is_kept_across_restarts(tmp_path):
    async with run_server(tmp_path, self_signed=True) as first:
        fingerprint = first.fingerprint
    async with run_server(tmp_path, self_signed=True) as second:
        assert second.fingerprint == fingerprint


async def test_http_batch_ingest_acknowledges_and_deduplicates(server):
    body = wire.compress_body(batch_bytes("b-1", [make_report(i) for i in range(3)]))
    headers = {"authorization": f"Bearer {server.token}", "content-encoding": "deflate"}
    async with client(server) as c:
        r1 = await c.post("/api/v1/ingest", content=body, headers=headers)
        r2 = await c.post("/api/v1/ingest", content=body, headers=headers)
    a1, a2 = wire.decode_ack(r1.content), wire.decode_ack(r2.content)
    assert (r1.status_code, a1.batch_id, a1.duplicate) == (200, "b-1", False)
    assert (r2.status_code, a2.duplicate) == (200, True)
    assert (await server.store.totals())["readings"] == 3


async def test_websocket_stream_acks_each_batch(server):
    ctx = ssl.create_default_context(cafile=str(server.certfile))
    deflate = wire.StreamCompressor()
    headers = [(b"authorization", f"Bearer {server.token}".encode())]
    async with trio_websocket.open_websocket_url(server.ws_url, ctx, extra_headers=headers) as ws:
        for n in range(4):
            await ws.send_message(deflate.compress(batch_bytes(f"ws-{n}", [make_report(n)])))
        acks = [wire.decode_ack(await ws.get_message()) for _ in range(4)]
        await ws.send_message(deflate.compress(batch_bytes("ws-0", [make_report(0)])))
        dup = wire.decode_ack(await ws.get_message())
    assert [a.batch_id for a in acks] == ["ws-0", "ws-1", "ws-2", "ws-3"]
    assert all(a.ok and not a.duplicate for a in acks)
    assert dup.ok and dup.duplicate
    assert (await server.store.totals())["readings"] == 4


async def test_rest_api_devices_history_agents(server):
    async with Uplink(
        server.url,
        server.token,
        server.certfile.parent.parent / "spool",
        agent="site-a",
        tls=TlsOptions(ca_bundle=str(server.certfile)),
    ) as up:
        for i in range(26):
            await up.submit(make_report(i))
        assert await up.flush(30)
    async with client(server) as c:
        devices = (await c.get("/api/v1/devices")).json()
        assert len(devices) == 13 and {d["agent"] for d in devices} == {"site-a"}
        dev = devices[0]
        latest = (await c.get(f"/api/v1/devices/{dev['id']}")).json()
        assert latest["report"]["identity"]["serial"] == dev["serial"]
        counters = (
            await c.get(f"/api/v1/devices/{dev['id']}/counters", params={"name": "total"})
        ).json()
        assert len(counters) == 2 and counters[0]["value"] < counters[1]["value"]
        since = (
            await c.get(
                f"/api/v1/devices/{dev['id']}/counters", params={"since": counters[1]["scanned_at"]}
            )
        ).json()
        assert {x["scanned_at"] for x in since} == {counters[1]["scanned_at"]}
        supplies = (await c.get(f"/api/v1/devices/{dev['id']}/supplies")).json()
        assert len(supplies) == 2 and supplies[0]["kind"] == "toner"
        assert (await c.get("/api/v1/devices/424242")).status_code == 404
        assert (await c.get("/api/v1/devices/424242/counters")).status_code == 404
        assert (
            await c.get(f"/api/v1/devices/{dev['id']}/counters", params={"limit": "x"})
        ).status_code == 400
        [agent] = (await c.get("/api/v1/agents")).json()
        assert agent["name"] == "site-a" and agent["health"] == "ok" and agent["reports"] == 26
        metrics = (await c.get("/metrics")).text
    assert "printerhq_reports_ingested_total 26.0" in metrics
    assert 'printerhq_rows{table="readings"} 26.0' in metrics
    # prometheus-client writes label names in sorted order
    assert 'printerhq_batches_total{outcome="stored",transport="websocket"}' in metrics


async def test_plain_http_server_needs_explicit_flag(tmp_path):
    with pytest.raises(ValueError):
        async with run_server(tmp_path):
            pass
    async with run_server(tmp_path, insecure_http=True) as srv:
        assert srv.url.startswith("http://")
        async with httpx.AsyncClient() as c:
            assert (await c.get(srv.url + "/healthz")).status_code == 200


def test_admin_commands_issue_list_and_revoke_tokens(tmp_path):
    import json
    import subprocess
    import sys

    def admin(*args, check=True):
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "printerhq.server",
                "server",
                *args,
                "--data-dir",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=check,
        )

    issued = admin("add-agent", "site-a")
    token = issued.stdout.strip()
    assert len(token) >= 40 and "shown once" in issued.stderr
    assert admin("add-agent", "site-a", check=False).returncode == 1  # no silent re-issue
    listed = json.loads(admin("list-agents", "--json").stdout)
    assert [(a["name"], a["health"]) for a in listed] == [("site-a", "never_seen")]
    for db_file in tmp_path.glob("printerhq.sqlite3*"):  # the database and its WAL: hash only
        assert token.encode() not in db_file.read_bytes()
    assert admin("revoke-agent", "site-a").returncode == 0
    assert admin("revoke-agent", "site-a", check=False).returncode == 1
    assert json.loads(admin("list-agents", "--json").stdout)[0]["health"] == "revoked"


async def test_history_of_the_last_scans_only(server):
    agent = await server.store.agent_for_token(server.token)
    await server.store.ingest(
        agent, "h-1", [make_report(i * 13) for i in range(5)]
    )  # five scans of PHQ00000
    [device] = await server.store.list_devices()
    async with client(server) as c:
        every = (
            await c.get(f"/api/v1/devices/{device['id']}/counters", params={"name": "total"})
        ).json()
        last2 = (
            await c.get(
                f"/api/v1/devices/{device['id']}/counters", params={"name": "total", "scans": 2}
            )
        ).json()
        supplies = (
            await c.get(f"/api/v1/devices/{device['id']}/supplies", params={"scans": 3})
        ).json()
        bad = await c.get(f"/api/v1/devices/{device['id']}/supplies", params={"scans": "x"})
    assert [x["value"] for x in every] == [10_000 + 13 * i for i in range(5)]
    assert [x["value"] for x in last2] == [10_039, 10_052]
    assert len(supplies) == 3 and bad.status_code == 400
