"""DiscoveryMemory: which addresses a scan probes, and the state that survives restarts."""

from __future__ import annotations

import ipaddress
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from printerhq.adaptive import STATE_FILE, DiscoveryMemory, DiscoveryPolicy

BASE = int(ipaddress.IPv4Address("10.20.0.0"))


def one_scan(
    memory: DiscoveryMemory, addresses, answering: dict[int, str], now: float
) -> list[int]:
    """Run one scan over `addresses`; returns the probed ones."""
    memory.begin_scan(now)
    probed = []
    for address in addresses:
        if memory.should_probe(address):
            probed.append(address)
            memory.record(address, answering.get(address))
    memory.end_scan()
    return probed


def test_blank_space_backs_off_and_printers_are_probed_every_scan():
    subnet = range(BASE, BASE + 4096)  # a /20: 16 blocks
    printers = {BASE + 7: "printer", BASE + 3000: "printer"}
    memory = DiscoveryMemory()
    counts = [len(one_scan(memory, subnet, printers, now=i * 60.0)) for i in range(40)]
    assert counts[0] == 4096
    assert counts[1] == len(printers)  # right after the first scan: only the known ones
    # Every scan probes the printers; blank space comes back at most every 16th scan.
    assert all(c >= len(printers) for c in counts)
    assert sum(counts[1:]) < 4 * 4096  # vs 39 * 4096 without memory
    tail = counts[24:]  # steady state: each block once per 16 scans
    assert sum(tail) - len(tail) * len(printers) == pytest.approx(len(tail) / 16 * 4094, rel=0.5)


def test_every_blank_address_is_probed_within_the_cap():
    policy = DiscoveryPolicy(max_interval_scans=8)
    memory = DiscoveryMemory(policy=policy)
    subnet = list(range(BASE, BASE + 1024))
    last_probe = {a: 0 for a in subnet}
    for scan in range(1, 60):
        for address in one_scan(memory, subnet, {}, now=float(scan)):
            last_probe[address] = scan
        assert all(scan - last <= 8 for last in last_probe.values())


def test_time_cap_forces_a_probe():
    memory = DiscoveryMemory(policy=DiscoveryPolicy(max_interval_seconds=3600))
    subnet = range(BASE, BASE + 256)
    one_scan(memory, subnet, {}, now=0.0)
    assert one_scan(memory, subnet, {}, now=60.0) == []
    assert len(one_scan(memory, subnet, {}, now=60.0 + 3600)) == 256


def test_new_device_in_blank_space_is_found_and_its_block_watched_again():
    memory = DiscoveryMemory()
    subnet = range(BASE, BASE + 256)
    for i in range(10):
        one_scan(memory, subnet, {}, now=float(i))
    newcomer = {BASE + 99: "printer"}
    scans = 0
    while BASE + 99 not in memory.known:
        scans += 1
        one_scan(memory, subnet, newcomer, now=100.0 + scans)
        assert scans <= 16
    # Found: the block is back to being probed on the very next scan.
    assert len(one_scan(memory, subnet, newcomer, now=500.0)) == 256


def test_silent_responder_is_forgotten_after_three_scans():
    memory = DiscoveryMemory(policy=DiscoveryPolicy(forget_after=3))
    one_scan(memory, [BASE + 1], {BASE + 1: "snmp"}, 0.0)
    assert memory.kind_of(BASE + 1) == "snmp"
    for i in range(2):
        assert one_scan(memory, [BASE + 1], {}, float(i + 1)) == [BASE + 1]
    assert memory.kind_of(BASE + 1) == "snmp"
    one_scan(memory, [BASE + 1], {}, 3.0)
    assert memory.kind_of(BASE + 1) is None


def test_cancelled_scan_does_not_advance_backoff():
    memory = DiscoveryMemory()
    subnet = list(range(BASE, BASE + 256))
    one_scan(memory, subnet, {}, 0.0)
    for i in range(1, 8):  # let the block back off
        one_scan(memory, subnet, {}, float(i))
    # A scan that probes half of a due block and is cancelled:
    memory.begin_scan(100.0)
    due = [a for a in subnet if memory.should_probe(a)]
    for address in due[: len(due) // 2]:
        memory.record(address, None)
    memory.end_scan(complete=False)
    if due:
        memory.begin_scan(101.0)
        assert all(memory.should_probe(a) for a in due[len(due) // 2 :])


def test_ipv6_and_hostnames_are_always_probed():
    memory = DiscoveryMemory()
    memory.begin_scan(0.0)
    memory.record("2001:db8::1", None)
    memory.end_scan()
    memory.begin_scan(1.0)
    assert memory.should_probe("2001:db8::1")
    assert memory.should_probe("printer.example")


def test_state_survives_restart_and_is_compact(tmp_path):
    memory = DiscoveryMemory.load(tmp_path)
    subnet = range(BASE, BASE + 65536)  # a /16 of blanks and two printers
    printers = {BASE + 5: "printer", BASE + 40000: "snmp"}
    one_scan(memory, subnet, printers, 0.0)
    memory.save()
    assert len(memory.blocks) == 256 and len(memory.known) == 2
    size = (tmp_path / STATE_FILE).stat().st_size
    assert size < 20_000  # 256 blocks of 35 bytes, not 65,536 entries
    again = DiscoveryMemory.load(tmp_path)
    assert again.kind_of(BASE + 5) == "printer" and again.kind_of(BASE + 40000) == "snmp"
    assert one_scan(again, subnet, printers, 60.0) == sorted(printers)


def test_damaged_state_file_means_a_fresh_start(tmp_path):
    (tmp_path / STATE_FILE).write_bytes(b"\x93garbage")
    memory = DiscoveryMemory.load(tmp_path)
    assert memory.known == {} and memory.blocks == {}


def test_save_is_atomic(tmp_path, monkeypatch):
    memory = DiscoveryMemory.load(tmp_path)
    one_scan(memory, range(BASE, BASE + 10), {BASE: "printer"}, 0.0)
    memory.save()
    before = (tmp_path / STATE_FILE).read_bytes()

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    one_scan(memory, range(BASE, BASE + 10), {BASE + 1: "printer"}, 1.0)
    with pytest.raises(OSError):
        memory.save()
    assert (tmp_path / STATE_FILE).read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [STATE_FILE]  # no temporary left behind


def test_bounds_evict_oldest():
    memory = DiscoveryMemory(policy=DiscoveryPolicy(max_known=10, max_blocks=4))
    one_scan(memory, range(BASE, BASE + 256 * 8), {BASE + i: "snmp" for i in range(20)}, 0.0)
    assert len(memory.known) == 10 and len(memory.blocks) == 4


@settings(deadline=None, max_examples=50)
@given(
    st.lists(
        st.tuples(st.integers(0, 1023), st.sampled_from([None, "printer", "snmp"])), max_size=300
    ),
    st.integers(1, 30),
)
def test_known_responders_are_never_skipped(events, scans):
    memory = DiscoveryMemory()
    subnet = range(BASE, BASE + 1024)
    answering: dict[int, str] = {}
    for offset, kind in events:
        if kind:
            answering[BASE + offset] = kind
    for i in range(scans):
        probed = set(one_scan(memory, subnet, answering, float(i)))
        assert set(answering) <= probed
