"""A small fleet with trouble in it, for the fleet views' tests: a paper jam, a toner that runs
out in about five days, a device not seen for five days, one that uses toner slowly and one
that prints nothing. Each device has eleven daily readings (a history to forecast from)."""

from __future__ import annotations

import msgspec

from printerhq import model

from .helpers_server import make_report

DAY = 86400.0
# serial -> (levels oldest first, detected errors, days since the last reading)
TROUBLE = {
    "JAM0001": ([60.0] * 11, ["jammed"], 0),
    "LOW0001": ([30.0 - 2 * i for i in range(11)], [], 0),  # 10 % left at 2 %/day: 5 days
    "GONE001": ([70.0 - i for i in range(11)], [], 5),
    "SLOW001": ([90.0 - i for i in range(11)], [], 0),  # 80 % at 1 %/day: 80 days
    "FINE001": ([70.0] * 11, [], 0),
}
URGENCY_ORDER = ["JAM0001", "LOW0001", "GONE001", "SLOW001", "FINE001"]


def trouble_reports(now: float) -> list[model.DeviceReport]:
    reports = []
    for n, (serial, (levels, errors, silent)) in enumerate(TROUBLE.items()):
        last = now - silent * DAY - 60
        for i, level in enumerate(levels):
            base = make_report(n)
            report = msgspec.structs.replace(
                base,
                identity=msgspec.structs.replace(
                    base.identity,
                    serial=serial,
                    address=f"127.0.2.{n + 1}",
                    mac=f"00:11:22:33:55:{n:02x}",
                    sys_name=f"trouble-{serial.lower()}",
                ),
                scanned_at=last - (len(levels) - 1 - i) * DAY,
                supplies=[
                    msgspec.structs.replace(base.supplies[0], level=int(level), percent=level)
                ],
                status=model.Status(device="running", printer="idle", errors=list(errors)),
            )
            reports.append(report)
    return reports
