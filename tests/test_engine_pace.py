"""The rate sets a scan's pace: the in-flight bound derived from it, and the sweep's lean
paths (blank space counted in bulk, the producer's fast lane, the CLI's lazy imports)."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import trio
import trio.testing

from printerhq.commands.scan import build_options, register
from printerhq.engine import Scanner, ScanOptions
from printerhq.mib.identify import DISCOVERY_OIDS
from printerhq.scan.dispatch import MAX_SWEEP_BATCH, sweep_batch
from printerhq.scan.options import MAX_IN_FLIGHT, in_flight_for
from printerhq.snmp.credentials import Community
from printerhq.snmp.message import Version
from printerhq.sweep import DiscoverySweep, Silent, discovery_templates
from printerhq.targets import parse_targets
from printerhq.tokenbucket import DEFAULT_BURST


def test_in_flight_is_rate_times_the_time_an_address_is_held_per_packet():
    # One try: rate x timeout (with the headroom and a burst on top).
    assert in_flight_for(20_000, 0.5, 0) == math.ceil(20_000 * 0.5 * 1.1) + DEFAULT_BURST
    # Two tries, waits 1 s and 2 s, two packets: 3 s per 2 packets.
    assert in_flight_for(500, 1.0, 1) == math.ceil(500 * 3.0 / 2 * 1.1) + DEFAULT_BURST
    assert in_flight_for(1e6, 5.0, 0) == MAX_IN_FLIGHT  # bounded, however fast
    assert in_flight_for(1e-3, 0.001, 0) >= 1
    rates = [100, 500, 2_000, 20_000, 100_000]
    bounds = [in_flight_for(r, 1.0, 1) for r in rates]
    assert bounds == sorted(bounds)


def test_scan_options_derive_the_bound_unless_it_is_set():
    derived = ScanOptions(rate=20_000, timeout=0.5, retries=0)
    assert derived.concurrency is None
    assert derived.in_flight == in_flight_for(20_000, 0.5, 0)
    assert ScanOptions(rate=20_000, concurrency=64).in_flight == 64
    with pytest.raises(ValueError):
        ScanOptions(concurrency=0)


def test_the_command_line_leaves_the_bound_to_the_rate():
    import argparse

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["scan", "127.0.0.1", "--rate", "20000", "--timeout", "0.5"])
    options = build_options(args)
    assert options.concurrency is None and options.in_flight > 10_000
    args = parser.parse_args(["scan", "127.0.0.1", "--concurrency", "77"])
    assert build_options(args).in_flight == 77


def test_sweep_batches_hold_a_millisecond_of_tokens_at_most():
    assert sweep_batch(500, 32) == 32  # the burst, as before
    assert sweep_batch(200_000, 32) == 200
    assert sweep_batch(1e9, 32) == MAX_SWEEP_BATCH


def _sweep(count_blank: bool, noted=(), retries: int = 1) -> DiscoverySweep:
    templates, decoders = discovery_templates([Community(b"public")], DISCOVERY_OIDS)
    return DiscoverySweep(
        templates,
        decoders,
        timeout=1.0,
        retries=retries,
        capacity=16,
        count_blank=count_blank,
        noted=noted,
    )


def _run_silent(sweep: DiscoverySweep, addresses: list) -> list:
    for address in addresses:
        sweep.add(address)
    events = []
    now = 0.0
    for _ in range(10):  # first sends, re-sends, end of schedule
        sweep.expire(now)
        sent = sweep.datagrams(now, 100)
        for request_id, address, _data in sent:
            if address == "elsewhere":
                sweep.receive(request_id, b"", ("another", 1))
        events += sweep.events()
        now += 5.0
    return events


@pytest.mark.parametrize("retries", [0, 1])  # 0: the quick path of expire()
def test_blank_space_is_counted_not_dispatched(retries):
    addresses = ["a", "b", "c", "elsewhere", "noted"]
    counted = _sweep(True, noted={"noted"}, retries=retries)
    events = _run_silent(counted, addresses)
    # Plain silence is only counted; what has more to say stays an event.
    assert counted.blank == 3 and counted.size == 0 and counted.timeouts == 5
    assert sorted(e.address for e in events) == ["elsewhere", "noted"]
    assert all(isinstance(e, Silent) for e in events)
    assert next(e for e in events if e.address == "elsewhere").answered_from == ("another", 1)
    everything = _sweep(False, retries=retries)
    events = _run_silent(everything, addresses)
    assert everything.blank == 0 and len(events) == 5
    # every try, computed from the schedule
    assert all(e.requests == retries + 1 for e in events)


async def _scan_blank(options: ScanOptions, network: str) -> tuple[float, int]:
    started = trio.current_time()
    async with Scanner(options) as scanner:
        async with scanner.scan(parse_targets(network).addresses()) as reports:
            assert [r async for r in reports] == []
    assert scanner.stats.completed == scanner.stats.addresses
    return trio.current_time() - started, scanner.stats.addresses


@pytest.mark.parametrize("concurrency", [None, 1024])
def test_the_rate_not_the_bound_sets_the_pace(concurrency):
    """8,192 blank loopback addresses at 20,000 packets/s and a 0.5 s timeout, on a mock
    clock: about 0.4 s of sending plus one timeout with the derived bound; with 1,024 in
    flight the bound paces it (8 rounds of 0.5 s), as every scan did before."""
    options = ScanOptions(
        port=9,  # nothing listens there: every address is blank
        credentials=[Community(b"public", Version.V1)],
        timeout=0.5,
        retries=0,
        rate=20_000,
        concurrency=concurrency,
        collect=False,
        icmp=False,
        arp=False,
    )
    clock = trio.testing.MockClock(autojump_threshold=0)
    elapsed, addresses = trio.run(_scan_blank, options, "127.97.0.0/19", clock=clock)
    assert addresses == 8192
    send_time = 8192 / 20_000
    if concurrency is None:
        assert elapsed < send_time + 0.5 + 0.3
    else:
        assert elapsed >= 8192 / 1024 * 0.5


def test_a_scan_imports_neither_the_uplink_nor_cryptography():
    """The CLI imports only the command it runs, and a scan without --upload or SNMPv3
    privacy leaves the uplink and cryptography unloaded (about 13 MB of memory)."""
    code = (
        "import sys\n"
        "from printerhq import cli\n"
        "try:\n"
        "    cli.main(['scan', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "loaded = [m for m in ('printerhq.uplink', 'cryptography', 'printerhq.server.app',"
        " 'httpx', 'hypercorn') if m in sys.modules]\n"
        "print('LOADED=' + ','.join(loaded))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.splitlines()[-1] == "LOADED="
