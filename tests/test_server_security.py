"""Refusals: missing, wrong or revoked tokens, unverified certificates, hostile payloads.

Each refusal is a 4xx (or a WebSocket close / error acknowledgement), is logged without the
credential, and leaves the server serving.
"""

from __future__ import annotations

import logging
import ssl
import zlib

import httpx
import msgspec
import pytest
import trio
import trio_websocket

from printerhq import wire
from printerhq.server.run import run_server
from printerhq.uplink import TlsOptions, Uplink, UplinkError

from .helpers_server import make_report, new_token


@pytest.fixture
async def server(tmp_path):
    async with run_server(tmp_path / "server", self_signed=True) as srv:
        srv.token = new_token()
        await srv.store.add_agent("site-a", srv.token)
        srv.ctx = ssl.create_default_context(cafile=str(srv.certfile))
        yield srv


def body(batch_id="b", reports=None, agent="site-a") -> bytes:
    return wire.compress_body(
        wire.encode(wire.Batch(batch_id=batch_id, agent=agent, reports=reports or [make_report(1)]))
    )


async def post(server, content: bytes, token: str | None, encoding="deflate") -> httpx.Response:
    headers = {"content-encoding": encoding}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    async with httpx.AsyncClient(verify=server.ctx) as c:
        return await c.post(server.url + "/api/v1/ingest", content=content, headers=headers)


async def still_serving(server) -> None:
    async with httpx.AsyncClient(verify=server.ctx) as c:
        assert (await c.get(server.url + "/healthz")).status_code == 200
    r = await post(server, body("after-" + new_token()[:8], [make_report(99)]), server.token)
    assert r.status_code == 200


async def test_http_upload_refused_without_valid_token(server, caplog):
    caplog.set_level(logging.DEBUG)
    other = new_token()
    await server.store.add_agent("site-b", other)
    await server.store.revoke_agent("site-b")
    for token in (None, new_token(), other, "x" * 5000):
        r = await post(server, body(), token)
        assert r.status_code == 401, token
    assert (await server.store.totals())["readings"] == 0
    assert "refused" in caplog.text
    assert other not in caplog.text
    await still_serving(server)


async def test_websocket_refused_without_valid_token(server):
    other = new_token()
    await server.store.add_agent("site-b", other)
    await server.store.revoke_agent("site-b")
    for headers in (
        [],
        [(b"authorization", b"Bearer " + new_token().encode())],
        [(b"authorization", b"Bearer " + other.encode())],
    ):
        with pytest.raises(trio_websocket.ConnectionRejected) as info:
            async with trio_websocket.open_websocket_url(
                server.ws_url, server.ctx, extra_headers=headers
            ):
                pass
        assert info.value.status_code == 401


async def test_revocation_stops_an_open_stream(server):
    headers = [(b"authorization", f"Bearer {server.token}".encode())]
    deflate = wire.StreamCompressor()

    def raw(batch_id: str) -> bytes:
        return wire.encode(wire.Batch(batch_id=batch_id, agent="site-a", reports=[make_report(1)]))

    async with trio_websocket.open_websocket_url(
        server.ws_url, server.ctx, extra_headers=headers
    ) as ws:
        await ws.send_message(deflate.compress(raw("one")))
        assert wire.decode_ack(await ws.get_message()).ok
        assert await server.store.revoke_agent("site-a")
        await ws.send_message(deflate.compress(raw("two")))
        with pytest.raises(trio_websocket.ConnectionClosed) as info:
            await ws.get_message()
        assert info.value.reason.code == 1008
    assert (await server.store.totals())["readings"] == 1


@pytest.mark.parametrize(
    "content, encoding, status",
    [
        (zlib.compress(b"\x00" * (wire.MAX_DECOMPRESSED_BYTES + 10)), "deflate", 413),  # zip bomb
        (b"\xc1\xc1\xc1", "identity", 400),  # malformed msgpack (0xc1 is never used)
        (b"not zlib at all", "deflate", 400),
        (
            msgspec.msgpack.encode(
                {"batch_id": "b", "agent": "site-a", "reports": [], "job_owner": "bob"}
            ),
            "identity",
            422,
        ),
        (
            msgspec.msgpack.encode({"batch_id": "", "agent": "site-a", "reports": []}),
            "identity",
            422,
        ),
        (
            msgspec.msgpack.encode({"batch_id": "b", "agent": "site-b", "reports": []}),
            "identity",
            403,
        ),
        (b"", "gzip", 415),
    ],
)
async def test_hostile_payloads_get_4xx_are_logged_and_server_keeps_serving(
    server, caplog, content, encoding, status
):
    caplog.set_level(logging.INFO)
    r = await post(server, content, server.token, encoding)
    assert r.status_code == status, r.text
    assert "rejected" in caplog.text
    assert server.token not in caplog.text
    assert (await server.store.totals())["readings"] == 0
    await still_serving(server)


@pytest.mark.parametrize(
    "report, reason",
    [
        # A field outside the model (the privacy guarantee): refused, never stored.
        ({"identity": {"address": "x"}, "scanned_at": 1.0, "document": "secret.pdf"}, "document"),
        ({"identity": {"address": 5}, "scanned_at": "x"}, "$.identity.address"),
        ("not a report", "not a report"),
    ],
)
async def test_a_report_outside_the_schema_is_refused_alone(server, caplog, report, reason):
    caplog.set_level(logging.INFO)
    content = msgspec.msgpack.encode({"batch_id": "b", "agent": "site-a", "reports": [report]})
    r = await post(server, content, server.token, "identity")
    assert r.status_code == 200, r.text
    ack = wire.decode_ack(r.content)
    assert [item.index for item in ack.refused] == [0]
    assert reason in ack.refused[0].reason
    assert "refused" in caplog.text
    assert (await server.store.totals())["readings"] == 0
    await still_serving(server)


async def test_oversized_body_refused_before_it_is_read(server, caplog):
    caplog.set_level(logging.INFO)
    # Announce a body over the limit and send only its start: the 413 must come without the rest.
    tcp = await trio.open_tcp_stream("127.0.0.1", server.port)
    stream = trio.SSLStream(tcp, server.ctx, server_hostname="127.0.0.1")
    size = wire.MAX_COMPRESSED_BYTES * 4
    await stream.send_all(
        "POST /api/v1/ingest HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {server.token}\r\n"
        f"Content-Length: {size}\r\n\r\n".encode()
        + b"\x00" * 1000
    )
    reply = b""
    with trio.fail_after(10):
        while b"\r\n" not in reply:
            reply += await stream.receive_some(4096)
    await trio.aclose_forcefully(stream)
    assert reply.startswith(b"HTTP/1.1 413")
    assert "body too large" in caplog.text

    # The same without Content-Length (chunked): cut off once the limit is passed.
    async def chunks():
        for _ in range(5):
            yield b"\x00" * (wire.MAX_COMPRESSED_BYTES // 2)

    async with httpx.AsyncClient(verify=server.ctx) as c:
        try:
            r = await c.post(
                server.url + "/api/v1/ingest",
                content=chunks(),
                headers={"authorization": f"Bearer {server.token}"},
            )
            assert r.status_code == 413
        except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError):
            pass  # the server answered 413 and closed while we were still sending
    await still_serving(server)


async def test_websocket_bad_payloads(server):
    headers = [(b"authorization", f"Bearer {server.token}".encode())]
    deflate = wire.StreamCompressor()
    async with trio_websocket.open_websocket_url(
        server.ws_url, server.ctx, extra_headers=headers
    ) as ws:
        # Valid compression, invalid envelope: an error acknowledgement naming the batch; the
        # stream goes on. (A bad *report* in a good envelope is refused alone: see
        # test_a_report_outside_the_schema_is_refused_alone.)
        bad = msgspec.msgpack.encode({"batch_id": "bad-1", "agent": "site-a", "reports": {"x": 1}})
        await ws.send_message(deflate.compress(bad))
        ack = wire.decode_ack(await ws.get_message())
        assert (ack.batch_id, ack.ok) == ("bad-1", False) and ack.error.startswith("422")
        await ws.send_message(deflate.compress(b"\xc1"))
        ack = wire.decode_ack(await ws.get_message())
        assert not ack.ok and ack.error.startswith("400")
        good = wire.encode(wire.Batch(batch_id="good", agent="site-a", reports=[make_report(1)]))
        await ws.send_message(deflate.compress(good))
        assert wire.decode_ack(await ws.get_message()).ok
    async with trio_websocket.open_websocket_url(
        server.ws_url, server.ctx, extra_headers=headers
    ) as ws:
        await ws.send_message(b"\xff\xfe garbage that is not a zlib stream")
        with pytest.raises(trio_websocket.ConnectionClosed) as info:
            await ws.get_message()
        assert info.value.reason.code == 1007
    async with trio_websocket.open_websocket_url(
        server.ws_url, server.ctx, extra_headers=headers
    ) as ws:
        await ws.send_message(
            b"x" * (wire.MAX_COMPRESSED_BYTES + 1)
        )  # over hypercorn's frame limit
        with pytest.raises(trio_websocket.ConnectionClosed) as info:
            await ws.get_message()
        assert info.value.reason.code == 1009
    await still_serving(server)


async def uplink_delivers(server, tmp_path, **kwargs) -> tuple[bool, Uplink]:
    async with Uplink(
        server.url,
        server.token,
        tmp_path / "spool",
        agent="site-a",
        backoff_initial=0.05,
        backoff_max=0.2,
        **kwargs,
    ) as up:
        await up.submit(make_report(1))
        ok = await up.flush(2)
    return ok, up


async def test_uplink_refuses_unverified_certificate(server, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    for transport in ("websocket", "http"):
        ok, up = await uplink_delivers(
            server, tmp_path / transport, transport=transport
        )  # system CAs only
        assert not ok
        assert "CERTIFICATE_VERIFY_FAILED" in up.stats["last_error"]
    assert (await server.store.totals())["readings"] == 0
    assert server.token not in caplog.text


async def test_certificate_pinning(server, tmp_path):
    wrong = "00" * 32
    for transport in ("websocket", "http"):
        ok, up = await uplink_delivers(
            server,
            tmp_path / f"wrong-{transport}",
            transport=transport,
            tls=TlsOptions(pin_sha256=wrong),
        )
        assert not ok and "does not match the pinned value" in up.stats["last_error"]
    assert (await server.store.totals())["readings"] == 0
    for transport in ("websocket", "http"):  # the right pin alone is enough trust
        ok, _ = await uplink_delivers(
            server,
            tmp_path / f"right-{transport}",
            transport=transport,
            tls=TlsOptions(pin_sha256=server.fingerprint),
        )
        assert ok
    assert (await server.store.totals())["readings"] == 2


async def test_uplink_with_wrong_token_delivers_nothing_and_keeps_reports(server, tmp_path):
    async with Uplink(
        server.url,
        new_token(),
        tmp_path / "spool",
        tls=TlsOptions(ca_bundle=str(server.certfile)),
        backoff_initial=0.05,
        backoff_max=0.1,
    ) as up:
        await up.submit(make_report(1))
        assert not await up.flush(1)
        assert up.pending == 1 and "AuthError" in up.stats["last_error"]


async def test_plain_http_upload_needs_insecure_flag(tmp_path, caplog):
    with pytest.raises(UplinkError, match="--insecure"):
        Uplink("http://127.0.0.1:1", "t", tmp_path)
    caplog.set_level(logging.WARNING)
    Uplink("http://127.0.0.1:1", "t", tmp_path, insecure=True)
    assert "plain HTTP" in caplog.text


async def test_uplink_quarantines_a_batch_the_server_rejects(server, tmp_path):
    not_a_report = msgspec.msgpack.encode(
        {"identity": {"address": "x"}, "scanned_at": 1.0, "username": "alice"}
    )
    async with Uplink(
        server.url,
        server.token,
        tmp_path / "spool",
        agent="site-a",
        batch_reports=1,
        tls=TlsOptions(ca_bundle=str(server.certfile)),
    ) as up:
        await up.submit(not_a_report)
        await up.submit(make_report(2))
        assert await up.flush(10)
        assert up.stats["refused_reports"] == 1
        assert len(up._spool.sync.rejected()) == 1
    assert (await server.store.totals())["readings"] == 1
