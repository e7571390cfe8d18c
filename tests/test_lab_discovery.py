"""Discovery in the network-namespace lab (tests/netns_lab.py): ARP-first, then ICMP + SNMP +
HTTP to the live addresses only, finds exactly the printers, including one that drops ICMP and
one whose SNMP is off but whose web page names it. The ICMP + SNMP fallback (no ARP: routed
subnets, no CAP_NET_RAW) finds the same set, at a higher cost on the wire. Everything runs inside
the agent namespace as a subprocess; skipped when not root."""

from __future__ import annotations

from tests.helpers_ews import LAB_WEB_ONLY
from tests.netns_lab import Lab, netns_lab  # noqa: F401


def _discover(lab: Lab, mode: str) -> dict:  # type: ignore[type-arg]
    return lab.run_agent(
        "discover",
        "--interface",
        lab.agent_if,
        "--network",
        str(lab.network),
        "--exclude",
        lab.agent_ip,
        "--mode",
        mode,
        timeout=180,
    )


def _check(lab: Lab, result: dict) -> None:  # type: ignore[type-arg]
    devices = result["devices"]
    assert sorted(devices) == sorted(lab.printers)
    for address in lab.snmp_printers:
        assert devices[address]["snmp"], address
    dropping = devices[lab.icmp_dropping]
    assert dropping["snmp"].startswith("Brother")
    web = devices[lab.web_only]
    assert web["snmp"] is None
    assert web["http"] == {
        "vendor": LAB_WEB_ONLY.vendor,
        "model": LAB_WEB_ONLY.model,
        "serial": LAB_WEB_ONLY.serial,
    }
    if result["icmp"]:  # printerhq.icmp present: ICMP really is dropped for that one only
        assert dropping["icmp"] is None
        for address in set(lab.printers) - {lab.icmp_dropping}:
            assert devices[address]["icmp"] is not None, address


def test_arp_first_discovery_finds_exactly_the_printers(netns_lab: Lab) -> None:  # noqa: F811
    result = _discover(netns_lab, "arp")
    assert result["arp"]["reason"] is None and result["arp"]["unswept"] == []
    assert sorted(result["arp"]["live"]) == sorted(netns_lab.printers)
    _check(netns_lab, result)
    print(
        f"\nARP-first discovery of {netns_lab.network}: {result['wire']['tx_packets']} frames, "
        f"{result['wire']['tx_bytes']} B sent, {result['wire']['rx_bytes']} B received "
        f"(ARP: {result['arp']['frames']} frames, {result['arp']['bytes']} B)"
    )


def test_icmp_snmp_fallback_finds_the_same_printers(netns_lab: Lab) -> None:  # noqa: F811
    result = _discover(netns_lab, "fallback")
    assert result["arp"] is None
    _check(netns_lab, result)
    print(
        f"\nICMP + SNMP (+HTTP) fallback over {netns_lab.network}: "
        f"{result['wire']['tx_packets']} frames, {result['wire']['tx_bytes']} B sent, "
        f"{result['wire']['rx_bytes']} B received"
    )


def test_sim_refuses_non_loopback_on_the_host() -> None:
    """The sim's namespace escape hatch works only inside a named namespace, never here."""
    import pytest

    from printerhq.sim.server import check_loopback, in_named_network_namespace

    if in_named_network_namespace():
        pytest.skip("this test process itself runs inside a named network namespace")
    for allow in (False, True):
        with pytest.raises(ValueError, match="loopback"):
            check_loopback("10.213.1.10", allow_netns=allow)
    assert check_loopback("127.0.0.5", allow_netns=True) == "127.0.0.5"
