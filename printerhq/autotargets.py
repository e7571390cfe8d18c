"""``targets = ["auto"]``: the directly attached IPv4 subnets of this machine, chosen from its
interfaces, each decision with its reason. Sans-IO: the interface list comes in (parsed from
``ip -j -d -4 addr show`` by :func:`parse_ip_addr`, read by :mod:`printerhq.interfaces`), the
decisions go out; nothing here sends or reads anything.

What is taken: every IPv4 subnet of an interface that is up, as its address and prefix say
(``192.168.10.23/24`` -> ``192.168.10.0/24``). What is skipped, and why:

* loopback (the interface, or 127.0.0.0/8): this machine itself;
* link-local 169.254.0.0/16: self-assigned, no printer is configured there on purpose;
* container and virtual-machine bridges and their cables, by name (``docker*``, ``br-*``,
  ``virbr*``, ``cni*``, ``flannel*``, ``veth*``, ``podman*``, ``lxc*``): they lead to this
  machine's own containers, not to the site's network;
* point-to-point links and tunnels (``POINTOPOINT``, tun, wireguard, an address with a peer,
  /31 and /32): a VPN or a single peer, not a segment with printers;
* an interface that is down;
* anything wider than a /16 (65,536 addresses) unless asked (``allow_wide``): a /8 on an
  interface is usually a routing convenience, and sweeping it by mistake costs hours and
  alarms someone's intrusion detection.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "AUTO",
    "WIDEST_PREFIX",
    "AutoTargetsError",
    "Decision",
    "Interface",
    "chosen_subnets",
    "choose",
    "describe",
    "expand_auto",
    "has_auto",
    "parse_ip_addr",
]

AUTO = "auto"
WIDEST_PREFIX = 16  # a /16 is the widest subnet taken without allow_wide
# Interface names of container runtimes and virtual-machine managers (Docker, Podman, libvirt,
# LXC, Kubernetes CNI, flannel) and the host ends of their veth cables.
VIRTUAL_PREFIXES = ("docker", "br-", "virbr", "cni", "flannel", "veth", "podman", "lxc")
# Link kinds (``ip -d``: linkinfo.info_kind) that are tunnels, never a segment with printers.
TUNNEL_KINDS = frozenset(("tun", "wireguard", "ipip", "gre", "sit", "vti", "ip6tnl"))
# An interface name is at most 15 bytes (IFNAMSIZ); more interfaces than this is not a host.
MAX_INTERFACES = 4096
MAX_OUTPUT_BYTES = 8 * 1024 * 1024


class AutoTargetsError(ValueError):
    """The interface list could not be read or parsed."""


@dataclass(frozen=True, slots=True)
class Interface:
    """One network interface and its IPv4 addresses (``"192.0.2.7/24"``)."""

    name: str
    addresses: tuple[str, ...] = ()
    up: bool = True
    loopback: bool = False
    point_to_point: bool = False
    kind: str = ""  # linkinfo.info_kind: "veth", "bridge", "dummy", "wireguard", ...
    peers: tuple[str, ...] = field(default=())  # addresses configured with a peer


@dataclass(frozen=True, slots=True)
class Decision:
    """One address of one interface: its subnet, taken or not, and why."""

    interface: str
    address: str  # "192.0.2.7/24"
    subnet: str  # "192.0.2.0/24"
    taken: bool
    reason: str


def _skip_reason(interface: Interface) -> str | None:
    """Why no address of this interface is taken, if none is."""
    if interface.loopback:
        return "loopback: this machine itself"
    name = interface.name.lower()
    prefix = next((p for p in VIRTUAL_PREFIXES if name.startswith(p)), None)
    if prefix is not None:
        return f"container or virtual-machine interface ({prefix}*)"
    if interface.kind in TUNNEL_KINDS:
        return f"tunnel ({interface.kind}): not a segment with printers"
    if interface.point_to_point:
        return "point-to-point link: a VPN or a single peer"
    if not interface.up:
        return "interface is down"
    return None


def _address_reason(network: ipaddress.IPv4Network, allow_wide: bool) -> str | None:
    if network.is_loopback:
        return "loopback: this machine itself"
    if network.subnet_of(ipaddress.IPv4Network("169.254.0.0/16")):
        return "link-local (169.254.0.0/16): self-assigned"
    if network.prefixlen >= 31:
        return f"/{network.prefixlen}: no neighbours to scan"
    if network.prefixlen < WIDEST_PREFIX and not allow_wide:
        return (
            f"wider than a /{WIDEST_PREFIX} ({network.num_addresses:,} addresses): "
            "add it by hand, or allow wide subnets"
        )
    return None


def choose(interfaces: Iterable[Interface], *, allow_wide: bool = False) -> list[Decision]:
    """A decision for every IPv4 address of every interface, in the order given; a subnet
    reached through several interfaces or addresses is taken once (the first)."""
    decisions: list[Decision] = []
    taken: set[ipaddress.IPv4Network] = set()
    for interface in interfaces:
        skip = _skip_reason(interface)
        if not interface.addresses:
            decisions.append(Decision(interface.name, "", "", False, "no IPv4 address"))
            continue
        for text in interface.addresses:
            try:
                address = ipaddress.IPv4Interface(text)
            except ValueError:
                decisions.append(Decision(interface.name, text, "", False, "not an IPv4 address"))
                continue
            network = address.network
            reason = skip or (
                "point-to-point address (a peer is configured)"
                if text in interface.peers
                else _address_reason(network, allow_wide)
            )
            if reason is None and network in taken:
                reason = f"{network} already taken"
            if reason is None:
                taken.add(network)
            decisions.append(
                Decision(interface.name, text, str(network), reason is None, reason or "attached")
            )
    return decisions


def chosen_subnets(decisions: Iterable[Decision]) -> list[str]:
    """The subnets taken, in order."""
    return [d.subnet for d in decisions if d.taken]


def describe(decisions: Sequence[Decision]) -> list[str]:
    """One line per decision, for ``--list-targets`` and the agent's log."""
    width = max((len(d.interface) for d in decisions), default=0)
    lines = []
    for d in decisions:
        verdict = "take" if d.taken else "skip"
        shown = d.subnet if d.taken else (d.address or "-")
        lines.append(f"{verdict}  {d.interface:<{width}}  {shown:<18}  {d.reason}")
    return lines


def has_auto(tokens: Iterable[str]) -> bool:
    """True when a target list names ``auto`` (as a whole token, any case)."""
    return any(token.strip().lower() == AUTO for token in tokens)


def expand_auto(tokens: Iterable[str], subnets: Sequence[str]) -> list[str]:
    """``tokens`` with each ``auto`` replaced by the chosen subnets (the rest kept as is)."""
    out: list[str] = []
    for token in tokens:
        if token.strip().lower() == AUTO:
            out.extend(subnets)
        else:
            out.append(token)
    return out


def _text(value: object, limit: int = 64) -> str:
    """A short printable string (an interface name ends up in a terminal, a log and a TOML
    comment; the kernel refuses only '/', ':' and spaces in one)."""
    if not isinstance(value, str):
        return ""
    return "".join(ch if ch.isprintable() else "?" for ch in value[:limit])


def parse_ip_addr(data: bytes | str) -> list[Interface]:
    """The interfaces in the JSON of ``ip -j -d -4 addr show`` (iproute2); only IPv4 addresses
    are kept. Raises :class:`AutoTargetsError` for anything that is not that JSON."""
    if len(data) > MAX_OUTPUT_BYTES:
        raise AutoTargetsError("the interface list is implausibly large")
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise AutoTargetsError(f"the interface list is not JSON: {exc}") from None
    if not isinstance(document, list) or len(document) > MAX_INTERFACES:
        raise AutoTargetsError("the interface list is not a list of interfaces")
    interfaces = []
    for item in document:
        if not isinstance(item, dict):
            continue
        name = _text(item.get("ifname"))
        if not name:
            continue
        flags = item.get("flags")
        flags = {f for f in flags if isinstance(f, str)} if isinstance(flags, list) else set()
        linkinfo = item.get("linkinfo")
        kind = _text(linkinfo.get("info_kind")) if isinstance(linkinfo, dict) else ""
        addresses: list[str] = []
        peers: list[str] = []
        infos = item.get("addr_info")
        for info in infos if isinstance(infos, list) else []:
            if not isinstance(info, dict) or info.get("family") != "inet":
                continue
            local, prefix = info.get("local"), info.get("prefixlen")
            if not isinstance(local, str) or not isinstance(prefix, int):
                continue
            text = f"{local[:15]}/{prefix}"
            addresses.append(text)
            if "address" in info:  # "peer" in `ip addr`: a point-to-point address
                peers.append(text)
        interfaces.append(
            Interface(
                name=name,
                addresses=tuple(addresses),
                up="UP" in flags,
                loopback="LOOPBACK" in flags or item.get("link_type") == "loopback",
                point_to_point="POINTOPOINT" in flags,
                kind=kind,
                peers=tuple(peers),
            )
        )
    return interfaces
