"""A demo-like fleet with history, for the dashboard's browser tests and its byte benchmark.

Printers of several vendors, mono and colour, each scanned ``per_day`` times a day for ``days``
days up to an hour before now: page counters that grow at their own pace (less at weekends), a
counter reset on one printer, toners that run down and are replaced (a swap), a waste-toner box
that fills, a drum that reports only "some left", paper trays, and alerts of every severity
(a jam, low toner, an informational power-up). No name or text has an underscore: the tests
check that no machine name (``some_remaining``) reaches a page.
"""

from __future__ import annotations

import math
import time

from printerhq import model

VENDORS = (
    ("HP", "LaserJet M507", False),
    ("HP", "Color LaserJet MFP M480f", True),
    ("Ricoh", "IM C3000", True),
    ("Brother", "HL-L6400DW", False),
    ("Kyocera", "TASKalfa 2554ci", True),
    ("Canon", "iR-ADV C3226i", True),
    ("Xerox", "VersaLink B405", False),
    ("Lexmark", "CX625", True),
)
COLOURS = ("Black", "Cyan", "Magenta", "Yellow")
RESET_PRINTER = 1  # its counters go back to a small value half way through the history
JAMMED_PRINTER = 0


def scan_times(days: int, per_day: int, now: float | None = None) -> list[float]:
    """``days * per_day`` scan times, oldest first, the newest an hour before ``now``."""
    end = float(int(now if now is not None else time.time()) - 3600)
    step = 86400 / per_day
    return [end - (days * per_day - 1 - k) * step for k in range(days * per_day)]


def _level(start: float, used: float) -> float:
    """A toner that starts at ``start`` % and is replaced (back to 100) whenever it runs out."""
    left = start - used
    while left < 3:
        left += 97
    return round(left, 0)


def demo_report(i: int, k: int, t: float, per_day: int) -> model.DeviceReport:
    """Printer ``i``'s ``k``-th scan, at time ``t``."""
    vendor, name, colour = VENDORS[i % len(VENDORS)]
    day = k / per_day
    rate = 40 + (i * 37) % 300  # pages a day, on average
    # Busier and quieter days (the derivative stays positive: the counter never goes down).
    pages = int(rate * (day + 0.5 * math.sin(day * 1.3))) + k
    total = 20_000 + 5_000 * i + pages
    if i % len(VENDORS) == RESET_PRINTER and k >= (per_day * 10):
        total = pages // 4  # the board was replaced: the counter starts again
    counters = [model.Counter(name="total", value=total, unit="impressions")]
    if colour:
        colour_pages = total // 3
        counters += [
            model.Counter(name="mono", value=total - colour_pages),
            model.Counter(name="colour", value=colour_pages),
        ]
    counters += [
        model.Counter(name="copy", value=total // 5),
        model.Counter(name="jam", value=3 + i + k // 40, unit="other"),
    ]
    supplies = []
    for c, colour_name in enumerate(COLOURS if colour else COLOURS[:1]):
        used = day * (4 + (i + c) % 5) * 0.9
        percent = _level(90 - 17 * ((i + c) % 5), used)
        supplies.append(
            model.Supply(
                index=c + 1,
                description=f"{colour_name} Toner",
                kind="toner",
                colour=colour_name.lower(),
                unit="percent",
                level=int(percent),
                capacity=100,
                percent=percent,
            )
        )
    supplies.append(
        model.Supply(
            index=len(supplies) + 1,
            description="Waste Toner Box",
            kind="waste",
            unit="percent",
            level=min(100, 10 + int(day * 2)),
            capacity=100,
            percent=float(min(100, 10 + int(day * 2))),
            consumed=False,
        )
    )
    supplies.append(
        model.Supply(
            index=len(supplies) + 1,
            description="Drum Unit",
            kind="drum",
            level=-3,
            state="some_remaining",
        )
    )
    errors, device, alerts = [], "running", []
    if i % len(VENDORS) == JAMMED_PRINTER:
        errors, device = ["jammed", "doorOpen"], "down"
        alerts.append(
            model.Alert(
                index=1,
                severity="critical",
                group="input",
                code_name="jam",
                description="Paper jam in tray 2",
            )
        )
    if supplies[0].percent is not None and supplies[0].percent < 20:
        errors.append("lowToner")
        alerts.append(model.Alert(index=2, severity="warning", code_name="markerTonerAlmostEmpty"))
    alerts.append(model.Alert(index=3, severity="warning_binary_change", description="Power up"))
    trays = [
        model.InputTray(
            index=1,
            name="Tray 1",
            media="A4",
            capacity=500,
            level=250,
            unit="sheets",
            percent=50.0,
        ),
        model.InputTray(index=2, name="Bypass", capacity=100, state="unknown"),
    ]
    return model.DeviceReport(
        identity=model.Identity(
            address=f"127.0.2.{i + 1}",
            is_printer=True,
            vendor=vendor,
            model=name,
            serial=f"DEMO{i:04d}",
            sys_name=f"printer-{i}",
            mac=f"00:11:22:33:55:{i:02x}",
            colour=colour,
            location=f"Floor {i % 4 + 1}",
        ),
        scanned_at=t,
        protocol="snmpv2c",
        counters=counters,
        supplies=supplies,
        status=model.Status(
            device=device, printer="other" if errors else "idle", errors=errors, trays=trays
        ),
        alerts=alerts,
    )


def demo_fleet(
    printers: int = 8, days: int = 21, per_day: int = 4, now: float | None = None
) -> list[list[model.DeviceReport]]:
    """Scans oldest first, each a list of one report per printer (a batch an agent sends)."""
    return [
        [demo_report(i, k, t, per_day) for i in range(printers)]
        for k, t in enumerate(scan_times(days, per_day, now))
    ]
