"""The privacy allow-list: the only subtrees the collector may ever ask about.

Derived from the catalogue itself (standard objects plus every vendor object), so adding an OID
to the catalogue is the only way to make the collector request it. Job, user and document data
(Job-Monitoring MIB, RFC 2707, 1.3.6.1.2.1.97; Printer-MIB channel and interpreter tables; HP's
and Xerox's job logs) are in no subtree here, and :data:`FORBIDDEN` names them so tests can say
so explicitly.
"""

from __future__ import annotations

from . import standard as std
from .oids import OID, is_under, oid
from .vendors import VENDORS

FORBIDDEN: tuple[OID, ...] = (
    oid("1.3.6.1.2.1.97"),  # Job-Monitoring MIB (RFC 2707): job names, owners, documents
    oid("1.3.6.1.2.1.43.14"),  # prtChannelTable: print job channels
    oid("1.3.6.1.2.1.43.15"),  # prtInterpreterTable
    oid("1.3.6.1.2.1.25.4"),  # hrSWRun: running software
    oid("1.3.6.1.2.1.25.6"),  # hrSWInstalled
    oid("1.3.6.1.4.1.11.2.3.9.4.2.1.1.6"),  # HP PML job info
)


def _column(column: OID, first: int, last: int) -> list[OID]:
    return [column[:-1] + (c,) for c in range(first, last + 1)] if column else []


def _standard_subtrees() -> list[OID]:
    subtrees = [std.SYS_DESCR[:-2] + (n,) for n in range(1, 7)]  # sysDescr .. sysLocation
    subtrees += [
        std.IF_PHYS_ADDRESS,
        std.HR_DEVICE_TYPE,
        std.HR_DEVICE_DESCR,
        std.HR_DEVICE_STATUS,
        std.HR_PRINTER_STATUS,
        std.HR_PRINTER_ERROR_STATE,
        std.PRT_GENERAL_PRINTER_NAME,
        std.PRT_GENERAL_SERIAL,
        std.PRT_ALERT_ALL_EVENTS,
        std.PRT_COLORANT_VALUE,
        std.PRT_CONSOLE_TEXT,
    ]
    subtrees += [std.PRT_COVER_ENTRY + (c,) for c in (2, 3)]
    subtrees += [std.PRT_INPUT_ENTRY + (c,) for c in range(8, 14)]
    subtrees += [std.PRT_MARKER_ENTRY + (c,) for c in range(3, 7)]
    subtrees += [std.PRT_SUPPLY_ENTRY + (c,) for c in range(4, 10)]
    subtrees += [std.PRT_ALERT_ENTRY + (c,) for c in range(2, 10)]
    return subtrees


def _vendor_subtrees() -> list[OID]:
    subtrees: list[OID] = []
    for vendor in VENDORS:
        for scalar in (*vendor.model, *vendor.serial, *vendor.firmware):
            subtrees.append(scalar.oid[:-1])  # the object; its instance lies below
        for counter in vendor.counters:
            subtrees.append(counter.oid[:-1])
        for table in vendor.counter_tables:
            subtrees.append(table.value_column)
            if table.key_column:
                subtrees.append(table.key_column)
        for column in (vendor.supplies.fallback_level, vendor.supplies.fallback_name):
            if column:
                subtrees.append(column)
    return subtrees


ALLOWED_SUBTREES: tuple[OID, ...] = tuple(sorted(set(_standard_subtrees() + _vendor_subtrees())))


def is_allowed(value: OID) -> bool:
    """True when a request for ``value`` stays inside the catalogue (and outside FORBIDDEN)."""
    if any(is_under(value, bad) for bad in FORBIDDEN):
        return False
    return any(is_under(value, prefix) for prefix in ALLOWED_SUBTREES)
