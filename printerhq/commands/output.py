"""Machine outputs of reports (``--format json|ndjson|csv``) and the exit code of a scan.

``json`` is one array (today's ``--json``, kept as an alias), written when the scan ends, in
address order. ``ndjson`` and ``csv`` are streamed: a line (a row) per device as soon as that
device is done, so a /16 scan shows its first printers while it runs, and ``head -n 5`` or a
spreadsheet import can start at once. Every device string passes :func:`printerhq.terminal.safe`
(CSV) or travels escaped (:func:`printerhq.terminal.safe_json`), so nothing written here can
drive a terminal; CSV cells from a device that start like a formula are defused (see
:func:`csv_cell`).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import io
import logging
from collections.abc import Iterable, Sequence
from typing import TextIO

from ..cmdline.exits import FAILURE, OK, REPORTS_WAITING
from ..model import Counter, DeviceReport, to_builtins
from ..render import lowest_supply
from ..terminal import SafeFormatter, safe_json, spreadsheet_safe
from ..words import whole_percent

FORMATS = ("table", "json", "ndjson", "csv")
STREAMED = frozenset(("ndjson", "csv"))

# The counters a spreadsheet row carries (CounterName buckets), in this order.
CSV_COUNTERS = ("total", "mono", "colour", "print", "copy", "scan", "fax")
CSV_COLUMNS = (
    "address",
    "is_printer",
    "vendor",
    "brand",
    "model",
    "serial",
    "firmware",
    "mac",
    "location",
    "device_status",
    "printer_status",
    *(f"{name}_pages" for name in CSV_COUNTERS),
    "lowest_supply",
    "lowest_supply_percent",
    "errors",
    "scanned_at",
)


def add_format_argument(
    parser: argparse.ArgumentParser,
    *,
    json_is: str = "one array of device reports",
    ndjson_is: str = "one device per line, as each finishes",
) -> None:
    """``--format`` and its alias ``--json``; ``json_is`` and ``ndjson_is`` say what the command
    writes in those formats."""
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help=f"table (default, for people), json ({json_is}), ndjson ({ndjson_is}), csv (one "
        "row per device: identity, main counters, lowest supply)",
    )
    parser.add_argument("--json", action="store_true", help="the same as --format json")


def chosen_format(args: argparse.Namespace) -> str:
    """The format asked for; ``--json`` is ``--format json``. Raises ValueError when the two
    disagree (``--json --format csv``)."""
    fmt = getattr(args, "format", None)
    if getattr(args, "json", False):
        if fmt not in (None, "json"):
            raise ValueError(f"--json and --format {fmt} disagree; give one")
        return "json"
    return fmt or "table"


def json_array(reports: Sequence[DeviceReport]) -> str:
    """The reports as one JSON array (the wire structs), ending with a newline."""
    return safe_json([to_builtins(r) for r in reports], indent=2) + "\n"


def ndjson_line(report: DeviceReport) -> str:
    """One report as one line of JSON, ending with a newline."""
    return safe_json(to_builtins(report)) + "\n"


def csv_cell(value: object) -> str:
    """A CSV cell: ``""`` for None; device text made terminal-safe and, when it starts like a
    formula, prefixed with ``'`` (the spreadsheet then shows it as text)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    return spreadsheet_safe(value)  # the formula guard lives beside ``safe``


def _counter(counters: Iterable[Counter], name: str) -> int | None:
    return next((c.value for c in counters if c.name == name), None)


def csv_row(report: DeviceReport) -> list[str]:
    """One spreadsheet row (see ``CSV_COLUMNS``)."""
    ident = report.identity
    status = report.status
    low = lowest_supply(report)
    scanned = datetime.datetime.fromtimestamp(report.scanned_at, datetime.UTC)
    values: list[object] = [
        ident.address,
        ident.is_printer,
        ident.vendor,
        ident.brand,
        ident.model,
        ident.serial,
        ident.firmware,
        ident.mac,
        ident.location,
        status.device if status else None,
        status.printer if status else None,
        *(_counter(report.counters, name) for name in CSV_COUNTERS),
        low.description if low else None,
        whole_percent(low.percent, low.level, low.capacity) if low else None,
        "; ".join(report.errors) or None,
        scanned.strftime("%Y-%m-%dT%H:%M:%SZ"),
    ]
    return [csv_cell(v) for v in values]


class ReportWriter:
    """Writes reports to ``stream`` in a streamed format (ndjson, csv) as they come, flushing
    each line so a reader downstream sees it at once."""

    def __init__(self, fmt: str, stream: TextIO):
        assert fmt in STREAMED, fmt
        self.fmt = fmt
        self.stream = stream
        self._buffer = io.StringIO()
        self._csv = csv.writer(self._buffer, lineterminator="\n")
        if fmt == "csv":
            self._csv.writerow(CSV_COLUMNS)
            self._flush_csv()

    def _flush_csv(self) -> None:
        self.stream.write(self._buffer.getvalue())
        self.stream.flush()
        self._buffer.seek(0)
        self._buffer.truncate()

    def write(self, report: DeviceReport) -> None:
        if self.fmt == "ndjson":
            self.stream.write(ndjson_line(report))
            self.stream.flush()
        else:
            self._csv.writerow(csv_row(report))
            self._flush_csv()


def device_failed(report: DeviceReport) -> bool:
    """Whether a report says a device (or a named target) could not be read: any error but an
    ICMP one. An ICMP error alone (``icmp unreachable: ...``) is the network's answer that no
    host is there, which a router gives for every blank address of a routed subnet: shown, but
    no failure of the scan. (The prefix is the one ``printerhq.scan.host`` writes.) A printer
    found by its web page was read: its errors say why SNMP did not answer, and the scan's
    statistics count it as a printer, not an error (``printerhq.scan.outcome``)."""
    if report.protocol == "http" and report.identity.is_printer:
        return False
    return any(not error.startswith("icmp ") for error in report.errors)


def scan_exit_code(reports: Sequence[DeviceReport], *, reports_waiting: bool) -> int:
    """The exit code of a scan that ran to its end (usage errors and Ctrl-C exit earlier).

    1 (failure) when any device failed (:func:`device_failed`: a refused SNMPv3 passphrase, an
    unreadable reply, a collection cut short, a name that did not resolve); else 3 (reports
    waiting) when an upload left reports in the spool; else 0 (ok). A failure outranks reports
    waiting: both are said on stderr, and a script that sees 1 must look at the output anyway.
    """
    if any(device_failed(r) for r in reports):
        return FAILURE
    if reports_waiting:
        return REPORTS_WAITING
    return OK


def safe_library_warnings() -> None:
    """Library warnings (uplink, engine) reach stderr through logging's last-resort handler when
    a command sets up no logging: give it the safe formatter, so a server's or device's text in
    such a line carries no terminal escapes."""
    if logging.lastResort is not None:
        logging.lastResort.setFormatter(SafeFormatter())
