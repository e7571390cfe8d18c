"""What a printer's trap means: the Printer-MIB alert it carries, in words.

RFC 3805 section 2.2.13 and the MIB's ``printerV2Alert`` NOTIFICATION-TYPE: when a row is added
to ``prtAlertTable`` the printer may send ``printerV2Alert`` (1.3.6.1.2.1.43.18.2.0.1) carrying
the row's ``prtAlertIndex``, ``prtAlertSeverityLevel``, ``prtAlertGroup``,
``prtAlertGroupIndex``, ``prtAlertLocation`` and ``prtAlertCode``. In SNMPv1 the same trap is
enterprise ``printerV1Alert`` (1.3.6.1.2.1.43.18.2), specific-trap 1, which RFC 3584 section 3.1
maps to the same OID. Vendors also send other traps carrying prtAlertTable columns, so the
columns are read whatever the trap OID.

Values go through :mod:`.decode`: a hostile value leaves its field empty, never raises.
"""

from __future__ import annotations

__all__ = [
    "GENERIC_TRAP_MEANINGS",
    "PRINTER_V1_ALERT",
    "PRINTER_V2_ALERT",
    "trap_alert",
    "trap_meaning",
]

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from printerhq.model import Alert

from . import decode as dec
from . import standard as std
from .oids import OID

PRINTER_V1_ALERT: OID = (1, 3, 6, 1, 2, 1, 43, 18, 2)
PRINTER_V2_ALERT: OID = (*PRINTER_V1_ALERT, 0, 1)
_SNMP_TRAPS: OID = (1, 3, 6, 1, 6, 3, 1, 1, 5)
# SNMPv2-MIB snmpTraps (RFC 3418) and IF-MIB (RFC 2863), the v1 generic traps' v2 names.
GENERIC_TRAP_MEANINGS = {
    (*_SNMP_TRAPS, 1): "cold start",
    (*_SNMP_TRAPS, 2): "warm start",
    (*_SNMP_TRAPS, 3): "link down",
    (*_SNMP_TRAPS, 4): "link up",
    (*_SNMP_TRAPS, 5): "authentication failure",
    (*_SNMP_TRAPS, 6): "EGP neighbor loss",
}
# Short words for the alerts a service desk acts on; every other code is its PrtAlertCodeTC
# name split into words ("markerFuserOverTemperature" -> "marker fuser over temperature").
_CODE_MEANINGS = {
    3: "cover open",
    5: "interlock open",
    8: "jam",
    9: "subunit missing",
    12: "supply almost empty",
    13: "supply empty",
    501: "door open",
    807: "paper low",
    808: "paper out",
    801: "input tray missing",
    903: "output tray full",
    1101: "toner empty",
    1102: "ink empty",
    1104: "toner low",
    1105: "ink low",
    1109: "waste toner full",
    1112: "drum end of life",
    1115: "toner cartridge missing",
}
_COLUMNS = len(std.PRT_ALERT_ENTRY)


class _Varbind(Protocol):
    @property
    def oid(self) -> tuple[int, ...]: ...
    @property
    def tag(self) -> int: ...
    @property
    def value(self) -> Any: ...


def _words(camel: str) -> str:
    return "".join(f" {ch.lower()}" if ch.isupper() else ch for ch in camel).strip()


def _safe(decoder: Callable[[int, Any], Any], varbind: _Varbind | None) -> Any:
    if varbind is None:
        return None
    try:
        return decoder(varbind.tag, varbind.value)
    except dec.Invalid:
        return None


def trap_alert(trap_oid: OID, varbinds: Iterable[_Varbind]) -> Alert | None:
    """The prtAlertTable row a trap carries, as the collector's :class:`~printerhq.model.Alert`;
    ``None`` when the trap carries no prtAlertTable column and is not a printer alert."""
    row: dict[int, _Varbind] = {}
    index: OID = ()
    for varbind in varbinds:
        oid = varbind.oid
        if len(oid) > _COLUMNS + 1 and oid[:_COLUMNS] == std.PRT_ALERT_ENTRY:
            row.setdefault(oid[_COLUMNS], varbind)
            index = index or oid[_COLUMNS + 1 :]
    if not row and trap_oid != PRINTER_V2_ALERT:
        return None
    alert_index = _safe(dec.integer, row.get(1))
    if alert_index is None:
        # The instance is (hrDeviceIndex, prtAlertIndex): the last arc names the row.
        alert_index = index[-1] if index else 0
    code = _safe(dec.integer, row.get(7))
    group = _safe(dec.integer, row.get(4))
    return Alert(
        index=alert_index,
        severity=_safe(dec.enum(std.ALERT_SEVERITY_NAMES), row.get(2)),
        group=std.ALERT_GROUP_NAMES.get(group, f"code {group}") if group is not None else None,
        group_index=_safe(dec.integer, row.get(5)),
        code=code,
        code_name=std.ALERT_CODE_NAMES.get(code) if code is not None else None,
        description=_safe(dec.text, row.get(8)),
        time_ticks=_safe(dec.timeticks, row.get(9)),
    )


def trap_meaning(trap_oid: OID, alert: Alert | None) -> str | None:
    """A few words for a person: "jam", "toner empty", "cold start"; ``None`` when unknown."""
    if alert is not None:
        if alert.code in _CODE_MEANINGS:
            return _CODE_MEANINGS[alert.code]
        if alert.code_name and alert.code_name not in ("other", "unknown"):
            return _words(alert.code_name)
        if alert.description:
            return alert.description
        return "printer alert"
    return GENERIC_TRAP_MEANINGS.get(trap_oid)
