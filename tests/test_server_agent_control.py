"""The server side of the agent service: versioned configurations and agent status in the store
(SQLite and PostgreSQL), the admin-only configuration API, and a control session over a real
WebSocket (the subprotocol is only spoken when offered)."""

from __future__ import annotations

import ssl

import httpx
import pytest
import trio
import trio_websocket

from printerhq import control
from printerhq.server.agent_control import AgentControl
from printerhq.server.run import run_server
from printerhq.server.store import Store, StoreError

from .helpers_server import new_token

SCAN = '[[scan]]\ntargets = ["192.0.2.0/28"]\ninterval = "2s"\n'


async def test_configs_are_versioned_per_agent_and_status_recorded(database):
    store = await Store.open(*database)
    try:
        await store.add_agent("site-a", new_token())
        await store.add_agent("site-b", new_token())
        await store.add_viewer("reader", new_token())
        agents = AgentControl(store)
        a_id, v1 = await agents.set_config("site-a", SCAN, by="ops")
        _, v2 = await agents.set_config("site-a", SCAN + "# two\n")
        _, b1 = await agents.set_config("site-b", SCAN)
        assert (v1, v2, b1) == (1, 2, 1)
        wanted = await agents.wanted(a_id)
        assert wanted is not None and wanted.version == 2 and wanted.document.endswith("# two\n")
        for name in ("reader", "nobody"):
            with pytest.raises(StoreError, match="no active agent"):
                await agents.set_config(name, SCAN)
        with pytest.raises(StoreError, match="larger than"):
            await agents.set_config("site-a", "#" * (control.MAX_DOCUMENT_BYTES + 1))

        await agents.record(
            a_id, control.Hello(version="1.0", remote_config=True, config_version=1)
        )
        last = control.CycleStatus(time=5.0, kind="warm", duration=0.5, printers=3, scan_bytes=900)
        await agents.record(a_id, control.Status(state="running", cycle=4, last=last))
        await agents.record(
            a_id,
            control.ConfigResult(version=2, outcome="rejected", reason="scan[0].port: too big"),
        )
        assert await agents.outcome(a_id, 2) == "rejected" and await agents.outcome(a_id, 1) is None
        await agents.record(
            a_id, control.Status(state="running", cycle=5)
        )  # a heartbeat keeps `last`
        rows = {row["name"]: row for row in await agents.overview()}
        a = rows["site-a"]
        assert (a["version"], a["state"], a["cycle"], a["remote_config"]) == (
            "1.0",
            "running",
            5,
            True,
        )
        assert a["config"] == dict(
            wanted=2,
            applied=1,
            result_version=2,
            outcome="rejected",
            reason="scan[0].port: too big",
        )
        assert a["last_cycle"]["printers"] == 3 and a["health"] == "ok" and a["heartbeat_at"]
        assert rows["site-b"]["health"] == "never_seen" and rows["site-b"]["config"]["wanted"] == 1
        assert "reader" not in rows
        await agents.record(a_id, control.ConfigResult(version=2, outcome="applied"))
        assert (await agents.overview())[0]["config"]["applied"] == 2
    finally:
        await store.aclose()


@pytest.fixture
async def server(tmp_path):
    async with run_server(tmp_path / "server", self_signed=True) as srv:
        srv.token = new_token()
        await srv.store.add_agent("site-a", srv.token)
        srv.viewer, srv.admin = new_token(), new_token()
        await srv.store.add_viewer("reader", srv.viewer)
        await srv.store.add_agent("ops", srv.admin, role="admin")
        yield srv


def http(server, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        verify=ssl.create_default_context(cafile=str(server.certfile)),
        base_url=server.url,
        headers={"authorization": f"Bearer {token}"},
    )


async def test_only_an_admin_sets_a_configuration(server):
    path = "/api/v1/agents/site-a/config"
    for token, status in ((server.viewer, 403), (server.token, 403), ("nonsense", 401)):
        async with http(server, token) as c:
            assert (await c.put(path, content=SCAN)).status_code == status
            assert (await c.get(path)).status_code == status
    async with http(server, server.admin) as c:
        assert (await c.get(path)).status_code == 404
        assert (await c.put(path, content=SCAN)).json() == {"agent": "site-a", "version": 1}
        assert (await c.get(path)).json() == {"agent": "site-a", "version": 1, "document": SCAN}
        assert (await c.put("/api/v1/agents/nobody/config", content=SCAN)).status_code == 404
        assert (await c.put(path, content=b"\xff\xfe")).status_code == 400
        assert (
            await c.put(path, content=b"#" * (control.MAX_DOCUMENT_BYTES + 1))
        ).status_code == 413
        # An admin reads the fleet too.
        [row] = (await c.get("/api/v1/agents")).json()
        assert row["name"] == "site-a" and row["config"]["wanted"] == 1


async def open_stream(server, subprotocols):
    context = ssl.create_default_context(cafile=str(server.certfile))
    return trio_websocket.open_websocket_url(
        server.url.replace("https://", "wss://") + "/api/v1/stream",
        ssl_context=context,
        extra_headers=[(b"authorization", f"Bearer {server.token}".encode())],
        subprotocols=subprotocols,
    )


async def test_a_control_session_pushes_on_hello_and_on_change(server):
    async with http(server, server.admin) as c:
        await c.put("/api/v1/agents/site-a/config", content=SCAN)
    async with await open_stream(server, [control.SUBPROTOCOL]) as ws:
        assert ws.subprotocol == control.SUBPROTOCOL
        await ws.send_message(control.encode(control.Hello(version="1", remote_config=True)))
        with trio.fail_after(5):
            push = control.decode_from_server(await ws.get_message())
        assert push == control.ConfigPush(version=1, document=SCAN)
        await ws.send_message(control.encode(control.ConfigResult(version=1, outcome="applied")))
        # A change through the API reaches the open session at once (no polling wait).
        async with http(server, server.admin) as c:
            await c.put("/api/v1/agents/site-a/config", content=SCAN + "# v2\n")
        with trio.fail_after(2):
            push = control.decode_from_server(await ws.get_message())
        assert push.version == 2
        await ws.send_message(
            control.encode(control.ConfigResult(version=2, outcome="rejected", reason="no"))
        )
        await ws.send_message("{not json")  # refused and counted; the stream stays up
        await ws.send_message(control.encode(control.Status(state="running", cycle=1)))
        with trio.fail_after(5):
            while (
                await server.store.run(
                    lambda conn: conn.execute("SELECT cycle FROM agent_status").fetchone()
                )
            )[0] != 1:
                await trio.sleep(0.05)
    # The rejected version is not pushed again on a new connection.
    async with await open_stream(server, [control.SUBPROTOCOL]) as ws:
        await ws.send_message(
            control.encode(control.Hello(version="1", remote_config=True, config_version=1))
        )
        with trio.move_on_after(1) as quiet:
            await ws.get_message()
        assert quiet.cancelled_caught
    row = (await AgentControl(server.store).overview())[0]
    assert row["config"]["outcome"] == "rejected" and row["config"]["applied"] == 1


async def test_an_agent_without_the_subprotocol_never_gets_a_text_frame(server):
    async with http(server, server.admin) as c:
        await c.put("/api/v1/agents/site-a/config", content=SCAN)
    async with await open_stream(server, None) as ws:
        assert ws.subprotocol is None
        with trio.move_on_after(1) as quiet:
            await ws.get_message()
        assert quiet.cancelled_caught
