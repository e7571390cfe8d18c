"""Vendor catalogue as data: how each maker is recognised and where its private objects live.

Sources (numeric OIDs, per-vendor rows): ``shared/realdata/OIDS.md`` section 5 — LibreNMS
``resources/definitions/os_{detection,discovery}/*.yaml`` and GLPI Agent ``MibSupport/*.pm``.
Recognition uses sysDescr *and* sysObjectID: rebadged devices are common (a Kyocera-numbered
device behind an HP JetDirect sysDescr, Toshiba e-STUDIOs with Lexmark sysObjectIDs), so a
sysDescr pattern wins over a bare enterprise number (:mod:`printerhq.mib.identify`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from printerhq.model import CounterName, CounterUnit

from . import decode as dec
from . import standard as std
from .oids import OID, oid

Decoder = dec.Decoder[str]  # identity fields are text


@dataclass(frozen=True, slots=True)
class Scalar:
    """One candidate source for an identity field; the first candidate with a value wins."""

    oid: OID
    decoder: Decoder = dec.text
    clean: Callable[[str], str | None] | None = None  # vendor-specific tidying of the text


@dataclass(frozen=True, slots=True)
class CounterOid:
    """A vendor page counter at a fixed instance."""

    name: CounterName
    oid: OID
    label: str
    unit: CounterUnit = "impressions"
    skip_zero: bool = False  # Konica Minolta reports 0 for counters the model lacks


@dataclass(frozen=True, slots=True)
class CounterTable:
    """A vendor table of counters: rows found by a walk (cold), values read per scan (warm).

    ``key_column`` holds each row's name (``key_is_label``) or type code; without one, the row
    index itself is the type code (Canon).
    """

    value_column: OID
    key_column: OID | None
    key_is_label: bool
    codes: dict[int, tuple[CounterName, str]] = field(default_factory=dict)  # code -> (name, label)
    max_rows: int = 64


@dataclass(frozen=True, slots=True)
class SupplyQuirks:
    coarse_steps: dict[int, float] | None = None  # Brother: 0 full, 1 low, 2 empty, 3 near empty
    empty_code: int | None = None  # Ricoh: -100 = empty
    # Ricoh private supply table, used when the Printer-MIB level/description is missing.
    fallback_level: OID | None = None
    fallback_name: OID | None = None


@dataclass(frozen=True, slots=True)
class Vendor:
    key: str
    name: str
    enterprises: tuple[int, ...]
    # sysDescr regexes (case-insensitive) and the brand they mean; the first match wins.
    descr_patterns: tuple[tuple[str, str | None], ...] = ()
    # sysObjectID prefixes that mean "a printer of this vendor" (not just the enterprise).
    printer_object_ids: tuple[OID, ...] = ()
    model: tuple[Scalar, ...] = ()
    serial: tuple[Scalar, ...] = ()
    firmware: tuple[Scalar, ...] = ()
    counters: tuple[CounterOid, ...] = ()
    counter_tables: tuple[CounterTable, ...] = ()
    supplies: SupplyQuirks = SupplyQuirks()
    # Parse model / firmware / serial from sysDescr when no OID gave them.
    parse_descr: Callable[[str], dict[str, str]] | None = None
    device_kind: str = "printer"


# -------------------------------------------------------------------------------------------
# Text tidying shared by several vendors


def _strip(*prefixes: str, suffixes: tuple[str, ...] = ()) -> Callable[[str], str | None]:
    def clean(value: str) -> str | None:
        for prefix in prefixes:
            if value.lower().startswith(prefix.lower()):
                value = value[len(prefix) :]
        for suffix in suffixes:
            value = re.sub(re.escape(suffix), "", value, flags=re.IGNORECASE)
        return value.strip() or None

    return clean


def _regex(pattern: str) -> Callable[[str], str | None]:
    compiled = re.compile(pattern, re.IGNORECASE)

    def clean(value: str) -> str | None:
        match = compiled.search(value)
        return match.group(1).strip() if match else None

    return clean


def _descr_fields(pattern: str) -> Callable[[str], dict[str, str]]:
    compiled = re.compile(pattern, re.IGNORECASE)

    def parse(descr: str) -> dict[str, str]:
        match = compiled.search(descr)
        if not match:
            return {}
        return {key: value.strip() for key, value in match.groupdict().items() if value}

    return parse


# A network address some firmware appends to the model name: "HL-5370DW [001ba90ba752]"
# (Brother), "(00:1b:a9:0b:a7:52)", "- 001BA90BA752".
_MAC = r"(?:[0-9a-f]{12}|[0-9a-f]{2}(?:[:-][0-9a-f]{2}){5})"
_MODEL_MAC_SUFFIX = re.compile(rf"(?:\s*(?:\[|\(|-|\s)\s*{_MAC}\s*[\])]?)+\s*$", re.IGNORECASE)


def tidy_model(model: str | None) -> str | None:
    """A model name without a trailing MAC address and with single spaces
    ("Develop ineo  280" -> "Develop ineo 280")."""
    if not model:
        return None
    model = _MODEL_MAC_SUFFIX.sub("", model)
    return " ".join(model.split()) or None


PRT_SERIAL = Scalar(std.PRT_GENERAL_SERIAL + (1,))
HP_DEVICE_ID = oid("1.3.6.1.4.1.11.2.3.9.1.1.7.0")  # IEEE 1284 device ID (also on OKI, Brother)
_HP_PML = "1.3.6.1.4.1.11.2.3.9.4.2.1"

# -------------------------------------------------------------------------------------------

HP = Vendor(
    key="hp",
    name="HP",
    enterprises=(11,),
    descr_patterns=(
        (r"JETDIRECT", None),
        (r"HP ETHERNET MULTI-ENVIRONMENT", None),
        (r"^HP Laser MFP", None),
        (r"^HP (Color )?LaserJet", None),
        (r"^HP (OfficeJet|DeskJet|PageWide|DesignJet)", None),
    ),
    printer_object_ids=(oid("1.3.6.1.4.1.11.2.3.9"), oid("1.3.6.1.4.1.11.1")),
    # hrDeviceDescr.1 first: it is in the cold GET anyway, names the exact model, and spares
    # the ~300-byte IEEE 1284 device-ID string (LibreNMS reads MDL: from it).
    model=(
        Scalar(std.HR_DEVICE_DESCR + (1,), clean=_strip("HP ", suffixes=(" Series",))),
        Scalar(
            HP_DEVICE_ID,
            dec.device_id_field("MDL", "MODEL", "DES"),
            _strip("HP ", suffixes=(" Series",)),
        ),
        Scalar(oid(f"{_HP_PML}.1.3.2.0"), dec.multiline_text, _strip("HP ")),
    ),
    serial=(PRT_SERIAL, Scalar(oid(f"{_HP_PML}.1.3.3.0"))),
    firmware=(Scalar(oid(f"{_HP_PML}.1.3.6.0")), Scalar(oid(f"{_HP_PML}.1.3.5.0"))),
    counters=(
        CounterOid("total", oid(f"{_HP_PML}.4.1.2.5.0"), "Total engine pages"),
        CounterOid("mono", oid(f"{_HP_PML}.4.1.2.6.0"), "Total mono pages"),
        CounterOid("colour", oid(f"{_HP_PML}.4.1.2.7.0"), "Total colour pages"),
        CounterOid("duplex", oid(f"{_HP_PML}.4.1.2.22.0"), "Duplex pages"),
        CounterOid("jam", oid(f"{_HP_PML}.4.1.2.34.0"), "Engine jams", unit="other"),
        CounterOid("scan", oid(f"{_HP_PML}.2.2.1.74.0"), "Flatbed scans"),
    ),
    parse_descr=_descr_fields(r"SN:(?P<serial>[^,]+)"),
)

RICOH_SUPPLY = SupplyQuirks(
    empty_code=-100,
    fallback_level=oid("1.3.6.1.4.1.367.3.2.1.2.24.1.1.5"),
    fallback_name=oid("1.3.6.1.4.1.367.3.2.1.2.24.1.1.3"),
)
RICOH = Vendor(
    key="ricoh",
    name="Ricoh",
    enterprises=(367,),
    descr_patterns=(
        (r"^RICOH", None),
        (r"Gestetner", "Gestetner"),
        (r"^LANIER", "Lanier"),
        (r"^NRG", "NRG"),
        (r"^SAVIN", "Savin"),
        (r"^INFOTEC", "Infotec"),
    ),
    printer_object_ids=(oid("1.3.6.1.4.1.367.1.1"),),
    model=(Scalar(oid("1.3.6.1.4.1.367.3.2.1.1.1.1.0")),),
    serial=(Scalar(oid("1.3.6.1.4.1.367.3.2.1.2.1.4.0")), PRT_SERIAL),
    firmware=(Scalar(oid("1.3.6.1.4.1.367.3.2.1.1.1.2.0")),),
    counter_tables=(
        CounterTable(
            value_column=oid("1.3.6.1.4.1.367.3.2.1.2.19.5.1.9"),
            key_column=oid("1.3.6.1.4.1.367.3.2.1.2.19.5.1.2"),
            key_is_label=False,
            codes={
                10: ("total", "Total"),
                200: ("copy", "Copy total"),
                201: ("copy_mono", "Copy black"),
                202: ("copy_colour", "Copy full colour"),
                203: ("copy_colour", "Copy single/two colour"),
                300: ("fax", "Fax"),
                400: ("print", "Print total"),
                401: ("print_mono", "Print black"),
                402: ("print_colour", "Print full colour"),
                403: ("print_colour", "Print single/two colour"),
                870: ("scan", "Scans (mono)"),
                871: ("scan", "Scans (colour)"),
            },
        ),
    ),
    supplies=RICOH_SUPPLY,
    parse_descr=_descr_fields(
        r"^(?:RICOH|Gestetner|LANIER|NRG|SAVIN)\s+(?P<model>.+?)\s+(?P<firmware>\d+\.\d+)\s*/"
    ),
)

_KY = "1.3.6.1.4.1.1347"
KYOCERA = Vendor(
    key="kyocera",
    name="Kyocera",
    enterprises=(1347,),
    descr_patterns=(
        (r"^KYOCERA", None),
        (r"UTAX", "UTAX"),
        (r"^TA[ _]", "TA Triumph-Adler"),
        (r"^Copystar", "Copystar"),
    ),
    printer_object_ids=(oid(f"{_KY}.41"),),
    model=(Scalar(oid(f"{_KY}.43.5.1.1.1.1")),),
    serial=(Scalar(oid(f"{_KY}.43.5.1.1.28.1")), PRT_SERIAL),
    firmware=(Scalar(oid(f"{_KY}.43.5.4.1.5.1.1")),),
    counters=(
        CounterOid("total", oid(f"{_KY}.43.10.1.1.12.1.1"), "Total printed"),
        CounterOid("mono", oid(f"{_KY}.42.2.2.1.1.3.1.1"), "Black & white"),
        CounterOid("colour", oid(f"{_KY}.42.2.1.1.1.8.1.1"), "Full colour"),
        CounterOid("print", oid(f"{_KY}.42.3.1.1.1.1.1"), "Printer total"),
        CounterOid("copy", oid(f"{_KY}.42.3.1.1.1.1.2"), "Copy total"),
        CounterOid("fax", oid(f"{_KY}.42.3.1.1.1.1.4"), "Fax total"),
        CounterOid("scan", oid(f"{_KY}.46.10.1.1.5.3"), "Scans"),
    ),
)

CANON = Vendor(
    key="canon",
    name="Canon",
    enterprises=(1602,),
    descr_patterns=((r"^Canon", None),),
    printer_object_ids=(oid("1.3.6.1.4.1.1602.4"),),
    model=(Scalar(oid("1.3.6.1.4.1.1602.1.1.1.1.0"), clean=_strip(suffixes=(" Series",))),),
    serial=(PRT_SERIAL, Scalar(oid("1.3.6.1.4.1.1602.1.2.1.8.1.3.1.1"))),
    firmware=(Scalar(oid("1.3.6.1.4.1.1602.1.1.1.4.0")),),
    # "Canon iR-ADV C5235 /P", "Canon D1180/MF6680 /P": the model, then the role suffix
    parse_descr=_descr_fields(r"^Canon\s+(?P<model>.+?)(?:\s+/\w+)?\s*$"),
    counter_tables=(
        CounterTable(
            value_column=oid("1.3.6.1.4.1.1602.1.11.1.3.1.4"),
            key_column=None,
            key_is_label=False,
            codes={
                101: ("copy", "Copy total"),
                112: ("copy_mono", "Copy black (large)"),
                113: ("copy_mono", "Copy black (small)"),
                122: ("copy_colour", "Copy colour (large)"),
                123: ("copy_colour", "Copy colour (small)"),
                301: ("print", "Print total"),
                501: ("scan", "Scans"),
            },
        ),
    ),
)

_XEROX_COUNTERS = "1.3.6.1.4.1.253.8.53.13.2.1.6"
XEROX = Vendor(
    key="xerox",
    name="Xerox",
    enterprises=(253, 297),
    descr_patterns=((r"^FUJI XEROX", "Fuji Xerox"), (r"^FUJIFILM", "Fujifilm"), (r"^Xerox", None)),
    printer_object_ids=(oid("1.3.6.1.4.1.253.8.62.1"), oid("1.3.6.1.4.1.297.1.11.93")),
    model=(
        Scalar(
            oid("1.3.6.1.4.1.253.8.51.1.2.1.20.1"),
            dec.device_id_field("MDL", "DES"),
            _strip("Xerox "),
        ),
    ),
    serial=(PRT_SERIAL,),
    firmware=(Scalar(oid("1.3.6.1.4.1.236.11.5.1.1.1.2.0")),),
    counters=(
        CounterOid("print", oid(f"{_XEROX_COUNTERS}.1.20.1"), "Print total"),
        CounterOid("print_colour", oid(f"{_XEROX_COUNTERS}.1.20.33"), "Print colour"),
        CounterOid("print_mono", oid(f"{_XEROX_COUNTERS}.1.20.34"), "Print black"),
        CounterOid("copy_colour", oid(f"{_XEROX_COUNTERS}.11.20.25"), "Copy colour"),
        CounterOid("copy_mono", oid(f"{_XEROX_COUNTERS}.11.20.3"), "Copy black"),
        CounterOid("scan", oid(f"{_XEROX_COUNTERS}.10.20.11"), "Scan to e-mail"),
        CounterOid("scan", oid(f"{_XEROX_COUNTERS}.10.20.12"), "Scan to network"),
    ),
    # "Xerox AltaLink C8045; SS 100.002.057.09608, NC ...": SS (or "System") is the system
    # software version, Xerox's name for the device firmware.
    parse_descr=_descr_fields(
        r"^(?:FUJI XEROX|FUJIFILM|Xerox)\s+(?P<model>[^;]+)"
        r"(?:;\s*(?:SS|System)\s+(?P<firmware>[0-9][0-9.]*))?"
    ),
)

BROTHER = Vendor(
    key="brother",
    name="Brother",
    enterprises=(2435,),
    descr_patterns=((r"^Brother", None),),
    printer_object_ids=(oid("1.3.6.1.4.1.2435.2.3.9"),),
    model=(
        Scalar(
            oid("1.3.6.1.4.1.2435.2.4.3.2435.5.13.3.0"),
            clean=_strip("Brother ", suffixes=(" series",)),
        ),
        Scalar(
            oid("1.3.6.1.4.1.2435.2.3.9.1.1.7.0"),
            dec.device_id_field("MDL"),
            _strip("Brother ", suffixes=(" series",)),
        ),
    ),
    serial=(Scalar(oid("1.3.6.1.4.1.2435.2.3.9.4.2.1.5.5.1.0")), PRT_SERIAL),
    firmware=(Scalar(oid("1.3.6.1.4.1.2435.2.4.3.1240.6.5.0"), clean=_regex(r"Ver\.?\s*(\S+)")),),
    counters=(CounterOid("scan", oid("1.3.6.1.4.1.2435.2.3.9.4.2.1.5.5.54.2.2.1.3.3"), "Scans"),),
    supplies=SupplyQuirks(coarse_steps={0: 100.0, 1: 5.0, 2: 0.0, 3: 1.0}),
)

LEXMARK = Vendor(
    key="lexmark",
    name="Lexmark",
    enterprises=(641,),
    descr_patterns=((r"^Lexmark", None),),
    printer_object_ids=(oid("1.3.6.1.4.1.641.1"), oid("1.3.6.1.4.1.641.2")),
    serial=(PRT_SERIAL,),
    parse_descr=_descr_fields(r"^Lexmark\s+(?P<model>\S+)(?:\s+version\s+(?P<firmware>\S+))?"),
)

DELL = Vendor(
    key="dell",
    name="Dell",
    enterprises=(674,),
    descr_patterns=((r"^Dell.*(MFP|Printer|Laser)", None), (r"^Dell\s+\S+dn?w?\b", None)),
    printer_object_ids=(oid("1.3.6.1.4.1.674.10898"),),
    model=(
        Scalar(oid("1.3.6.1.4.1.674.10898.100.2.1.2.1.3.1"), dec.device_id_field("MDL", "MODEL")),
        Scalar(oid("1.3.6.1.4.1.641.2.1.2.1.3.1"), dec.device_id_field("MDL", "MODEL")),
    ),
    serial=(PRT_SERIAL,),
    firmware=(Scalar(oid("1.3.6.1.4.1.674.10898.100.1.1.1.0")),),
    parse_descr=_descr_fields(r"^(?P<model>Dell\s+[^;]+?)(?:\s+version\s+(?P<firmware>\S+)|;|$)"),
)

_KM = "1.3.6.1.4.1.18334.1.1.1"
KONICA = Vendor(
    key="konica",
    name="Konica Minolta",
    enterprises=(18334,),
    descr_patterns=(
        (r"KONICA MINOLTA", None),
        (r"^Develop", "Develop"),
        (r"^Olivetti", "Olivetti"),
    ),
    printer_object_ids=(oid("1.3.6.1.4.1.18334.1"),),
    model=(Scalar(oid(f"{_KM}.1.6.2.1.0"), clean=_strip("KONICA MINOLTA ")),),
    serial=(PRT_SERIAL,),
    firmware=(Scalar(oid(f"{_KM}.1.6.1.0")),),
    # "KONICA MINOLTA bizhub C3110", "Develop ineo  280": the same form as the model object
    # (maker dropped, OEM brand kept)
    parse_descr=_descr_fields(
        r"^(?:KONICA MINOLTA\s+)?(?P<model>(?:Develop\s+|Olivetti\s+)?\S.*)$"
    ),
    counters=(
        CounterOid("total", oid(f"{_KM}.5.7.2.1.1.0"), "Total", skip_zero=True),
        CounterOid("duplex", oid(f"{_KM}.5.7.2.1.3.0"), "Total print duplex", skip_zero=True),
        CounterOid("scan", oid(f"{_KM}.5.7.2.1.5.0"), "Total scans", skip_zero=True),
        CounterOid("copy_mono", oid(f"{_KM}.5.7.2.2.1.5.1.1"), "Total copy black", skip_zero=True),
        CounterOid(
            "copy_colour", oid(f"{_KM}.5.7.2.2.1.5.2.1"), "Total copy color", skip_zero=True
        ),
        CounterOid(
            "print_mono", oid(f"{_KM}.5.7.2.2.1.5.1.2"), "Total print black", skip_zero=True
        ),
        CounterOid(
            "print_colour", oid(f"{_KM}.5.7.2.2.1.5.2.2"), "Total print color", skip_zero=True
        ),
    ),
)

SHARP = Vendor(
    key="sharp",
    name="Sharp",
    enterprises=(2385,),
    descr_patterns=((r"^SHARP", None),),
    printer_object_ids=(oid("1.3.6.1.4.1.2385.3.1"),),
    model=(Scalar(oid("1.3.6.1.4.1.2385.2.1.3.2.1.4.13501.1302.1")),),
    serial=(PRT_SERIAL,),
    firmware=(Scalar(oid("1.3.6.1.4.1.2385.2.1.1.2.1.2.1")),),
    # "SHARP MX-2614N": the same form as Sharp's model object ("SHARP MX-M266NV")
    parse_descr=_descr_fields(r"^(?P<model>SHARP\s+[A-Z]{2}-\S+)"),
    counter_tables=(
        CounterTable(
            value_column=oid("1.3.6.1.4.1.2385.1.1.19.2.1.3"),
            key_column=oid("1.3.6.1.4.1.2385.1.1.19.2.1.4"),
            key_is_label=True,
        ),
    ),
)

EPSON = Vendor(
    key="epson",
    name="Epson",
    enterprises=(1248,),
    descr_patterns=((r"^EPSON.*Scan", None), (r"^EPSON", None)),
    printer_object_ids=(oid("1.3.6.1.4.1.1248.1.1.2"),),
    model=(Scalar(oid("1.3.6.1.4.1.1248.1.2.2.1.1.1.2.1")),),
    serial=(PRT_SERIAL, Scalar(oid("1.3.6.1.4.1.1248.1.1.3.1.1.1.0"))),
    firmware=(Scalar(oid("1.3.6.1.4.1.1248.1.1.3.1.21.1.1.2.1")),),
)

OKI = Vendor(
    key="oki",
    name="OKI",
    enterprises=(2001,),
    descr_patterns=((r"^OKI", None),),
    printer_object_ids=(oid("1.3.6.1.4.1.2001.1"),),
    model=(Scalar(HP_DEVICE_ID, dec.device_id_field("MDL", "MODEL")),),
    serial=(PRT_SERIAL,),
    parse_descr=_descr_fields(r"Attached to (?P<model>\S+) Rev\.(?P<firmware>\S+)"),
)

SAMSUNG = Vendor(
    key="samsung",
    name="Samsung",
    enterprises=(236,),
    descr_patterns=((r"^Samsung", None),),
    printer_object_ids=(oid("1.3.6.1.4.1.236.11.5"),),
    serial=(PRT_SERIAL,),
    # "Samsung CLX-3170 Series;V1.00.01.64 Sep-27-2010;...;S/N AAAA..." or
    # "Samsung ML-2850 Series OS 1.01.15.47 02-10-2010;...": the system version is the firmware
    parse_descr=_descr_fields(
        r"^Samsung\s+(?P<model>[^;]+?)(?:\s+Series)?"
        r"(?:(?:;\s*V?|\s+OS\s+)(?P<firmware>[^;\s]+)|\s*$)"
        r"(?:.*S/N\s+(?P<serial>\S+))?"
    ),
)

TOSHIBA = Vendor(
    key="toshiba",
    name="Toshiba",
    enterprises=(1129,),
    descr_patterns=((r"^TOSHIBA", None),),
    printer_object_ids=(oid("1.3.6.1.4.1.1129.1.2"), oid("1.3.6.1.4.1.1129.2.3")),
    model=(Scalar(oid("1.3.6.1.4.1.1129.1.2.1.1.1.2.1.0")),),
    serial=(PRT_SERIAL,),
    firmware=(Scalar(oid("1.3.6.1.4.1.1129.1.2.1.1.1.1.2.0")),),
    # "TOSHIBA e-STUDIO305CS version NH63.GM.N639 kernel ..." (Lexmark-built, Lexmark's form)
    parse_descr=_descr_fields(
        r"^TOSHIBA\s+(?:TEC\s+)?(?P<model>\S+)(?:\s+version\s+(?P<firmware>\S+))?"
    ),
)

_ZEBRA = "1.3.6.1.4.1.10642"
ZEBRA = Vendor(
    key="zebra",
    name="Zebra",
    enterprises=(10642, 683),
    descr_patterns=((r"^Zebra", None),),
    printer_object_ids=(oid("1.3.6.1.4.1.10642"), oid("1.3.6.1.4.1.683")),
    # The printer's own identity first (ZEBRA-QL-MIB / zbrGeneralInfo, what FusionInventory
    # reads); the ESI objects under 683 describe the ZebraNet print server (product number
    # "79071", the server's serial), used only when the printer's objects are absent.
    model=(
        Scalar(oid(f"{_ZEBRA}.1.1.0")),  # zbrGeneralModel, "ZTC TLP 2824 Plus"
        Scalar(oid(f"{_ZEBRA}.200.19.7.0")),  # zql device product name, "TLP 2824 Plus"
        Scalar(oid("1.3.6.1.4.1.683.1.4.0")),  # ESI genProductNumber (print server)
    ),
    serial=(
        Scalar(oid(f"{_ZEBRA}.200.19.5.0")),  # zql device serial number
        Scalar(oid("1.3.6.1.4.1.683.1.5.0")),  # ESI genSerialNumber (print server)
    ),
    firmware=(
        Scalar(oid(f"{_ZEBRA}.1.2.0")),  # zbrGeneralFirmwareVersion
        Scalar(oid("1.3.6.1.4.1.683.1.9.0")),  # ESI genVersion
    ),
    counters=(CounterOid("total", oid(f"{_ZEBRA}.200.17.3.0"), "Printed length", unit="inches"),),
    device_kind="label_printer",
)

TSC = Vendor(
    key="tsc",
    name="TSC",
    enterprises=(51966,),
    printer_object_ids=(oid("1.3.6.1.4.1.51966"),),
    # "TTP244CE Version: 7.02 EZD"
    parse_descr=_descr_fields(r"^(?P<model>\S+)\s+Version:\s*(?P<firmware>\S.*)$"),
    device_kind="label_printer",
)

# Order matters only for sysDescr patterns that could overlap (none do today).
VENDORS: tuple[Vendor, ...] = (
    HP,
    RICOH,
    KYOCERA,
    CANON,
    XEROX,
    BROTHER,
    LEXMARK,
    DELL,
    KONICA,
    SHARP,
    EPSON,
    OKI,
    SAMSUNG,
    TOSHIBA,
    ZEBRA,
    TSC,
)
BY_KEY = {vendor.key: vendor for vendor in VENDORS}
BY_ENTERPRISE = {number: vendor for vendor in VENDORS for number in vendor.enterprises}
# A vendor for devices we do not recognise: standard objects only.
GENERIC = Vendor(key="generic", name="", enterprises=(), serial=(PRT_SERIAL,))
BY_NAME = {vendor.name: vendor for vendor in VENDORS}


def vendor_named(name: str | None) -> Vendor:
    """The catalogue entry for ``Identity.vendor`` (the generic entry when unknown)."""
    return BY_NAME.get(name or "", GENERIC)


_LABEL_RULES: tuple[tuple[str, CounterName], ...] = (
    # (regex on the vendor's counter label, bucket); first match wins. Sharp's labels, e.g.
    # "Black & White Print Count", "Full Color Copy Count", "Scan to E-mail/FTP".
    (r"document filing|hdd", "other"),
    (r"two colou?r|single colou?r", "other"),
    (r"black ?& ?white print|b/w print|mono print", "print_mono"),
    (r"full colou?r print|colou?r print", "print_colour"),
    (r"black ?& ?white copy|b/w copy", "copy_mono"),
    (r"full colou?r copy|colou?r copy", "copy_colour"),
    (r"black ?& ?white total", "mono"),
    (r"full colou?r total", "colour"),
    (r"scan", "scan"),
    (r"fax", "fax"),
    (r"duplex", "duplex"),
    (r"^prints?$|print total", "print"),
    (r"^cop(y|ies)$|copy total", "copy"),
    (r"^total", "total"),
)


@functools.lru_cache(maxsize=1024)  # pure; a fleet has few distinct labels
def counter_bucket(label: str) -> CounterName:
    """Map a vendor's counter label to a :data:`printerhq.model.CounterName` bucket."""
    lowered = label.lower()
    for pattern, bucket in _LABEL_RULES:
        if re.search(pattern, lowered):
            return bucket
    return "other"
