"""Run the server in a trio nursery: ``async with run_server(...) as server``.

Used by ``printerhq serve``, by ``printerhq demo`` and by the tests. hypercorn's trio worker
serves the Starlette app; TLS is TLS 1.3 only (see ``tls.py``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import hypercorn.config
import hypercorn.trio
import trio

from printerhq import wire
from printerhq.server import tls
from printerhq.server.alerts_worker import AlertWorker, days_left
from printerhq.server.app import create_app
from printerhq.server.store import Store

log = logging.getLogger("printerhq.server")


class _Config(hypercorn.config.Config):
    def create_ssl_context(self):
        if not self.ssl_enabled:
            return None
        return tls.server_ssl_context(self.certfile, self.keyfile)


@dataclass
class RunningServer:
    url: str  # e.g. "https://127.0.0.1:43121"
    host: str
    port: int
    store: Store
    app: object
    certfile: Path | None = None  # the CA bundle an agent needs for a self-signed server
    fingerprint: str | None = None  # SHA-256 of the certificate, for pinning

    @property
    def ws_url(self) -> str:
        return self.url.replace("https://", "wss://").replace("http://", "ws://") + "/api/v1/stream"


def raise_open_file_limit() -> int:
    """Raise the soft limit on open files to the hard one and return it: each agent stream
    holds a socket, and the usual soft default (1024) would refuse connections long before
    memory runs short (5,000 idle streams are a few hundred MiB). Called by ``printerhq serve``
    (the application owns its process's limits, the library does not)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as exc:  # some sandboxes refuse; serve what we can
            log.warning("cannot raise the open-file limit from %d to %d: %s", soft, hard, exc)
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


PRUNE_EVERY = 3600.0  # seconds between retention passes
PRUNE_FIRST_AFTER = 60.0  # the first pass waits for start-up (and a burst of reconnects) to pass


async def prune_periodically(
    store: Store, keep_raw_days: int, every: float, first_after: float = PRUNE_FIRST_AFTER
) -> None:
    """Apply the retention (``Store.prune``) every ``every`` seconds, for ever. Each pass is
    bounded steps of short transactions; of several instances on one PostgreSQL only the one
    holding the lease prunes. A failed pass is logged and tried again at the next tick: the
    database being away for a while is no reason to stop serving."""
    await trio.sleep(first_after)
    while True:
        try:
            result = await store.prune(keep_raw_days)
        except Exception as exc:  # the next pass resumes where this one stopped
            log.warning("retention pass failed: %s: %s", type(exc).__name__, exc)
        else:
            if result.readings:
                log.info(
                    "retention: %d readings thinned (older than %d days)",
                    result.readings,
                    keep_raw_days,
                )
        await trio.sleep(every)


def _bind(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@asynccontextmanager
async def run_server(
    data_dir: str | Path,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    database: str | None = None,
    certfile: str | Path | None = None,
    keyfile: str | Path | None = None,
    self_signed: bool = False,
    insecure_http: bool = False,
    websocket: bool = True,
    open_read: bool = False,
    graceful_timeout: float = 2.0,
    alerts: bool = True,
    keep_raw_days: int | None = None,
    prune_every: float = PRUNE_EVERY,
) -> AsyncIterator[RunningServer]:
    """Open the store, serve, and yield a ``RunningServer``; stop serving on exit.

    Exactly one of ``certfile``/``keyfile``, ``self_signed`` or ``insecure_http`` is required.
    ``open_read=True`` serves the fleet (API, /metrics, dashboard) without a viewer token.
    ``alerts=False``: no alert evaluation or webhook delivery on this instance (tests).
    ``keep_raw_days``: thin older readings every ``prune_every`` seconds (``prune_periodically``);
    None keeps every reading.
    """
    if sum([bool(certfile and keyfile), self_signed, insecure_http]) != 1:
        raise ValueError("choose one of certfile+keyfile, self_signed or insecure_http")
    if self_signed:
        certfile, keyfile = tls.ensure_self_signed(data_dir, tls.certificate_names(host))
    if insecure_http:
        log.warning("serving plain HTTP: tokens and reports cross the network unencrypted")
    store = await Store.open(data_dir, database)
    try:
        app = create_app(store, websocket=websocket, open_read=open_read)
        config = _Config()
        config.bind = [_bind(host, port)]
        config.websocket_max_message_size = wire.MAX_COMPRESSED_BYTES
        config.graceful_timeout = graceful_timeout
        config.keep_alive_timeout = 75  # HTTPS fallback keeps its connection between batches
        config.accesslog = None  # request lines carry no credentials, but stay quiet by default
        # Every response (the 101 of each stream, each fallback POST) is on the agent's byte
        # budget: no Date or Server header (RFC 9110 §6.6.1 allows omitting Date without a clock).
        config.include_date_header = False
        config.include_server_header = False
        if certfile and keyfile:
            config.certfile, config.keyfile = str(certfile), str(keyfile)
        shutdown = trio.Event()
        async with trio.open_nursery() as nursery, trio.open_nursery() as background:
            # Alert evaluation, webhook delivery and retention stop with the server, not at the
            # deadline: they run in a nursery of their own, cancelled first (one CancelScope
            # cannot be entered by two tasks).
            def in_background(task: Callable[..., Awaitable[None]], *args: Any) -> None:
                background.start_soon(task, *args)

            if alerts:
                worker = AlertWorker(store, forecaster=days_left)
                app.state.ingest_listeners.append(worker.poke)
                in_background(worker.run)
            binds = await nursery.start(
                # hypercorn's stub types the app as its own ASGI framework union, which Starlette's
                # (correct) ASGI3 signature does not name; the call is right.
                partial(
                    hypercorn.trio.serve,
                    app,  # type: ignore[arg-type]
                    config,
                    shutdown_trigger=shutdown.wait,
                )
            )
            if keep_raw_days is not None:
                in_background(prune_periodically, store, keep_raw_days, prune_every)
            bound = binds[0]
            bound_port = int(bound.rsplit(":", 1)[1])
            scheme = "https" if certfile else "http"
            url_host = f"[{host}]" if ":" in host else host
            server = RunningServer(
                url=f"{scheme}://{url_host}:{bound_port}",
                host=host,
                port=bound_port,
                store=store,
                app=app,
                certfile=Path(certfile) if certfile else None,
                fingerprint=tls.certificate_fingerprint(certfile) if certfile else None,
            )
            try:
                yield server
            finally:
                shutdown.set()
                background.cancel_scope.cancel()
                nursery.cancel_scope.deadline = trio.current_time() + graceful_timeout + 1
    finally:
        with trio.CancelScope(shield=True):
            await store.aclose()
