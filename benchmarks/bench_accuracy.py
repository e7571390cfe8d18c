"""Per-field accuracy on the 25 LibreNMS recordings: printerhq, LibreNMS's expected values and
FusionInventory's ``fusioninventory-netinventory``, side by side.

    python -m benchmarks.bench_accuracy [--realdata DIR] [--no-fusioninventory] [--json FILE]

Every recording is served by ``printerhq sim`` on its own loopback address (127.88.x.y, one
UDP port); printerhq reads each one over SNMP v2c (discovery, then a cold collection) and so
does FusionInventory's netinventory (Debian package ``fusioninventory-agent-task-network``),
one device at a time. LibreNMS's values are the expected ``.json`` it ships beside each
recording (its test data, GPL-3.0, read from ``../shared/realdata/librenms``; never copied).

What each field is scored against (the *reference*):

* **serial, model, firmware**: the value the recording holds, read by hand from its own strings
  (``tests/data/realdata_expected.json``; null where the recording holds none). Models are
  compared without maker names, "series" and case ("HP Color LaserJet M452nw" = "Color
  LaserJet M452nw"), so only a different model counts as wrong; serials and firmware exactly.
* **page counter**: the recording's prtMarkerLifeCount (RFC 3805; the first marker row with
  a non-zero count). printerhq: its counter read from that object; FusionInventory: its
  ``PAGECOUNTERS/TOTAL``; LibreNMS: its count sensor on that object.
* **supply levels**: LibreNMS's expected ``supply_current`` of every non-tray supply (its
  normalisation: percent of the capacity, 50 for -3 "some remaining", -2 dropped). printerhq's
  raw values go through the same normalisation. FusionInventory reports one value per
  consumable kind and colour (``TONERBLACK``, ``WASTETONER``, ...); each supply is matched to
  the key FusionInventory's own rules give it (``Tools/Hardware.pm``: type code, colorant,
  description), and counts as right when that value is within one point (FusionInventory
  truncates, LibreNMS rounds) or is "OK" for a level of -3.

A field is counted for a tool only where the reference has a value; "none" is printed where
the tool reported nothing. Bounded: 25 devices, one netinventory at a time, each with a
60-second limit.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from printerhq.collect import DeviceCache, collect
from printerhq.mib import DISCOVERY_OIDS, identify
from printerhq.mib import decode as dec
from printerhq.model import DeviceReport
from printerhq.sim.recording import Recording
from printerhq.snmp.client import SnmpClient, SnmpError, Target
from printerhq.snmp.credentials import Community
from printerhq.snmp.message import Version
from tests.helpers_metrics import LIBRENMS, LIBRENMS_OS, librenms_level

REPO = Path(__file__).resolve().parents[1]
EXPECTED = REPO / "tests" / "data" / "realdata_expected.json"
SYS_DESCR = (1, 3, 6, 1, 2, 1, 1, 1, 0)
LIFE_COUNT = (1, 3, 6, 1, 2, 1, 43, 10, 2, 1, 4)
SUPPLY_ENTRY = (1, 3, 6, 1, 2, 1, 43, 11, 1, 1)
COLORANT_VALUE = (1, 3, 6, 1, 2, 1, 43, 12, 1, 1, 4)
FIELDS = ("serial", "model", "firmware", "page counter", "supply levels")
TOOLS = ("printerhq", "LibreNMS", "FusionInventory")

# FusionInventory's PrtMarkerSuppliesTypeTC -> consumable key (Tools/Hardware.pm)
FI_TYPES = {
    3: "TONER",
    4: "WASTETONER",
    5: "CARTRIDGE",
    6: "CARTRIDGE",
    8: "WASTETONER",
    9: "DRUM",
    10: "DEVELOPER",
    12: "CARTRIDGE",
    15: "FUSERKIT",
    18: "MAINTENANCEKIT",
    20: "TRANSFERKIT",
    21: "TONER",
    32: "STAPLES",
}
MAKER_WORDS = re.compile(
    r"\b(hp|hewlett-packard|canon|dell|epson|fuji|fujifilm|xerox|konica|minolta|sharp|samsung|"
    r"brother|ricoh|oki|kyocera|lexmark|toshiba|zebra|series)\b",
    re.IGNORECASE,
)


@dataclass
class Score:
    right: int = 0
    counted: int = 0
    misses: list[str] = field(default_factory=list)

    def add(self, ok: bool, what: str) -> None:
        self.counted += 1
        self.right += ok
        if not ok:
            self.misses.append(what)

    def __str__(self) -> str:
        return f"{self.right}/{self.counted}"


# -- references and the tools' readings --------------------------------------------------------


def same_model(a: str | None, b: str | None) -> bool:
    def norm(text: str) -> str:
        return " ".join(MAKER_WORDS.sub(" ", text).lower().split())

    return a is not None and b is not None and norm(a) == norm(b)


def recorded_life_count(recording: Recording) -> int | None:
    counts = [
        vb.value
        for vb in recording.varbinds
        if vb.oid[: len(LIFE_COUNT)] == LIFE_COUNT and isinstance(vb.value, int)
    ]
    return next((c for c in counts if c > 0), counts[0] if counts else None)


def fi_supply_keys(recording: Recording) -> dict[int, str]:
    """The CARTRIDGES key FusionInventory gives each supply row (its rules, restated)."""

    def column(number: int) -> dict[int, object]:
        prefix = SUPPLY_ENTRY + (number, 1)
        return {
            vb.oid[-1]: vb.value
            for vb in recording.varbinds
            if vb.oid[: len(prefix)] == prefix and len(vb.oid) == len(prefix) + 1
        }

    types, colours, descriptions = column(5), column(3), column(6)
    colorants = {
        vb.oid[-1]: vb.value
        for vb in recording.varbinds
        if vb.oid[: len(COLORANT_VALUE) + 1] == COLORANT_VALUE + (1,)
    }
    keys = {}
    for index, raw in descriptions.items():
        text = raw.decode("latin-1") if isinstance(raw, bytes) else str(raw)
        type_id = types.get(index)
        if type_id != 1:
            kind = FI_TYPES.get(type_id) if isinstance(type_id, int) else None
        else:
            kind = (
                "MAINTENANCEKIT"
                if re.search("maintenance", text, re.I)
                else "FUSERKIT"
                if re.search("fuser", text, re.I)
                else "TRANSFERKIT"
                if re.search("transfer", text, re.I)
                else None
            )
        if kind is None:
            continue
        if kind in ("TONER", "DRUM", "CARTRIDGE", "DEVELOPER"):
            colour_id = colours.get(index)
            if colorants and isinstance(colour_id, int) and colour_id:
                name = colorants.get(colour_id)
                if not name:
                    continue
                name = name.decode("latin-1") if isinstance(name, bytes) else str(name)
                colour = name.split()[0] if name.split() else name
            else:
                colour = next(
                    (
                        c
                        for c, pattern in (
                            ("cyan", "cyan"),
                            ("magenta", "magenta"),
                            ("yellow", "yellow|jaune"),
                            ("black", "black|noir"),
                        )
                        if re.search(pattern, text, re.I)
                    ),
                    "black",
                )
            kind += colour.upper()
        keys[index] = kind
    return keys


def fi_matches(value: str | None, expected: float, raw_level: int | None) -> bool:
    if value is None:
        return False
    if value == "OK":
        return raw_level == -3
    try:
        return abs(float(value) - expected) <= 1
    except ValueError:
        return False


@dataclass
class Device:
    name: str
    address: str
    recording: Recording
    expected: dict[str, Any]
    own: dict[str, str | None]
    ours: DeviceReport | None = None
    fi: ET.Element | None = None

    @property
    def librenms(self) -> dict[str, str | None]:
        """LibreNMS's expected device row (hardware, serial, version, os)."""
        device: dict[str, str | None] = self.expected["os"]["discovery"]["devices"][0]
        return device

    @property
    def os_name(self) -> str:
        return self.librenms["os"] or ""


# -- running the tools --------------------------------------------------------------------------


def start_simulator(
    paths: list[Path], subnet: int, cwd: Path | None = None
) -> tuple[subprocess.Popen[str], int]:
    """``printerhq sim`` serving ``paths`` on 127.88.<subnet>.1..N (run from ``cwd``, so a tree
    other than the installed one can be measured); the process and its UDP port."""
    addresses = f"127.88.{subnet}.1-127.88.{subnet}.{len(paths)}"
    process = subprocess.Popen(
        [sys.executable, "-m", "printerhq", "sim", "--addresses", addresses, "--port", "0"]
        + [str(p) for p in paths],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=cwd,
    )
    assert process.stdout is not None
    lines = []
    for line in process.stdout:  # warnings about the recordings, then the ready line
        lines.append(line)
        match = re.search(r"serving .* udp port (\d+)", line)
        if match:
            return process, int(match.group(1))
    process.kill()
    raise SystemExit(f"printerhq sim did not start: {''.join(lines)}")


async def read_ours(devices: list[Device], port: int) -> None:
    async with SnmpClient(timeout=2.0, retries=1) as client:
        for device in devices:
            target = Target(device.address, port, credentials=[Community(b"public", Version.V2C)])
            try:
                identity = identify(device.address, await client.get(target, DISCOVERY_OIDS))
                device.ours = await collect(client, target, DeviceCache(), identity)
            except SnmpError as exc:
                print(f"  printerhq: {device.name}: {exc}", file=sys.stderr)


def read_fusioninventory(device: Device, port: int, binary: str) -> None:
    try:
        completed = subprocess.run(
            [
                binary,
                "--host",
                device.address,
                "--port",
                str(port),
                "--credentials",
                "version:2c,community:public",
                "--timeout",
                "5",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired:
        print(f"  FusionInventory: {device.name}: timed out", file=sys.stderr)
        return
    start = completed.stdout.find("<?xml")
    if start < 0:
        print(f"  FusionInventory: {device.name}: no XML", file=sys.stderr)
        return
    device.fi = ET.fromstring(completed.stdout[start:]).find("CONTENT/DEVICE")


# -- scoring ------------------------------------------------------------------------------------


def fi_text(device: Device, path: str) -> str | None:
    if device.fi is None:
        return None
    node = device.fi.find(path)
    return node.text.strip() if node is not None and node.text else None


def score(devices: list[Device]) -> dict[str, dict[str, Score]]:
    table = {f: {t: Score() for t in TOOLS} for f in FIELDS}
    for d in devices:
        librenms = d.librenms
        ident = d.ours.identity if d.ours else None
        readings = {
            "serial": (
                ident.serial if ident else None,
                librenms.get("serial"),
                fi_text(d, "INFO/SERIAL"),
            ),
            "model": (
                ident.model if ident else None,
                librenms.get("hardware"),
                fi_text(d, "INFO/MODEL"),
            ),
            "firmware": (
                ident.firmware if ident else None,
                librenms.get("version"),
                fi_text(d, "INFO/FIRMWARE"),
            ),
        }
        for name, values in readings.items():
            reference = d.own[name]
            if reference is None:
                continue
            for tool, value in zip(TOOLS, values, strict=True):
                ok = same_model(value, reference) if name == "model" else value == reference
                table[name][tool].add(ok, f"{d.name}: {value!r} (recording: {reference!r})")
        life = recorded_life_count(d.recording)
        if life is not None:
            our_life = next(
                (
                    c.value
                    for c in (d.ours.counters if d.ours else [])
                    if c.source
                    and c.source.startswith("1.3.6.1.2.1.43.10.2.1.4.")
                    and c.name == "total"
                ),
                None,
            )
            sensors = d.expected.get("sensors") or {}
            sensors = sensors.get("discovery", {}).get("sensors", []) if sensors else []
            theirs = next(
                (
                    s["sensor_current"]
                    for s in sensors
                    if s["sensor_oid"].lstrip(".").startswith("1.3.6.1.2.1.43.10.2.1.4.")
                ),
                None,
            )
            fi = fi_text(d, "PAGECOUNTERS/TOTAL")
            for tool, value in zip(TOOLS, (our_life, theirs, fi), strict=True):
                ok = value is not None and int(value) == life
                table["page counter"][tool].add(ok, f"{d.name}: {value!r} (recording: {life})")
        supplies = (d.expected.get("printer-supplies") or {}).get("discovery", {})
        ours_by_index = {s.index: s for s in (d.ours.supplies if d.ours else [])}
        fi_keys = fi_supply_keys(d.recording)
        os_name = d.os_name
        for entry in supplies.get("printer_supplies", []):
            if entry["supply_type"] == "input":
                continue
            index = int(entry["supply_index"])
            expected = float(entry["supply_current"])
            raw = d.recording.get(SUPPLY_ENTRY + (9, 1, index))
            raw_level = raw.value if isinstance(raw.value, int) else None
            supply = ours_by_index.get(index)
            ours = librenms_level(supply, os_name) if supply else None
            key = fi_keys.get(index)
            fi = fi_text(d, f"CARTRIDGES/{key}") if key else None
            what = f"{d.name} #{index} {entry['supply_descr']!r}: LibreNMS {expected:g}"
            table["supply levels"]["printerhq"].add(
                ours is not None and abs(ours - expected) <= 0.51, f"{what}, ours {ours!r}"
            )
            table["supply levels"]["FusionInventory"].add(
                fi_matches(fi, expected, raw_level), f"{what}, FusionInventory {key}={fi!r}"
            )
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--realdata", type=Path, default=LIBRENMS)
    parser.add_argument("--no-fusioninventory", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the scores and misses here")
    parser.add_argument("--misses", action="store_true", help="list every miss")
    args = parser.parse_args(argv)
    if not args.realdata.is_dir():
        print(f"{args.realdata} is absent: nothing to compare (skipped)")
        return 0
    own = json.loads(EXPECTED.read_text())
    paths = sorted(p.with_suffix(".snmprec") for p in args.realdata.glob("*.json"))
    binary = None if args.no_fusioninventory else shutil.which("fusioninventory-netinventory")
    if not args.no_fusioninventory and binary is None:
        print(
            "fusioninventory-netinventory not found (Debian package "
            "fusioninventory-agent-task-network): comparing with LibreNMS only",
            file=sys.stderr,
        )
    subnet = random.randint(1, 254)
    simulator, port = start_simulator(paths, subnet)
    try:
        devices = [
            Device(
                name=path.stem,
                address=f"127.88.{subnet}.{number}",
                recording=Recording.load(path, strict=False),
                expected=json.loads(path.with_suffix(".json").read_text()),
                own=own[path.stem],
            )
            for number, path in enumerate(paths, start=1)
        ]
        trio.run(read_ours, devices, port)
        for device in devices:  # the simulator serves the recordings in the order given
            recorded = device.recording.get(SYS_DESCR)
            if device.ours is not None and not recorded.is_exception:
                served = device.ours.identity.sys_descr
                assert served == dec.text(recorded.tag, recorded.value), device.name
        if binary:
            for device in devices:
                read_fusioninventory(device, port, binary)
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)
    table = score(devices)
    tools = TOOLS if binary else TOOLS[:2]
    vendors = {LIBRENMS_OS[d.os_name][0] for d in devices}
    print(f"{len(devices)} recordings ({', '.join(sorted(vendors))})")
    print()
    print("| field | reference | " + " | ".join(tools) + " |")
    print("|---|---|" + "---|" * len(tools))
    references = {
        "serial": "value in the recording",
        "model": "value in the recording",
        "firmware": "value in the recording",
        "page counter": "prtMarkerLifeCount in the recording",
        "supply levels": "LibreNMS expected level",
    }
    for name in FIELDS:
        cells = " | ".join(
            str(table[name][tool]) if table[name][tool].counted else "(reference)" for tool in tools
        )
        print(f"| {name} | {references[name]} | {cells} |")
    if args.misses:
        for name in FIELDS:
            for tool in tools:
                for miss in table[name][tool].misses:
                    print(f"  {name} / {tool}: {miss}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    name: {
                        tool: {
                            "right": table[name][tool].right,
                            "counted": table[name][tool].counted,
                            "misses": table[name][tool].misses,
                        }
                        for tool in tools
                    }
                    for name in FIELDS
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
