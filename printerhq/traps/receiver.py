"""The trap receiver's trio shell: one UDP socket, one task, two bounded channels.

::

    async with open_trap_receiver(options, is_known=known.__contains__) as receiver:
        nursery.start_soon(forward_events, receiver.events)        # TrapEvent, newest kept
        async for address in receiver.collect_requests:           # "collect this printer now"
            ...

The receive task hands each datagram to :class:`~printerhq.traps.core.TrapProcessor` (all
decisions and counters are there), sends the reply it may return (an inform's Response, an
SNMPv3 report), and queues the event. Nothing here waits on the consumer: ``events`` keeps the
newest ``queue_depth`` events and drops the oldest (counted), and a printer gets at most one
pending collection request, and none within ``collect_min_interval`` of its previous one.

With ``enabled = false`` nothing is bound and both channels are closed at once, so a consumer's
``async for`` simply ends.
"""

from __future__ import annotations

__all__ = ["TrapBindError", "TrapReceiver", "open_trap_receiver"]

import errno
import ipaddress
import logging
import socket as stdlib_socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import trio

from printerhq.snmp.trap_usm import NotificationReceiverUsm

from .core import TrapEvent, TrapProcessor, TrapStats
from .options import TrapOptions

log = logging.getLogger("printerhq.traps")

# Collection requests waiting for the consumer; each printer holds at most one.
_COLLECT_QUEUE = 256
# Socket receive buffer asked for: a burst of traps waits here while the task decodes.
_RCVBUF = 1 << 20


class TrapBindError(OSError):
    """The listen address could not be bound; the message says why and what to do."""


class TrapReceiver:
    """What :func:`open_trap_receiver` yields. ``address`` is the bound (host, port), ``None``
    when disabled; ``stats`` the live counters (:class:`~printerhq.traps.core.TrapStats`)."""

    def __init__(self, options: TrapOptions, processor: TrapProcessor | None) -> None:
        self.options = options
        self.processor = processor
        self.stats = processor.stats if processor is not None else TrapStats()
        self.address: tuple[str, int] | None = None
        self._event_send, self.events = trio.open_memory_channel[TrapEvent](options.queue_depth)
        self._collect_send, self.collect_requests = trio.open_memory_channel[str](_COLLECT_QUEUE)
        self._pending: set[str] = set()
        self._last_collect: dict[str, float] = {}

    def collect_taken(self, address: str) -> None:
        """Optional: the consumer says the collection of ``address`` has started, so a new trap
        may queue another request (after ``collect_min_interval``). Taking the request from
        ``collect_requests`` does the same."""
        self._pending.discard(address)

    # -- called by the receive task -----------------------------------------------------------

    def _deliver(self, event: TrapEvent, now: float) -> None:
        try:
            self._event_send.send_nowait(event)
        except trio.WouldBlock:
            # Full: the oldest event goes, the newest is kept (a printer's latest state is what
            # matters). We own the receive side too, so we can take it out ourselves.
            self.events.receive_nowait()
            self.stats.queue_dropped += 1
            self._event_send.send_nowait(event)
        self._request_collection(event.source, now)

    def _request_collection(self, address: str, now: float) -> None:
        # A request is "pending" until the consumer has received it from the channel: the
        # channel's statistics tell us how many are still buffered.
        if self._collect_send.statistics().current_buffer_used == 0:
            self._pending.clear()
        last = self._last_collect.get(address)
        if address in self._pending or (
            last is not None and now - last < self.options.collect_min_interval
        ):
            self.stats.collect_suppressed += 1
            return
        try:
            self._collect_send.send_nowait(address)
        except trio.WouldBlock:
            self.stats.collect_suppressed += 1
            return
        self._pending.add(address)
        self._last_collect.pop(address, None)  # re-inserted last: the dict is kept in LRU order
        self._last_collect[address] = now
        if len(self._last_collect) > self.options.max_sources:
            # Bounded like the buckets: forget the oldest entry (dicts keep insertion order).
            del self._last_collect[next(iter(self._last_collect))]
        self.stats.collect_requested += 1

    def _close(self) -> None:
        self._event_send.close()
        self._collect_send.close()


def _bind_error(exc: OSError, host: str, port: int) -> TrapBindError:
    where = f"UDP {host}:{port}"
    if exc.errno == errno.EACCES and port < 1024:
        return TrapBindError(
            exc.errno,
            f"cannot listen for traps on {where}: ports below 1024 need root or "
            "CAP_NET_BIND_SERVICE (systemd: AmbientCapabilities=CAP_NET_BIND_SERVICE); or set "
            "[traps] listen to a port above 1023 and redirect 162 to it in the firewall",
        )
    if exc.errno == errno.EADDRINUSE:
        return TrapBindError(
            exc.errno,
            f"cannot listen for traps on {where}: the port is in use (is snmptrapd running?)",
        )
    return TrapBindError(exc.errno, f"cannot listen for traps on {where}: {exc.strerror}")


@asynccontextmanager
async def open_trap_receiver(
    options: TrapOptions,
    *,
    is_known: Callable[[str], bool],
    usm: NotificationReceiverUsm | None = None,
) -> AsyncIterator[TrapReceiver]:
    """Bind ``options.listen`` and receive traps until the block exits.

    ``is_known(address)`` is asked for every datagram's source address (a string as the socket
    reports it, e.g. ``"10.0.0.5"``): the agent's set of known printers. ``usm`` is for tests
    (a fixed engine-id); by default it is built from ``options`` (users, engine-id).
    Raises :class:`TrapBindError` when the address cannot be bound,
    :class:`~printerhq.traps.options.TrapConfigError` for unusable settings.
    """
    if not options.enabled:
        receiver = TrapReceiver(options, None)
        receiver._close()
        yield receiver
        return
    host, port = options.listen_address()
    if usm is None:
        usm = NotificationReceiverUsm(
            options.usm_users(), engine_id=options.engine_id_bytes(), clock=trio.current_time
        )
    processor = TrapProcessor(options, is_known, usm)
    receiver = TrapReceiver(options, processor)
    family = stdlib_socket.AF_INET6 if ":" in host else stdlib_socket.AF_INET
    sock = trio.socket.socket(family, stdlib_socket.SOCK_DGRAM)
    with sock:
        try:
            sock.setsockopt(stdlib_socket.SOL_SOCKET, stdlib_socket.SO_RCVBUF, _RCVBUF)
            await sock.bind((host, port))
        except OSError as exc:
            raise _bind_error(exc, host, port) from None
        bound = sock.getsockname()
        receiver.address = (bound[0], bound[1])
        log.info("listening for SNMP traps on %s:%d", bound[0], bound[1])
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_receive_loop, sock, receiver, processor)
                try:
                    yield receiver
                finally:
                    nursery.cancel_scope.cancel()
        finally:
            receiver._close()


def source_host(host: str) -> str:
    """The sender's address as the agent knows its printers: a dual-stack socket
    (``"[::]:162"``) reports IPv4 senders as IPv4-mapped IPv6 addresses (``::ffff:10.0.0.5``)."""
    if host.startswith("::ffff:"):
        try:
            mapped = ipaddress.IPv6Address(host).ipv4_mapped
        except ValueError:
            return host
        return str(mapped) if mapped is not None else host
    return host


async def _receive_loop(
    sock: trio.socket.SocketType, receiver: TrapReceiver, processor: TrapProcessor
) -> None:
    size = receiver.options.max_datagram + 1  # one more, so an oversize datagram shows as such
    logged_unexpected = False
    while True:
        try:
            data, source = await sock.recvfrom(size)
        except OSError as exc:
            # ICMP errors from earlier replies surface here on some systems (ECONNREFUSED):
            # nothing to do with the next datagram.
            log.debug("trap socket: %s", exc)
            continue
        now = trio.current_time()
        try:
            handled = processor.handle(data, (source_host(source[0]), source[1]), now, time.time())
        except Exception:  # the last line of defence: one hostile datagram never ends the task
            processor.stats.malformed += 1
            if not logged_unexpected:
                logged_unexpected = True
                log.exception(
                    "trap from %s could not be handled (counted as malformed; "
                    "further such errors are only counted)",
                    source[0],
                )
            continue
        if handled.reply is not None:
            try:
                await sock.sendto(handled.reply, source)
            except OSError as exc:
                log.debug("trap reply to %s: %s", source[0], exc)
        if handled.event is not None:
            receiver._deliver(handled.event, now)
