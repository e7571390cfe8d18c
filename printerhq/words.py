"""Plain words for the states and units a report carries: the one mapping every view uses
(``printerhq scan``, ``printerhq fleet``, the dashboard), so a technician reads "some left" or
"low toner", never an enum such as ``some_remaining`` or ``lowToner``.

The report keeps the machine names (they are the wire format); only what a person reads goes
through here. A name this module does not know yet (a state added later) still reads as words:
:func:`plain` splits ``snake_case`` and ``camelCase``, so new states compose without a code change
here. Every function returns display text that may still need :func:`printerhq.terminal.safe`
when the name came from a device.
"""

from __future__ import annotations

import math
import re

__all__ = [
    "plain",
    "supply_state",
    "tray_state",
    "printer_status",
    "device_status",
    "detected_error",
    "cover_status",
    "alert_level",
    "ALERT_LEVELS",
    "counter_unit",
    "unit",
    "whole_percent",
]

# RFC 3805 special values of prtMarkerSuppliesLevel / prtInputCurrentLevel (section 2.2.9 and the
# MIB's DESCRIPTION): -1 "other" (no restriction: unlimited), -2 "unknown", -3 "some remaining"
# (at least one unit left); and for a receptacle that fills (prtMarkerSuppliesClass 4) the same
# -3 means some *space* left. Our own states: coarse (a few steps, Brother), invalid (see the
# report's invalid list), capacity_unknown (a level without a maximum, RFC 3805 capacity -2).
_SUPPLY_STATES = {
    "ok": "",
    "unlimited": "unlimited",
    "unknown": "unknown level",
    "some_remaining": "some left",
    "coarse": "approx.",
    "invalid": "invalid value",
    "capacity_unknown": "capacity unknown",
    "capacity_unlimited": "unlimited",
}
_RECEPTACLE_STATES = {**_SUPPLY_STATES, "some_remaining": "some space left"}
_TRAY_STATES = _SUPPLY_STATES  # the same words: a tray holds sheets, a roll metres

# hrPrinterStatus (RFC 2790); "other" says nothing (the device status and the alerts tell more)
_PRINTER_STATUS = {"warmup": "warming up", "other": ""}
_DEVICE_STATUS: dict[str, str] = {}  # hrDeviceStatus: unknown, running, warning, testing, down

# hrPrinterDetectedErrorState flags (RFC 2790, RFC 3805 section 2.2.13.2).
_DETECTED_ERRORS = {
    "lowPaper": "low paper",
    "noPaper": "no paper",
    "lowToner": "low toner",
    "noToner": "no toner",
    "doorOpen": "door open",
    "jammed": "paper jam",
    "offline": "offline",
    "serviceRequested": "service requested",
    "inputTrayMissing": "input tray missing",
    "outputTrayMissing": "output tray missing",
    "markerSupplyMissing": "supply missing",
    "outputNearFull": "output tray nearly full",
    "outputFull": "output tray full",
    "inputTrayEmpty": "input tray empty",
    "overduePreventMaint": "maintenance overdue",
}

_COVER_STATUS = {"interlock_open": "interlock open", "interlock_closed": "interlock closed"}

# PrtMarkerCounterUnitTC / PrtCapacityUnitTC / PrtMarkerSuppliesSupplyUnitTC names (RFC 3805,
# IANA-PRINTER-MIB) and our model's CounterUnit names.
_UNITS = {
    "tenThousandthsOfInches": "1/10000 in",
    "micrometers": "µm",
    "characters": "characters",
    "lines": "lines",
    "impressions": "impressions",
    "sheets": "sheets",
    "pages": "pages",
    "dotRow": "dot rows",
    "hours": "hours",
    "thousandthsOfOunces": "1/1000 oz",
    "tenthsOfGrams": "1/10 g",
    "hundrethsOfFluidOunces": "1/100 fl oz",
    "tenthsOfMilliliters": "1/10 ml",
    "feet": "feet",
    "meters": "metres",
    "inches": "inches",
    "items": "items",
    "percent": "%",
}

_WORD_BREAK = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def plain(name: str) -> str:
    """Words for any machine name: ``some_remaining`` -> ``some remaining``,
    ``markerTonerAlmostEmpty`` -> ``marker toner almost empty``."""
    spaced = _WORD_BREAK.sub(" ", name.replace("_", " "))
    return " ".join(word if word.isupper() else word.lower() for word in spaced.split())


def _lookup(table: dict[str, str], name: str | None) -> str:
    if name is None:
        return ""
    return table[name] if name in table else plain(name)


def supply_state(state: str, *, receptacle: bool = False) -> str:
    """A supply's state in words; ``""`` for ``ok`` (the level says it all)."""
    return _lookup(_RECEPTACLE_STATES if receptacle else _SUPPLY_STATES, state)


def tray_state(state: str) -> str:
    """An input tray's state in words; ``""`` for ``ok``."""
    return _lookup(_TRAY_STATES, state)


def printer_status(status: str | None) -> str:
    return _lookup(_PRINTER_STATUS, status)


def device_status(status: str | None) -> str:
    return _lookup(_DEVICE_STATUS, status)


def detected_error(flag: str) -> str:
    return _lookup(_DETECTED_ERRORS, flag)


def cover_status(status: str | None) -> str:
    return _lookup(_COVER_STATUS, status)


# The three levels a person sorts alerts by, most severe first. Only critical and warning
# (prtAlertSeverityLevel 3 and 4) ask for action; an event that is already over
# (warningBinaryChangeEvent: power up, a cover closed) and anything else is information.
ALERT_LEVELS = ("critical", "warning", "info")


def alert_level(severity: str | None) -> str:
    """``critical``, ``warning`` or ``info`` for an alert's severity: the one word for it in
    ``printerhq scan``, the dashboard and the server's alerts."""
    return severity if severity in ("critical", "warning") else "info"


def unit(name: str | None, default: str = "") -> str:
    """A capacity, level or counter unit in words (``tenThousandthsOfInches`` -> ``1/10000 in``);
    ``default`` when the device named none (``None``, ``other``, ``unknown``)."""
    if name is None or name in ("other", "unknown"):
        return default
    return _lookup(_UNITS, name)


def counter_unit(counter_name: str, unit_name: str) -> str:
    """The unit of a page counter. ``other`` is what the model says when the device gave no unit
    we know (none given, or one the model has no name for); a jam counter then counts jams, any
    other counter says so rather than guess."""
    if unit_name == "other":
        return "jams" if counter_name == "jam" else "(unit unknown)"
    return unit(unit_name)


def whole_percent(
    percent: float | None, level: int | None = None, capacity: int | None = None
) -> int | None:
    """The percentage a person reads, rounded once, half up (74.52 -> 75, 74.5 -> 75).

    The report's ``percent`` is already rounded to one decimal; rounding that again (74.52 ->
    74.5 -> 74 with Python's half-to-even ``round``) would round twice. So the level and capacity
    are used when both are real quantities, ``percent`` otherwise; clamped to 0..100."""
    if level is not None and capacity is not None and capacity > 0 and level >= 0:
        rounded = (level * 200 + capacity) // (2 * capacity)  # integers: exact half up
    elif percent is not None and math.isfinite(percent):
        rounded = math.floor(percent + 0.5)
    else:
        return None
    return min(100, max(0, rounded))
