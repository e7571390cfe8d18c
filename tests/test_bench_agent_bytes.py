"""benchmarks/bench_agent_bytes.py in a tiny configuration (1 printer, 2 warm agent cycles, one
cold and one warm one-shot), for the structural truths its table rests on. Real processes in a
network-namespace lab; skipped when not root. No timing assertions.
"""

from __future__ import annotations

import pytest

from benchmarks import bench_agent_bytes as bench
from tests.netns_lab import list_namespaces


@pytest.fixture(scope="module")
def results() -> dict:
    reason = bench.skip_reason()
    if reason:
        pytest.skip(reason)
    before = set(bench.CREATED_NAMESPACES)
    out = bench.measure(printers=1, cycles=2, repeats=1, interval=2.0, settle=0.5)
    out["namespaces"] = bench.CREATED_NAMESPACES - before
    return out


def test_the_lab_is_torn_down(results: dict) -> None:
    assert len(results["namespaces"]) == 2
    assert not results["namespaces"] & set(list_namespaces())


def test_agent_keeps_one_stream_and_counts_every_cycle(results: dict) -> None:
    agent = results["agent"]
    assert agent["exit"] == 0
    assert agent["first"]["connections"] == 1  # the stream, opened once
    assert agent["first"]["upload"] > 0 and agent["first"]["snmp"] > 0
    assert len(agent["periods"]) == 2
    assert agent["warm_reports"] == 2  # the server took the printer's report at every warm cycle
    for period, status in zip(agent["periods"], agent["statuses"], strict=True):
        assert status["kind"] == "warm" and status["printers"] == 1
        assert period["connections"] == 0  # no new TCP connection: the open stream carried it
        assert period["snmp"] > 0 and period["upload"] > 0
        # The protocol split never exceeds what the interface counted.
        assert period["other"] >= 0
        assert period["total"] >= period["snmp"] + period["upload"]


def test_warm_cycle_costs_less_than_a_one_shot(results: dict) -> None:
    [cold] = results["one_shot_cold"]
    [warm] = results["one_shot_warm"]
    for run in (cold, warm):
        assert run["printers"] == 1
        assert run["connections"] >= 1  # a new process opens a new TLS connection
        assert run["other"] >= 0
    # A known printer costs less SNMP than a cold discovery of it.
    assert warm["snmp"] < cold["snmp"]
    rows = {row["run"].split(" (")[0]: row for row in bench.summarize(results)}
    agent_warm = rows["agent: warm cycle"]
    assert agent_warm["total"] < rows["scan --upload: cold"]["total"]
    assert agent_warm["total"] < rows["scan --upload: warm repeat"]["total"]
    # The one-shot pays a TLS handshake the open stream does not.
    assert agent_warm["upload"] < rows["scan --upload: warm repeat"]["upload"]
    assert agent_warm["per_printer"] == agent_warm["total"]  # one printer
    assert "agent: warm cycle" in bench.render(results)
