"""The collection planner, driven in-process against the simulator's sans-IO agent."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from printerhq.collect import Collection, DeviceCache, Response, collect_in_process
from printerhq.collect.cost import Column, choose_repetitions, exact_cost, request_varbind_size
from printerhq.mib import standard as std
from printerhq.sim.agent import Agent
from printerhq.sim.recording import Recording
from printerhq.snmp.ber import Tag
from printerhq.snmp.message import Message, Pdu, PduType, Varbind, Version

from .helpers_metrics import FIXTURES, collect_path, discover, load

PRINTER_FIXTURES = [
    p for p in sorted(FIXTURES.glob("*.snmprec")) if not p.stem.startswith(("cisco", "linux"))
]


def run(
    recording: Recording, cache: DeviceCache | None = None, agent: Agent | None = None, **options
):
    agent = agent or Agent(recording)
    version = Version.V2C if Version.V2C in recording.versions else Version.V1
    return collect_in_process(discover(recording), agent.respond, cache, version=version, **options)


@pytest.mark.parametrize("path", PRINTER_FIXTURES, ids=lambda p: p.stem)
def test_cold_then_warm(path: Path):
    recording, agent, _ = load(path)
    cache = DeviceCache()
    cold = run(recording, cache, agent)
    warm = run(recording, cache, agent)
    assert cold.collection == "cold" and warm.collection == "warm"
    assert cold.supplies and cold.identity.model
    assert not cold.errors and not warm.errors
    # the warm pass reads only dynamic values, yet reports the same metrics
    assert [(s.description, s.level, s.percent, s.state) for s in warm.supplies] == [
        (s.description, s.level, s.percent, s.state) for s in cold.supplies
    ]
    assert [(c.name, c.value) for c in warm.counters] == [(c.name, c.value) for c in cold.counters]
    assert warm.status == cold.status
    assert warm.alerts == cold.alerts
    assert warm.identity.serial == cold.identity.serial
    assert warm.cost.wire_bytes < cold.cost.wire_bytes
    assert warm.cost.requests <= cold.cost.requests


def test_fixture_values_lexmark_v1():
    report, agent = collect_path(FIXTURES / "lexmark_e260dn.snmprec")
    assert report.protocol == "snmpv1"
    assert all(entry.pdu_type != PduType.GET_BULK for entry in agent.request_log)
    assert report.identity.serial == "79W1234"
    assert report.identity.mac == "00:21:b7:c4:d5:e6"
    assert report.identity.colour is False
    black = report.supplies[0]
    assert (black.description, black.level, black.capacity, black.percent, black.unit) == (
        "Black Cartridge",
        30,
        100,
        30.0,
        "percent",
    )
    assert {(c.name, c.value) for c in report.counters} >= {("total", 133002), ("power_on", 2210)}
    assert report.status.errors == ["noPaper"] and report.status.device == "down"
    assert report.status.console == ["Load Tray 1", "Letter"]
    assert [(a.severity, a.code_name, a.description) for a in report.alerts] == [
        ("critical", "inputMediaSupplyEmpty", "Load Tray 1 Letter")
    ]


def test_fleet_cache_is_per_address_and_bounded():
    recording, agent, _ = load(FIXTURES / "ricoh_mp-c3004.snmprec")
    cache = DeviceCache(max_devices=2)
    identity = discover(recording)
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        other = msgspec.structs.replace(identity, address=address)
        assert collect_in_process(other, agent.respond, cache).collection == "cold"
    assert list(cache.devices) == ["10.0.0.2", "10.0.0.3"]
    again = msgspec.structs.replace(identity, address="10.0.0.3")
    assert collect_in_process(again, agent.respond, cache).collection == "warm"
    forgotten = msgspec.structs.replace(identity, address="10.0.0.1")
    assert collect_in_process(forgotten, agent.respond, cache).collection == "cold"


def test_cache_survives_msgpack_round_trip():
    recording, agent, _ = load(FIXTURES / "hp_laserjet-pro-m404dn.snmprec")
    cache = DeviceCache()
    cold = run(recording, cache, agent)
    restored = msgspec.msgpack.decode(msgspec.msgpack.encode(cache), type=DeviceCache)
    warm = run(recording, restored, agent)
    assert warm.collection == "warm"
    assert warm.supplies == cold.supplies


def test_refresh_every_n_scans():
    recording, agent, _ = load(FIXTURES / "ricoh_mp-c3004.snmprec")
    cache = DeviceCache()
    kinds = [run(recording, cache, agent, refresh_every=2).collection for _ in range(5)]
    assert kinds == ["cold", "warm", "warm", "cold", "warm"]


def _edited(path: Path, changes: dict[str, str]) -> Recording:
    lines = []
    for line in path.read_text().splitlines():
        key = line.split("|", 1)[0]
        lines.append(changes.pop(key) if key in changes else line)
    lines += changes.values()
    return Recording.parse("\n".join(lines) + "\n", path.stem)


def test_reboot_makes_the_next_collection_cold():
    path = FIXTURES / "hp_laserjet-pro-m404dn.snmprec"
    cache = DeviceCache()
    run(Recording.load(path), cache)
    rebooted = _edited(path, {"1.3.6.1.2.1.1.3.0": "1.3.6.1.2.1.1.3.0|67|100"})
    assert run(rebooted, cache).collection == "cold"


def test_other_serial_makes_the_collection_cold():
    path = FIXTURES / "kyocera_ecosys-p3145dn.snmprec"
    cache = DeviceCache()
    first = run(Recording.load(path), cache)
    swapped = _edited(path, {"1.3.6.1.2.1.43.5.1.1.17.1": "1.3.6.1.2.1.43.5.1.1.17.1|4|NEWSERIAL1"})
    report = run(swapped, cache)
    assert report.collection == "cold"
    assert first.identity.serial != "NEWSERIAL1"


def test_cartridge_swap_rereads_capacity():
    path = FIXTURES / "hp_laserjet-pro-m404dn.snmprec"
    recording = Recording.load(path)
    supply_oid = std.PRT_SUPPLY_ENTRY + (9, 1, 1)
    level_line = f"{'.'.join(map(str, supply_oid))}|2|"
    capacity_line = "1.3.6.1.2.1.43.11.1.1.8.1.1|2|"
    cache = DeviceCache()
    low = _edited(
        path, {level_line[:-3]: level_line + "5", capacity_line[:-3]: capacity_line + "100"}
    )
    first = run(low, cache)
    assert first.supplies[0].capacity == 100 and first.supplies[0].level == 5
    # new high-yield cartridge: level jumps, capacity changes; a warm scan notices
    new = _edited(
        path, {level_line[:-3]: level_line + "9000", capacity_line[:-3]: capacity_line + "10000"}
    )
    second = run(new, cache)
    assert second.collection == "warm"
    assert (second.supplies[0].capacity, second.supplies[0].level, second.supplies[0].percent) == (
        10000,
        9000,
        90.0,
    )
    assert recording  # the original file is untouched


def test_counter32_wrap():
    path = FIXTURES / "lexmark_e260dn.snmprec"
    life = "1.3.6.1.2.1.43.10.2.1.4.1.1"
    cache = DeviceCache()
    before = run(_edited(path, {life: f"{life}|65|4294967000"}), cache)
    after = run(_edited(path, {life: f"{life}|65|704"}), cache)
    total = {c.name: c.value for c in before.counters}["total"]
    wrapped = {c.name: c.value for c in after.counters}["total"]
    assert total == 4294967000 and wrapped == 2**32 + 704


def test_small_message_size_splits_requests():
    recording, _, _ = load(FIXTURES / "xerox_versalink-c405.snmprec")
    normal = run(recording)
    small_agent = Agent(recording, max_size=484)  # RFC 3417 minimum a manager must accept
    cache = DeviceCache()
    small = run(recording, cache, small_agent)
    assert small.supplies == normal.supplies
    assert small.counters == normal.counters
    assert small.cost.requests > normal.cost.requests
    assert cache.state_for("127.0.0.1").max_varbinds is not None
    warm = run(recording, cache, small_agent)
    assert warm.supplies == normal.supplies


class _BrokenGetAgent(Agent):
    """A device whose GET answers genErr while GETNEXT works (seen on old print servers)."""

    def reply(self, message: Message) -> Message:
        if message.pdu.type == PduType.GET:
            return Message(
                message.version,
                message.community,
                Pdu(PduType.RESPONSE, message.pdu.request_id, 5, 1, list(message.pdu.varbinds)),
            )
        return super().reply(message)


def test_get_fails_where_getnext_works():
    recording, _, _ = load(FIXTURES / "brother_hl-l2350dw.snmprec")
    normal = run(recording)
    broken = run(recording, agent=_BrokenGetAgent(recording))
    assert broken.identity.model == normal.identity.model
    assert broken.identity.serial == normal.identity.serial
    assert broken.supplies == normal.supplies
    assert broken.counters == normal.counters


def test_hostile_values_become_field_problems():
    path = FIXTURES / "epson_wf-c5790.snmprec"
    hostile = _edited(
        path,
        {
            "1.3.6.1.2.1.43.11.1.1.9.1.1": "1.3.6.1.2.1.43.11.1.1.9.1.1|4|lots",
            "1.3.6.1.2.1.43.11.1.1.8.1.2": "1.3.6.1.2.1.43.11.1.1.8.1.2|2|0",
            "1.3.6.1.2.1.25.3.5.1.2.1": "1.3.6.1.2.1.25.3.5.1.2.1|2|7",
            "1.3.6.1.2.1.43.10.2.1.4.1.1": "1.3.6.1.2.1.43.10.2.1.4.1.1|6|1.3.6",
        },
    )
    report = run(hostile)
    fields = {p.field for p in report.invalid}
    assert any(f.startswith("supplies[1.1].level") for f in fields)
    assert any(f.startswith("supplies[1.2]") for f in fields)
    assert "status.errors" in fields
    assert any(f.startswith("counters[") for f in fields)
    assert report.supplies[0].level is None and report.supplies[1].capacity is None
    assert len(report.supplies) == len(run(Recording.load(path)).supplies)


def test_collection_stops_cleanly_without_replies():
    recording, _, _ = load(FIXTURES / "ricoh_mp-c3004.snmprec")
    report = collect_in_process(discover(recording), lambda data: None)
    assert report.errors == ["no reply"]
    assert report.cost.requests == 1 and report.cost.received_bytes == 0


def test_state_machine_rejects_misuse():
    recording, _, _ = load(FIXTURES / "ricoh_mp-c3004.snmprec")
    collection = Collection(discover(recording))
    with pytest.raises(RuntimeError):
        collection.feed(Response([]))
    collection.next_request()
    with pytest.raises(RuntimeError):
        collection.next_request()


def _without_alerts(path: Path, events: int) -> str:
    lines = [
        line
        for line in path.read_text().splitlines()
        if not line.startswith("1.3.6.1.2.1.43.18.1.1.")
    ]
    lines = [
        f"1.3.6.1.2.1.43.5.1.1.19.1|65|{events}"
        if line.startswith("1.3.6.1.2.1.43.5.1.1.19.1|")
        else line
        for line in lines
    ]
    return "\n".join(lines) + "\n"


def test_alerts_follow_the_table_and_read_only_new_rows():
    path = FIXTURES / "hp_laserjet-pro-m404dn.snmprec"
    cache = DeviceCache()
    cold = run(Recording.load(path), cache)
    assert [a.code_name for a in cold.alerts] == ["markerTonerAlmostEmpty", "powerUp"]
    # both alerts cleared, no new one (prtAlertAllEvents unchanged): reported empty
    cleared_text = _without_alerts(path, 59)
    cleared = run(Recording.parse(cleared_text, "cleared"), cache)
    assert cleared.collection == "warm" and cleared.alerts == []
    # nothing added since: the table is not even looked at
    agent = Agent(Recording.parse(cleared_text, "cleared"))
    quiet = run(agent.recording, cache, agent)
    assert quiet.alerts == []
    assert not any(
        o[:10] == (1, 3, 6, 1, 2, 1, 43, 18, 1, 1)
        for entry in agent.request_log
        for o in entry.oids
    )
    # a new alert (row 3) appears and the counter moves: only row 3's columns are read
    added_text = cleared_text + "".join(
        f"1.3.6.1.2.1.43.18.1.1.{column}.1.3|{value}\n"
        for column, value in (
            (2, "2|3"),
            (4, "2|6"),
            (5, "2|1"),
            (7, "2|3"),
            (8, "4|Front door open"),
            (9, "67|999"),
        )
    )
    added_text = added_text.replace(
        "1.3.6.1.2.1.43.5.1.1.19.1|65|59", "1.3.6.1.2.1.43.5.1.1.19.1|65|60"
    )
    agent = Agent(Recording.parse(added_text, "added"))
    added = run(agent.recording, cache, agent)
    assert [(a.index, a.severity, a.code_name, a.description) for a in added.alerts] == [
        (3, "critical", "coverOpen", "Front door open")
    ]
    asked = {o for entry in agent.request_log for o in entry.oids}
    assert not any(o[:11] == (1, 3, 6, 1, 2, 1, 43, 18, 1, 1, 8) and o[-1] != 3 for o in asked)
    # the next warm scan walks only the severity column and reuses the cached row
    agent = Agent(Recording.parse(added_text, "added"))
    again = run(agent.recording, cache, agent)
    assert again.alerts == added.alerts
    asked = {
        o[:11]
        for entry in agent.request_log
        for o in entry.oids
        if o[:9] == (1, 3, 6, 1, 2, 1, 43, 18, 1)
    }
    assert asked <= {(1, 3, 6, 1, 2, 1, 43, 18, 1, 1, 2)}


# --- hostile agents: whatever comes back, the collector finishes with a report -------------

_PREFIXES = [
    (1, 3, 6, 1, 2, 1, 43, 11, 1, 1),
    (1, 3, 6, 1, 2, 1, 43, 18, 1, 1),
    (1, 3, 6, 1, 2, 1, 43, 8, 2, 1),
    (1, 3, 6, 1, 2, 1, 25, 3, 2, 1),
    (1, 3, 6, 1, 2, 1, 1),
    (1, 3, 6, 1, 4, 1, 11, 2, 3, 9, 4, 2, 1),
    (1, 3, 6, 1, 4, 1, 367, 3, 2, 1, 2, 19, 5, 1),
]
_oids = st.builds(
    lambda prefix, tail: prefix + tuple(tail),
    st.sampled_from(_PREFIXES),
    st.lists(st.integers(0, 20), min_size=1, max_size=3),
)
_varbinds = st.one_of(
    st.builds(Varbind, _oids, st.just(Tag.INTEGER), st.integers(-(2**31), 2**31)),
    st.builds(Varbind, _oids, st.just(Tag.OCTET_STRING), st.binary(max_size=40)),
    st.builds(Varbind, _oids, st.just(Tag.COUNTER32), st.integers(0, 2**32 - 1)),
    st.builds(
        Varbind,
        _oids,
        st.sampled_from([Tag.NO_SUCH_OBJECT, Tag.END_OF_MIB_VIEW, Tag.NULL]),
        st.none(),
    ),
    st.builds(Varbind, _oids, st.just(Tag.OBJECT_IDENTIFIER), st.tuples(st.integers(0, 9))),
)
_responses = st.builds(
    Response,
    st.lists(_varbinds, max_size=40),
    st.sampled_from([0, 0, 0, 1, 2, 5]),
    st.integers(0, 40),
)


@settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    replies=st.lists(_responses, min_size=1, max_size=80),
    bulk=st.booleans(),
    warm_first=st.booleans(),
    fixture=st.sampled_from(["hp_laserjet-pro-m404dn", "ricoh_mp-c3004"]),
)
def test_random_replies_never_break_the_collector(replies, bulk, warm_first, fixture):
    # Ricoh: a vendor counter table (key column, then the value column read exactly; warm
    # split repeaters); HP: alerts, covers, console lines
    recording, agent, _ = load(FIXTURES / f"{fixture}.snmprec")
    cache = DeviceCache()
    if warm_first:  # a real cold pass first, so the hostile replies hit the warm plan
        run(recording, cache, agent)
    collection = Collection(discover(recording), cache, bulk=bulk)
    feed = iter(replies)
    requests = 0
    while collection.next_request() is not None:
        requests += 1
        assert requests <= 64
        collection.feed(next(feed, Response([])))
    report = collection.report()
    assert report.identity.address == "127.0.0.1"
    for supply in report.supplies:
        assert supply.percent is None or 0 <= supply.percent <= 100


# --- the trio shell over the real UDP client ------------------------------------------------


async def test_collect_over_udp_discovers_when_no_identity_is_given():
    import trio

    from printerhq.collect import collect
    from printerhq.snmp.client import SnmpClient, Target
    from printerhq.snmp.credentials import Community

    from .helpers_sim import running_fleet

    paths = [FIXTURES / "xerox_versalink-c405.snmprec", FIXTURES / "lexmark_e260dn.snmprec"]
    async with running_fleet(paths) as fleet:
        async with SnmpClient(timeout=0.5, retries=2) as client:
            cache = DeviceCache()
            with trio.fail_after(30):
                for address, path in zip(fleet.addresses, paths, strict=True):
                    target = Target(
                        address,
                        fleet.port,
                        credentials=[
                            Community(b"public", Version.V2C),
                            Community(b"public", Version.V1),
                        ],
                    )
                    cold = await collect(client, target, cache)
                    warm = await collect(client, target, cache)
                    expected, _ = collect_path(path)
                    assert cold.identity.model == expected.identity.model
                    assert cold.supplies == expected.supplies == warm.supplies
                    assert (cold.collection, warm.collection) == ("cold", "warm")
                    assert cold.protocol == ("snmpv1" if "lexmark" in path.stem else "snmpv2c")
                    assert cold.cost.requests > warm.cost.requests >= 1


# --- byte economy: the cost model and what it decides -----------------------------------------

_columns = st.lists(
    st.builds(
        lambda wanted, extra, cell, splittable, key: Column(
            key,
            wanted,
            wanted + extra,
            (1, 3, 6, 1, 2, 1, 43, 11, 1, 1, 9, 1, 0),
            wanted * 17,
            cell,
            splittable,
        ),
        st.integers(1, 40),
        st.integers(0, 10),
        st.integers(8, 60),
        st.booleans(),
        st.integers(),
    ),
    max_size=6,
    unique_by=lambda c: c.key,
)


def _total(columns: list[Column], reps: int, chosen: set) -> int:
    total = 0
    for column in columns:
        cost = column.repeat_cost(reps) if column.key in chosen else None
        total += cost if cost is not None else column.exact_cost
    return total


@settings(deadline=None)
@given(columns=_columns)
def test_choose_repetitions_is_the_cheapest_plan(columns):
    reps, chosen = choose_repetitions(columns, None, cap=60)
    for column in columns:
        if column.key in chosen:  # every repeated column is reached by its repeaters
            assert column.repeat_cost(reps) is not None
    best = _total(columns, reps, chosen)
    assert best <= sum(c.exact_cost for c in columns)
    # brute force: every max-repetitions, each column on its own cheapest side
    for other in range(1, 61):
        total = sum(min(c.exact_cost, c.repeat_cost(other) or c.exact_cost) for c in columns)
        assert best <= total


def test_cost_model_prefers_exact_cells_for_one_row_and_a_walk_for_many():
    oid = (1, 3, 6, 1, 2, 1, 43, 11, 1, 1, 9, 1)
    one = Column("one", 1, 1, oid + (0,), exact_cost([oid + (1,)]), 20)
    many = Column("many", 14, 14, oid + (0,), exact_cost([oid + (i,) for i in range(1, 15)]), 20)
    reps, chosen = choose_repetitions([one, many])
    assert chosen == {"many"} and reps == 14
    assert request_varbind_size(oid + (0,)) == exact_cost([oid + (1,)])  # GETNEXT = GET in bytes
    # a splittable column twice as long as another meets it with two repeaters, no overshoot
    long = Column("long", 28, 28, oid + (0,), 28 * 17, 20, splittable=True)
    reps, chosen = choose_repetitions([many, long])
    assert reps == 14 and chosen == {"many", "long"}


@pytest.mark.parametrize("path", PRINTER_FIXTURES, ids=lambda p: p.stem)
def test_unchanged_device_costs_one_warm_exchange(path: Path):
    recording, agent, _ = load(path)
    cache = DeviceCache()
    cold = run(recording, cache, agent)
    warm = run(recording, cache, agent)
    assert warm.cost.requests == 1  # alert rows, counters, levels: one GETBULK
    assert warm.alerts == cold.alerts


def test_cold_pass_reads_no_cell_twice():
    for path in PRINTER_FIXTURES:
        recording, agent, version = load(path)
        seen: list[tuple[int, ...]] = []

        def respond(
            data: bytes, agent: Agent = agent, seen: list[tuple[int, ...]] = seen
        ) -> bytes | None:
            from printerhq.snmp.message import decode_message

            reply = agent.respond(data)
            if reply is not None:
                seen.extend(
                    vb.oid for vb in decode_message(reply).pdu.varbinds if not vb.is_exception
                )
            return reply

        collect_in_process(discover(recording), respond, DeviceCache(), version=version)
        # (a walk's overshoot past the Printer MIB may meet a scalar the GET read: not counted)
        repeated = {o for o in seen if o[:7] == std.PRT and seen.count(o) > 1}
        assert not repeated, (path.stem, repeated)


def test_warm_pass_skips_objects_the_device_lacks():
    path = FIXTURES / "hp_laserjet-pro-m404dn.snmprec"
    text = "".join(
        line + "\n"
        for line in path.read_text().splitlines()
        if not line.startswith("1.3.6.1.2.1.1.3.0|")
    )
    cache = DeviceCache()
    cold = run(Recording.parse(text, "no-uptime"), cache)
    assert cold.identity.uptime_ticks is None
    agent = Agent(Recording.parse(text, "no-uptime"))
    warm = run(agent.recording, cache, agent)
    assert warm.collection == "warm"
    asked = {o for entry in agent.request_log for o in entry.oids}
    assert std.SYS_UPTIME not in asked and std.SYS_UPTIME[:-1] not in asked


def test_counter_table_value_column_is_read_exactly_once_its_rows_are_known():
    path = FIXTURES / "ricoh_mp-c3004.snmprec"
    recording, agent, _ = load(path)
    values = (1, 3, 6, 1, 4, 1, 367, 3, 2, 1, 2, 19, 5, 1, 9)
    returned: list[tuple[int, ...]] = []

    def respond(data: bytes) -> bytes | None:
        from printerhq.snmp.message import decode_message

        reply = agent.respond(data)
        if reply is not None:
            returned.extend(vb.oid for vb in decode_message(reply).pdu.varbinds)
        return reply

    cache = DeviceCache()
    cold = collect_in_process(discover(recording), respond, cache)
    cells = [o for o in returned if o[: len(values)] == values]
    # the key column's walk told the rows: the value column comes back once, nothing past it
    assert len(cells) == len(set(cells)) == 12
    walk = [tuple(r) for r in cache.state_for("127.0.0.1").column_rows[".".join(map(str, values))]]
    used = [
        tuple(int(p) for p in c.source.split("."))[len(values) :]
        for c in cold.counters
        if c.source.startswith(".".join(map(str, values)) + ".")
    ]
    assert used and set(used) <= set(walk) and (walk[0], walk[-1]) == (used[0], used[-1])
    warm = run(recording, cache, agent)
    assert [(c.name, c.value) for c in warm.counters] == [(c.name, c.value) for c in cold.counters]


@settings(deadline=None)
@given(
    oid=st.builds(
        lambda tail: (1, 3) + tuple(tail),
        st.lists(st.integers(0, 2**32 - 1) | st.integers(0, 200), max_size=20),
    )
)
def test_cost_model_oid_sizes_match_the_encoder(oid):
    from printerhq.collect.cost import oid_size
    from printerhq.snmp.ber import encode_oid

    assert oid_size(oid) == 2 + len(encode_oid(oid))


def test_a_refresh_reads_counter_names_only_when_the_rows_changed():
    path = FIXTURES / "ricoh_mp-c3004.snmprec"
    keys = (1, 3, 6, 1, 4, 1, 367, 3, 2, 1, 2, 19, 5, 1, 2)
    cache = DeviceCache()
    first = run(Recording.load(path), cache)
    agent = Agent(Recording.load(path))
    again = run(agent.recording, cache, agent, refresh_every=0)
    assert again.collection == "cold"
    assert [(c.name, c.value, c.label) for c in again.counters] == [
        (c.name, c.value, c.label) for c in first.counters
    ]
    asked = [o for entry in agent.request_log for o in entry.oids]
    assert not any(o[: len(keys)] == keys for o in asked)  # the cached names were reused
    assert again.cost.wire_bytes < first.cost.wire_bytes
    # a new row (code 300 fax, row 13): the names are read again and the new counter appears
    base = ".".join(map(str, keys[:-1]))
    added = _edited(
        path, {f"{base}.2.13": f"{base}.2.13|2|300", f"{base}.9.13": f"{base}.9.13|2|77"}
    )
    agent = Agent(added)
    changed = run(added, cache, agent, refresh_every=0)
    assert ("fax", 77) in [(c.name, c.value) for c in changed.counters]
    asked = [o for entry in agent.request_log for o in entry.oids]
    assert any(o[: len(keys)] == keys for o in asked)
