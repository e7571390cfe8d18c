"""ARP-first discovery on directly attached subnets: sans-IO frames and the trio sweep.

Why: on the agent's own segment every IP packet to a blank address first costs the kernel three
ARP solicitations (126 B on the wire, ``net.ipv4.neigh.*.mcast_solicit = 3``) before it gives up,
and nothing of ours has left yet. Sending one ARP request per address ourselves (42 B, RFC 826)
and probing over IP only the addresses that answered cuts a /24 sweep from about 32 KB to 11 KB
(docs/discovery.md has the lab figures).

An ARP request in an Ethernet II frame (RFC 826; RFC 5227 section 1.2 for the field names)::

    Ethernet: dst ff:ff:ff:ff:ff:ff | src <our MAC> | type 0x0806           14 bytes
    ARP:      htype 1 | ptype 0x0800 | hlen 6 | plen 4 | oper 1 (request)   8 bytes
              sha <our MAC> | spa <our IPv4> | tha 00:00:00:00:00:00 | tpa <target IPv4>   20 bytes

42 bytes in all; the NIC pads it to the 60-byte Ethernet minimum on a real wire (veth does not),
and the kernel's own solicitations are the same 42 bytes before padding.

Needs CAP_NET_RAW (``AF_PACKET``). Without it :func:`arp_sweep` raises :class:`ArpUnavailable`
and the engine falls back to ICMP + SNMP probing; addresses that are not on a directly attached
subnet are never ARPed (the routed case).
"""

from __future__ import annotations

__all__ = [
    "ArpUnavailable",
    "ArpStats",
    "AttachedNetwork",
    "TokenBucket",
    "ARP_FRAME_SIZE",
    "ETH_P_ARP",
    "encode_arp_request",
    "parse_arp_reply",
    "parse_mac",
    "format_mac",
    "parse_ip_addr_json",
    "attached_networks",
    "interface_for",
    "arp_sweep",
    "arp_discover",
    "ArpDiscovery",
    "neighbour_commands",
    "teach_kernel",
    "own_addresses",
]

import ipaddress
import json
import math
import shutil
import socket
import struct
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict, Unpack

import trio

from .traffic import AuditSink, Traffic

ETH_P_ARP = 0x0806  # IEEE 802 EtherType for ARP
ETH_P_IP = 0x0800
ARP_FRAME_SIZE = 42
BROADCAST_MAC = b"\xff" * 6
_ETHERNET = struct.Struct("!6s6sH")
_ARP = struct.Struct("!HHBBH6s4s6s4s")  # htype ptype hlen plen oper sha spa tha tpa
_HTYPE_ETHERNET = 1
_OPER_REQUEST = 1
_OPER_REPLY = 2

# Defaults, and why: 1,000 frames/s puts a /24 on the wire in a quarter second and a /16 in about
# a minute, far below what a switch notices (nmap's ARP ping sends faster); a burst of 64 lets a
# small target list go out at once. One re-send to silent addresses, as nmap does by default
# (--max-retries for ARP is 1 on a LAN), catches a reply lost to a busy switch or host.
DEFAULT_RATE = 1000.0
DEFAULT_BURST = 64
MAX_ADDRESSES = 65_536  # one sweep covers at most a /16; the engine splits larger ranges


class ArpUnavailable(Exception):
    """ARP sweeping is not possible here (no CAP_NET_RAW, no such interface, no AF_PACKET).

    The engine catches this and falls back to ICMP + SNMP probing."""


# -- sans-IO ------------------------------------------------------------------------------------


def parse_mac(mac: str | bytes) -> bytes:
    """``"aa:bb:cc:dd:ee:ff"`` (or ``-`` separators, or 6 raw bytes) -> 6 bytes."""
    if isinstance(mac, (bytes, bytearray)):
        if len(mac) != 6:
            raise ValueError(f"a MAC address is 6 bytes, got {len(mac)}")
        return bytes(mac)
    parts = mac.replace("-", ":").split(":")
    if len(parts) != 6 or not all(len(p) == 2 for p in parts):
        raise ValueError(f"not a MAC address: {mac!r}")
    try:
        return bytes(int(p, 16) for p in parts)
    except ValueError:
        raise ValueError(f"not a MAC address: {mac!r}") from None


def format_mac(mac: bytes) -> str:
    """6 bytes -> ``"aa:bb:cc:dd:ee:ff"`` (lower case, as ``ip link`` prints it)."""
    return ":".join(f"{b:02x}" for b in mac)


def encode_arp_request(src_mac: str | bytes, src_ip: str, target_ip: str) -> bytes:
    """The 42-byte broadcast Ethernet frame asking who has ``target_ip`` (RFC 826)."""
    sha = parse_mac(src_mac)
    spa = ipaddress.IPv4Address(src_ip).packed
    tpa = ipaddress.IPv4Address(target_ip).packed
    return _ETHERNET.pack(BROADCAST_MAC, sha, ETH_P_ARP) + _ARP.pack(
        _HTYPE_ETHERNET, ETH_P_IP, 6, 4, _OPER_REQUEST, sha, spa, b"\0" * 6, tpa
    )


def parse_arp_reply(frame: bytes) -> tuple[str, str] | None:
    """``(sender IPv4, sender MAC)`` of an Ethernet/IPv4 ARP reply, else None.

    Anything else (requests, other EtherTypes, other hardware or protocol types, short frames,
    padding after the 42 bytes) is tolerated and ignored; it never raises. Only replies count:
    a gratuitous request announces an address but does not answer ours (RFC 5227 section 3).
    """
    if not isinstance(frame, (bytes, bytearray, memoryview)) or len(frame) < ARP_FRAME_SIZE:
        return None
    _dst, _src, ethertype = _ETHERNET.unpack_from(frame, 0)
    if ethertype != ETH_P_ARP:
        return None
    htype, ptype, hlen, plen, oper, sha, spa, _tha, _tpa = _ARP.unpack_from(frame, 14)
    if (htype, ptype, hlen, plen, oper) != (_HTYPE_ETHERNET, ETH_P_IP, 6, 4, _OPER_REPLY):
        return None
    return str(ipaddress.IPv4Address(spa)), format_mac(sha)


@dataclass
class TokenBucket:
    """Pacing for sends: ``rate`` per second on average, bursts of at most ``burst``.

    Implemented as GCRA, the "virtual scheduling" form of a token bucket (ITU-T I.371): keep the
    theoretical arrival time of the next send; a send may go when it is at most
    ``(burst - 1) / rate`` early. Times are whole nanoseconds, so the bookkeeping is exact (no
    rounding drift, a full burst is always a full burst) and the interval is rounded up (the
    rate is never exceeded). Sans-IO: :meth:`delay` says how long to wait at time ``now``
    (seconds, as ``trio.current_time()``); :meth:`take` is the trio wrapper.
    """

    rate: float
    burst: int = DEFAULT_BURST
    tat_ns: int | None = None  # theoretical arrival time of the next send

    def __post_init__(self) -> None:
        if not self.rate > 0 or self.burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self._interval_ns = max(1, math.ceil(1e9 / self.rate))

    def delay(self, now: float) -> float:
        """Seconds to wait before the next send may go; 0 means go (and it is counted)."""
        now_ns = int(now * 1e9)
        tat = now_ns if self.tat_ns is None or self.tat_ns < now_ns else self.tat_ns
        wait_ns = tat - (self.burst - 1) * self._interval_ns - now_ns
        if wait_ns <= 0:
            self.tat_ns = tat + self._interval_ns
            return 0.0
        return (wait_ns + 1) / 1e9  # +1 ns: flooring `now` must not leave us 1 ns short

    async def take(self) -> None:
        """Wait (one sleep, rarely two) until a send may go."""
        while (wait := self.delay(trio.current_time())) > 0:
            await trio.sleep(wait)


# -- attached networks (read-only: no traffic) ----------------------------------------------------


@dataclass(frozen=True)
class AttachedNetwork:
    """One IPv4 address on one interface, and the subnet it makes directly reachable."""

    interface: str
    index: int
    mac: str | None
    address: ipaddress.IPv4Address
    network: ipaddress.IPv4Network
    up: bool = True
    arp: bool = True  # False for loopback, NOARP and point-to-point links

    def __contains__(self, address: object) -> bool:
        try:
            return ipaddress.IPv4Address(str(address)) in self.network
        except ValueError:
            return False


def parse_ip_addr_json(text: str) -> list[AttachedNetwork]:
    """Parse ``ip -j addr show`` (iproute2 JSON) into IPv4 :class:`AttachedNetwork` entries."""
    found: list[AttachedNetwork] = []
    for link in json.loads(text or "[]"):
        if not isinstance(link, dict):
            continue
        flags = set(link.get("flags") or ())
        name = str(link.get("ifname", ""))
        # `ip -j -4 addr` leaves out link_type and address: ask without -4 (we filter here).
        link_type = link.get("link_type")
        arp = (
            link_type == "ether"
            and "NOARP" not in flags
            and "POINTOPOINT" not in flags
            and "LOOPBACK" not in flags
        )
        mac = link.get("address") if arp else None
        for info in link.get("addr_info") or ():
            if info.get("family") != "inet" or "local" not in info:
                continue
            try:
                iface = ipaddress.IPv4Interface(f"{info['local']}/{info.get('prefixlen', 32)}")
            except ValueError:
                continue
            found.append(
                AttachedNetwork(
                    name,
                    int(link.get("ifindex", 0)),
                    mac,
                    iface.ip,
                    iface.network,
                    "UP" in flags,
                    arp,
                )
            )
    return found


def _networks_from_kernel() -> list[AttachedNetwork]:
    """Fallback without iproute2: one address per interface via ioctl (SIOCGIFADDR/NETMASK)."""
    import fcntl

    siocgifaddr, siocgifnetmask, siocgifflags = 0x8915, 0x891B, 0x8913
    iff_up, iff_loopback, iff_pointopoint, iff_noarp = 0x1, 0x8, 0x10, 0x80
    found = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for index, name in socket.if_nameindex():
            request = struct.pack("256s", name.encode()[:15])
            try:
                address = socket.inet_ntoa(fcntl.ioctl(sock, siocgifaddr, request)[20:24])
                netmask = socket.inet_ntoa(fcntl.ioctl(sock, siocgifnetmask, request)[20:24])
                flags = struct.unpack_from("H", fcntl.ioctl(sock, siocgifflags, request), 16)[0]
            except OSError:
                continue  # no IPv4 address on this interface
            mac_path = Path("/sys/class/net") / name / "address"
            mac = mac_path.read_text().strip() if mac_path.exists() else None
            iface = ipaddress.IPv4Interface(f"{address}/{netmask}")
            arp = not flags & (iff_loopback | iff_pointopoint | iff_noarp)
            found.append(
                AttachedNetwork(
                    name, index, mac, iface.ip, iface.network, bool(flags & iff_up), arp
                )
            )
    return found


def attached_networks() -> list[AttachedNetwork]:
    """The IPv4 subnets on this host's (this namespace's) interfaces. Reads only; no traffic."""
    ip = shutil.which("ip") or next(
        (p for p in ("/usr/sbin/ip", "/sbin/ip") if Path(p).exists()), None
    )
    if ip:
        try:
            out = subprocess.run(
                [ip, "-j", "addr", "show"], capture_output=True, text=True, timeout=5, check=True
            ).stdout
            return parse_ip_addr_json(out)
        except (OSError, subprocess.SubprocessError, ValueError):
            pass
    return _networks_from_kernel()


def interface_for(
    address: str | ipaddress.IPv4Address, networks: Iterable[AttachedNetwork] | None = None
) -> AttachedNetwork | None:
    """The attached network through which ``address`` is reached without a router, if any.

    Only up, ARP-capable interfaces count; the most specific subnet wins (longest prefix, as
    the kernel's routing would choose). Our own addresses are not "on the segment" for ARP.
    """
    try:
        target = ipaddress.IPv4Address(str(address))
    except ValueError:
        return None
    best: AttachedNetwork | None = None
    for net in attached_networks() if networks is None else networks:
        if not (net.up and net.arp) or target not in net.network or target == net.address:
            continue
        if best is None or net.network.prefixlen > best.network.prefixlen:
            best = net
    return best


# -- the trio shell -----------------------------------------------------------------------------


@dataclass
class ArpStats(Traffic):
    """What a sweep put on the wire and got back (frame bytes without the Ethernet FCS).

    ``packets_received``/``bytes_received`` count the replies that answered a question of ours
    (one :data:`ARP_FRAME_SIZE` frame each, padding left out); ``frames_received`` counts every
    frame the packet socket saw, replies or not.
    """

    frames_received: int = 0
    rounds: int = 0

    @property
    def frames_sent(self) -> int:
        """Requests sent (the name before the counters became one :class:`Traffic` type)."""
        return self.packets_sent

    @property
    def replies(self) -> int:
        """Answers counted (the name before the counters became one :class:`Traffic` type)."""
        return self.packets_received


def _open_packet_socket(interface: str) -> trio.socket.SocketType:
    try:
        sock = trio.socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
    except PermissionError as exc:
        raise ArpUnavailable(
            "ARP sweep needs CAP_NET_RAW (AF_PACKET raw socket refused: "
            f"{exc.strerror}); falling back to ICMP + SNMP"
        ) from exc
    except (OSError, AttributeError) as exc:
        raise ArpUnavailable(f"no AF_PACKET sockets here: {exc}") from exc
    return sock


async def arp_sweep(
    interface: str,
    addresses: Iterable[str | ipaddress.IPv4Address],
    *,
    rate: float = DEFAULT_RATE,
    burst: int = DEFAULT_BURST,
    timeout: float = 1.0,
    retries: int = 1,
    stats: ArpStats | None = None,
    networks: Iterable[AttachedNetwork] | None = None,
    audit: AuditSink | None = None,
) -> dict[str, str]:
    """ARP each address on ``interface`` once; return ``{ip: mac}`` for those that answered.

    Every address must lie on a subnet attached to ``interface`` (else ValueError: ARP never
    crosses a router). Sends are paced by a token bucket (``rate`` frames/s, ``burst``); after
    each round the sweep waits ``timeout`` seconds (less if everyone answered) and re-sends only
    to the silent addresses, ``retries`` times. ``stats`` receives the counts. Raises
    :class:`ArpUnavailable` when the raw socket cannot be opened (no CAP_NET_RAW). ``audit``
    is told of every frame sent (docs/audit.md).
    """
    if timeout <= 0 or retries < 0:
        raise ValueError("timeout > 0 and retries >= 0 required")
    bucket = TokenBucket(rate, burst)
    stats = stats if stats is not None else ArpStats()
    candidates = [
        n
        for n in (attached_networks() if networks is None else networks)
        if n.interface == interface
    ]
    if not candidates:
        raise ArpUnavailable(f"interface {interface!r} has no IPv4 address here")
    wanted: dict[str, AttachedNetwork] = {}
    for raw in addresses:
        target = ipaddress.IPv4Address(str(raw))
        net = interface_for(target, candidates)
        if net is None:
            raise ValueError(f"{target} is not on a subnet attached to {interface}")
        wanted[str(target)] = net
        if len(wanted) > MAX_ADDRESSES:
            raise ValueError(f"more than {MAX_ADDRESSES} addresses in one ARP sweep")
    if not wanted:
        return {}
    if any(net.mac is None for net in wanted.values()):
        raise ArpUnavailable(f"{interface} has no Ethernet address")
    our_ips = {str(net.address) for net in candidates}
    answered: dict[str, str] = {}
    sock = _open_packet_socket(interface)
    with sock:
        try:
            await sock.bind((interface, ETH_P_ARP))
        except OSError as exc:
            raise ArpUnavailable(f"cannot bind to {interface}: {exc.strerror}") from exc
        everyone = trio.Event()

        async def receive() -> None:
            while True:
                frame = await sock.recv(2048)
                stats.frames_received += 1
                reply = parse_arp_reply(frame)
                if reply is None:
                    continue
                ip, mac = reply
                # Only answers addressed to one of our IPs, from an address we asked about.
                tpa = str(ipaddress.IPv4Address(bytes(frame[38:42])))
                if ip in wanted and tpa in our_ips and ip not in answered:
                    answered[ip] = mac
                    stats.count_received(ARP_FRAME_SIZE)
                    if len(answered) == len(wanted):
                        everyone.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(receive)
            for _round in range(retries + 1):
                silent = [ip for ip in wanted if ip not in answered]
                if not silent:
                    break
                stats.rounds += 1
                for ip in silent:
                    if ip in answered:  # answered while we were pacing
                        continue
                    net = wanted[ip]
                    assert net.mac is not None
                    frame = encode_arp_request(net.mac, str(net.address), ip)
                    await bucket.take()
                    await sock.send(frame)
                    stats.count_sent(len(frame))
                    if audit is not None:
                        audit.request("arp", ip, 0, "who-has", (), len(frame))
                with trio.move_on_after(timeout):
                    await everyone.wait()
            nursery.cancel_scope.cancel()
    return dict(sorted(answered.items(), key=lambda item: ipaddress.IPv4Address(item[0])))


@dataclass
class ArpDiscovery:
    """Result of :func:`arp_discover`.

    ``live``: addresses that answered ARP (ip -> MAC); ``swept``: every address that was ARPed
    (silent ones among them are really absent from the segment and need no IP probe);
    ``unswept``: addresses the engine must probe over IP (routed subnets, or ARP unavailable);
    ``reason``: why ARP was not used when it was not.
    """

    live: dict[str, str]
    swept: list[str]
    unswept: list[str]
    stats: ArpStats
    reason: str | None = None


class SweepOptions(TypedDict, total=False):
    """The keyword options :func:`arp_discover` passes on to :func:`arp_sweep`."""

    rate: float
    burst: int
    timeout: float
    retries: int
    audit: AuditSink | None


async def arp_discover(
    addresses: Iterable[str | ipaddress.IPv4Address],
    *,
    networks: Iterable[AttachedNetwork] | None = None,
    **sweep_options: Unpack[SweepOptions],
) -> ArpDiscovery:
    """ARP-first discovery: sweep the addresses on directly attached subnets, interface by
    interface, and hand back the rest (and everything, if ARP is not permitted) for ICMP + SNMP.
    """
    nets = list(attached_networks() if networks is None else networks)
    by_interface: dict[str, list[str]] = {}
    unswept: list[str] = []
    for raw in addresses:
        net = interface_for(raw, nets)
        if net is None:
            unswept.append(str(raw))
        else:
            by_interface.setdefault(net.interface, []).append(str(ipaddress.IPv4Address(str(raw))))
    stats = ArpStats()
    live: dict[str, str] = {}
    swept: list[str] = []
    for interface, targets in by_interface.items():
        try:
            live.update(
                await arp_sweep(interface, targets, stats=stats, networks=nets, **sweep_options)
            )
        except ArpUnavailable as exc:
            remaining = [a for group in by_interface.values() for a in group if a not in swept]
            return ArpDiscovery(live, swept, unswept + remaining, stats, str(exc))
        swept.extend(targets)
    return ArpDiscovery(live, swept, unswept, stats)


# -- the kernel's neighbour table -----------------------------------------------------------------

# Entries the administrator pinned (``ip neigh add ... permanent``) or that need no ARP are never
# overwritten by what a sweep heard.
_KEEP_STATES = {"PERMANENT", "NOARP"}


def neighbour_commands(
    live: dict[str, str],
    networks: Iterable[AttachedNetwork],
    existing: Iterable[dict[str, object]] = (),
) -> list[str]:
    """``ip -batch`` lines that give the kernel what a sweep just heard (sans-IO).

    Why: the sweep has each printer's MAC address from its own ARP reply, but the kernel does
    not; the first SNMP datagram to the printer would make the kernel ARP for it again (a
    request and a reply, 84 B on the wire per printer). ``nud reachable`` is what the kernel
    itself records on an ARP reply (RFC 1122 section 2.3.2.1: a reply is a confirmation), so the
    entry ages out as any other. ``existing`` is ``ip -j neigh show`` output: permanent and
    NOARP entries are left alone.
    """
    keep = {
        str(entry.get("dst"))
        for entry in existing
        if _KEEP_STATES & {str(state) for state in entry.get("state", ()) or ()}  # type: ignore[attr-defined]
    }
    nets = list(networks)
    lines = []
    for ip, mac in live.items():
        net = interface_for(ip, nets)
        if net is None or ip in keep:
            continue
        mac_text = format_mac(parse_mac(mac))
        lines.append(f"neigh replace {ip} lladdr {mac_text} dev {net.interface} nud reachable")
    return lines


def teach_kernel(live: dict[str, str], networks: Iterable[AttachedNetwork]) -> str | None:
    """Put ``live`` (ip -> MAC, from a sweep) into the kernel's neighbour table, in one ``ip
    -batch`` process. Blocking (run it in a thread). Returns why it could not (no iproute2, no
    CAP_NET_ADMIN), or None. Never raises for those: the scan then pays the kernel's ARP."""
    ip = shutil.which("ip") or next(
        (p for p in ("/usr/sbin/ip", "/sbin/ip") if Path(p).exists()), None
    )
    if ip is None:
        return "iproute2 'ip' is not installed"
    if not live:
        return None
    try:
        shown = subprocess.run(
            [ip, "-j", "-4", "neigh", "show"], capture_output=True, text=True, timeout=5
        ).stdout
        existing = [e for e in json.loads(shown or "[]") if isinstance(e, dict)]
    except (OSError, subprocess.SubprocessError, ValueError):
        existing = []
    lines = neighbour_commands(live, networks, existing)
    if not lines:
        return None
    try:
        done = subprocess.run(
            [ip, "-force", "-batch", "-"],
            input="\n".join(lines) + "\n",
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"ip neigh replace failed: {exc}"
    if done.returncode != 0:
        return f"ip neigh replace refused: {done.stderr.strip()[:200]}"
    return None


def own_addresses(networks: Iterable[AttachedNetwork]) -> set[str]:
    """This machine's IPv4 addresses on non-loopback interfaces: never a scan target (a sweep
    of its own /24 would otherwise probe itself over loopback, v2c then v1, with retries).
    Loopback addresses stay scannable (the simulator and tests live there)."""
    return {
        str(net.address)
        for net in networks
        if not net.address.is_loopback and net.interface != "lo"
    }
