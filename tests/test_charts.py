"""The dashboard's SVG charts (sans-IO): pages per day from counter readings (resets, gaps),
supply series (swaps, thinning), the markup (no style attribute, text alternatives, escaping),
the sparkline; and the dashboard's compact times and severity words."""

from __future__ import annotations

import datetime
import itertools
import re

from hypothesis import given
from hypothesis import strategies as st

from printerhq import words
from printerhq.server import charts, dashboard

DAY = 86400
T0 = datetime.datetime(2026, 11, 2, tzinfo=datetime.UTC).timestamp()  # a UTC midnight


def day(n: int) -> datetime.date:
    return datetime.date(2026, 11, 2) + datetime.timedelta(days=n)


def test_pages_per_day_are_the_increases_ending_each_day():
    readings = [(T0 + 12 * 3600 + n * DAY, 1000 + 100 * n * n) for n in range(4)]
    readings.append((T0 + 3 * DAY + 20 * 3600, 2000))  # a second reading on day 3
    bars = charts.daily_pages(readings)
    # Day 0 holds only the first reading: partly seen, no bar.
    assert [(b.day, b.pages, b.span, b.reset) for b in bars] == [
        (day(1), 100, 1, False),
        (day(2), 300, 1, False),
        (day(3), 500 + 100, 1, False),
    ]


def test_a_counter_that_goes_down_counts_nothing_across_the_drop():
    readings = [(T0 + n * DAY + 3600, v) for n, v in enumerate([5000, 5100, 40, 90, 89, 120])]
    bars = charts.daily_pages(readings)
    assert [(b.pages, b.reset) for b in bars] == [
        (100, False),
        (0, True),  # replaced board: not 40 pages, not -5060
        (50, False),
        (0, True),  # a glitch of -1 is no spike of 89 pages either
        (31, False),
    ]


def test_a_gap_lands_on_one_bar_that_says_how_many_days_it_holds():
    bars = charts.daily_pages([(T0 + 3600, 10), (T0 + DAY + 3600, 20), (T0 + 4 * DAY, 80)])
    assert [(b.day, b.pages, b.span) for b in bars] == [(day(1), 10, 1), (day(4), 60, 3)]
    svg = charts.pages_chart("p", "total", bars, day(4), days=7)
    assert 'fill="url(#p-hatch)"' in svg and "60 pages over 3 days" in svg


@given(st.lists(st.tuples(st.floats(0, 60 * DAY), st.integers(0, 10**9)), min_size=0, max_size=60))
def test_pages_are_never_negative_and_add_up(readings):
    bars = charts.daily_pages([(T0 + t, v) for t, v in readings])
    assert all(b.pages >= 0 and b.span >= 1 for b in bars)
    days = [b.day for b in bars]
    assert days == sorted(set(days))
    ordered = sorted((T0 + t, v) for t, v in readings)
    if ordered and all(b[1] <= a[1] for b, a in itertools.pairwise(ordered)):
        first_day = charts._utc_day(ordered[0][0])
        before = [v for t, v in ordered if charts._utc_day(t) == first_day][-1]
        assert sum(b.pages for b in bars) == ordered[-1][1] - before


def rows(description, values, kind="toner", colour="black", index=1):
    return [
        dict(
            scanned_at=T0 + n * 3600,
            index=index,
            description=description,
            kind=kind,
            colour=colour,
            percent=v,
            state="ok" if v is not None else "unknown",
        )
        for n, v in enumerate(values)
    ]


def test_supply_series_marks_swaps_and_keeps_every_change():
    values = [50, 50, 50, 49, 49, 20, 5, 98, 97, None, 97, 97]
    [series] = charts.supply_series(rows("Black", values))
    assert series.swaps == [T0 + 7 * 3600]  # 5 -> 98: a new cartridge
    kept = [p for _, p in series.points]
    assert kept == [50, 50, 49, 49, 20, 5, 98, 97, 97]  # flat runs keep their ends only
    [waste] = charts.supply_series(rows("Waste", [70, 80, 95, 2, 5], kind="waste"))
    assert waste.receptacle and waste.swaps == [T0 + 3 * 3600]  # emptied: it falls


def test_a_long_series_is_thinned_to_a_bounded_line():
    values = [n % 100 for n in range(5000)]
    [series] = charts.supply_series(rows("Black", values))
    assert len(series.points) <= charts.MAX_LINE_POINTS + 1
    assert series.points[-1] == (T0 + 4999 * 3600, 99.0)


def test_chart_markup_needs_no_style_and_says_what_it_shows():
    bars = charts.daily_pages([(T0 + n * DAY + 60, 100 * n) for n in range(10)])
    hostile = "<script>alert(1)</script>"
    series = charts.supply_series(
        rows(hostile, [90, 60, 30, 99]) + rows("Cyan", [40, 40, 39, 38], colour="cyan", index=2)
    )
    pages = charts.pages_chart("pages-total", "print_mono", bars, day(9), days=10)
    supply = charts.supply_chart("levels", series, T0, T0 + 3 * 3600)
    for svg in (pages, supply):
        assert "style=" not in svg and "<script" not in svg
        assert 'role="img"' in svg and "<title id=" in svg and "<desc id=" in svg
        assert re.search(r'aria-labelledby="(\S+)-t \1-d"', svg)
    assert "print mono, pages per day" in pages and "print_mono" not in pages.split('"')[::2][-1]
    assert pages.count('class="bar"') == 9 and 'data-pages="100"' in pages
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in supply
    assert supply.count(">new</text>") == 1 and "replaced on" in supply
    dashes = [
        (re.search(r'stroke-dasharray="([^"]*)"', line) or [None, "solid"])[1]
        for line in re.findall(r"<polyline[^>]*>", supply)
    ]
    assert len(dashes) == 2 and len(set(dashes)) == 2  # told apart without colour
    assert 'class="line s-cyan"' in supply  # a colour only from the fixed set of classes


def test_direct_labels_never_overlap():
    series = charts.supply_series(
        [r for i in range(5) for r in rows(f"Toner {i}", [50, 50 + i * 0.1], index=i)]
    )
    svg = charts.supply_chart("levels", series, T0, T0 + 3600)
    ys = sorted(float(y) for y in re.findall(r'<text class="label" x="[^"]+" y="([^"]+)"', svg))
    assert len(ys) == 5 and all(b - a >= 13 for a, b in itertools.pairwise(ys))


def test_sparkline():
    assert charts.sparkline([]) == "" and charts.sparkline([None, 50]) == ""
    svg = charts.sparkline([80, None, 60, 250, -5, 40])
    assert svg.startswith('<svg class="spark"') and "style=" not in svg
    points = re.search(r'points="([^"]+)"', svg)[1].split()
    assert len(points) == 5  # the unknown reading is left out
    ys = [float(p.split(",")[1]) for p in points]
    assert min(ys) >= 0 and max(ys) <= charts.SPARK_H  # clamped to 0..100 %
    assert 'aria-label="level 80% to 40% (falling) over 5 readings"' in svg


def test_nice_ceiling():
    assert [charts.nice_ceiling(v) for v in (0, 1, 3, 7, 12, 180, 201, 999)] == [
        1,
        1,
        5,
        10,
        20,
        200,
        500,
        1000,
    ]


def test_compact_times_keep_the_full_value_on_hover():
    now = datetime.datetime(2026, 12, 2, 15, 0, tzinfo=datetime.UTC).timestamp()
    assert dashboard._when(now - 20, now).endswith(">just now</time>")
    three = dashboard._when(now - 180, now)
    assert three == (
        '<time datetime="2026-12-02T14:57:00Z" title="2026-12-02 14:57:00 UTC">3 min ago</time>'
    )
    assert dashboard._when(now - 2 * 3600, now).endswith(">2 h ago</time>")
    assert dashboard._when(now - 7 * 3600 - 55 * 60, now).endswith(">2 Dec 07:05</time>")
    assert dashboard._when(now - 400 * DAY, now).endswith(">28 Oct 2025</time>")
    assert dashboard._when(now + 3 * 3600, now).endswith(">2 Dec 18:00</time>")  # skew
    assert "invalid time" in dashboard._when(1e300, now) and dashboard._when(None, now) == ""


def test_alert_levels_are_three_words():
    assert [words.alert_level(s) for s in ("critical", "warning")] == ["critical", "warning"]
    for other in ("warning_binary_change", "other", None, "x"):
        assert words.alert_level(other) == "info"
