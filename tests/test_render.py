"""Terminal rendering: pure functions over DeviceReports."""

from __future__ import annotations

from printerhq.model import (
    Alert,
    Counter,
    DeviceReport,
    Identity,
    InputTray,
    SnmpCost,
    Status,
    Supply,
)
from printerhq.render import percent_bar, render_device, render_reports, render_table

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
