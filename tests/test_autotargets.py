"""``targets = ["auto"]`` and ``printerhq scan auto``: the pure chooser on synthetic interface
lists, the parser of ``ip -j -d -4 addr``, the agent configuration, and (as root) the real thing
in a network namespace built for the test: it picks the right subnets and nothing else.

Nothing here sends a packet: the chooser reads interfaces only, and the namespace test runs
``--list-targets``, which exits before the scan."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from printerhq.agent.config import parse_config, target_spec
from printerhq.agent.example import EXAMPLE_CONFIG, example_config
from printerhq.autotargets import (
    AutoTargetsError,
    Decision,
    Interface,
    choose,
    chosen_subnets,
    describe,
    expand_auto,
    has_auto,
    parse_ip_addr,
)

from . import netns_lab


def subnets(*interfaces: Interface, allow_wide: bool = False) -> list[str]:
    return chosen_subnets(choose(interfaces, allow_wide=allow_wide))


def reason_for(decisions: list[Decision], name: str) -> str:
    return next(d.reason for d in decisions if d.interface == name)


# -- the chooser ------------------------------------------------------------------------------


def test_an_office_host():
    decisions = choose(
        [
            Interface("lo", ("127.0.0.1/8",), loopback=True),
            Interface("eno1", ("192.168.10.23/24", "10.20.0.5/22"), kind=""),
            Interface("docker0", ("172.17.0.1/16",), kind="bridge"),
            Interface("br-4f2a9c", ("172.18.0.1/16",), kind="bridge"),
            Interface("veth3a1b", ("169.254.7.1/16",), kind="veth"),
            Interface("virbr0", ("192.168.122.1/24",), kind="bridge"),
            Interface("wg0", ("10.66.0.2/24",), kind="wireguard"),
            Interface("tun0", ("10.8.0.6/24",), point_to_point=True, kind="tun"),
            Interface("wlan0", ("192.168.10.40/24",)),  # the same subnet as eno1
        ]
    )
    assert chosen_subnets(decisions) == ["192.168.10.0/24", "10.20.0.0/22"]
    assert reason_for(decisions, "lo").startswith("loopback")
    assert "docker*" in reason_for(decisions, "docker0")
    assert "br-*" in reason_for(decisions, "br-4f2a9c")
    assert "virbr*" in reason_for(decisions, "virbr0")
    assert "wireguard" in reason_for(decisions, "wg0")
    assert "tun" in reason_for(decisions, "tun0")
    assert "already taken" in reason_for(decisions, "wlan0")
    lines = describe(decisions)
    assert len(lines) == len(decisions) == 10
    assert lines[1].startswith("take") and "192.168.10.0/24" in lines[1]


@pytest.mark.parametrize(
    "name", ["docker0", "br-abc", "virbr1", "cni0", "flannel.1", "veth99", "podman0", "lxcbr0"]
)
def test_container_and_vm_interfaces_are_skipped(name):
    assert subnets(Interface(name, ("10.1.2.3/24",))) == []


def test_wide_subnets_need_asking():
    wide = Interface("eth0", ("10.0.0.1/8",))
    decisions = choose([wide])
    assert chosen_subnets(decisions) == []
    assert "wider than a /16" in decisions[0].reason and "16,777,216" in decisions[0].reason
    assert subnets(wide, allow_wide=True) == ["10.0.0.0/8"]
    assert subnets(Interface("eth0", ("10.9.0.1/16",))) == ["10.9.0.0/16"]  # a /16 is fine


@pytest.mark.parametrize(
    ("interface", "why"),
    [
        (Interface("eth0", ("169.254.1.1/16",)), "link-local"),
        (Interface("eth0", ("127.0.0.2/8",)), "loopback"),
        (Interface("eth0", ("10.0.0.1/32",)), "/32"),
        (Interface("eth0", ("10.0.0.1/31",)), "/31"),
        (Interface("eth0", ("10.0.0.1/24",), up=False), "down"),
        (Interface("ppp0", ("10.0.0.1/24",), point_to_point=True), "point-to-point"),
        (Interface("eth0", ("10.0.0.1/24",), peers=("10.0.0.1/24",)), "peer"),
        (Interface("eth0", ()), "no IPv4 address"),
    ],
)
def test_skipped_with_a_reason(interface, why):
    [decision] = choose([interface])
    assert not decision.taken and why in decision.reason


def test_expand_auto_keeps_the_other_tokens():
    tokens = ["AUTO", "!192.168.10.128/25", "10.9.9.9"]
    assert has_auto(tokens) and not has_auto(["10.0.0.0/24", "autoprinter"])
    assert expand_auto(tokens, ["192.168.10.0/24"]) == [
        "192.168.10.0/24",
        "!192.168.10.128/25",
        "10.9.9.9",
    ]


# -- the parser of `ip -j -d -4 addr` ----------------------------------------------------------

IP_JSON = [
    {
        "ifindex": 1,
        "ifname": "lo",
        "flags": ["LOOPBACK", "UP", "LOWER_UP"],
        "link_type": "loopback",
        "addr_info": [{"family": "inet", "local": "127.0.0.1", "prefixlen": 8, "scope": "host"}],
    },
    {
        "ifindex": 2,
        "ifname": "eth0",
        "flags": ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"],
        "link_type": "ether",
        "linkinfo": {"info_kind": "veth"},
        "addr_info": [
            {"family": "inet", "local": "192.0.2.2", "prefixlen": 24, "scope": "global"},
            {"family": "inet6", "local": "fe80::1", "prefixlen": 64},
        ],
    },
    {
        "ifindex": 3,
        "ifname": "tun0",
        "flags": ["POINTOPOINT", "NOARP", "UP"],
        "link_type": "none",
        "linkinfo": {"info_kind": "tun"},
        "addr_info": [
            {"family": "inet", "local": "10.8.0.1", "address": "10.8.0.2", "prefixlen": 32}
        ],
    },
]


def test_parse_ip_json():
    interfaces = parse_ip_addr(json.dumps(IP_JSON))
    assert [i.name for i in interfaces] == ["lo", "eth0", "tun0"]
    lo, eth0, tun0 = interfaces
    assert lo.loopback and lo.addresses == ("127.0.0.1/8",)
    assert eth0.up and eth0.kind == "veth" and eth0.addresses == ("192.0.2.2/24",)
    assert tun0.point_to_point and tun0.peers == ("10.8.0.1/32",)
    assert chosen_subnets(choose(interfaces)) == ["192.0.2.0/24"]


@pytest.mark.parametrize("text", ["", "{", "{}", '"x"', "[1, 2]", '[{"ifname": 7}]'])
def test_parse_ip_json_refuses_or_ignores_garbage(text):
    try:
        assert parse_ip_addr(text) == []
    except AutoTargetsError:
        pass


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "ifname",
                    "flags",
                    "addr_info",
                    "linkinfo",
                    "family",
                    "local",
                    "prefixlen",
                    "info_kind",
                    "address",
                    "link_type",
                ]
            ),
            children,
            max_size=6,
        )
    ),
    max_leaves=30,
)


@given(json_values)
def test_parse_ip_json_never_fails_otherwise(value):
    try:
        interfaces = parse_ip_addr(json.dumps(value))
    except AutoTargetsError:
        return
    for decision in choose(interfaces, allow_wide=True):
        assert isinstance(decision.reason, str)
    for line in describe(choose(interfaces)):
        assert line.isprintable()


# -- the agent configuration -------------------------------------------------------------------

SERVER = '[server]\nurl = "https://hq.example:8443"\ntoken_file = "/nonexistent/token"\n'


def test_the_configuration_accepts_auto_without_reading_interfaces(monkeypatch):
    import printerhq.agent.config as config_module

    def no_reading(**_kwargs: object) -> list[Decision]:
        raise AssertionError("parsing a configuration reads no interface")

    monkeypatch.setattr(config_module, "auto_decisions", no_reading)
    text = SERVER + '[[scan]]\ntargets = ["auto", "!192.0.2.128/25"]\ninterval = "5m"\n'
    config = parse_config(text.encode())
    assert config.scan[0].targets == ["auto", "!192.0.2.128/25"]
    assert config.scan[0].allow_wide is False


def test_target_spec_expands_auto_at_each_cycle(monkeypatch):
    import printerhq.agent.config as config_module

    chosen = [Decision("eth0", "192.0.2.7/24", "192.0.2.0/24", True, "attached")]
    monkeypatch.setattr(config_module, "auto_decisions", lambda allow_wide: chosen)
    text = SERVER + '[[scan]]\ntargets = ["auto", "!192.0.2.128/25"]\ninterval = "5m"\n'
    spec = target_spec(parse_config(text.encode()).scan[0])
    assert spec.count() == 128 and not spec.unresolved

    def broken(allow_wide: bool) -> list[Decision]:
        raise AutoTargetsError("no ip tool")

    monkeypatch.setattr(config_module, "auto_decisions", broken)
    assert target_spec(parse_config(text.encode()).scan[0]).count() == 0


def test_the_example_config_names_the_detected_subnets():
    decisions = [
        Decision("lo", "127.0.0.1/8", "127.0.0.0/8", False, "loopback: this machine itself"),
        Decision("eno1", "192.168.10.23/24", "192.168.10.0/24", True, "attached"),
        Decision("eno2", "10.20.0.5/22", "10.20.0.0/22", True, "attached"),
    ]
    text = example_config(decisions)
    assert 'targets = ["192.168.10.0/24", "10.20.0.0/22"]' in text
    assert "# Detected on this machine's interfaces" in text
    assert "lo (loopback" in text
    config = parse_config(text.encode())
    assert config.scan[0].targets == ["192.168.10.0/24", "10.20.0.0/22"]
    assert (
        example_config([]).replace(
            "# No attached subnet was detected on this machine: the ranges below are examples.\n",
            "",
        )
        == EXAMPLE_CONFIG
    )


# -- the real thing, in a namespace of our own -------------------------------------------------


def _ns(ns: str, *args: str) -> None:
    subprocess.run(["ip", "netns", "exec", ns, *args], check=True, capture_output=True, timeout=20)


@pytest.fixture
def namespace() -> Iterator[str]:
    """A namespace with: loopback; a veth pair (lan0 <-> veth-peer0) of which lan0 is the LAN;
    a second "NIC" with a /20; a bridge named docker0; a /8; a link-local address; an interface
    that is down; a tun point-to-point link when /dev/net/tun allows. Deleted afterwards."""
    reason = netns_lab.skip_reason()
    if reason:
        pytest.skip(reason)
    ns = f"{netns_lab.PREFIX}auto-{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True, timeout=20)
    try:
        ip = lambda *args: _ns(ns, "ip", *args)  # noqa: E731
        ip("link", "set", "lo", "up")
        ip("link", "add", "lan0", "type", "veth", "peer", "name", "veth-peer0")
        ip("addr", "add", "10.214.7.1/24", "dev", "lan0")
        ip("addr", "add", "10.214.8.1/24", "dev", "veth-peer0")
        # No dummy driver in every kernel: a veth whose peer has no address is a "NIC" too.
        ip("link", "add", "nic0", "type", "veth", "peer", "name", "p-nic0")
        ip("addr", "add", "172.31.77.1/20", "dev", "nic0")
        ip("addr", "add", "169.254.10.1/16", "dev", "nic0")
        ip("link", "add", "docker0", "type", "bridge")
        ip("addr", "add", "172.17.0.1/16", "dev", "docker0")
        ip("link", "add", "wide0", "type", "veth", "peer", "name", "p-wide0")
        ip("addr", "add", "10.0.0.1/8", "dev", "wide0")
        ip("link", "add", "off0", "type", "veth", "peer", "name", "p-off0")
        ip("addr", "add", "192.168.99.1/24", "dev", "off0")
        for name in ("lan0", "veth-peer0", "nic0", "p-nic0", "docker0", "wide0", "p-wide0"):
            ip("link", "set", name, "up")
        try:
            ip("tuntap", "add", "mode", "tun", "tun0")
            ip("addr", "add", "10.9.9.1", "peer", "10.9.9.2", "dev", "tun0")
            ip("link", "set", "tun0", "up")
        except subprocess.CalledProcessError:
            pass  # no /dev/net/tun here: the unit tests cover tunnels
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)


def _list_targets(ns: str, *extra: str) -> str:
    done = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            ns,
            sys.executable,
            "-m",
            "printerhq",
            "scan",
            "auto",
            "--list-targets",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=netns_lab.ROOT,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _taken(output: str) -> list[str]:
    return [line.split()[2] for line in output.splitlines() if line.strip().startswith("take")]


def test_auto_in_a_namespace_picks_the_attached_subnets_and_nothing_else(namespace):
    output = _list_targets(namespace)
    assert _taken(output) == ["10.214.7.0/24", "172.31.64.0/20"]
    lines = {line.split()[1]: line for line in output.splitlines() if line.startswith("  ")}
    assert "loopback" in lines["lo"]
    assert "veth*" in lines["veth-peer0"]
    assert "docker*" in lines["docker0"]
    assert "wider than a /16" in lines["wide0"]
    assert "down" in lines["off0"]
    assert "link-local" in output
    if "tun0" in lines:
        assert "tunnel (tun)" in lines["tun0"]
    assert "targets: 4,352 addresses" in output  # 256 + 4,096


def test_allow_wide_in_a_namespace_adds_the_slash_8(namespace):
    assert _taken(_list_targets(namespace, "--allow-wide")) == [
        "10.214.7.0/24",
        "172.31.64.0/20",
        "10.0.0.0/8",
    ]


def test_check_config_shows_what_auto_chooses_here(tmp_path, capsys):
    """--check-config prints auto's choice on this machine (read from the interfaces; nothing
    is sent)."""
    from printerhq.cli import main
    from printerhq.interfaces import auto_decisions

    token = tmp_path / "token"
    token.write_text("t")
    path = tmp_path / "agent.toml"
    path.write_text(
        SERVER.replace("/nonexistent/token", str(token))
        + '[[scan]]\ntargets = ["auto"]\ninterval = "15m"\n'
    )
    assert main(["agent", "--check-config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "scan[0].targets auto, on this machine now:" in out
    for line in describe(auto_decisions()):
        assert line in out
