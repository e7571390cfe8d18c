"""The agent's HTTPS client for the server's REST routes (updates), with the uplink's TLS rules.

Same trust as the stream (``printerhq.uplink.transport``): ``ca_bundle`` or the system store, TLS
1.3, and with ``pin_sha256`` the certificate's SHA-256 is checked right after the handshake and
*before* any request byte — so the ``Authorization`` header never reaches a server that is not the
pinned one. httpx has no hook between handshake and request; the pin lives in the network
backend (httpcore's ``start_tls``), under every connection the pool opens.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from printerhq.uplink.transport import PinMismatch, TlsOptions, check_pin, client_ssl_context

TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class _PinnedStream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream, pin: str):
        self._inner = inner
        self._pin = pin

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        tls = await self._inner.start_tls(ssl_context, server_hostname, timeout)
        try:
            check_pin(tls.get_extra_info("ssl_object"), self._pin)
        except PinMismatch as exc:
            await tls.aclose()
            # httpx maps httpcore's errors: the caller sees an httpx.ConnectError, as for
            # any other server it cannot trust.
            raise httpcore.ConnectError(str(exc)) from exc
        except BaseException:
            await tls.aclose()
            raise
        return tls

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _PinningBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, pin: str):
        self._inner = httpcore.TrioBackend()
        self._pin = pin

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _PinnedStream(stream, self._pin)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:  # pragma: no cover - the agent never uses one
        raise httpcore.ConnectError("no unix sockets here")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _PinnedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, context: ssl.SSLContext, pin: str):
        super().__init__(verify=context, trust_env=False)
        # httpx builds its pool without a way to pass a network backend: build it again with
        # the same settings and ours (max 1 connection: the agent makes one request at a time).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context, max_connections=1, network_backend=_PinningBackend(pin)
        )


def server_client(
    url: str, token: str, tls: TlsOptions, *, insecure: bool = False
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` for ``url`` carrying ``Authorization: Bearer <token>``."""
    headers = {"Authorization": f"Bearer {token}"}
    if url.startswith("http://"):
        if not insecure:
            raise ValueError("http:// only with insecure = true")
        return httpx.AsyncClient(base_url=url, headers=headers, timeout=TIMEOUT)
    context = client_ssl_context(tls)
    if tls.pin_sha256:
        return httpx.AsyncClient(
            base_url=url,
            headers=headers,
            timeout=TIMEOUT,
            transport=_PinnedTransport(context, tls.pin_sha256),
        )
    return httpx.AsyncClient(base_url=url, headers=headers, timeout=TIMEOUT, verify=context)
