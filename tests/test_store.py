"""The store behaves the same on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from printerhq import model
from printerhq.server import migrations
from printerhq.server.store import Store, StoreError, device_key

from .helpers_server import make_report


async def test_migrations_are_versioned_and_idempotent(database):
    first = await Store.open(*database)
    assert await first.schema_version() == migrations.LATEST
    await first.aclose()
    again = await Store.open(*database)  # a restart (or a second instance) migrates nothing
    assert await again.schema_version() == migrations.LATEST
    assert (
        await again.run(lambda c: c.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0])
        == migrations.LATEST
    )
    await again.aclose()


async def test_agents_tokens_hashed_and_revocable(store):
    await store.add_agent("site-a", "secret-token-a")
    agent = await store.agent_for_token("secret-token-a")
    assert agent is not None and agent.name == "site-a"
    assert await store.agent_for_token("wrong") is None
    stored = await store.run(lambda c: c.execute("SELECT token_hash FROM agents").fetchone()[0])
    assert "secret-token-a" not in stored and len(stored) == 64
    with pytest.raises(StoreError):
        await store.add_agent("site-a", "another")
    assert await store.revoke_agent("site-a")
    assert await store.agent_for_token("secret-token-a") is None
    assert not await store.revoke_agent("site-a")
    [listed] = await store.list_agents()
    assert listed["health"] == "revoked"
    await store.add_agent("site-a", "new-token")  # re-issue after revocation
    assert (await store.agent_for_token("new-token")).name == "site-a"


async def test_ingest_is_idempotent_by_agent_and_batch(store):
    await store.add_agent("a", "ta")
    await store.add_agent("b", "tb")
    a, b = await store.agent_for_token("ta"), await store.agent_for_token("tb")
    reports = [make_report(i) for i in range(5)]
    first = await store.ingest(a, "batch-1", reports)
    again = await store.ingest(a, "batch-1", reports)
    assert (first.duplicate, first.reports) == (False, 5)
    assert (again.duplicate, again.reports) == (True, 0)
    other = await store.ingest(b, "batch-1", reports[:2])  # same id from another agent is distinct
    assert not other.duplicate
    assert (await store.totals())["readings"] == 7
    agents = {x["name"]: x for x in await store.list_agents()}
    assert agents["a"]["reports"] == 5 and agents["a"]["health"] == "ok"


async def test_concurrent_duplicates_store_once(store):
    await store.add_agent("a", "ta")
    a = await store.agent_for_token("ta")
    reports = [make_report(i) for i in range(20)]
    results = []

    async def send():
        results.append(await store.ingest(a, "same-batch", reports))

    async with trio.open_nursery() as nursery:
        for _ in range(6):
            nursery.start_soon(send)
    assert sorted(r.duplicate for r in results) == [False] + [True] * 5
    assert (await store.totals())["readings"] == 20


async def test_time_series_and_latest(store):
    await store.add_agent("a", "ta")
    a = await store.agent_for_token("ta")
    reports = [make_report(i, serials=2) for i in range(10)]
    await store.ingest(a, "b1", reports[:5])
    await store.ingest(a, "b2", reports[5:])
    devices = await store.list_devices()
    assert len(devices) == 2
    dev = next(d for d in devices if d["serial"] == "PHQ00000")
    assert dev["key"] == device_key(reports[0].identity)
    history = await store.counter_history(dev["id"], "total")
    assert [h["value"] for h in history] == [10_000 + i for i in range(0, 10, 2)]
    assert [h["scanned_at"] for h in history] == sorted(h["scanned_at"] for h in history)
    supplies = await store.supply_history(dev["id"])
    assert len(supplies) == 5 and supplies[0]["kind"] == "toner"
    latest = await store.latest(dev["id"])
    assert latest["report"]["scanned_at"] == reports[8].scanned_at
    assert latest["report"]["identity"]["serial"] == "PHQ00000"
    assert await store.latest(999_999) is None
    # Every reading keeps the full report, byte-exact after a round trip.
    stored = await store.all_readings()
    assert sorted(model.decode_device_report(r).scanned_at for _, _, r in stored) == [
        r.scanned_at for r in reports
    ]


async def test_device_identity_survives_address_change(store):
    await store.add_agent("a", "ta")
    a = await store.agent_for_token("ta")
    r1 = make_report(0)
    r2 = make_report(13)  # same serial (13 serials), later, other address
    assert r1.identity.serial == r2.identity.serial and r1.identity.address != r2.identity.address
    await store.ingest(a, "b2", [r2])
    await store.ingest(
        a, "b1", [r1]
    )  # an older report arriving late does not move the address back
    [dev] = await store.list_devices()
    assert dev["address"] == r2.identity.address
    assert dev["first_seen"] == r1.scanned_at and dev["last_seen"] == r2.scanned_at


async def test_revoked_agent_cannot_ingest(store):
    from printerhq.server.store import AgentRevoked

    await store.add_agent("a", "ta")
    a = await store.agent_for_token("ta")
    await store.revoke_agent("a")
    with pytest.raises(AgentRevoked):
        await store.ingest(a, "b", [make_report(0)])
    assert (await store.totals())["readings"] == 0


def _released_ingest(
    conn, store: Store, agent_id: int, batch_id: str, report: model.DeviceReport
) -> None:
    """One report stored the way the releases before migration 3 did (no version columns): the
    store's own ``ingest`` writes today's columns, which an old database does not have yet."""

    def x(sql: str, params: tuple[object, ...]) -> Any:
        return conn.execute(store.dialect.sql(sql), params)

    from printerhq.server.store import device_key as key_of

    with store.dialect.transaction(conn):
        x(
            "INSERT INTO batches(agent_id, batch_id, received_at, reports) VALUES (?, ?, ?, ?)",
            (agent_id, batch_id, 2.0, 1),
        )
        ident, t = report.identity, report.scanned_at
        device_id = x(
            "INSERT INTO devices(device_key, address, serial, first_seen, last_seen, "
            "last_agent_id) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (key_of(ident), ident.address, ident.serial, t, t, agent_id),
        ).fetchone()[0]
        x(
            "INSERT INTO readings(device_id, agent_id, batch_id, scanned_at, received_at, report) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (device_id, agent_id, batch_id, t, 2.0, model.encode(report)),
        )


async def test_schema_1_database_upgrades_to_token_roles(database):
    """A database as the release before token roles left it (migration 1 only, an agent and its
    readings) upgrades in place: the agent keeps uploading, and viewers can be added."""
    old = await Store.open(*database, migrate_to=1)
    assert await old.schema_version() == 1
    token = "old-agent-token-" + "x" * 20
    from printerhq.server.store import hash_token

    def v1_agent(conn):  # the v1 INSERT: there is no role column yet
        conn.execute(
            old.dialect.sql("INSERT INTO agents(name, token_hash, created_at) VALUES (?, ?, ?)"),
            ("site-old", hash_token(token), 1.0),
        )

    await old.run(v1_agent)
    old_agent = await old.run(lambda c: c.execute("SELECT id, name FROM agents").fetchone())
    await old.run(_released_ingest, old, int(old_agent[0]), "b-old", make_report(1))
    await old.aclose()

    new = await Store.open(*database)
    try:
        assert await new.schema_version() == migrations.LATEST >= 2
        agent = await new.agent_for_token(token)
        assert agent is not None and (agent.name, agent.role) == ("site-old", "agent")
        assert (await new.ingest(agent, "b-new", [make_report(2)])).reports == 1
        assert [d["agent"] for d in await new.list_devices()] == ["site-old", "site-old"]
        await new.add_viewer("reader", "viewer-token-" + "y" * 20)
        assert (
            await new.agent_for_token("viewer-token-" + "y" * 20) is None
        )  # a viewer never uploads
        roles = {t["name"]: t["role"] for t in await new.list_tokens()}
        assert roles == {"site-old": "agent", "reader": "viewer"}
        assert [a["name"] for a in await new.list_agents()] == ["site-old"]
    finally:
        await new.aclose()


async def test_viewer_and_agent_names_share_one_namespace(store):
    await store.add_agent("alpha", "t-agent-" + "a" * 20)
    with pytest.raises(StoreError, match="agent"):
        await store.add_viewer("alpha", "t-viewer-" + "b" * 20)
    await store.add_viewer("beta", "t-viewer-" + "c" * 20)
    assert not await store.revoke_agent("beta")  # the agent command cannot revoke a viewer
    assert await store.revoke_viewer("beta")
    assert await store.token_holder("t-viewer-" + "c" * 20) is None
    await store.add_viewer("beta", "t-viewer-" + "d" * 20)  # a revoked viewer is re-issued
    holder = await store.token_holder("t-viewer-" + "d" * 20)
    assert holder is not None and holder.role == "viewer"


async def test_fleet_joins_each_device_with_its_latest_report(store):
    await store.add_agent("a", "fleet-token-" + "z" * 20)
    agent = await store.agent_for_token("fleet-token-" + "z" * 20)
    await store.ingest(agent, "b-1", [make_report(i) for i in range(4)])
    await store.ingest(
        agent, "b-2", [make_report(i + 13) for i in range(2)]
    )  # newer scans of 0 and 1
    fleet = await store.fleet()
    assert [d["id"] for d in fleet] == [d["id"] for d in await store.list_devices()]
    latest = {d["serial"]: d["report"].scanned_at for d in fleet}
    base = make_report(0).scanned_at
    assert latest == {
        "PHQ00000": base + 13,
        "PHQ00001": base + 14,
        "PHQ00002": base + 2,
        "PHQ00003": base + 3,
    }
    one = await store.device(fleet[0]["id"])
    assert one == {k: v for k, v in fleet[0].items() if k != "report"}
    assert await store.device(10**9) is None


async def test_versions_are_stored_and_old_rows_read_as_wire_1(database):
    """Migration 3: each batch keeps the wire version the agent declared and each reading its
    report's schema; rows stored before the migration read as wire 1.0, schema 1 (the only
    version released until then)."""
    old = await Store.open(*database, migrate_to=2)
    await old.add_agent("site-a", "token-a-" + "x" * 20)
    agent = await old.agent_for_token("token-a-" + "x" * 20)
    await old.run(_released_ingest, old, agent.id, "b-old", make_report(1))
    await old.aclose()
    new = await Store.open(*database)
    try:
        assert await new.schema_version() == migrations.LATEST >= 3
        await new.ingest(agent, "b-new", [make_report(2), make_report(3)], version=(1, 4))
        assert await new.reading_versions() == [
            ("site-a", "b-old", 1, 1, 0),
            ("site-a", "b-new", model.SCHEMA_VERSION, 1, 4),
            ("site-a", "b-new", model.SCHEMA_VERSION, 1, 4),
        ]
    finally:
        await new.aclose()


async def test_rows_stored_before_the_bounds_read_back_on_both_databases(store):
    """Issue 11: what main stored (far-future and infinite times, a 7 MiB string) reads back
    inside the bounds; far-future rows do not pin a device; absurd ids are no device."""
    import time

    from printerhq import limits

    from .test_ingest_limits import store_legacy_rows

    await store.add_agent("a", "legacy-token-" + "z" * 20)
    agent = await store.agent_for_token("legacy-token-" + "z" * 20)
    await store_legacy_rows(store, agent)
    horizon = time.time() + limits.MAX_CLOCK_SKEW
    fleet = await store.fleet()
    assert fleet and all(len(d["model"] or "") <= limits.MAX_TEXT for d in fleet)
    for device in fleet:
        if device["report"] is not None:
            assert device["report"].scanned_at <= horizon
            assert len(device["report"].identity.sys_descr or "") <= limits.MAX_TEXT
        latest = await store.latest(device["id"])
        assert latest is None or latest["scanned_at"] <= horizon
        for row in await store.counter_history(device["id"]):
            assert 0 <= row["scanned_at"] <= horizon
    pinned = next(d for d in fleet if d["serial"] == make_report(1).identity.serial)
    assert pinned["last_seen"] <= horizon  # a later normal reading replaced the far-future one
    for absurd in (0, -1, 2**63, 10**30):
        assert await store.device(absurd) is None and await store.latest(absurd) is None
        assert not await store.device_exists(absurd)
        assert await store.since_last_scans(absurd, 3) == 0.0
    await store.count_refused(agent, 2, "batch b, report 0: too long")
    await store.count_refused(agent, 1, "batch c, report 4: too old")
    listing = await store.run(
        lambda conn: store._x(
            conn, "SELECT reports_refused, last_refusal FROM agents WHERE name = 'a'"
        ).fetchone()
    )
    assert tuple(listing) == (3, "batch c, report 4: too old")


async def test_health_check_does_not_queue_behind_a_full_pool(store, monkeypatch):
    """/healthz reads on a connection of its own: with every pooled connection busy (a burst
    of ingest) it still answers; a failure drops that connection and the next check reconnects."""
    release = trio.Event()
    holding = 0

    async def hold() -> None:
        nonlocal holding
        async with store._slots:
            holding += 1
            await release.wait()

    async with trio.open_nursery() as nursery:
        for _ in range(store._slots.value):
            nursery.start_soon(hold)
        while holding < 1 or store._slots.value:
            await trio.sleep(0.01)
        answered = None
        with trio.move_on_after(60):  # a hang guard, not a timing: the old check waited for ever
            answered = await store.health()
        release.set()
    assert answered == migrations.LATEST

    def refuse():
        raise OSError("database unreachable")

    store._health_conn.close()
    store._health_conn = None
    monkeypatch.setattr(store.dialect, "connect", refuse)
    with pytest.raises(OSError):
        await store.health()
    monkeypatch.undo()
    assert await store.health() == migrations.LATEST


async def test_sites_group_agents_and_their_devices(store):
    """Migration 8: an agent belongs to a site (its own name until one is set) and a device to
    the site of the agent that last reported it."""
    await store.add_agent("north-1", "site-token-" + "n" * 20, site="Acme Ltd")
    await store.add_agent("solo", "site-token-" + "s" * 20)
    north = await store.agent_for_token("site-token-" + "n" * 20)
    solo = await store.agent_for_token("site-token-" + "s" * 20)
    await store.ingest(north, "b-1", [make_report(0)])
    await store.ingest(solo, "b-1", [make_report(1)])
    sites = {d["serial"]: d["site"] for d in await store.list_devices()}
    assert sites == {"PHQ00000": "Acme Ltd", "PHQ00001": "solo"}
    await store.set_site("solo", "Beta GmbH")
    assert {d["name"]: d["site"] for d in await store.list_agents()} == {
        "north-1": "Acme Ltd",
        "solo": "Beta GmbH",
    }
    assert {d["serial"]: d["site"] for d in await store.fleet()}["PHQ00001"] == "Beta GmbH"
    for bad in ("", " padded", "x" * 65, "bell\x07"):
        with pytest.raises(StoreError, match="site name"):
            await store.set_site("solo", bad)
    with pytest.raises(StoreError, match="no agent"):
        await store.set_site("nobody", "Acme Ltd")
    with pytest.raises(StoreError, match="site name"):  # checked before the token is issued
        await store.add_agent("late", "site-token-" + "l" * 20, site="\x1b[31m")
    assert await store.agent_for_token("site-token-" + "l" * 20) is None
