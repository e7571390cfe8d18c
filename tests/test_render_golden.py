"""Golden tests: the human output of ``printerhq scan`` for four kinds of device, collected from
our own recordings in ``fixtures/`` and compared line by line with ``tests/golden/*.txt``.

The golden files were read by eye (see docs/scan-output.md for what a technician should see).
When a deliberate change alters the output, regenerate them and review the diff before
committing: ``PRINTERHQ_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_render_golden.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from printerhq.render import render_reports

from .helpers_metrics import FIXTURES, collect_path

GOLDEN = Path(__file__).parent / "golden"
DEVICES = {
    "colour_mfp": "ricoh_mp-c3004",
    "mono_laser": "hp_laserjet-pro-m404dn",
    "label_printer": "zebra_zd421",
    "inkjet": "epson_wf-c5790",
}


def rendered(recording: str) -> str:
    report, _ = collect_path(FIXTURES / f"{recording}.snmprec")
    # The SNMP cost line depends on how the collection was planned, not on what is shown.
    lines = [
        line for line in render_reports([report]).splitlines() if not line.startswith(" SNMP:")
    ]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("kind", sorted(DEVICES))
def test_human_output_matches_the_golden_file(kind):
    text = rendered(DEVICES[kind])
    path = GOLDEN / f"{kind}.txt"
    if os.environ.get("PRINTERHQ_UPDATE_GOLDEN"):
        path.write_text(text)
    assert path.read_text().splitlines() == text.splitlines()
