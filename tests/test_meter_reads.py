"""Meter reads for billing: the rule (resets, jumps, silent edges, replacements, consecutive
periods adding up) and its SQL on SQLite and PostgreSQL, checked against the reference rule."""

from __future__ import annotations

import datetime
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from printerhq import model
from printerhq.server import meter_reads as mr
from printerhq.server.meter_reads_query import MeterReads
from printerhq.server.store import Store

from .helpers_server import RECENT

DAY = 86400.0
# A midnight UTC a few weeks back: inside the server's window of accepted scan times.
DAY0 = float(int(RECENT) // 86400 * 86400)


def day(n: float) -> float:
    return DAY0 + n * DAY


def date(n: int) -> str:
    return datetime.datetime.fromtimestamp(day(n), datetime.UTC).strftime("%Y-%m-%d")


PERIOD = mr.parse_period(date(0), date(10))


# --------------------------------------------------------------------------------------------
# The rule, without a database
# --------------------------------------------------------------------------------------------
def reads(readings: list[tuple[float, int]], period: mr.Period) -> mr.Bucket | None:
    """The reference: the rule over a plain list of (time, value) readings."""
    before = [mr.Reading(t, v) for t, v in readings if t < period.start]
    before = [r for r in before if r.at >= period.start - mr.EDGE_LOOKBACK]
    inside = [mr.Reading(t, v) for t, v in readings if period.start <= t < period.end]
    return mr.bucket(before[-1] if before else None, mr.summarise(inside), period)


def test_steady_use_counts_end_minus_start():
    b = reads([(day(-0.1), 1000), (day(3), 1500), (day(9.5), 2000)], PERIOD)
    assert b is not None
    assert (b.start, b.end, b.pages, b.flags) == (1000, 2000, 1000, ())


def test_a_reset_counts_the_increasing_runs_and_is_flagged():
    readings = [(day(-3), 1000), (day(1), 1100), (day(2), 50), (day(3), 80), (day(9.5), 100)]
    b = reads(readings, PERIOD)
    assert b is not None
    assert (b.start, b.end, b.pages) == (1000, 100, 100 + 30 + 20)
    assert set(b.flags) == {"reset", "silent_at_start"}


def test_an_implausible_jump_is_left_out_and_flagged():
    b = reads([(day(-0.5), 100), (day(1), 10**9), (day(9.5), 10**9 + 10)], PERIOD)
    assert b is not None
    assert (b.pages, b.jumped, b.flags) == (10, 10**9 - 100, ("jump",))
    # A busy month at a production press is no jump: 18,000 pages an hour for ten days.
    busy = reads([(day(-0.1), 0), (day(9.9), 18_000 * 24 * 10)], PERIOD)
    assert busy is not None and busy.flags == () and busy.pages == 18_000 * 240


def test_silent_edges_are_flagged():
    first = reads([(day(2), 10), (day(5), 30)], PERIOD)
    assert first is not None
    assert (first.start, first.end, first.pages) == (10, 30, 20)
    assert set(first.flags) == {"first_read_inside", "silent_at_end"}
    silent = reads([(day(-5), 7)], PERIOD)
    assert silent is not None and (silent.start, silent.end, silent.pages) == (7, 7, 0)
    assert silent.flags == ("no_read_inside",)
    assert reads([(day(11), 7)], PERIOD) is None  # only after the period: nothing to bill
    too_old = reads([(day(-70), 5), (day(1), 15)], PERIOD)  # beyond the lookback
    assert too_old is not None and too_old.flags[0] == "first_read_inside"


def test_replacement_at_one_address():
    swaps = mr.replacements(
        [(1, "10.0.0.5", day(-100), day(3)), (2, "10.0.0.5", day(4), day(9)), (3, "x", 0, 1)]
    )
    assert swaps == {1: mr.Swap("replaced", 2), 2: mr.Swap("replacement", 1)}
    # Two devices answering at one address at the same time (a NAT, two agents): no swap.
    assert mr.replacements([(1, "a", day(0), day(5)), (2, "a", day(1), day(6))]) == {}
    # A swap long before the period is not news on its bill; one inside it is.
    old_swap = [(1, "a", day(-400), day(-300)), (2, "a", day(-299), day(9))]
    assert mr.replacements(old_swap, PERIOD) == {}
    assert mr.replacements([(1, "a", day(-9), day(2)), (2, "a", day(3), day(9))], PERIOD) == {
        1: mr.Swap("replaced", 2),
        2: mr.Swap("replacement", 1),
    }


@pytest.mark.parametrize(
    ("start", "end", "words"),
    [
        (None, "2026-01-01", "from is required"),
        ("2026-1-1", "2026-02-01", "YYYY-MM-DD"),
        ("2026-13-01", "2026-02-01", "YYYY-MM-DD"),
        ("2026-02-01", "2026-02-01", "after from"),
        ("1970-01-01", "1970-02-01", "between"),
        ("2020-01-01", "2026-01-01", "at most"),
        ("2026-01-01\x1b", "2026-02-01", "YYYY-MM-DD"),
    ],
)
def test_periods_are_checked(start, end, words):
    with pytest.raises(mr.PeriodError, match=words):
        mr.parse_period(start, end)


series = st.lists(st.tuples(st.floats(-40, 40), st.integers(0, 10**7)), max_size=25).map(
    lambda rows: sorted((day(t), v) for t, v in rows)
)


@settings(max_examples=300, deadline=None)
@given(series, st.integers(-30, 30), st.integers(1, 30), st.integers(1, 30))
def test_consecutive_periods_add_up(readings, first, one, two):
    """Billing month after month loses and double-counts nothing: the end of one period is
    the start of the next, and every step between readings lands in exactly one period."""
    a, b, c = first, first + one, first + one + two
    whole = reads(readings, mr.parse_period(date(a), date(c)))
    left = reads(readings, mr.parse_period(date(a), date(b)))
    right = reads(readings, mr.parse_period(date(b), date(c)))
    pages = [x.pages if x else 0 for x in (whole, left, right)]
    assert pages[0] == pages[1] + pages[2]
    if left and right and "first_read_inside" not in right.flags:
        assert right.start == left.end


# --------------------------------------------------------------------------------------------
# Through the database, on both backends
# --------------------------------------------------------------------------------------------
def report(serial: str, address: str, t: float, **counters: int) -> model.DeviceReport:
    return model.DeviceReport(
        identity=model.Identity(
            address=address, is_printer=True, vendor="HP", model="M507", serial=serial
        ),
        scanned_at=t,
        counters=[model.Counter(name=n, value=v) for n, v in counters.items()],  # type: ignore[arg-type]
    )


async def ingest(store: Store, agent_name: str, reports: list[model.DeviceReport]) -> None:
    agent = await store.agent_for_token(agent_name)
    assert agent is not None
    for i, r in enumerate(sorted(reports, key=lambda r: r.scanned_at)):
        await store.ingest(agent, f"{agent_name}-{r.identity.serial}-{i}-{r.scanned_at}", [r])


async def add_agent(store: Store, name: str, site: str) -> str:
    await store.add_agent(name, name, site=site)  # the token is the name: tests only
    return name


async def test_resets_replacements_jumps_and_silent_edges(store):
    north = await add_agent(store, "north-1", "north")
    south = await add_agent(store, "south-1", "south")
    await ingest(
        store,
        north,
        [
            report("A", "10.0.0.1", day(-3), total=1000, mono=900),
            report("A", "10.0.0.1", day(1), total=1100, mono=950),
            report("A", "10.0.0.1", day(2), total=50, mono=960),  # a new mainboard
            report("A", "10.0.0.1", day(3), total=80, mono=970),
            report("A", "10.0.0.1", day(9.5), total=100, mono=990),
        ],
    )
    await ingest(
        store,
        south,
        [
            report("B", "10.0.0.2", day(-1), total=5000),
            report("B", "10.0.0.2", day(3), total=5200),
            report("C", "10.0.0.2", day(5), total=10),  # B replaced by C at the same address
            report("C", "10.0.0.2", day(9.9), total=60),
            report("D", "10.0.0.3", day(-0.5), total=100),
            report("D", "10.0.0.3", day(1), total=10**9),  # a misread
            report("D", "10.0.0.3", day(2), total=10**9 + 10),
            report("E", "10.0.0.4", day(-5), total=7),  # silent through the period
            report("F", "10.0.0.5", day(11), total=7),  # only after it
        ],
    )
    rows = {r["serial"]: r for r in await MeterReads(store).all(PERIOD)}
    assert sorted(rows) == ["A", "B", "C", "D", "E"]
    a = rows["A"]
    assert (a["site"], a["address"], a["vendor"], a["model"]) == ("north", "10.0.0.1", "HP", "M507")
    assert a["counters"]["total"] | {"flags": None} == dict(
        start=1000,
        end=100,
        pages=150,
        start_at=day(-3),
        end_at=day(9.5),
        reads=4,
        flags=None,
    )
    assert set(a["counters"]["total"]["flags"]) == {"reset", "silent_at_start"}
    assert a["counters"]["mono"]["pages"] == 90 and "reset" not in a["counters"]["mono"]["flags"]
    b, c = rows["B"], rows["C"]
    assert (b["counters"]["total"]["pages"], b["flags"], b["replaced_by"]) == (
        200,
        ["replaced"],
        c["device_id"],
    )
    assert "silent_at_end" in b["counters"]["total"]["flags"]
    assert (c["counters"]["total"]["start"], c["counters"]["total"]["pages"]) == (10, 50)
    assert c["flags"] == ["replacement"] and c["replaces"] == b["device_id"]
    assert "first_read_inside" in c["counters"]["total"]["flags"]
    d = rows["D"]["counters"]["total"]
    assert (d["pages"], d["jumped"]) == (10, 10**9 - 100)
    assert set(d["flags"]) == {"jump", "silent_at_end"}
    e = rows["E"]["counters"]["total"]
    assert (e["start"], e["end"], e["pages"], e["flags"]) == (7, 7, 0, ["no_read_inside"])
    north_only = await MeterReads(store).all(PERIOD, site="north")
    assert [r["serial"] for r in north_only] == ["A"]


async def test_sql_agrees_with_the_reference_rule(store, monkeypatch):
    """Random fleets (resets, jumps, duplicates in time, silent devices), in chunks smaller than
    the fleet: the database's answer is the reference rule's, bucket for bucket."""
    from printerhq.server import meter_reads_query

    monkeypatch.setattr(meter_reads_query, "CHUNK", 7)
    rng = random.Random(14)
    agent = await add_agent(store, "a1", "s")
    truth: dict[tuple[str, str], list[tuple[float, int]]] = {}
    reports = []
    for n in range(25):
        serial = f"S{n:03d}"
        values = {"total": rng.randrange(10**6), "colour": rng.randrange(10**5)}
        t = day(rng.uniform(-80, 5))
        for _ in range(rng.randrange(1, 15)):
            t += rng.choice([0.0, rng.uniform(0, 3) * DAY])  # two reads in one second happen
            for name in values:
                step = rng.choice([rng.randrange(0, 5000)] * 6 + [-rng.randrange(10**5)] + [10**8])
                values[name] = max(0, values[name] + step)
            reports.append(report(serial, f"10.1.0.{n}", t, **values))
            for name, v in values.items():
                truth.setdefault((serial, name), []).append((t, v))
    await ingest(store, agent, reports)
    got = {
        (r["serial"], name): b
        for r in await MeterReads(store).all(PERIOD)
        for name, b in r["counters"].items()
    }
    want = {}
    for key, readings in truth.items():
        b = reads(readings, PERIOD)
        if b is not None:
            want[key] = b.as_dict()
    assert got == want


async def test_a_period_not_ended_yet_ends_now_for_the_silence_flags(store):
    """This month so far: a device read an hour ago is not silent at the end of the month."""
    import time

    agent = await add_agent(store, "a1", "s")
    now = time.time()
    await ingest(store, agent, [report("A", "10.0.0.1", now - 3600, total=5)])
    today = datetime.datetime.fromtimestamp(now, datetime.UTC).date()
    period = mr.parse_period(
        (today - datetime.timedelta(days=3)).isoformat(),
        (today + datetime.timedelta(days=20)).isoformat(),
    )
    [row] = await MeterReads(store).all(period)
    assert row["counters"]["total"]["flags"] == ["first_read_inside"]


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.none(), st.text(max_size=30)), st.one_of(st.none(), st.text(max_size=30)))
def test_any_text_is_a_period_or_a_clear_refusal(start, end):
    """The query string is hostile: whatever it holds is a period or a PeriodError (a 400),
    never another exception (a 500)."""
    try:
        period = mr.parse_period(start, end)
    except mr.PeriodError as exc:
        assert str(exc) and str(exc).isprintable()
    else:
        assert period.start < period.end <= period.start + mr.MAX_PERIOD_DAYS * DAY


@given(st.dates(datetime.date(2000, 1, 1), datetime.date(2099, 1, 1)), st.integers(1, 400))
def test_every_valid_period_parses(first, days):
    last = first + datetime.timedelta(days=days)
    period = mr.parse_period(first.isoformat(), last.isoformat())
    assert period.end - period.start == days * DAY
