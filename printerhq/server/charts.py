"""Charts for the dashboard: server-rendered inline SVG, sans-IO (rows in, markup out).

No JavaScript and no ``style`` attribute: the page's Content-Security-Policy (``default-src
'none'``, styles from the stylesheet only) stays as strict as it is. Colours and line styles are
SVG presentation attributes (``stroke-dasharray``, ``fill``) or classes from the stylesheet; the
CSP's ``style-src`` governs ``<style>`` and ``style=`` only, never presentation attributes.

Readable without colour: each supply's line has its own dash style and a label at its end, a bar
that spans several days is hatched, resets and cartridge swaps are marked with words. Each chart
has a ``<title>`` and a ``<desc>`` (named by ``aria-labelledby``) that say in a sentence what it
shows. Every number a chart draws is also on its element (``data-*``), so a test compares the
drawing with the API.

Every text that came from a device (supply descriptions) goes through :func:`html.escape`.
"""

from __future__ import annotations

import datetime
import html
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from printerhq import words

DAY = 86400.0
# A consumed supply whose level rises this much between two readings was replaced (refilled
# toner rises by whole cartridges, not by a few percent of jitter); a receptacle (waste toner)
# that falls this much was emptied or replaced.
SWAP_STEP = 15.0
MAX_LINE_POINTS = 400  # per supply: a device scanned every minute still draws a light line
# Line styles, one per supply, told apart without colour (solid, dashed, dotted, dash-dot ...).
DASHES = ("", "7 4", "2 3", "9 3 2 3", "1 6", "12 5")
# Supply colours that get their own stroke class (the name a device reports, lower case).
COLOUR_CLASSES = {"black", "cyan", "magenta", "yellow"}


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _utc_day(t: float) -> datetime.date:
    return datetime.datetime.fromtimestamp(t, datetime.UTC).date()


def _short_day(day: datetime.date) -> str:
    return f"{day.day} {day.strftime('%b')}"


def _num(value: float) -> str:
    """A coordinate: one decimal at most, no trailing zeros (light markup)."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def nice_ceiling(value: float) -> int:
    """The smallest 1, 2 or 5 times a power of ten at or above ``value`` (axis maximum)."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return int(step * power)
    return int(10 * power)  # pragma: no cover - the loop always returns


# --------------------------------------------------------------------------------------------
# Data: pages per day, supply series
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DayBar:
    """Pages counted on ``day`` (UTC): the increase over the intervals between readings that
    end that day. ``span`` > 1 when the previous reading is older than yesterday (a gap: the
    pages of several days land on this bar). ``reset``: the counter went down that day."""

    day: datetime.date
    pages: int
    span: int = 1
    reset: bool = False


def daily_pages(points: Iterable[tuple[float, int]]) -> list[DayBar]:
    """``(scanned_at, value)`` readings of one counter -> one bar per UTC day with a reading,
    but the first reading's day (which was only partly seen).

    A counter that goes down (a reset, a replaced board, a glitch) starts a new baseline: the
    interval across the drop counts nothing, never a negative number, and the day is marked.
    Counting the new value as pages since a reset to zero (as Prometheus' ``increase`` does)
    would turn a one-off glitch of -1 into a spike of the whole counter."""
    ordered = sorted(points)
    bars: dict[datetime.date, DayBar] = {}
    for (t0, v0), (t1, v1) in itertools.pairwise(ordered):
        day, start = _utc_day(t1), _utc_day(t0)
        reset = v1 < v0
        pages = 0 if reset else v1 - v0
        old = bars.get(day)
        if old is None:
            bars[day] = DayBar(day, pages, max(1, (day - start).days), reset)
        else:
            bars[day] = DayBar(day, old.pages + pages, old.span, old.reset or reset)
    first = _utc_day(ordered[0][0]) if ordered else None
    return [bar for day, bar in sorted(bars.items()) if day != first]


@dataclass(frozen=True)
class SupplySeries:
    """One supply's level over time: ``points`` (scanned_at, percent), thinned; ``swaps``: the
    times a cartridge was replaced (the level jumped the wrong way)."""

    label: str
    colour: str | None
    receptacle: bool
    points: list[tuple[float, float]]
    swaps: list[float]


def _thin(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Keep the ends of each flat run: a polyline through them draws the same shape."""
    if len(points) <= 2:
        return points
    kept = [points[0]]
    for before, here, after in zip(points, points[1:], points[2:], strict=False):
        if here[1] != before[1] or here[1] != after[1]:
            kept.append(here)
    kept.append(points[-1])
    if len(kept) > MAX_LINE_POINTS:  # still too many: every n-th, the last one kept
        step = math.ceil(len(kept) / MAX_LINE_POINTS)
        kept = kept[::step] + ([kept[-1]] if (len(kept) - 1) % step else [])
    return kept


def supply_series(rows: Iterable[Mapping[str, object]]) -> list[SupplySeries]:
    """Supply history rows (``scanned_at``, ``index``, ``description``, ``kind``, ``colour``,
    ``percent``, as the store returns them) -> one series per supply (index and description),
    in index order. Readings without a percentage are left out (the level is unknown)."""
    grouped: dict[tuple[int, str], list[tuple[float, float]]] = {}
    meta: dict[tuple[int, str], tuple[str | None, bool]] = {}
    for row in rows:
        key = (int(row["index"]), str(row["description"]))  # type: ignore[call-overload]
        percent = row.get("percent")
        colour = row.get("colour")
        meta.setdefault(key, (str(colour) if colour else None, row.get("kind") == "waste"))
        if isinstance(percent, int | float) and math.isfinite(percent):
            grouped.setdefault(key, []).append(
                (float(row["scanned_at"]), float(percent))  # type: ignore[arg-type]
            )
    out = []
    for key in sorted(meta):
        points = sorted(grouped.get(key, []))
        colour, receptacle = meta[key]
        swaps = [
            t1
            for (_, p0), (t1, p1) in itertools.pairwise(points)
            if (p0 - p1 if receptacle else p1 - p0) >= SWAP_STEP
        ]
        out.append(SupplySeries(key[1], colour, receptacle, _thin(points), swaps))
    return out


# --------------------------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------------------------
# viewBox sizes: the CSS scales a chart to its column, so these are also the text's scale: a
# 400-unit chart on a 375 px phone keeps 12-unit text at 11 px.
PAGES_W, PAGES_H = 400, 170
SUPPLY_W, SUPPLY_H = 420, 230
LEFT, RIGHT, TOP, BOTTOM = 40, 10, 24, 24  # plot margins (axis labels, the caption above)


def _frame(chart_id: str, size: tuple[int, int], title: str, desc: str, body: str, css: str) -> str:
    w, h = size
    return (
        f'<svg class="{css}" id="{chart_id}" viewBox="0 0 {w} {h}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" font-size="12">'
        f'<title id="{chart_id}-t">{_e(title)}</title><desc id="{chart_id}-d">{_e(desc)}</desc>'
        f"{body}</svg>"
    )


def _y_axis(top_value: float, unit: str, right: float, h: int) -> str:
    """Gridlines and labels at 0, half and the top of the scale."""
    parts = []
    for fraction in (0.0, 0.5, 1.0):
        y = h - BOTTOM - fraction * (h - TOP - BOTTOM)
        value = top_value * fraction
        label = f"{value:,.0f}{unit}"
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{right}" y1="{_num(y)}" y2="{_num(y)}"/>'
            f'<text class="axis" x="{LEFT - 4}" y="{_num(y + 4)}" text-anchor="end">'
            f"{_e(label)}</text>"
        )
    return "".join(parts)


def _x_labels(labels: Sequence[tuple[float, str]], h: int) -> str:
    out = []
    for i, (x, text) in enumerate(labels):
        anchor = "start" if i == 0 else "end" if i == len(labels) - 1 else "middle"
        out.append(
            f'<text class="axis" x="{_num(x)}" y="{h - BOTTOM + 16}" text-anchor="{anchor}">'
            f"{_e(text)}</text>"
        )
    return "".join(out)


def pages_chart(
    chart_id: str, name: str, bars: Sequence[DayBar], last_day: datetime.date, days: int = 30
) -> str:
    """Bars of pages per day for the ``days`` days up to ``last_day`` (a counter bucket)."""
    first_day = last_day - datetime.timedelta(days=days - 1)
    shown = [b for b in bars if first_day <= b.day <= last_day]
    label = words.plain(name)
    w, h = PAGES_W, PAGES_H
    plot_w = w - LEFT - RIGHT
    slot = plot_w / days
    top = nice_ceiling(max((b.pages for b in shown), default=0))
    scale = (h - TOP - BOTTOM) / top
    hatch = f"{chart_id}-hatch"
    parts = [
        f'<defs><pattern id="{hatch}" width="6" height="6" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><rect width="6" height="6" class="hatch-bg"/>'
        f'<line x1="0" y1="0" x2="0" y2="6" class="hatch" stroke-width="3"/></pattern></defs>',
        _y_axis(top, "", w - RIGHT, h),
        f'<text class="caption" x="{LEFT}" y="14">{_e(label)}, pages per day</text>',
    ]
    for bar in shown:
        x = LEFT + (bar.day - first_day).days * slot + slot * 0.15
        height = bar.pages * scale
        y = h - BOTTOM - height
        when = _short_day(bar.day)
        if bar.span > 1:
            tip = f"{bar.pages:,} pages over {bar.span} days up to {when} (no reading between)"
        else:
            tip = f"{when}: {bar.pages:,} pages"
        if bar.reset:
            tip += "; the counter went down (reset): the interval across the drop counts nothing"
        fill = f' fill="url(#{hatch})"' if bar.span > 1 else ""
        parts.append(
            f'<rect class="bar" x="{_num(x)}" y="{_num(y)}" width="{_num(slot * 0.7)}" '
            f'height="{_num(height)}"{fill} data-day="{bar.day.isoformat()}" '
            f'data-pages="{bar.pages}" data-span="{bar.span}"><title>{_e(tip)}</title></rect>'
        )
        if bar.reset:
            parts.append(
                f'<text class="mark" x="{_num(x + slot * 0.35)}" y="{_num(y - 4)}" '
                f'text-anchor="middle">reset</text>'
            )
    middle = first_day + datetime.timedelta(days=days // 2)
    parts.append(
        _x_labels(
            [
                (LEFT, _short_day(first_day)),
                (LEFT + (days // 2 + 0.5) * slot, _short_day(middle)),
                (w - RIGHT, _short_day(last_day)),
            ],
            h,
        )
    )
    total = sum(b.pages for b in shown)
    busiest = max(shown, key=lambda b: b.pages, default=None)
    desc = (
        f"Pages per day ({label}), {_short_day(first_day)} to {_short_day(last_day)} (UTC days): "
        f"{total:,} pages on {len(shown)} days with a reading"
        + (f", the most {busiest.pages:,} on {_short_day(busiest.day)}" if busiest else "")
        + ". Days without a reading have no bar; a hatched bar holds several days."
    )
    return _frame(chart_id, (w, h), f"Pages per day: {label}", desc, "".join(parts), "chart")


def _stroke_class(colour: str | None) -> str:
    name = (colour or "").strip().lower()
    return f"line s-{name}" if name in COLOUR_CLASSES else "line"


def _short_label(series: SupplySeries) -> str:
    text = " ".join(series.label.split())
    return text if len(text) <= 13 else text[:12].rstrip() + "…"


def supply_chart(chart_id: str, series: Sequence[SupplySeries], start: float, end: float) -> str:
    """Each supply's level (%) from ``start`` to ``end`` (unix times), swaps marked."""
    w, h = SUPPLY_W, SUPPLY_H
    label_w = 150  # room for the direct labels right of the plot
    right = w - label_w
    plot_w = right - LEFT
    span = max(end - start, 1.0)

    def x_of(t: float) -> float:
        return LEFT + (min(max(t, start), end) - start) / span * plot_w

    def y_of(p: float) -> float:
        return h - BOTTOM - min(max(p, 0.0), 100.0) / 100 * (h - TOP - BOTTOM)

    parts = [_y_axis(100, "%", right, h)]
    marked: list[float] = []  # x of the "new" marks drawn: one word for swaps close together
    labels: list[tuple[float, str, str, str]] = []  # (y, text, dash, stroke class)
    described = []
    drawn = [s for s in series if s.points]
    for i, s in enumerate(drawn):
        dash = DASHES[i % len(DASHES)]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        visible = [(t, p) for t, p in s.points if start <= t <= end]
        coords = " ".join(f"{_num(x_of(t))},{_num(y_of(p))}" for t, p in visible)
        data_t = " ".join(f"{t:.0f}" for t, _ in visible)
        data_v = " ".join(_num(p) for _, p in visible)
        parts.append(
            f'<polyline class="{_stroke_class(s.colour)}" points="{coords}" fill="none" '
            f'stroke-width="2"{dash_attr} data-supply="{_e(s.label)}" data-t="{data_t}" '
            f'data-v="{data_v}"><title>{_e(s.label)}</title></polyline>'
        )
        for t in s.swaps:
            if start <= t <= end:
                x = _num(x_of(t))
                parts.append(
                    f'<line class="swap" x1="{x}" x2="{x}" y1="{TOP}" y2="{h - BOTTOM}" '
                    f'stroke-dasharray="3 3" data-t="{t:.0f}"/>'
                )
                if all(abs(x_of(t) - other) > 28 for other in marked):
                    marked.append(x_of(t))
                    parts.append(
                        f'<text class="mark" x="{x}" y="{TOP - 4}" text-anchor="middle">new</text>'
                    )
        if visible:
            last = visible[-1][1]
            labels.append(
                (y_of(last), f"{_short_label(s)} {last:.0f}%", dash, _stroke_class(s.colour))
            )
        swaps = [t for t in s.swaps if start <= t <= end]
        text = f"{s.label}: " + (
            f"{visible[0][1]:.0f}% to {visible[-1][1]:.0f}%" if visible else "no reading"
        )
        if swaps:
            changed = "emptied" if s.receptacle else "replaced"
            days = ", ".join(_short_day(_utc_day(t)) for t in swaps)
            text += f", {changed} on {days}"
        described.append(text)
    # Direct labels at the lines' ends, pushed apart so none overlaps another.
    placed: list[float] = []
    for y, text, dash, stroke in sorted(labels):
        y = max(y + 4, (placed[-1] + 13) if placed else TOP)
        placed.append(y)
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<line class="{stroke}" x1="{right + 4}" x2="{right + 18}" y1="{_num(y - 4)}" '
            f'y2="{_num(y - 4)}" stroke-width="2"{dash_attr}/>'
            f'<text class="label" x="{right + 22}" y="{_num(y)}">{_e(text)}</text>'
        )
    middle = start + span / 2
    parts.append(
        _x_labels(
            [
                (LEFT, _short_day(_utc_day(start))),
                (LEFT + plot_w / 2, _short_day(_utc_day(middle))),
                (right, _short_day(_utc_day(end))),
            ],
            h,
        )
    )
    without = [s.label for s in series if not s.points]
    desc = (
        f"Supply levels in percent, {_short_day(_utc_day(start))} to "
        f"{_short_day(_utc_day(end))}. "
        + ("; ".join(described) + "." if described else "No supply reported a level.")
        + (f" No level reported for: {', '.join(without)}." if without else "")
    )
    return _frame(chart_id, (w, h), "Supply levels over time", desc, "".join(parts), "chart wide")


SPARK_W, SPARK_H = 64, 18


def sparkline(values: Sequence[float | None]) -> str:
    """A small line of a supply's level (0..100 %, oldest first; ``None`` = not known) for a
    table cell; ``""`` with fewer than two known values. The scale is 0..100 in every row, so
    rows compare at a glance."""
    known = [
        (i, min(100.0, max(0.0, float(v))))
        for i, v in enumerate(values)
        if v is not None and math.isfinite(v)
    ]
    if len(known) < 2:
        return ""
    last_i = len(values) - 1
    step = (SPARK_W - 4) / max(last_i, 1)

    def point(i: int, v: float) -> tuple[float, float]:
        return 2 + i * step, SPARK_H - 2 - v / 100 * (SPARK_H - 4)

    coords = " ".join(f"{_num(x)},{_num(y)}" for x, y in (point(i, v) for i, v in known))
    end_x, end_y = point(*known[-1])
    first, last = known[0][1], known[-1][1]
    trend = "falling" if last < first else "rising" if last > first else "flat"
    label = f"level {first:.0f}% to {last:.0f}% ({trend}) over {len(known)} readings"
    return (
        f'<svg class="spark" viewBox="0 0 {SPARK_W} {SPARK_H}" width="{SPARK_W}" '
        f'height="{SPARK_H}" role="img" aria-label="{_e(label)}"><title>{_e(label)}</title>'
        f'<polyline points="{coords}" fill="none" stroke="currentColor" stroke-width="1.5"/>'
        f'<circle cx="{_num(end_x)}" cy="{_num(end_y)}" r="2" fill="currentColor"/></svg>'
    )
