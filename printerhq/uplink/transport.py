"""Opening the agent's connection: TCP (or an HTTP CONNECT tunnel), TLS with resumption, pinning.

Why our own connection set-up instead of ``trio_websocket.open_websocket_url``: three things the
byte budget and the security options need that it does not offer —

* TLS session resumption: the session (TLS 1.3 ticket, RFC 8446 §4.6.1) of the last connection is
  offered on the next, which skips the certificate on a reconnect;
* certificate pinning checked *after* the handshake and *before* the token is sent;
* HTTP CONNECT through the proxy named by ``HTTPS_PROXY``/``HTTP_PROXY`` (``NO_PROXY`` honoured),
  the same variables httpx honours for the fallback (RFC 9110 §9.3.6).
"""

from __future__ import annotations

import hashlib
import logging
import ssl
import urllib.parse
import urllib.request
from dataclasses import dataclass

import trio

log = logging.getLogger("printerhq.uplink")

MAX_PROXY_RESPONSE = 8192


class PinMismatch(ssl.SSLError):
    """The server's certificate is not the pinned one: nothing was sent."""


class ProxyRefused(OSError):
    """The proxy answered CONNECT with something other than 2xx."""


@dataclass
class TlsOptions:
    """TLS settings of the uplink.

    ``ca_bundle``: a PEM file of trust anchors instead of the system store (for a self-signed
    server, its certificate). ``pin_sha256``: hex SHA-256 of the server certificate (DER); when
    given without ``ca_bundle`` the pin alone is the trust anchor (chain checks are skipped, the
    pin is checked before any byte of the request). ``insecure``: allow plain ``http://``.
    ``allow_tls12``: accept a TLS 1.2 server (e.g. an older load balancer in front).
    """

    ca_bundle: str | None = None
    pin_sha256: str | None = None
    insecure: bool = False
    allow_tls12: bool = False


def client_ssl_context(options: TlsOptions) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=options.ca_bundle)
    # TLS 1.3 only by default: one round trip, and a ClientHello without the TLS 1.2 cipher
    # list and extensions is ~290 bytes smaller per connection (measured by
    # benchmarks/bench_upload_bytes.py). ``allow_tls12`` for a TLS-terminating proxy that lags.
    context.minimum_version = (
        ssl.TLSVersion.TLSv1_2 if options.allow_tls12 else ssl.TLSVersion.TLSv1_3
    )
    if options.pin_sha256 and not options.ca_bundle:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def check_pin(ssl_object, pin_sha256: str | None) -> None:
    if not pin_sha256:
        return
    der = ssl_object.getpeercert(binary_form=True)
    seen = hashlib.sha256(der or b"").hexdigest()
    if seen != pin_sha256.lower().replace(":", ""):
        raise PinMismatch(f"server certificate sha256 {seen} does not match the pinned value")


class _ResumingContext:
    """Hands ``session=`` to ``wrap_bio``: trio's SSLStream has no parameter for it."""

    def __init__(self, context: ssl.SSLContext, session: ssl.SSLSession | None):
        self._context = context
        self._session = session

    def wrap_bio(self, incoming, outgoing, server_side=False, server_hostname=None):
        return self._context.wrap_bio(
            incoming,
            outgoing,
            server_side=server_side,
            server_hostname=server_hostname,
            session=self._session,
        )


def proxy_for(scheme: str, host: str) -> tuple[str, int] | None:
    """The proxy from the environment for ``scheme`` ("https"/"http") and ``host``, if any."""
    if urllib.request.proxy_bypass(host):
        return None
    proxy = urllib.request.getproxies().get(scheme)
    if not proxy:
        return None
    parsed = urllib.parse.urlsplit(proxy if "://" in proxy else "http://" + proxy)
    return parsed.hostname or "", parsed.port or 8080


async def open_tunnel(proxy: tuple[str, int], host: str, port: int) -> trio.SocketStream:
    stream = await trio.open_tcp_stream(*proxy)
    try:
        target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        await stream.send_all(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            chunk = await stream.receive_some(1024)
            if not chunk or len(buffer) > MAX_PROXY_RESPONSE:
                raise ProxyRefused("proxy closed or sent an oversized reply to CONNECT")
            buffer += chunk
        status_line = buffer.split(b"\r\n", 1)[0].split()
        if len(status_line) < 2 or not status_line[1].startswith(b"2"):
            raise ProxyRefused(
                f"proxy refused CONNECT: {b' '.join(status_line[1:]).decode(errors='replace')}"
            )
        return stream
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise


class Connector:
    """Opens streams to one server, remembering the TLS session between connections."""

    def __init__(self, host: str, port: int, secure: bool, options: TlsOptions):
        self.host, self.port, self.secure, self.options = host, port, secure, options
        self._context = client_ssl_context(options) if secure else None
        self._session: ssl.SSLSession | None = None
        self.resumed = 0
        self.handshakes = 0

    async def connect(self, timeout: float) -> trio.abc.Stream:
        with trio.fail_after(timeout):
            proxy = proxy_for("https" if self.secure else "http", self.host)
            if proxy:
                tcp = await open_tunnel(proxy, self.host, self.port)
            else:
                tcp = await trio.open_tcp_stream(self.host, self.port)
            if not self.secure:
                return tcp
            stream = trio.SSLStream(
                tcp,
                _ResumingContext(self._context, self._session),  # type: ignore[arg-type]
                server_hostname=self.host,
                https_compatible=True,
            )
            try:
                await stream.do_handshake()
                check_pin(stream, self.options.pin_sha256)
            except BaseException:
                await trio.aclose_forcefully(stream)
                raise
            self.handshakes += 1
            if stream.session_reused:
                self.resumed += 1
            return stream

    def remember(self, stream: trio.abc.Stream) -> None:
        """Keep the stream's session (its TLS 1.3 ticket arrives after the handshake)."""
        session = getattr(stream, "session", None) if isinstance(stream, trio.SSLStream) else None
        if session is not None and session.has_ticket:
            self._session = session

    @property
    def ssl_context(self) -> ssl.SSLContext | None:
        return self._context
