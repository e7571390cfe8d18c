"""The alert rules, sans-IO: states + thresholds + now -> the conditions that hold."""

from __future__ import annotations

import dataclasses

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from printerhq import model
from printerhq.server import alert_rules as rules
from printerhq.server.alert_rules import AgentState, AlertsConfig, DeviceState

NOW = 1_800_000_000.0


def report(
    percent: float | None = 50.0,
    *,
    errors: tuple[str, ...] = (),
    device: str = "running",
    alerts: tuple[model.Alert, ...] = (),
    covers: tuple[model.Cover, ...] = (),
    consumed: bool = True,
) -> model.DeviceReport:
    return model.DeviceReport(
        identity=model.Identity(address="127.0.0.9", is_printer=True),
        scanned_at=NOW,
        supplies=[
            model.Supply(
                index=1, description="Black Toner", kind="toner", percent=percent, consumed=consumed
            )
        ],
        status=model.Status(device=device, errors=list(errors), covers=list(covers)),
        alerts=list(alerts),
    )


def device(
    r: model.DeviceReport | None = None,
    *,
    site: str | None = "Acme Ltd",
    last_seen: float = NOW,
    days: float | None = None,
) -> DeviceState:
    return DeviceState(
        id=7,
        site=site,
        label="127.0.0.9 M507",
        last_seen=last_seen,
        report=r if r is not None else report(),
        days_left={1: days} if days is not None else {},
    )


def keys(conditions: dict) -> set[tuple[str, str, str]]:
    return set(conditions)


def test_supply_below_threshold_opens_and_closes_only_above_the_margin() -> None:
    config = AlertsConfig()  # 10 %, closes at 15 %
    low = rules.evaluate([device(report(9.0))], [], config, NOW)
    assert keys(low) == {("device:7", "supply_low", "1")}
    [c] = low.values()
    assert c.severity == "warning" and "Black Toner at 9%" in c.message and c.site == "Acme Ltd"
    assert rules.evaluate([device(report(10.0))], [], config, NOW)  # at the threshold: opens
    assert not rules.evaluate([device(report(12.0))], [], config, NOW)  # not open: stays shut
    held = rules.evaluate([device(report(12.0))], [], config, NOW, keys(low))
    assert keys(held) == keys(low)  # open: held inside the band
    assert not rules.evaluate([device(report(15.0))], [], config, NOW, keys(low))  # closes


def test_empty_supply_is_critical_and_receptacles_are_not_supplies() -> None:
    [c] = rules.evaluate([device(report(0.0))], [], AlertsConfig(), NOW).values()
    assert c.severity == "critical"
    assert not rules.evaluate([device(report(0.0, consumed=False))], [], AlertsConfig(), NOW)


def test_runs_out_within_n_days_with_its_own_margin() -> None:
    config = AlertsConfig()  # 7 days, closes beyond 10
    soon = rules.evaluate([device(days=5.0)], [], config, NOW)
    assert keys(soon) == {("device:7", "supply_runs_out", "1")}
    assert "about 5 days" in next(iter(soon.values())).message
    assert not rules.evaluate([device(days=8.0)], [], config, NOW)
    assert rules.evaluate([device(days=8.0)], [], config, NOW, keys(soon))
    assert not rules.evaluate([device(days=10.0)], [], config, NOW, keys(soon))
    assert not rules.evaluate([device(days=None)], [], config, NOW)  # no forecast: nothing


def test_error_states_and_their_severities() -> None:
    power_up = model.Alert(index=3, severity="warning_binary_change", code=4, code_name="powerUp")
    jam_row = model.Alert(
        index=4, severity="critical", code=8, code_name="jam", description="Jam in tray 2"
    )
    r = report(
        errors=("jammed", "doorOpen", "offline", "lowPaper", "overduePreventMaint", "jammed"),
        device="down",
        alerts=(power_up, jam_row),
        covers=(model.Cover(index=2, description="Front cover", status="open"),),
    )
    found = {
        (c.rule, c.item): c for c in rules.evaluate([device(r)], [], AlertsConfig(), NOW).values()
    }
    severities = {k: c.severity for k, c in found.items()}
    assert severities == {
        ("printer_error", "jammed"): "critical",
        ("printer_error", "doorOpen"): "critical",
        ("printer_error", "offline"): "critical",
        ("printer_error", "lowPaper"): "warning",
        ("printer_error", "overduePreventMaint"): "info",
        ("device_down", ""): "critical",
        ("cover_open", "2"): "critical",
        ("printer_alert", "4"): "info",  # power up: an event, never critical
        ("printer_alert", "8"): "critical",
    }
    assert found[("printer_error", "jammed")].message == "paper jam"
    assert found[("printer_error", "doorOpen")].message == "door open"
    assert found[("printer_alert", "4")].message == "power up"
    assert found[("printer_alert", "8")].message == "jam: Jam in tray 2"  # code, printer's words
    assert found[("cover_open", "2")].message == "Front cover open"


def test_an_error_state_closes_only_when_gone_for_error_close_minutes() -> None:
    config = AlertsConfig()  # 30 minutes
    jam = report(errors=("jammed", "lowPaper"))
    earlier = msgspec.structs.replace(jam, scanned_at=NOW - 20 * 60)
    opened = rules.evaluate([device(jam)], [], config, NOW)
    assert {k[2] for k in opened} == {"jammed", "lowPaper"}
    cleared = report(errors=("jammed",))  # paper was put in; the jam is still there
    state = dataclasses.replace(device(cleared), recent=[earlier])
    held = rules.evaluate([state], [], config, NOW, set(opened))
    assert set(held) == set(opened)  # low paper shown 20 minutes ago: held
    assert held[("device:7", "printer_error", "lowPaper")].message == "low paper"
    # Not open: an earlier report never opens anything.
    assert {k[2] for k in rules.evaluate([state], [], config, NOW)} == {"jammed"}
    later = rules.evaluate([state], [], config, NOW + 11 * 60, set(opened))
    assert {k[2] for k in later} == {"jammed"}  # gone for more than 30 minutes: closed
    off = AlertsConfig(defaults=rules.Thresholds(error_close_minutes=0))
    assert {k[2] for k in rules.evaluate([state], [], off, NOW, set(opened))} == {"jammed"}


def test_device_unseen_and_agent_heartbeat() -> None:
    config = AlertsConfig()  # 24 h, 30 min
    old = device(last_seen=NOW - 25 * 3600)
    [c] = rules.evaluate([old], [], config, NOW).values()
    assert (c.rule, c.severity, c.message) == (
        "device_unseen",
        "warning",
        "not seen for 25 h (alert after 24 h)",
    )
    assert not rules.evaluate([device(last_seen=NOW - 23 * 3600)], [], config, NOW)
    silent = AgentState(3, "acme-1", "Acme Ltd", NOW - 45 * 60)
    [c] = rules.evaluate([], [silent], config, NOW).values()
    assert (c.key, c.severity, c.label) == (("agent:3", "agent_silent", ""), "critical", "acme-1")
    assert "45 min" in c.message
    assert not rules.evaluate([], [AgentState(3, "a", None, NOW - 60)], config, NOW)
    assert not rules.evaluate([], [AgentState(3, "a", None, None)], config, NOW)  # never seen


def test_site_overrides_and_zero_turns_a_rule_off() -> None:
    config = rules.parse_config(
        """
        [defaults]
        supply_below_percent = 20
        [site."Acme Ltd"]
        supply_below_percent = 5
        device_unseen_hours = 0
        [site."Beta"]
        printer_errors = false
        """
    )
    assert config.for_site("Acme Ltd").supply_below_percent == 5
    assert config.for_site("Acme Ltd").supply_close_margin == 5  # from the defaults
    assert config.for_site("Other").supply_below_percent == 20
    assert not rules.evaluate([device(report(8.0))], [], config, NOW)  # Acme: 5 %
    assert rules.evaluate([device(report(8.0), site="Other")], [], config, NOW)
    assert not rules.evaluate([device(last_seen=0.0)], [], config, NOW)  # Acme: rule off
    jam = report(errors=("jammed",))
    assert not rules.evaluate([device(jam, site="Beta")], [], config, NOW)
    assert rules.evaluate([device(jam, site="Other")], [], config, NOW)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[defaults]\nsupply_below_percent = 120", "defaults.supply_below_percent"),
        ("[defaults]\nsupply_below_pct = 10", "supply_below_pct"),
        ('[site."Acme"]\ndevice_unseen_hours = -1', 'site."Acme".device_unseen_hours'),
        ('[[webhook]]\nurl = "ftp://x"\nsecret_file = "/s"', "webhook[0].url"),
        ('[[webhook]]\nurl = "https://127.0.0.1/h"', "secret_file"),
        ('[[webhook]]\nurl="https://127.0.0.1/h"\nsecret_file="/s"\nmin_severity="loud"', "loud"),
        ("[defaults", "not valid TOML"),
    ],
)
def test_config_errors_name_the_field(text: str, says: str) -> None:
    with pytest.raises(rules.ConfigError, match=None) as info:
        rules.parse_config(text)
    assert says in str(info.value)


def test_config_is_bounded() -> None:
    with pytest.raises(rules.ConfigError, match="larger than"):
        rules.parse_config("#" * (rules.MAX_CONFIG_BYTES + 1))


# -- property: a state never opens and closes the same alert -------------------------------
_round = st.sampled_from([0.0, 5.0, 10.0, 15.0])
_flags = st.sampled_from(["jammed", "doorOpen", "offline", "lowToner", "noPaper", "custom"])
_alert_rows = st.builds(
    model.Alert,
    index=st.integers(1, 5),
    severity=st.sampled_from([None, "critical", "warning", "warning_binary_change", "other"]),
    code=st.one_of(st.none(), st.integers(1, 2000)),
)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[DeviceState], list[AgentState], AlertsConfig]:
    t = rules.Thresholds(
        supply_below_percent=draw(st.one_of(_round, st.floats(0, 100))),
        supply_close_margin=draw(st.one_of(_round, st.floats(0, 100))),
        supply_days_left=draw(st.one_of(_round, st.floats(0, 30))),
        supply_days_margin=draw(st.one_of(_round, st.floats(0, 30))),
        device_unseen_hours=draw(st.floats(0, 48)),
        agent_heartbeat_minutes=draw(st.floats(0, 90)),
        error_close_minutes=draw(st.floats(0, 60)),
    )
    # Levels and forecasts right at a threshold or at the end of its band as often as not.
    edge_percent = [t.supply_below_percent, t.supply_below_percent + t.supply_close_margin]
    edge_days = [t.supply_days_left, t.supply_days_left + t.supply_days_margin]
    devices = []
    for i in range(draw(st.integers(0, 4))):
        percent = draw(st.one_of(st.none(), st.sampled_from(edge_percent), st.floats(0, 100)))
        percent = None if percent is None else min(percent, 100.0)
        rows = draw(st.lists(_alert_rows, max_size=3))
        devices.append(
            DeviceState(
                id=i + 1,
                site=draw(st.sampled_from([None, "Acme Ltd", "Beta"])),
                label=f"d{i}",
                last_seen=NOW - draw(st.floats(0, 3 * 86400)),
                report=report(percent, errors=tuple(draw(st.lists(_flags))), alerts=tuple(rows)),
                days_left={
                    1: draw(st.one_of(st.none(), st.sampled_from(edge_days), st.floats(-5, 60)))
                },
                # Earlier reports showing other errors: they may hold, never open.
                recent=[
                    msgspec.structs.replace(
                        report(None, errors=tuple(draw(st.lists(_flags, max_size=2)))),
                        scanned_at=NOW - draw(st.floats(0, 3600)),
                    )
                    for _ in range(draw(st.integers(0, 2)))
                ],
            )
        )
    agents = [
        AgentState(i + 1, "agent", None, draw(st.one_of(st.none(), st.floats(NOW - 7200, NOW))))
        for i in range(draw(st.integers(0, 2)))
    ]
    return devices, agents, AlertsConfig(defaults=t)


@settings(max_examples=300, deadline=None)
@given(
    scenarios(),
    st.sets(st.sampled_from([("device:1", "supply_low", "1"), ("agent:1", "agent_silent", "")])),
)
def test_no_rule_opens_and_closes_on_the_same_state(scenario, also_open) -> None:
    devices, agents, config = scenario
    opened = rules.evaluate(devices, agents, config, NOW)
    # Evaluated again on the same state with those alerts open (whatever else is open too):
    # every alert that opened still holds, and nothing that did not hold holds now.
    again = rules.evaluate(devices, agents, config, NOW, set(opened) | also_open)
    assert set(opened) <= set(again)
    assert set(rules.evaluate(devices, agents, config, NOW, set(opened))) == set(opened)
