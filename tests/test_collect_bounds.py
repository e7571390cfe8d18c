"""Collector range validation (issue 11): nothing the collector emits can be refused by a
server that enforces ``printerhq.limits``.

The property test serves recordings whose values hypothesis replaces with anything a device can
encode (every SNMP type, the extremes of each, 3 KB strings with control characters, 128-arc
OIDs, rows at extreme indexes) and runs the real collection in-process (cold, then warm), every
request and reply encoded and decoded. Every number in the report must be inside its bound,
every string at most MAX_TEXT characters, every table at most MAX_TABLE_ROWS entries.
"""

from __future__ import annotations

import math
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from printerhq import limits
from printerhq.collect import DeviceCache, collect_in_process
from printerhq.collect.bounds import fit_report
from printerhq.model import (
    Alert,
    Counter,
    Cover,
    DeviceReport,
    FieldProblem,
    Identity,
    InputTray,
    Status,
    Supply,
)
from printerhq.sim.agent import Agent
from printerhq.sim.recording import Recording
from printerhq.snmp.ber import Tag
from printerhq.snmp.message import Varbind, Version

from .helpers_metrics import discover

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RECORDINGS = {
    name: Recording.load(FIXTURES / f"{name}.snmprec")
    for name in ("hp_laserjet-pro-m404dn", "kyocera_ecosys-p3145dn", "ricoh_mp-c3004")
}
INT32 = (-(2**31), 2**31 - 1)
# Row prefixes of the tables the report reads (supplies, inputs, covers, alerts, console, marker).
TABLE_COLUMNS = (
    [(1, 3, 6, 1, 2, 1, 43, 11, 1, 1, column, 1) for column in range(5, 10)]
    + [(1, 3, 6, 1, 2, 1, 43, 8, 2, 1, column, 1) for column in (8, 9, 10, 12, 13)]
    + [(1, 3, 6, 1, 2, 1, 43, 6, 1, 1, column, 1) for column in (2, 3)]
    + [(1, 3, 6, 1, 2, 1, 43, 18, 1, 1, column, 1) for column in range(2, 10)]
    + [
        (1, 3, 6, 1, 2, 1, 43, 16, 5, 1, 2, 1),
        (1, 3, 6, 1, 2, 1, 43, 10, 2, 1, 4, 1),
    ]
)
EXTREME_INDEXES = [0, 2**31 - 1, 2**31, 2**32 - 1]


def _ints(tag: int, low: int, high: int) -> st.SearchStrategy[tuple[int, object]]:
    edges = st.sampled_from(
        sorted(
            {low, low + 1, high - 1, high, 0, 2**31 - 1, -3, -2, -1} & set(range(low, high + 1))
            if high - low < 10
            else [
                v
                for v in (
                    low,
                    low + 1,
                    high - 1,
                    high,
                    0,
                    1,
                    2**31 - 1,
                    2**31,
                    2**53,
                    2**63,
                    -1,
                    -2,
                    -3,
                    -4,
                )
                if low <= v <= high
            ]
        )
    )
    return st.tuples(st.just(tag), st.one_of(edges, st.integers(low, high)))


_CONTROL = st.sampled_from([b"\x1b]0;x\x07", b"\x1b[2J", b"\r", b"\x08", b"\x00", b"\x9b31m"])
VALUES: st.SearchStrategy[tuple[int, object]] = st.one_of(
    _ints(Tag.INTEGER, *INT32),
    _ints(Tag.COUNTER32, 0, 2**32 - 1),
    _ints(Tag.GAUGE32, 0, 2**32 - 1),
    _ints(Tag.TIMETICKS, 0, 2**32 - 1),
    _ints(Tag.COUNTER64, 0, 2**64 - 1),
    st.tuples(st.just(Tag.OCTET_STRING), st.binary(max_size=64)),
    st.tuples(
        st.just(Tag.OCTET_STRING),
        st.lists(st.one_of(_CONTROL, st.binary(min_size=1, max_size=8)), max_size=8).map(
            lambda parts: b"".join(parts) * 200
        ),
    ),
    st.tuples(st.just(Tag.OCTET_STRING), st.sampled_from([b"9" * 25, b"1" * 20 + b" pages"])),
    st.tuples(
        st.just(Tag.OBJECT_IDENTIFIER),
        st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=126).map(
            lambda arcs: (1, 3, *arcs)
        ),
    ),
    st.tuples(st.just(Tag.NULL), st.none()),
    st.tuples(st.just(Tag.IP_ADDRESS), st.binary(min_size=4, max_size=4)),
)


@st.composite
def hostile_recordings(draw: st.DrawFn) -> Recording:
    base = RECORDINGS[draw(st.sampled_from(sorted(RECORDINGS)))]
    varbinds = list(base.varbinds)
    for position, (tag, value) in draw(
        st.lists(st.tuples(st.integers(0, len(varbinds) - 1), VALUES), max_size=60)
    ):
        varbinds[position] = Varbind(varbinds[position].oid, tag, value)
    for prefix, index, (tag, value) in draw(
        st.lists(
            st.tuples(st.sampled_from(TABLE_COLUMNS), st.sampled_from(EXTREME_INDEXES), VALUES),
            max_size=12,
        )
    ):
        varbinds.append(Varbind(prefix + (index,), tag, value))
    by_oid = {vb.oid: vb for vb in varbinds}  # an added row may replace a recorded one
    return Recording(base.name, list(by_oid.values()), base.versions)


def assert_within_limits(report: DeviceReport) -> None:
    """Every bound of printerhq.limits, field by field, then a sweep of everything else."""
    problems = f"invalid={report.invalid!r}"

    def level(value: int | None) -> bool:
        return value is None or limits.MIN_LEVEL <= value <= limits.MAX_LEVEL

    def index(value: int) -> bool:
        return limits.MIN_INDEX <= value <= limits.MAX_INDEX

    def percent(value: float | None) -> bool:
        return value is None or (math.isfinite(value) and 0 <= value <= 100)

    identity = report.identity
    assert identity.uptime_ticks is None or 0 <= identity.uptime_ticks <= limits.MAX_TIME_TICKS
    for counter in report.counters:
        assert 0 <= counter.value <= limits.MAX_COUNTER, problems
    for supply in report.supplies:
        assert index(supply.index) and level(supply.level) and level(supply.capacity), supply
        assert percent(supply.percent), supply
    for alert in report.alerts:
        assert index(alert.index), alert
        for number in (alert.code, alert.group_index):
            assert number is None or INT32[0] <= number <= INT32[1], alert
        assert alert.time_ticks is None or 0 <= alert.time_ticks <= limits.MAX_TIME_TICKS
    status = report.status
    if status is not None:
        for tray in status.trays:
            assert index(tray.index) and level(tray.level) and level(tray.capacity), tray
            assert percent(tray.percent), tray
        for cover in status.covers:
            assert index(cover.index), cover

    # Everything else, including fields added later: strings, lists and numbers in bounds.
    def sweep(value: object, path: str) -> None:
        if isinstance(value, str):
            assert len(value) <= limits.MAX_TEXT, path
        elif isinstance(value, list):
            assert len(value) <= limits.MAX_TABLE_ROWS, path
            for item in value:
                sweep(item, path + "[]")
        elif isinstance(value, dict):
            for key, item in value.items():
                if path == "" and key in ("cost", "scanned_at", "schema"):
                    continue  # the scan's own figures, not the device's
                sweep(item, f"{path}.{key}")
        elif isinstance(value, float):
            assert math.isfinite(value), path
        elif isinstance(value, int) and not isinstance(value, bool):
            assert -(2**31) <= value <= limits.MAX_COUNTER, path

    sweep(msgspec.to_builtins(report), "")
    # The model's own schema (with the server's msgspec constraints once they are in
    # printerhq.model) accepts the report as the server decodes it.
    msgspec.convert(msgspec.to_builtins(report), DeviceReport)
    msgspec.msgpack.decode(msgspec.msgpack.encode(report), type=DeviceReport)


@settings(
    deadline=None,
    max_examples=120,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(hostile_recordings(), st.sampled_from([Version.V2C, Version.V1]))
def test_any_varbind_values_give_a_report_within_limits(
    recording: Recording, version: Version
) -> None:
    agent = Agent(recording, versions=[version])
    cache = DeviceCache()
    for _ in range(2):  # cold, then warm from the cache the cold pass filled
        report = collect_in_process(discover(recording), agent.respond, cache, version=version)
        assert_within_limits(report)
    event(f"{version.name}: supplies {bool(report.supplies)}, problems {bool(report.invalid)}")


# -- fit_report on its own ------------------------------------------------------------------


def absurd_report() -> DeviceReport:
    huge = "x" * 5000
    return DeviceReport(
        identity=Identity(address="127.0.0.1", sys_descr=huge, model=huge, uptime_ticks=2**40),
        scanned_at=1.0,
        counters=[Counter(name="total", value=2**64 - 1), Counter(name="mono", value=5)],
        supplies=[
            Supply(index=1, description=huge, level=2**63, capacity=100, percent=50.0),
            Supply(index=2**32 - 1, description="gone"),
            Supply(index=3, description="ok", level=-2, capacity=-1, percent=math.nan),
        ]
        + [Supply(index=10 + i, description=f"s{i}", level=-9 - i) for i in range(300)],
        status=Status(
            console=[huge] * 300,
            trays=[InputTray(index=1, level=2**31, capacity=500, percent=101.0)],
            covers=[Cover(index=-1)],
        ),
        alerts=[Alert(index=1, code=2**40, group_index=-(2**31) - 1, time_ticks=-1)],
        invalid=[FieldProblem(field=f"supplies[{i}].level", reason="bad") for i in range(500)],
        errors=[huge] * 400,
    )


def test_fit_report_leaves_out_what_is_out_of_bounds() -> None:
    report = fit_report(absurd_report())
    assert_within_limits(report)
    assert [c.name for c in report.counters] == ["mono"]
    first, third = report.supplies[0], report.supplies[1]
    assert (first.index, first.level, first.capacity, first.percent, first.state) == (
        1,
        None,
        100,
        None,
        "invalid",
    )
    assert (third.index, third.level, third.capacity, third.percent) == (3, -2, -1, None)
    assert len(report.supplies) == limits.MAX_TABLE_ROWS
    assert report.status is not None and report.status.covers == []
    assert report.status.trays[0].level is None and report.status.trays[0].percent is None
    assert report.alerts[0].code is None and report.alerts[0].time_ticks is None
    fields = [p.field for p in report.invalid]
    # One line per problem, and a table's worth of the same problem collapsed into one line.
    assert "counters[total]" in fields and "supplies" in fields and "status.console" in fields
    assert fields.count("supplies[*].level") == 1
    assert len(report.invalid) < 20
    assert len(report.errors) == limits.MAX_TABLE_ROWS
    assert report.errors[-1] == f"{400 - limits.MAX_TABLE_ROWS + 1} more errors left out"


def test_special_values_pass() -> None:
    # RFC 3805 special values (-1 unlimited, -2 unknown, -3 some remaining) are levels.
    supplies = [Supply(index=i, description="t", level=-i, capacity=-i) for i in (1, 2, 3)]
    report = fit_report(
        DeviceReport(identity=Identity(address="a"), scanned_at=1.0, supplies=supplies)
    )
    assert [(s.level, s.capacity) for s in report.supplies] == [(-1, -1), (-2, -2), (-3, -3)]
    assert not report.invalid


@pytest.mark.parametrize("value", [2**31, 2**32 - 1, -4])
def test_level_out_of_range_is_a_field_problem_at_the_decoder(value: int) -> None:
    base = RECORDINGS["hp_laserjet-pro-m404dn"]
    level_oid = (1, 3, 6, 1, 2, 1, 43, 11, 1, 1, 9, 1, 1)
    tag = Tag.INTEGER if INT32[0] <= value <= INT32[1] else Tag.GAUGE32
    recording = Recording(
        base.name,
        [Varbind(vb.oid, tag, value) if vb.oid == level_oid else vb for vb in base.varbinds],
        base.versions,
    )
    report = collect_in_process(discover(recording), Agent(recording).respond)
    supply = report.supplies[0]
    assert supply.level is None and supply.percent is None
    # -4 is an Integer32 but not a level (RFC 3805 allows -1, -2, -3): outside all the same.
    assert [p.reason for p in report.invalid if p.field == "supplies[1.1].level"] == [
        f"{value} outside {limits.MIN_LEVEL}..{limits.MAX_LEVEL}"
    ]
    assert_within_limits(report)
