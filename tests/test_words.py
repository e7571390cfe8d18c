"""Plain words for states and units (printerhq.words): every value the model can carry reads as
words, the RFC 3805 special values included, and names added later still read as words."""

from __future__ import annotations

import typing

import pytest

from printerhq import words
from printerhq.mib import standard as std
from printerhq.model import SupplyState


@pytest.mark.parametrize("state", typing.get_args(SupplyState))
def test_every_supply_state_reads_as_words(state):
    for text in (
        words.supply_state(state),
        words.supply_state(state, receptacle=True),
        words.tray_state(state),
    ):
        assert "_" not in text and text == text.lower()
    assert (words.supply_state(state) == "") == (state == "ok")


def test_rfc3805_special_values():
    # -1 unlimited, -2 unknown, -3 some remaining (some space left for a receptacle).
    assert words.supply_state("unlimited") == "unlimited"
    assert words.supply_state("unknown") == "unknown level"
    assert words.supply_state("some_remaining") == "some left"
    assert words.supply_state("some_remaining", receptacle=True) == "some space left"


def test_machine_names_read_as_words():
    assert words.plain("some_remaining") == "some remaining"
    assert words.plain("markerTonerAlmostEmpty") == "marker toner almost empty"
    assert words.plain("capacity_unknown") == "capacity unknown"  # a state added later
    for flag in std.HR_ERROR_FLAGS:
        assert words.detected_error(flag).islower()
    for name in std.UNIT_NAMES.values():
        assert words.unit(name) != name or name.islower()
    # one word per severity everywhere (scan, dashboard, server alerts); power up is information
    assert [words.alert_level(s) for s in ("critical", "warning", "warning_binary_change")] == [
        "critical",
        "warning",
        "info",
    ]
    assert words.alert_level("other") == words.alert_level(None) == "info"
    assert words.printer_status("warmup") == "warming up"
    assert words.cover_status("interlock_open") == "interlock open"


def test_counter_and_tray_units():
    assert words.counter_unit("total", "impressions") == "impressions"
    assert words.counter_unit("jam", "other") == "jams"
    assert words.counter_unit("total", "other") == "(unit unknown)"
    assert words.unit(None, default="sheets") == "sheets"
    assert words.unit("tenThousandthsOfInches") == "1/10000 in"


def test_whole_percent_rounds_once_half_up():
    assert words.whole_percent(74.5, 7452, 10000) == 75  # 74.52 %, not round(74.5) == 74
    assert words.whole_percent(74.5, 7446, 10000) == 74  # 74.46 %: the stored 74.5 would say 75
    assert words.whole_percent(74.5) == 75
    assert words.whole_percent(12.5) == 13
    assert words.whole_percent(None) is None
    assert words.whole_percent(float("nan")) is None
    assert words.whole_percent(140.0) == 100 and words.whole_percent(-3.0) == 0


def test_which_reports_fail_a_scan():
    from printerhq.commands.output import device_failed, scan_exit_code
    from printerhq.model import DeviceReport, Identity

    def report(*errors: str, protocol: str | None = None, printer: bool = False) -> DeviceReport:
        ident = Identity(address="10.0.0.1", is_printer=printer)
        return DeviceReport(identity=ident, scanned_at=0.0, errors=list(errors), protocol=protocol)

    wrong_passphrase = report("10.0.0.1:161: SNMPv3 wrongDigest (agent reported): ...")
    unreachable = report("icmp unreachable: host unreachable")
    web_printer = report("answered from 10.0.0.9", protocol="http", printer=True)
    assert device_failed(wrong_passphrase) and device_failed(report("dns: cannot resolve x: ..."))
    assert not device_failed(unreachable) and not device_failed(web_printer)
    assert not device_failed(report())
    assert scan_exit_code([report(), unreachable], reports_waiting=False) == 0
    assert scan_exit_code([report(), wrong_passphrase], reports_waiting=False) == 1
    assert scan_exit_code([report()], reports_waiting=True) == 3
    assert scan_exit_code([wrong_passphrase], reports_waiting=True) == 1  # failure outranks 3


def test_every_rfc_3805_counter_unit_has_a_model_name_and_words():
    """prtMarkerCounterUnit (PrtMarkerCounterUnitTC, RFC 3805): a unit the device gives is
    never reported as "other" nor printed as "(unit unknown)"."""
    from typing import get_args

    from printerhq.mib.standard import COUNTER_UNITS
    from printerhq.model import CounterUnit

    rfc_3805 = {3, 4, 5, 6, 7, 8, 9, 11, 16, 17}
    assert set(COUNTER_UNITS) == rfc_3805
    for code, name in COUNTER_UNITS.items():
        assert name in get_args(CounterUnit), code
        assert words.counter_unit("total", name) not in ("", "(unit unknown)"), name
