"""``benchmarks/bench_fleet_scale.py --quick`` runs end to end (correctness only; no timings):
the fleet and its history load, the retention finds the history already in its steady shape,
both fleet routes answer, and the meter-read export is measured or said to be unavailable."""

from __future__ import annotations

from benchmarks import bench_fleet_scale


def test_quick_fleet_scale_run(capsys):
    results = bench_fleet_scale.main(["--quick", "--database", "sqlite"])
    r = results["sqlite"]
    assert r["totals"]["devices"] == 250 + 1 - 1  # the history printer is one of the fleet
    assert r["history_readings"] == 96 * 3 + (365 - 3)
    assert r["prune_would_delete"] == 0  # the loaded year is what the default retention keeps
    assert r["per_printer_year"] > 0
    for route in ("fleet page", "devices API"):
        assert r["branch"][route]["bytes"] > 0
    assert set(r["branch"]["meter reads"]) in ({"seconds", "bytes"}, {"unavailable"})
    assert r["ingest"]["stored"] == r["ingest"]["expected"] == 4 * 50
    out = capsys.readouterr().out
    assert "per printer-year" in out and "fleet page" in out and "meter reads" in out
