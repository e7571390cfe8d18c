"""Names for the OIDs the collector asks: which MIB each belongs to, and its object name.

For the audit trail (docs/audit.md): ``printerhq audit`` groups the OIDs an agent asked by MIB
and names each, so a security team reads "Printer-MIB prtMarkerSuppliesLevel.1.2", not a dotted
number. The names come from the catalogue itself: the constants of :mod:`.standard` (their
Python names are the MIB's object names in another case), the columns of the Printer-MIB tables
the collector walks (RFC 3805), and each vendor's entries in :mod:`.vendors`. An OID none of
those covers keeps its number and the name of the nearest known subtree, so it stands out.
"""

from __future__ import annotations

__all__ = ["OidName", "name_of"]

from functools import lru_cache
from typing import NamedTuple

from . import standard as std
from . import vendors
from .oids import OID, dotted, oid


class OidName(NamedTuple):
    mib: str  # e.g. "Printer-MIB (RFC 3805)", "HP private (enterprise 11)"
    name: str  # e.g. "prtMarkerSuppliesLevel.1.2"; the dotted OID when nothing names it


# Subtrees -> MIB. The longest matching prefix wins.
_MIBS: dict[OID, str] = {
    oid("1.3.6.1.2.1.1"): "SNMPv2-MIB system (RFC 3418)",
    oid("1.3.6.1.2.1.2"): "IF-MIB (RFC 2863)",
    oid("1.3.6.1.2.1.25"): "HOST-RESOURCES-MIB (RFC 2790)",
    oid("1.3.6.1.2.1.43"): "Printer-MIB (RFC 3805)",
    oid("1.3.6.1.6.3.10"): "SNMP-FRAMEWORK-MIB (RFC 3411)",
}

# Printer-MIB table columns the collector reads (RFC 3805 object names).
_PRT_COLUMNS: dict[OID, dict[int, str]] = {
    std.PRT_COVER_ENTRY: {2: "prtCoverDescription", 3: "prtCoverStatus"},
    std.PRT_INPUT_ENTRY: {
        8: "prtInputCapacityUnit",
        9: "prtInputMaxCapacity",
        10: "prtInputCurrentLevel",
        11: "prtInputStatus",
        12: "prtInputMediaName",
        13: "prtInputName",
    },
    std.PRT_MARKER_ENTRY: {
        2: "prtMarkerMarkTech",
        3: "prtMarkerCounterUnit",
        4: "prtMarkerLifeCount",
        5: "prtMarkerPowerOnCount",
        6: "prtMarkerProcessColorants",
    },
    std.PRT_SUPPLY_ENTRY: {
        2: "prtMarkerSuppliesMarkerIndex",
        3: "prtMarkerSuppliesColorantIndex",
        4: "prtMarkerSuppliesClass",
        5: "prtMarkerSuppliesType",
        6: "prtMarkerSuppliesDescription",
        7: "prtMarkerSuppliesSupplyUnit",
        8: "prtMarkerSuppliesMaxCapacity",
        9: "prtMarkerSuppliesLevel",
    },
    std.PRT_ALERT_ENTRY: {
        2: "prtAlertSeverityLevel",
        3: "prtAlertTrainingLevel",
        4: "prtAlertGroup",
        5: "prtAlertGroupIndex",
        6: "prtAlertLocation",
        7: "prtAlertCode",
        8: "prtAlertDescription",
        9: "prtAlertTime",
    },
}

_EXTRA: dict[OID, str] = {
    oid("1.3.6.1.2.1.1"): "system",
    oid("1.3.6.1.2.1.2.2.1"): "ifEntry",
    oid("1.3.6.1.2.1.25.3.2.1"): "hrDeviceEntry",
    oid("1.3.6.1.2.1.25.3.5.1"): "hrPrinterEntry",
    oid("1.3.6.1.2.1.43"): "printmib",
    oid("1.3.6.1.2.1.43.5.1.1"): "prtGeneralEntry",
    oid("1.3.6.1.2.1.43.12.1.1"): "prtMarkerColorantEntry",
    oid("1.3.6.1.2.1.43.16.5.1"): "prtConsoleDisplayBufferEntry",
    oid("1.3.6.1.6.3.10.2.1.3"): "snmpEngineTime",
}


def _camel(constant: str) -> str:
    """``PRT_GENERAL_SERIAL`` -> ``prtGeneralSerial`` (the catalogue's constants are named so)."""
    first, *rest = constant.lower().split("_")
    return first + "".join(part.capitalize() for part in rest)


# Constants that are not object names (values, or shortened names).
_NOT_OBJECTS = {"HR_DEVICE_PRINTER", "PRT"}
_RENAMED = {
    "SYS_UPTIME": "sysUpTime",
    "SYS_OBJECT_ID": "sysObjectID",
    "PRT_GENERAL_SERIAL": "prtGeneralSerialNumber",
    "HR_PRINTER_ERROR_STATE": "hrPrinterDetectedErrorState",
    "PRT_CONSOLE_TEXT": "prtConsoleDisplayBufferText",
    "PRT_COLORANT_VALUE": "prtMarkerColorantValue",
    "IF_PHYS_ADDRESS": "ifPhysAddress",
}


def _vendor_names() -> dict[OID, str]:
    names: dict[OID, str] = {}
    for vendor in vendors.VENDORS:
        for field, scalars in (
            ("model", vendor.model),
            ("serial", vendor.serial),
            ("firmware", vendor.firmware),
        ):
            for scalar in scalars:
                names.setdefault(scalar.oid, f"{vendor.name} {field}")
        for counter in vendor.counters:
            names.setdefault(counter.oid, f"{vendor.name} counter {counter.label!r}")
        for table in vendor.counter_tables:
            names.setdefault(table.value_column, f"{vendor.name} counter table values")
            if table.key_column is not None:
                names.setdefault(table.key_column, f"{vendor.name} counter table names")
        quirks = vendor.supplies
        if quirks.fallback_level is not None:
            names.setdefault(quirks.fallback_level, f"{vendor.name} supply levels")
        if quirks.fallback_name is not None:
            names.setdefault(quirks.fallback_name, f"{vendor.name} supply names")
    names.setdefault(vendors.HP_DEVICE_ID, "HP IEEE 1284 device ID")
    return names


@lru_cache(maxsize=1)
def _table() -> dict[OID, str]:
    names: dict[OID, str] = dict(_EXTRA)
    for constant, value in vars(std).items():
        if (
            constant.isupper()
            and constant not in _NOT_OBJECTS
            and isinstance(value, tuple)
            and value
            and all(isinstance(part, int) for part in value)
            and not constant.endswith("_ENTRY")
        ):
            # Scalars are kept with their instance (SYS_DESCR is sysDescr.0): name the object.
            key = value[:-1] if value[:7] == (1, 3, 6, 1, 2, 1, 1) else value
            names[key] = _RENAMED.get(constant, _camel(constant))
    for entry, columns in _PRT_COLUMNS.items():
        for column, name in columns.items():
            names[entry + (column,)] = name
    for value, name in _vendor_names().items():
        if value[:6] == (1, 3, 6, 1, 4, 1):  # a vendor's use of a standard object keeps its name
            # A scalar's .0 is its instance: name the object, so a GETNEXT of it is named too.
            names.setdefault(value[:-1] if value[-1] == 0 else value, name)
    return names


def _mib_of(value: OID) -> str:
    for length in range(len(value), 0, -1):
        mib = _MIBS.get(value[:length])
        if mib is not None:
            return mib
    if value[:6] == (1, 3, 6, 1, 4, 1) and len(value) > 6:
        vendor = vendors.BY_ENTERPRISE.get(value[6])
        who = vendor.name if vendor is not None else "unknown vendor"
        return f"{who} private (enterprise {value[6]})"
    return "other"


@lru_cache(maxsize=8192)
def name_of(value: OID) -> OidName:
    """The MIB and the name of ``value``: the longest named prefix, then the instance.
    ``sysDescr.0``, ``prtMarkerSuppliesLevel.1.2``; the dotted OID when nothing names it."""
    table = _table()
    for length in range(len(value), 0, -1):
        name = table.get(value[:length])
        if name is not None:
            # A named scalar with its .0 (sysDescr.0) is kept as the catalogue spells it.
            rest = value[length:]
            return OidName(_mib_of(value), name + ("." + dotted(rest) if rest else ""))
    return OidName(_mib_of(value), dotted(value))
