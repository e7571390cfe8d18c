"""benchmarks/bench_bytes.py reduced (two scenarios, three agent cycles, no FusionInventory), and
the ARP waste of issue 12 in the same lab. Root and network namespaces only (skips otherwise).

Asserted: the JSON contract, that every printer is found, and byte figures that do not depend on
timing: one ARP request per blank address, none from the kernel for a printer the sweep found,
nothing but ARP for a blank address, and the issue's targets for a /24 with one printer (cold
at most 25% and warm at most 10% of its 96,300 B budget: far from the line, unlike the one-
printer scenario whose TLS handshake puts it near its budget). No timing assertions.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks import bench_bytes as bench
from tests.netns_lab import list_namespaces

ARP_FRAME = 42
SCENARIOS = ["blank_ip", "subnet_one_printer"]


@pytest.fixture(scope="module")
def lab() -> Iterator[tuple[bench.BytesLab, Path]]:
    reason = bench.skip_reason()
    if reason:
        pytest.skip(reason)
    before = set(bench.CREATED_NAMESPACES)
    with tempfile.TemporaryDirectory(prefix="phq-bl-") as tmp:
        base = Path(tmp)
        (base / "server").mkdir()
        with bench.open_lab(base / "server") as opened:
            yield opened, base
    made = bench.CREATED_NAMESPACES - before
    assert len(made) == 2 and all(ns.startswith("phq-bl-") for ns in made)
    assert not made & set(list_namespaces())  # torn down


@pytest.fixture(scope="module")
def results(lab: tuple[bench.BytesLab, Path]) -> dict[str, Any]:
    opened, base = lab
    out: dict[str, Any] = {"bytes": {}, "one_shot": {}, "fusioninventory": {}, "detail": {}}
    chosen = {name: bench.SCENARIOS[name] for name in SCENARIOS}
    bench.measure_lab(opened, base, out, chosen, cycles=3, fusion=False, settle=0.4)
    out.update(quick=True, agent_cycles=3, one_shot_runs=bench.ONE_SHOT_RUNS, method=bench.METHOD)
    out.update(agent_interval=bench.AGENT_INTERVAL)
    out.update(agent_discovery_interval=bench.AGENT_DISCOVERY_INTERVAL)
    return out


def test_json_contract(results: dict[str, Any]) -> None:
    encoded = json.loads(json.dumps(results))
    for scenario in SCENARIOS:
        figures = encoded["bytes"][scenario]
        assert set(figures) == {"cold", "warm", "budget"}
        assert figures["budget"] == bench.SCENARIOS[scenario]
        assert all(isinstance(figures[k], int) and figures[k] > 0 for k in figures)
        assert set(encoded["one_shot"][scenario]) == {"cold", "warm", "budget"}
    assert "subnet_one_printer" in bench.render(results)


def test_every_printer_is_found(results: dict[str, Any]) -> None:
    for scenario in SCENARIOS:
        detail = results["detail"][scenario]
        assert detail["agent_exit"] == 0
        assert [c["printers"] for c in detail["agent_cycles"]] == [
            detail["expected_printers"]
        ] * len(detail["agent_cycles"])
        for run in detail["one_shot_runs"]:
            assert run["printers"] == detail["expected_printers"]


def test_a_blank_address_costs_one_arp_request(results: dict[str, Any]) -> None:
    runs = results["detail"]["blank_ip"]["one_shot_runs"]
    # Nothing to upload, so no connection: the one request of the sweep is the whole cost.
    assert runs[0]["total"] == ARP_FRAME
    assert runs[0]["arp"] == ARP_FRAME


def test_a_subnet_sweep_asks_each_address_once(
    results: dict[str, Any], lab: tuple[bench.BytesLab, Path]
) -> None:
    cold = results["detail"]["subnet_one_printer"]["one_shot_runs"][0]
    # 253 addresses besides our own, one request each; the printer's reply; the server's ARP
    # (request and reply); at most one more exchange (a stale entry re-probed by either side:
    # the lab's reachable time is short). Not the kernel's ARP for the printer, request and
    # reply: the sweep gave it the answer.
    least = 253 * ARP_FRAME + ARP_FRAME + 2 * ARP_FRAME
    assert least <= cold["arp"] <= least + 2 * ARP_FRAME
    assert cold["icmp"] == 0


def test_subnet_targets_are_met(results: dict[str, Any]) -> None:
    figures = results["bytes"]["subnet_one_printer"]
    cold_share, warm_share = bench.TARGETS["subnet_one_printer"]
    assert figures["cold"] <= cold_share * figures["budget"]
    assert figures["warm"] <= warm_share * figures["budget"]


def _scan(lab: bench.BytesLab, base: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*lab.exec_agent(), bench.PYTHON, "-m", "printerhq", "scan", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=bench.ROOT,
    )


OWN_ADDRESS_SCAN = """
import json, sys, trio
from printerhq.engine import Scanner, ScanOptions

async def main():
    options = ScanOptions(timeout=0.3, retries=0, icmp=False)
    async with Scanner(options) as scanner:
        async with scanner.scan(sys.argv[1:]) as reports:
            found = [r.identity.address async for r in reports]
    print(json.dumps({"skipped": scanner.stats.skipped, "reports": found}))

trio.run(main)
"""


def test_our_own_address_is_not_probed(lab: tuple[bench.BytesLab, Path]) -> None:
    opened, _ = lab
    own = opened.agent_ips[1]
    blank = opened.host(opened.net_many, 200)
    done = subprocess.run(
        [*opened.exec_agent(), bench.PYTHON, "-c", OWN_ADDRESS_SCAN, own, blank],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=bench.ROOT,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # The own address is skipped; the blank one is swept (ARP) and found silent.
    assert result == {"skipped": 1, "reports": []}


def test_arp_off_failures_are_shown_but_are_not_devices(
    lab: tuple[bench.BytesLab, Path],
) -> None:
    import msgspec

    from printerhq.model import DeviceReport
    from printerhq.scan.outcome import is_device

    opened, base = lab
    blanks = f"{opened.host(opened.net_one, 200)}-{opened.host(opened.net_one, 202)}"
    done = _scan(opened, base, blanks, "--arp", "off")
    assert done.returncode == 0, done.stderr
    reports = msgspec.json.decode(done.stdout, type=list[DeviceReport])
    # The kernel's ARP failed for each: it answered our ping with "host unreachable" (ICMP type
    # 3 code 1), an error for each address ...
    assert len(reports) == 3 and all(r.errors for r in reports)
    # ... which is no device, so never uploaded.
    assert not any(is_device(r) for r in reports)


def test_a_lossy_segment_loses_no_known_printer(lab: tuple[bench.BytesLab, Path]) -> None:
    """30% of the LAN's ARP replies dropped (nftables, random): a scan that knows the printers
    finds all 13 every time (known ones unheard over ARP are probed over IP)."""
    opened, base = lab
    state = base / "lossy-state"
    bench.forget_neighbours(opened)
    first = _scan(opened, base, str(opened.net_many), "--state-dir", str(state))
    assert first.returncode == 0, first.stderr
    bench.load_nft(
        opened.lan_ns,
        "table netdev phqloss {\n"
        f' chain egress {{ type filter hook egress device "{opened.lan_if}" priority 0;\n'
        "  meta protocol arp numgen random mod 100 < 30 drop\n }\n}\n",
    )
    try:
        for _ in range(2):
            bench.forget_neighbours(opened)
            done = _scan(opened, base, str(opened.net_many), "--state-dir", str(state))
            assert done.returncode == 0, done.stderr
            printers = {r["identity"]["address"] for r in json.loads(done.stdout)}
            assert printers >= set(opened.printers_many)
    finally:
        subprocess.run(
            [*bench._in(opened.lan_ns), "nft", "delete", "table", "netdev", "phqloss"],
            capture_output=True,
        )
