"""RFC 3805 special values and multi-marker page counters on our own recordings
(``fixtures/accuracy/``, written by ``fixtures/generate.py``), collected cold and then warm
through the UDP simulator on loopback with the real client (issue 13)."""

from __future__ import annotations

from pathlib import Path

import trio

from printerhq.collect import DeviceCache, collect
from printerhq.mib import DISCOVERY_OIDS, identify
from printerhq.model import DeviceReport
from printerhq.snmp.client import SnmpClient, Target
from printerhq.snmp.credentials import Community
from printerhq.snmp.message import Version

from .helpers_sim import FIXTURES, TEST_TIMEOUT, running_fleet

ACCURACY = FIXTURES / "accuracy"
LIFE = "1.3.6.1.2.1.43.10.2.1.4"


async def cold_and_warm(
    path: Path, version: Version = Version.V2C
) -> tuple[DeviceReport, DeviceReport]:
    async with running_fleet([path]) as fleet:
        address = fleet.addresses[0]
        target = Target(address, fleet.port, credentials=[Community(b"public", version)])
        with trio.fail_after(TEST_TIMEOUT * 3):
            async with SnmpClient(timeout=2.0, retries=1) as client:
                identity = identify(address, await client.get(target, DISCOVERY_OIDS))
                cache = DeviceCache()
                cold = await collect(client, target, cache, identity)
                warm = await collect(client, target, cache, identity)
    assert (cold.collection, warm.collection) == ("cold", "warm")
    return cold, warm


async def test_every_special_supply_value():
    for report in await cold_and_warm(ACCURACY / "special_values.snmprec"):
        by_name = {
            s.description: (s.level, s.capacity, s.percent, s.state, s.consumed)
            for s in report.supplies
        }
        assert by_name == {
            "Black Toner": (40, 100, 40.0, "ok", True),
            "Cyan Toner": (55, None, None, "capacity_unknown", True),  # capacity -2
            "Magenta Toner": (None, 100, None, "unknown", True),  # level -2
            "Yellow Toner": (None, 100, None, "some_remaining", True),  # level -3
            "Waste Toner Box": (None, None, None, "some_space_left", False),  # -3, receptacle
            "Fuser": (None, None, None, "unlimited", True),  # -1 / -1
            "Transfer Belt": (120_000, None, None, "unlimited", True),  # capacity -1
            "Staples": (None, None, None, "some_remaining", True),
        }
        # RFC 3805 special values are not device faults: nothing reported as invalid
        assert not [p for p in report.invalid if p.field.startswith("supplies")]


async def test_every_special_tray_value():
    for report in await cold_and_warm(ACCURACY / "special_values.snmprec"):
        assert report.status is not None
        trays = {t.name: (t.level, t.capacity, t.state) for t in report.status.trays}
        assert trays == {
            "Tray 1": (None, 250, "some_remaining"),
            "Tray 2": (None, 550, "unknown"),
            "MP Feeder": (None, None, "unlimited"),
            "Tray 3": (30, None, "capacity_unknown"),
        }


async def test_life_count_on_the_second_marker():
    # marker 1.1 has no prtMarkerLifeCount; marker 1.2 keeps it, in sheets
    for report in await cold_and_warm(ACCURACY / "multi_marker_second_row.snmprec"):
        totals = [c for c in report.counters if c.name == "total"]
        assert [(c.value, c.unit, c.label, c.source) for c in totals] == [
            (48_213, "sheets", "Life time (marker 1.2)", f"{LIFE}.1.2")
        ]


async def test_life_count_on_the_second_marker_over_snmpv1():
    # no 1.2 probe in a v1 GET (one absent object fails it); 1.1 without a life count while
    # the marker table answers is reason enough to walk the column
    for report in await cold_and_warm(ACCURACY / "multi_marker_second_row.snmprec", Version.V1):
        totals = [(c.value, c.source) for c in report.counters if c.name == "total"]
        assert totals == [(48_213, f"{LIFE}.1.2")]


async def test_life_count_on_every_marker_and_the_total_where_it_is_counted():
    # marker 1.1 reads 0 (never used), marker 1.2 counts: both reported, 1.2 is the total
    for report in await cold_and_warm(ACCURACY / "multi_marker_zero_first.snmprec"):
        life = {c.source: (c.name, c.value, c.label) for c in report.counters if LIFE in c.source}
        assert life == {
            f"{LIFE}.1.2": ("total", 48_213, "Life time (marker 1.2)"),
            f"{LIFE}.1.1": ("other", 0, "Life time, marker 1.1"),
        }


async def test_single_marker_total_unchanged():
    cold, warm = await cold_and_warm(FIXTURES / "kyocera_ecosys-p3145dn.snmprec")
    for report in (cold, warm):
        totals = [c for c in report.counters if c.source == f"{LIFE}.1.1"]
        assert [(c.name, c.label) for c in totals] == [("total", "Life time")]
