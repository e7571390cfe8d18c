"""ICMP echo ("ping"): sans-IO packets and the trio :class:`Pinger`.

Packets (RFC 792 for IPv4, RFC 4443 section 4 for IPv6)::

    0      7 8     15 16                  31
    | type  | code   |      checksum       |
    |     identifier  |   sequence number  |
    | data ...

An echo request is 8 bytes plus the payload; the payload is empty by default because nothing in it
is needed: the send time is kept locally (byte economy, DESIGN.md).

Socket modes, tried in this order by ``Pinger(mode="auto")``:

``raw``       ``SOCK_RAW`` (needs CAP_NET_RAW).  IPv4 raw sockets deliver the IP header and *every*
              ICMP packet on the host, so replies are matched on (source, identifier, sequence)
              with a random identifier per pinger, and destination-unreachable errors quoting our
              request are reported as ``"unreachable"``.
``datagram``  ``SOCK_DGRAM`` + ``IPPROTO_ICMP`` ("ping sockets", Linux 3.0+), allowed when the
              process's group is inside ``net.ipv4.ping_group_range``.  The kernel rewrites the
              identifier to the socket's local "port" and delivers only this socket's replies, so
              replies are matched on (source, sequence).
``off``       neither works: one warning is logged, and :meth:`Pinger.ping` returns None at once;
              the engine then relies on SNMP/HTTP answers alone.
"""

from __future__ import annotations

__all__ = [
    "EchoReply",
    "EchoTemplate",
    "PingResult",
    "Pinger",
    "internet_checksum",
    "encode_echo_request",
    "parse_echo_reply",
    "ICMP_ECHO_REPLY",
    "ICMP_ECHO_REQUEST",
    "ICMPV6_ECHO_REQUEST",
    "ICMPV6_ECHO_REPLY",
]

import ipaddress
import logging
import random
import socket
import struct
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal

import trio

from .sockets import grow_buffers
from .traffic import AuditSink, Traffic

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Mode = Literal["raw", "datagram", "off"]
# What a pending echo is found by: (address, ident on raw sockets or None, sequence number).
_Key = tuple[IPAddress, int | None, int]

# RFC 792
ICMP_ECHO_REPLY = 0
ICMP_DEST_UNREACHABLE = 3
ICMP_ECHO_REQUEST = 8
ICMP_TIME_EXCEEDED = 11
ICMP_PARAMETER_PROBLEM = 12
# RFC 4443 sections 3 and 4
ICMPV6_DEST_UNREACHABLE = 1
ICMPV6_PACKET_TOO_BIG = 2
ICMPV6_TIME_EXCEEDED = 3
ICMPV6_PARAMETER_PROBLEM = 4
ICMPV6_ECHO_REQUEST = 128
ICMPV6_ECHO_REPLY = 129

_V4_ERRORS = {
    ICMP_DEST_UNREACHABLE: "unreachable",
    ICMP_TIME_EXCEEDED: "time-exceeded",
    ICMP_PARAMETER_PROBLEM: "parameter-problem",
}
_V6_ERRORS = {
    ICMPV6_DEST_UNREACHABLE: "unreachable",
    ICMPV6_PACKET_TOO_BIG: "packet-too-big",
    ICMPV6_TIME_EXCEEDED: "time-exceeded",
    ICMPV6_PARAMETER_PROBLEM: "parameter-problem",
}

_HEADER = struct.Struct("!BBHHH")  # type, code, checksum, identifier, sequence


def internet_checksum(data: bytes) -> int:
    """The 16-bit one's-complement of the one's-complement sum (RFC 1071)."""
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def encode_echo_request(ident: int, seq: int, payload: bytes = b"", v6: bool = False) -> bytes:
    """An ICMP (or ICMPv6) echo request.

    For ICMPv6 the checksum covers a pseudo-header with the source address, which only the kernel
    knows: it fills the checksum in on raw and datagram ICMPv6 sockets (RFC 3542 section 3.1), so
    the field is left zero here.
    """
    if not (0 <= ident <= 0xFFFF and 0 <= seq <= 0xFFFF):
        raise ValueError("identifier and sequence must fit in 16 bits")
    kind = ICMPV6_ECHO_REQUEST if v6 else ICMP_ECHO_REQUEST
    packet = _HEADER.pack(kind, 0, 0, ident, seq) + payload
    if v6:
        return packet
    checksum = internet_checksum(packet)
    return packet[:2] + checksum.to_bytes(2, "big") + packet[4:]


class EchoTemplate:
    """An echo request encoded once; :meth:`render` patches only the sequence number and the
    checksum, so equal to ``encode_echo_request(ident, seq, payload, v6)`` at a fraction of
    its cost (the batched sweep sends one per address)."""

    __slots__ = ("_packet", "_sum", "_v6")

    def __init__(self, ident: int, payload: bytes = b"", v6: bool = False) -> None:
        packet = bytearray(encode_echo_request(ident, 0, payload, v6))
        packet[2:4] = b"\x00\x00"
        self._packet = packet
        self._v6 = v6
        # RFC 1071 section 2(C): the one's-complement sum with sequence 0 and checksum 0; a
        # sequence number then only adds to it (ICMPv6 checksums are the kernel's job).
        self._sum = 0 if v6 else ~internet_checksum(bytes(packet)) & 0xFFFF

    def render(self, seq: int) -> bytearray:
        """The request with sequence ``seq``: a buffer reused by the next call (send it, or
        copy it, before rendering again)."""
        if not 0 <= seq <= 0xFFFF:
            raise ValueError("sequence must fit in 16 bits")
        packet = self._packet
        packet[6] = seq >> 8
        packet[7] = seq & 0xFF
        if not self._v6:
            total = self._sum + seq
            total = (total & 0xFFFF) + (total >> 16)
            checksum = ~total & 0xFFFF
            packet[2] = checksum >> 8
            packet[3] = checksum & 0xFF
        return packet


@dataclass(frozen=True, slots=True)
class EchoReply:
    """A parsed reply: an echo reply, or an ICMP error quoting one of our echo requests.

    ``kind`` is ``"reply"`` or the error (``"unreachable"``, ``"time-exceeded"``, ...).  For an
    error, ``ident``/``seq`` are those of the quoted request and ``destination`` is the address
    that request was sent to (the error itself comes from a router or the local host).
    """

    kind: str
    ident: int
    seq: int
    icmp_type: int
    icmp_code: int
    payload: bytes = b""
    destination: IPAddress | None = None


def _ipv4_header_length(data: bytes) -> int | None:
    if len(data) < 20 or data[0] >> 4 != 4:
        return None
    ihl = (data[0] & 0x0F) * 4
    return ihl if 20 <= ihl <= len(data) else None


def parse_echo_reply(data: bytes, raw: bool, v6: bool) -> EchoReply | None:
    """Parse what an ICMP socket delivered; None for anything that is not for a pinger.

    ``raw`` and ``v6`` describe the socket: only raw IPv4 sockets include the IP header (skipped
    using its IHL field).  Echo requests (ours, looped back on a raw socket), other ICMP types,
    truncated packets and IPv4 packets with a bad checksum all give None.
    """
    if raw and not v6:
        ihl = _ipv4_header_length(data)
        if ihl is None:
            return None
        data = data[ihl:]
    if len(data) < 8:
        return None
    kind, code, _checksum, ident, seq = _HEADER.unpack_from(data)
    if not v6 and raw and internet_checksum(data) != 0:
        return None  # RFC 792: a packet whose checksum does not verify is garbage
    if kind == (ICMPV6_ECHO_REPLY if v6 else ICMP_ECHO_REPLY):
        if code != 0:
            return None
        return EchoReply("reply", ident, seq, kind, code, bytes(data[8:]))
    errors = _V6_ERRORS if v6 else _V4_ERRORS
    if kind not in errors:
        return None
    # Errors quote the offending datagram after 4 unused bytes: its IP header and at least its
    # first 8 bytes (RFC 792 "Internet Header + 64 bits"; RFC 4443 section 3 "as much as fits").
    quoted = data[8:]
    if v6:
        if len(quoted) < 48 or quoted[0] >> 4 != 6 or quoted[6] != socket.IPPROTO_ICMPV6:
            return None  # extension headers are not followed: pingers never send them
        destination: IPAddress = ipaddress.IPv6Address(bytes(quoted[24:40]))
        inner = quoted[40:48]
        request = ICMPV6_ECHO_REQUEST
    else:
        ihl = _ipv4_header_length(quoted)
        if ihl is None or len(quoted) < ihl + 8 or quoted[9] != socket.IPPROTO_ICMP:
            return None
        destination = ipaddress.IPv4Address(bytes(quoted[16:20]))
        inner = quoted[ihl : ihl + 8]
        request = ICMP_ECHO_REQUEST
    inner_type, _c, _s, inner_ident, inner_seq = _HEADER.unpack(inner)
    if inner_type != request:
        return None
    return EchoReply(errors[kind], inner_ident, inner_seq, kind, code, b"", destination)


# --------------------------------------------------------------------------------------------
# The trio shell


@dataclass(frozen=True, slots=True)
class PingResult:
    """Outcome of :meth:`Pinger.probe`.

    ``status`` is ``"reply"`` (``rtt`` in seconds), ``"timeout"``, an ICMP error kind such as
    ``"unreachable"``, ``"error"`` (the kernel refused to send: ``detail`` says why), or ``"off"``.
    """

    status: str
    rtt: float | None = None
    detail: str = ""


@dataclass
class PingCounters(Traffic):
    """Traffic of one :class:`Pinger`, as seen at the socket (ICMP bytes, no IP header)."""

    replies_matched: int = 0
    errors_matched: int = 0
    send_errors: int = 0


def icmp_permitted() -> bool:
    """Whether this process may open an ICMPv4 socket, raw or datagram (no packet is sent)."""
    for kind in (socket.SOCK_RAW, socket.SOCK_DGRAM):
        try:
            socket.socket(socket.AF_INET, kind, socket.IPPROTO_ICMP).close()
            return True
        except OSError:
            continue
    return False


@dataclass
class _Family:
    version: int
    mode: Mode
    sock: trio.socket.SocketType | None = None
    plain: socket.socket | None = None  # the same socket, for sends without a checkpoint
    # key -> (send time, event, result holder)
    pending: dict[_Key, tuple[float, trio.Event, list[PingResult]]] = field(default_factory=dict)


def _open_socket(version: int, mode: Mode) -> tuple[trio.socket.SocketType, socket.socket]:
    family = socket.AF_INET if version == 4 else socket.AF_INET6
    proto = socket.IPPROTO_ICMP if version == 4 else socket.IPPROTO_ICMPV6
    kind = socket.SOCK_RAW if mode == "raw" else socket.SOCK_DGRAM
    plain = socket.socket(family, kind, proto)
    try:
        plain.setblocking(False)
        # A batched sweep has thousands of echoes in flight; their replies (and, on a raw
        # socket, every ICMP packet on the host) must not overflow the default receive buffer
        # while the receive task waits its turn. The SNMP transport grows its socket the same
        # way (SO_RCVBUFFORCE when permitted).
        grow_buffers(plain)
        sock = trio.socket.from_stdlib_socket(plain)
        if mode == "raw":
            _install_filter(sock, version)
    except BaseException:
        plain.close()
        raise
    return sock, plain


def _install_filter(sock: trio.socket.SocketType, version: int) -> None:
    """Ask the kernel to pass only echo replies and errors (Linux ICMP_FILTER/ICMP6_FILTER).

    A raw socket otherwise wakes up for every ICMP packet on the host.  Best effort: matching in
    :func:`parse_echo_reply` is what guarantees correctness.
    """
    try:
        if version == 4:
            wanted = (ICMP_ECHO_REPLY, *_V4_ERRORS)
            block = 0xFFFFFFFF
            for t in wanted:
                block &= ~(1 << t)
            sock.setsockopt(255, 1, struct.pack("=I", block))  # SOL_RAW, ICMP_FILTER
        else:
            words = [0xFFFFFFFF] * 8  # bit set = block (linux/icmpv6.h ICMP6_FILTER_SETBLOCK)
            for t in (ICMPV6_ECHO_REPLY, *_V6_ERRORS):
                words[t >> 5] &= ~(1 << (t & 31))
            sock.setsockopt(socket.IPPROTO_ICMPV6, 1, struct.pack("=8I", *words))  # ICMP6_FILTER
    except OSError:
        pass


class Pinger:
    """ICMP echo over one shared socket per address family.

    ::

        async with Pinger() as pinger:
            rtt = await pinger.ping("127.0.0.1", timeout=1.0)

    ``mode`` is ``"auto"`` (raw, then datagram), one mode, or a sequence of modes to try in order;
    when none can be opened the pinger is off, logs one warning, and every ping returns None.
    ``mode="off"`` turns ICMP off deliberately (logged at INFO).  ``max_in_flight`` bounds the
    requests waiting for a reply at any moment.
    """

    def __init__(
        self,
        *,
        mode: str | Sequence[str] = "auto",
        max_in_flight: int = 256,
        payload: bytes = b"",
        audit: AuditSink | None = None,
    ) -> None:
        candidates: tuple[str, ...]
        if isinstance(mode, str):
            candidates = ("raw", "datagram") if mode == "auto" else (mode,)
        else:
            candidates = tuple(mode)
        for m in candidates:
            if m not in ("raw", "datagram", "off"):
                raise ValueError(f"unknown ICMP mode {m!r}")
        if not 1 <= max_in_flight <= 30_000:
            # the 16-bit sequence space must stay far larger than the in-flight set
            raise ValueError("max_in_flight must be between 1 and 30000")
        self._candidates = candidates
        self._payload = payload
        self._limiter = trio.CapacityLimiter(max_in_flight)
        self._ident = random.randrange(1, 0x10000)
        self._seq = random.randrange(0x10000)
        self._families: dict[int, _Family] = {}
        self._warned = False
        self._sinks: list[Callable[[IPAddress, EchoReply], None]] = []
        self._templates: dict[int, EchoTemplate] = {}
        self.counters = PingCounters()
        self.audit = audit  # told of every echo request sent (docs/audit.md); None: off

    @property
    def mode(self) -> Mode:
        """The IPv4 mode: ``"raw"``, ``"datagram"`` or ``"off"``."""
        fam = self._families.get(4)
        return fam.mode if fam else "off"

    @property
    def modes(self) -> dict[int, Mode]:
        """Mode per IP version, e.g. ``{4: "raw", 6: "raw"}``."""
        return {v: f.mode for v, f in self._families.items()}

    async def __aenter__(self) -> Pinger:
        self._cm = self._run()
        return await self._cm.__aenter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        return await self._cm.__aexit__(exc_type, exc, tb)

    @asynccontextmanager
    async def _run(self) -> AsyncIterator[Pinger]:
        failures: list[str] = []
        try:
            for version in (4, 6):
                self._families[version] = self._open_family(version, failures)
            if self._families[4].mode == "off":
                if self._candidates == ("off",):
                    log.info("ICMP echo is off by configuration")
                else:
                    self._warn_once(
                        "ICMP echo is off: "
                        + "; ".join(failures)
                        + ". Grant CAP_NET_RAW, or add the group to net.ipv4.ping_group_range"
                        " (sysctl), to enable it; scans continue without ping."
                    )
            async with trio.open_nursery() as nursery:
                for fam in self._families.values():
                    if fam.sock is not None:
                        nursery.start_soon(self._receive_loop, fam)
                try:
                    yield self
                finally:
                    nursery.cancel_scope.cancel()
        finally:
            for fam in self._families.values():
                if fam.sock is not None:
                    fam.sock.close()

    def _open_family(self, version: int, failures: list[str]) -> _Family:
        for m in self._candidates:
            if m == "off":
                break
            try:
                sock, plain = _open_socket(version, m)  # type: ignore[arg-type]
            except OSError as exc:
                if version == 4:
                    failures.append(f"{m} socket: {exc.strerror or exc}")
                continue
            return _Family(version, m, sock, plain)  # type: ignore[arg-type]
        if version == 6:
            log.debug("ICMPv6 echo is off (no usable socket)")
        return _Family(version, "off")

    def _warn_once(self, message: str) -> None:
        if not self._warned:
            self._warned = True
            log.warning(message)

    def _next_seq(self, fam: _Family, address: IPAddress) -> int:
        # Skip sequence numbers still waiting on this address; max_in_flight keeps this short.
        for _ in range(0x10000):
            self._seq = (self._seq + 1) & 0xFFFF
            if self._key(fam, address, self._seq) not in fam.pending:
                return self._seq
        raise RuntimeError("no free ICMP sequence number")  # unreachable with max_in_flight

    def _key(self, fam: _Family, address: IPAddress, seq: int) -> _Key:
        # Datagram sockets: the kernel owns the identifier and filters by it for us.
        ident = self._ident if fam.mode == "raw" else None
        return (address, ident, seq)

    async def ping(
        self, address: str | IPAddress, timeout: float = 1.0, retries: int = 0
    ) -> float | None:
        """Round-trip time in seconds, or None (no reply, an ICMP error, or ICMP off)."""
        result = await self.probe(address, timeout=timeout, retries=retries)
        return result.rtt

    async def probe(
        self, address: str | IPAddress, timeout: float = 1.0, retries: int = 0
    ) -> PingResult:
        """Like :meth:`ping`, with the reason when there is no reply.

        Each attempt waits ``timeout`` seconds; a reply to any earlier attempt still counts, its
        RTT measured from that attempt.
        """
        if not self._families:
            raise RuntimeError("use 'async with Pinger() as pinger'")
        if isinstance(address, str):
            address = ipaddress.ip_address(address)
        if address.version == 6 and address.ipv4_mapped is not None:
            # An ICMPv6 socket would route ::ffff:a.b.c.d by the IPv6 table (out of the default
            # route), not to a.b.c.d: ping the IPv4 address it stands for.
            address = address.ipv4_mapped
        if address.is_unspecified or address.is_multicast:
            # 0.0.0.0 / :: mean "this host" to the kernel and a multicast echo draws replies from
            # every member: neither is one target.
            return PingResult("error", None, f"{address} is not a unicast address")
        fam = self._families[address.version]
        if fam.mode == "off" or fam.sock is None:
            return PingResult("off")
        sock = fam.sock
        v6 = address.version == 6
        event = trio.Event()
        holder: list[PingResult] = []
        keys: list[_Key] = []
        async with self._limiter:
            try:
                for _ in range(retries + 1):
                    seq = self._next_seq(fam, address)
                    key = self._key(fam, address, seq)
                    packet = encode_echo_request(self._ident, seq, self._payload, v6)
                    fam.pending[key] = (trio.current_time(), event, holder)
                    keys.append(key)
                    try:
                        await sock.sendto(packet, (str(address), 0))
                    except OSError as exc:
                        self.counters.send_errors += 1
                        return PingResult("error", None, exc.strerror or str(exc))
                    self.counters.count_sent(len(packet))
                    if self.audit is not None:
                        self.audit.request("icmp", str(address), 0, "echo-request", (), len(packet))
                    with trio.move_on_after(timeout):
                        await event.wait()
                    if holder:
                        return holder[0]
                return PingResult("timeout")
            finally:
                for key in keys:
                    fam.pending.pop(key, None)

    # -- the batched path: no task, no event per echo (printerhq/sweep.py) ----------------

    def next_sequence(self) -> int:
        """A sequence number for :meth:`send_echo_nowait` (the counter :meth:`probe` uses)."""
        self._seq = (self._seq + 1) & 0xFFFF
        return self._seq

    def send_echo_nowait(self, address: str, version: int, seq: int) -> bool:
        """Send one echo request to the numeric ``address`` at once, from a pre-encoded
        packet with only the sequence number and checksum patched.

        False: not sent (ICMP off for that family, or the socket buffer is full). OSError
        (no route, ...) propagates, counted in ``send_errors``. Replies nobody waits for in
        :meth:`probe` go to the sinks (:meth:`add_sink`)."""
        fam = self._families.get(version)
        if fam is None or fam.sock is None:
            return False
        template = self._templates.get(version)
        if template is None:
            template = self._templates[version] = EchoTemplate(
                self._ident, self._payload, version == 6
            )
        packet = template.render(seq)
        try:
            fam.plain.sendto(packet, (address, 0))  # type: ignore[union-attr]
        except BlockingIOError:
            return False
        except OSError:
            self.counters.send_errors += 1
            raise
        self.counters.count_sent(len(packet))
        if self.audit is not None:
            self.audit.request("icmp", address, 0, "echo-request", (), len(packet))
        return True

    def add_sink(self, sink: Callable[[IPAddress, EchoReply], None]) -> None:
        """Call ``sink(peer, reply)`` for each echo reply or ICMP error (to our identifier,
        on raw sockets) that no :meth:`probe` waits for: ``peer`` is the address the echo
        went to. The sink matches the sequence number itself."""
        self._sinks.append(sink)

    def remove_sink(self, sink: Callable[[IPAddress, EchoReply], None]) -> None:
        if sink in self._sinks:
            self._sinks.remove(sink)

    async def _receive_loop(self, fam: _Family) -> None:
        assert fam.sock is not None
        raw = fam.mode == "raw"
        v6 = fam.version == 6
        while True:
            try:
                data, source = await fam.sock.recvfrom(65535)
            except OSError as exc:
                # Datagram ICMP sockets report a pending ICMP error as a failed recv once; the
                # next recv is normal.  Yield so a misbehaving socket cannot spin the loop.
                log.debug("ICMP receive error: %s", exc)
                await trio.sleep(0.01)
                continue
            self.counters.count_received(len(data))
            reply = parse_echo_reply(data, raw=raw, v6=v6)
            if reply is None:
                continue
            if reply.kind == "reply":
                try:
                    peer: IPAddress = ipaddress.ip_address(str(source[0]).split("%", 1)[0])
                except ValueError:
                    continue
            elif reply.destination is not None:
                peer = reply.destination
            else:
                continue
            if raw and reply.ident != self._ident:
                continue  # another pinger's traffic: raw sockets see everything
            entry = fam.pending.get((peer, reply.ident if raw else None, reply.seq))
            if entry is None:
                for sink in self._sinks:
                    sink(peer, reply)
                continue
            if entry[1].is_set():
                continue
            sent_at, event, holder = entry
            if reply.kind == "reply":
                self.counters.replies_matched += 1
                holder.append(PingResult("reply", trio.current_time() - sent_at))
            else:
                self.counters.errors_matched += 1
                holder.append(
                    PingResult(
                        reply.kind, None, f"ICMP type {reply.icmp_type} code {reply.icmp_code}"
                    )
                )
            event.set()
