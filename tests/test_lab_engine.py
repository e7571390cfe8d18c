"""The Scanner in the network-namespace lab (tests/netns_lab.py): an agent and a /24 with three
SNMP printers (one drops ICMP), one printer with SNMP off and a web page, the rest blank.
Everything runs inside the agent namespace as a subprocess; skipped when not root."""

from __future__ import annotations

import ipaddress
import json

from tests.netns_lab import PYTHON, Lab, netns_lab  # noqa: F401


def scan(lab: Lab, targets: str, *options: str, timeout: float = 180) -> list[dict]:
    done = lab.in_agent(
        PYTHON,
        "-m",
        "tests.helpers_lab_engine",
        targets,
        "--interface",
        lab.agent_if,
        *options,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def by_address(result: dict) -> dict[str, dict]:
    return {r["identity"]["address"]: r for r in result["reports"]}


def whole_subnet(lab: Lab) -> str:
    return f"{lab.network} !{lab.agent_ip}"


def test_arp_first_scan_finds_exactly_the_printers(netns_lab: Lab) -> None:  # noqa: F811
    [result] = scan(netns_lab, whole_subnet(netns_lab))
    reports = by_address(result)
    printers = {a for a, r in reports.items() if r["identity"].get("is_printer")}
    assert printers == set(netns_lab.printers)
    assert reports[netns_lab.icmp_dropping]["protocol"] == "snmpv2c"  # found without ping
    assert reports[netns_lab.web_only]["protocol"] == "http"
    stats = result["stats"]
    arp = stats["by_protocol"]["arp"]
    # One ARP request per address (255: the /24 less the agent), one re-send per silent one.
    assert 255 <= arp["packets_sent"] <= 2 * 255
    assert arp["packets_received"] == len(netns_lab.printers)
    # IP probes went to the four live hosts only: no ICMP, SNMP to blank addresses.
    assert stats["by_protocol"]["snmp"]["packets_sent"] <= 4 * 2 * 2
    assert stats["by_protocol"].get("icmp", {}).get("packets_sent", 0) == 0
    print(
        f"\nengine ARP-first scan of {netns_lab.network}: {result['wire']['tx_bytes']} B sent, "
        f"{result['wire']['rx_bytes']} B received"
    )


def test_fallback_without_arp_finds_the_same_and_records_icmp_errors(netns_lab: Lab) -> None:  # noqa: F811
    lab = netns_lab
    blanks = lab.blank[:3]
    targets = ",".join([*lab.printers, *blanks])
    # The kernel gives up ARP after 3 s; wait long enough for its host-unreachable.
    [result] = scan(lab, targets, "--arp", "off", "--timeout", "2", "--retries", "1")
    reports = by_address(result)
    printers = {a for a, r in reports.items() if r["identity"].get("is_printer")}
    assert printers == set(lab.printers)
    assert "arp" not in result["stats"]["by_protocol"]
    assert result["stats"]["by_protocol"]["icmp"]["packets_sent"] >= len(blanks)
    for blank in blanks:
        assert blank in reports, blank
        assert any(e.startswith("icmp unreachable") for e in reports[blank]["errors"]), reports[
            blank
        ]


def test_unreachable_network_is_recorded(netns_lab: Lab) -> None:  # noqa: F811
    # No route leads out of the agent namespace: the kernel refuses the send, nothing leaves.
    outside = str(ipaddress.IPv4Address(int(netns_lab.network.network_address) + 65536 + 9))
    [result] = scan(netns_lab, f"{outside},{netns_lab.snmp_printers[0]}", "--arp", "off")
    reports = by_address(result)
    assert "unreachable" in " ".join(reports[outside]["errors"]).lower()
    assert reports[netns_lab.snmp_printers[0]]["identity"]["is_printer"]
    assert result["wire"]["tx_packets"] < 20  # only the printer's exchange and ARP


def test_repeat_scan_costs_a_fraction_on_the_wire(netns_lab: Lab, tmp_path) -> None:  # noqa: F811
    state = tmp_path / "state"
    first, second = scan(
        netns_lab, whole_subnet(netns_lab), "--state-dir", str(state), "--scans", "2"
    )
    assert by_address(first).keys() == by_address(second).keys()
    assert second["stats"]["skipped"] == 255 - len(netns_lab.printers)  # a /24 less the agent
    assert second["wire"]["tx_bytes"] * 5 < first["wire"]["tx_bytes"]
    print(
        f"\nrepeat scan of {netns_lab.network}: first {first['wire']['tx_bytes']} B sent, "
        f"repeat {second['wire']['tx_bytes']} B"
    )
