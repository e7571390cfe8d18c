"""The one data model: what a scan learns about a device, and the wire format for it.

Every struct here is a msgspec Struct with ``forbid_unknown_fields``: the server rejects fields it
does not know, which is also the privacy guarantee at the wire level (there is no place for job,
user or document data). On the wire the structs travel as msgpack; ``SCHEMA_VERSION`` is the
major version of the format, bumped on any incompatible change (see ``printerhq.wire`` and
docs/wire.md for the compatibility policy), and ``printerhq schema`` prints the JSON Schema.

Conventions:

* absent means "not reported by the device" (``None`` or an empty list), never a made-up default;
* a value the device reported but that failed validation is left ``None`` and explained in
  ``DeviceReport.invalid`` (field path and reason), so one bad OID never loses the rest;
* SNMP special values are kept explicit in ``Supply.state`` instead of leaking negative numbers
  into ``level`` and ``capacity`` (RFC 3805: -1 unlimited/other, -2 unknown, -3 some remaining).
"""

from __future__ import annotations

from typing import Literal

import msgspec

# The cost and traffic structs live low down so the probers can fill them in without importing
# the model; they are part of the model and the wire format all the same.
from .traffic import SnmpCost, TrafficCount

SCHEMA_VERSION = 1


def _schema_version() -> int:
    # A default_factory, not a plain default: ``omit_defaults`` drops a field equal to its plain
    # default, so ``schema: int = SCHEMA_VERSION`` never reached the wire and a reader could not
    # tell which version wrote a report. msgspec compares only collection factories (list, dict,
    # ...) with their output, so a field with this factory is always encoded
    # (tests/test_wire.py checks the raw bytes). A reader that meets a report without the field
    # (agents before this change) reads it as version 1, the only one they ever wrote.
    return SCHEMA_VERSION


# Structs shared by the model: reject unknown fields, keep msgpack small by omitting defaults.
_options = dict(forbid_unknown_fields=True, omit_defaults=True, kw_only=True)

CounterName = Literal[
    "total",
    "mono",
    "colour",
    "print",
    "print_mono",
    "print_colour",
    "copy",
    "copy_mono",
    "copy_colour",
    "fax",
    "scan",
    "duplex",
    "large_format",
    "jam",
    "power_on",
    "other",
]
CounterUnit = Literal["impressions", "sheets", "pages", "inches", "meters", "feet", "other"]
SupplyKind = Literal[
    "toner",
    "ink",
    "drum",
    "developer",
    "fuser",
    "waste",
    "transfer",
    "maintenance_kit",
    "staples",
    "ribbon",
    "cleaner",
    "other",
]
# What a supply's (or tray's) level means; stable identifiers, the human output words them.
# ok: level and capacity are numbers, ``percent`` is set. The RFC 3805 special values:
# unlimited (level or capacity -1, "no restriction"; a real level is kept), unknown (level -2 or
# none), some_remaining (level -3 on a supply that is used up), some_space_left (level -3 on a
# receptacle that fills up, e.g. waste toner), capacity_unknown (a real level, capacity -2 or
# none: the level is reported, no percentage). coarse: the device reports a few steps instead of
# a level (Brother's 0 full .. 3 near empty), so ``percent`` is an approximation; invalid: see
# DeviceReport.invalid.
SupplyState = Literal[
    "ok",
    "unlimited",
    "unknown",
    "some_remaining",
    "some_space_left",
    "capacity_unknown",
    "coarse",
    "invalid",
]


class Counter(msgspec.Struct, **_options):
    """One page counter. ``name`` is a fixed bucket; ``label`` keeps the vendor's own name."""

    name: CounterName
    value: int
    unit: CounterUnit = "impressions"
    label: str | None = None
    source: str | None = None  # dotted OID the value was read from


class Supply(msgspec.Struct, **_options):
    index: int
    description: str
    kind: SupplyKind = "other"
    colour: str | None = None
    unit: str | None = None  # prtMarkerSuppliesSupplyUnit name, e.g. "percent", "impressions"
    level: int | None = None
    capacity: int | None = None
    percent: float | None = None
    state: SupplyState = "ok"
    consumed: bool = True  # False for receptacles that fill up (waste toner): RFC 3805 class 4
    serial: str | None = None
    supply_type: str | None = None  # IANA PrtMarkerSuppliesTypeTC name, e.g. "tonerCartridge"
    part_number: str | None = None  # cut from the description (", PN ..." / "HP CF410A")


class InputTray(msgspec.Struct, **_options):
    index: int
    name: str | None = None
    media: str | None = None
    capacity: int | None = None
    level: int | None = None  # sheets; None when unknown
    state: SupplyState = "ok"
    unit: str | None = None  # prtInputCapacityUnit name, usually "sheets"
    percent: float | None = None


class Cover(msgspec.Struct, **_options):
    index: int
    description: str | None = None
    status: str | None = None  # "open", "closed", "interlock_open", ...


class Alert(msgspec.Struct, **_options):
    index: int
    severity: str | None = None  # "critical", "warning", "warning_binary_change", "other"
    group: str | None = None  # sub-unit, e.g. "markerSupplies", "input", "cover"
    group_index: int | None = None
    code: int | None = None
    code_name: str | None = None  # IANA PrtAlertCodeTC name, e.g. "markerTonerAlmostEmpty"
    description: str | None = None
    time_ticks: int | None = None  # sysUpTime when raised


class Status(msgspec.Struct, **_options):
    device: str | None = None  # hrDeviceStatus: unknown, running, warning, testing, down
    printer: str | None = None  # hrPrinterStatus: other, unknown, idle, printing, warmup
    errors: list[str] = []  # decoded hrPrinterDetectedErrorState flags, e.g. "lowToner"
    console: list[str] = []  # prtConsoleDisplayBufferText lines
    covers: list[Cover] = []
    trays: list[InputTray] = []


class Identity(msgspec.Struct, **_options):
    address: str
    is_printer: bool = False
    vendor: str | None = None  # manufacturer family, e.g. "Ricoh" (see printerhq.mib.vendors)
    brand: str | None = None  # badge on the device when it differs (OEM), e.g. "Savin"
    model: str | None = None
    serial: str | None = None
    firmware: str | None = None
    mac: str | None = None
    sys_name: str | None = None
    sys_descr: str | None = None
    sys_object_id: str | None = None
    location: str | None = None
    contact: str | None = None
    asset_number: str | None = None
    uptime_ticks: int | None = None
    colour: bool | None = None  # True colour-capable, False mono, None unknown
    device_kind: str | None = None  # "printer", "mfp", "scanner", "label_printer"


class FieldProblem(msgspec.Struct, **_options):
    """A value the device sent that failed validation; the field itself is left empty."""

    field: str  # path such as "supplies[2].level"
    reason: str


class DeviceReport(msgspec.Struct, **_options):
    identity: Identity
    scanned_at: float  # Unix time, seconds
    schema: int = msgspec.field(default_factory=_schema_version)  # always encoded, see above
    protocol: str | None = None  # "snmpv1", "snmpv2c", "snmpv3" (never the credential itself)
    counters: list[Counter] = []
    supplies: list[Supply] = []
    status: Status | None = None
    alerts: list[Alert] = []
    invalid: list[FieldProblem] = []
    errors: list[str] = []  # per-device problems that did not stop the scan
    cost: SnmpCost | None = None
    collection: Literal["cold", "warm"] | None = None  # cold: static data re-read this time


class ScanStats(msgspec.Struct, **_options):
    addresses: int = 0
    responders: int = 0
    printers: int = 0
    packets_sent: int = 0
    packets_received: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    errors: int = 0
    duration: float = 0.0
    # Added with the scan engine at scale (all optional; older readers see the same totals):
    completed: int = 0  # addresses finished (probed or skipped), for progress displays
    skipped: int = 0  # addresses not probed this scan: blank space in adaptive backoff
    alive: int = 0  # answered ICMP or ARP but not SNMP
    by_protocol: dict[str, TrafficCount] = {}  # "snmp", "icmp", "arp", "http"


class ScanReport(msgspec.Struct, **_options):
    scan_id: str
    agent: str
    started_at: float
    finished_at: float
    schema: int = msgspec.field(default_factory=_schema_version)  # always encoded
    devices: list[DeviceReport] = []
    stats: ScanStats = msgspec.field(default_factory=ScanStats)


_device_encoder = msgspec.msgpack.Encoder()
_device_decoder = msgspec.msgpack.Decoder(DeviceReport)
_scan_decoder = msgspec.msgpack.Decoder(ScanReport)


def encode(value: msgspec.Struct) -> bytes:
    """msgpack bytes of any model struct."""
    return _device_encoder.encode(value)


def decode_device_report(data: bytes) -> DeviceReport:
    return _device_decoder.decode(data)


def decode_scan_report(data: bytes) -> ScanReport:
    return _scan_decoder.decode(data)


def to_builtins(value: msgspec.Struct) -> object:
    """JSON-ready builtins (dicts and lists) for ``--json`` output."""
    return msgspec.to_builtins(value)


def json_schema() -> dict:
    """JSON Schema of the wire format (``printerhq schema``)."""
    return msgspec.json.schema(ScanReport)
