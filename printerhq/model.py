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

from typing import Annotated, Literal

import msgspec

from . import limits

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


# Bounded types (printerhq.limits). msgspec checks ``Meta`` constraints when it *decodes* or
# converts, never when a struct is built or encoded: the collector keeps its own checks
# (FieldProblem), and the server, which decodes every upload, refuses a report that breaks one
# with the field's path and the bound (docs/wire.md, "What the server refuses").
Text = Annotated[str, msgspec.Meta(max_length=limits.MAX_TEXT)]
CounterValue = Annotated[int, msgspec.Meta(ge=0, le=limits.MAX_COUNTER)]
Level = Annotated[int, msgspec.Meta(ge=limits.MIN_LEVEL, le=limits.MAX_LEVEL)]
Index = Annotated[int, msgspec.Meta(ge=limits.MIN_INDEX, le=limits.MAX_INDEX)]
Integer32 = Annotated[int, msgspec.Meta(ge=-(2**31), le=2**31 - 1)]  # RFC 2578 section 7.1.1
TimeTicks = Annotated[int, msgspec.Meta(ge=0, le=limits.MAX_TIME_TICKS)]
Percent = Annotated[float, msgspec.Meta(ge=0.0, le=100.0)]  # a bound excludes NaN and inf
Timestamp = Annotated[float, msgspec.Meta(ge=0.0, le=limits.MAX_TIMESTAMP)]
TextList = Annotated[list[Text], msgspec.Meta(max_length=limits.MAX_TABLE_ROWS)]

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
# Our names plus every PrtMarkerCounterUnitTC name of RFC 3805 (section 5, prtMarkerCounterUnit).
CounterUnit = Literal[
    "impressions",
    "sheets",
    "pages",
    "inches",
    "meters",
    "feet",
    "tenThousandthsOfInches",
    "micrometers",
    "characters",
    "lines",
    "dotRow",
    "hours",
    "other",
]
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
    value: CounterValue
    unit: CounterUnit = "impressions"
    label: Text | None = None
    source: Text | None = None  # dotted OID the value was read from


class Supply(msgspec.Struct, **_options):
    index: Index
    description: Text
    kind: SupplyKind = "other"
    colour: Text | None = None
    unit: Text | None = None  # prtMarkerSuppliesSupplyUnit name, e.g. "percent", "impressions"
    level: Level | None = None
    capacity: Level | None = None
    percent: Percent | None = None
    state: SupplyState = "ok"
    consumed: bool = True  # False for receptacles that fill up (waste toner): RFC 3805 class 4
    serial: Text | None = None
    supply_type: Text | None = None  # IANA PrtMarkerSuppliesTypeTC name, e.g. "tonerCartridge"
    part_number: Text | None = None  # cut from the description (", PN ..." / "HP CF410A")


class InputTray(msgspec.Struct, **_options):
    index: Index
    name: Text | None = None
    media: Text | None = None
    capacity: Level | None = None
    level: Level | None = None  # sheets; None when unknown
    state: SupplyState = "ok"
    unit: Text | None = None  # prtInputCapacityUnit name, usually "sheets"
    percent: Percent | None = None


class Cover(msgspec.Struct, **_options):
    index: Index
    description: Text | None = None
    status: Text | None = None  # "open", "closed", "interlock_open", ...


class Alert(msgspec.Struct, **_options):
    index: Index
    severity: Text | None = None  # "critical", "warning", "warning_binary_change", "other"
    group: Text | None = None  # sub-unit, e.g. "markerSupplies", "input", "cover"
    group_index: Integer32 | None = None
    code: Integer32 | None = None
    code_name: Text | None = None  # IANA PrtAlertCodeTC name, e.g. "markerTonerAlmostEmpty"
    description: Text | None = None
    time_ticks: TimeTicks | None = None  # sysUpTime when raised


class Status(msgspec.Struct, **_options):
    device: Text | None = None  # hrDeviceStatus: unknown, running, warning, testing, down
    printer: Text | None = None  # hrPrinterStatus: other, unknown, idle, printing, warmup
    errors: TextList = []  # decoded hrPrinterDetectedErrorState flags, e.g. "lowToner"
    console: TextList = []  # prtConsoleDisplayBufferText lines
    covers: Annotated[list[Cover], msgspec.Meta(max_length=limits.MAX_TABLE_ROWS)] = []
    trays: Annotated[list[InputTray], msgspec.Meta(max_length=limits.MAX_TABLE_ROWS)] = []


class Identity(msgspec.Struct, **_options):
    address: Text
    is_printer: bool = False
    vendor: Text | None = None  # manufacturer family, e.g. "Ricoh" (see printerhq.mib.vendors)
    brand: Text | None = None  # badge on the device when it differs (OEM), e.g. "Savin"
    model: Text | None = None
    serial: Text | None = None
    firmware: Text | None = None
    mac: Text | None = None
    sys_name: Text | None = None
    sys_descr: Text | None = None
    sys_object_id: Text | None = None
    location: Text | None = None
    contact: Text | None = None  # sysContact: never collected since it names a person
    asset_number: Text | None = None
    uptime_ticks: TimeTicks | None = None
    colour: bool | None = None  # True colour-capable, False mono, None unknown
    device_kind: Text | None = None  # "printer", "mfp", "scanner", "label_printer"


class FieldProblem(msgspec.Struct, **_options):
    """A value the device sent that failed validation; the field itself is left empty."""

    field: Text  # path such as "supplies[2].level"
    reason: Text


class DeviceReport(msgspec.Struct, **_options):
    identity: Identity
    # Unix time, seconds. The server also checks it against its own clock (printerhq.limits:
    # MAX_REPORT_AGE, MAX_CLOCK_SKEW); the bounds here only keep it a finite, plausible number.
    scanned_at: Timestamp
    schema: int = msgspec.field(default_factory=_schema_version)  # always encoded, see above
    protocol: Text | None = None  # "snmpv1", "snmpv2c", "snmpv3" (never the credential itself)
    counters: Annotated[list[Counter], msgspec.Meta(max_length=limits.MAX_TABLE_ROWS)] = []
    supplies: Annotated[list[Supply], msgspec.Meta(max_length=limits.MAX_TABLE_ROWS)] = []
    status: Status | None = None
    alerts: Annotated[list[Alert], msgspec.Meta(max_length=limits.MAX_TABLE_ROWS)] = []
    invalid: Annotated[list[FieldProblem], msgspec.Meta(max_length=limits.MAX_PROBLEMS)] = []
    # per-device problems that did not stop the scan
    errors: Annotated[list[Text], msgspec.Meta(max_length=limits.MAX_PROBLEMS)] = []
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
    refused: int = 0  # SNMP requests the allow-list refused (never sent): a bug, always 0


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


# -- reading what was stored before the bounds existed ----------------------------------------
# A server stored whatever arrived before the bounds above: a 7 MiB sysDescr, a scanned_at of
# 1e13 or inf, a percentage of NaN. Such a report must still be shown (never a 500 or a crash of
# ``printerhq fleet``), so readers of stored or served reports bring it inside the bounds
# instead of refusing it: strings and lists are cut, a number outside its bound becomes absent
# (``None``) where the field is optional and the nearest bound where it is required, an item
# that cannot be repaired is dropped.
_UNFIT = object()


def _fit(value: object, t: msgspec.inspect.Type) -> object:
    if isinstance(t, msgspec.inspect.StructType):
        if not isinstance(value, dict):
            return _UNFIT
        out: dict[str, object] = {}
        for f in t.fields:
            if f.encode_name not in value:
                continue
            fitted = _fit(value[f.encode_name], f.type)
            if fitted is _UNFIT:
                if f.required:
                    return _UNFIT
                continue  # the default takes its place
            out[f.encode_name] = fitted
        return out
    if isinstance(t, msgspec.inspect.UnionType):
        if value is None and any(isinstance(u, msgspec.inspect.NoneType) for u in t.types):
            return None
        for u in t.types:
            if not isinstance(u, msgspec.inspect.NoneType):
                fitted = _fit(value, u)
                if fitted is not _UNFIT:
                    return fitted
        return None if any(isinstance(u, msgspec.inspect.NoneType) for u in t.types) else _UNFIT
    if isinstance(t, msgspec.inspect.StrType):
        return value[: t.max_length] if isinstance(value, str) else _UNFIT
    if isinstance(t, msgspec.inspect.ListType):
        if not isinstance(value, list):
            return _UNFIT
        items = [_fit(item, t.item_type) for item in value[: t.max_length]]
        return [item for item in items if item is not _UNFIT]
    if isinstance(t, (msgspec.inspect.IntType, msgspec.inspect.FloatType)):
        return _fit_number(value, t)
    if isinstance(t, msgspec.inspect.LiteralType):
        return value if value in t.values else _UNFIT
    return value  # bool, dict of traffic counts, ...: msgspec.convert judges


def _fit_number(value: object, t: msgspec.inspect.IntType | msgspec.inspect.FloatType) -> object:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return _UNFIT
    if isinstance(t, msgspec.inspect.IntType) and not isinstance(value, int):
        return _UNFIT
    if value != value or (t.ge is not None and value < t.ge) or (t.le is not None and value > t.le):
        return _UNFIT  # NaN compares false with everything: caught by value != value
    return value


def _clamp_required_time(value: object) -> object:
    # The one required number: a report without a usable time is shown at the epoch rather than
    # not at all.
    if not isinstance(value, (int, float)) or value != value:
        return 0.0
    return min(max(float(value), 0.0), limits.MAX_TIMESTAMP)


_REPORT_TYPE = msgspec.inspect.type_info(DeviceReport)
_stored_decoder = msgspec.msgpack.Decoder()


def repair_report(data: bytes | dict[str, object]) -> DeviceReport | None:
    """A stored (msgpack) or served (JSON builtins) report brought inside the model's bounds;
    ``None`` when nothing readable is left (no identity)."""
    if isinstance(data, (bytes, bytearray)):
        # Nearly every stored report was admitted under today's bounds: the typed decode (a few
        # microseconds, in C) accepts it as it is, and it is what the walk below would return.
        # The walk (~100 us of Python per report) is for the rest.
        try:
            return _device_decoder.decode(data)
        except (msgspec.ValidationError, msgspec.DecodeError):
            pass
    try:
        raw = _stored_decoder.decode(data) if isinstance(data, (bytes, bytearray)) else data
    except msgspec.DecodeError:
        return None
    if not isinstance(raw, dict):
        return None
    raw = dict(raw, scanned_at=_clamp_required_time(raw.get("scanned_at")))
    fitted = _fit(raw, _REPORT_TYPE)
    if fitted is _UNFIT:
        return None
    try:
        return msgspec.convert(fitted, DeviceReport)
    except msgspec.ValidationError:
        return None


def to_builtins(value: msgspec.Struct) -> object:
    """JSON-ready builtins (dicts and lists) for ``--json`` output."""
    return msgspec.to_builtins(value)


def json_schema() -> dict:
    """JSON Schema of the wire format (``printerhq schema``)."""
    return msgspec.json.schema(ScanReport)
