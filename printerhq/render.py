"""Terminal rendering of DeviceReports for ``printerhq scan``: pure functions returning strings.

``render_table`` lists the devices found (one line each); ``render_device`` shows one printer's
metrics — supplies as percent bars, page counters, status and active alerts. No colour codes and
no terminal queries, so the output is the same in a pipe, a log or a test.
"""

from __future__ import annotations

from collections.abc import Sequence

from printerhq.model import DeviceReport, Supply

__all__ = ["percent_bar", "render_table", "render_device", "render_reports", "render_scan"]

_STATE_TEXT = {
    "unknown": "unknown",
    "unlimited": "unlimited",
    "some_remaining": "some left",
    "invalid": "invalid",
}


def percent_bar(percent: float | None, width: int = 10) -> str:
    """``[#######---] 70%``; an unknown percentage gives ``[??????????]``."""
    if percent is None:
        return "[" + "?" * width + "]"
    clamped = min(100.0, max(0.0, percent))
    filled = round(clamped * width / 100)
    return f"[{'#' * filled}{'-' * (width - filled)}] {clamped:.0f}%"


def _cut(text: str | None, width: int) -> str:
    text = (text or "").replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def render_table(reports: Sequence[DeviceReport]) -> str:
    """One line per device: address, vendor, model, serial, sysDescr."""
    header = ("address", "vendor", "model", "serial", "sysDescr")
    rows = []
    for report in reports:
        ident = report.identity
        vendor = ident.vendor or ""
        if ident.brand:
            vendor = f"{ident.brand} ({vendor})" if vendor else ident.brand
        rows.append(
            (
                ident.address,
                vendor,
                ident.model or "",
                ident.serial or "",
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
    return "\n".join(line.rstrip() for line in lines)


def _supply_line(supply: Supply, width: int) -> str:
    name = _cut(supply.description, width).ljust(width)
    if supply.percent is not None:
        bar = percent_bar(supply.percent)
        if supply.state == "coarse":
            bar += " (approx.)"
    else:
        bar = percent_bar(None) + " " + _STATE_TEXT.get(supply.state, supply.state)
    if not supply.consumed:
        bar += " full"  # a receptacle: the bar shows how full it is
    return f"  {name}  {bar}"


def render_device(report: DeviceReport) -> str:
    """The metrics of one printer, several lines."""
    ident = report.identity
    title = " ".join(p for p in (ident.brand or ident.vendor, ident.model) if p) or "unknown device"
    lines = [f"{ident.address}  {title}"]
    facts = [
        f"serial {ident.serial}" if ident.serial else "",
        f"firmware {ident.firmware}" if ident.firmware else "",
        f"MAC {ident.mac}" if ident.mac else "",
        ("colour" if ident.colour else "mono") if ident.colour is not None else "",
        f"location {ident.location}" if ident.location else "",
    ]
    if any(facts):
        lines.append("  " + ", ".join(f for f in facts if f))
    if report.supplies:
        lines.append(" Supplies")
        width = min(32, max(len(s.description) for s in report.supplies))
        lines += [_supply_line(s, width) for s in report.supplies]
    if report.counters:
        lines.append(" Counters")
        width = max(len(c.label or c.name) for c in report.counters)
        for counter in report.counters:
            label = (counter.label or counter.name).ljust(width)
            lines.append(f"  {label}  {counter.value:>12,} {counter.unit}")
    status = report.status
    if status is not None:
        parts = [
            f"device {status.device}" if status.device else "",
            f"printer {status.printer}" if status.printer else "",
            ("errors " + ", ".join(status.errors)) if status.errors else "",
        ]
        if any(parts):
            lines.append(" Status  " + "; ".join(p for p in parts if p))
        if status.console:
            lines.append("  panel: " + " | ".join(status.console))
        for cover in status.covers:
            if cover.status not in (None, "closed", "interlock_closed"):
                lines.append(f"  cover {cover.description or cover.index}: {cover.status}")
        for tray in status.trays:
            level = (
                percent_bar(tray.percent)
                if tray.percent is not None
                else _STATE_TEXT.get(tray.state, tray.state)
            )
            capacity = f" of {tray.capacity}" if tray.capacity else ""
            lines.append(f"  tray {tray.name or tray.index}: {level}{capacity}")
    if report.alerts:
        lines.append(" Alerts")
        for alert in report.alerts:
            what = alert.description or alert.code_name or f"code {alert.code}"
            lines.append(f"  {alert.severity or 'other'}: {what}")
    if report.invalid:
        lines.append(" Invalid values")
        lines += [f"  {p.field}: {p.reason}" for p in report.invalid]
    if report.errors:
        lines.append(" Errors")
        lines += [f"  {e}" for e in report.errors]
    if report.cost is not None and report.cost.requests:
        cost = report.cost
        lines.append(
            f" SNMP: {cost.requests} requests, {cost.sent_bytes + cost.received_bytes} B "
            f"payload, ~{cost.wire_bytes} B on the wire"
            + (f" ({report.collection})" if report.collection else "")
        )
    return "\n".join(lines)


def render_reports(reports: Sequence[DeviceReport]) -> str:
    """The table of devices, then each printer's detail."""
    parts = [render_table(reports)]
    parts += [render_device(r) for r in reports if r.identity.is_printer]
    return "\n\n".join(parts)


# The name ``printerhq scan`` uses.
render_scan = render_reports
