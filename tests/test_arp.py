"""ARP: sans-IO frame codec and token bucket (hypothesis), attached-network parsing, and a sweep
of a real /24 inside the network-namespace lab (tests/netns_lab.py; skipped when not root)."""

from __future__ import annotations

import ipaddress
import json
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from printerhq.arp import (
    ARP_FRAME_SIZE,
    AttachedNetwork,
    TokenBucket,
    encode_arp_request,
    format_mac,
    interface_for,
    parse_arp_reply,
    parse_ip_addr_json,
    parse_mac,
)
from tests.netns_lab import (  # noqa: F401  (netns_lab is a fixture)
    CREATED_NAMESPACES,
    OPEN_NAMESPACES,
    PREFIX,
    Lab,
    list_namespaces,
    netns_lab,
    open_lab,
)

macs = st.binary(min_size=6, max_size=6)
ipv4 = st.integers(0, 2**32 - 1).map(lambda n: str(ipaddress.IPv4Address(n)))


def make_reply(
    sender_mac: bytes, sender_ip: str, target_mac: bytes, target_ip: str, oper: int = 2
) -> bytes:
    """An ARP reply built independently of the module under test (RFC 826 layout)."""
    return (
        target_mac
        + sender_mac
        + b"\x08\x06"
        + struct.pack("!HHBBH", 1, 0x0800, 6, 4, oper)
        + sender_mac
        + ipaddress.IPv4Address(sender_ip).packed
        + target_mac
        + ipaddress.IPv4Address(target_ip).packed
    )


@settings(deadline=None)
@given(macs, ipv4, ipv4)
def test_request_layout(mac: bytes, src: str, dst: str) -> None:
    frame = encode_arp_request(mac, src, dst)
    assert len(frame) == ARP_FRAME_SIZE == 42
    assert frame[:6] == b"\xff" * 6 and frame[6:12] == mac and frame[12:14] == b"\x08\x06"
    htype, ptype, hlen, plen, oper = struct.unpack("!HHBBH", frame[14:22])
    assert (htype, ptype, hlen, plen, oper) == (1, 0x0800, 6, 4, 1)
    assert frame[22:28] == mac and frame[28:32] == ipaddress.IPv4Address(src).packed
    assert frame[32:38] == b"\0" * 6 and frame[38:42] == ipaddress.IPv4Address(dst).packed
    # A request is not a reply.
    assert parse_arp_reply(frame) is None


@settings(deadline=None)
@given(macs, ipv4, macs, ipv4, st.binary(max_size=18))
def test_reply_roundtrip(
    sender_mac: bytes, sender_ip: str, our_mac: bytes, our_ip: str, padding: bytes
) -> None:
    frame = make_reply(sender_mac, sender_ip, our_mac, our_ip) + padding
    assert parse_arp_reply(frame) == (sender_ip, format_mac(sender_mac))


@settings(deadline=None)
@given(st.binary(max_size=100))
def test_parse_never_raises(data: bytes) -> None:
    result = parse_arp_reply(data)
    if result is not None:
        ip, mac = result
        ipaddress.IPv4Address(ip)
        assert parse_mac(mac) == data[22:28]


@settings(deadline=None)
@given(macs, ipv4, st.integers(0, 41))
def test_short_or_wrong_frames_are_ignored(mac: bytes, ip: str, cut: int) -> None:
    good = make_reply(mac, ip, mac, ip)
    assert parse_arp_reply(good[:cut]) is None
    assert parse_arp_reply(good[:12] + b"\x08\x00" + good[14:]) is None  # IPv4 ethertype
    assert parse_arp_reply(make_reply(mac, ip, mac, ip, oper=1)) is None


@settings(deadline=None)
@given(macs)
def test_mac_text_roundtrip(mac: bytes) -> None:
    assert parse_mac(format_mac(mac)) == mac
    assert parse_mac(format_mac(mac).replace(":", "-").upper()) == mac


@pytest.mark.parametrize("bad", ["", "aa:bb", "gg:00:00:00:00:00", "aabbccddeeff", "a:b:c:d:e:f"])
def test_bad_mac(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_mac(bad)


@settings(deadline=None, max_examples=300)
@given(
    st.floats(1.0, 10_000.0),
    st.integers(1, 100),
    st.floats(0.0, 1e6),  # trio's clock range
    st.lists(st.floats(0.0, 0.01), min_size=1, max_size=300),
)
def test_token_bucket_never_exceeds_rate(
    rate: float, burst: int, start: float, gaps: list[float]
) -> None:
    """Simulated clock: every send waits at most twice (rounding), and sends granted by time t
    never exceed burst + rate * t; sends at the full rate are never refused."""
    bucket = TokenBucket(rate, burst)
    now = start
    for sent, gap in enumerate(gaps, start=1):
        now += gap
        wait = bucket.delay(now)
        for _ in range(2):  # one wait of the size it asks for is enough (one more for rounding)
            if wait == 0:
                break
            now += wait
            wait = bucket.delay(now)
        assert wait == 0
        assert sent <= burst + rate * (now - start) + 1e-6
    # An idle bucket lets a full burst go at once.
    idle = now + burst / rate + 1.0
    assert all(bucket.delay(idle) == 0 for _ in range(burst))
    assert bucket.delay(idle) > 0


IP_J = json.dumps(
    [
        {
            "ifindex": 1,
            "ifname": "lo",
            "flags": ["LOOPBACK", "UP", "LOWER_UP"],
            "link_type": "loopback",
            "address": "00:00:00:00:00:00",
            "addr_info": [{"family": "inet", "local": "127.0.0.1", "prefixlen": 8}],
        },
        {
            "ifindex": 2,
            "ifname": "eth0",
            "flags": ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"],
            "link_type": "ether",
            "address": "52:54:00:12:34:56",
            "addr_info": [
                {"family": "inet", "local": "192.0.2.5", "prefixlen": 24},
                {"family": "inet6", "local": "fe80::1", "prefixlen": 64},
                {"family": "inet", "local": "198.51.100.9", "prefixlen": 28},
            ],
        },
        {
            "ifindex": 3,
            "ifname": "tun0",
            "flags": ["POINTOPOINT", "NOARP", "UP"],
            "link_type": "none",
            "addr_info": [{"family": "inet", "local": "203.0.113.1", "prefixlen": 30}],
        },
        {
            "ifindex": 4,
            "ifname": "eth1",
            "flags": ["BROADCAST", "MULTICAST"],
            "link_type": "ether",
            "address": "52:54:00:00:00:02",
            "addr_info": [{"family": "inet", "local": "10.9.0.1", "prefixlen": 16}],
        },
    ]
)


def test_parse_ip_addr_json() -> None:
    nets = parse_ip_addr_json(IP_J)
    assert [(n.interface, str(n.network), n.arp, n.up) for n in nets] == [
        ("lo", "127.0.0.0/8", False, True),
        ("eth0", "192.0.2.0/24", True, True),
        ("eth0", "198.51.100.0/28", True, True),
        ("tun0", "203.0.113.0/30", False, True),
        ("eth1", "10.9.0.0/16", True, False),
    ]
    assert nets[1].mac == "52:54:00:12:34:56"


def test_interface_for() -> None:
    nets = parse_ip_addr_json(IP_J)
    assert interface_for("192.0.2.77", nets).interface == "eth0"  # type: ignore[union-attr]
    assert interface_for("198.51.100.3", nets).network.prefixlen == 28  # type: ignore[union-attr]
    assert interface_for("192.0.2.5", nets) is None  # ourselves
    assert interface_for("203.0.113.2", nets) is None  # point-to-point: no ARP
    assert interface_for("10.9.1.1", nets) is None  # interface down
    assert interface_for("8.8.8.8", nets) is None  # routed
    assert interface_for("not an address", nets) is None
    # the most specific subnet wins
    wide = AttachedNetwork(
        "br0",
        9,
        "52:54:00:00:00:09",
        ipaddress.IPv4Address("198.51.100.1"),
        ipaddress.IPv4Network("198.51.100.0/24"),
    )
    assert interface_for("198.51.100.3", [wide, *nets]).interface == "eth0"  # type: ignore[union-attr]


async def test_sweep_without_privilege_or_interface_is_unavailable() -> None:
    from printerhq.arp import ArpUnavailable, arp_sweep

    with pytest.raises(ArpUnavailable):
        await arp_sweep("phq-no-such-if0", ["192.0.2.1"], networks=[])


# -- the lab ------------------------------------------------------------------------------------


def test_lab_sweep_finds_exactly_the_live_addresses(netns_lab: Lab) -> None:  # noqa: F811
    lab = netns_lab
    args = ("--interface", lab.agent_if, "--network", str(lab.network), "--exclude", lab.agent_ip)
    once = lab.run_agent("sweep", *args, "--retries", "0", "--timeout", "0.5")
    twice = lab.run_agent("sweep", *args, "--retries", "1", "--timeout", "0.5")
    for result in (once, twice):
        assert sorted(result["found"]) == sorted(lab.printers)
        assert len(set(result["found"].values())) == 1  # all on the lan namespace's veth
        # Our count of what we sent agrees with the kernel's interface counters.
        assert result["wire"]["tx_packets"] == result["stats"]["frames_sent"]
        assert result["wire"]["tx_bytes"] == result["stats"]["bytes_sent"]
    targets = once["targets"]
    assert once["stats"]["frames_sent"] == targets
    assert once["stats"]["bytes_sent"] == 42 * targets
    # Re-sends go only to the silent addresses.
    assert twice["stats"]["frames_sent"] == targets + len(lab.blank)
    # What an IP probe costs when the kernel resolves each blank address itself.
    kernel = lab.run_agent(
        "kernel-resolve",
        "--interface",
        lab.agent_if,
        "--addresses",
        ",".join(lab.blank),
        "--wait",
        "4.5",
    )
    per_blank = kernel["wire"]["tx_bytes"] / len(lab.blank)
    print(
        f"\nARP sweep of {targets} addresses, 1 request each: {once['wire']['tx_packets']} "
        f"frames, {once['wire']['tx_bytes']} B sent ({once['wire']['rx_bytes']} B received)"
        f"\nARP sweep with one re-send to silent addresses: {twice['wire']['tx_packets']} "
        f"frames, {twice['wire']['tx_bytes']} B"
        f"\nkernel resolving {len(lab.blank)} blank addresses: {kernel['wire']['tx_packets']} "
        f"frames, {kernel['wire']['tx_bytes']} B = {per_blank:.1f} B per blank address"
    )
    assert kernel["wire"]["tx_bytes"] > once["wire"]["tx_bytes"]


def test_lab_leaves_no_namespaces() -> None:
    with open_lab() as lab:
        names = {lab.agent_ns, lab.lan_ns}
        assert names <= set(list_namespaces())
    left = set(list_namespaces())
    assert not names & left
    # No namespace this process created survives, except those of labs still open (another
    # process may run its own lab at the same time: its phq- namespaces are not ours to judge).
    assert not (CREATED_NAMESPACES - OPEN_NAMESPACES) & left
    assert all(n.startswith(PREFIX) for n in CREATED_NAMESPACES)


SWEEP_WITHOUT_RAW = """
import ipaddress, socket, sys, trio
try:
    socket.socket(socket.AF_PACKET, socket.SOCK_RAW).close()
    print("privileged"); sys.exit(0)
except PermissionError:
    pass
from printerhq.arp import ArpUnavailable, AttachedNetwork, arp_sweep
fake = AttachedNetwork("lo", 1, "02:00:00:00:00:01", ipaddress.IPv4Address("127.0.0.1"),
                       ipaddress.IPv4Network("127.0.0.0/8"))
from printerhq.arp import arp_discover
found = trio.run(lambda: arp_discover(["127.0.0.2", "127.0.0.3", "192.0.2.9"], networks=[fake]))
print("discover:", found.live, found.swept, sorted(found.unswept), bool(found.reason))
try:
    trio.run(lambda: arp_sweep("lo", ["127.0.0.2"], networks=[fake]))
except ArpUnavailable as exc:
    print("unavailable:", exc)
"""


def test_without_cap_net_raw_the_sweep_is_unavailable() -> None:
    """A process without CAP_NET_RAW gets ArpUnavailable (so the engine falls back)."""
    import shutil
    import subprocess
    import sys

    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) not installed")
    done = subprocess.run(
        [
            setpriv,
            "--inh-caps=-net_raw",
            "--bounding-set=-net_raw",
            sys.executable,
            "-c",
            SWEEP_WITHOUT_RAW,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.stdout.startswith("privileged"):
        pytest.skip("could not drop CAP_NET_RAW here")
    discover, unavailable = done.stdout.splitlines()
    # The engine's fallback: nothing swept, every address handed back for ICMP + SNMP.
    assert discover == "discover: {} [] ['127.0.0.2', '127.0.0.3', '192.0.2.9'] True"
    assert unavailable.startswith("unavailable: ARP sweep needs CAP_NET_RAW"), done.stderr
