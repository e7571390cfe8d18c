"""End to end on loopback: the uplink sends one batch per cycle, later readings as deltas against
what the server acknowledged, full readings when the server lacks a base; the real server
stores every reading exactly as collected."""

from __future__ import annotations

import msgspec
import pytest
import trio

from printerhq import delta, model, wire
from printerhq.server.run import run_server
from printerhq.server.store import Store
from printerhq.uplink import TlsOptions, Uplink

from .helpers_server import RECENT, make_report, new_token
from .test_uplink_e2e import assert_exactly_once, stored_reports


def _cycle(cycle: int, printers: int = 5) -> list[model.DeviceReport]:
    """One cycle's readings of the same ``printers`` devices: counters and levels move."""
    return [
        msgspec.structs.replace(make_report(p), scanned_at=RECENT + 60 * cycle + p)
        for p in range(printers)
    ]


def _plain_uplink(port: int, token: str, tmp_path, **options) -> Uplink:
    """The agent's uplink to the test server over plain HTTP on loopback."""
    return Uplink(
        f"http://127.0.0.1:{port}", token, tmp_path / "spool", agent="a", insecure=True, **options
    )


async def _forget_bases(data_dir) -> None:
    """The server loses its bases (as another database would): no reading has a digest."""
    store = await Store.open(data_dir)
    try:
        await store.run(lambda conn: store._x(conn, "UPDATE readings SET digest = NULL"))
    finally:
        await store.aclose()


async def _upload_cycles(up: Uplink, cycles: range) -> list[model.DeviceReport]:
    sent = []
    for cycle in cycles:
        async with up.holding():
            for report in _cycle(cycle):
                await up.submit(report)
                sent.append(report)
                await trio.sleep(0.01)  # the sender would have had time to send each one
        assert await up.flush(10), up.stats
    return sent


@pytest.mark.parametrize("transport", ["websocket", "http"])
async def test_one_batch_per_cycle_deltas_after_the_first_and_exact_rows(tmp_path, transport):
    async with (
        run_server(
            tmp_path / "server", insecure_http=True, websocket=transport == "websocket"
        ) as server,
    ):
        token = new_token()
        await server.store.add_agent("a", token)
        async with _plain_uplink(server.port, token, tmp_path, transport=transport) as up:
            sent = await _upload_cycles(up, range(3))
            stats = dict(up.stats)
    assert stats["batches_sent"] == 3, stats  # one per cycle, not one per report
    assert stats["deltas"] == 10, stats  # cycles 2 and 3: every reading a delta
    assert stats["full_requested"] == 0
    assert_exactly_once(sent, await stored_reports(tmp_path / "server"))


@pytest.mark.parametrize("transport", ["websocket", "http"])
async def test_a_server_without_the_base_gets_the_batch_again_whole(tmp_path, transport):
    async with run_server(
        tmp_path / "server", self_signed=True, websocket=transport == "websocket"
    ) as server:
        token = new_token()
        await server.store.add_agent("a", token)
        async with Uplink(
            f"https://127.0.0.1:{server.port}",
            token,
            tmp_path / "spool",
            agent="a",
            tls=TlsOptions(ca_bundle=str(server.certfile)),
            transport=transport,
        ) as up:
            sent = await _upload_cycles(up, range(2))
            assert up.stats["deltas"] == 5
            await _forget_bases(tmp_path / "server")
            sent += await _upload_cycles(up, range(2, 4))
            stats = dict(up.stats)
    # cycle 3's deltas were refused (412 base_unknown), its batch went again whole (same id,
    # nothing stored twice); cycle 4 is deltas against cycle 3's readings again.
    assert stats["full_requested"] == 1, stats
    assert stats["deltas"] == 5 + 5 + 5, stats
    assert stats["rejected"] == 0
    assert_exactly_once(sent, await stored_reports(tmp_path / "server"))


async def test_a_server_that_names_1_0_never_receives_a_delta(tmp_path, monkeypatch):
    """An older server (it names wire 1.0, or nothing) gets plain batches declaring minor 0."""
    monkeypatch.setattr(wire, "version_text", lambda: "1.0")
    async with run_server(tmp_path / "server", insecure_http=True) as server:
        token = new_token()
        await server.store.add_agent("a", token)
        async with _plain_uplink(server.port, token, tmp_path) as up:
            sent = await _upload_cycles(up, range(3))
            assert up.server_version == "1.0"
            stats = dict(up.stats)
        minors = await server.store.run(
            lambda conn: server.store._x(conn, "SELECT DISTINCT wire_minor FROM batches").fetchall()
        )
    assert stats["deltas"] == 0 and stats["batches_sent"] == 3
    assert minors == [(0,)]
    assert_exactly_once(sent, await stored_reports(tmp_path / "server"))


def test_every_reading_is_named_the_same_by_both_sides():
    """The server names a stored reading by the digest of its own encoding; the agent by the
    digest of its canonical bytes: for a report written out with its defaults they agree."""
    report = make_report(3)
    loud = msgspec.msgpack.encode(msgspec.to_builtins(report)) + b""
    plain = msgspec.msgpack.decode(loud)
    plain["counters"][0]["unit"] = "impressions"  # a default written out
    spooled = msgspec.msgpack.encode(plain)
    assert spooled != model.encode(report)
    assert delta.digest(delta.canonical(spooled)) == delta.digest(model.encode(report))


async def test_the_store_finds_bases_by_digest_for_their_agent_only(tmp_path):
    store = await Store.open(tmp_path)
    try:
        token_a, token_b = new_token(), new_token()
        await store.add_agent("c", token_a)
        await store.add_agent("d", token_b)
        c = await store.agent_for_token(token_a)
        d = await store.agent_for_token(token_b)
        assert c is not None and d is not None
        report = make_report(1)
        await store.ingest(c, "b1", [report])
        name = delta.digest(model.encode(report))
        assert await store.reading_bases(c, {name, b"\x00" * 8}) == {name: model.encode(report)}
        assert await store.reading_bases(d, {name}) == {}
    finally:
        await store.aclose()


async def test_a_long_cycle_goes_in_full_batches_then_the_rest(tmp_path):
    """Holding never holds more than a batch: 7 reports with batch_reports=3 leave as 3 + 3 + 1
    (not 3 and then one batch per report)."""
    async with run_server(tmp_path / "server", insecure_http=True) as server:
        token = new_token()
        await server.store.add_agent("a", token)
        async with _plain_uplink(server.port, token, tmp_path, batch_reports=3) as up:
            reports = [make_report(i) for i in range(7)]
            async with up.holding():
                for report in reports:
                    await up.submit(report)
                    await trio.sleep(0.05)  # the sender has time to take each full batch
            assert await up.flush(10), up.stats
            stats = dict(up.stats)
    assert stats["batches_sent"] == 3, stats
    assert_exactly_once(reports, await stored_reports(tmp_path / "server"))


async def test_a_server_that_refuses_the_kind_gets_plain_batches(tmp_path, monkeypatch):
    """An instance that names 1.1 but reads no ``delta_batch`` (a rolling upgrade behind one
    address): its ``422 unsupported message kind`` sends the batch again, plain; nothing is
    quarantined, nothing lost."""
    import printerhq.server.app as app

    async def old_decode(store, agent, data):
        return wire.decode_batch_reports(data)  # what a 1.0 server does with any kind but "batch"

    monkeypatch.setattr(app, "decode_readings", old_decode)
    async with run_server(tmp_path / "server", insecure_http=True, websocket=False) as server:
        token = new_token()
        await server.store.add_agent("a", token)
        async with _plain_uplink(server.port, token, tmp_path, transport="http") as up:
            sent = await _upload_cycles(up, range(3))
            stats = dict(up.stats)
    assert stats["deltas"] > 0 and stats["rejected"] == 0, stats  # tried, refused, resent
    assert_exactly_once(sent, await stored_reports(tmp_path / "server"))


@pytest.mark.parametrize("transport", ["websocket", "http"])
async def test_a_refused_report_in_a_delta_batch_is_the_one_set_aside(tmp_path, transport):
    """A delta batch puts its full reports first, so the server's refusal names a position in
    the message, not in the spool: the uplink maps it back. The refused report (a new device
    whose reading is older than the server keeps) goes to the rejected table, the deltas of
    the known devices around it are stored, and the refused reading never becomes a base."""
    async with run_server(
        tmp_path / "server", insecure_http=True, websocket=transport == "websocket"
    ) as server:
        token = new_token()
        await server.store.add_agent("a", token)
        async with _plain_uplink(server.port, token, tmp_path, transport=transport) as up:
            sent = await _upload_cycles(up, range(1))
            stale = msgspec.structs.replace(make_report(9), scanned_at=RECENT - 500 * 86400)
            second = _cycle(1)
            async with up.holding():  # spool order: delta, refused full report, deltas
                for report in [second[0], stale, *second[1:]]:
                    await up.submit(report)
            assert await up.flush(10), up.stats
            stats = dict(up.stats)
            spool = up._open_spool.sync
            rejected = spool.rejected()
            kept = [
                model.decode_device_report(bytes(row[0]))
                for row in spool._db.execute("SELECT data FROM rejected")
            ]
            bases = len(up.bases)
    assert stats["deltas"] == 5 and stats["refused_reports"] == 1, stats
    assert len(rejected) == 1 and "report 1:" in rejected[0][1], rejected
    assert kept == [stale]  # the refused report itself, not the delta in its message position
    assert bases == 5  # the refused device has no base: its next reading goes whole
    assert_exactly_once(sent + second, await stored_reports(tmp_path / "server"))
