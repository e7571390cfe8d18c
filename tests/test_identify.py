"""Identification from the single discovery GET."""

from __future__ import annotations

import pytest

from printerhq.mib import DISCOVERY_OIDS, identify, match_vendor, oid
from printerhq.mib import standard as std
from printerhq.snmp.ber import Tag
from printerhq.snmp.message import Varbind

from .helpers_metrics import FIXTURES, discover, load


def answer(
    descr: str | None = None,
    object_id: str | None = None,
    *,
    hr_printer=False,
    serial: str | None = None,
) -> list[Varbind]:
    vbs = []
    if descr is not None:
        vbs.append(Varbind(std.SYS_DESCR, Tag.OCTET_STRING, descr.encode()))
    if object_id is not None:
        vbs.append(Varbind(std.SYS_OBJECT_ID, Tag.OBJECT_IDENTIFIER, oid(object_id)))
    if hr_printer:
        vbs.append(Varbind(std.HR_DEVICE_TYPE + (1,), Tag.OBJECT_IDENTIFIER, std.HR_DEVICE_PRINTER))
    if serial is not None:
        vbs.append(Varbind(std.PRT_GENERAL_SERIAL + (1,), Tag.OCTET_STRING, serial.encode()))
    return vbs


def test_discovery_set_is_small_and_standard():
    assert len(DISCOVERY_OIDS) <= 6
    assert std.SYS_DESCR in DISCOVERY_OIDS and std.SYS_OBJECT_ID in DISCOVERY_OIDS


@pytest.mark.parametrize(
    "descr, object_id, vendor, brand",
    [
        # sysDescr beats the enterprise number: a JetDirect EX in front of a Kyocera-numbered device
        (
            "HP ETHERNET MULTI-ENVIRONMENT,ROM J.sp.00,JETDIRECT EX",
            "1.3.6.1.4.1.1347.41",
            "HP",
            None,
        ),
        ("TA_UTAX Printing System", "1.3.6.1.4.1.1347.41", "Kyocera", "UTAX"),
        ("TOSHIBA e-STUDIO305CS version NH63", "1.3.6.1.4.1.641.2.71107164", "Toshiba", None),
        (
            "SAVIN MP C4503 1.18 / SAVIN Network Printer C model",
            "1.3.6.1.4.1.367.1.1",
            "Ricoh",
            "Savin",
        ),
        ("Develop ineo  280", "1.3.6.1.4.1.18334.1.2.1.2.1.50.2.2", "Konica Minolta", "Develop"),
        (
            "FUJI XEROX DocuPrint CM305 df",
            "1.3.6.1.4.1.297.1.11.93.1.32.4.1.1",
            "Xerox",
            "Fuji Xerox",
        ),
        (None, "1.3.6.1.4.1.11.1", "HP", None),  # sysObjectID alone
        ("Some print server", "1.3.6.1.4.1.2435.2.3.9.1", "Brother", None),
    ],
)
def test_vendor_detection(descr, object_id, vendor, brand):
    identity = identify("192.0.2.1", answer(descr, object_id))
    assert identity.vendor == vendor
    assert identity.brand == brand
    assert identity.is_printer


def test_non_printer_with_printer_vendor_enterprise():
    # HP enterprise number, but a switch: the enterprise alone names the vendor, not "printer"
    identity = identify("192.0.2.2", answer("ProCurve J9019B Switch", "1.3.6.1.4.1.11.2.3.7.11.77"))
    assert identity.vendor == "HP" and not identity.is_printer


def test_unknown_vendor_printer_by_host_resources():
    identity = identify(
        "192.0.2.3",
        answer("Acme Printer 9000", "1.3.6.1.4.1.99999.1", hr_printer=True, serial="X1"),
    )
    assert identity.is_printer and identity.vendor is None and identity.serial == "X1"


def test_nothing_known():
    identity = identify("192.0.2.4", [])
    assert not identity.is_printer and identity.vendor is None


def test_bad_values_do_not_raise():
    vbs = [
        Varbind(std.SYS_DESCR, Tag.INTEGER, 5),
        Varbind(std.SYS_OBJECT_ID, Tag.OCTET_STRING, b"\xff"),
        Varbind(std.SYS_UPTIME, Tag.OCTET_STRING, b"x"),
    ]
    identity = identify("192.0.2.5", vbs)
    assert identity.sys_descr is None and identity.uptime_ticks is None


@pytest.mark.parametrize(
    "name, vendor, printer",
    [
        ("brother_hl-l2350dw", "Brother", True),
        ("cisco_catalyst-2960", None, False),
        ("epson_wf-c5790", "Epson", True),
        ("hp_laserjet-pro-m404dn", "HP", True),
        ("kyocera_ecosys-p3145dn", "Kyocera", True),
        ("lexmark_e260dn", "Lexmark", True),
        ("linux_workstation", None, False),
        ("ricoh_mp-c3004", "Ricoh", True),
        ("xerox_versalink-c405", "Xerox", True),
    ],
)
def test_fixtures(name, vendor, printer):
    recording, _, _ = load(FIXTURES / f"{name}.snmprec")
    identity = discover(recording)
    assert identity.vendor == vendor
    assert identity.is_printer is printer


def test_match_vendor_returns_printer_specificity():
    vendor, _, specific = match_vendor(None, oid("1.3.6.1.4.1.367.99"))
    assert vendor is not None and vendor.name == "Ricoh" and not specific
