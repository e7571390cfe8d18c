"""``printerhq fleet --meter-reads``: the server's meter reads of a period as a table, JSON or CSV.

The server computes them (``GET /api/v1/meter-reads``, printerhq/server/meter_reads.py); this
module only writes them out. The CSV has the dashboard's columns, rows and formula guard, so a
file from either is the same. Every string from the server goes through
:func:`printerhq.terminal.safe` (table), :func:`~printerhq.terminal.safe_json` or
:func:`~printerhq.terminal.spreadsheet_safe` (CSV).
"""

from __future__ import annotations

from typing import Any

from ..server import meter_reads as mr
from ..terminal import safe, safe_json

TABLE_COLUMNS = ("DEVICE", "SITE", "ADDRESS", "MODEL", "SERIAL", "COUNTER", "START", "END", "PAGES")


def _devices(answer: object) -> list[dict[str, Any]]:
    devices = answer.get("devices") if isinstance(answer, dict) else None
    return [d for d in devices if isinstance(d, dict)] if isinstance(devices, list) else []


def render_csv(answer: object) -> str:
    rows = (row for device in _devices(answer) for row in mr.csv_rows(device))
    return mr.csv_text([list(mr.CSV_COLUMNS), *rows])


def render_table(answer: object) -> str:
    rows = []
    for device in _devices(answer):
        for row in mr.csv_rows(device):
            cells = ["" if c is None else safe(c)[:40] for c in row]
            rows.append([*cells[:3], cells[4], cells[5], cells[6], *cells[7:10], cells[12]])
    if not rows:
        return "no meter reads in this period\n"
    header = [*TABLE_COLUMNS, "FLAGS"]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    numeric = {0, 6, 7, 8}
    lines = [
        "  ".join(
            (cell.rjust(w) if i in numeric else cell.ljust(w))
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in [header, *rows]
    ]
    return "\n".join(lines) + "\n"


def render(answer: object, fmt: str) -> str:
    if fmt == "json":
        return safe_json(answer, indent=2) + "\n"
    if fmt == "ndjson":
        return "".join(safe_json(d) + "\n" for d in _devices(answer))
    if fmt == "csv":
        return render_csv(answer)
    return render_table(answer)
