"""The ASGI application: ingest (WebSocket stream and HTTPS batch), REST API, health, metrics,
and the HTML dashboard (``dashboard.py``).

Least privilege: agent tokens upload and nothing else; viewer tokens read the fleet (REST API,
``/metrics``, dashboard) and never upload. ``/healthz`` stays open for load balancers. With
``open_read=True`` (``printerhq serve --open-read``) reads need no token, as before version 2 of
the schema; the server logs a warning.

Every request is authenticated against the database (token hash lookup), so a token revoked on
one instance is refused by all instances at once, and an open stream stops at its next batch.
Tokens are never logged: log lines name the agent or the client address, never a credential.
"""

from __future__ import annotations

import logging
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import msgspec
import trio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from printerhq import control, wire
from printerhq.server import (
    admission,
    agents_page,
    alerts_page,
    dashboard,
    device_query,
    fleet_metrics,
    fleet_queries,
    meter_reads_page,
    releases,
)
from printerhq.server.agent_control import AgentControl
from printerhq.server.control_session import ConfigSignal, ControlSession
from printerhq.server.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from printerhq.server.metrics import Gathered, Metrics, exposition
from printerhq.server.readings import decode_readings
from printerhq.server.store import (
    Agent,
    AgentRevoked,
    IngestResult,
    Store,
    StoreError,
    check_site_name,
    device_key,
)
from printerhq.server.summary_refresh import SummaryRefresher

log = logging.getLogger("printerhq.server")

MAX_TOKEN_LENGTH = 256

# Responses are gzip-compressed when the client accepts it (HTML, JSON, CSV, /metrics, the
# stylesheet: text that shrinks 5-10x), with ``Vary: Accept-Encoding``. Not compressed: bodies
# under MIN_GZIP_BYTES (the header costs more than it saves), binary bodies that do not shrink
# (release wheels are zip files) and the agents' msgpack acknowledgements (tiny). No BREACH
# exposure: no page carries a secret in its body (the session is a cookie, there is no CSRF
# token), so a reflected input has nothing to guess at. Level 6, zlib's default: within a few
# per cent of 9 in size, at a fraction of its CPU on a busy server.
MIN_GZIP_BYTES = 500
GZIP_LEVEL = 6
NOT_COMPRESSED = (
    *DEFAULT_EXCLUDED_CONTENT_TYPES,
    "application/octet-stream",
    "application/msgpack",
)


class _BatchIdOnly(msgspec.Struct):
    """Enough of a batch to name it in an error acknowledgement (unknown fields allowed here)."""

    batch_id: str


def _json(data: object, status: int = 200) -> Response:
    return Response(msgspec.json.encode(data), status_code=status, media_type="application/json")


def _error(status: int, reason: str, code: str | None = None) -> Response:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    body: dict[str, object] = {"error": reason}
    if code:  # a machine-readable code the agent acts on (``incompatible_version``)
        body.update(code=code, wire=[wire.WIRE_VERSION, wire.WIRE_MINOR])
    return Response(
        msgspec.json.encode(body),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


# Inflation runs in worker threads, at most this many at once: a few KB can inflate to 8 MiB
# (tens of ms of zlib, which releases the GIL), so other requests (``/healthz``) are served
# meanwhile, and memory for inflated batches stays bounded (4 x 8 MiB).
MAX_INFLATING = 4
INLINE_INFLATE = 256 << 10  # bytes inflated on the event loop (~0.2 ms of zlib at most)


def _bearer(headers) -> str | None:
    value = headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    return token


def _client(conn) -> str:
    return conn.client.host if conn.client else "?"


def create_app(
    store: Store, *, websocket: bool = True, open_read: bool = False, control_poll: float = 5.0
) -> Starlette:
    """Build the app around ``store``. ``websocket=False`` serves no stream route (as behind a
    proxy that strips upgrades), for testing the HTTPS fallback. ``open_read=True`` serves the
    read API, ``/metrics`` and the dashboard without a viewer token. ``control_poll``: how often
    an agent's control session looks for a configuration set elsewhere (seconds)."""
    metrics = Metrics()
    inflating = trio.CapacityLimiter(MAX_INFLATING)

    async def inflate(decompressor: wire.StreamDecompressor, data: bytes) -> bytes:
        # A batch inflates to some KB: done here, in microseconds (a worker thread costs more
        # than the zlib call, twice the GIL handed over). Only what goes on past INLINE_INFLATE
        # bytes (a large batch, a zip bomb) is finished in a worker thread.
        out, more = decompressor.start(data, INLINE_INFLATE)
        if more:
            out += await trio.to_thread.run_sync(decompressor.finish, len(out), limiter=inflating)
        return out

    agent_control = AgentControl(store)
    config_signal = ConfigSignal()
    ingest_listeners: list[Callable[[], None]] = []  # called after each stored batch
    summaries = SummaryRefresher(store)  # device_summary, refreshed after ingest (lifespan task)
    if open_read:
        log.warning(
            "--open-read: the fleet API, /metrics and the dashboard need no token; anyone "
            "who reaches this server reads the fleet"
        )

    async def authenticate(conn) -> Agent | None:
        token = _bearer(conn.headers)
        if token is None:
            metrics.rejected["no_token"] += 1
            log.warning("upload without a bearer token from %s refused", _client(conn))
            return None
        agent = await store.agent_for_token(token)
        if agent is None:
            metrics.rejected["bad_token"] += 1
            # A viewer token is refused like an unknown one (401): it is no upload credential,
            # and the uplink treats 401 as "fix the token", not as a proxy in the way.
            log.warning(
                "upload with an unknown, revoked or non-agent token from %s refused", _client(conn)
            )
        return agent

    async def viewer_for(request: Request) -> Response | None:
        """``None`` when the request may read the fleet, else the refusal: 401 without a token
        or with an unknown or revoked one, 403 with a token of another role (an agent's)."""
        if open_read:
            return None
        token = _bearer(request.headers)
        if token is None:
            metrics.rejected["read_no_token"] += 1
            return _error(401, "a viewer token is required (Authorization: Bearer)")
        holder = await store.token_holder(token)
        if holder is None:
            metrics.rejected["read_bad_token"] += 1
            log.warning(
                "read of %s with an unknown or revoked token from %s refused",
                request.url.path,
                _client(request),
            )
            return _error(401, "unknown or revoked token")
        if holder.role not in ("viewer", "admin"):
            metrics.rejected["read_wrong_role"] += 1
            log.warning(
                "read of %s with %s %r's token from %s refused",
                request.url.path,
                holder.role,
                holder.name,
                _client(request),
            )
            return _error(403, f"a {holder.role} token cannot read the fleet; use a viewer token")
        return None

    def reader(handler):
        """Wrap a read endpoint with the viewer check."""

        async def guarded(request: Request) -> Response:
            refusal = await viewer_for(request)
            return refusal if refusal is not None else await handler(request)

        guarded.__name__ = handler.__name__
        return guarded

    newer_seen: set[tuple[str, int, int]] = set()  # (agent, major, minor) already logged

    def check_agent(agent: Agent, batch: wire.Batch) -> None:
        if batch.agent and batch.agent != agent.name:
            raise wire.WireError(
                f"batch names agent {batch.agent!r} but the token is {agent.name!r}'s", 403
            )
        if batch.minor > wire.WIRE_MINOR:
            # A newer agent of our major: its added fields were dropped at decoding. Count every
            # such batch; log once per agent and version, not once per batch.
            metrics.newer_minor += 1
            if (agent.name, batch.wire, batch.minor) not in newer_seen and len(newer_seen) < 10_000:
                newer_seen.add((agent.name, batch.wire, batch.minor))
                log.info(
                    "agent %s speaks wire %d.%d, this server %d.%d: fields this server "
                    "does not know are ignored (upgrade the server to keep them)",
                    agent.name,
                    batch.wire,
                    batch.minor,
                    wire.WIRE_VERSION,
                    wire.WIRE_MINOR,
                )

    async def ingest_batch(
        agent: Agent, data: bytes, client: str
    ) -> tuple[wire.Batch, IngestResult, list[wire.Refused]]:
        """Decode, check and store one batch, from either transport (``WireError`` if the
        envelope is bad); reports refused one by one come back by index, the rest is stored."""
        batch, refused = await decode_readings(store, agent, data)  # a batch, or deltas rebuilt
        check_agent(agent, batch)
        reports, refused = admission.admit(batch, refused, time.time())
        result = await store.ingest(
            agent, batch.batch_id, reports, client, version=(batch.wire, batch.minor)
        )
        if not result.duplicate:
            for listener in ingest_listeners:  # the alert evaluator (alerts_worker.py)
                listener()
        if refused and not result.duplicate:
            await count_refused(agent, batch.batch_id, refused)
        if not result.duplicate:  # their summaries are refreshed in the background
            summaries.touched(device_key(report.identity) for report in reports)
        return batch, result, refused

    async def count_refused(agent: Agent, batch_id: str, refused: list[wire.Refused]) -> None:
        for item in refused:
            metrics.refused_reports[admission.reason_label(item.reason)] += 1
        first = f"report {refused[0].index}: {refused[0].reason}"
        await store.count_refused(agent, len(refused), f"batch {batch_id[:64]}, {first}")
        log.warning(
            "agent %s: %d report(s) of batch %s refused, the rest stored; first: report %d: %s",
            agent.name,
            len(refused),
            batch_id[:64],
            refused[0].index,
            refused[0].reason,
        )

    # -- ingest over HTTPS ---------------------------------------------------------------------
    async def ingest_http(request: Request) -> Response:
        agent = await authenticate(request)
        if agent is None:
            return _error(401, "missing, unknown or revoked token")
        try:
            length = int(request.headers.get("content-length", "0") or 0)
        except ValueError:
            length = 0
        if length > wire.MAX_COMPRESSED_BYTES:
            return _reject("http", agent, request, wire.WireError("body too large", 413))
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > wire.MAX_COMPRESSED_BYTES:
                return _reject("http", agent, request, wire.WireError("body too large", 413))
        encoding = request.headers.get("content-encoding", "identity").lower()
        try:
            if encoding == "deflate":
                data = await inflate(wire.StreamDecompressor(), bytes(body))
            elif encoding == "identity":
                data = bytes(body)
            else:
                raise wire.WireError(f"unsupported content-encoding {encoding!r}", 415)
            batch, result, refused = await ingest_batch(agent, data, _client(request))
        except wire.WireError as exc:
            return _reject("http", agent, request, exc)
        except AgentRevoked:
            metrics.rejected["revoked"] += 1
            return _error(401, "token revoked")
        _count("http", result)
        ack = wire.Ack(batch_id=batch.batch_id, duplicate=result.duplicate, refused=refused)
        return Response(
            wire.encode(ack),
            media_type="application/msgpack",
            headers={wire.VERSION_HEADER: wire.version_text()},
        )

    def _reason(exc: wire.WireError) -> str:
        if isinstance(exc, wire.IncompatibleVersion):
            return wire.INCOMPATIBLE
        if exc.status == 412:  # a delta whose base this server lacks: the agent sends it whole
            return "base_unknown"
        return f"invalid_{exc.status}"

    def _reject(transport: str, agent: Agent, conn, exc: wire.WireError) -> Response:
        metrics.rejected[_reason(exc)] += 1
        metrics.batches[(transport, "rejected")] += 1
        log.warning(
            "batch from agent %s at %s rejected (%d): %s",
            agent.name,
            _client(conn),
            exc.status,
            exc.reason[:300],
        )
        code = wire.INCOMPATIBLE if isinstance(exc, wire.IncompatibleVersion) else None
        response = _error(exc.status, exc.reason[:300], code)
        response.headers[wire.VERSION_HEADER] = wire.version_text()
        return response

    def _count(transport: str, result) -> None:
        metrics.batches[(transport, "duplicate" if result.duplicate else "stored")] += 1
        metrics.reports += result.reports

    # -- ingest over one persistent WebSocket --------------------------------------------------
    async def ingest_stream(ws: WebSocket) -> None:
        agent = await authenticate(ws)
        if agent is None:
            # Answer the handshake with 401 (ASGI WebSocket Denial Response extension), so an
            # agent tells "bad token" apart from a proxy that refuses upgrades (403, 400, ...).
            if "websocket.http.response" in ws.scope.get("extensions", {}):
                await ws.send_denial_response(_error(401, "missing, unknown or revoked token"))
            else:
                await ws.close(code=1008)  # before accept: answered with HTTP 403
            return
        # The control subprotocol (printerhq.control) only when the agent offers it: an older
        # agent never sees a text frame it would not understand.
        use_control = control.SUBPROTOCOL in (ws.scope.get("subprotocols") or [])
        await ws.accept(
            subprotocol=control.SUBPROTOCOL if use_control else None,
            headers=[(wire.VERSION_HEADER.encode(), wire.version_text().encode())],
        )
        metrics.ws_connections += 1
        metrics.ws_open += 1
        send_lock = trio.Lock()

        async def send_text(text: str) -> None:
            async with send_lock:
                await ws.send_text(text)

        session = (
            ControlSession(agent_control, agent, send_text, config_signal, control_poll)
            if use_control
            else None
        )
        try:
            async with trio.open_nursery() as nursery:
                if session is not None:
                    nursery.start_soon(_push, session)
                await receive_stream(ws, agent, session, send_lock)
                nursery.cancel_scope.cancel()
        finally:
            metrics.ws_open -= 1

    async def _push(session: ControlSession) -> None:
        try:
            await session.push_loop()
        except (WebSocketDisconnect, RuntimeError, OSError) as exc:  # the agent went away
            log.info(
                "control session of agent %s ended: %s", session.agent.name, type(exc).__name__
            )

    async def receive_stream(
        ws: WebSocket, agent: Agent, session: ControlSession | None, send_lock: trio.Lock
    ) -> None:
        inflater = wire.StreamDecompressor()
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                data = message.get("bytes")
                if data is None and session is not None and message.get("text") is not None:
                    try:
                        await session.received(message["text"])
                    except control.ControlError as exc:
                        metrics.rejected["control_invalid"] += 1
                        log.warning(
                            "control message from agent %s refused: %s", agent.name, str(exc)[:300]
                        )
                    continue
                if data is None:
                    metrics.rejected["text_frame"] += 1
                    log.warning("text frame from agent %s refused", agent.name)
                    await ws.close(code=1003)  # RFC 6455 §7.4.1: unsupported data
                    return
                try:
                    raw = await inflate(inflater, data)
                except wire.WireError as exc:
                    # The shared zlib stream is unusable now: end the connection (1007/1009).
                    metrics.rejected[f"invalid_{exc.status}"] += 1
                    log.warning("stream from agent %s closed: %s", agent.name, exc.reason)
                    await ws.close(code=1009 if exc.status == 413 else 1007)
                    return
                if await binary_control(agent, raw):
                    continue
                try:
                    batch, result, refused = await ingest_batch(agent, raw, _client(ws))
                except wire.WireError as exc:
                    # The error starts with the status: "409 incompatible_version: ..." is the
                    # refusal of a version that the agent recognises (it keeps the batch).
                    metrics.rejected[_reason(exc)] += 1
                    metrics.batches[("websocket", "rejected")] += 1
                    log.warning(
                        "batch from agent %s rejected (%d): %s",
                        agent.name,
                        exc.status,
                        exc.reason[:300],
                    )
                    try:
                        batch_id = msgspec.msgpack.decode(raw, type=_BatchIdOnly).batch_id[:64]
                    except (msgspec.DecodeError, msgspec.ValidationError):
                        batch_id = ""
                    async with send_lock:
                        await ws.send_bytes(
                            wire.encode(
                                wire.Ack(
                                    batch_id=batch_id,
                                    ok=False,
                                    error=f"{exc.status} {exc.reason[:200]}",
                                )
                            )
                        )
                    continue
                except AgentRevoked:
                    metrics.rejected["revoked"] += 1
                    log.warning("agent %s revoked: stream closed", agent.name)
                    await ws.close(code=1008)
                    return
                _count("websocket", result)
                async with send_lock:
                    await ws.send_bytes(
                        wire.encode(
                            wire.Ack(
                                batch_id=batch.batch_id,
                                duplicate=result.duplicate,
                                refused=refused,
                            )
                        )
                    )
        except WebSocketDisconnect:
            return  # the agent went away: normal

    async def binary_control(agent: Agent, raw: bytes) -> bool:
        """A binary ``status`` (wire 1.1, printerhq.control): recorded, never acknowledged.
        False for any other kind (a batch)."""
        try:
            kind = wire.decode_header(raw).kind
        except wire.WireError:
            return False  # not even a header: the batch path answers it
        if kind != control.STATUS_KIND:
            return False
        try:
            status = control.decode_binary_status(raw)
        except control.ControlError as exc:
            metrics.rejected["control_invalid"] += 1
            log.warning("status from agent %s refused: %s", agent.name, str(exc)[:300])
            return True
        await agent_control.record(agent.id, status)
        return True

    # -- REST API ------------------------------------------------------------------------------
    async def devices(request: Request) -> Response:
        """One page of the fleet (``limit``, ``offset``, ``q``, ``sort``, ``site``, ``vendor``,
        ``status``, ``include=latest``); without parameters every device in id order, as
        before pages. The body stays a list of device rows; ``X-Total-Count`` says how many
        match and ``Link: <...>; rel="next"`` where the next page is."""
        try:
            query = device_query.parse(request.query_params, everything_by_default=True)
        except device_query.QueryError as exc:
            return _error(400, str(exc))
        rows, total = await fleet_queries.page(store, query)
        response = _json(rows)
        response.headers["x-total-count"] = str(total)
        if query.limit is not None and query.offset + len(rows) < total:
            following = query.params(offset=query.offset + query.limit)
            response.headers["link"] = (
                f'<{request.url.path}?{urllib.parse.urlencode(following)}>; rel="next"'
            )
        return response

    async def device_forecast(request: Request) -> Response:
        device_id = request.path_params["device_id"]
        now = time.time()
        found = await fleet_queries.device_forecasts(store, device_id, now)
        if found is None:
            return _error(404, "no such device")
        return _json(
            {
                "device_id": device_id,
                "computed_at": now,
                "supplies": [fleet_queries.forecast_dict(f) for f in found],
            }
        )

    async def device_latest(request: Request) -> Response:
        latest = await store.latest(request.path_params["device_id"])
        return _json(latest) if latest else _error(404, "no such device")

    async def _since_limit(request: Request) -> tuple[float, int]:
        """``since`` and ``limit`` from the query; ``scans=N`` keeps only the last N scans."""
        try:
            since = float(request.query_params.get("since", 0))
            limit = max(1, min(int(request.query_params.get("limit", 1000)), 10000))
            scans = request.query_params.get("scans")
            scans_n = max(1, min(int(scans), 10000)) if scans is not None else None
        except ValueError:
            raise wire.WireError("since, limit and scans must be numbers", 400) from None
        if scans_n is not None:
            since = max(
                since, await store.since_last_scans(request.path_params["device_id"], scans_n)
            )
        return since, limit

    async def _history(request: Request, fetch) -> Response:
        """A device's time series, after the checks every history endpoint shares."""
        device_id = request.path_params["device_id"]
        try:
            since, limit = await _since_limit(request)
        except wire.WireError as exc:
            return _error(exc.status, exc.reason)
        if not await store.device_exists(device_id):
            return _error(404, "no such device")
        return _json(await fetch(device_id, since, limit))

    async def device_counters(request: Request) -> Response:
        name = request.query_params.get("name")
        return await _history(
            request,
            lambda device_id, since, limit: store.counter_history(device_id, name, since, limit),
        )

    async def device_supplies(request: Request) -> Response:
        return await _history(request, store.supply_history)

    async def agents(request: Request) -> Response:
        return _json(await agent_control.overview())

    # -- remote configuration (admin token) ------------------------------------------------
    async def admin_for(request: Request) -> tuple[Agent | None, Response | None]:
        token = _bearer(request.headers)
        holder = await store.token_holder(token) if token is not None else None
        if holder is None:
            metrics.rejected["admin_bad_token"] += 1
            return None, _error(401, "an admin token is required (Authorization: Bearer)")
        if holder.role != "admin":
            metrics.rejected["admin_wrong_role"] += 1
            log.warning("configuration change by %s %r refused", holder.role, holder.name)
            return None, _error(
                403, f"a {holder.role} token cannot configure agents; use an admin token"
            )
        return holder, None

    async def agent_config(request: Request) -> Response:
        admin, refusal = await admin_for(request)
        if refusal is not None:
            return refusal
        name = request.path_params["name"]
        if request.method == "GET":
            wanted = await agent_control.wanted_by_name(name)
            if wanted is None:
                return _error(404, f"no configuration set for agent {name!r}")
            return _json({"agent": name, "version": wanted.version, "document": wanted.document})
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > control.MAX_DOCUMENT_BYTES:
                return _error(413, f"configuration larger than {control.MAX_DOCUMENT_BYTES} bytes")
        try:
            document = bytes(body).decode("utf-8")
            agent_id, version = await agent_control.set_config(
                name, document, by=admin.name if admin else ""
            )
        except UnicodeDecodeError:
            return _error(400, "the configuration must be UTF-8 TOML text")
        except StoreError as exc:
            return _error(404, str(exc))
        config_signal.changed(agent_id)  # sessions on this instance push at once
        log.info(
            "configuration %d for agent %s set by admin %s",
            version,
            name,
            admin.name if admin else "?",
        )
        return _json({"agent": name, "version": version})

    async def healthz(request: Request) -> Response:
        try:
            version = await store.health()
        except Exception as exc:  # any database failure makes the instance unhealthy
            log.error("health check failed: %s", type(exc).__name__)
            return _json({"status": "error", "error": type(exc).__name__}, 503)
        return _json({"status": "ok", "schema": version})

    async def prometheus(request: Request) -> Response:
        """This instance's counters and the fleet's printer metrics (``?site=S``: one site's
        devices; ``?fleet=0``: the counters only). docs/prometheus.md."""
        site = request.query_params.get("site") or None
        if site is not None:
            try:
                check_site_name(site)
            except StoreError as exc:
                return _error(400, str(exc))
        families = list(metrics.families(await store.totals()))
        if request.query_params.get("fleet") != "0":
            families += await fleet_metrics.gather(store, site)
        # Writing tens of thousands of samples takes a while: off the event loop.
        body = await trio.to_thread.run_sync(exposition, Gathered(families))
        return Response(body, media_type=METRICS_CONTENT_TYPE)

    routes: list[BaseRoute] = [
        Route("/api/v1/ingest", ingest_http, methods=["POST"]),
        Route("/api/v1/devices", reader(devices)),
        Route("/api/v1/devices/{device_id:int}", reader(device_latest)),
        Route("/api/v1/devices/{device_id:int}/counters", reader(device_counters)),
        Route("/api/v1/devices/{device_id:int}/supplies", reader(device_supplies)),
        Route("/api/v1/devices/{device_id:int}/forecast", reader(device_forecast)),
        Route("/api/v1/agents", reader(agents)),
        Route("/api/v1/agents/{name}/config", agent_config, methods=["GET", "PUT"]),
        Route("/healthz", healthz),
        Route("/metrics", reader(prometheus)),
        Route("/api/v1/meter-reads", reader(meter_reads_page.api_handler(store))),
        *dashboard.routes(store, open_read=open_read),
        *alerts_page.routes(store, reader, open_read=open_read),
        *meter_reads_page.routes(store, open_read=open_read),
        *agents_page.routes(store, open_read=open_read),
        *releases.routes(store, authenticate, reader),
    ]
    if websocket:
        routes.append(WebSocketRoute("/api/v1/stream", ingest_stream))
    gzip = Middleware(
        GZipMiddleware,
        minimum_size=MIN_GZIP_BYTES,
        compresslevel=GZIP_LEVEL,
        exclude_content_types=NOT_COMPRESSED,
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(summaries.run)
            yield
            nursery.cancel_scope.cancel()

    app = Starlette(routes=routes, middleware=[gzip], lifespan=lifespan)
    app.state.metrics = metrics
    app.state.summaries = summaries
    app.state.store = store
    app.state.ingest_listeners = ingest_listeners
    return app
