"""Meter reads for billing, sans-IO: from counter readings to start, end and pages per period.

A *period* is ``[from, to)`` in UTC. For every device and counter bucket (``total``, ``mono``,
``colour``, ``print``, ``copy``, ``scan``, ``fax``…: :data:`BILLING_COUNTERS`):

- **start** is the last reading before ``from`` (looked for at most :data:`EDGE_LOOKBACK` back),
  so the end of one period is the start of the next and consecutive periods add up exactly;
  with none, the first reading inside the period, flagged ``first_read_inside``.
- **end** is the last reading before ``to``; flagged ``silent_at_end`` when it is more than
  :data:`EDGE_SILENCE` before ``to`` (the device stopped answering, or was replaced).
- **pages** is the sum of the increases between consecutive readings whose later reading falls
  inside the period. A drop (the counter was reset: a new mainboard, a firmware reload) counts
  nothing and is flagged ``reset``: pages are the sum of the increasing runs, so ``end - start``
  no longer equals ``pages``. An increase no printer can make in the time between two readings
  (:func:`plausible_step`) is left out and flagged ``jump`` (a misread OID, a vendor counter
  that wrapped or a corrupt agent); the jumped-over count is reported beside.

A device replaced by another at the same address is a different device (its own serial, its own
id): both appear, each with its own part of the period, flagged ``replaced`` / ``replacement``
(:func:`replacements`).

The database does the per-reading work (window functions, one query per period edge and chunk of
devices: ``meter_reads_query.py``); :func:`summarise` is the same rule over a list of readings,
the reference the SQL is tested against, and :func:`bucket` joins the start edge with what was
read inside.
"""

from __future__ import annotations

import csv
import datetime
import io
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, get_args

from printerhq import model
from printerhq.terminal import safe, spreadsheet_safe

# Page buckets a bill can use: every counter name but the jam and power-on counts.
BILLING_COUNTERS: tuple[str, ...] = tuple(
    name for name in get_args(model.CounterName) if name not in ("jam", "power_on")
)
# The start of a period is looked for this far before ``from``: a device silent longer starts at
# its first reading inside (flagged). Two months cover a device switched off over a holiday.
EDGE_LOOKBACK = 62 * 86400
# An edge reading further than this from its edge is flagged (the device was silent there).
EDGE_SILENCE = 86400
# The fastest production presses print about 300 pages a minute (18,000 an hour); a counter that
# grows faster than this between two readings, plus an allowance for clock skew between them,
# was misread.
MAX_PAGES_PER_HOUR = 20_000
JUMP_ALLOWANCE = 20_000
MAX_PERIOD_DAYS = 400  # one request covers at most about a year (the readings kept, see limits)
FIRST_YEAR, LAST_YEAR = 2000, 2100  # dates outside are typing errors, not periods

FLAG_WORDS = {
    "first_read_inside": "first read inside the period",
    "silent_at_start": "no reading in the day before the period",
    "silent_at_end": "no reading in the period's last day",
    "no_read_inside": "no reading inside the period",
    "reset": "counter reset",
    "jump": "implausible jump left out",
    "replaced": "replaced by another device at this address",
    "replacement": "replaces another device at this address",
}


class PeriodError(ValueError):
    """A period or site the caller gave that is not one (the API answers 400 with it)."""


@dataclass(frozen=True)
class Period:
    start: float  # ``from``, Unix seconds, inclusive
    end: float  # ``to``, exclusive
    first_day: str  # as given, YYYY-MM-DD
    last_day: str


def _day(text: str | None, name: str) -> datetime.datetime:
    if not text:
        raise PeriodError(f"{name} is required (YYYY-MM-DD, UTC)")
    if len(text) != 10:
        raise PeriodError(f"{name} must be a date YYYY-MM-DD, not {safe(text[:40])!r}")
    try:
        day = datetime.datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=datetime.UTC)
    except ValueError:
        raise PeriodError(f"{name} must be a date YYYY-MM-DD, not {safe(text)!r}") from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise PeriodError(f"{name} must be between {FIRST_YEAR} and {LAST_YEAR}")
    return day


def parse_period(start: str | None, end: str | None) -> Period:
    """``from`` and ``to`` as the user typed them (``YYYY-MM-DD``, midnight UTC); ``to`` is
    exclusive (a month: ``2026-11-01`` to ``2026-12-01``)."""
    first, last = _day(start, "from"), _day(end, "to")
    if last <= first:
        raise PeriodError("to must be after from (the period is [from, to): to is excluded)")
    if (last - first).days > MAX_PERIOD_DAYS:
        raise PeriodError(f"a period spans at most {MAX_PERIOD_DAYS} days")
    return Period(first.timestamp(), last.timestamp(), start or "", end or "")


# --------------------------------------------------------------------------------------------
# The rule
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reading:
    at: float
    value: int


def plausible_step(delta: int, seconds: float) -> bool:
    """Whether a counter can have grown by ``delta`` pages in ``seconds`` (``delta >= 0``).
    Integer arithmetic but for the elapsed time, written as the SQL writes it."""
    return delta * 3600 <= JUMP_ALLOWANCE * 3600 + MAX_PAGES_PER_HOUR * seconds


@dataclass
class Inside:
    """What one counter of one device read inside the period (the SQL's aggregate row)."""

    first: Reading
    last: Reading
    pages: int = 0  # sum of plausible increases between consecutive readings inside
    resets: int = 0  # drops
    jumps: int = 0  # implausible increases, left out
    jumped: int = 0  # their total
    reads: int = 1

    def step(self, before: Reading, after: Reading) -> None:
        delta = after.value - before.value
        if delta < 0:
            self.resets += 1
        elif not plausible_step(delta, after.at - before.at):
            self.jumps += 1
            self.jumped += delta
        else:
            self.pages += delta


def summarise(readings: Sequence[Reading]) -> Inside | None:
    """The reference rule over a counter's readings inside a period, in time order."""
    if not readings:
        return None
    inside = Inside(first=readings[0], last=readings[-1], reads=len(readings))
    for before, after in itertools.pairwise(readings):
        inside.step(before, after)
    return inside


@dataclass(frozen=True)
class Bucket:
    start: int
    end: int
    pages: int
    start_at: float
    end_at: float
    reads: int  # readings inside the period
    jumped: int = 0  # pages of implausible jumps, left out of ``pages``
    flags: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(
            start=self.start,
            end=self.end,
            pages=self.pages,
            start_at=self.start_at,
            end_at=self.end_at,
            reads=self.reads,
            flags=list(self.flags),
        )
        if self.jumped:
            out["jumped"] = self.jumped
        return out


def bucket(edge: Reading | None, inside: Inside | None, period: Period) -> Bucket | None:
    """One counter's meter read from the last reading before the period (``edge``) and the
    aggregate of the readings inside; ``None`` when there is neither."""
    flags: list[str] = []
    if inside is None:
        if edge is None:
            return None
        return Bucket(edge.value, edge.value, 0, edge.at, edge.at, 0, flags=("no_read_inside",))
    # A copy: the caller's aggregate stays as read.
    total = Inside(**{k: getattr(inside, k) for k in inside.__dataclass_fields__})
    if edge is None:
        start = inside.first
        flags.append("first_read_inside")
    else:
        start = edge
        total.step(edge, inside.first)
        if period.start - edge.at > EDGE_SILENCE:
            flags.append("silent_at_start")
    if period.end - inside.last.at > EDGE_SILENCE:
        flags.append("silent_at_end")
    if total.resets:
        flags.append("reset")
    if total.jumps:
        flags.append("jump")
    return Bucket(
        start=start.value,
        end=inside.last.value,
        pages=total.pages,
        start_at=start.at,
        end_at=inside.last.at,
        reads=inside.reads,
        jumped=total.jumped,
        flags=tuple(flags),
    )


# --------------------------------------------------------------------------------------------
# Replaced devices
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Swap:
    kind: str  # "replaced" (this device left the address) or "replacement" (it took it)
    other: int  # the other device's id


def replacements(
    rows: Iterable[tuple[int, str, float, float]], period: Period | None = None
) -> dict[int, Swap]:
    """``(device id, address, first_seen, last_seen)`` of devices that share an address -> who
    replaced whom: at one address, a device first seen after the previous one was last seen
    took its place. Devices seen at the same time (two agents, a NAT) are no replacement. With
    ``period``, only the swaps inside it (a printer replaced two years ago is not news on this
    month's bill)."""
    by_address: dict[str, list[tuple[float, float, int]]] = {}
    for device_id, address, first, last in rows:
        by_address.setdefault(address, []).append((first, last, device_id))
    out: dict[int, Swap] = {}
    for devices in by_address.values():
        devices.sort()
        for (_, last, old), (first, _, new) in itertools.pairwise(devices):
            inside = period is None or period.start <= first < period.end
            if last <= first and inside:
                out.setdefault(old, Swap("replaced", new))
                out[new] = Swap("replacement", old)
    return out


# --------------------------------------------------------------------------------------------
# One device's meter read, and its spreadsheet rows
# --------------------------------------------------------------------------------------------
@dataclass
class DeviceReads:
    device: dict[str, Any]  # the device row (id, address, vendor, model, serial, site)
    buckets: dict[str, Bucket] = field(default_factory=dict)
    swap: Swap | None = None

    def as_dict(self) -> dict[str, Any]:
        d = self.device
        out: dict[str, Any] = dict(
            device_id=int(d["id"]),
            serial=d.get("serial"),
            model=d.get("model"),
            vendor=d.get("vendor"),
            site=d.get("site"),
            address=d.get("address"),
            flags=[self.swap.kind] if self.swap else [],
            counters={name: b.as_dict() for name, b in self.buckets.items()},
        )
        if self.swap:
            out["replaced_by" if self.swap.kind == "replaced" else "replaces"] = self.swap.other
        return out


def assemble(
    devices: Sequence[dict[str, Any]],
    edges: dict[tuple[int, str], Reading],
    insides: dict[tuple[int, str], Inside],
    swaps: dict[int, Swap],
    period: Period,
) -> Iterator[DeviceReads]:
    """The meter reads of ``devices`` (in their order) that have any reading to show."""
    for device in devices:
        device_id = int(device["id"])
        reads = DeviceReads(device, swap=swaps.get(device_id))
        for name in BILLING_COUNTERS:
            key = (device_id, name)
            found = bucket(edges.get(key), insides.get(key), period)
            if found is not None:
                reads.buckets[name] = found
        if reads.buckets:
            yield reads


CSV_COLUMNS = (
    "device_id",
    "site",
    "address",
    "vendor",
    "model",
    "serial",
    "counter",
    "start",
    "end",
    "pages",
    "start_at",
    "end_at",
    "flags",
)


def _iso(t: object) -> str:
    try:
        return datetime.datetime.fromtimestamp(float(t), datetime.UTC).strftime(  # type: ignore[arg-type]
            "%Y-%m-%dT%H:%M:%SZ"
        )
    except (OverflowError, ValueError, OSError, TypeError):
        return ""


def csv_rows(device: dict[str, Any]) -> Iterator[list[object]]:
    """The spreadsheet rows (:data:`CSV_COLUMNS`, one per counter) of one device as the API
    serves it (``DeviceReads.as_dict``), so the CLI and the dashboard write the same file."""
    for name, b in device.get("counters", {}).items():
        flags = [*device.get("flags", []), *b.get("flags", [])]
        yield [
            device.get("device_id"),
            device.get("site"),
            device.get("address"),
            device.get("vendor"),
            device.get("model"),
            device.get("serial"),
            name,
            b.get("start"),
            b.get("end"),
            b.get("pages"),
            _iso(b.get("start_at")),
            _iso(b.get("end_at")),
            " ".join(str(f) for f in flags),
        ]


def csv_text(rows: Iterable[list[object]]) -> str:
    """CSV lines of ``rows``: numbers as they are, every text cell made terminal-safe and
    formula-safe (a serial of ``=HYPERLINK(...)`` is written ``'=HYPERLINK(...)``)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(
        ["" if c is None else str(c) if isinstance(c, int) else spreadsheet_safe(c) for c in row]
        for row in rows
    )
    return out.getvalue()
