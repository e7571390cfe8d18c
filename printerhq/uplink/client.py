"""``Uplink``: submit reports to the spool; a sender task streams them to the server.

Delivery is at-least-once on the wire and exactly-once in the database: a batch is deleted from
the spool only after the server acknowledged its id, and the server stores each
``(agent, batch_id)`` once. The sender keeps one WebSocket open between scan cycles, pipelines up
to ``window`` batches, and on any failure reconnects with exponential backoff and jitter, then
resends every sealed, unacknowledged batch. When the WebSocket handshake is refused (a proxy that
strips ``Upgrade``, RFC 9110 §7.8) it falls back to HTTPS POST for ``ws_retry_after`` seconds.

With a ``control`` endpoint (the agent service) the stream stays open even with nothing to send,
and offers the control subprotocol (printerhq.control): when the server selects it, text frames
carry control messages both ways beside the batches.
"""

from __future__ import annotations

import logging
import random
import ssl
import urllib.parse
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Protocol, TypedDict

import httpx
import msgspec
import trio
import trio_websocket

from printerhq import control as control_messages
from printerhq import delta, model, wire
from printerhq.traffic import UploadAuditSink
from printerhq.uplink.spool import DEFAULT_MAX_BYTES, AsyncSpool, SpoolFullError
from printerhq.uplink.transport import Connector, TlsOptions, check_pin

log = logging.getLogger("printerhq.uplink")

STREAM_PATH = "/api/v1/stream"
INGEST_PATH = "/api/v1/ingest"


def _as_ws_stream(stream: trio.abc.Stream) -> trio.SocketStream | trio.SSLStream[trio.SocketStream]:
    # trio-websocket annotates SocketStream | SSLStream but uses only the trio Stream interface;
    # ours may be a stream through an HTTP CONNECT proxy.
    return stream  # type: ignore[return-value]


class UplinkStats(TypedDict):
    """What the uplink did since it opened (``uplink.stats``)."""

    batches_sent: int
    acked: int
    duplicates: int
    rejected: int
    connects: int
    errors: int
    http_batches: int
    incompatible: int
    last_error: str
    bytes_sent: int
    control_sessions: int
    deltas: int  # readings sent as deltas (printerhq.delta)
    full_requested: int  # 412 base_unknown answers: the batch went again with full readings
    # Added with per-report refusal (docs/wire.md "Refused reports"):
    refused_reports: int  # reports now in the spool's rejected table (refused or set aside)
    last_refusal: str  # the server's reason for the latest of them
    server_errors: int  # 5xx answers and streams closed with 1011 while a batch was in flight
    set_aside: int  # batches moved to the rejected table after repeated server errors


class UplinkError(RuntimeError):
    pass


class AuthError(UplinkError):
    """The server refused the token (unknown or revoked)."""


class ControlEndpoint(Protocol):
    """The application's side of the control channel (see printerhq.control)."""

    def connected(self) -> list[str]:
        """Messages that open every control session (the agent's whole current state); also
        drops anything queued for an earlier connection, which these supersede."""
        ...

    async def next_message(self) -> str:
        """The next message to send while connected."""
        ...

    async def received(self, text: str) -> None:
        """A text frame from the server."""
        ...


class IncompatibleServer(UplinkError):
    """The server cannot read this agent's wire version (docs/wire.md): ``409
    incompatible_version``, or a strict older server's ``422`` for a field it does not know.
    The batch stays in the spool; the sender waits ``incompatible_retry`` before trying again."""


def is_incompatible(error: str | None, server_version: str | None) -> bool:
    """Does a refusal (``"<status> <reason>"``, as acks and ``_acknowledged`` word it) say the
    server speaks another version, rather than that this batch is bad? ``409`` always does. A
    ``422`` for an unknown field does when the server did not name its version (a first-release,
    strict 1.0 server) and this agent's minor added fields (``wire.FIELDS_MINOR``; 1.1 added
    message kinds only, which such a server never receives), which that server cannot know;
    from a server that names its version it means the batch itself is bad (quarantined)."""
    if not error:
        return False
    status, _, reason = error.partition(" ")
    if status == "409":
        return True
    return (
        status == "422"
        and "unknown field" in reason
        and server_version is None
        and wire.FIELDS_MINOR > 0
    )


class _ServerFault(UplinkError):
    """The server failed on a batch (HTTP 5xx, or the stream closed with 1011 while the batch
    was the oldest in flight). Retried with backoff; after ``max_server_errors`` the batch is
    set aside in the spool's rejected table so one poison batch cannot stop the queue."""

    def __init__(self, batch_id: str, reason: str):
        super().__init__(reason)
        self.batch_id = batch_id
        self.reason = reason


def _closed_by_server_error(error: BaseException) -> bool:
    """The stream closed with 1011: the server met an error it could not answer otherwise
    (RFC 6455 §7.4.1), in our server an exception while storing a batch."""
    return (
        isinstance(error, trio_websocket.ConnectionClosed)
        and error.reason is not None
        and error.reason.code == 1011
    )


class _StreamUnavailable(UplinkError):
    """The server or a proxy answered the WebSocket handshake with a plain HTTP status."""


def _first_error(exc: BaseException) -> BaseException:
    """The first non-cancellation leaf of an exception group (for logs and classification)."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            leaf = _first_error(inner)
            if not isinstance(leaf, trio.Cancelled):
                return leaf
    # trio and httpx wrap a TLS failure (BrokenResourceError, ConnectError): show the ssl error.
    cause: BaseException | None = exc
    for _ in range(6):
        cause = cause.__cause__ or cause.__context__ if cause is not None else None
        if isinstance(cause, ssl.SSLError):
            return cause
    return exc


class Uplink:
    """Durable, resumable upload of device reports. Use as ``async with``.

    ``url`` is the server's base URL (``https://host:port``). ``http://`` needs ``insecure=True``
    and logs a warning. ``agent`` is the name the token was issued for (checked by the server).
    """

    def __init__(
        self,
        url: str,
        token: str,
        spool_dir: str | Path,
        *,
        agent: str = "",
        tls: TlsOptions | None = None,
        insecure: bool = False,
        max_spool_bytes: int = DEFAULT_MAX_BYTES,
        batch_reports: int = 100,
        window: int = 8,
        transport: str = "auto",  # "auto" (WebSocket, HTTPS fallback), "websocket", "http"
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        connect_timeout: float = 10.0,
        ack_timeout: float = 30.0,
        idle_ping: float = 25.0,
        ws_retry_after: float = 300.0,
        control: ControlEndpoint | None = None,
        incompatible_retry: float = 600.0,
        full_every: int = 96,
        max_server_errors: int = 5,
        audit: UploadAuditSink | None = None,
    ):
        parsed = urllib.parse.urlsplit(url.rstrip("/"))
        self.tls = tls or TlsOptions()
        self.insecure = insecure or self.tls.insecure
        if parsed.scheme not in ("https", "http") or not parsed.hostname:
            raise UplinkError(f"upload URL must be https://host[:port], not {url!r}")
        if parsed.scheme == "http":
            if not self.insecure:
                raise UplinkError(
                    "plain http:// upload needs --insecure (tokens and reports would travel "
                    "unencrypted)"
                )
            log.warning(
                "uploading over plain HTTP to %s: token and reports are not encrypted",
                parsed.netloc,
            )
        if not token:
            raise UplinkError("an upload token is required")
        if transport not in ("auto", "websocket", "http"):
            raise ValueError("transport must be auto, websocket or http")
        self.secure = parsed.scheme == "https"
        self.host = parsed.hostname
        self.port = parsed.port or (443 if self.secure else 80)
        self.base_url = f"{parsed.scheme}://{parsed.netloc}"
        self._token = token
        self.agent = agent
        self.spool_dir = Path(spool_dir)
        self.max_spool_bytes = max_spool_bytes
        self.batch_reports = batch_reports
        self.window = window
        self.transport = transport
        self.backoff_initial, self.backoff_max = backoff_initial, backoff_max
        self.connect_timeout, self.ack_timeout = connect_timeout, ack_timeout
        self.idle_ping, self.ws_retry_after = idle_ping, ws_retry_after
        self.control = control
        self.incompatible_retry = incompatible_retry
        self.max_server_errors = max_server_errors
        # The audit trail (docs/audit.md): told of every message sent to the server. None: off.
        self.audit = audit
        self._control_sent = 0
        self._server_errors: dict[str, int] = {}  # batch id -> server errors so far
        self._in_flight: dict[str, int] = {}  # the stream's batches awaiting their ack
        # The server's refusal of this agent (401/403): set until a batch is accepted again.
        # ``flush`` stops waiting while it is set: nothing will be acknowledged.
        self.refusal: str | None = None
        self.connector = Connector(self.host, self.port, self.secure, self.tls)
        self.stats = UplinkStats(
            batches_sent=0,
            acked=0,
            duplicates=0,
            rejected=0,
            connects=0,
            errors=0,
            http_batches=0,
            incompatible=0,
            last_error="",
            bytes_sent=0,
            control_sessions=0,
            deltas=0,
            full_requested=0,
            refused_reports=0,
            last_refusal="",
            server_errors=0,
            set_aside=0,
        )
        # What the server acknowledged, per device: later readings go as deltas against it
        # (printerhq.delta), to a server that named a wire version that reads them.
        self.bases = delta.Bases(full_every)
        self._holding = 0  # open holding() blocks: reports wait for the end of the cycle
        self._hold_full = False  # ... unless a whole batch is waiting
        self._waiting = 0  # reports submitted while holding, not yet sealed into a batch
        self._sent_as_delta: set[str] = set()  # batch ids last encoded as ``delta_batch``
        self._incompatible_logged = False
        self.server_version: str | None = None  # as the server announced it (None: 1.0 or unknown)
        self._spool: AsyncSpool | None = None
        self._changed = trio.Event()  # set (and replaced) when the spool changes
        self._ws_down_until = float("-inf")
        self._http: httpx.AsyncClient | None = None
        self._nursery_manager: AbstractAsyncContextManager[trio.Nursery] | None = None
        self._nursery: trio.Nursery | None = None

    # -- public API ------------------------------------------------------------------------------
    async def __aenter__(self) -> Uplink:
        self._spool = await AsyncSpool.open(self.spool_dir, self.max_spool_bytes)
        self._nursery_manager = trio.open_nursery()
        self._nursery = await self._nursery_manager.__aenter__()
        self._nursery.start_soon(self._sender)
        return self

    async def __aexit__(self, *exc_info) -> bool:
        assert self._nursery is not None and self._nursery_manager is not None
        self._nursery.cancel_scope.cancel()
        try:
            return bool(await self._nursery_manager.__aexit__(*exc_info))
        finally:
            with trio.CancelScope(shield=True):
                if self._http is not None:
                    await self._http.aclose()
                if self._spool is not None:
                    await self._spool.aclose()

    async def submit(self, report: model.DeviceReport | bytes, *, wait: bool = False) -> None:
        """Spool one report; returns once it is committed and fsync'd on disk.

        When the spool is at its limit or the disk is full, raises ``SpoolFullError`` (nothing
        spooled earlier is affected) — or, with ``wait=True``, logs once and waits until
        acknowledged uploads make room, which pauses a scan that awaits it.
        """
        assert self._spool is not None, "use 'async with Uplink(...)'"
        data = report if isinstance(report, bytes) else model.encode(report)
        paused = False
        while True:
            changed = self._changed
            try:
                await self._spool.add(data)
                break
            except SpoolFullError as exc:
                if not wait:
                    raise
                if not paused:
                    log.error("%s; collection paused until uploads make room", exc)
                    paused = True
                with trio.move_on_after(5):
                    await changed.wait()
        if paused:
            log.warning("spool has room again; collection resumed")
        if self._holding:
            self._waiting += 1
            if self._waiting < self.batch_reports:
                return  # sent with the rest of the cycle when holding() ends
            self._hold_full = True  # a whole batch is waiting: it goes now
        self._notify()

    @asynccontextmanager
    async def holding(self) -> AsyncIterator[None]:
        """Reports submitted inside wait (durable in the spool) and leave together when the block
        ends: one batch, one acknowledgement per cycle instead of one per report. A full batch
        (``batch_reports``) goes at once all the same, so a long discovery streams on."""
        self._holding += 1
        try:
            yield
        finally:
            self._holding -= 1
            if not self._holding:
                self._hold_full = False
                self._waiting = 0
                self._notify()

    def _held(self) -> bool:
        return bool(self._holding) and not self._hold_full

    def _sealed(self) -> None:
        """A batch was taken from the spool: while holding, wait for the next full one."""
        if self._hold_full:
            self._hold_full = False
            self._waiting = 0

    async def flush(self, timeout: float) -> bool:
        """Wait until the server acknowledged every spooled report; ``False`` on timeout, or at
        once when the server refuses this agent (``refusal``: a bad or revoked token, 401/403)."""
        assert self._spool is not None
        with trio.move_on_after(timeout):
            while self._spool.count:
                changed = self._changed
                if not self._spool.count:
                    break
                if self.refusal is not None:
                    return False
                await changed.wait()
            return True
        return False

    @property
    def pending(self) -> int:
        """Reports in the spool not yet acknowledged."""
        return self._spool.count if self._spool else 0

    # -- sender ----------------------------------------------------------------------------------
    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    @property
    def _open_spool(self) -> AsyncSpool:
        assert self._spool is not None, "use 'async with Uplink(...)'"
        return self._spool

    async def _wait_for_work(self) -> None:
        while not self._open_spool.count or self._held():
            await self._changed.wait()

    def _use_stream(self) -> bool:
        if self.transport == "http":
            return False
        return self.transport == "websocket" or trio.current_time() >= self._ws_down_until

    async def _sender(self) -> None:
        backoff = self.backoff_initial
        while True:
            if self.control is None or not self._use_stream():
                await self._wait_for_work()
            progressed = [False]
            try:
                if self._use_stream():
                    try:
                        await self._stream_session(progressed)
                    except _StreamUnavailable as exc:
                        if self.transport == "websocket":
                            raise
                        log.warning("WebSocket refused (%s); falling back to HTTPS POST", exc)
                        self._ws_down_until = trio.current_time() + self.ws_retry_after
                        await self._http_session(progressed)
                else:
                    await self._http_session(progressed)
                backoff = self.backoff_initial
                continue
            except Exception as exc:
                error = _first_error(exc)
                self.stats["errors"] += 1
                self.stats["last_error"] = f"{type(error).__name__}: {error}"
                if isinstance(error, IncompatibleServer):
                    # Not this batch's fault and not a network fault: nothing sent now would be
                    # accepted. Keep everything spooled, say so once, and ask again much later.
                    self.stats["incompatible"] += 1
                    if not self._incompatible_logged:
                        log.error(
                            "the server cannot read this agent's wire version %d.%d (%s); "
                            "reports stay in the spool and are retried every %.0f s until "
                            "the server or this agent is upgraded",
                            wire.WIRE_VERSION,
                            wire.WIRE_MINOR,
                            error,
                            self.incompatible_retry,
                        )
                        self._incompatible_logged = True
                    await trio.sleep(self.incompatible_retry)
                    continue
                if isinstance(error, _ServerFault):
                    await self._server_fault(error)
                    progressed[0] = False  # back off further even if earlier batches went through
                elif isinstance(error, AuthError):
                    log.error("server refused the upload token: %s", error)
                    self.refusal = str(error)
                    self._notify()
                    backoff = self.backoff_max
                else:
                    log.warning(
                        "upload interrupted (%s: %s); retrying", type(error).__name__, error
                    )
            if progressed[0]:
                backoff = self.backoff_initial
            await trio.sleep(backoff * random.uniform(0.5, 1.0))
            backoff = min(backoff * 2, self.backoff_max)

    async def _acknowledged(self, ack: wire.Ack, reports: int) -> None:
        if not ack.ok and (self._base_unknown(ack) or self._kind_refused(ack)):
            return  # the batch stays sealed in the spool and goes again, whole
        self._sent_as_delta.discard(ack.batch_id)
        if ack.ok:
            if ack.refused:
                # The server names a refused report by its place in the message as sent (a
                # delta batch puts its full reports first); the spool counts its own order.
                ack = self._in_spool_order(ack)
            self.bases.acknowledged(ack.batch_id, frozenset(r.index for r in ack.refused))
        else:
            self.bases.dropped(ack.batch_id)
        if not ack.ok and is_incompatible(ack.error, self.server_version):
            raise IncompatibleServer(ack.error or "incompatible")  # the batch stays spooled
        if not ack.ok and (ack.error or "").startswith("403 "):
            # The token may not upload as this agent (another agent's name): a setting to fix,
            # not a bad batch. Every batch would be refused alike, so all stay spooled.
            raise AuthError(f"the server refused the upload: {ack.error}")
        if ack.ok and self._incompatible_logged:
            log.warning("the server accepts this agent's batches again")
            self._incompatible_logged = False
        self._server_errors.pop(ack.batch_id, None)
        if ack.ok:
            self.refusal = None
            if ack.refused:
                await self._refused_reports(ack)
            else:
                await self._open_spool.ack(ack.batch_id)
            self.stats["acked"] += 1
            self.stats["duplicates"] += ack.duplicate
        else:
            log.error(
                "server rejected batch %s (%s); kept in the spool's rejected table",
                ack.batch_id,
                ack.error,
            )
            moved = await self._open_spool.reject(ack.batch_id, ack.error or "rejected")
            self.stats["rejected"] += 1
            self.stats["refused_reports"] += moved
            self.stats["last_refusal"] = ack.error or "rejected"
        self._notify()

    def _in_spool_order(self, ack: wire.Ack) -> wire.Ack:
        positions = self.bases.spool_positions(ack.batch_id, [r.index for r in ack.refused])
        refused = [
            wire.Refused(index=position, reason=r.reason)
            for position, r in zip(positions, ack.refused, strict=True)
        ]
        return msgspec.structs.replace(ack, refused=sorted(refused, key=lambda r: r.index))

    async def _refused_reports(self, ack: wire.Ack) -> None:
        """The server stored the batch but refused some of its reports: those go to the
        rejected table with the server's reason, the rest is acknowledged."""
        refused = [(r.index, r.reason) for r in ack.refused]
        await self._open_spool.ack_with_refusals(ack.batch_id, refused)
        self.stats["refused_reports"] += len(refused)
        self.stats["last_refusal"] = f"report {refused[0][0]}: {refused[0][1]}"
        log.error(
            "server refused %d report(s) of batch %s (first: report %d: %s); kept in the "
            "spool's rejected table, the rest was stored",
            len(refused),
            ack.batch_id,
            refused[0][0],
            refused[0][1],
        )

    async def _server_fault(self, fault: _ServerFault) -> None:
        """Count a server error against the batch it happened on; set the batch aside after
        ``max_server_errors`` (the sender's backoff doubles between the attempts)."""
        self.stats["server_errors"] += 1
        failures = self._server_errors.get(fault.batch_id, 0) + 1
        self._server_errors[fault.batch_id] = failures
        if failures < self.max_server_errors:
            log.warning(
                "server error on batch %s (%s), attempt %d of %d; retrying",
                fault.batch_id,
                fault.reason,
                failures,
                self.max_server_errors,
            )
            return
        del self._server_errors[fault.batch_id]
        reason = f"set aside after {failures} server errors; last: {fault.reason}"
        moved = await self._open_spool.reject(fault.batch_id, reason)
        self.stats["set_aside"] += 1
        self.stats["refused_reports"] += moved
        self.stats["last_refusal"] = reason
        log.error(
            "batch %s (%d reports) %s; kept in the spool's rejected table, the queue goes on",
            fault.batch_id,
            moved,
            reason,
        )
        self._notify()

    def _base_unknown(self, ack: wire.Ack) -> bool:
        """A ``412 base_unknown``: the server lacks a reading a delta of this batch was made
        against (another database, a refused reading). Forget every base, so the batch (same
        id, nothing of it was stored) goes again with full readings. A batch without deltas
        answered so is a bad batch, handled as any other refusal."""
        status, _, reason = (ack.error or "").partition(" ")
        if status != "412" or delta.BASE_UNKNOWN not in reason:
            return False
        if not self.bases.had_deltas(ack.batch_id):
            return False
        log.info("server asked for full readings (%s)", (ack.error or "")[:200])
        self.bases.dropped(ack.batch_id)
        self.bases.forget()
        self.stats["full_requested"] += 1
        self._notify()
        return True

    def _kind_refused(self, ack: wire.Ack) -> bool:
        """A ``422 unsupported message kind`` for a ``delta_batch``: a server older than the
        one that named 1.1 (an instance behind the same address during a rolling upgrade).
        Read it as a 1.0 server until it names its version again; the batch goes again, plain."""
        if ack.batch_id not in self._sent_as_delta:
            return False
        status, _, reason = (ack.error or "").partition(" ")
        if status != "422" or "unsupported message kind" not in reason:
            return False
        log.warning("the server does not read delta uploads; sending full reports")
        self._sent_as_delta.discard(ack.batch_id)
        self.bases.dropped(ack.batch_id)
        self.server_version = None
        self._notify()
        return True

    def _server_minor(self) -> int:
        """The minor of the server's wire version when it named the same major, else 0 (a
        server that names no version reads 1.0)."""
        major, _, minor = (self.server_version or "").partition(".")
        if major != str(wire.WIRE_VERSION) or not minor.isdigit():
            return 0
        return int(minor[:6])

    def _encode(self, batch_id: str, reports: list[bytes]) -> bytes:
        """A batch in the newest form the server reads: with deltas for a server of wire 1.1 or
        newer, plain full reports (declaring no minor the server did not name) for any other,
        so an older server never receives what it cannot read."""
        minor = min(wire.WIRE_MINOR, self._server_minor())
        if minor >= delta.DELTA_MINOR:
            before = self.bases.deltas
            self._sent_as_delta.add(batch_id)
            data = self.bases.encode(batch_id, self.agent, reports, minor)
            self.stats["deltas"] += self.bases.deltas - before
            return data
        self._sent_as_delta.discard(batch_id)
        full, _ = self.bases.split(batch_id, reports, deltas_allowed=False)
        return wire.encode(wire.raw_batch(batch_id, self.agent, full, minor))

    def _headers(self) -> list[tuple[bytes, bytes]]:
        return [(b"authorization", b"Bearer " + self._token.encode())]

    async def _stream_session(self, progressed: list[bool]) -> None:
        stream = await self.connector.connect(self.connect_timeout)
        self.stats["connects"] += 1
        host_header = self.host if self.port in (80, 443) else f"{self.host}:{self.port}"
        if ":" in self.host:
            host_header = f"[{self.host}]:{self.port}"
        try:
            async with trio.open_nursery() as nursery:
                try:
                    with trio.fail_after(self.connect_timeout):
                        ws = await trio_websocket.wrap_client_stream(
                            nursery,
                            _as_ws_stream(stream),
                            host_header,
                            STREAM_PATH,
                            extra_headers=self._headers(),
                            max_message_size=64 << 10,
                            subprotocols=[control_messages.SUBPROTOCOL] if self.control else None,
                        )
                except trio.TooSlowError:
                    nursery.cancel_scope.cancel()
                    raise
                self.server_version = (
                    dict(ws.handshake_headers)
                    .get(wire.VERSION_HEADER.encode(), b"")
                    .decode("ascii", "replace")[:16]
                    or None
                )
                try:
                    await self._pump(ws, progressed)
                finally:
                    self.connector.remember(stream)
                    # Cancelled (the uplink is closing), not the link failing:
                    if trio.current_effective_deadline() == float("-inf"):
                        # Every batch that counts is acknowledged by batch id, so a close
                        # handshake adds nothing but bytes: the WebSocket Close both ways
                        # (RFC 6455 section 5.5.1) and TLS close_notify (RFC 8446 section 6.1)
                        # cost ~450 B, and the reader that would see the server's Close is
                        # already cancelled, so waiting for it only ended in a 1 s timeout and
                        # a reset. Close the TCP connection now; the server sees its end.
                        await trio.aclose_forcefully(stream)
                    else:
                        with trio.move_on_after(1) as scope:
                            scope.shield = True
                            await ws.aclose()
                    nursery.cancel_scope.cancel()
        except BaseException as exc:
            error = _first_error(exc)
            if _closed_by_server_error(error) and self._in_flight:
                # The server answers in order: the oldest batch in flight is the one it failed on.
                raise _ServerFault(next(iter(self._in_flight)), "stream closed with 1011") from None
            if isinstance(error, trio_websocket.ConnectionRejected):
                if error.status_code == 401:  # our server's answer to a bad token
                    raise AuthError(f"WebSocket handshake answered {error.status_code}") from None
                raise _StreamUnavailable(f"handshake answered HTTP {error.status_code}") from None
            if isinstance(error, trio_websocket.HandshakeError):
                raise _StreamUnavailable(str(error)) from None
            raise

    async def _pump(self, ws: trio_websocket.WebSocketConnection, progressed: list[bool]) -> None:
        """Send batches (at most ``window`` unacknowledged) and apply acknowledgements."""
        in_flight: dict[str, int] = {}
        self._in_flight = in_flight  # read when the stream breaks (see _stream_session)
        slots = trio.Semaphore(self.window)
        compressor = wire.StreamCompressor()
        # Frames through the shared zlib stream must reach the socket in the order they were
        # compressed: compress and send under one lock.
        compressing = trio.Lock()
        control = self.control if ws.subprotocol == control_messages.SUBPROTOCOL else None

        async def send_compressed(message: bytes) -> int:
            async with compressing:
                frame = compressor.compress(message)
                await ws.send_message(frame)
                return len(frame)

        async def send_control() -> None:
            assert control is not None
            self.stats["control_sessions"] += 1
            for text in control.connected():
                await ws.send_message(text)
                self._audit_control(text)
            while True:
                text = await control.next_message()
                # A server of wire 1.1 reads a status as a compressed binary message.
                binary = (
                    control_messages.binary_status(text)
                    if self._server_minor() >= delta.DELTA_MINOR
                    else None
                )
                if binary is None:
                    await ws.send_message(text)
                    self._audit_control(text)
                else:
                    sent = await send_compressed(binary)
                    self.stats["bytes_sent"] += sent
                    self._audit_control(binary, sent)

        async def receive_acks() -> None:
            while True:
                message = await ws.get_message()
                if isinstance(message, str):
                    if control is not None:
                        await control.received(message)
                    else:
                        log.warning("text frame from the server ignored (no control session)")
                    continue
                ack = wire.decode_server_message(message)
                if ack is None:  # a kind this agent does not know, from a newer server
                    log.debug("server message of an unknown kind ignored")
                    continue
                if not ack.ok and ack.batch_id not in in_flight and in_flight:
                    # The server could not even read the id; it answers in order, so the
                    # refused batch is the oldest one in flight.
                    ack = wire.Ack(batch_id=next(iter(in_flight)), ok=False, error=ack.error)
                reports = in_flight.pop(ack.batch_id, None)
                if reports is None:
                    log.warning("acknowledgement for unknown batch %r ignored", ack.batch_id)
                    continue
                await self._acknowledged(ack, reports)
                progressed[0] = True
                slots.release()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(receive_acks)
            if control is not None:
                nursery.start_soon(send_control)
            while True:
                # A full window with no acknowledgement for ack_timeout: the path is dead.
                with trio.fail_after(self.ack_timeout):
                    await slots.acquire()
                changed = self._changed
                batch = (
                    None
                    if self._held()
                    else await self._open_spool.next_batch(set(in_flight), self.batch_reports)
                )
                if batch is None:
                    slots.release()
                    with trio.move_on_after(self.idle_ping):
                        await changed.wait()
                        continue
                    if not in_flight:  # idle: a ping keeps NAT and proxy state, finds a dead path
                        with trio.fail_after(self.ack_timeout):
                            await ws.ping()
                    continue
                batch_id, reports = batch
                self._sealed()
                in_flight[batch_id] = len(reports)
                message = self._encode(batch_id, reports)
                sent = await send_compressed(message)
                if self.audit is not None:
                    self.audit.upload("batch", batch_id, message, sent, "websocket")
                self.stats["batches_sent"] += 1
                self.stats["bytes_sent"] += sent

    def _audit_control(self, message: str | bytes, sent: int | None = None) -> None:
        """A status on the agent stream: a text frame, or compressed (``sent`` bytes)."""
        if self.audit is not None:
            self._control_sent += 1
            data = message.encode() if isinstance(message, str) else message
            upload_id = f"control-{self._control_sent}"
            self.audit.upload(
                "control", upload_id, data, len(data) if sent is None else sent, "websocket"
            )

    # -- HTTPS fallback --------------------------------------------------------------------------
    def _http_client(self) -> httpx.AsyncClient:
        if self._http is None:
            verify: ssl.SSLContext | bool = (
                (self.connector.ssl_context or True) if self.secure else False
            )
            self._http = httpx.AsyncClient(
                verify=verify,
                trust_env=True,
                timeout=httpx.Timeout(self.ack_timeout, connect=self.connect_timeout),
                limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            )
        return self._http

    def _check_http_pin(self, response: httpx.Response) -> None:
        if self.secure and self.tls.pin_sha256:
            ssl_object = response.extensions["network_stream"].get_extra_info("ssl_object")
            check_pin(ssl_object, self.tls.pin_sha256)

    async def _http_session(self, progressed: list[bool]) -> None:
        client = self._http_client()
        try:
            if self.secure and self.tls.pin_sha256:
                # Check the pin on the pooled connection before it carries the token.
                self._check_http_pin(await client.get(self.base_url + "/healthz"))
            while True:
                if self._held():
                    return
                batch = await self._open_spool.next_batch(set(), self.batch_reports)
                if batch is None:
                    return
                batch_id, reports = batch
                self._sealed()
                message = self._encode(batch_id, reports)
                body = wire.compress_body(message)
                self.stats["bytes_sent"] += len(body)
                if self.audit is not None:
                    # Before the POST: once it starts, the body may reach the server even when
                    # the answer never comes back.
                    self.audit.upload(
                        "batch", batch_id, message, len(body), "https" if self.secure else "http"
                    )
                response = await client.post(
                    self.base_url + INGEST_PATH,
                    content=body,
                    headers={
                        "authorization": f"Bearer {self._token}",
                        "content-encoding": "deflate",
                        "content-type": "application/msgpack",
                    },
                )
                self._check_http_pin(response)
                self.server_version = response.headers.get(wire.VERSION_HEADER, "")[:16] or None
                self.stats["batches_sent"] += 1
                self.stats["http_batches"] += 1
                if response.status_code == 200:
                    await self._acknowledged(wire.decode_ack(response.content), len(reports))
                    progressed[0] = True
                elif response.status_code in (401, 403):
                    raise AuthError(f"HTTPS upload answered {response.status_code}")
                elif response.status_code in (400, 409, 412, 413, 415, 422):  # 409, 412: see
                    # is_incompatible and _base_unknown
                    await self._acknowledged(
                        wire.Ack(
                            batch_id=batch_id,
                            ok=False,
                            error=f"{response.status_code} {response.text[:200]}",
                        ),
                        len(reports),
                    )
                elif response.status_code >= 500:
                    raise _ServerFault(batch_id, f"HTTPS upload answered {response.status_code}")
                else:
                    raise UplinkError(f"HTTPS upload answered {response.status_code}")
                if self._use_stream() and self.transport != "http":
                    return  # time to try the WebSocket again
        except BaseException:
            self._http = None
            with trio.CancelScope(shield=True):
                await client.aclose()
            raise
