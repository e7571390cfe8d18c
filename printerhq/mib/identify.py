"""Identification: is this address a printer, and whose?

Discovery sends one GET of :data:`DISCOVERY_OIDS` to each responsive address; :func:`identify`
turns the answer into an :class:`~printerhq.model.Identity`. The set is the smallest that answers
both questions on every recording we have: sysDescr and sysObjectID name the vendor (rebadged
devices need both), hrDeviceType.1 and prtGeneralSerialNumber.1 say "printer" for devices we do not
know, sysUpTime and the serial let the collector notice a restart or a swapped device.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from printerhq.model import FieldProblem, Identity
from printerhq.snmp.message import Varbind

from . import decode as dec
from . import standard as std
from .decode import T
from .oids import OID, is_under
from .vendors import BY_ENTERPRISE, VENDORS, Vendor

DISCOVERY_OIDS: list[OID] = [
    std.SYS_DESCR,
    std.SYS_OBJECT_ID,
    std.SYS_UPTIME,
    std.SYS_NAME,
    std.HR_DEVICE_TYPE + (1,),
    std.PRT_GENERAL_SERIAL + (1,),
]

_ENTERPRISES = (1, 3, 6, 1, 4, 1)


def match_vendor(
    sys_descr: str | None, sys_object_id: OID | None
) -> tuple[Vendor | None, str | None, bool]:
    """(vendor, brand, printer_specific) from sysDescr first, then sysObjectID.

    ``printer_specific`` is True when the match itself says "printer" (a printer sysDescr
    pattern or a printer sysObjectID prefix) rather than just the enterprise number.
    """
    if sys_descr:
        for vendor in VENDORS:
            for pattern, brand in vendor.descr_patterns:
                if re.search(pattern, sys_descr, re.IGNORECASE):
                    return vendor, brand, True
    if sys_object_id and is_under(sys_object_id, _ENTERPRISES) and len(sys_object_id) > 6:
        for vendor in VENDORS:
            if any(is_under(sys_object_id, prefix) for prefix in vendor.printer_object_ids):
                return vendor, None, True
        enterprise = BY_ENTERPRISE.get(sys_object_id[6])
        if enterprise is not None:
            return enterprise, None, False
    return None, None, False


def identify(address: str, varbinds: Iterable[Varbind]) -> Identity:
    """Decide ``is_printer`` and the vendor from the answer to the discovery GET."""
    values = {vb.oid: vb for vb in varbinds}
    problems: list[FieldProblem] = []

    def get(oid: OID, decoder: dec.Decoder[T]) -> T | None:
        vb = values.get(oid)
        if vb is None:
            return None
        return dec.decode_field(".".join(map(str, oid)), decoder, vb.tag, vb.value, problems)

    sys_descr = get(std.SYS_DESCR, dec.text)
    object_id_vb = values.get(std.SYS_OBJECT_ID)
    object_id = (
        object_id_vb.value
        if object_id_vb is not None and isinstance(object_id_vb.value, tuple)
        else None
    )
    device_type = get(std.HR_DEVICE_TYPE + (1,), dec.object_id)
    serial = get(std.PRT_GENERAL_SERIAL + (1,), dec.text)
    vendor, brand, printer_specific = match_vendor(sys_descr, object_id)
    hr_printer = device_type == ".".join(map(str, std.HR_DEVICE_PRINTER))
    # Printer-MIB answering (a serial) or hrDeviceType printer is proof enough for any vendor;
    # a known vendor's printer pattern is proof for devices without Host Resources.
    is_printer = hr_printer or serial is not None or printer_specific
    kind = None
    if is_printer:
        kind = vendor.device_kind if vendor is not None else "printer"
        # A scanner only when nothing says printer: Ricoh-family MFPs list their roles
        # ("RICOH MP 3053 1.09 / RICOH Network Printer C model / RICOH Network Scanner ...")
        if (
            sys_descr
            and re.search(r"scan server|scanner", sys_descr, re.IGNORECASE)
            and not re.search(r"\bprinter\b", sys_descr, re.IGNORECASE)
            and not hr_printer
        ):
            kind = "scanner"
    return Identity(
        address=address,
        is_printer=is_printer,
        vendor=vendor.name if vendor is not None else None,
        brand=brand,
        sys_descr=sys_descr,
        sys_object_id=".".join(map(str, object_id)) if object_id else None,
        sys_name=get(std.SYS_NAME, dec.text),
        uptime_ticks=get(std.SYS_UPTIME, dec.timeticks),
        serial=serial,
        device_kind=kind,
    )
