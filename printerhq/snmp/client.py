"""The trio SNMP client: many concurrent requests over one UDP socket per address family.

Usage::

    async with SnmpClient(timeout=1.0, retries=1) as client:
        target = Target("192.0.2.10",
                        credentials=[Community(b"public"), Community(b"public", Version.V1)])
        [descr] = await client.get(target, [(1, 3, 6, 1, 2, 1, 1, 1, 0)])
        async for varbind in client.walk(target, (1, 3, 6, 1, 2, 1, 43, 11, 1, 1, 9)):
            ...

Behaviour, and why:

* **Matching.** Replies are matched by request-id *and* source address and port (see
  ``transport.py``); ids are random and unique among requests in flight.
* **Retries reuse the request-id** and re-send the very same bytes, as net-snmp does for
  v1/v2c (``snmp_resend_request``): a reply to the first send that arrives after the second
  still completes the request, so a slow agent costs one extra datagram, not a failure.
  The timeout of attempt *n* is ``timeout * backoff**n``.
* **Credentials** are tried in order; the first that gets an answer is remembered in
  ``target.credential`` and used alone from then on. A wrong community is indistinguishable
  from a silent host on the wire (agents drop it, RFC 3584 section 4.2.3 / net-snmp's
  snmpInBadCommunityNames), so that is what the error says.
* **Errors.** ``get``/``get_next``/``get_bulk`` raise :class:`SnmpErrorStatus` for a
  non-zero error-status. On SNMPv1 that is how a missing object is reported (``noSuchName``,
  RFC 1157 section 4.1.2); on v2c missing objects come back as exception varbinds
  (noSuchObject, noSuchInstance, endOfMibView; RFC 3416 section 4.2.1) and are returned as
  they are. :meth:`SnmpClient.request` returns the PDU without judging it.
* **Malformed replies** are counted and dropped, and the request keeps waiting: a garbled or
  forged datagram must not end it. If nothing good arrives, the error raised is
  :class:`SnmpBadReply` with the decoder's reason instead of a plain timeout.
* **Allow-list.** A request naming an OID outside the hand-written privacy allow-list
  (:mod:`printerhq.allowlist`) is refused with :class:`SnmpRefused` before anything is encoded
  or sent, and counted in ``stats.refused``: GET, GETNEXT and GETBULK alike, the OID asked must
  lie inside an allowed subtree or be its exact start; any other PDU type (a SET) is refused.
  :meth:`SnmpClient.exchange` checks the
  OIDs its caller declares (``asking``) the same way, so nothing reaches the socket unchecked.
* **Bounds.** A CapacityLimiter caps requests in flight (default 10,000); walks stop at
  ``max_rows`` with :class:`SnmpWalkError`; every reply buffer is 65,535 bytes.
"""

from __future__ import annotations

__all__ = [
    "SnmpClient",
    "Target",
    "ClientStats",
    "Community",
    "Credential",
    "SnmpError",
    "SnmpRefused",
    "SnmpTimeout",
    "SnmpBadReply",
    "SnmpResynchronised",
    "SnmpErrorStatus",
    "SnmpWalkError",
    "IPV4_OVERHEAD",
    "IPV6_OVERHEAD",
]

import ipaddress
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeVar

import trio

from ..allowlist import forbidden_for, is_allowed
from ..traffic import IPV4_UDP_OVERHEAD as IPV4_OVERHEAD
from ..traffic import IPV6_UDP_OVERHEAD as IPV6_OVERHEAD
from ..traffic import AuditSink, SnmpCost, Traffic
from .ber import SnmpDecodeError, Tag, format_oid
from .credentials import Community, Credential
from .errors import SnmpError, SnmpRefused
from .message import ERROR_STATUS_NAMES, ErrorStatus, Pdu, PduType, Varbind, Version
from .transport import About, UdpTransport, source_key

T = TypeVar("T")
Oid = tuple[int, ...]


class SnmpTimeout(SnmpError):
    """No acceptable reply within the timeout and retries.

    ``answered_from`` is set ("address:port") when a reply with the right request-id came from
    another address and was dropped (see ``transport.py``): the host answers from elsewhere.
    """

    answered_from: str | None = None


class SnmpBadReply(SnmpError):
    """The target answered, but nothing it sent could be decoded as a reply to the request."""


class SnmpResynchronised(SnmpBadReply):
    """The credential re-synchronised with the agent (SNMPv3 notInTimeWindow, RFC 3414
    section 3.2 step 7.b): the client re-encodes the request and sends it once more."""


class SnmpErrorStatus(SnmpError):
    """The agent answered with a non-zero error-status (RFC 3416 section 3)."""

    def __init__(self, where: str, error_status: int, error_index: int, oid: Oid | None) -> None:
        self.error_status = error_status
        self.error_name = ERROR_STATUS_NAMES.get(error_status, f"error-status {error_status}")
        self.error_index = error_index  # 1-based position in the request, 0 when none
        self.oid = oid
        at = f" at varbind {error_index} ({format_oid(oid)})" if oid else ""
        super().__init__(f"{where} answered {self.error_name} (error-status {error_status}){at}")


class SnmpWalkError(SnmpError):
    """A walk the agent would not let end: OIDs not increasing, or more rows than allowed."""


@dataclass
class ClientStats(Traffic):
    """Counters over the client's lifetime (all targets); the traffic counts are UDP payload."""

    requests: int = 0  # exchanges started (one per credential tried), retries not included
    retries: int = 0  # re-sends after a timeout
    timeouts: int = 0  # exchanges that ended without an acceptable reply
    mismatched_replies: int = 0  # known request-id from the wrong address/port: dropped
    undecodable_replies: int = 0  # malformed, or not a reply to what we asked: dropped
    unmatched_replies: int = 0  # unknown request-id: late, duplicate or stray
    receive_errors: int = 0
    refused: int = 0  # requests naming an OID outside the allow-list: never sent


@dataclass(eq=False)
class Target:
    """One agent: numeric address, port, and the credentials to try in order."""

    address: str
    port: int = 161
    credentials: list[Credential] = field(default_factory=list)
    credential: Credential | None = None  # the one that answered; set by the client

    def __str__(self) -> str:
        return (
            f"[{self.address}]:{self.port}"
            if ":" in self.address
            else f"{self.address}:{self.port}"
        )


class SnmpClient:
    """A trio SNMP manager. Use as ``async with SnmpClient() as client``.

    ``timeout`` is the wait for the first attempt, multiplied by ``backoff`` for each of the
    ``retries`` re-sends (so the defaults wait 1 s then 2 s). ``max_in_flight`` bounds the
    requests awaiting replies at once; ``max_walk_rows`` bounds :meth:`walk`. ``bind`` maps an
    address family (``socket.AF_INET``/``AF_INET6``) to the local ``(address, port)`` its socket
    binds, e.g. to send from one loopback address; by default any address, an ephemeral port.
    ``allowed`` decides which OIDs a request may name: the privacy allow-list
    (:func:`printerhq.allowlist.is_allowed`); only tests of the protocol itself pass another.
    ``audit``: told of every datagram sent (docs/audit.md); None, the default, logs nothing.
    """

    def __init__(
        self,
        *,
        timeout: float = 1.0,
        retries: int = 1,
        backoff: float = 2.0,
        max_in_flight: int = 10_000,
        max_walk_rows: int = 10_000,
        bind: dict[int, tuple[Any, ...]] | None = None,
        allowed: Callable[[Sequence[int]], bool] = is_allowed,
        audit: AuditSink | None = None,
    ) -> None:
        if timeout <= 0 or retries < 0 or backoff < 1 or max_in_flight < 1 or max_walk_rows < 1:
            raise ValueError("timeout > 0, retries >= 0, backoff >= 1 and limits >= 1 required")
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_walk_rows = max_walk_rows
        self.stats = ClientStats()
        self._limiter = trio.CapacityLimiter(max_in_flight)
        self._bind = bind
        # Only the codec's own tests pass another predicate (ANY_OID): tests/test_privacy.py
        # checks that no module of printerhq does.
        self._allowed = allowed
        self.audit = audit
        self._stack: AsyncExitStack | None = None
        self._transport: UdpTransport | None = None

    async def __aenter__(self) -> SnmpClient:
        stack = AsyncExitStack()
        transport = UdpTransport(self.stats, self._bind)
        transport.audit = self.audit
        # Exit runs these in reverse: stop the receive tasks, wait for them to end, and only
        # then close the sockets they were waiting on.
        stack.callback(transport.close)
        transport.nursery = await stack.enter_async_context(trio.open_nursery())
        stack.callback(transport.nursery.cancel_scope.cancel)
        self._transport = transport
        self._stack = stack
        return self

    async def __aexit__(self, *exc_info: object) -> bool | None:
        stack, self._stack = self._stack, None
        self._transport = None
        assert stack is not None
        return await stack.__aexit__(*exc_info)  # type: ignore[arg-type]

    @property
    def transport(self) -> UdpTransport:
        """The shared sockets and demultiplexer, for senders that batch their own requests
        (``printerhq/sweep.py`` registers a sink there)."""
        if self._transport is None:
            raise RuntimeError("SnmpClient must be used as 'async with SnmpClient() as client'")
        return self._transport

    @property
    def in_flight(self) -> int:
        """Requests currently waiting for a reply."""
        return len(self._transport.pending) if self._transport else 0

    def _check_allowed(self, target: Target, oids: Iterable[Sequence[int]]) -> None:
        """Raise :class:`SnmpRefused` (and count it) when an OID lies outside the allow-list."""
        allowed = self._allowed
        refused = next((tuple(o) for o in oids if not allowed(o)), None)
        if refused is None:
            return
        self.stats.refused += 1
        bad = forbidden_for(refused)
        why = (
            f"it lies under {bad.name} ({bad.mib}: {bad.why}), which is never asked for"
            if bad is not None
            else "it is outside the allow-list (printerhq allow-list)"
        )
        raise SnmpRefused(str(target), refused, why)

    # -- the lowest level: one datagram out, one matched datagram back -------------------

    async def exchange(
        self,
        target: Target,
        encode: Callable[[int], bytes],
        decode: Callable[[bytes], T],
        *,
        asking: Sequence[Sequence[int]],
        cost: SnmpCost | None = None,
        about: About | None = None,
    ) -> T:
        """Send ``encode(request_id)`` to the target and return ``decode(reply)``.

        ``asking`` names every OID the encoded request asks about (empty for SNMPv3 engine
        discovery): the allow-list is checked against it before anything is encoded.

        The reply is the first datagram from the target's address and port whose id
        (:func:`~printerhq.snmp.transport.peek_request_id`) is ``request_id`` and which
        ``decode`` accepts; ``decode`` raising :class:`SnmpDecodeError` drops the datagram.
        Retries re-send the same bytes. This is the hook credentials' ``prepare`` use for
        SNMPv3 discovery. ``about`` describes the request for the audit trail (else it is read
        back from the bytes).
        """
        transport = self._transport
        if transport is None:
            raise RuntimeError("SnmpClient must be used as 'async with SnmpClient() as client'")
        self._check_allowed(target, asking)
        family, sockaddr, overhead = _resolve(target)
        source = source_key(family, sockaddr)
        sock = await transport.socket_for(family)
        stats = self.stats
        async with self._limiter:
            stats.requests += 1
            request_id, pending = transport.register(source)
            try:
                data = encode(request_id)
                started = trio.current_time()
                timeout = self.timeout
                bad_reply: str | None = None
                for attempt in range(self.retries + 1):
                    if attempt:
                        stats.retries += 1
                        timeout *= self.backoff
                    try:
                        await transport.send(sock, data, sockaddr, about)
                    except OSError as exc:  # e.g. no route: a definite failure, not silence
                        raise SnmpError(f"cannot send to {target}: {exc.strerror or exc}") from exc
                    if cost is not None:
                        cost.requests += 1
                        cost.sent_bytes += len(data)
                        cost.wire_bytes += len(data) + overhead
                    with trio.move_on_after(timeout):
                        while True:
                            await pending.arrived.wait()
                            for reply in pending.take():
                                if cost is not None:
                                    cost.received_bytes += len(reply)
                                    cost.wire_bytes += len(reply) + overhead
                                try:
                                    return decode(reply)
                                except SnmpDecodeError as exc:
                                    stats.undecodable_replies += 1
                                    bad_reply = str(exc)
                stats.timeouts += 1
                noted = transport.bad_sources.get(source)
                if bad_reply is None and noted is not None and noted[0] >= started:
                    bad_reply = noted[1]
                if bad_reply is not None:
                    raise SnmpBadReply(
                        f"{target} answered, but not with a readable reply "
                        f"to request {request_id}: {bad_reply}"
                    )
                waited = sum(self.timeout * self.backoff**n for n in range(self.retries + 1))
                wrong = transport.wrong_sources.get(source)
                elsewhere = wrong[1] if wrong is not None and wrong[0] >= started else None
                timeout_error = SnmpTimeout(
                    f"no reply from {target} after {self.retries + 1} attempt(s) over "
                    f"{waited:.3g} s"
                    + (
                        f"; a reply came from {elsewhere} instead and was dropped"
                        if elsewhere
                        else ""
                    )
                )
                timeout_error.answered_from = elsewhere
                raise timeout_error
            finally:
                transport.unregister(request_id, pending)

    async def request(
        self,
        target: Target,
        pdu_type: PduType,
        varbinds: Iterable[Varbind | Sequence[int]],
        *,
        non_repeaters: int = 0,
        max_repetitions: int = 0,
        cost: SnmpCost | None = None,
    ) -> Pdu:
        """Send one PDU and return the response PDU as it came, error-status included.

        Tries ``target.credential`` if known, else each of ``target.credentials`` in order
        (SNMPv1 ones are skipped for GETBULK), and remembers the first that answers.
        """
        bound = [vb if isinstance(vb, Varbind) else Varbind(tuple(vb)) for vb in varbinds]
        if pdu_type not in _READ_PDU_TYPES:
            # The agent only reads: a SET (or anything else) would change a customer's device.
            self.stats.refused += 1
            raise SnmpRefused(str(target), (), f"{pdu_type.name} requests are never sent")
        # Before any credential is tried: an SNMPv3 one would send its discovery first.
        self._check_allowed(target, [vb.oid for vb in bound])
        fields = (non_repeaters, max_repetitions) if pdu_type == PduType.GET_BULK else (0, 0)
        if target.credential is not None:
            candidates = [target.credential]
        else:
            candidates = list(target.credentials)
        if pdu_type == PduType.GET_BULK:
            candidates = [c for c in candidates if c.version != Version.V1]
            if not candidates:
                raise SnmpError(f"{target}: GETBULK needs an SNMPv2c or v3 credential")
        if not candidates:
            raise SnmpError(f"{target}: no credentials to try")
        failures: list[SnmpError] = []
        for credential in candidates:
            try:
                pdu = await self._request_with(credential, target, pdu_type, fields, bound, cost)
            except (SnmpTimeout, SnmpBadReply) as exc:
                # Without its traceback: kept, it would point back at this frame and its
                # `failures` list, a reference cycle per silent host that only the GC frees.
                failures.append(exc.with_traceback(None))
                continue
            target.credential = credential
            return pdu
        if len(failures) == 1:
            raise failures[0]
        bad = [f for f in failures if isinstance(f, SnmpBadReply)]
        if bad:
            raise SnmpBadReply(
                f"{target}: no credential got a readable reply; "
                f"{len(bad)} unreadable, first: {bad[0]}"
            )
        kinds = ", ".join(c.protocol for c in candidates)
        elsewhere = next(
            (f.answered_from for f in failures if isinstance(f, SnmpTimeout) and f.answered_from),
            None,
        )
        timeout_error = SnmpTimeout(
            f"no reply from {target} with any of {len(candidates)} credentials ({kinds}): "
            + (
                f"a reply came from {elsewhere} instead and was dropped"
                if elsewhere
                else "wrong community or silent host"
            )
        )
        timeout_error.answered_from = elsewhere
        raise timeout_error

    async def _request_with(
        self,
        credential: Credential,
        target: Target,
        pdu_type: PduType,
        fields: tuple[int, int],
        varbinds: list[Varbind],
        cost: SnmpCost | None,
    ) -> Pdu:
        """One request with one credential. Optional credential hooks (all used by SNMPv3,
        see ``v3credential.py``): ``prepare`` may return the credential to use for this target
        (per-agent state such as a discovered engine-id); :class:`SnmpResynchronised` re-encodes
        and re-sends once; ``explain_timeout`` may replace a timeout with a better error."""
        prepare = getattr(credential, "prepare", None)
        for attempt in range(2):
            bound = credential
            if prepare is not None:
                bound = await prepare(self, target) or credential
            try:
                about: About | None = None
                if self.audit is not None:
                    about = (bound.protocol, pdu_type.name, [vb.oid for vb in varbinds])
                return await self.exchange(
                    target,
                    _pdu_encoder(bound, pdu_type, fields, varbinds),
                    _pdu_decoder(bound),
                    asking=[vb.oid for vb in varbinds],
                    cost=cost,
                    about=about,
                )
            except SnmpResynchronised:
                if attempt:
                    raise
            except SnmpTimeout as exc:
                explain = getattr(bound, "explain_timeout", None)
                if explain is None:
                    raise
                better = await explain(self, target, exc)
                if better is exc:
                    raise
                raise better from None
        raise AssertionError("unreachable")  # pragma: no cover

    # -- the operations -----------------------------------------------------------------

    async def get(
        self, target: Target, oids: Iterable[Sequence[int]], *, cost: SnmpCost | None = None
    ) -> list[Varbind]:
        """GET: one varbind per OID, in order. v2c exceptions are returned as varbinds;
        on v1 a missing object raises :class:`SnmpErrorStatus` (``noSuchName``)."""
        wanted = [tuple(oid) for oid in oids]
        pdu = await self.request(target, PduType.GET, wanted, cost=cost)
        _check(pdu, target, wanted)
        return pdu.varbinds

    async def get_next(
        self, target: Target, oids: Iterable[Sequence[int]], *, cost: SnmpCost | None = None
    ) -> list[Varbind]:
        """GETNEXT: the next object after each OID."""
        wanted = [tuple(oid) for oid in oids]
        pdu = await self.request(target, PduType.GET_NEXT, wanted, cost=cost)
        _check(pdu, target, wanted)
        return pdu.varbinds

    async def get_bulk(
        self,
        target: Target,
        oids: Iterable[Sequence[int]],
        *,
        non_repeaters: int = 0,
        max_repetitions: int = 10,
        cost: SnmpCost | None = None,
    ) -> list[Varbind]:
        """GETBULK (RFC 3416 section 4.2.3): the varbinds as the agent sent them."""
        wanted = [tuple(oid) for oid in oids]
        pdu = await self.request(
            target,
            PduType.GET_BULK,
            wanted,
            non_repeaters=non_repeaters,
            max_repetitions=max_repetitions,
            cost=cost,
        )
        _check(pdu, target, wanted, bulk=(non_repeaters, max_repetitions))
        return pdu.varbinds

    def walk(
        self,
        target: Target,
        root: Sequence[int],
        *,
        max_repetitions: int = 20,
        max_rows: int | None = None,
        cost: SnmpCost | None = None,
    ) -> Walk:
        """Iterate the subtree under ``root`` (``async for varbind in client.walk(...)``).

        GETBULK on v2c, GETNEXT on v1. Ends at the first OID outside the subtree, at
        endOfMibView, or (v1) at noSuchName. Raises :class:`SnmpWalkError` if an OID does not
        increase (an agent loop) or more than ``max_rows`` rows would be returned.
        """
        return Walk(
            self,
            target,
            tuple(root),
            max_repetitions,
            self.max_walk_rows if max_rows is None else max_rows,
            cost,
        )


class Walk:
    """The async iterator behind :meth:`SnmpClient.walk`.

    A class rather than an async generator: nothing is left suspended when the caller stops
    iterating early, so there is nothing for the event loop to finalise.
    """

    def __init__(
        self,
        client: SnmpClient,
        target: Target,
        root: Oid,
        max_repetitions: int,
        max_rows: int,
        cost: SnmpCost | None,
    ) -> None:
        if not root:
            raise ValueError("walk needs a non-empty root OID")
        self._client = client
        self._target = target
        self._root = root
        self._max_repetitions = max(1, max_repetitions)
        self._max_rows = max_rows
        self._cost = cost
        self._last: Oid = root
        self._rows = 0
        self._buffer: deque[Varbind] = deque()
        self._done = False
        # Raised once the rows before the problem have been handed out.
        self._error: SnmpWalkError | None = None

    def __aiter__(self) -> Walk:
        return self

    async def __anext__(self) -> Varbind:
        while not self._buffer:
            if self._error is not None:
                self._done = True
                error, self._error = self._error, None
                raise error
            if self._done:
                raise StopAsyncIteration
            await self._fetch()
        return self._buffer.popleft()

    def _use_bulk(self) -> bool:
        target = self._target
        if target.credential is not None:
            return target.credential.version != Version.V1
        # Credential not settled yet: GETBULK only if every candidate can do it; otherwise
        # one GETNEXT settles it first.
        return bool(target.credentials) and all(c.version != Version.V1 for c in target.credentials)

    async def _fetch(self) -> None:
        client, target = self._client, self._target
        if self._use_bulk():
            pdu = await client.request(
                target,
                PduType.GET_BULK,
                [self._last],
                max_repetitions=self._max_repetitions,
                cost=self._cost,
            )
            if pdu.error_status == ErrorStatus.TOO_BIG and self._max_repetitions > 1:
                # RFC 3416 section 4.2.3: the agent could not fit the answer; ask for less.
                self._max_repetitions //= 2
                return
        else:
            pdu = await client.request(target, PduType.GET_NEXT, [self._last], cost=self._cost)
        if (
            pdu.error_status == ErrorStatus.NO_SUCH_NAME
            and target.credential is not None
            and target.credential.version == Version.V1
        ):
            self._done = True  # v1 end of MIB view (RFC 1157 section 4.1.3)
            return
        if pdu.error_status:
            _raise_error_status(pdu, target, [self._last])
        if not pdu.varbinds:
            raise SnmpWalkError(f"{target} answered a walk step with no varbinds")
        root, depth = self._root, len(self._root)
        for varbind in pdu.varbinds:
            oid = varbind.oid
            if varbind.tag in _WALK_END_TAGS or len(oid) <= depth or oid[:depth] != root:
                self._done = True
                return
            if oid <= self._last:
                self._error = SnmpWalkError(
                    f"{target} returned {format_oid(oid)} after {format_oid(self._last)} "
                    f"while walking {format_oid(root)}: OIDs must increase"
                )
                return
            self._rows += 1
            if self._rows > self._max_rows:
                self._error = SnmpWalkError(
                    f"walk of {format_oid(root)} on {target} passed {self._max_rows} rows; stopped"
                )
                return
            self._last = oid
            self._buffer.append(varbind)


_READ_PDU_TYPES = frozenset((PduType.GET, PduType.GET_NEXT, PduType.GET_BULK))
_WALK_END_TAGS = frozenset((Tag.END_OF_MIB_VIEW, Tag.NO_SUCH_OBJECT, Tag.NO_SUCH_INSTANCE))


def _resolve(target: Target) -> tuple[int, tuple[Any, ...], int]:
    """(family, sockaddr, IP+UDP header bytes) for a numeric address; no DNS here."""
    try:
        return _resolve_numeric(target.address, target.port)
    except ValueError as exc:
        raise SnmpError(f"{target}: {exc}") from None


# A scan asks the same few thousand targets over and over; a sweep never asks twice, and 65,536
# entries (~20 MiB) made a /8 sweep's RSS climb for its first 65,536 addresses.
@lru_cache(maxsize=4096)
def _resolve_numeric(text: str, port: int) -> tuple[int, tuple[Any, ...], int]:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a numeric IP address") from None
    if not 0 < port < 65536:
        raise ValueError("port out of range")
    if address.version == 4:
        return trio.socket.AF_INET, (str(address), port), IPV4_OVERHEAD
    return trio.socket.AF_INET6, (str(address), port, 0, 0), IPV6_OVERHEAD


def _pdu_encoder(
    credential: Credential, pdu_type: PduType, fields: tuple[int, int], varbinds: list[Varbind]
) -> Callable[[int], bytes]:
    def encode(request_id: int) -> bytes:
        return credential.encode(Pdu(pdu_type, request_id, fields[0], fields[1], varbinds))

    return encode


def _pdu_decoder(credential: Credential) -> Callable[[bytes], Pdu]:
    # The transport matched the message-level id; the credential checks the rest.
    return credential.decode


def _raise_error_status(pdu: Pdu, target: Target, requested: list[Oid]) -> None:
    index = pdu.error_index
    oid = requested[index - 1] if 0 < index <= len(requested) else None
    raise SnmpErrorStatus(str(target), pdu.error_status, index, oid)


def _check(pdu: Pdu, target: Target, oids: list[Oid], bulk: tuple[int, int] | None = None) -> None:
    """Raise for an error-status or a varbind count the request does not allow."""
    if pdu.error_status:
        _raise_error_status(pdu, target, oids)
    count = len(pdu.varbinds)
    if bulk is None:
        if count != len(oids):
            raise SnmpBadReply(f"{target} returned {count} varbinds for {len(oids)} requested")
        return
    non_repeaters = min(max(bulk[0], 0), len(oids))
    allowed = non_repeaters + (len(oids) - non_repeaters) * max(bulk[1], 0)
    if count > allowed:
        raise SnmpBadReply(f"{target} returned {count} varbinds to a GETBULK allowing {allowed}")
