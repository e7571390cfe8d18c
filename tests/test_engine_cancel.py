"""Cancelling a scan at any point leaves no task, no socket and no half-written state.

The scan is cancelled after k task steps for many k (a trio Instrument counts the steps), from
the very first step to past the end, against a live loopback fleet with ICMP and a discovery
memory on disk; after each run the living tasks and the open file descriptors are back to their
baseline and the state file decodes.
"""

from __future__ import annotations

import gc

import pytest
import trio
import trio.testing

from printerhq.adaptive import STATE_FILE, DiscoveryMemory
from printerhq.engine import Scanner, ScanOptions
from printerhq.sim.server import serve_fleet
from tests.helpers_engine import FIXTURES, open_fds, run_cancelled_after

HOSTS = [f"127.95.0.{i}" for i in range(1, 6)]
ADDRESSES = [f"127.95.{b}.{i}" for b in range(2) for i in range(1, 40)]


def options(port: int, state_dir, http: bool = False) -> ScanOptions:
    # ICMP on: loopback answers ping for every address, so with http=True every silent
    # address also gets an HTTP probe (refused at once: nothing listens on port 80 there).
    return ScanOptions(
        port=port,
        timeout=0.2,
        retries=1,
        rate=50_000,
        collect=True,
        arp=False,
        state_dir=state_dir,
        http=http,
    )


STEPS = [
    1,
    2,
    3,
    5,
    8,
    13,
    21,
    34,
    55,
    89,
    144,
    233,
    377,
    610,
    987,
    1597,
    2584,
    4181,
    6765,
    10946,
    50_000,
]


@pytest.mark.parametrize("http", [False, True], ids=["snmp-icmp", "snmp-icmp-http"])
@pytest.mark.parametrize(
    "scanner_inside", [True, False], ids=["scanner-cancelled", "scan-cancelled"]
)
async def test_cancel_at_many_points(tmp_path, scanner_inside, http):
    async with serve_fleet(FIXTURES[:5], HOSTS) as fleet:
        outer = None if scanner_inside else Scanner(options(fleet.port, tmp_path / "outer", http))
        if outer is not None:
            await outer.__aenter__()
            # The shared SNMP socket (and its receive task) opens lazily on first use and
            # belongs to the Scanner: open it before taking the baseline.
            async with outer.scan(HOSTS[:1]) as reports:
                assert len([r async for r in reports]) == 1
        try:
            await trio.testing.wait_all_tasks_blocked()
            baseline_tasks = trio.lowlevel.current_statistics().tasks_living
            gc.collect()  # files an earlier test left to the collector close now, not mid-test
            baseline_fds = open_fds()
            finished = 0
            for steps in STEPS:
                state_dir = tmp_path / f"k{steps}"

                async def body(state_dir=state_dir) -> None:
                    if outer is None:
                        async with Scanner(options(fleet.port, state_dir, http)) as scanner:
                            async with scanner.scan(ADDRESSES) as reports:
                                async for _ in reports:
                                    pass
                    else:
                        outer.memory = DiscoveryMemory.load(state_dir)
                        async with outer.scan(ADDRESSES) as reports:
                            async for _ in reports:
                                pass

                finished += await run_cancelled_after(steps, body)
                await trio.testing.wait_all_tasks_blocked()
                assert trio.lowlevel.current_statistics().tasks_living == baseline_tasks, steps
                assert open_fds() == baseline_fds, steps
                state = state_dir / STATE_FILE
                if state.exists():  # old or new, never half-written
                    DiscoveryMemory.load(state_dir)
                    assert [p.name for p in state_dir.iterdir()] == [STATE_FILE]
            # The largest k lets the scan finish: the sweep covered both ends.
            assert finished >= 1
            assert finished < len(STEPS)
        finally:
            if outer is not None:
                await outer.__aexit__(None, None, None)
