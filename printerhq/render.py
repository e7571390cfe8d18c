"""Terminal rendering of DeviceReports for ``printerhq scan`` and ``printerhq fleet``: pure
functions returning strings.

``render_table`` lists the devices found (one line each) and, below it, every device a scan could
not read with the reason, in the words ``--json`` carries in ``errors``; ``render_device`` shows
one printer's metrics — supplies as percent bars, page counters, status with the input trays, and
active alerts. No colour codes and no terminal queries, so the output is the same in a pipe, a log
or a test.

Every string a device (or a server) supplied passes :func:`printerhq.terminal.safe` here, after
all decoding, so no escape sequence it carries reaches the terminal; states and units are put in
plain words by :mod:`printerhq.words`.
"""

from __future__ import annotations

from collections.abc import Sequence

from printerhq import words
from printerhq.model import Counter, DeviceReport, Identity, InputTray, Supply
from printerhq.terminal import safe

__all__ = [
    "percent_bar",
    "heading",
    "lowest_supply",
    "render_table",
    "render_errors",
    "render_device",
    "render_reports",
    "render_scan",
]


def percent_bar(percent: float | None, width: int = 10) -> str:
    """``[#######---] 70%``; an unknown percentage gives ``[??????????]``. The number is rounded
    once, half up (:func:`printerhq.words.whole_percent`), and the bar is drawn from it."""
    shown = words.whole_percent(percent)
    if shown is None:
        return "[" + "?" * width + "]"
    filled = (shown * width * 2 + 100) // 200  # half up, like the number
    return f"[{'#' * filled}{'-' * (width - filled)}] {shown}%"


def _level_bar(percent: float | None, level: int | None, capacity: int | None) -> str:
    return percent_bar(
        words.whole_percent(percent, level, capacity) if percent is not None else None
    )


def _cut(text: str | None, width: int) -> str:
    text = safe(" ".join((text or "").split()))
    return text if len(text) <= width else text[: width - 1] + "…"


def heading(ident: Identity) -> str:
    """``Dell S5830dn``: the badge (brand, else vendor) and the model, the badge left out when
    the model already starts with it (``Dell Dell S5830dn``, ``Sharp SHARP MX-3570N``)."""
    badge = ident.brand or ident.vendor
    model = " ".join((ident.model or "").split())
    if badge and model:
        if model.casefold().startswith(badge.casefold()) and (
            len(model) == len(badge) or not model[len(badge)].isalnum()
        ):
            return safe(model)
        return safe(f"{badge} {model}")
    return safe(badge or model) or "unknown device"


def lowest_supply(report: DeviceReport) -> Supply | None:
    """The consumable with the lowest known percentage (receptacles fill up: left out)."""
    known = [s for s in report.supplies if s.consumed and s.percent is not None]
    return min(known, key=lambda s: s.percent or 0.0) if known else None


def render_table(reports: Sequence[DeviceReport]) -> str:
    """One line per device: address, vendor, model, serial, sysDescr; then the devices that
    failed, with their errors."""
    header = ("address", "vendor", "model", "serial", "sysDescr")
    rows = []
    for report in reports:
        ident = report.identity
        vendor = ident.vendor or ""
        if ident.brand:
            vendor = f"{ident.brand} ({vendor})" if vendor else ident.brand
        rows.append(
            (
                safe(ident.address),
                _cut(vendor, 40),
                _cut(ident.model, 40),
                _cut(ident.serial, 40),
                _cut(ident.sys_descr, 50),
            )
        )
    widths = [max([len(header[i])] + [len(row[i]) for row in rows]) for i in range(4)]
    lines = [
        "  ".join(h.ljust(w) for h, w in zip(header[:4], widths, strict=True)) + "  " + header[4]
    ]
    for row in rows:
        lines.append(
            "  ".join(v.ljust(w) for v, w in zip(row[:4], widths, strict=True)) + "  " + row[4]
        )
    text = "\n".join(line.rstrip() for line in lines)
    errors = render_errors(reports)
    return text + "\n\n" + errors if errors else text


def render_errors(reports: Sequence[DeviceReport]) -> str:
    """``Errors (2 devices)`` and a line per error: the address and the words of ``errors``."""
    failed = [r for r in reports if r.errors]
    if not failed:
        return ""
    lines = [f"Errors ({len(failed)} device{'s' if len(failed) != 1 else ''})"]
    width = max(len(safe(r.identity.address)) for r in failed)
    for report in failed:
        address = safe(report.identity.address).ljust(width)
        lines += [f"  {address}  {safe(error)}" for error in report.errors]
    return "\n".join(lines)


def _supply_line(supply: Supply, width: int) -> str:
    name = _cut(supply.description, width).ljust(width)
    receptacle = not supply.consumed
    state = words.supply_state(supply.state, receptacle=receptacle)
    if supply.percent is not None:
        text = _level_bar(supply.percent, supply.level, supply.capacity)
        if receptacle:
            text += " full"  # a receptacle: the bar shows how full it is
        if state:
            text += f" ({state})"
        return f"  {name}  {text}".rstrip()
    text = percent_bar(None)
    if supply.level is not None and supply.capacity is None and not state:
        state = "capacity unknown"  # RFC 3805 capacity -2, or none given: a level, no percent
    if supply.level is not None:
        unit = words.unit(supply.unit)
        text += f" level {supply.level:,}" + (f" {safe(unit)}" if unit else "")
    if state:
        text += f" {state}" if supply.level is None else f", {state}"
    return f"  {name}  {text}"


def _tray_line(tray: InputTray) -> str:
    # prtInputCapacityUnit is sheets on nearly every device (RFC 3805); say so when it is absent.
    unit = safe(words.unit(tray.unit, default="sheets"))
    name = safe(" ".join((tray.name or "").split())) or f"#{tray.index}"
    if tray.percent is not None and tray.level is not None and tray.capacity:
        level = (
            f"{_level_bar(tray.percent, tray.level, tray.capacity)}, "
            f"{tray.level:,} of {tray.capacity:,} {unit}"
        )
    elif tray.percent is not None:
        level = percent_bar(tray.percent)
    else:
        level = words.tray_state(tray.state) or "level not given"
        if tray.capacity:
            level += f", holds {tray.capacity:,} {unit}"
    return f"  tray {name}: {level}"


def _counter_lines(counters: Sequence[Counter]) -> list[str]:
    labels = [_cut(c.label or words.plain(c.name), 40) for c in counters]
    width = max(len(label) for label in labels)
    units = [words.counter_unit(c.name, c.unit) for c in counters]
    return [
        f"  {label.ljust(width)}  {counter.value:>12,} {unit}"
        for label, counter, unit in zip(labels, counters, units, strict=True)
    ]


def render_device(report: DeviceReport) -> str:
    """The metrics of one printer, several lines."""
    ident = report.identity
    lines = [f"{safe(ident.address)}  {heading(ident)}"]
    facts = [
        f"serial {safe(ident.serial)}" if ident.serial else "",
        f"firmware {safe(ident.firmware)}" if ident.firmware else "",
        f"MAC {safe(ident.mac)}" if ident.mac else "",
        ("colour" if ident.colour else "mono") if ident.colour is not None else "",
        f"location {_cut(ident.location, 60)}" if ident.location else "",
    ]
    if any(facts):
        lines.append("  " + ", ".join(f for f in facts if f))
    if report.supplies:
        lines.append(" Supplies")
        width = min(32, max(len(_cut(s.description, 32)) for s in report.supplies))
        lines += [_supply_line(s, width) for s in report.supplies]
    if report.counters:
        lines.append(" Counters")
        lines += _counter_lines(report.counters)
    status = report.status
    if status is not None:
        device, printer = words.device_status(status.device), words.printer_status(status.printer)
        parts = [
            f"device {safe(device)}" if device else "",
            f"printer {safe(printer)}" if printer else "",
            (
                "errors: " + ", ".join(safe(words.detected_error(e)) for e in status.errors)
                if status.errors
                else ""
            ),
        ]
        if any(parts):
            lines.append(" Status  " + "; ".join(p for p in parts if p))
        else:
            lines.append(" Status")
        if status.console:
            lines.append("  panel: " + " | ".join(_cut(line, 80) for line in status.console))
        for cover in status.covers:
            if cover.status not in (None, "closed", "interlock_closed"):
                name = _cut(cover.description, 40) or f"#{cover.index}"
                lines.append(f"  cover {name}: {safe(words.cover_status(cover.status))}")
        lines += [_tray_line(tray) for tray in status.trays]
    if report.alerts:
        lines.append(" Alerts")
        for alert in report.alerts:
            what = (
                _cut(alert.description, 100)
                or (safe(words.plain(alert.code_name)) if alert.code_name else "")
                or f"code {alert.code}"
            )
            lines.append(f"  {safe(words.alert_level(alert.severity))}: {what}")
    if report.invalid:
        lines.append(" Invalid values")
        lines += [f"  {safe(p.field)}: {safe(p.reason)}" for p in report.invalid]
    if report.errors:
        lines.append(" Errors")
        lines += [f"  {safe(e)}" for e in report.errors]
    if report.cost is not None and report.cost.requests:
        cost = report.cost
        lines.append(
            f" SNMP: {cost.requests} requests, {cost.sent_bytes + cost.received_bytes} B "
            f"payload, ~{cost.wire_bytes} B on the wire"
            + (f" ({report.collection})" if report.collection else "")
        )
    return "\n".join(lines)


def render_reports(reports: Sequence[DeviceReport]) -> str:
    """The table of devices (and of those that failed), then each printer's detail."""
    parts = [render_table(reports)]
    parts += [render_device(r) for r in reports if r.identity.is_printer]
    return "\n\n".join(parts)


# The name ``printerhq scan`` uses.
render_scan = render_reports
