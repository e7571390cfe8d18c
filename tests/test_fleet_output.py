"""``printerhq fleet`` prints what the server stores, and the server stores what agents sent:
every string is made safe for the terminal, in the table, the history and every --format."""

from __future__ import annotations

import argparse
import csv
import io
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from printerhq.commands import fleet
from printerhq.model import to_builtins

from .test_render import _hostile_report

HOSTILE = "\x1b]0;owned\x07\x1b[2J\x9b31m\u202eevil\nforged line"


class StoredFleet:
    """Answers as the REST API does, from rows holding hostile strings (stored before the
    server validated uploads, or by an agent that sent them)."""

    def __init__(self) -> None:
        report = to_builtins(_hostile_report())
        self.row = {"id": 7, "address": "10.0.0.9", "serial": HOSTILE, "model": HOSTILE}
        self.stored = {"device_id": 7, "scanned_at": 1.7e9, "received_at": 1.7e9, "report": report}

    async def devices(self) -> list[dict[str, Any]]:
        return [self.row]

    async def latest(self, device_id: int) -> dict[str, Any]:
        return self.stored

    async def counters(self, device_id: int, **_: Any) -> list[dict[str, Any]]:
        return [{"scanned_at": 1.7e9, "name": HOSTILE, "value": HOSTILE}]

    async def supplies(self, device_id: int, **_: Any) -> list[dict[str, Any]]:
        return [{"scanned_at": 1.7e9, "description": HOSTILE, "percent": 74.5}]


@pytest.fixture
def stored(monkeypatch):
    @asynccontextmanager
    async def open_client(*args: Any, **kwargs: Any) -> AsyncIterator[StoredFleet]:
        yield StoredFleet()

    monkeypatch.setattr(fleet, "open_fleet_client", open_client)


def run_fleet(capsys, *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    fleet.register(parser.add_subparsers())
    args = parser.parse_args(["fleet", "--server", "https://hq.invalid", "--token", "t", *argv])
    code = args.func(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def raw_controls(text: str) -> list[str]:
    return [ch for ch in text if not ch.isprintable() and ch != "\n"]


@pytest.mark.parametrize(
    "argv", [(), ("--history",), ("--json",), ("--format", "ndjson"), ("--format", "csv")]
)
def test_fleet_prints_no_escape_sequence(stored, capsys, argv):
    code, out, err = run_fleet(capsys, *argv)
    assert code == 0, err
    assert out and not raw_controls(out + err), repr(out)


def test_fleet_table_keeps_the_text_visible_and_lines_its_own(stored, capsys):
    _, out, _ = run_fleet(capsys, "--history")
    assert "\\x1b]0;owned\\x07" in out
    assert not any(line.startswith("forged line") for line in out.splitlines())
    assert "75" in out.split("history of device", 1)[1]  # 74.5 % rounded once, half up


def test_fleet_json_is_lossless(stored, capsys):
    _, out, _ = run_fleet(capsys, "--json")
    [entry] = json.loads(out)
    assert entry["serial"] == HOSTILE
    assert entry["latest"]["report"]["identity"]["model"].startswith("\x1b]0;owned")


def test_fleet_csv_one_row_per_device(stored, capsys):
    _, out, _ = run_fleet(capsys, "--format", "csv")
    [row] = list(csv.DictReader(io.StringIO(out)))
    assert row["address"] == "10.0.0.9" and row["model"].startswith("\\x1b]0;owned")
