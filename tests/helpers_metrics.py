"""Helpers for the metrics tests: collect a recording in-process, and LibreNMS's normalisation.

The LibreNMS expectations (GPL-3.0 data) are read from ``../shared/realdata`` at test time and
never copied here. The normalisation functions restate, in our terms, the rules described in
``shared/realdata/librenms/SOURCE.md`` (from LibreNMS's PrinterSupplies.php and the count/state
sensor discovery) so our raw values can be compared with what LibreNMS stores.
"""

from __future__ import annotations

from pathlib import Path

from printerhq.collect import DeviceCache, collect_in_process
from printerhq.mib import DISCOVERY_OIDS, identify
from printerhq.model import DeviceReport, Identity, InputTray, Supply
from printerhq.sim.agent import Agent
from printerhq.sim.recording import Recording
from printerhq.snmp.message import Version

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures"
REALDATA = REPO.parent / "shared" / "realdata"
LIBRENMS = REALDATA / "librenms"

# LibreNMS os name -> (our vendor, our brand or None)
LIBRENMS_OS = {
    "jetdirect": ("HP", None),
    "brother": ("Brother", None),
    "canonprinter": ("Canon", None),
    "dell-laser": ("Dell", None),
    "epson": ("Epson", None),
    "epson-scanner": ("Epson", None),
    "fujifilmprinter": ("Xerox", "Fujifilm"),
    "xerox": ("Xerox", None),
    "konica": ("Konica Minolta", None),
    "developprinter": ("Konica Minolta", "Develop"),
    "okilan": ("OKI", None),
    "ricoh": ("Ricoh", None),
    "gestetner": ("Ricoh", "Gestetner"),
    "lanier": ("Ricoh", "Lanier"),
    "nrg": ("Ricoh", "NRG"),
    "savin": ("Ricoh", "Savin"),
    "samsungprinter": ("Samsung", None),
    "sharp": ("Sharp", None),
    "utax": ("Kyocera", "UTAX"),
    "kyocera": ("Kyocera", None),
    "lexmarkprinter": ("Lexmark", None),
    "toshiba-tec": ("Toshiba", None),
    "tsc": ("TSC", None),
    "zebra": ("Zebra", None),
}


def load(path: Path) -> tuple[Recording, Agent, Version]:
    recording = Recording.load(path, strict=False)
    agent = Agent(recording)
    version = Version.V2C if Version.V2C in recording.versions else Version.V1
    return recording, agent, version


def discover(recording: Recording, address: str = "127.0.0.1") -> Identity:
    """What discovery's single GET would learn (answered straight from the recording)."""
    return identify(address, [recording.get(oid) for oid in DISCOVERY_OIDS])


def collect_path(path: Path, cache: DeviceCache | None = None) -> tuple[DeviceReport, Agent]:
    recording, agent, version = load(path)
    report = collect_in_process(discover(recording), agent.respond, cache, version=version)
    return report, agent


# --- LibreNMS normalisation of our raw values --------------------------------------------


def librenms_capacity(supply: Supply) -> int:
    """supply_capacity: the raw max capacity, 100 when missing, zero or negative."""
    return supply.capacity if supply.capacity and supply.capacity > 0 else 100


def librenms_level(supply: Supply, os: str) -> int | None:
    """supply_current; None where LibreNMS drops the supply (level -2, unknown)."""
    if supply.state in ("some_remaining", "some_space_left"):
        return 50
    if supply.state == "unknown":
        return None
    if supply.state == "unlimited" and supply.level is None:
        return 0
    if supply.state == "coarse" and os == "brother":
        return round(supply.percent) if supply.percent is not None else None
    if supply.level is None:
        return None
    return round(supply.level * 100 / librenms_capacity(supply))


def librenms_tray_level(tray: InputTray) -> float | None:
    if tray.state == "unknown":
        return None
    if tray.state in ("some_remaining", "some_space_left"):
        return 50
    if tray.level is None:
        return None
    if not tray.capacity:
        return None
    return tray.level / tray.capacity * 100


HR_DEVICE_STATUS_CODES = {"unknown": 1, "running": 2, "warning": 3, "testing": 4, "down": 5}
FIRST_OCTET_FLAGS = (
    "lowPaper",
    "noPaper",
    "lowToner",
    "noToner",
    "doorOpen",
    "jammed",
    "offline",
    "serviceRequested",
)


def librenms_error_state(flags: list[str]) -> int:
    """LibreNMS's one-number hrPrinterDetectedErrorState: first-octet bit + 1, 0 for none."""
    first = [FIRST_OCTET_FLAGS.index(f) for f in flags if f in FIRST_OCTET_FLAGS]
    if not first:
        return 0
    if len(first) > 1:
        return 9
    return first[0] + 1
