"""The shared UDP transport: one socket per address family, replies demultiplexed by request-id.

Fast scanners (onesixtyone, braa, masscan) send every request from one socket and match
replies themselves; a socket per request would cost a file descriptor, a port and a receive
buffer each, and does not scale to a /16. Here one receive task per socket reads every
datagram and hands it to the request waiting for that request-id, *if* it came from the
address and port that request was sent to. A reply with a known id from anywhere else is
counted as mismatched and dropped: accepting it would let any host on the path answer for
any printer (the "reply from another address" case in DESIGN.md's hostile-input list).

A datagram whose id no request of the client waits for may belong to a *sink* (the batched
discovery sweep, ``printerhq/sweep.py``, which sends over the same sockets and keeps its own
compact table of ids; :meth:`UdpTransport.add_sink`): ids are unique across both, and the sink
does the same source check. Everything else is unmatched, as before.

Only the request-id is read here (:func:`peek_request_id`); decoding the whole message is the
credential's job, in the waiting request's task, so a v3 credential can decrypt it.
"""

from __future__ import annotations

__all__ = [
    "peek_request_id",
    "Pending",
    "ReplySink",
    "UdpTransport",
    "MAX_DATAGRAM",
    "MAX_QUEUED_REPLIES",
]

import secrets
import socket as stdlib_socket
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Protocol

import trio

from ..sockets import grow_buffers
from ..traffic import AuditSink
from .ber import SnmpDecodeError, Tag, expect, format_oid, read_header, read_integer
from .message import REQUEST_ID_MAX, REQUEST_ID_MIN, decode_message

# What a request asks, for the audit trail: (protocol, PDU type, OIDs). The client knows it
# (it encoded the PDU); for bytes sent without it (the discovery sweep) it is read back from
# the datagram (:func:`describe_request`).
About = tuple[str, str, Sequence[tuple[int, ...]]]

# Receive into a buffer this large so no datagram is ever truncated (a UDP payload is at most
# 65,507 bytes on IPv4; 65,535 is the largest length field).
MAX_DATAGRAM = 65535
# Replies kept for one request before its task runs again; more copies of the same reply are
# a flood, not information.
MAX_QUEUED_REPLIES = 8
# Datagrams read per wake-up of the receive task before it lets other tasks run.
RECEIVE_BATCH = 512
# How many sources of undecodable datagrams to remember (for error messages only).
_BAD_SOURCES_KEPT = 1024


def peek_request_id(data: bytes) -> int:
    """The id a reply is matched by, read without decoding the rest of the message.

    For SNMPv1/v2c this is the PDU request-id (RFC 3416 section 3); for SNMPv3 it is
    ``msgID`` in ``msgGlobalData`` (RFC 3412 section 6), which is never encrypted.
    Raises :class:`SnmpDecodeError` if the headers up to that id are malformed.
    """
    end = len(data)
    start, stop = expect(data, 0, end, Tag.SEQUENCE, "Message SEQUENCE")
    version_start, version_stop = expect(data, start, stop, Tag.INTEGER, "version")
    version = read_integer(data, version_start, version_stop)
    if version in (0, 1):
        _, cursor = expect(data, version_stop, stop, Tag.OCTET_STRING, "community")
        _, pdu_start, pdu_stop = read_header(data, cursor, stop)
        id_start, id_stop = expect(data, pdu_start, pdu_stop, Tag.INTEGER, "request-id")
    elif version == 3:
        global_start, global_stop = expect(data, version_stop, stop, Tag.SEQUENCE, "msgGlobalData")
        id_start, id_stop = expect(data, global_start, global_stop, Tag.INTEGER, "msgID")
    else:
        raise SnmpDecodeError(f"unknown SNMP version {version}", version_start)
    return read_integer(data, id_start, id_stop)


# The sweep sends a few templates to many addresses, differing only in the request-id: their
# descriptions are cached by the bytes around the id (bounded; cleared when full).
_DESCRIBED: dict[bytes, About] = {}
_DESCRIBED_MAX = 256


def describe_request(data: bytes) -> About:
    """(protocol, PDU type, OIDs) of an outgoing SNMPv1/v2c message, read back from its bytes
    (never its community). SNMPv3 requests come described by the client: their PDU may be
    encrypted; one that does not is logged as an SNMPv3 message of unknown content."""
    key = _without_request_id(data)
    if key is not None:
        known = _DESCRIBED.get(key)
        if known is not None:
            return known
    try:
        message = decode_message(data)
    except SnmpDecodeError:
        return ("snmpv3" if _is_v3(data) else "snmp", "unknown", ())
    protocol = "snmpv1" if message.version == 0 else "snmpv2c"
    about = (protocol, message.pdu.type.name, [vb.oid for vb in message.pdu.varbinds])
    if key is not None:
        if len(_DESCRIBED) >= _DESCRIBED_MAX:
            _DESCRIBED.clear()
        _DESCRIBED[key] = about
    return about


# What the audit trail gets for such a datagram: the description with its OIDs already in
# dotted text (an immutable tuple, shared by every line of one template); same bound.
_AUDIT_LINES: dict[bytes, tuple[str, str, tuple[str, ...]]] = {}


def audit_line(data: bytes) -> tuple[str, str, tuple[str, ...]]:
    """(protocol, PDU type, dotted OIDs) of an outgoing message, for the audit trail: as
    :func:`describe_request`, with the text form cached too (a sweep's millions of lines cost a
    dict look-up each, not six OID renderings)."""
    key = _without_request_id(data)
    if key is not None:
        known = _AUDIT_LINES.get(key)
        if known is not None:
            return known
    protocol, kind, oids = describe_request(data)
    line = (protocol, kind, tuple(format_oid(o) for o in oids))
    if key is not None:
        if len(_AUDIT_LINES) >= _DESCRIBED_MAX:
            _AUDIT_LINES.clear()
        _AUDIT_LINES[key] = line
    return line


def _without_request_id(data: bytes) -> bytes | None:
    """A v1/v2c message with its request-id cut out (None: not one, or malformed)."""
    try:
        start, stop = expect(data, 0, len(data), Tag.SEQUENCE, "Message SEQUENCE")
        version_start, version_stop = expect(data, start, stop, Tag.INTEGER, "version")
        if read_integer(data, version_start, version_stop) not in (0, 1):
            return None
        _, cursor = expect(data, version_stop, stop, Tag.OCTET_STRING, "community")
        _, pdu_start, pdu_stop = read_header(data, cursor, stop)
        id_start, id_stop = expect(data, pdu_start, pdu_stop, Tag.INTEGER, "request-id")
    except SnmpDecodeError:
        return None
    return data[:id_start] + data[id_stop:]


def _is_v3(data: bytes) -> bool:
    try:
        start, stop = expect(data, 0, len(data), Tag.SEQUENCE, "Message SEQUENCE")
        version_start, version_stop = expect(data, start, stop, Tag.INTEGER, "version")
        return read_integer(data, version_start, version_stop) == 3
    except SnmpDecodeError:
        return False


class _Stats(Protocol):
    packets_sent: int
    bytes_sent: int
    packets_received: int
    bytes_received: int
    mismatched_replies: int
    undecodable_replies: int
    unmatched_replies: int
    receive_errors: int


class ReplySink(Protocol):
    """Something else that sends over the shared sockets and matches its own replies (the
    batched discovery sweep, ``printerhq/sweep.py``). It is asked only about ids no request
    of the client waits for, and it does its own source check."""

    def owns(self, request_id: int) -> bool: ...

    def deliver(self, data: bytes, request_id: int, source: tuple[bytes, int]) -> None: ...


class Pending:
    """One request waiting for replies: where they must come from, and what has come."""

    __slots__ = ("source", "replies", "arrived")

    def __init__(self, source: tuple[bytes, int]) -> None:
        self.source = source  # (packed address, port)
        self.replies: list[bytes] = []
        self.arrived = trio.Event()

    def take(self) -> list[bytes]:
        """The replies received so far; re-arms :attr:`arrived` for the next ones."""
        replies, self.replies = self.replies, []
        self.arrived = trio.Event()
        return replies


def source_key(family: int, sockaddr: tuple[Any, ...]) -> tuple[bytes, int]:
    """A comparable form of an address: packed octets, so '::1' and '0::1' are equal."""
    return stdlib_socket.inet_pton(family, sockaddr[0]), sockaddr[1]


class UdpTransport:
    """Sockets opened lazily per family, request-id allocation, and the demultiplexer.

    The receive tasks run in :attr:`nursery` (the client's), so they end when the client does.
    """

    def __init__(self, stats: _Stats, bind: dict[int, tuple[Any, ...]] | None = None) -> None:
        self.nursery: trio.Nursery | None = None  # set by the client once its nursery is open
        # The audit trail (docs/audit.md); None: off. Told of every datagram the sockets took.
        self.audit: AuditSink | None = None
        self._stats = stats
        self._bind = bind or {}
        self._sockets: dict[int, stdlib_socket.socket] = {}
        self._opening = trio.Lock()
        self.pending: dict[int, Pending] = {}
        self.sinks: list[ReplySink] = []
        # source key -> (time, reason) of the last datagram from it that could not be read.
        self.bad_sources: OrderedDict[tuple[bytes, int], tuple[float, str]] = OrderedDict()
        # source key of a request -> (time, "address:port") of a reply to it from elsewhere.
        self.wrong_sources: OrderedDict[tuple[bytes, int], tuple[float, str]] = OrderedDict()

    # -- sockets --------------------------------------------------------------------------

    async def socket_for(self, family: int) -> stdlib_socket.socket:
        sock = self._sockets.get(family)
        if sock is not None:
            return sock
        async with self._opening:
            sock = self._sockets.get(family)
            if sock is None:
                sock = self._open(family)
                self._sockets[family] = sock
                if self.nursery is None:
                    sock.close()
                    raise RuntimeError("the transport's nursery is not open")
                self.nursery.start_soon(self._receive_loop, sock, family)
        return sock

    def _open(self, family: int) -> stdlib_socket.socket:
        # A plain non-blocking socket driven by trio.lowlevel.wait_readable/wait_writable:
        # trio's socket wrapper costs a scheduling round per datagram, which lets 10,000
        # waiting requests starve the one receive task; this way one wake-up drains the queue.
        sock = stdlib_socket.socket(family, stdlib_socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            if family == stdlib_socket.AF_INET6:
                sock.setsockopt(stdlib_socket.IPPROTO_IPV6, stdlib_socket.IPV6_V6ONLY, 1)
            grow_buffers(sock)
            default = ("0.0.0.0", 0) if family == stdlib_socket.AF_INET else ("::", 0)
            sock.bind(self._bind.get(family, default))  # numeric: never blocks on DNS
        except BaseException:
            sock.close()
            raise
        return sock

    def close(self) -> None:
        for sock in self._sockets.values():
            trio.lowlevel.notify_closing(sock)
            sock.close()
        self._sockets.clear()

    # -- requests -------------------------------------------------------------------------

    def register(self, source: tuple[bytes, int]) -> tuple[int, Pending]:
        """A fresh request-id, unique among requests in flight, and its pending entry.

        Ids are random (not sequential) so an off-path host cannot guess the next one, and lie
        in the range where they always encode as four octets (see message.RequestTemplate).
        """
        pending = Pending(source)
        span = REQUEST_ID_MAX - REQUEST_ID_MIN + 1
        for _ in range(64):  # with 10,000 in flight of 2**31 ids, a collision is ~5e-6
            request_id = REQUEST_ID_MIN + secrets.randbelow(span)
            if not self.id_in_use(request_id):
                self.pending[request_id] = pending
                return request_id, pending
        raise RuntimeError("could not find a free request-id")  # pragma: no cover

    def id_in_use(self, request_id: int) -> bool:
        """Whether a request of the client or of a sink waits for this id."""
        if request_id in self.pending:
            return True
        sinks = self.sinks
        if len(sinks) == 1:  # the usual case (one sweep): asked once per request it sends
            return sinks[0].owns(request_id)
        return any(sink.owns(request_id) for sink in sinks)

    def id_in_use_besides(self, request_id: int, sink: ReplySink) -> bool:
        """:meth:`id_in_use` for ``sink``'s own new ids: it has checked its own table already,
        so only the client's requests and the other sinks are asked (one call per id)."""
        if request_id in self.pending:
            return True
        for other in self.sinks:  # noqa: SIM110 (a loop: no generator per id)
            if other is not sink and other.owns(request_id):
                return True
        return False

    def add_sink(self, sink: ReplySink) -> None:
        """Route datagrams whose id no client request waits for, and ``sink.owns``, to
        ``sink.deliver``. The client's requests keep their ids and matching rules."""
        self.sinks.append(sink)

    def remove_sink(self, sink: ReplySink) -> None:
        if sink in self.sinks:
            self.sinks.remove(sink)

    def unregister(self, request_id: int, pending: Pending) -> None:
        if self.pending.get(request_id) is pending:
            del self.pending[request_id]

    # The one place every SNMP datagram goes to a socket: the audit hook sits right after the
    # sendto that took the bytes (a refused or failed send is not on the wire, so not logged).
    async def send(
        self,
        sock: stdlib_socket.socket,
        data: bytes,
        sockaddr: tuple[Any, ...],
        about: About | None = None,
    ) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        while True:
            try:
                sock.sendto(data, sockaddr)
                break
            except BlockingIOError:
                await trio.lowlevel.wait_writable(sock)  # send buffer full: wait, then retry
        self._stats.packets_sent += 1
        self._stats.bytes_sent += len(data)
        if self.audit is not None:
            self._audited(data, sockaddr, about)

    def count_sent(self, packets: int, size: int) -> None:
        """Count datagrams a sender wrote on one of these sockets itself (a batch at once)."""
        self._stats.packets_sent += packets
        self._stats.bytes_sent += size

    def send_nowait(
        self,
        sock: stdlib_socket.socket,
        data: bytes,
        sockaddr: tuple[Any, ...],
        about: About | None = None,
    ) -> bool:
        """Send at once if the socket buffer has room (False: it had not; nothing sent).
        For senders that pace and batch themselves; OSError (no route) propagates."""
        try:
            sock.sendto(data, sockaddr)
        except BlockingIOError:
            return False
        self._stats.packets_sent += 1
        self._stats.bytes_sent += len(data)
        if self.audit is not None:
            self._audited(data, sockaddr, about)
        return True

    def audited(self, data: bytes, sockaddr: tuple[Any, ...]) -> None:
        """Tell the audit trail (which must be on) of a datagram a sender wrote on one of
        these sockets itself (the sweep's batch loop); described from its own bytes."""
        assert self.audit is not None
        protocol, kind, items = audit_line(data)
        self.audit.request(protocol, sockaddr[0], sockaddr[1], kind, items, len(data))

    def _audited(self, data: bytes, sockaddr: tuple[Any, ...], about: About | None) -> None:
        assert self.audit is not None
        if about is None:
            self.audited(data, sockaddr)
            return
        protocol, kind, oids = about
        self.audit.request(
            protocol, sockaddr[0], sockaddr[1], kind, [format_oid(o) for o in oids], len(data)
        )

    # -- the demultiplexer ----------------------------------------------------------------

    async def _receive_loop(self, sock: stdlib_socket.socket, family: int) -> None:
        receive = sock.recvfrom
        deliver = self.deliver
        while True:  # ends when the client's nursery is cancelled
            await trio.lowlevel.wait_readable(sock)
            # Drain what is queued, a bounded batch per wake-up so other tasks still run.
            for _ in range(RECEIVE_BATCH):
                try:
                    data, sockaddr = receive(MAX_DATAGRAM)
                except BlockingIOError:
                    break
                except OSError:
                    # Some platforms report ICMP errors of earlier sends here; they are not
                    # tied to a request we could fail, so count them and pause briefly.
                    self._stats.receive_errors += 1
                    await trio.sleep(0.01)
                    break
                deliver(data, source_key(family, sockaddr))
            else:
                await trio.lowlevel.checkpoint()

    def deliver(self, data: bytes, source: tuple[bytes, int]) -> None:
        """Route one datagram to the request waiting for it, or count why it was dropped."""
        stats = self._stats
        stats.packets_received += 1
        stats.bytes_received += len(data)
        try:
            request_id = peek_request_id(data)
        except SnmpDecodeError as exc:
            stats.undecodable_replies += 1
            self._note_bad_source(source, str(exc))
            return
        pending = self.pending.get(request_id)
        if pending is None:
            for sink in self.sinks:
                if sink.owns(request_id):
                    sink.deliver(data, request_id, source)
                    return
            stats.unmatched_replies += 1  # late (after the request ended), duplicate or stray
            return
        if pending.source != source:
            stats.mismatched_replies += 1
            self._note_wrong_source(pending.source, source)
            return
        if len(pending.replies) < MAX_QUEUED_REPLIES:
            pending.replies.append(data)
            pending.arrived.set()

    def _note_wrong_source(self, expected: tuple[bytes, int], actual: tuple[bytes, int]) -> None:
        # Kept so the timeout can say "the reply came from elsewhere" (a host answering from
        # another address: multi-homed agents, NAT); the reply itself stays dropped.
        packed, port = actual
        family = stdlib_socket.AF_INET6 if len(packed) == 16 else stdlib_socket.AF_INET
        where = stdlib_socket.inet_ntop(family, packed)
        where = f"[{where}]:{port}" if family == stdlib_socket.AF_INET6 else f"{where}:{port}"
        self.wrong_sources[expected] = (trio.current_time(), where)
        self.wrong_sources.move_to_end(expected)
        if len(self.wrong_sources) > _BAD_SOURCES_KEPT:
            self.wrong_sources.popitem(last=False)

    def _note_bad_source(self, source: tuple[bytes, int], reason: str) -> None:
        self.bad_sources[source] = (trio.current_time(), reason)
        self.bad_sources.move_to_end(source)
        if len(self.bad_sources) > _BAD_SOURCES_KEPT:
            self.bad_sources.popitem(last=False)
