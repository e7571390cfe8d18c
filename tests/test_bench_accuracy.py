"""benchmarks/bench_accuracy.py end to end without FusionInventory: the simulator serves the 25
real recordings on loopback, printerhq reads them over UDP, and every field it is scored on
is right (the script is what docs/metrics.md's comparison table comes from)."""

from __future__ import annotations

import json

import pytest

from benchmarks import bench_accuracy

from .helpers_metrics import LIBRENMS

pytestmark = pytest.mark.skipif(not LIBRENMS.is_dir(), reason="../shared/realdata is absent")


def test_printerhq_reads_every_scored_field_right(tmp_path, capsys):
    out = tmp_path / "scores.json"
    assert bench_accuracy.main(["--no-fusioninventory", "--json", str(out)]) == 0
    scores = json.loads(out.read_text())
    assert set(scores) == set(bench_accuracy.FIELDS)
    for name, tools in scores.items():
        ours = tools["printerhq"]
        assert ours["counted"] > 0, name
        assert ours["right"] == ours["counted"], (name, ours["misses"])
    assert scores["supply levels"]["printerhq"]["counted"] == 144
    assert scores["model"]["printerhq"]["counted"] == 25
    assert "FusionInventory" not in scores["serial"]
    assert "| serial |" in capsys.readouterr().out
