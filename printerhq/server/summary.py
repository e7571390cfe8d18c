"""A device's summary for the fleet views (sans-IO): what the fleet page sorts and filters on.

:func:`summarize` takes a device's latest report and the known levels of its supplies and
returns a :class:`Summary`: whether something stops the printer now (a jam, a door open,
offline, out of toner), its status in plain words (:mod:`printerhq.words`, the words
``printerhq scan`` uses), the lowest supply, the earliest forecast empty time
(:mod:`printerhq.server.forecast`) and the page total. The store keeps one row of it per device
(``device_summary``, migration 10), refreshed after ingest off the ingest path.

Urgency ("trouble first") is a class and a rank inside it:

0. **error** — something stops the printer: a jam, a door or cover open, offline, no toner,
   no paper, a supply missing or at 0 %, the device down;
1. **runs out** — a supply forecast to run out within :data:`SOON_DAYS` days (soonest first);
2. **not seen** — no reading for :data:`UNSEEN_HOURS` hours (longest silent first);
3. **ok** — the rest (soonest forecast first).

Classes 1 and 2 depend on the time of the question, so the queries compute them from
``runs_out_at`` and ``last_seen`` at the time asked; the stored ``urgency`` is 0 or what held
when the row was refreshed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from printerhq import words
from printerhq.model import DeviceReport
from printerhq.server.forecast import Forecast

__all__ = [
    "ERROR",
    "RUNS_OUT",
    "UNSEEN",
    "OK",
    "URGENCY_NAMES",
    "STATUSES_BY_NAME",
    "SOON_DAYS",
    "UNSEEN_HOURS",
    "Summary",
    "SupplyForecast",
    "summarize",
    "runs_out_words",
]

ERROR, RUNS_OUT, UNSEEN, OK = 0, 1, 2, 3
URGENCY_NAMES = {ERROR: "error", RUNS_OUT: "runs_out", UNSEEN: "unseen", OK: "ok"}
STATUSES_BY_NAME = {name: number for number, name in URGENCY_NAMES.items()}
SOON_DAYS = 14.0  # a supply forecast to run out within this many days is trouble
UNSEEN_HOURS = 24.0  # a device without a reading for this long is trouble

# hrPrinterDetectedErrorState flags that stop printing (the rest are warnings: low toner, ...).
STOPPING_ERRORS = (
    "jammed",
    "doorOpen",
    "offline",
    "noToner",
    "noPaper",
    "markerSupplyMissing",
    "inputTrayMissing",
    "outputFull",
    "serviceRequested",
)
_OPEN_COVERS = ("open", "interlock_open")


_NO_HISTORY = Forecast(None, None, None, "not enough history")


@dataclass(frozen=True, slots=True)
class SupplyForecast:
    index: int
    description: str
    kind: str
    colour: str | None
    percent: float | None  # the latest level, when known
    forecast: Forecast


@dataclass(frozen=True, slots=True)
class Summary:
    urgency: int  # ERROR, RUNS_OUT or OK as of ``now`` (UNSEEN is decided when asked)
    problem: str  # what stops the printer, in words ("paper jam, door open"); "" if nothing
    status: str  # the status in words: the problem, else the printer's state
    lowest_percent: float | None
    lowest_supply: str
    runs_out_at: float | None  # the earliest forecast empty time of a consumed supply
    runs_out_supply: str
    total_pages: int | None
    supplies: tuple[SupplyForecast, ...]


def _problems(report: DeviceReport) -> list[str]:
    found: list[str] = []
    status = report.status
    if status is not None:
        if status.device == "down":
            found.append("down")
        found += [words.detected_error(flag) for flag in status.errors if flag in STOPPING_ERRORS]
        for cover in status.covers:
            if cover.status in _OPEN_COVERS:
                found.append(f"{cover.description or 'cover'} open")
    for supply in report.supplies:
        if supply.consumed and supply.percent is not None and supply.percent <= 0:
            found.append(f"{supply.description} empty")
    return list(dict.fromkeys(found))  # once each, in order


def _status_words(report: DeviceReport | None) -> str:
    if report is None or report.status is None:
        return ""
    status = report.status
    parts = [
        text
        for text in (words.device_status(status.device), words.printer_status(status.printer))
        if text
    ]
    parts += [words.detected_error(flag) for flag in status.errors]
    return ", ".join(dict.fromkeys(parts))


def summarize(report: DeviceReport | None, by_index: Mapping[int, Forecast], now: float) -> Summary:
    """The summary of a device from its latest report and its supplies' forecasts (supply
    index -> :class:`Forecast`; a supply without one has "not enough history")."""
    if report is None:
        return Summary(OK, "", "", None, "", None, "", None, ())
    problems = _problems(report)
    forecasts = []
    for supply in report.supplies:
        if not supply.consumed:
            continue  # a receptacle fills up; its "runs out" is another question
        forecasts.append(
            SupplyForecast(
                supply.index,
                supply.description,
                supply.kind,
                supply.colour,
                supply.percent,
                by_index.get(supply.index) or _NO_HISTORY,
            )
        )
    known = [f for f in forecasts if f.percent is not None]
    lowest = min(known, key=lambda f: f.percent or 0.0, default=None)
    dated = [f for f in forecasts if f.forecast.empties_at is not None]
    first = min(dated, key=lambda f: f.forecast.empties_at or 0.0, default=None)
    runs_out_at = first.forecast.empties_at if first else None
    pages = next((c.value for c in report.counters if c.name == "total"), None)
    if problems:
        urgency = ERROR
    elif runs_out_at is not None and runs_out_at < now + SOON_DAYS * 86400:
        urgency = RUNS_OUT
    else:
        urgency = OK
    status = ", ".join(problems) if problems else _status_words(report)
    return Summary(
        urgency=urgency,
        problem=", ".join(problems),
        status=status,
        lowest_percent=lowest.percent if lowest else None,
        lowest_supply=lowest.description if lowest else "",
        runs_out_at=runs_out_at,
        runs_out_supply=first.description if first else "",
        total_pages=pages,
        supplies=tuple(forecasts),
    )


def runs_out_words(empties_at: float | None, now: float) -> str:
    """When a supply runs out, for people: "empty", "within 5 days", "about 3 weeks"."""
    if empties_at is None:
        return ""
    days = (empties_at - now) / 86400
    if days <= 0:
        return "empty"
    if days < 1:
        return "within a day"
    if days <= 13:
        whole = int(days) + 1 if days > int(days) else int(days)
        return f"within {whole} days"
    if days < 60:
        return f"about {round(days / 7)} weeks"
    if days < 730:
        return f"about {round(days / 30.4)} months"
    return "in years"
