"""The Scanner against the loopback simulator: what it finds, what it counts, bad input."""

from __future__ import annotations

import pytest
import trio

from printerhq.engine import Scanner, ScanOptions
from printerhq.icmp import Pinger
from printerhq.sim.server import serve_fleet
from printerhq.snmp.client import SnmpClient
from tests.helpers_engine import FIXTURES, LocalResolver, is_printer_recording

NET = "127.93.0"


def fleet_hosts(count: int) -> list[str]:
    return [f"{NET}.{i + 1}" for i in range(count)]


def options(port: int, **extra) -> ScanOptions:
    defaults = dict(port=port, timeout=0.3, retries=0, rate=20_000, collect=False, arp=False)
    defaults.update(extra)
    return ScanOptions(**defaults)


async def scan_all(scanner: Scanner, addresses) -> list:
    async with scanner.scan(addresses) as reports:
        return [report async for report in reports]


@pytest.mark.parametrize("icmp", [True, False], ids=["icmp", "no-icmp"])
async def test_finds_exactly_the_simulated_printers(icmp):
    hosts = fleet_hosts(len(FIXTURES))
    expected = {h for h, path in zip(hosts, FIXTURES, strict=True) if is_printer_recording(path)}
    async with serve_fleet(FIXTURES, hosts) as fleet:
        async with Scanner(options(fleet.port, icmp=icmp)) as scanner:
            pinging = scanner._pinger is not None and scanner._pinger.mode != "off"
            reports = await scan_all(scanner, [f"{NET}.{i}" for i in range(64)])
    assert {r.identity.address for r in reports if r.identity.is_printer} == expected
    assert {r.identity.address for r in reports} == set(hosts)  # every agent, no blanks
    stats = scanner.stats
    assert stats.addresses == stats.completed == 64
    assert stats.responders == len(hosts) and stats.printers == len(expected)
    snmp = stats.by_protocol["snmp"]
    assert snmp.packets_received >= len(hosts) and snmp.packets_sent >= 64
    assert (stats.packets_sent, stats.bytes_sent) == (snmp.packets_sent, snmp.bytes_sent)
    if pinging:
        # Loopback answers ping for every 127/8 address: 64 - agents are "alive, no SNMP".
        assert stats.alive == 64 - len(hosts)
        assert stats.by_protocol["icmp"].packets_sent >= 64 - len(hosts)
    else:
        assert "icmp" not in stats.by_protocol


async def test_collection_runs_for_printers():
    hosts = fleet_hosts(len(FIXTURES))
    async with serve_fleet(FIXTURES, hosts) as fleet:
        async with Scanner(options(fleet.port, collect=True, icmp=False)) as scanner:
            reports = await scan_all(scanner, hosts)
    printers = [r for r in reports if r.identity.is_printer]
    assert printers and all(r.counters or r.supplies for r in printers)


async def test_host_that_drops_icmp_is_found_by_snmp():
    # A pinger that gets no ICMP at all (mode off) stands for a host whose ICMP is dropped.
    hosts = fleet_hosts(3)
    async with serve_fleet(FIXTURES[:3], hosts) as fleet, Pinger(mode="off") as pinger:
        async with Scanner(options(fleet.port), pinger=pinger) as scanner:
            reports = await scan_all(scanner, hosts)
    assert {r.identity.address for r in reports} == set(hosts)


async def test_shared_client_is_used_and_left_open():
    hosts = fleet_hosts(2)
    async with serve_fleet(FIXTURES[:2], hosts) as fleet, SnmpClient(timeout=0.3) as client:
        async with Scanner(options(fleet.port, icmp=False), client=client) as scanner:
            await scan_all(scanner, hosts)
        assert client.stats.packets_sent >= 2
        # Still usable after the Scanner closed.
        async with Scanner(options(fleet.port, icmp=False), client=client) as scanner:
            assert len(await scan_all(scanner, hosts)) == 2


async def test_rate_limit_paces_discovery(autojump_clock):
    # 40 blank addresses, 1 packet each (no ICMP, no retries, one credential), 10 per second,
    # burst 1: the scan cannot finish in less than 3.9 s of (mock) time.
    from printerhq.snmp.credentials import Community

    opts = options(
        1, icmp=False, rate=10, burst=1, timeout=0.01, credentials=[Community(b"public")]
    )
    async with Scanner(opts) as scanner:
        start = trio.current_time()
        await scan_all(scanner, [f"127.94.0.{i}" for i in range(1, 41)])
        assert trio.current_time() - start >= 3.9
    assert scanner.stats.by_protocol["snmp"].packets_sent == 40


async def test_bad_input_is_recorded_and_the_scan_completes():
    hosts = fleet_hosts(3)
    resolver = LocalResolver({"printer.lab.test": hosts[0]})
    trio.socket.set_custom_hostname_resolver(resolver)
    try:
        # hosts[2] answers from another address (the next one of the fleet).
        async with serve_fleet(FIXTURES[:3], hosts, faults={hosts[2]: "other-address"}) as fleet:
            async with Scanner(options(fleet.port, icmp=False)) as scanner:
                reports = await scan_all(
                    scanner,
                    [
                        "printer.lab.test",
                        "no-such-host.lab.test",
                        hosts[1],
                        hosts[2],
                        "127.93.0.200",
                    ],
                )
    finally:
        trio.socket.set_custom_hostname_resolver(None)
    by_address = {r.identity.address: r for r in reports}
    assert not by_address[hosts[0]].errors  # the name resolved and was scanned
    assert by_address["no-such-host.lab.test"].errors[0].startswith("dns:")
    assert "came from" in by_address[hosts[2]].errors[0]
    assert not by_address[hosts[1]].errors
    assert "127.93.0.200" not in by_address  # silent: no report
    assert scanner.stats.completed == 5 and scanner.stats.errors == 2


async def test_repeat_scan_with_memory_costs_a_fraction(tmp_path):
    hosts = [f"{NET}.{i}" for i in (3, 77, 140, 250)]
    addresses = [f"127.93.{b}.{i}" for b in range(4) for i in range(256)]
    async with serve_fleet(FIXTURES[:4], hosts) as fleet:
        costs = []
        for _ in range(2):
            async with Scanner(options(fleet.port, icmp=False, state_dir=tmp_path)) as scanner:
                reports = await scan_all(scanner, addresses)
            assert {r.identity.address for r in reports} == set(hosts)
            costs.append(scanner.stats.by_protocol["snmp"].packets_sent)
    assert costs[1] <= costs[0] // 50
    assert scanner.stats.skipped == len(addresses) - len(hosts)


def test_progress_line_counts_done_found_rate_and_eta():
    import io

    from printerhq.commands.progress import Progress
    from printerhq.model import ScanStats

    stream = io.StringIO()
    progress = Progress(1000, stream)
    line = progress.line(
        ScanStats(addresses=600, completed=400, responders=7, printers=3, skipped=100),
        progress._started + 10.0,
    )
    assert "400/1000 addresses" in line and "100 skipped" in line
    assert "7 answered" in line and "3 printers" in line
    assert "40/s" in line and "ETA 15s" in line
    progress.update(ScanStats(completed=1000), final=True)
    assert stream.getvalue().endswith("\n")


async def test_cli_flags_progress_and_state_dir(tmp_path):
    import json
    import sys

    from tests.helpers_engine import ROOT

    hosts = fleet_hosts(3)
    async with serve_fleet(FIXTURES[:3], hosts) as fleet:
        argv = [
            sys.executable,
            "-m",
            "printerhq",
            "scan",
            f"{NET}.0/28",
            "--port",
            str(fleet.port),
            "--json",
            "--all",
            "--identify-only",
            "--rate",
            "2000",
            "--concurrency",
            "8",
            "--timeout",
            "0.3",
            "--retries",
            "0",
            "--no-icmp",
            "--no-http",
            "--arp",
            "off",
            "--progress",
            "on",
            "--state-dir",
            str(tmp_path),
        ]
        runs = [
            await trio.run_process(argv, capture_stdout=True, capture_stderr=True, cwd=ROOT)
            for _ in range(2)
        ]
    for run in runs:
        assert {r["identity"]["address"] for r in json.loads(run.stdout)} == set(hosts)
    first, second = (run.stderr.decode() for run in runs)
    assert "16/16 addresses" in first and "3 answered" in first
    assert "skipped" in second  # the repeat scan left blank space alone
    assert (tmp_path / "discovery.msgpack").exists()


async def test_scanner_can_be_entered_again():
    hosts = fleet_hosts(2)
    scanner = Scanner(options(0, icmp=True))
    async with serve_fleet(FIXTURES[:2], hosts) as fleet:
        scanner.options.port = fleet.port
        for _ in range(2):
            async with scanner:
                assert len(await scan_all(scanner, hosts)) == 2


async def test_consumer_leaving_early_stops_the_scan(tmp_path):
    hosts = fleet_hosts(3)
    async with serve_fleet(FIXTURES[:3], hosts) as fleet:
        async with Scanner(
            options(fleet.port, icmp=False, state_dir=tmp_path, concurrency=2)
        ) as scanner:
            async with scanner.scan(
                [f"127.93.{b}.{i}" for b in range(4) for i in range(1, 255)]
            ) as reports:
                async for _ in reports:
                    break
            assert scanner.stats.completed < 4 * 254
            # The memory was saved, and the next scan works from it.
            assert (tmp_path / "discovery.msgpack").exists()
            assert len(await scan_all(scanner, hosts)) == 3


class TaskCounter(trio.abc.Instrument):
    def __init__(self) -> None:
        self.spawned = 0

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        self.spawned += 1


@pytest.mark.parametrize("batched", [True, False], ids=["sweep", "per-host"])
async def test_silent_addresses_cost_no_task_with_batched_discovery(batched):
    """Without ping, discovery is one sweep: tasks are spawned for the responders, not for the
    200 silent addresses; the per-host path spawns one (at least) per address."""
    hosts = fleet_hosts(3)
    addresses = hosts + [f"127.93.1.{i}" for i in range(200)]
    async with serve_fleet(FIXTURES[:3], hosts) as fleet:
        async with Scanner(options(fleet.port, icmp=False, batched_discovery=batched)) as scanner:
            counter = TaskCounter()
            trio.lowlevel.add_instrument(counter)
            try:
                reports = await scan_all(scanner, addresses)
            finally:
                trio.lowlevel.remove_instrument(counter)
    assert {r.identity.address for r in reports} == set(hosts)
    assert scanner.stats.completed == len(addresses)
    if batched:
        assert counter.spawned < 20
    else:
        assert counter.spawned >= len(addresses)


@pytest.mark.parametrize("batched", [True, False], ids=["sweep", "per-host"])
async def test_with_icmp_ping_only_addresses_cost_no_task_on_the_sweep(batched):
    """ICMP on: the sweep sends the echoes itself, so an address alive by ping but silent on
    SNMP (every loopback address answers ping) costs no task unless an HTTP probe follows;
    the per-host path spawns a host task and a ping task per address. Both count the same."""
    hosts = fleet_hosts(3)
    addresses = hosts + [f"127.93.2.{i}" for i in range(1, 201)]
    async with serve_fleet(FIXTURES[:3], hosts) as fleet:
        async with Scanner(options(fleet.port, icmp=True, batched_discovery=batched)) as scanner:
            if scanner._pinger is None or scanner._pinger.mode == "off":
                pytest.skip("ICMP off")
            counter = TaskCounter()
            trio.lowlevel.add_instrument(counter)
            try:
                reports = await scan_all(scanner, addresses)
            finally:
                trio.lowlevel.remove_instrument(counter)
    assert {r.identity.address for r in reports} == set(hosts)
    stats = scanner.stats
    assert stats.completed == len(addresses)
    assert stats.alive == len(addresses) - len(hosts)
    assert stats.by_protocol["icmp"].packets_sent >= len(addresses)
    if batched:
        assert counter.spawned < 20
    else:
        assert counter.spawned >= 2 * len(addresses)
