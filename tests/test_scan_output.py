"""What `printerhq scan` prints, end to end over loopback (our simulator in a process, the real
command line in another): no device string reaches the terminal raw, the table shows every
device that failed in the words of ``--json`` and the scan then exits 1, and the machine formats
(``--format json|ndjson|csv``) with ndjson streamed as devices finish."""

from __future__ import annotations

import csv
import io
import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from .test_cli_scan import ROOT, free_udp_port, printerhq

FIXTURES = ROOT / "fixtures"
# Addresses (round-robin over [hostile HP, Ricoh]): .1 hostile HP, .2 Ricoh, .3 hostile HP
# answering garbage (malformed), .4 Ricoh that never answers (silent).
HOSTILE, RICOH, MALFORMED, SILENT = (f"127.81.0.{i}" for i in (1, 2, 3, 4))

OSC_TITLE = b"\x1b]0;owned\x07"
CSI_CLEAR = b"\x1b[2J"
FORMULA = b'=HYPERLINK("http://evil.example/","click")'


def hostile_recording(directory: Path) -> Path:
    """The HP fixture with escape sequences in sysDescr, a formula in sysLocation and an ESC
    hidden in the hex second line of a supply description (as HP writes long ones)."""
    hex_line = " ".join(f"{b:02X}" for b in CSI_CLEAR + b" HP")
    replace = {
        "1.3.6.1.2.1.1.1.0": b"HP ETHERNET MULTI-ENVIRONMENT,JETDIRECT " + OSC_TITLE,
        "1.3.6.1.2.1.1.6.0": FORMULA + CSI_CLEAR,
        "1.3.6.1.2.1.43.11.1.1.6.1.1": b"Black Cartridge\n" + hex_line.encode(),
    }
    lines = []
    for line in (FIXTURES / "hp_laserjet-pro-m404dn.snmprec").read_text().splitlines():
        oid = line.split("|", 1)[0]
        if oid in replace:
            line = f"{oid}|4x|{replace.pop(oid).hex()}"
        lines.append(line)
    assert not replace, replace  # every object was in the fixture
    path = directory / "hostile.snmprec"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    recording = hostile_recording(tmp_path_factory.mktemp("hostile"))
    port = free_udp_port(HOSTILE)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "printerhq",
            "sim",
            str(recording),
            str(FIXTURES / "ricoh_mp-c3004.snmprec"),
            "--addresses",
            f"{HOSTILE}-{SILENT}",
            "--port",
            str(port),
            "--fault",
            f"malformed@{MALFORMED}",
            "--fault",
            f"silent@{SILENT}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        ready = process.stdout.readline()
        assert ready.startswith("sim: serving"), ready + process.stderr.read()
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def scan(port: int, *targets: str, extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    return printerhq(
        "scan",
        *targets,
        "--port",
        str(port),
        "--timeout",
        "1",
        "--retries",
        "1",
        "--no-icmp",
        "--arp",
        "off",
        *extra,
    )


def raw_controls(text: str) -> list[str]:
    return [ch for ch in text if not ch.isprintable() and ch != "\n"]


def test_table_shows_no_escape_and_every_failed_device(fleet):
    result = scan(fleet, f"{HOSTILE}-{MALFORMED}")
    assert not raw_controls(result.stdout + result.stderr), repr(result.stdout)
    # The collector blanks control characters (after decoding the hex line too); the rest of
    # what the device sent stays visible.
    assert "]0;owned" in result.stdout
    assert "Black Cartridge [2J HP" in result.stdout
    # The failed device is listed with the words --json gives for it, and the scan is no success.
    data = json.loads(scan(fleet, f"{HOSTILE}-{MALFORMED}", extra=("--json",)).stdout)
    [failed] = [r for r in data if r["identity"]["address"] == MALFORMED]
    assert failed["errors"]
    errors_block = result.stdout.split("\nErrors (1 device)\n", 1)[1]
    for error in failed["errors"]:
        # Two scans: the request-id and the simulator's way of breaking the reply differ.
        stable = error.split(" to request ")[0]
        assert "readable reply" in stable
        assert f"  {MALFORMED}  {stable}" in errors_block
    assert result.returncode == 1, result.stderr  # failure: a device could not be read
    assert "1 with errors" in result.stderr


def test_scan_of_healthy_printers_exits_0(fleet):
    result = scan(fleet, f"{HOSTILE}-{RICOH}")
    assert result.returncode == 0, result.stderr
    assert "Errors" not in result.stdout


def test_json_alias_and_format_json_are_one_array(fleet):
    by_alias = scan(fleet, f"{HOSTILE}-{RICOH}", extra=("--json",))
    by_format = scan(fleet, f"{HOSTILE}-{RICOH}", extra=("--format", "json"))
    assert by_alias.returncode == by_format.returncode == 0
    assert not raw_controls(by_alias.stdout)
    first, second = json.loads(by_alias.stdout), json.loads(by_format.stdout)
    assert [r["identity"]["address"] for r in first] == [HOSTILE, RICOH]
    assert [r["identity"]["address"] for r in second] == [HOSTILE, RICOH]
    assert first[0]["identity"]["sys_descr"].endswith("]0;owned")  # ESC, BEL blanked
    assert scan(fleet, HOSTILE, extra=("--json", "--format", "csv")).returncode == 2


def test_ndjson_streams_each_device_before_the_scan_ends(fleet):
    """The first line arrives while a silent address still holds the scan open: 30 s per try,
    4 tries, 2 SNMP versions, so the scan lasts minutes; a loopback printer is read in well
    under a second, and the line has two minutes to come."""
    command = [sys.executable, "-m", "printerhq", "scan", HOSTILE, SILENT]
    command += ["--port", str(fleet), "--timeout", "30", "--retries", "3"]
    command += ["--no-icmp", "--arp", "off", "--format", "ndjson"]
    # Without PYTHONUNBUFFERED a piped stdout is block-buffered: the command must flush.
    env = {key: value for key, value in os.environ.items() if key != "PYTHONUNBUFFERED"}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: lines.put(process.stdout.readline()), daemon=True)
    reader.start()
    try:
        try:
            first = lines.get(timeout=120)
        except queue.Empty:
            pytest.fail("no line in 120 s: the output is held until the scan ends")
        still_scanning = process.poll() is None
    finally:
        process.kill()
        process.communicate(timeout=30)
        reader.join(timeout=30)
    report = json.loads(first)
    assert report["identity"]["address"] == HOSTILE and report["identity"]["is_printer"]
    assert still_scanning


def test_ndjson_is_one_report_per_line(fleet):
    result = scan(fleet, f"{HOSTILE}-{MALFORMED}", extra=("--format", "ndjson"))
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and not raw_controls(result.stdout)
    reports = [json.loads(line) for line in lines]
    assert {r["identity"]["address"] for r in reports} == {HOSTILE, RICOH, MALFORMED}
    assert result.returncode == 1  # the malformed one failed, as with the table


def test_csv_row_per_device_without_formulas(fleet):
    result = scan(fleet, f"{HOSTILE}-{RICOH}", extra=("--format", "csv"))
    assert result.returncode == 0, result.stderr
    assert not raw_controls(result.stdout.replace("\r", ""))
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    by_address = {row["address"]: row for row in rows}
    assert set(by_address) == {HOSTILE, RICOH}
    hostile = by_address[HOSTILE]
    # Formula injection defused: the cell starts with ' (and the ESC was blanked).
    assert hostile["location"].startswith("'=HYPERLINK(")
    assert hostile["location"].endswith('"click") [2J')
    assert hostile["total_pages"] == "48215"
    ricoh = by_address[RICOH]
    assert ricoh["vendor"] == "Ricoh" and ricoh["model"] == "MP C3004"
    assert (ricoh["total_pages"], ricoh["print_pages"], ricoh["copy_pages"]) == (
        "95520",
        "61000",
        "34520",
    )
    # The lowest consumable: Toner Cyan at 10 % (the waste receptacle is not a consumable).
    assert (ricoh["lowest_supply"], ricoh["lowest_supply_percent"]) == ("Toner Cyan", "10")
    for row in rows:
        assert not any(value.startswith(("=", "+", "-", "@")) for value in row.values())
