"""The last check before a report leaves the collector: every value inside :mod:`printerhq.limits`.

The decoders already refuse what the MIB does not allow (:mod:`printerhq.mib.decode`, the bounded
decoders in :mod:`.report`); this pass makes it a guarantee for the whole report, whatever code
built it (a collection, discovery alone, an error report): a server that enforces the same bounds
(``printerhq.model``'s msgspec constraints) never refuses what an agent sends.

* a number outside its bound is left out (``None``) and explained by one
  :class:`~printerhq.model.FieldProblem`; an entry whose *required* number is out of bounds (a
  counter's value, a row's index) is dropped the same way;
* a string is cut at ``MAX_TEXT`` characters (as the text decoder always has: no field needs more);
* a list is cut at ``MAX_TABLE_ROWS`` entries with one FieldProblem;
* problems that repeat one field pattern over many rows (``supplies[7].level``,
  ``supplies[8].level`` ...) keep the first and one summary, so a hostile table is a few lines, not
  hundreds.

Sans-IO: a report in, the same report (changed in place) out.
"""

from __future__ import annotations

__all__ = ["COUNT", "INTEGER32", "LEVEL", "fit_report", "fit_text"]

import math
import re
from collections.abc import Callable
from typing import TypeVar

from printerhq import limits
from printerhq.mib import decode as dec
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

T = TypeVar("T")
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1  # RFC 2578 section 7.1.1 Integer32

# Decoders for where the numbers enter (a value outside becomes a FieldProblem there, before it
# can feed a percentage or a counter's wrap count):
# prtMarkerSuppliesLevel/MaxCapacity, prtInputCurrentLevel/MaxCapacity: Integer32 (-3..2**31-1
# with RFC 3805's special values -1, -2, -3).
LEVEL = dec.bounded(dec.integer, limits.MIN_LEVEL, limits.MAX_LEVEL)
# Page counters, whatever type the device sends them as (a Counter64 of 2**64-1 is not a count).
COUNT = dec.bounded(dec.number_text, 0, limits.MAX_COUNTER)
# prtAlertCode, prtAlertGroup, prtAlertGroupIndex: Integer32.
INTEGER32 = dec.bounded(dec.integer, INT32_MIN, INT32_MAX)
_ROW = re.compile(r"\[[^\]]*\]")
# Problems kept per field pattern (``supplies[*].level``) before the rest become one summary.
_SAME_PATTERN_KEPT = 3


def fit_text(value: str | None) -> str | None:
    """``value`` cut at MAX_TEXT characters."""
    return value if value is None or len(value) <= limits.MAX_TEXT else value[: limits.MAX_TEXT]


class _Fitter:
    def __init__(self, problems: list[FieldProblem]) -> None:
        self.problems = problems

    def number(self, value: int | None, low: int, high: int, where: str) -> int | None:
        if value is None or low <= value <= high:
            return value
        self.problems.append(FieldProblem(field=where, reason=f"{value} outside {low}..{high}"))
        return None

    def percent(self, value: float | None, where: str) -> float | None:
        if value is None or (math.isfinite(value) and 0.0 <= value <= 100.0):
            return value
        self.problems.append(FieldProblem(field=where, reason=f"{value} outside 0..100"))
        return None

    def rows(self, items: list[T], where: str) -> list[T]:
        if len(items) <= limits.MAX_TABLE_ROWS:
            return items
        self.problems.append(
            FieldProblem(
                field=where,
                reason=f"{len(items)} entries: cut at {limits.MAX_TABLE_ROWS}",
            )
        )
        return items[: limits.MAX_TABLE_ROWS]

    def table(self, items: list[T], where: str, fit: Callable[[T, str], T | None]) -> list[T]:
        kept = [fitted for item in items if (fitted := fit(item, where)) is not None]
        return self.rows(kept, where)

    def index(self, value: int, where: str) -> bool:
        """True when a row index is inside its bound (else the row is dropped, with a reason)."""
        return self.number(value, limits.MIN_INDEX, limits.MAX_INDEX, where) is not None

    # -- the model, struct by struct ------------------------------------------------------------

    def identity(self, identity: Identity) -> None:
        # Spelled out, not a getattr/setattr loop over the names: once per report.
        identity.address = fit_text(identity.address)  # type: ignore[assignment]
        identity.vendor = fit_text(identity.vendor)
        identity.brand = fit_text(identity.brand)
        identity.model = fit_text(identity.model)
        identity.serial = fit_text(identity.serial)
        identity.firmware = fit_text(identity.firmware)
        identity.mac = fit_text(identity.mac)
        identity.sys_name = fit_text(identity.sys_name)
        identity.sys_descr = fit_text(identity.sys_descr)
        identity.sys_object_id = fit_text(identity.sys_object_id)
        identity.location = fit_text(identity.location)
        identity.contact = fit_text(identity.contact)
        identity.asset_number = fit_text(identity.asset_number)
        identity.device_kind = fit_text(identity.device_kind)
        identity.address = identity.address[: limits.MAX_TEXT]
        identity.uptime_ticks = self.number(
            identity.uptime_ticks, 0, limits.MAX_TIME_TICKS, "identity.uptime_ticks"
        )

    def counter(self, counter: Counter, where: str) -> Counter | None:
        if self.number(counter.value, 0, limits.MAX_COUNTER, f"{where}[{counter.name}]") is None:
            return None
        counter.label = fit_text(counter.label)
        counter.source = fit_text(counter.source)
        return counter

    def supply(self, supply: Supply, where: str) -> Supply | None:
        if not self.index(supply.index, f"{where}.index"):
            return None
        here = f"{where}[{supply.index}]"
        supply.description = supply.description[: limits.MAX_TEXT]
        # Spelled out, not a getattr/setattr loop: every supply of every report passes here.
        supply.colour = fit_text(supply.colour)
        supply.unit = fit_text(supply.unit)
        supply.serial = fit_text(supply.serial)
        supply.supply_type = fit_text(supply.supply_type)
        supply.part_number = fit_text(supply.part_number)
        level = self.number(supply.level, limits.MIN_LEVEL, limits.MAX_LEVEL, f"{here}.level")
        capacity = self.number(
            supply.capacity, limits.MIN_LEVEL, limits.MAX_LEVEL, f"{here}.capacity"
        )
        if (level, capacity) != (supply.level, supply.capacity):
            supply.percent = None  # computed from a number that is not one
            supply.state = "invalid"
        supply.level, supply.capacity = level, capacity
        supply.percent = self.percent(supply.percent, f"{here}.percent")
        return supply

    def tray(self, tray: InputTray, where: str) -> InputTray | None:
        if not self.index(tray.index, f"{where}.index"):
            return None
        here = f"{where}[{tray.index}]"
        tray.name, tray.media, tray.unit = (
            fit_text(tray.name),
            fit_text(tray.media),
            fit_text(tray.unit),
        )
        level = self.number(tray.level, limits.MIN_LEVEL, limits.MAX_LEVEL, f"{here}.level")
        capacity = self.number(
            tray.capacity, limits.MIN_LEVEL, limits.MAX_LEVEL, f"{here}.capacity"
        )
        if (level, capacity) != (tray.level, tray.capacity):
            tray.percent = None
            tray.state = "invalid"
        tray.level, tray.capacity = level, capacity
        tray.percent = self.percent(tray.percent, f"{here}.percent")
        return tray

    def cover(self, cover: Cover, where: str) -> Cover | None:
        if not self.index(cover.index, f"{where}.index"):
            return None
        cover.description, cover.status = fit_text(cover.description), fit_text(cover.status)
        return cover

    def alert(self, alert: Alert, where: str) -> Alert | None:
        if not self.index(alert.index, f"{where}.index"):
            return None
        here = f"{where}[{alert.index}]"
        for name in ("severity", "group", "code_name", "description"):
            setattr(alert, name, fit_text(getattr(alert, name)))
        alert.group_index = self.number(alert.group_index, INT32_MIN, INT32_MAX, f"{here}.group")
        alert.code = self.number(alert.code, INT32_MIN, INT32_MAX, f"{here}.code")
        alert.time_ticks = self.number(alert.time_ticks, 0, limits.MAX_TIME_TICKS, f"{here}.time")
        return alert

    def status(self, status: Status) -> None:
        status.device, status.printer = fit_text(status.device), fit_text(status.printer)
        status.errors = self.rows([t[: limits.MAX_TEXT] for t in status.errors], "status.errors")
        status.console = self.rows([t[: limits.MAX_TEXT] for t in status.console], "status.console")
        status.covers = self.table(status.covers, "status.covers", self.cover)
        status.trays = self.table(status.trays, "status.trays", self.tray)


def _collapsed(problems: list[FieldProblem]) -> list[FieldProblem]:
    """The first problem of each field pattern, then one line for the rest of that pattern."""
    seen: dict[str, int] = {}
    kept: list[FieldProblem] = []
    for problem in problems:
        pattern = _ROW.sub("[*]", problem.field)
        count = seen.get(pattern, 0)
        seen[pattern] = count + 1
        if count < _SAME_PATTERN_KEPT:
            kept.append(problem)
    for pattern, count in seen.items():
        if count > _SAME_PATTERN_KEPT:
            kept.append(
                FieldProblem(
                    field=pattern[: limits.MAX_TEXT],
                    reason=f"{count - _SAME_PATTERN_KEPT} more like the above",
                )
            )
    return kept


def fit_report(report: DeviceReport) -> DeviceReport:
    """``report`` inside :mod:`printerhq.limits` (see the module docstring); changed in place."""
    problems = list(report.invalid)
    fitter = _Fitter(problems)
    fitter.identity(report.identity)
    report.protocol = fit_text(report.protocol)
    report.counters = fitter.table(report.counters, "counters", fitter.counter)
    report.supplies = fitter.table(report.supplies, "supplies", fitter.supply)
    report.alerts = fitter.table(report.alerts, "alerts", fitter.alert)
    if report.status is not None:
        fitter.status(report.status)
    errors = [error[: limits.MAX_TEXT] for error in report.errors]
    if len(errors) > limits.MAX_TABLE_ROWS:
        errors = errors[: limits.MAX_TABLE_ROWS - 1] + [
            f"{len(errors) - limits.MAX_TABLE_ROWS + 1} more errors left out"
        ]
    report.errors = errors
    problems = [
        FieldProblem(field=p.field[: limits.MAX_TEXT], reason=p.reason[: limits.MAX_TEXT])
        for p in _collapsed(problems)
    ]
    if len(problems) > limits.MAX_TABLE_ROWS:
        rest = len(problems) - limits.MAX_TABLE_ROWS + 1
        problems = problems[: limits.MAX_TABLE_ROWS - 1] + [
            FieldProblem(field="invalid", reason=f"{rest} more problems left out")
        ]
    report.invalid = problems
    return report
