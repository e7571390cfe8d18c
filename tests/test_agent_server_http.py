"""The agent's HTTPS client for the update routes follows the uplink's TLS rules: a CA bundle, or
a pinned certificate checked before any request byte (so the token never reaches another
server)."""

from __future__ import annotations

import hashlib
import ssl

import httpx
import pytest

from printerhq.agent.server_http import server_client
from printerhq.uplink import TlsOptions

from .helpers_server import ServerProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = ServerProcess(tmp_path_factory.mktemp("server"))
    process.start()
    token = process.admin("add-agent", "site-a").split()[-1]
    try:
        yield process, token
    finally:
        process.stop()


def _pin(server: ServerProcess) -> str:
    der = ssl.PEM_cert_to_DER_cert(server.certfile.read_text())
    return hashlib.sha256(der).hexdigest()


async def test_ca_bundle_and_token(server) -> None:
    process, token = server
    async with server_client(process.url, token, TlsOptions(ca_bundle=str(process.certfile))) as c:
        assert (await c.get("/api/v1/updates/latest")).status_code == 404  # authorised, none yet
    async with server_client(
        process.url, "wrong", TlsOptions(ca_bundle=str(process.certfile))
    ) as c:
        assert (await c.get("/api/v1/updates/latest")).status_code == 401


async def test_a_pinned_certificate_is_the_trust_anchor(server) -> None:
    process, token = server
    async with server_client(process.url, token, TlsOptions(pin_sha256=_pin(process))) as c:
        assert (await c.get("/api/v1/updates/latest")).status_code == 404
        assert (await c.get("/api/v1/updates/latest")).status_code == 404  # pooled connection


async def test_a_wrong_pin_stops_before_the_request(server) -> None:
    process, token = server
    wrong = "00" * 32
    async with server_client(process.url, token, TlsOptions(pin_sha256=wrong)) as c:
        with pytest.raises(httpx.ConnectError, match="does not match the pinned value"):
            await c.get("/api/v1/updates/latest")


async def test_without_a_trust_anchor_a_self_signed_server_is_refused(server) -> None:
    process, token = server
    async with server_client(process.url, token, TlsOptions()) as c:
        with pytest.raises(httpx.ConnectError):
            await c.get("/api/v1/updates/latest")
