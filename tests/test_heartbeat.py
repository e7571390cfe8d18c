"""The agent's cycle status (heartbeat) on the open stream, end to end on loopback: to a server of
wire 1.1 a compressed binary ``status`` message, to an older one the JSON text frame; the server
records either and shows it in the agents overview (``GET /api/v1/agents``)."""

from __future__ import annotations

import pytest
import trio

from printerhq import control, wire
from printerhq.server.agent_control import AgentControl
from printerhq.server.run import run_server
from printerhq.uplink import Uplink

from .helpers_server import new_token


class Endpoint:
    """The application's side of the control channel, reduced to a queue of status texts."""

    def __init__(self) -> None:
        self.outbox, self._inbox = trio.open_memory_channel[str](16)
        self.sessions = 0

    def connected(self) -> list[str]:
        self.sessions += 1
        return [control.encode(control.Hello(version="9.9", remote_config=False))]

    async def next_message(self) -> str:
        return await self._inbox.receive()

    async def received(self, text: str) -> None:
        pass


def _status(cycle: int) -> control.Status:
    return control.Status(
        state="running",
        cycle=cycle,
        last=control.CycleStatus(
            time=1.7e9 + cycle,
            kind="warm",
            duration=0.25,
            addresses=254,
            printers=0,  # a blank site: no report at all, yet the server hears from it
            errors=0,
            scan_bytes=21_000 + cycle,
        ),
    )


async def _last_cycle(server, cycle: int) -> dict:
    with trio.fail_after(10):
        while True:
            rows = await AgentControl(server.store).overview()
            if rows and rows[0]["cycle"] == cycle:
                return rows[0]
            await trio.sleep(0.05)


@pytest.mark.parametrize("server_minor", [wire.WIRE_MINOR, 0])
async def test_a_blank_cycle_reaches_the_server_cheaply(tmp_path, monkeypatch, server_minor):
    if server_minor == 0:  # a server that predates the binary status (it names wire 1.0)
        monkeypatch.setattr(wire, "version_text", lambda: f"{wire.WIRE_VERSION}.0")
    async with run_server(tmp_path / "server", insecure_http=True) as server:
        token = new_token()
        await server.store.add_agent("site-a", token)
        endpoint = Endpoint()
        async with Uplink(
            f"http://127.0.0.1:{server.port}",
            token,
            tmp_path / "spool",
            agent="site-a",
            insecure=True,
            control=endpoint,
        ) as up:
            sizes = []
            for cycle in (1, 2, 3):
                before = up.stats["bytes_sent"]
                await endpoint.outbox.send(control.encode(_status(cycle)))
                row = await _last_cycle(server, cycle)
                sizes.append(up.stats["bytes_sent"] - before)
            text = len(control.encode(_status(3)))
    assert row["last_cycle"]["addresses"] == 254 and row["last_cycle"]["printers"] == 0
    assert row["last_cycle"]["scan_bytes"] == 21_003 and row["state"] == "running"
    assert row["version"] == "9.9" and row["heartbeat_at"] is not None
    if server_minor == 0:
        assert sizes == [0, 0, 0]  # text frames: not through the batch compressor
    else:
        # Compressed binary: the first carries the field names, the next ones only what changed.
        assert all(size > 0 for size in sizes), sizes
        assert max(sizes[1:]) < text / 4, (sizes, text)


def test_binary_status_round_trips_and_refuses_other_kinds():
    status = _status(7)
    binary = control.binary_status(control.encode(status))
    assert binary is not None and wire.decode_header(binary).kind == control.STATUS_KIND
    assert control.decode_binary_status(binary) == status
    hello = control.encode(control.Hello(version="1", remote_config=True))
    assert control.binary_status(hello) is None
    with pytest.raises(control.ControlError):
        control.decode_binary_status(wire.encode(wire.Ack(batch_id="x")))
    with pytest.raises(control.ControlError):
        control.decode_binary_status(b"\x81\xa4kind\xa6status\xa5state\xa4dead")
