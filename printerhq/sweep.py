"""Batched SNMP discovery: one pre-encoded GET per address, one timer queue for all of them.

A sweep of a /16 is mostly silence. Giving every address its own task, cancel scope and freshly
encoded request (the per-host path) costs about 100 us of CPU per silent address; fast scanners
(onesixtyone, braa, masscan, zmap) instead encode the discovery request once, patch only the
request-id per send (:class:`~printerhq.snmp.message.RequestTemplate`), send from one socket,
keep one compact record per probe and re-send only to addresses still silent. This module does
the same in two layers:

* :class:`DiscoverySweep`, sans-IO: addresses in, datagrams out, replies in, events out
  (:class:`Responder`, :class:`Silent`). It is told the time and never sleeps, so tests drive it
  with any clock.
* :class:`SweepRunner`, the trio shell: sends the sweep's datagrams over the
  :class:`~printerhq.snmp.client.SnmpClient`'s shared socket, paced by the scan's token bucket,
  receives the replies addressed to it through the transport's sink hook
  (:meth:`UdpTransport.add_sink <printerhq.snmp.transport.UdpTransport.add_sink>`) and hands
  events to a callback.

Retry semantics are the client's (``client.py``): attempt *n* waits ``timeout * backoff**n``, a
re-send repeats the very same bytes and request-id, so a late answer to the first send still
counts. Credentials are tried in order; the next one only for addresses silent on every
attempt of the previous one (so an agent answering v2c never costs a v1 packet, and the winner
is the first credential that works, as on the per-host path). Sending every credential in the
same round would save one timeout schedule at the very end of a sweep, but costs a second packet
to every responder and makes the winner depend on which reply arrives first.

Matching (``transport.py``): a reply counts only if its request-id is one this sweep sent and
still waits for, *and* it came from the address and port the request went to. A known id from
anywhere else is counted (``mismatched``), remembered for the address (``Silent.answered_from``)
and dropped; an unknown id is not ours and goes back to the transport's ``unmatched`` count.

With a :class:`~printerhq.icmp.Pinger` the runner also pings: an echo goes out with each
address's first GET (pre-encoded, :meth:`Pinger.send_echo_nowait
<printerhq.icmp.Pinger.send_echo_nowait>`) and with its re-sends while no echo reply came;
replies come back through the pinger's sink, and the event is dispatched with the echo's
outcome. An ICMP error quoting our echo ends the address's SNMP wait (RFC 1122 section
3.2.2.1: SNMP cannot get through either), as on the per-host path.

Only community credentials (SNMPv1/v2c) can be swept: SNMPv3 needs an engine-id discovery per
agent (RFC 3414 section 4) before its first real request, which the per-host path does.
"""

from __future__ import annotations

__all__ = [
    "DiscoverySweep",
    "Responder",
    "Silent",
    "RequestIds",
    "SweepRunner",
    "discovery_templates",
]

import math
import os
import socket as stdlib_socket
from array import array
from collections import deque
from collections.abc import Callable, Container, Hashable, Sequence
from typing import Any, NamedTuple

import trio

from .allowlist import first_refused
from .icmp import Pinger, PingResult
from .ratelimit import MIN_SLEEP, TokenBucket
from .snmp.ber import SnmpDecodeError
from .snmp.client import ClientStats
from .snmp.credentials import Community
from .snmp.errors import SnmpRefused
from .snmp.message import (
    REQUEST_ID_MAX,
    REQUEST_ID_MIN,
    Message,
    Pdu,
    PduType,
    RequestTemplate,
    Varbind,
)
from .snmp.transport import UdpTransport

AF_INET, AF_INET6 = stdlib_socket.AF_INET, stdlib_socket.AF_INET6


class Responder(NamedTuple):
    """An address answered: the credential (its position in the sweep's list) and the PDU as
    it came (error-status included; judging it is the caller's job)."""

    address: Hashable
    credential: int
    pdu: Pdu
    requests: int  # datagrams sent to it, every credential and re-send
    sent_bytes: int
    received_bytes: int

    @property
    def varbinds(self) -> list[Varbind]:
        return self.pdu.varbinds


class Silent(NamedTuple):
    """No acceptable reply with any credential. ``answered_from`` is the source of a reply with
    our request-id from another address (dropped); ``problem`` why something that did come from
    the address could not be used (undecodable), or why a send failed."""

    address: Hashable
    requests: int
    answered_from: Hashable | None = None
    problem: str | None = None


Event = Responder | Silent


class RequestIds:
    """Random request-ids in ``[REQUEST_ID_MIN, REQUEST_ID_MAX]`` from the OS's CSPRNG.

    Random, not sequential, so an off-path host cannot guess the next id (as the client's
    ``register``); read 4 KiB of ``os.urandom`` at a time, so an id costs a list pop, not a
    system call.
    """

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer: list[int] = []

    def __call__(self) -> int:
        while True:
            if not self._buffer:
                self._buffer = array("I", os.urandom(4096)).tolist()
            value = self._buffer.pop() & REQUEST_ID_MAX
            if value >= REQUEST_ID_MIN:  # 99.6 % of draws
                return value


_TIMEOUT = PingResult("timeout")
_V4_MAPPED = bytes(10) + b"\xff\xff"  # RFC 4291 section 2.5.5.2


class _Probe:
    """An address past its first send: a re-send due, or a later credential. (While an address
    waits for the reply to its first GET with the first credential, which is where almost
    every address of a sweep spends its time, the table holds the address itself: no object
    per address beyond its key.)"""

    __slots__ = ("address", "attempt", "credential", "waiting")

    def __init__(self, address: Hashable, credential: int, attempt: int, waiting: bool) -> None:
        self.address = address
        self.credential = credential
        self.attempt = attempt
        self.waiting = waiting  # queued for its (re-)send, no timer running


class DiscoverySweep:
    """The sans-IO core. Addresses are opaque hashables that equal the source of their replies
    (the trio shell uses the transport's ``(packed address, port)``).

    Use: :meth:`add` while :attr:`room` > 0; :meth:`datagrams` to get what to send now;
    :meth:`receive` each datagram whose request-id :meth:`owns`; :meth:`expire` when
    :meth:`next_deadline` has passed; :meth:`events` to collect the outcomes. Each address
    added ends as exactly one event (or, with ``count_blank``, in :attr:`blank`). At most
    ``capacity`` addresses are held at once.

    Memory is what bounds a sweep's capacity (65,536 held for a 5 s reply window), so the
    bookkeeping is lean: the id table maps a request-id to the address itself until something
    other than the first send happens to it (then to a small :class:`_Probe`); the timers
    are one entry per batch sent (every datagram of a batch has the same deadline), and the
    datagrams and bytes sent to an address are computed from where it is in its schedule
    (every credential's request has one fixed size).
    """

    def __init__(
        self,
        templates: Sequence[RequestTemplate],
        decoders: Sequence[Callable[[bytes], Pdu]],
        *,
        timeout: float,
        retries: int,
        backoff: float = 2.0,
        capacity: int = 1024,
        ids: Callable[[], int] | None = None,
        in_use: Callable[[int], bool] | None = None,
        count_blank: bool = False,
        noted: Container[Hashable] = (),
    ) -> None:
        if not templates or len(templates) != len(decoders):
            raise ValueError("one decoder per template, at least one")
        if timeout <= 0 or retries < 0 or backoff < 1 or capacity < 1:
            raise ValueError("timeout > 0, retries >= 0, backoff >= 1, capacity >= 1 required")
        self._render = [template.render for template in templates]
        # A rendered request always has its template's size (the id is always 4 octets).
        self._sizes = [len(render(REQUEST_ID_MIN)) for render in self._render]
        self._decode = list(decoders)
        self._retries = retries
        self._tries = retries + 1
        self._waits = [timeout * backoff**n for n in range(retries + 1)]
        self.capacity = capacity
        # The longest an address can stay: every attempt of every credential.
        self.longest = sum(self._waits) * len(templates)
        self._ids = ids or RequestIds()
        self._in_use = in_use
        # count_blank: an address silent with every credential, with nothing else to say (no
        # reply from elsewhere, no problem), is only counted in :attr:`blank`, not made an
        # event: most of a sweep is blank space, and a caller with nothing to do for it
        # should not pay for tens of thousands of Silent tuples. Addresses in ``noted`` (the
        # transport's sources of unreadable datagrams) stay events: the caller may have more
        # to say about them.
        self._count_blank = count_blank
        self._noted = noted
        self.blank = 0
        # request-id -> the address (first send of the first credential, timer running) or
        # its _Probe (anything later).
        self._probes: dict[int, Any] = {}
        self._fresh: deque[Hashable] = deque()  # added, nothing sent yet
        self._ready: deque[int | _Probe] = deque()  # re-send (id) or next credential (probe)
        # One deadline queue per attempt, one entry per batch: every entry of queue n waits
        # the same time, so appending in send order keeps each queue sorted without a heap.
        # Ids answered meanwhile stay until their deadline and are skipped then.
        self._queues: list[deque[tuple[float, list[int]]]] = [deque() for _ in self._waits]
        self._events: list[Event] = []
        self._size = 0
        self._elsewhere: dict[Hashable, Hashable] = {}
        self._problems: dict[Hashable, str] = {}
        # Counters (cumulative).
        self.exchanges = 0  # request-ids used (one per credential tried per address)
        self.sent = 0
        self.resent = 0
        self.timeouts = 0  # exchanges that ended with no reply
        self.mismatched = 0  # our id from another address: dropped
        self.undecodable = 0  # from the right address, but not a reply the credential accepts
        self.unmatched = 0  # not one of our ids (given to receive anyway)

    # -- state --------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Addresses held: waiting to be sent, or waiting for a reply."""
        return self._size

    @property
    def room(self) -> int:
        return self.capacity - self._size

    @property
    def pending(self) -> int:
        """Request-ids waiting for a reply (never more than ``capacity``)."""
        return len(self._probes)

    def sendable(self) -> int:
        """An upper bound on what :meth:`datagrams` would return now."""
        return len(self._fresh) + len(self._ready)

    def owns(self, request_id: int) -> bool:
        return request_id in self._probes

    def next_deadline(self) -> float | None:
        heads = [queue[0][0] for queue in self._queues if queue]
        return min(heads) if heads else None

    def events(self) -> list[Event]:
        """The outcomes since the last call, in the order they happened."""
        events, self._events = self._events, []
        return events

    # -- inputs -------------------------------------------------------------------------

    def add(self, address: Hashable) -> None:
        if self._size >= self.capacity:
            raise RuntimeError("sweep is full; wait until room > 0")
        self._fresh.append(address)
        self._size += 1

    def check_ids_with(self, in_use: Callable[[int], bool] | None) -> None:
        """Replace the ``in_use`` given at construction (a shell that knows a cheaper question
        once it exists: ids used elsewhere than in this sweep, which checks its own table)."""
        self._in_use = in_use

    def add_many(self, addresses: Sequence[Hashable]) -> None:
        """:meth:`add` for each of ``addresses``, in order, at once (all must fit)."""
        if self._size + len(addresses) > self.capacity:
            raise RuntimeError("sweep is full; wait until room > 0")
        self._fresh.extend(addresses)
        self._size += len(addresses)

    def datagrams(self, now: float, limit: int) -> list[tuple[int, Hashable, bytes]]:
        """Up to ``limit`` (request-id, address, datagram) to send now; their timers start at
        ``now``. Re-sends and next credentials go before new addresses."""
        out: list[tuple[int, Hashable, bytes]] = []
        probes, ready, fresh = self._probes, self._ready, self._fresh
        ids, in_use = self._ids, self._in_use
        first = self._render[0]
        started: list[int] = []  # ids whose attempt 0 starts now
        later: dict[int, list[int]] = {}  # attempt -> ids re-sent now
        count = 0
        while count < limit and ready:
            item = ready.popleft()
            if type(item) is _Probe:  # the next credential: a fresh id
                probe = item
                request_id = self._new_id()
                probes[request_id] = probe
                self.exchanges += 1
            else:
                request_id = item  # type: ignore[assignment]
                held = probes.get(request_id)
                if type(held) is not _Probe or not held.waiting:
                    continue  # answered while waiting for its re-send
                probe = held
                self.resent += 1
            probe.waiting = False
            attempt = probe.attempt
            (started if attempt == 0 else later.setdefault(attempt, [])).append(request_id)
            out.append((request_id, probe.address, self._render[probe.credential](request_id)))
            count += 1
        # New addresses after every re-send, in one tight loop: most of a sweep is this.
        fresh_sent = min(limit - count, len(fresh))
        popleft, add_started, add_out = fresh.popleft, started.append, out.append
        for _ in range(fresh_sent):
            address = popleft()
            request_id = ids()
            if request_id in probes or (in_use is not None and in_use(request_id)):
                request_id = self._new_id()
            probes[request_id] = address
            add_started(request_id)
            add_out((request_id, address, first(request_id)))
        count += fresh_sent
        self.exchanges += fresh_sent
        if started:
            self._queues[0].append((now + self._waits[0], started))
        for attempt, request_ids in later.items():
            self._queues[attempt].append((now + self._waits[attempt], request_ids))
        self.sent += count
        return out

    def receive(self, request_id: int, data: bytes, source: Hashable) -> bool:
        """One datagram whose request-id was read (``peek_request_id``). True if the id is
        ours (used or dropped here); False if not (the caller counts it as unmatched)."""
        held = self._probes.get(request_id)
        if held is None:
            self.unmatched += 1
            return False
        probe = held if type(held) is _Probe else None
        address = held if probe is None else probe.address
        if source != address:
            # Accepting it would let any host on the path answer for this address.
            self.mismatched += 1
            self._elsewhere[address] = source
            return True
        credential = 0 if probe is None else probe.credential
        try:
            pdu = self._decode[credential](data)
        except SnmpDecodeError as exc:  # garbled or forged: drop it, keep waiting
            self.undecodable += 1
            self._problems[address] = str(exc)
            return True
        del self._probes[request_id]
        self._size -= 1
        if self._elsewhere:
            self._elsewhere.pop(address, None)
        if self._problems:
            self._problems.pop(address, None)
        requests, sent_bytes = self._spent(probe)
        self._events.append(Responder(address, credential, pdu, requests, sent_bytes, len(data)))
        return True

    def abandon(self, request_id: int, problem: str) -> None:
        """Give up on a probe whose send failed (no route): it ends :class:`Silent` with the
        reason, so the caller can report it."""
        held = self._probes.pop(request_id, None)
        if held is not None:
            probe = held if type(held) is _Probe else None
            address = held if probe is None else probe.address
            self._problems[address] = problem
            self._finish(address, self._spent(probe)[0])

    def end(self, request_id: int) -> bool:
        """End the probe waiting on ``request_id`` at once as :class:`Silent` (no problem):
        e.g. an ICMP error said the address cannot be reached (RFC 1122 section 3.2.2.1).
        False when that id waits for nothing (answered, or between credentials)."""
        held = self._probes.pop(request_id, None)
        if held is None:
            return False
        probe = held if type(held) is _Probe else None
        self._finish(held if probe is None else probe.address, self._spent(probe)[0])
        return True

    def expire(self, now: float) -> None:
        """Advance every probe whose deadline is ``<= now``: re-send, next credential, or
        :class:`Silent`."""
        probes, ready = self._probes, self._ready
        last = self._retries
        credentials = len(self._render)
        elsewhere, problems, noted = self._elsewhere, self._problems, self._noted
        blank = 0  # ended as blank space on the quick path below (counters updated once)
        for attempt, queue in enumerate(self._queues):
            # Most of a sweep: the last try of the only credential ran out on a plain entry,
            # and there is nothing to say about the address: it is counted, nothing more.
            quick = self._count_blank and credentials == 1 and attempt == last
            while queue and queue[0][0] <= now:
                for request_id in queue.popleft()[1]:
                    held = probes.get(request_id)
                    if held is None:
                        continue  # answered
                    if (
                        quick
                        and type(held) is not _Probe
                        and (not elsewhere or held not in elsewhere)
                        and (not problems or held not in problems)
                        and (not noted or held not in noted)
                    ):
                        del probes[request_id]
                        blank += 1
                        continue
                    if type(held) is _Probe:
                        probe: _Probe | None = held
                        if held.attempt != attempt or held.waiting:
                            continue  # already moved on
                    elif attempt:
                        continue  # pragma: no cover - a plain entry is always attempt 0
                    else:
                        probe = None
                    if attempt < last:  # same id, same bytes
                        if probe is None:
                            probes[request_id] = _Probe(held, 0, 1, True)
                        else:
                            probe.attempt, probe.waiting = attempt + 1, True
                        ready.append(request_id)
                        continue
                    del probes[request_id]
                    self.timeouts += 1
                    credential = 0 if probe is None else probe.credential
                    if credential + 1 < credentials:  # its id is drawn when it is sent
                        if probe is None:
                            probe = _Probe(held, 1, 0, True)
                        else:
                            probe.credential, probe.attempt, probe.waiting = credential + 1, 0, True
                        ready.append(probe)
                    else:
                        self._finish(
                            held if probe is None else probe.address, self._tries * credentials
                        )
        if blank:  # as _finish would have counted each
            self.timeouts += blank
            self.blank += blank
            self._size -= blank

    # -- internals ----------------------------------------------------------------------

    def _spent(self, probe: _Probe | None) -> tuple[int, int]:
        """Datagrams and bytes sent to an address so far, from where it is in its schedule:
        every earlier credential had all its tries, the current one ``attempt + 1`` (or
        ``attempt`` while the next send waits)."""
        if probe is None:
            return 1, self._sizes[0]
        tries, sizes = self._tries, self._sizes
        current = probe.attempt + (0 if probe.waiting else 1)
        requests = probe.credential * tries + current
        sent_bytes = tries * sum(sizes[: probe.credential]) + current * sizes[probe.credential]
        return requests, sent_bytes

    def _finish(self, address: Hashable, requests: int) -> None:
        self._size -= 1
        elsewhere = self._elsewhere.pop(address, None) if self._elsewhere else None
        problem = self._problems.pop(address, None) if self._problems else None
        if (
            self._count_blank
            and elsewhere is None
            and problem is None
            and (not self._noted or address not in self._noted)
        ):
            self.blank += 1
            return
        self._events.append(Silent(address, requests, elsewhere, problem))

    def _new_id(self) -> int:
        probes, in_use = self._probes, self._in_use
        for _ in range(64):  # with 10,000 in flight of 2**31 ids a collision is ~5e-6
            request_id = self._ids()
            if request_id not in probes and (in_use is None or not in_use(request_id)):
                return request_id
        raise RuntimeError("could not find a free request-id")  # pragma: no cover


def discovery_templates(
    credentials: Sequence[Community], oids: Sequence[Sequence[int]]
) -> tuple[list[RequestTemplate], list[Callable[[bytes], Pdu]]]:
    """One GET template and one reply decoder per community credential.

    The templates are encoded once and sent as bytes, past :meth:`SnmpClient.request`, so the
    allow-list is checked here: an OID outside it raises :class:`SnmpRefused` before any
    template exists."""
    refused = first_refused(oids)
    if refused is not None:
        raise SnmpRefused("the discovery sweep", refused, "outside the allow-list")
    varbinds = [Varbind(tuple(oid)) for oid in oids]
    templates = [
        RequestTemplate(
            Message(c.version, c.community, Pdu(PduType.GET, REQUEST_ID_MAX, 0, 0, varbinds))
        )
        for c in credentials
    ]
    return templates, [c.decode for c in credentials]


# -- the trio shell ------------------------------------------------------------------------


class SweepRunner:
    """Runs a :class:`DiscoverySweep` over an open client's transport.

    ``dispatch(event)`` is called from :meth:`run`'s task for every event; it returns True if
    it keeps the address's slot (a host task that will call :meth:`release` when it ends), so
    addresses swept plus hosts handed on never exceed the sweep's capacity. :meth:`add` waits
    for room (back-pressure on the producer); :meth:`close` says no more addresses will come,
    and :meth:`run` returns once every one has its event.
    """

    def __init__(
        self,
        sweep: DiscoverySweep,
        transport: UdpTransport,
        bucket: TokenBucket,
        stats: ClientStats,
        dispatch: Callable[..., bool],
        *,
        batch: int = 64,
        pinger: Pinger | None = None,
        echoes: int = 1,
        on_blank: Callable[[int], None] | None = None,
    ) -> None:
        self.sweep = sweep
        # With ``on_blank`` (and a sweep made with ``count_blank=True``), addresses silent with
        # nothing else to say are not dispatched one by one: on_blank(n) says n more are done.
        self._on_blank = on_blank
        self._blank_seen = 0
        # With a pinger (printerhq.icmp.Pinger), each address also gets an ICMP echo with its
        # first GET (and with its re-sends, up to ``echoes`` in all, while no reply came), and
        # dispatch is called as dispatch(event, ping): ping is a PingResult (``"reply"``,
        # ``"timeout"``, an ICMP error kind, ``"error"`` for a failed send) or None when no
        # echo could be sent (ICMP off for that family).
        self._pinger = pinger
        self._echoes = max(1, echoes)
        # packed address -> [sequence numbers sent, PingResult | None, latest request-id]
        self._echo: dict[bytes, list[Any]] = {}
        if pinger is not None:
            batch = max(1, batch // 2)  # each GET may take an echo along
        self._transport = transport
        self._bucket = bucket
        self._stats = stats
        self._dispatch = dispatch
        self._batch = max(1, batch)
        self._held = 0
        self._closed = False
        self._wakeup = trio.Event()
        self._room = trio.Event()
        self._added = 0
        self._synced = (0, 0, 0, 0, 0)
        self._sockets: dict[int, stdlib_socket.socket] = {}

    # -- the producer's side ------------------------------------------------------------

    async def add(self, address: tuple[bytes, int]) -> None:
        """Queue one address (the transport's source key: packed address, port)."""
        sweep = self.sweep
        while sweep.size + self._held >= sweep.capacity:
            if self._closed:
                raise RuntimeError("sweep closed")
            self._room = trio.Event()
            await self._room.wait()
        family = stdlib_socket.AF_INET if len(address[0]) == 4 else stdlib_socket.AF_INET6
        if family not in self._sockets:
            self._sockets[family] = await self._transport.socket_for(family)
        sweep.add(address)
        self._wakeup.set()
        self._added += 1
        if self._added % 256 == 0:
            await trio.lowlevel.checkpoint()  # let the sender run; a cancellation point

    def add_nowait(self, address: tuple[bytes, int]) -> bool:
        """Queue one address if there is room and its socket is open, without waiting (False:
        nothing done; :meth:`add` waits). The producer's fast lane: no coroutine per address."""
        sweep = self.sweep
        if self._closed or sweep.size + self._held >= sweep.capacity:
            return False
        if (AF_INET if len(address[0]) == 4 else AF_INET6) not in self._sockets:
            return False  # add() opens it
        sweep.add(address)
        if not self._wakeup.is_set():
            self._wakeup.set()
        return True

    def add_batch(self, addresses: list[tuple[bytes, int]]) -> int:
        """Queue as many of ``addresses`` (IPv4 keys) as there is room for, in order, without
        waiting; how many (0 when closed or its socket is not open yet: :meth:`add` waits and
        opens it). The producer's fast lane: no call per address."""
        sweep = self.sweep
        if self._closed or AF_INET not in self._sockets:
            return 0
        taken = min(len(addresses), sweep.capacity - sweep.size - self._held)
        if taken <= 0:
            return 0
        sweep.add_many(addresses if taken == len(addresses) else addresses[:taken])
        if not self._wakeup.is_set():
            self._wakeup.set()
        return taken

    def release(self) -> None:
        """A slot kept by ``dispatch`` is free again."""
        self._held -= 1
        self._room.set()

    def close(self) -> None:
        self._closed = True
        self._wakeup.set()

    # -- the transport's sink (called from its receive task) ----------------------------

    def owns(self, request_id: int) -> bool:
        return self.sweep.owns(request_id)

    def deliver(self, data: bytes, request_id: int, source: tuple[bytes, int]) -> None:
        sweep = self.sweep
        mismatched, undecodable = sweep.mismatched, sweep.undecodable
        sweep.receive(request_id, data, source)
        self._stats.mismatched_replies += sweep.mismatched - mismatched
        self._stats.undecodable_replies += sweep.undecodable - undecodable
        self._wakeup.set()

    # -- the sender ---------------------------------------------------------------------

    async def run(self) -> None:
        """Send, expire, dispatch until closed and empty. Cancellable at every wait."""
        transport, pinger = self._transport, self._pinger
        transport.add_sink(self)
        if pinger is not None:
            pinger.add_sink(self._echo_reply)
        try:
            await self._loop()
        finally:
            transport.remove_sink(self)
            if pinger is not None:
                pinger.remove_sink(self._echo_reply)
                self._echo.clear()
            self._sync_stats()

    async def _loop(self) -> None:
        sweep, bucket = self.sweep, self._bucket
        while True:
            now = trio.current_time()
            sweep.expire(now)
            self._deliver_events()
            if self._closed and sweep.size == 0:
                return
            count = min(self._batch, sweep.sendable())
            if count:
                wait = bucket.take(now, count)
                if wait >= MIN_SLEEP:
                    await trio.sleep(wait)
                else:
                    await trio.lowlevel.checkpoint()
                echoes = await self._send(sweep.datagrams(trio.current_time(), count))
                if echoes:  # charged after the fact: a debt the next batch waits out
                    bucket.take(trio.current_time(), echoes)
                continue
            self._sync_stats()
            self._wakeup = trio.Event()
            deadline = sweep.next_deadline()
            with trio.move_on_at(math.inf if deadline is None else deadline):
                await self._wakeup.wait()

    async def _send(self, datagrams: list[tuple[int, Hashable, bytes]]) -> int:
        """Send the GETs (and their echoes); the number of echoes sent."""
        if self._pinger is None:
            await self._send_plain(datagrams)
            return 0
        transport, sockets = self._transport, self._sockets
        ntoa = stdlib_socket.inet_ntoa
        echo = self._echo if self._pinger is not None else None
        echoes = 0
        sockaddr: tuple[str, int] | tuple[str, int, int, int]
        packed: bytes
        port: int
        for request_id, address, data in datagrams:
            # :meth:`add` puts only the transport's (packed address, port) keys in the sweep.
            packed, port = address  # type: ignore[misc]
            if len(packed) == 4:
                sock, sockaddr = sockets[stdlib_socket.AF_INET], (ntoa(packed), port)
            else:
                sock = sockets[stdlib_socket.AF_INET6]
                sockaddr = (stdlib_socket.inet_ntop(stdlib_socket.AF_INET6, packed), port, 0, 0)
            try:
                if not transport.send_nowait(sock, data, sockaddr):
                    await transport.send(sock, data, sockaddr)  # buffer full: wait for room
            except OSError as exc:  # no route: a definite failure, reported by the caller
                self.sweep.abandon(request_id, f"cannot send: {exc.strerror or exc}")
                continue
            if echo is not None:
                state = echo.get(packed)
                if state is None:
                    state = echo[packed] = [[], None, request_id]
                state[2] = request_id
                if state[1] is None and len(state[0]) < self._echoes:
                    echoes += self._send_echo(state, request_id, packed, sockaddr[0])
        return echoes

    async def _send_plain(self, datagrams: list[tuple[int, Hashable, bytes]]) -> None:
        """Send the GETs alone (no pinger): the loop of a wide sweep, kept lean. One
        ``sendto`` per datagram straight on the non-blocking socket (a full buffer waits in
        :meth:`UdpTransport.send`), the counters updated once per batch."""
        transport, sockets = self._transport, self._sockets
        ntoa, ntop = stdlib_socket.inet_ntoa, stdlib_socket.inet_ntop
        v4 = sockets.get(AF_INET)
        # The audit trail (docs/audit.md) sees every datagram these sendto calls put on the
        # wire; off (None), it costs one test per datagram.
        audited = transport.audited if transport.audit is not None else None
        sent = size = 0
        sock: stdlib_socket.socket | None
        sockaddr: tuple[str, int] | tuple[str, int, int, int]
        packed: bytes
        port: int
        for request_id, address, data in datagrams:
            # :meth:`add` puts only the transport's (packed address, port) keys in the sweep.
            packed, port = address  # type: ignore[misc]
            if len(packed) == 4:
                sock, sockaddr = v4, (ntoa(packed), port)
            else:
                sock, sockaddr = sockets[AF_INET6], (ntop(AF_INET6, packed), port, 0, 0)
            assert sock is not None  # add() opened the family's socket
            try:
                try:
                    sock.sendto(data, sockaddr)
                except BlockingIOError:  # buffer full: wait for room (counted there)
                    await transport.send(sock, data, sockaddr)
                    continue
            except OSError as exc:  # no route: a definite failure, reported by the caller
                self.sweep.abandon(request_id, f"cannot send: {exc.strerror or exc}")
                continue
            sent += 1
            size += len(data)
            if audited is not None:
                audited(data, sockaddr)
        transport.count_sent(sent, size)

    def _send_echo(self, state: list[Any], request_id: int, packed: bytes, address: str) -> int:
        pinger = self._pinger
        assert pinger is not None  # echoes are sent only when the runner has a pinger
        version = 4 if len(packed) == 4 else 6
        if version == 6 and packed[:12] == _V4_MAPPED:
            # As Pinger.probe: ::ffff:a.b.c.d stands for a.b.c.d, pinged over IPv4.
            version, address = 4, stdlib_socket.inet_ntoa(packed[12:])
            packed = packed[12:]
        multicast = 0xE0 <= packed[0] <= 0xEF if version == 4 else packed[0] == 0xFF
        if multicast or packed == bytes(len(packed)):
            # As Pinger.probe: "this host" or multicast is not one target to ping.
            state[1] = PingResult("error", None, f"{address} is not a unicast address")
            self.sweep.end(request_id)
            return 0
        seq = pinger.next_sequence()
        try:
            sent = pinger.send_echo_nowait(address, version, seq)
        except OSError as exc:
            # As on the per-host path: a ping the kernel refuses ends the discovery with that
            # error (the SNMP GET would meet the same missing route).
            state[1] = PingResult("error", None, exc.strerror or str(exc))
            self.sweep.end(request_id)
            return 0
        if not sent:
            return 0  # ICMP off for this family, or the buffer is full: SNMP alone decides
        state[0].append(seq)
        return 1

    def _echo_reply(self, peer: Any, reply: Any) -> None:
        """The pinger's sink: an echo reply or an ICMP error for one of our echoes."""
        state = self._echo.get(peer.packed)
        if state is None and peer.version == 4:
            state = self._echo.get(_V4_MAPPED + peer.packed)  # pinged for ::ffff:a.b.c.d
        if state is None or state[1] is not None or reply.seq not in state[0]:
            return
        if reply.kind == "reply":
            state[1] = PingResult("reply")
            return
        state[1] = PingResult(
            reply.kind, None, f"ICMP type {reply.icmp_type} code {reply.icmp_code}"
        )
        # An ICMP error for this very host: SNMP cannot get through either (RFC 1122 section
        # 3.2.2.1); end its wait now, as the per-host path does.
        if self.sweep.end(state[2]):
            self._wakeup.set()

    def _deliver_events(self) -> None:
        blank = self.sweep.blank
        if blank != self._blank_seen and self._on_blank is not None:
            self._on_blank(blank - self._blank_seen)
            self._blank_seen = blank
            self._room.set()
        events = self.sweep.events()
        if not events:
            return
        dispatch = self._dispatch
        bad_sources = self._transport.bad_sources
        echo = self._echo if self._pinger is not None else None
        for event in events:
            address = event.address
            assert isinstance(address, tuple)  # the runner adds (packed address, port) pairs
            if bad_sources and type(event) is Silent and event.problem is None:
                # Undecodable before its request-id could be read: the transport noted the
                # source (as it does for the client's requests); recent enough, it was ours.
                noted = bad_sources.get(address)
                if noted is not None and noted[0] >= trio.current_time() - self.sweep.longest:
                    event = event._replace(problem=noted[1])
            if echo is not None:
                state = echo.pop(address[0], None)
                ping = None
                if state is not None and (state[1] is not None or state[0]):
                    ping = state[1] or _TIMEOUT
                kept = dispatch(event, ping)
            else:
                kept = dispatch(event)
            if kept:
                self._held += 1
        self._room.set()

    def _sync_stats(self) -> None:
        sweep, stats = self.sweep, self._stats
        now = (sweep.exchanges, sweep.resent, sweep.timeouts, 0, 0)
        before = self._synced
        stats.requests += now[0] - before[0]
        stats.retries += now[1] - before[1]
        stats.timeouts += now[2] - before[2]
        self._synced = now
