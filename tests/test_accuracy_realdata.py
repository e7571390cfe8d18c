"""Accuracy on real devices: every LibreNMS recording collected through our simulator and planner,
compared field by field with LibreNMS's expected values (after LibreNMS's own normalisation, see
``shared/realdata/librenms/SOURCE.md``).

Run with ``-s`` to see the per-file table. Every difference must be listed in
:data:`DELIBERATE` with its reason; the same reasons are in ``docs/metrics.md``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from .helpers_metrics import (
    HR_DEVICE_STATUS_CODES,
    LIBRENMS,
    LIBRENMS_OS,
    collect_path,
    discover,
    librenms_capacity,
    librenms_error_state,
    librenms_level,
    librenms_tray_level,
    load,
)

pytestmark = pytest.mark.skipif(not LIBRENMS.is_dir(), reason="../shared/realdata is absent")

# (file stem, field) -> why we differ on purpose. A field is "kind:key", e.g. "hardware",
# "supply:1.current", "count:<oid>".
HP_SPLIT = (
    "HP sends long supply descriptions as a text line plus a line of hex; we decode and "
    "join them keeping the device's own space at the break, which LibreNMS's line-by-line "
    "join drops"
)
DELIBERATE: dict[tuple[str, str], str] = {
    ("jetdirect_m880", "supply:1.descr"): HP_SPLIT,
    ("jetdirect_m880", "supply:5.descr"): HP_SPLIT,
    ("jetdirect_m880", "supply:9.descr"): HP_SPLIT,
    ("jetdirect_m880", "supply:11.descr"): HP_SPLIT,
    (
        "jetdirect_m130nw",
        "hardware",
    ): "we take HP's model from hrDeviceDescr.1 (the exact model, 'M130nw'; read in the cold GET "
    "anyway) where LibreNMS parses MDL: from the ~300-byte IEEE 1284 device ID, which names "
    "the model family 'M129-M134'",
    (
        "brother_hl5370dw",
        "hardware",
    ): "Brother appends the MAC address to the model name ('HL-5370DW series [001ba90ba752]'); "
    "we drop it, LibreNMS keeps it",
    (
        "zebra",
        "hardware",
    ): "LibreNMS reads the ZebraNet print server's product number (ESI 683.1.4.0, '79071'); we "
    "read the printer's own model (zbrGeneralModel 10642.1.1.0), as FusionInventory does",
    (
        "zebra",
        "serial",
    ): "LibreNMS reads the ZebraNet print server's serial (ESI 683.1.5.0); we read the "
    "printer's (ZEBRA-QL-MIB 10642.200.19.5.0), as FusionInventory does",
    (
        "jetdirect_m130nw",
        "state:1.3.6.1.4.1.11.2.3.9.4.2.1.3.3.1.13.0",
    ): "HP default media size is configuration, not device state: not in our status model",
}

# Identity fields are held to our own expectation (tests/data/realdata_expected.json, read by
# hand from each recording's strings), not only to LibreNMS's: where LibreNMS has no value, or a
# different one, ours must still be the right one.
IDENTITY_FIELDS = {"hardware": "model", "serial": "serial", "version": "firmware"}
EXPECTED = json.loads((Path(__file__).parent / "data" / "realdata_expected.json").read_text())
LIBRENMS_EMPTY = (
    "LibreNMS reads none here; ours is the value the recording holds "
    "(tests/data/realdata_expected.json)"
)


@dataclass
class Row:
    field: str
    expected: object
    ours: object
    own: object = None  # our own expectation (identity fields only)

    @property
    def matches(self) -> bool:
        if isinstance(self.expected, float) or isinstance(self.ours, float):
            try:
                return abs(float(self.expected) - float(self.ours)) < 0.51  # type: ignore[arg-type]
            except (TypeError, ValueError):
                return False
        return self.expected == self.ours


def expected_files() -> list[Path]:
    return sorted(LIBRENMS.glob("*.json")) if LIBRENMS.is_dir() else []


def compare(json_path: Path) -> list[Row]:
    expected = json.loads(json_path.read_text())
    report, _ = collect_path(json_path.with_suffix(".snmprec"))
    device = expected["os"]["discovery"]["devices"][0]
    os_name = device["os"]
    rows: list[Row] = []
    vendor, brand = LIBRENMS_OS[os_name]
    rows.append(Row("vendor", vendor, report.identity.vendor))
    if brand:
        rows.append(Row("brand", brand, report.identity.brand))
    own = EXPECTED[json_path.stem]
    rows.append(Row("hardware", device.get("hardware"), report.identity.model, own["model"]))
    rows.append(Row("serial", device.get("serial"), report.identity.serial, own["serial"]))
    rows.append(Row("version", device.get("version"), report.identity.firmware, own["firmware"]))
    supplies = {s.index: s for s in report.supplies}
    trays = {t.index: t for t in (report.status.trays if report.status else [])}
    expected_supplies = (
        (expected.get("printer-supplies") or {}).get("discovery", {}).get("printer_supplies", [])
    )
    seen_markers = set()
    for entry in expected_supplies:
        index = int(entry["supply_index"])
        if entry["supply_type"] == "input":
            tray = trays.get(index)
            key = f"tray:{index}"
            rows.append(Row(key + ".descr", entry["supply_descr"], tray.name if tray else None))
            rows.append(
                Row(key + ".capacity", entry["supply_capacity"], tray.capacity if tray else None)
            )
            rows.append(
                Row(
                    key + ".current",
                    float(entry["supply_current"]),
                    librenms_tray_level(tray) if tray else None,
                )
            )
            continue
        seen_markers.add(index)
        supply = supplies.get(index)
        key = f"supply:{index}"
        rows.append(
            Row(
                key + ".type",
                entry["supply_type"],
                (supply.supply_type or "markerSupply") if supply else None,
            )
        )
        rows.append(
            Row(key + ".descr", entry["supply_descr"], supply.description if supply else None)
        )
        rows.append(
            Row(
                key + ".capacity",
                entry["supply_capacity"],
                librenms_capacity(supply) if supply else None,
            )
        )
        rows.append(
            Row(
                key + ".current",
                entry["supply_current"],
                librenms_level(supply, os_name) if supply else None,
            )
        )
    for supply in report.supplies:  # ours that LibreNMS does not list
        if supply.index not in seen_markers:
            rows.append(
                Row(f"supply:{supply.index}.present", None, librenms_level(supply, os_name))
            )
    sensors = (
        (expected.get("sensors") or {}).get("discovery", {}).get("sensors", [])
        if isinstance(expected.get("sensors"), dict)
        else []
    )
    counters = {c.source: c for c in report.counters}
    for sensor in sensors:
        oid = sensor["sensor_oid"].lstrip(".")
        if sensor["sensor_class"] == "count":
            counter = counters.get(oid)
            rows.append(
                Row(f"count:{oid}", sensor["sensor_current"], counter.value if counter else None)
            )
        elif sensor["sensor_class"] == "state":
            status = report.status
            if oid == "1.3.6.1.2.1.25.3.2.1.5.1":
                rows.append(
                    Row(
                        "state:hrDeviceStatus",
                        sensor["sensor_current"],
                        HR_DEVICE_STATUS_CODES.get(status.device)
                        if status and status.device
                        else None,
                    )
                )
            elif oid == "1.3.6.1.2.1.25.3.5.1.2.1":
                rows.append(
                    Row(
                        "state:hrPrinterDetectedErrorState",
                        sensor["sensor_current"],
                        librenms_error_state(status.errors) if status else None,
                    )
                )
            else:
                rows.append(Row(f"state:{oid}", sensor["sensor_current"], None))
    return rows


def verdict(stem: str, row: Row) -> tuple[str, str | None]:
    if row.field in IDENTITY_FIELDS and row.ours != row.own:
        return "differs", None  # wrong by our own expectation, whatever LibreNMS says
    if row.matches:
        return "match", None
    reason = DELIBERATE.get((stem, row.field))
    if reason is None and row.expected is None and row.field in IDENTITY_FIELDS:
        reason = LIBRENMS_EMPTY
    return ("deliberate", reason) if reason else ("differs", None)


def test_accuracy_against_librenms(capsys):
    table = []
    undocumented = []
    for json_path in expected_files():
        stem = json_path.stem
        counts = {"match": 0, "deliberate": 0, "differs": 0}
        for row in compare(json_path):
            kind, _ = verdict(stem, row)
            counts[kind] += 1
            if kind == "differs":
                undocumented.append(
                    f"{stem}: {row.field}: LibreNMS {row.expected!r}, ours {row.ours!r}"
                    + (f", expected {row.own!r}" if row.field in IDENTITY_FIELDS else "")
                )
        table.append((stem, counts))
    assert table, "no expectations found"
    with capsys.disabled():
        print()
        print(f"{'recording':32} {'matched':>8} {'deliberate':>10} {'differs':>8}")
        for stem, counts in table:
            print(
                f"{stem:32} {counts['match']:>8} {counts['deliberate']:>10} {counts['differs']:>8}"
            )
        total = {k: sum(c[k] for _, c in table) for k in ("match", "deliberate", "differs")}
        print(f"{'TOTAL':32} {total['match']:>8} {total['deliberate']:>10} {total['differs']:>8}")
        for line in undocumented:
            print("  UNDOCUMENTED", line)
    assert not undocumented, "\n".join(undocumented)


def detect_only_files() -> list[Path]:
    base = LIBRENMS / "detect-only"
    return sorted(base.glob("*.snmprec")) if base.is_dir() else []


@pytest.mark.parametrize("path", detect_only_files(), ids=lambda p: p.stem)
def test_detect_only_vendor(path: Path):
    os_name = path.stem.split("_")[0]
    vendor, brand = LIBRENMS_OS[os_name]
    recording, _, _ = load(path)
    identity = discover(recording)
    assert identity.vendor == vendor
    if brand:
        assert identity.brand == brand
    assert identity.is_printer


@pytest.mark.parametrize(
    "path", [p.with_suffix(".snmprec") for p in expected_files()], ids=lambda p: p.stem
)
def test_main_recordings_identified(path: Path):
    expected = json.loads(path.with_suffix(".json").read_text())
    os_name = expected["os"]["discovery"]["devices"][0]["os"]
    recording, _, _ = load(path)
    identity = discover(recording)
    assert identity.vendor == LIBRENMS_OS[os_name][0]
    assert identity.is_printer


def all_recordings() -> list[Path]:
    return [p.with_suffix(".snmprec") for p in expected_files()] + detect_only_files()


def recording_key(path: Path) -> str:
    return path.stem if path.parent == LIBRENMS else f"{path.parent.name}/{path.stem}"


@pytest.mark.parametrize("path", all_recordings(), ids=recording_key)
def test_identity_expected(path: Path):
    """Model, serial, firmware and kind of every recording, main and detection-only, against
    the values read by hand from the recording (a swapped or wrong field fails here even where
    LibreNMS has no value to compare with)."""
    expected = EXPECTED[recording_key(path)]
    report, _ = collect_path(path)
    identity = report.identity
    ours = {
        "model": identity.model,
        "serial": identity.serial,
        "firmware": identity.firmware,
        "kind": identity.device_kind,
    }
    assert ours == expected


def test_every_recording_has_an_expectation():
    keys = {recording_key(path) for path in all_recordings()}
    assert keys == set(EXPECTED) - {"_comment"}
