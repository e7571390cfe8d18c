"""Terminal rendering: pure functions over DeviceReports."""

from __future__ import annotations

from printerhq.model import (
    Alert,
    Counter,
    Cover,
    DeviceReport,
    FieldProblem,
    Identity,
    InputTray,
    SnmpCost,
    Status,
    Supply,
)
from printerhq.render import heading, percent_bar, render_device, render_reports, render_table

from .helpers_metrics import FIXTURES, collect_path


def test_percent_bar():
    assert percent_bar(70) == "[#######---] 70%"
    assert percent_bar(0) == "[----------] 0%"
    assert percent_bar(100) == "[##########] 100%"
    assert percent_bar(150) == "[##########] 100%"
    assert percent_bar(None) == "[??????????]"
    assert percent_bar(33, width=3) == "[#--] 33%"


def _report() -> DeviceReport:
    return DeviceReport(
        identity=Identity(
            address="10.0.0.7",
            is_printer=True,
            vendor="Ricoh",
            brand="Savin",
            model="MP C4503",
            serial="E123",
            sys_descr="SAVIN MP C4503 1.18",
            colour=True,
        ),
        scanned_at=0.0,
        supplies=[
            Supply(
                index=1,
                description="Black toner",
                level=70,
                capacity=100,
                percent=70.0,
                kind="toner",
            ),
            Supply(index=2, description="Staples", state="some_remaining"),
            Supply(
                index=3,
                description="Waste toner",
                percent=40.0,
                consumed=False,
                level=40,
                capacity=100,
            ),
        ],
        counters=[Counter(name="total", value=123456, label="Life time")],
        status=Status(
            device="warning",
            errors=["lowToner"],
            console=["Toner low"],
            trays=[InputTray(index=1, name="Tray 1", capacity=500, level=250, percent=50.0)],
        ),
        alerts=[
            Alert(
                index=1,
                severity="warning",
                code=1104,
                code_name="markerTonerAlmostEmpty",
                description="Toner low",
            )
        ],
        cost=SnmpCost(requests=1, sent_bytes=100, received_bytes=200, wire_bytes=356),
        collection="warm",
    )


def test_render_device_shows_the_metrics():
    text = render_device(_report())
    assert "10.0.0.7  Savin MP C4503" in text
    assert "Black toner  [#######---] 70%" in text
    assert "Staples      [??????????] some left" in text
    assert "[####------] 40% full" in text
    assert "123,456 impressions" in text
    assert "errors: low toner" in text and "panel: Toner low" in text
    assert "tray Tray 1: [#####-----] 50%, 250 of 500 sheets" in text
    assert "warning: Toner low" in text
    assert "~356 B on the wire (warm)" in text


def test_render_table_columns():
    text = render_table(
        [_report(), DeviceReport(identity=Identity(address="10.0.0.8"), scanned_at=0.0)]
    )
    header, first, second = text.splitlines()
    assert header.split() == ["address", "vendor", "model", "serial", "sysDescr"]
    assert first.startswith("10.0.0.7") and "Savin (Ricoh)" in first and "E123" in first
    assert second.strip() == "10.0.0.8"


def test_render_real_collection():
    report, _ = collect_path(FIXTURES / "lexmark_e260dn.snmprec")
    text = render_reports([report])
    assert "Black Cartridge" in text and "%" in text
    assert "critical: Load Tray 1 Letter" in text


# --- Terminal safety (issue 11 item 4) ---------------------------------------------------------

ESC = "\x1b]0;owned\x07\x1b[2J"  # OSC window title, CSI clear screen
HOSTILE_TEXT = ESC + "\x9b31m\u202eevil\nforged line"


def _hostile_report() -> DeviceReport:
    """A printer whose every string field carries escape sequences and a newline."""
    t = HOSTILE_TEXT
    return DeviceReport(
        identity=Identity(
            address="10.0.0.9",
            is_printer=True,
            vendor=t,
            brand=t,
            model=t,
            serial=t,
            firmware=t,
            mac=t,
            sys_descr=t,
            location=t,
        ),
        scanned_at=0.0,
        supplies=[
            Supply(index=1, description=t, percent=50.0, level=50, capacity=100),
            Supply(index=2, description=t, level=7, unit=t),
        ],
        counters=[Counter(name="total", value=1, label=t)],
        status=Status(
            device=t,
            printer=t,
            errors=[t],
            console=[t, t],
            covers=[Cover(index=1, description=t, status=t)],
            trays=[
                InputTray(index=1, name=t, unit=t, state="some_remaining", capacity=10),
                InputTray(index=2, name=t, level=5, capacity=10, percent=50.0),
            ],
        ),
        alerts=[Alert(index=1, severity=t, description=t), Alert(index=2, code_name=t)],
        invalid=[FieldProblem(field=t, reason=t)],
        errors=[t],
    )


def test_no_device_string_reaches_the_terminal_raw():
    text = render_reports([_hostile_report()])
    assert "\x1b" not in text and "\x9b" not in text and "\u202e" not in text
    assert all(ch.isprintable() or ch == "\n" for ch in text)
    assert "forged line" in text
    # A newline in a device string cannot start a line of our own output.
    assert not any(line.startswith("forged line") for line in text.splitlines())
    assert "\\x1b]0;owned\\x07" in text  # what the device sent stays visible


# --- Per-device errors in the table (issue 11 item 5) -------------------------------------------


def test_devices_that_failed_are_listed_with_their_errors():
    failed = DeviceReport(
        identity=Identity(address="10.0.0.20"),
        scanned_at=0.0,
        errors=["snmpv3 report usmStatsWrongDigests: wrong authentication passphrase"],
    )
    text = render_table([_report(), failed])
    table, errors = text.split("\n\n")
    assert "10.0.0.20" in table
    assert errors.splitlines() == [
        "Errors (1 device)",
        "  10.0.0.20  snmpv3 report usmStatsWrongDigests: wrong authentication passphrase",
    ]
    assert "Errors" not in render_table([_report()])


# --- Issue 13 output: rounding, units, heading, trays, plain words -----------------------------


def test_percentages_are_rounded_once_half_up():
    # 7452 of 10000 is 74.52 %: the report keeps 74.5, which Python's round() made 74.
    supply = Supply(index=1, description="Toner", level=7452, capacity=10000, percent=74.5)
    report = DeviceReport(identity=_report().identity, scanned_at=0.0, supplies=[supply])
    assert "[########--] 75%" in render_device(report)
    assert percent_bar(74.5) == "[########--] 75%"
    assert percent_bar(74.49) == "[#######---] 74%"
    assert percent_bar(25) == "[###-------] 25%"  # the bar rounds the same way as the number


def test_units_for_counters_and_trays():
    report = DeviceReport(
        identity=_report().identity,
        scanned_at=0.0,
        counters=[
            Counter(name="total", value=5, unit="sheets", label="Life time"),
            Counter(name="jam", value=3, unit="other", label="Engine jams"),
            Counter(name="other", value=9, unit="meters", label="Printed length"),
        ],
        status=Status(
            trays=[
                InputTray(index=1, name="Tray 1", capacity=500, level=250, percent=50.0),
                InputTray(index=2, name="Roll", capacity=30, unit="meters", state="unknown"),
            ]
        ),
    )
    text = render_device(report)
    assert "5 sheets" in text and "3 jams" in text and "9 metres" in text
    assert " other" not in text
    assert "tray Tray 1: [#####-----] 50%, 250 of 500 sheets" in text
    assert "tray Roll: unknown level, holds 30 metres" in text
    supplies, status = text.split(" Status")
    assert "Tray" not in supplies and "tray Tray 1" in status


def test_heading_names_the_vendor_once():
    def title(vendor: str, model: str, brand: str | None = None) -> str:
        ident = Identity(address="10.0.0.1", vendor=vendor, model=model, brand=brand)
        return heading(ident)

    assert title("Dell", "Dell S5830dn") == "Dell S5830dn"
    assert title("Sharp", "SHARP MX-3570N") == "SHARP MX-3570N"
    assert title("Epson", "EPSON WF-C5790BA") == "EPSON WF-C5790BA"
    assert title("Konica Minolta", "KONICA MINOLTA bizhub C250i") == "KONICA MINOLTA bizhub C250i"
    assert title("HP", "LaserJet Pro M404dn") == "HP LaserJet Pro M404dn"
    assert title("Ricoh", "MP C4503", brand="Savin") == "Savin MP C4503"
    assert title("HP", "HPE 1950") == "HP HPE 1950"  # a prefix that is not the whole word
    assert heading(Identity(address="10.0.0.1")) == "unknown device"


def test_states_in_plain_words():
    report = _report()
    text = render_device(report)
    assert "some_remaining" not in text and "lowToner" not in text
    waste = Supply(index=4, description="Waste", state="some_remaining", consumed=False)
    unknown = Supply(index=5, description="Drum", state="unknown")
    unlimited = Supply(index=6, description="Stapler", state="unlimited")
    level_only = Supply(index=7, description="Developer", level=9)  # capacity -2 (RFC 3805)
    report = DeviceReport(
        identity=report.identity,
        scanned_at=0.0,
        supplies=[waste, unknown, unlimited, level_only],
        alerts=[Alert(index=1, severity="warning_binary_change", code_name="markerTonerLow")],
    )
    text = render_device(report)
    assert "Waste      [??????????] some space left" in text
    assert "Drum       [??????????] unknown level" in text
    assert "Stapler    [??????????] unlimited" in text
    assert "Developer  [??????????] level 9, capacity unknown" in text
    assert "info: marker toner low" in text  # the same word the dashboard badges it with


def test_fixture_output_has_no_raw_enum_or_other_unit():
    for path in sorted(FIXTURES.glob("*.snmprec")):
        report, _ = collect_path(path)
        text = render_reports([report])
        for raw in ("some_remaining", "warning_binary_change", "interlock_", " other\n"):
            assert raw not in text + "\n", (path.name, raw)
