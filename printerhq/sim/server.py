"""The trio shell of the simulator: one UDP socket per loopback address, one receive task each.

Everything protocol-shaped lives in :mod:`.agent` (answers) and :mod:`.faults` (broken
answers); this module only binds sockets, moves datagrams, and adds latency and loss.
Only loopback addresses are accepted: the simulator must never answer on a real network.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_LOG_LIMIT",
    "Fleet",
    "check_loopback",
    "in_named_network_namespace",
    "serve_fleet",
]

import errno
import ipaddress
import os
import random
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import trio

from printerhq.snmp.ber import SnmpDecodeError
from printerhq.snmp.message import MAX_MESSAGE_SIZE
from printerhq.snmp.usm import UsmUser
from printerhq.snmp.v3 import peek_msg_id

from . import faults as fault_modes
from .agent import DEFAULT_COMMUNITIES, Agent, LogEntry
from .recording import Recording
from .v3 import V3Responder

DEFAULT_LOG_LIMIT = 100_000
# Replies waiting out their latency at once; beyond this they are dropped (counted as "lost")
# so a flood cannot grow memory without bound.
MAX_PENDING_REPLIES = 10_000
_BIND_ATTEMPTS = 8
_RECV_SIZE = 65_535


def in_named_network_namespace() -> bool:
    """True when this process runs inside a network namespace made by ``ip netns add``.

    Such a namespace is bind-mounted under /run/netns; the host's initial namespace is not (and
    when /proc/1/ns/net is readable we also make sure we are not in PID 1's namespace). Used by
    the namespace lab (tests/netns_lab.py), whose addresses exist only inside its namespaces.
    """
    try:
        own = os.stat("/proc/self/ns/net")
    except OSError:
        return False
    try:
        init = os.stat("/proc/1/ns/net")
        if (init.st_dev, init.st_ino) == (own.st_dev, own.st_ino):
            return False
    except OSError:
        pass  # not readable in some sandboxes; the /run/netns match below still decides
    for directory in ("/run/netns", "/var/run/netns"):
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            try:
                st = os.stat(os.path.join(directory, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino):
                return True
    return False


def check_loopback(address: str, *, allow_netns: bool = False) -> str:
    """Return the normalised address, or raise ValueError if it is not loopback.

    ``allow_netns=True`` also accepts other addresses, but only when the process runs inside a
    named network namespace (:func:`in_named_network_namespace`), never on the host's network.
    """
    try:
        parsed = ipaddress.ip_address(address.strip())
    except ValueError:
        raise ValueError(f"not an IP address: {address!r}") from None
    if not parsed.is_loopback:
        if allow_netns and in_named_network_namespace():
            return str(parsed)
        raise ValueError(
            f"refusing {address}: the simulator serves loopback addresses only "
            "(127.0.0.0/8 or ::1)" + (" (outside a named network namespace)" if allow_netns else "")
        )
    return str(parsed)


class _RequestLog(deque[LogEntry]):
    """A bounded request log that can also hand every entry to a sink (e.g. a log file)."""

    def __init__(self, maxlen: int, sink: Callable[[LogEntry], None] | None) -> None:
        super().__init__(maxlen=maxlen)
        self.sink = sink

    def append(self, entry: LogEntry) -> None:
        super().append(entry)
        if self.sink is not None:
            self.sink(entry)


def _is_v3(data: bytes) -> bool:
    try:
        peek_msg_id(data)
    except (SnmpDecodeError, ValueError):
        return False
    return True


@dataclass
class Fleet:
    """A running fleet. ``assignments`` maps address -> recording name (round-robin).

    ``stats`` counts: received, answered, dropped (agent refused: bad community, version,
    undecodable), lost (simulated loss or overload), silent, faulted, bytes_in, bytes_out.
    """

    port: int
    addresses: list[str]
    assignments: dict[str, str]
    agents: dict[str, Agent]
    faults: dict[str, str]
    request_log: deque[LogEntry]
    stats: Counter[str] = field(default_factory=Counter)

    def requests_to(self, address: str) -> list[LogEntry]:
        """The logged requests one simulated device received."""
        return [entry for entry in self.request_log if entry.address == address]

    def address_of(self, recording_name: str) -> str:
        """The first address serving ``recording_name``."""
        for address, name in self.assignments.items():
            if name == recording_name:
                return address
        raise KeyError(recording_name)


def _load(recordings: Sequence[Recording | str | Path]) -> list[Recording]:
    loaded = [
        r if isinstance(r, Recording) else Recording.load(r, strict=False) for r in recordings
    ]
    if not loaded:
        raise ValueError("no recordings to serve")
    return loaded


def _fault_table(
    faults: Mapping[str, str] | None, addresses: list[str], allow_netns: bool = False
) -> dict[str, str]:
    """Expand ``{"*": mode}`` / ``{address: mode}`` into one mode per faulty address."""
    table: dict[str, str] = {}
    for key, mode in (faults or {}).items():
        if mode not in fault_modes.FAULT_MODES:
            raise ValueError(
                f"unknown fault mode {mode!r}; choose from "
                f"{', '.join(sorted(fault_modes.FAULT_MODES))}"
            )
        if key in ("*", "all", ""):
            for address in addresses:
                table.setdefault(address, mode)
            continue
        address = check_loopback(key, allow_netns=allow_netns)
        if address not in addresses:
            raise ValueError(f"fault address {address} is not one of the served addresses")
        table[address] = mode  # a specific address beats "*"
    if "other-address" in table.values() and len(addresses) < 2:
        raise ValueError("fault mode other-address needs at least two served addresses")
    return table


async def _bind_all(addresses: list[str], port: int) -> tuple[int, list[trio.socket.SocketType]]:
    """Bind one socket per address on one port; port 0 means: whatever the first bind got.

    Another process may hold that port on one of the other addresses; then start again with a
    fresh port (bounded attempts)."""
    attempts = _BIND_ATTEMPTS if port == 0 else 1
    for attempt in range(attempts):
        sockets: list[trio.socket.SocketType] = []
        chosen = port
        try:
            for address in addresses:
                family = trio.socket.AF_INET6 if ":" in address else trio.socket.AF_INET
                sock = trio.socket.socket(family, trio.socket.SOCK_DGRAM)
                sockets.append(sock)
                await sock.bind((address, chosen))
                if chosen == 0:
                    chosen = sock.getsockname()[1]
            return chosen, sockets
        except OSError as exc:
            for sock in sockets:
                sock.close()
            if exc.errno != errno.EADDRINUSE or attempt == attempts - 1:
                raise OSError(
                    exc.errno, f"cannot bind udp port {chosen} on {address}: {exc.strerror}"
                ) from exc
    raise AssertionError("unreachable")


@asynccontextmanager
async def serve_fleet(
    recordings: Sequence[Recording | str | Path],
    addresses: Iterable[str],
    port: int = 0,
    *,
    communities: Iterable[bytes | str] = DEFAULT_COMMUNITIES,
    latency: float = 0.0,
    jitter: float = 0.0,
    loss: float = 0.0,
    faults: Mapping[str, str] | None = None,
    seed: int | None = 0,
    max_size: int | None = None,
    log_limit: int = DEFAULT_LOG_LIMIT,
    log_sink: Callable[[LogEntry], None] | None = None,
    allow_netns: bool = False,
    users: Iterable[UsmUser] = (),
) -> AsyncIterator[Fleet]:
    """Serve ``recordings`` round-robin on ``addresses`` (all loopback) on one UDP ``port``.

    latency: seconds before each reply (plus a uniform ``0..jitter``); loss: probability of
    dropping a request; faults: ``{address or "*": mode}`` (see :mod:`.faults`); seed: for the
    loss/jitter/malform random generator (None = unpredictable); max_size: per-agent response
    size limit (default 65,507); log_sink: called with every :class:`LogEntry`.
    allow_netns: accept non-loopback addresses, only inside a named network namespace (the
    namespace lab); see :func:`check_loopback`.
    users: SNMPv3 (USM) users every device also answers, each device its own engine
    (:mod:`.v3`; the ``engine-*`` fault modes act on that engine's clock).
    Paths are loaded leniently (bad lines skipped, see :attr:`Recording.problems`).
    """
    served = [check_loopback(a, allow_netns=allow_netns) for a in addresses]
    if not served:
        raise ValueError("no addresses to serve")
    if len(set(served)) != len(served):
        raise ValueError("duplicate address in the served range")
    if not 0.0 <= loss <= 1.0:
        raise ValueError(f"loss must be a probability, got {loss}")
    if latency < 0 or jitter < 0:
        raise ValueError("latency and jitter must not be negative")
    loaded = _load(recordings)
    fault_table = _fault_table(faults, served, allow_netns)
    rng = random.Random(seed)
    log = _RequestLog(log_limit, log_sink)
    community_set = frozenset(c.encode() if isinstance(c, str) else bytes(c) for c in communities)
    agents = {
        address: Agent(
            fault_modes.faulty_recording(fault_table.get(address, ""), loaded[i % len(loaded)]),
            community_set,
            request_log=log,
            max_size=MAX_MESSAGE_SIZE if max_size is None else max_size,
        )
        for i, address in enumerate(served)
    }
    v3_users = list(users)
    responders = (
        {
            address: V3Responder(agent, v3_users, fault=fault_table.get(address))
            for address, agent in agents.items()
        }
        if v3_users
        else {}
    )
    bound_port, sockets = await _bind_all(served, port)
    by_address = dict(zip(served, sockets, strict=True))
    fleet = Fleet(
        bound_port,
        served,
        {a: agent.recording.name for a, agent in agents.items()},
        agents,
        fault_table,
        log,
    )
    pending = 0

    async def send(
        sock: trio.socket.SocketType, data: bytes, peer: tuple[object, ...], delay: float
    ) -> None:
        nonlocal pending
        try:
            if delay > 0:
                await trio.sleep(delay)
            try:
                await sock.sendto(data, peer)
                fleet.stats["bytes_out"] += len(data)
            except OSError:
                # e.g. EMSGSIZE for an oversized reply over a path that refuses it; an agent
                # never crashes on a failed send.
                fleet.stats["send_errors"] += 1
        finally:
            pending -= 1

    async def serve_one(address: str, sock: trio.socket.SocketType, nursery: trio.Nursery) -> None:
        nonlocal pending
        agent = agents[address]
        mode = fault_table.get(address)
        # other-address replies leave from the next address's socket, wrapping around.
        other = sockets[(served.index(address) + 1) % len(served)]
        while True:
            try:
                data, peer = await sock.recvfrom(_RECV_SIZE)
            except OSError:
                # ICMP port-unreachable from an earlier reply surfaces as ECONNREFUSED on Linux.
                fleet.stats["recv_errors"] += 1
                continue
            fleet.stats["received"] += 1
            fleet.stats["bytes_in"] += len(data)
            if loss and rng.random() < loss:
                fleet.stats["lost"] += 1
                continue
            responder = responders.get(address)
            if responder is not None and _is_v3(data):
                if mode == "silent":
                    fleet.stats["silent"] += 1
                    continue
                reply = responder.respond(data, address)
            else:
                message = agent.accept(data, address)
                if message is None:
                    fleet.stats["dropped"] += 1
                    continue
                if mode == "silent":
                    fleet.stats["silent"] += 1
                    continue
                reply = agent.reply_bytes(message)
            if reply is None:
                fleet.stats["dropped"] += 1
                continue
            out = other if mode == "other-address" else sock
            if mode is not None:
                fleet.stats["faulted"] += 1
            fleet.stats["answered"] += 1
            delay = latency + (rng.uniform(0, jitter) if jitter else 0.0)
            for datagram in fault_modes.datagrams(mode, reply, rng):
                if delay <= 0:
                    pending += 1
                    await send(out, datagram, peer, 0.0)
                elif pending >= MAX_PENDING_REPLIES:
                    fleet.stats["lost"] += 1
                else:
                    pending += 1
                    nursery.start_soon(send, out, datagram, peer, delay)

    # An error in the caller's block is re-raised as itself, not wrapped in the nursery's
    # ExceptionGroup (trio's strict exception groups), so tests see plain assertion errors and
    # Ctrl-C arrives as a plain KeyboardInterrupt.
    body_error: BaseException | None = None
    try:
        async with trio.open_nursery() as nursery:
            for address, sock in by_address.items():
                nursery.start_soon(serve_one, address, sock, nursery)
            try:
                yield fleet
            except trio.Cancelled:
                raise
            except BaseException as exc:  # incl. KeyboardInterrupt: re-raised below, unwrapped
                body_error = exc
            finally:
                nursery.cancel_scope.cancel()
        if body_error is not None:
            raise body_error
    finally:
        for sock in sockets:
            sock.close()
