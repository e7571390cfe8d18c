"""Readings on the real recordings that LibreNMS's expectations cannot judge (issue 13): RFC 3805
special values, part numbers. Read from ``../shared/realdata`` (GPL-3.0), skipped when absent;
the expected values are what the recordings hold, read by hand."""

from __future__ import annotations

import pytest

from .helpers_metrics import LIBRENMS, collect_path

pytestmark = pytest.mark.skipif(not LIBRENMS.is_dir(), reason="../shared/realdata is absent")


def supplies(stem: str) -> dict[int, object]:
    report, _ = collect_path(LIBRENMS / f"{stem}.snmprec")
    return {s.index: s for s in report.supplies}


def test_sharp_unknown_capacity_keeps_the_level():
    # MX-M266NV: drum and developer at level 9 of capacity -2; waste toner 100 of -2
    sharp = supplies("sharp_mxm266nv")
    for index in (3, 4):
        assert (sharp[index].level, sharp[index].capacity) == (9, None)
        assert sharp[index].percent is None
        assert sharp[index].state == "capacity_unknown"
    waste = sharp[2]
    assert (waste.level, waste.state, waste.consumed) == (100, "capacity_unknown", False)
    assert sharp[5].state == "unknown"  # fusing unit: level -2


@pytest.mark.parametrize(
    ("stem", "index"),
    [("konica", 13), ("konica_c250i", 13), ("utax", 2), ("fujifilmprinter_c7580", 5)],
)
def test_waste_receptacle_at_minus_3_has_space_left(stem, index):
    waste = supplies(stem)[index]
    assert "Waste" in waste.description
    assert (waste.state, waste.consumed, waste.level) == ("some_space_left", False, None)


def test_staples_at_minus_3_have_some_remaining():
    hp = supplies("jetdirect_m880")
    assert [hp[i].state for i in (13, 14, 15)] == ["some_remaining"] * 3


def test_hp_part_numbers():
    hp = supplies("jetdirect_m880")
    assert hp[1].part_number == "CF300A"
    assert hp[10].part_number == "110V-C1N54A, 220V-C1N58A"  # every one the fuser lists
    assert hp[12].description == "Clean Rollers HP None"
    assert hp[12].part_number is None  # "HP None" is no part number
