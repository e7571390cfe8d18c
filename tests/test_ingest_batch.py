"""Batched ingest (issue 14): rows written in bulk still name the right reading and device,
under concurrent batches from several agents, on SQLite and PostgreSQL."""

from __future__ import annotations

import msgspec
import trio

from printerhq import model
from printerhq.server.store import Store

from .helpers_server import make_report


def report(agent: int, i: int) -> model.DeviceReport:
    """Agent ``agent``'s report ``i``: 5 printers of its own, interleaved in each batch; each
    report's counter value and supply level name it."""
    base = make_report(i, serials=5)
    return msgspec.structs.replace(
        base,
        identity=msgspec.structs.replace(base.identity, serial=f"B{agent}-{i % 5}"),
        counters=[model.Counter(name="total", value=agent * 1_000_000 + i)],
        supplies=[msgspec.structs.replace(base.supplies[0], level=i % 100, index=1 + i % 3)],
    )


async def test_bulk_rows_name_their_reading_under_concurrent_batches(database):
    store = await Store.open(*database)
    try:
        agents = []
        for a in range(6):
            await store.add_agent(f"a{a}", f"token-{a}")
            holder = await store.agent_for_token(f"token-{a}")
            assert holder is not None
            agents.append(holder)

        async def upload(a: int) -> None:
            for b in range(4):
                batch = [report(a, b * 30 + i) for i in range(30)]
                await store.ingest(agents[a], f"b{b}", batch)
            # A retry of a batch stores nothing more.
            again = await store.ingest(agents[a], "b0", [report(a, i) for i in range(30)])
            assert again.duplicate

        async with trio.open_nursery() as nursery:
            for a in range(len(agents)):
                nursery.start_soon(upload, a)

        def rows(conn):
            readings = conn.execute(
                "SELECT r.id, r.device_id, r.scanned_at, r.report, d.serial FROM readings r "
                "JOIN devices d ON d.id = r.device_id"
            ).fetchall()
            counters = conn.execute(
                "SELECT reading_id, device_id, scanned_at, value FROM counter_readings"
            ).fetchall()
            supplies = conn.execute(
                "SELECT reading_id, device_id, scanned_at, level, idx FROM supply_readings"
            ).fetchall()
            return readings, counters, supplies

        readings, counters, supplies = await store.run(rows)
        assert len(readings) == len(counters) == len(supplies) == 6 * 4 * 30
        by_id = {}
        for reading_id, device_id, scanned_at, data, serial in readings:
            stored = model.decode_device_report(bytes(data))
            assert stored.identity.serial == serial  # the reading is on its own device
            by_id[reading_id] = (device_id, scanned_at, stored)
        assert len(by_id) == len(readings)
        for reading_id, device_id, scanned_at, value in counters:
            owner_device, owner_at, stored = by_id[reading_id]
            assert (device_id, scanned_at) == (owner_device, owner_at)
            assert value == stored.counters[0].value  # the counter row of this very report
        for reading_id, device_id, scanned_at, level, idx in supplies:
            owner_device, owner_at, stored = by_id[reading_id]
            assert (device_id, scanned_at) == (owner_device, owner_at)
            assert (level, idx) == (stored.supplies[0].level, stored.supplies[0].index)
        assert (await store.totals())["devices"] == 6 * 5
    finally:
        await store.aclose()
