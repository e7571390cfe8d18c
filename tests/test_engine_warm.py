"""Repeat scans of known printers skip discovery: one warm exchange carrying the change
detectors, and the full path (discovery, identification, cold collection) in the same scan when
they show a restart, another device, or silence.

Every scan runs through the real Scanner against the UDP simulator on loopback; exchanges are
counted in the simulator's request log (what the device really received)."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from printerhq.adaptive import STATE_FILE
from printerhq.collect import (
    Collection,
    DeviceCache,
    DeviceChanged,
    collect_in_process,
    collect_known_in_process,
)
from printerhq.engine import Scanner, ScanOptions
from printerhq.mib import DISCOVERY_OIDS, identify
from printerhq.sim.agent import Agent
from printerhq.sim.recording import Recording
from printerhq.sim.server import serve_fleet
from printerhq.snmp.ber import Tag
from printerhq.snmp.message import PduType, Varbind, Version

from .helpers_engine import FIXTURES, is_printer_recording
from .helpers_sim import real_recordings

SYS_UPTIME = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SERIAL = (1, 3, 6, 1, 2, 1, 43, 5, 1, 1, 17, 1)
NET = "127.94.0"
PRINTERS = [p for p in FIXTURES if is_printer_recording(p)]
V2C_PRINTERS = [p for p in PRINTERS if Version.V2C in Recording.load(p).versions]
V1_PRINTERS = [p for p in PRINTERS if Version.V2C not in Recording.load(p).versions]


def fixture(stem: str) -> Path:
    return next(p for p in FIXTURES if p.stem == stem)


def options(port: int, **extra) -> ScanOptions:
    defaults = dict(
        port=port, timeout=0.3, retries=0, rate=20_000, collect=True, arp=False, icmp=False
    )
    defaults.update(extra)
    return ScanOptions(**defaults)


async def scan_one(scanner: Scanner, address: str) -> list:
    with trio.fail_after(30):
        async with scanner.scan([address]) as reports:
            return [report async for report in reports]


def changed(recording: Recording, **values: object) -> Recording:
    """A copy of ``recording`` with some values replaced (``uptime=``, ``serial=``)."""
    replace = {}
    if "uptime" in values:
        replace[SYS_UPTIME] = Varbind(SYS_UPTIME, Tag.TIMETICKS, values["uptime"])
    if "serial" in values:
        replace[SERIAL] = Varbind(SERIAL, Tag.OCTET_STRING, str(values["serial"]).encode())
    varbinds = [replace.get(vb.oid, vb) for vb in recording.varbinds]
    return Recording(recording.name + "-changed", varbinds, recording.versions)


def is_discovery(entry) -> bool:
    return entry.pdu_type == PduType.GET and list(entry.oids) == list(DISCOVERY_OIDS)


def comparable(report) -> dict:
    """What a report says about the device (not when or at what cost)."""
    data = msgspec.to_builtins(report)
    for key in ("scanned_at", "cost", "collection"):
        data.pop(key, None)
    return data


@pytest.mark.parametrize("path", V2C_PRINTERS, ids=lambda p: p.stem)
async def test_second_scan_of_a_known_printer_is_one_exchange(path):
    address = f"{NET}.1"
    async with serve_fleet([path], [address]) as fleet:
        async with Scanner(options(fleet.port)) as scanner:
            [first] = await scan_one(scanner, address)
            assert first.collection == "cold"
            fleet.request_log.clear()
            [second] = await scan_one(scanner, address)
    log = list(fleet.request_log)
    assert len(log) == 1, [(e.pdu_type.name, len(e.oids)) for e in log]
    assert log[0].pdu_type == PduType.GET_BULK
    assert second.cost.requests == 1
    assert second.collection == "warm" and not second.errors
    # The identity is complete: the cached one, with sysUpTime read fresh.
    assert comparable(second) == comparable(first)
    assert second.identity.uptime_ticks == Recording.load(path).get(SYS_UPTIME).value
    assert scanner.stats.printers == 1 and scanner.stats.responders == 1


async def test_v1_printer_skips_discovery_too():
    [path] = V1_PRINTERS
    address = f"{NET}.2"
    async with serve_fleet([path], [address]) as fleet:
        async with Scanner(options(fleet.port)) as scanner:
            [first] = await scan_one(scanner, address)
            fleet.request_log.clear()
            [second] = await scan_one(scanner, address)
    log = list(fleet.request_log)
    assert log and not any(is_discovery(e) for e in log)
    assert {e.pdu_type for e in log} <= {PduType.GET, PduType.GET_NEXT}  # v1: no GETBULK
    assert second.protocol == "snmpv1" and second.collection == "warm"
    assert comparable(second) == comparable(first)


@pytest.mark.parametrize("change", ["reboot", "serial", "uptime-ahead"])
async def test_a_change_falls_back_to_the_full_path_in_the_same_scan(change):
    path = fixture("hp_laserjet-pro-m404dn")
    original = Recording.load(path)
    up = original.get(SYS_UPTIME).value
    modified = {
        "reboot": changed(original, uptime=1234),
        "serial": changed(original, serial="OTHER99999"),
        "uptime-ahead": changed(original, uptime=up + 10**9),
    }[change]
    address = f"{NET}.3"
    async with serve_fleet([original], [address]) as fleet:
        async with Scanner(options(fleet.port)) as scanner:
            await scan_one(scanner, address)
            fleet.agents[address].recording = modified
            fleet.request_log.clear()
            [report] = await scan_one(scanner, address)
            log = list(fleet.request_log)
            # the shortcut's warm request, then discovery and a cold collection
            assert log[0].pdu_type == PduType.GET_BULK and log[0].oids[0] == SYS_UPTIME[:-1]
            assert is_discovery(log[1])
            # A restart or another serial: cold. Uptime ahead with the same serial: discovery
            # decides (the normal path: same device, not restarted, so warm).
            assert report.collection == ("warm" if change == "uptime-ahead" else "cold")
            assert not report.errors
            assert report.identity.uptime_ticks == modified.get(SYS_UPTIME).value
            assert report.identity.serial == modified.get(SERIAL).value.decode()
            # ... and the next scan is the one-exchange shortcut again
            fleet.request_log.clear()
            [again] = await scan_one(scanner, address)
            assert len(fleet.request_log) == 1 and again.collection == "warm"
            assert comparable(again) == comparable(report)


async def test_printer_replaced_by_another_printer_gets_its_new_identity():
    hp, brother = (
        Recording.load(fixture("hp_laserjet-pro-m404dn")),
        Recording.load(fixture("brother_hl-l2350dw")),
    )
    # Same uptime as the old one: only the serial tells them apart.
    replacement = changed(brother, uptime=hp.get(SYS_UPTIME).value)
    address = f"{NET}.4"
    async with serve_fleet([hp, replacement], [address, f"{NET}.5"]) as fleet:
        async with Scanner(options(fleet.port)) as scanner:
            [old] = await scan_one(scanner, address)
            [reference] = await scan_one(scanner, f"{NET}.5")  # the Brother, scanned normally
            fleet.agents[address].recording = replacement
            fleet.request_log.clear()
            [new] = await scan_one(scanner, address)
    assert old.identity.vendor == "HP"
    assert any(is_discovery(e) for e in fleet.request_log)
    assert new.identity.vendor == reference.identity.vendor != "HP"
    assert new.identity.serial == reference.identity.serial
    assert new.collection == "cold"
    expected = comparable(reference)
    expected["identity"]["address"] = address
    assert comparable(new) == expected


async def test_printer_replaced_by_a_switch_is_no_longer_collected():
    hp = Recording.load(fixture("hp_laserjet-pro-m404dn"))
    switch = Recording.load(fixture("cisco_catalyst-2960"))
    address = f"{NET}.6"
    async with serve_fleet([hp], [address]) as fleet:
        async with Scanner(options(fleet.port)) as scanner:
            await scan_one(scanner, address)
            fleet.agents[address].recording = switch
            [report] = await scan_one(scanner, address)
            assert not report.identity.is_printer and report.collection is None
            fleet.request_log.clear()
            [again] = await scan_one(scanner, address)  # discovery, not the shortcut
            assert [is_discovery(e) for e in fleet.request_log] == [True]
            assert not again.identity.is_printer


async def test_gone_device_gives_no_report():
    """A known printer that stops answering: the shortcut's request times out, discovery times
    out too, and the address is silent like any other: no report, nothing stale."""
    address = f"{NET}.7"
    async with serve_fleet([fixture("ricoh_mp-c3004")], [address]) as fleet:
        async with Scanner(options(fleet.port)) as scanner:
            assert len(await scan_one(scanner, address)) == 1
            fleet.agents[address].communities = frozenset({b"not-ours"})  # drops everything
            assert await scan_one(scanner, address) == []
            assert scanner.stats.printers == 0 and scanner.stats.responders == 0
            # the next scan discovers first (the shortcut's state was set aside)
            fleet.agents[address].communities = frozenset({b"public"})
            fleet.request_log.clear()
            [back] = await scan_one(scanner, address)
            assert is_discovery(fleet.request_log[0]) and back.identity.is_printer


async def test_device_cache_survives_a_restart(tmp_path):
    address = f"{NET}.8"
    path = fixture("xerox_versalink-c405")
    async with serve_fleet([path], [address]) as fleet:
        async with Scanner(options(fleet.port, state_dir=tmp_path)) as scanner:
            [first] = await scan_one(scanner, address)
        assert sorted(p.name for p in tmp_path.iterdir()) == [STATE_FILE]
        fleet.request_log.clear()
        async with Scanner(options(fleet.port, state_dir=tmp_path)) as restarted:
            [second] = await scan_one(restarted, address)
    assert len(fleet.request_log) == 1 and second.collection == "warm"
    assert comparable(second) == comparable(first)


async def test_credentials_reconfigured_means_discovery(tmp_path):
    """The shortcut uses the credential remembered by position and protocol; other options
    make it discover first."""
    from printerhq.snmp.credentials import Community

    address = f"{NET}.9"
    async with serve_fleet([fixture("epson_wf-c5790")], [address]) as fleet:
        async with Scanner(options(fleet.port, state_dir=tmp_path)) as scanner:
            await scan_one(scanner, address)
        fleet.request_log.clear()
        v1_only = options(
            fleet.port, state_dir=tmp_path, credentials=[Community(b"public", Version.V1)]
        )
        async with Scanner(v1_only) as scanner:
            [report] = await scan_one(scanner, address)
    assert is_discovery(fleet.request_log[0]) and report.protocol == "snmpv1"


# -- the planner on its own (sans-IO, in-process) -------------------------------------------


def _warm_cache(recording: Recording) -> tuple[DeviceCache, Agent]:
    agent = Agent(recording)
    identity = identify("127.0.0.1", [recording.get(o) for o in DISCOVERY_OIDS])
    cache = DeviceCache()
    collect_in_process(identity, agent.respond, cache, now=1000.0)
    return cache, agent


def test_unknown_or_cold_addresses_do_not_skip_discovery():
    cache, _ = _warm_cache(Recording.load(fixture("kyocera_ecosys-p3145dn")))
    assert Collection.known("127.0.0.2", cache) is None
    state = cache.devices["127.0.0.1"]
    assert Collection.known("127.0.0.1", cache, refresh_every=state.scans_since_refresh) is None
    collection = Collection.known("127.0.0.1", cache)
    assert collection is not None
    request = collection.next_request()
    assert request is not None and request.kind == "bulk"
    # the detectors lead the request: GETNEXT of sysUpTime's and the serial's predecessors
    assert request.oids[0] == (1, 3, 6, 1, 2, 1, 1, 3)
    assert request.oids[1][:-1] == SERIAL[:-1]


def test_stale_collection_refuses_to_report():
    recording = Recording.load(fixture("kyocera_ecosys-p3145dn"))
    cache, _ = _warm_cache(recording)
    before = msgspec.msgpack.encode(cache)
    rebooted = Agent(changed(recording, uptime=5))
    with pytest.raises(DeviceChanged, match="sysUpTime went back"):
        collect_known_in_process("127.0.0.1", rebooted.respond, cache, now=1001.0)
    assert msgspec.msgpack.encode(cache) == before  # nothing of the other answers cached
    collection = Collection.known("127.0.0.1", cache)
    assert collection is not None
    collection.next_request()
    collection.fail("timeout")
    assert collection.stale == "timeout"
    with pytest.raises(RuntimeError):
        collection.report()


@pytest.mark.parametrize(
    "path", [p for p in real_recordings(include_detect_only=False)], ids=lambda p: p.stem
)
def test_real_recordings_known_equals_warm(path):
    """On every real recording, the collection without discovery reports what discovery plus
    a warm collection reports, in the same exchanges as the warm collection alone."""
    recording = Recording.load(path, strict=False)
    version = Version.V2C if Version.V2C in recording.versions else Version.V1
    agent = Agent(recording)
    identity = identify("127.0.0.1", [recording.get(o) for o in DISCOVERY_OIDS])
    if not identity.is_printer:
        pytest.skip("not a printer")
    cache = DeviceCache()
    collect_in_process(identity, agent.respond, cache, version=version, now=1000.0)
    warm = collect_in_process(identity, agent.respond, cache, version=version, now=1001.0)
    known = collect_known_in_process("127.0.0.1", agent.respond, cache, version=version, now=1002.0)
    assert known is not None
    assert comparable(known) == comparable(warm)
    assert known.cost.requests == warm.cost.requests


@settings(deadline=None, max_examples=60)
@given(delta=st.integers(-(10**7), 10**7), elapsed=st.floats(0, 10**5), new_serial=st.booleans())
def test_detectors_property(delta, elapsed, new_serial):
    """A restart (uptime back) or another serial always stops the shortcut; an uptime that moved
    no faster than the clock with the same serial never does, and then the report is what a
    collection after discovery reports."""
    recording = Recording.load(fixture("kyocera_ecosys-p3145dn"))
    up = recording.get(SYS_UPTIME).value
    cache, _ = _warm_cache(recording)  # collected at t = 1000
    values = {"uptime": max(up + delta, 0)}
    if new_serial:
        values["serial"] = "ANOTHER-ONE"
    now_serving = changed(recording, **values)
    agent = Agent(now_serving)
    try:
        report = collect_known_in_process("127.0.0.1", agent.respond, cache, now=1000 + elapsed)
    except DeviceChanged:
        report = None
    if delta < 0 or new_serial:
        assert report is None
    elif delta <= elapsed * 100:
        assert report is not None
        reference, _ = _warm_cache(now_serving)
        identity = identify("127.0.0.1", [now_serving.get(o) for o in DISCOVERY_OIDS])
        warm = collect_in_process(identity, agent.respond, reference, now=1000 + elapsed)
        assert comparable(report) == comparable(warm)


# -- SNMPv3 through a real net-snmp snmpd that looks like a printer ----------------------------

_SERIAL_SCRIPT = """#!/bin/sh
# net-snmp "pass" handler: prtGeneralSerialNumber.1 from a file (RFC 3805), nothing else.
BASE=.1.3.6.1.2.1.43.5.1.1.17
answer() { printf '%s\\nstring\\n%s\\n' "$BASE.1" "$(cat "$(dirname "$0")/serial")"; }
if [ "$1" = "-g" ]; then
    [ "$2" = "$BASE.1" ] && answer
elif [ "$1" = "-n" ]; then
    [ "$2" != "$BASE.1" ] && answer
fi
exit 0
"""


def _start_printerish_snmpd(directory: Path, serial: str, port: int | None = None):
    """snmpd with one SNMPv3 user and a prtGeneralSerialNumber.1 read from ``serial``: enough
    for identification to call it a printer, with a live sysUpTime. (net-snmp caches a pass
    handler's GETNEXT answers, so a new serial is served only by a restarted agent.)"""
    from .helpers_snmpv3 import COMMUNITY, launch_snmpd

    (directory / "persist").mkdir(parents=True, exist_ok=True)
    (directory / "serial").write_text(serial + "\n")
    script = directory / "serial.sh"
    script.write_text(_SERIAL_SCRIPT)
    script.chmod(0o755)
    lines = [
        f"rocommunity {COMMUNITY} 127.0.0.1",
        "createUser warmuser SHA-256 auth-pass-phrase AES priv-pass-phrase",
        "rouser warmuser priv",
        f"pass .1.3.6.1.2.1.43.5.1.1.17 {script}",
    ]
    server = launch_snmpd(directory, lines, port)
    if server is None:
        pytest.skip("snmpd did not start")
    return server


async def test_v3_printer_through_snmpd(tmp_path):
    from .helpers_snmpv3 import snmpd_available

    if not snmpd_available():
        pytest.skip("net-snmp snmpd not installed")
    from printerhq.snmp.usm import AuthProtocol, PrivProtocol, UsmUser
    from printerhq.snmp.v3credential import UsmCredential

    server = _start_printerish_snmpd(tmp_path / "snmpd", "SNMPD-0001")
    try:
        user = UsmUser(
            "warmuser",
            AuthProtocol.SHA256,
            "auth-pass-phrase",
            PrivProtocol.AES,
            "priv-pass-phrase",
        )
        opts = options(server.port, credentials=[UsmCredential(user)], timeout=1.0)
        async with Scanner(opts) as scanner:
            [first] = await scan_one(scanner, "127.0.0.1")
            assert first.identity.is_printer and first.identity.serial == "SNMPD-0001"
            assert first.protocol == "snmpv3/authPriv" and first.collection == "cold"
            [second] = await scan_one(scanner, "127.0.0.1")
            assert scanner.stats.by_protocol["snmp"].packets_sent == 1  # no discovery
            assert second.collection == "warm" and not second.errors
            # a live agent: sysUpTime moved on with the clock, and was read fresh
            assert second.identity.uptime_ticks >= first.identity.uptime_ticks
            assert second.identity.serial == "SNMPD-0001"
            # Another device at the same address: a new agent (new serial, uptime from 0, and
            # SNMPv3 engine boots + 1, time from 0: RFC 3414 section 3.2 step 7).
            server.stop()
            server = _start_printerish_snmpd(server.directory, "SNMPD-0002", server.port)
            [third] = await scan_one(scanner, "127.0.0.1")
            assert scanner.stats.by_protocol["snmp"].packets_sent > 1  # not the shortcut alone
            assert third.identity.serial == "SNMPD-0002" and third.collection == "cold"
            assert not third.errors
    finally:
        server.stop()
