"""End to end: scans of the simulator stream to a server that is killed, restarted and cut off;
at the end the server holds every report exactly once.

Servers that get SIGKILL run as child processes (``python -m printerhq.server serve``); a TCP
proxy in the test process stands for the network (it can be cut, and re-pointed at the restarted
server's new port).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from contextlib import asynccontextmanager

import httpx
import pytest
import trio

from printerhq import model, wire
from printerhq.server.run import run_server
from printerhq.server.store import Store
from printerhq.uplink import TlsOptions, Uplink
from printerhq.uplink.spool import Spool

from .helpers_pg import postgres_cluster, postgres_url  # noqa: F401 - fixtures
from .helpers_server import REPO, ServerProcess, TcpProxy, make_report, new_token


def key(report: model.DeviceReport) -> tuple[str, float]:
    return (report.identity.address, report.scanned_at)


async def stored_reports(data_dir, database=None) -> list[model.DeviceReport]:
    store = await Store.open(data_dir, database)
    try:
        return [model.decode_device_report(r) for _, _, r in await store.all_readings()]
    finally:
        await store.aclose()


def assert_exactly_once(
    submitted: list[model.DeviceReport], stored: list[model.DeviceReport]
) -> None:
    counts = Counter(key(r) for r in stored)
    duplicated = [k for k, n in counts.items() if n > 1]
    missing = [key(r) for r in submitted if key(r) not in counts]
    assert not duplicated, f"{len(duplicated)} reports stored twice, e.g. {duplicated[:3]}"
    assert not missing, f"{len(missing)} reports lost, e.g. {missing[:3]}"
    assert len(stored) == len(submitted)
    by_key = {key(r): r for r in stored}
    assert all(by_key[key(r)] == r for r in submitted), "a stored report differs from the one sent"


@asynccontextmanager
async def report_source(kind: str):
    """Yield ``scan_once() -> async iterator of reports``: real scans of the simulator, or
    synthetic."""
    if kind == "synthetic":
        counter = iter(range(10**9))

        async def synthetic():
            for _ in range(18):
                await trio.sleep(0.01)
                yield make_report(next(counter))

        yield synthetic
        return
    from printerhq.engine import Scanner, ScanOptions

    from .helpers_sim import fixture_paths, running_fleet

    async with (
        running_fleet(fixture_paths(), count=18) as fleet,
        Scanner(ScanOptions(port=fleet.port, timeout=0.5, retries=1)) as scanner,
    ):

        async def scan_once():
            async with scanner.scan(fleet.addresses) as reports:
                async for report in reports:
                    yield report

        yield scan_once


@pytest.mark.parametrize(
    "source, database",
    [("simulator", "sqlite"), ("synthetic", "sqlite"), ("synthetic", "postgresql")],
)
async def test_exactly_once_while_server_is_killed_and_network_cut(
    tmp_path, source, database, request
):
    url = request.getfixturevalue("postgres_url") if database == "postgresql" else None
    server = ServerProcess(tmp_path / "server", database=url)
    await trio.to_thread.run_sync(server.start)
    token = await trio.to_thread.run_sync(server.admin, "add-agent", "site-a")
    submitted: list[model.DeviceReport] = []
    try:
        async with trio.open_nursery() as nursery, report_source(source) as scan_once:
            proxy = TcpProxy(server.port)
            await nursery.start(proxy.serve)
            async with Uplink(
                f"https://127.0.0.1:{proxy.port}",
                token,
                tmp_path / "spool",
                agent="site-a",
                tls=TlsOptions(ca_bundle=str(server.certfile)),
                batch_reports=10,
                backoff_initial=0.05,
                backoff_max=0.5,
                ack_timeout=5,
            ) as uplink:
                chaos_done = trio.Event()

                async def chaos():
                    for _ in range(4):
                        await trio.sleep(0.6)
                        await trio.to_thread.run_sync(server.kill)  # SIGKILL mid-stream
                        await trio.sleep(0.3)
                        await trio.to_thread.run_sync(server.start)
                        proxy.restore(server.port)
                        await trio.sleep(0.6)
                        proxy.cut()  # the network goes away...
                        await trio.sleep(0.4)
                        proxy.restore()  # ...and comes back
                    chaos_done.set()

                nursery.start_soon(chaos)
                while not chaos_done.is_set():  # scan cycle after scan cycle
                    async for report in scan_once():
                        await uplink.submit(report)  # durable in the spool before it counts
                        submitted.append(report)
                assert await uplink.flush(60), f"not flushed: {uplink.stats}"
                stats = dict(uplink.stats)
            nursery.cancel_scope.cancel()
    finally:
        await trio.to_thread.run_sync(server.stop)
    assert len(submitted) >= 18 * 3, "too few reports to mean anything"
    # The faults really reached the uplink (how many of the 8 it noticed depends on timing: an
    # idle stream may be between batches when the server dies).
    assert stats["connects"] >= 3 and stats["errors"] >= 2, stats
    assert_exactly_once(submitted, await stored_reports(tmp_path / "server", url))
    assert token not in server.log_text()


async def test_reconnect_resumes_tls_session_and_keeps_one_stream(tmp_path):
    async with (
        run_server(tmp_path / "server", self_signed=True) as server,
        trio.open_nursery() as nursery,
    ):
        token = new_token()
        await server.store.add_agent("a", token)
        proxy = TcpProxy(server.port)
        await nursery.start(proxy.serve)
        async with Uplink(
            f"https://127.0.0.1:{proxy.port}",
            token,
            tmp_path / "spool",
            agent="a",
            tls=TlsOptions(ca_bundle=str(server.certfile)),
            backoff_initial=0.05,
        ) as up:
            for cycle in range(3):  # three scan cycles: one stream carries them all
                for i in range(10):
                    await up.submit(make_report(cycle * 10 + i))
                assert await up.flush(10)
                await trio.sleep(0.1)
            assert proxy.connections == 1 and up.stats["connects"] == 1
            proxy.cut()
            proxy.restore()
            for i in range(30, 40):
                await up.submit(make_report(i))
            assert await up.flush(10)
            assert up.connector.handshakes == 2
            assert up.connector.resumed == 1  # the second handshake used the first one's ticket
        nursery.cancel_scope.cancel()
    assert (await stored_reports(tmp_path / "server")).__len__() == 40


async def test_https_fallback_when_a_proxy_strips_websocket_upgrades(tmp_path):
    async with (
        run_server(tmp_path / "server", insecure_http=True) as server,
        trio.open_nursery() as nursery,
    ):
        token = new_token()
        await server.store.add_agent("a", token)
        proxy = TcpProxy(server.port, refuse_upgrade=True)
        await nursery.start(proxy.serve)
        reports = [make_report(i) for i in range(25)]
        async with Uplink(
            f"http://127.0.0.1:{proxy.port}",
            token,
            tmp_path / "spool",
            agent="a",
            insecure=True,
            batch_reports=10,
        ) as up:
            for r in reports:
                await up.submit(r)
            assert await up.flush(20), up.stats
            assert up.stats["http_batches"] >= 3 and up.stats["connects"] >= 1
        nursery.cancel_scope.cancel()
    assert_exactly_once(reports, await stored_reports(tmp_path / "server"))


async def test_https_fallback_uses_the_proxy_from_the_environment(tmp_path, monkeypatch):
    """No WebSocket route (as behind a reverse proxy without upgrades); HTTPS_PROXY names a
    CONNECT proxy, which both transports go through."""
    connects = []

    async def connect_proxy(client: trio.SocketStream):
        async with client:
            head = b""
            while b"\r\n\r\n" not in head:
                head += await client.receive_some(1024)
            target = head.split()[1].decode()
            connects.append(target)
            host, port = target.rsplit(":", 1)
            async with await trio.open_tcp_stream(host, int(port)) as upstream:
                await client.send_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                async with trio.open_nursery() as n:

                    async def pipe(a, b):
                        try:
                            while data := await a.receive_some(65536):
                                await b.send_all(data)
                        except trio.BrokenResourceError:
                            pass
                        n.cancel_scope.cancel()

                    n.start_soon(pipe, client, upstream)
                    n.start_soon(pipe, upstream, client)

    async with (
        run_server(tmp_path / "server", self_signed=True, websocket=False) as server,
        trio.open_nursery() as nursery,
    ):
        token = new_token()
        await server.store.add_agent("a", token)
        listeners = await nursery.start(trio.serve_tcp, connect_proxy, 0)
        proxy_port = listeners[0].socket.getsockname()[1]
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy_port}")
        monkeypatch.setenv("NO_PROXY", "")
        monkeypatch.delenv("no_proxy", raising=False)
        reports = [make_report(i) for i in range(12)]
        async with Uplink(
            server.url,
            token,
            tmp_path / "spool",
            agent="a",
            tls=TlsOptions(ca_bundle=str(server.certfile)),
        ) as up:
            for r in reports:
                await up.submit(r)
            assert await up.flush(20), up.stats
            assert up.stats["http_batches"] >= 1
        nursery.cancel_scope.cancel()
    assert len(connects) >= 2 and all(c.endswith(f":{server.port}") for c in connects)
    assert_exactly_once(reports, await stored_reports(tmp_path / "server"))


_AGENT = textwrap.dedent(r"""
    import sys, trio
    sys.path.insert(0, sys.argv[5])
    from tests.helpers_server import make_report
    from printerhq.uplink import Uplink, TlsOptions

    async def main(url, token, spool, ca, mode):
        tls = TlsOptions(ca_bundle=ca)
        async with Uplink(url, token, spool, agent="a", tls=tls, batch_reports=5) as up:
            if mode == "flush":
                ok = await up.flush(60)
                print("flushed" if ok else "timeout", flush=True)
                return
            i = 0
            while True:
                await up.submit(make_report(i))
                print(i, flush=True)   # handed over: fsync'd in the spool
                i += 1
                await trio.sleep(0.002)

    trio.run(main, *sys.argv[1:5], sys.argv[6])
""")


async def test_agent_killed_mid_upload_loses_nothing_it_had_spooled(tmp_path):
    async with run_server(tmp_path / "server", self_signed=True) as server:
        token = new_token()
        await server.store.add_agent("a", token)
        args = [
            sys.executable,
            "-c",
            _AGENT,
            server.url,
            token,
            str(tmp_path / "spool"),
            str(server.certfile),
            str(REPO),
        ]
        proc = await trio.lowlevel.open_process(args + ["produce"], stdout=subprocess.PIPE)
        out = b""
        with trio.fail_after(60):
            while out.count(b"\n") < 400:
                out += await proc.stdout.receive_some(4096)
        os.kill(proc.pid, signal.SIGKILL)  # while batches are in flight
        with trio.fail_after(10):
            while chunk := await proc.stdout.receive_some(4096):
                out += chunk
        await proc.wait()
        handed_over = [int(x) for x in out.split()]
        # At the moment of the kill, every handed-over report is stored or still spooled.
        stored_before = (await server.store.totals())["readings"]
        spool = Spool(tmp_path / "spool")
        still_spooled = spool.count
        spool.close()
        assert stored_before + still_spooled >= len(handed_over)
        result = await trio.run_process(args + ["flush"], capture_stdout=True)
        assert result.stdout.strip() == b"flushed"
        stored = await stored_reports(tmp_path / "server")
    stored_ids = Counter(r.counters[0].value - 10_000 for r in stored)
    assert all(n == 1 for n in stored_ids.values()), "a report was stored twice"
    missing = [i for i in handed_over if i not in stored_ids]
    assert not missing, f"reports handed over but lost: {missing[:5]}"
    assert len(stored_ids) - len(handed_over) in (
        0,
        1,
    )  # at most the one written but not yet printed


async def test_two_instances_share_one_postgresql(tmp_path, postgres_url):  # noqa: F811 - fixture
    async with (
        run_server(tmp_path / "one", self_signed=True, database=postgres_url) as one,
        run_server(tmp_path / "two", self_signed=True, database=postgres_url) as two,
    ):
        tokens = {f"agent-{n}": new_token() for n in range(4)}
        for name, token in tokens.items():
            await one.store.add_agent(name, token)  # added through one instance...
        submitted = []

        async def agent(name: str, server, offset: int):
            reports = [make_report(offset + i, address_base="127.0.2") for i in range(40)]
            submitted.extend(reports)
            async with Uplink(
                server.url,
                tokens[name],
                tmp_path / name,
                agent=name,
                batch_reports=7,
                tls=TlsOptions(ca_bundle=str(server.certfile)),
            ) as up:
                for r in reports:
                    await up.submit(r)
                assert await up.flush(30)

        async with trio.open_nursery() as nursery:  # ...used on both
            for n, (name, server) in enumerate(zip(tokens, [one, two, one, two], strict=True)):
                nursery.start_soon(agent, name, server, n * 1000)
        assert_exactly_once(submitted, await stored_reports(tmp_path, postgres_url))
        agents = await two.store.list_agents()
        assert {a["name"]: a["reports"] for a in agents} == {name: 40 for name in tokens}
        # A token revoked through one instance is refused by the other at once.
        await two.store.revoke_agent("agent-0")
        assert await one.store.agent_for_token(tokens["agent-0"]) is None
        # ... and an upload with it to the other instance is refused over the wire (401),
        # storing nothing (what a load balancer's agents see).
        late = [model.encode(make_report(99_999, address_base="127.0.2"))]
        async with httpx.AsyncClient(verify=str(one.certfile), timeout=30) as client:
            response = await client.post(
                one.url + "/api/v1/ingest",
                content=wire.encode(wire.raw_batch("late", "agent-0", late)),
                headers={"authorization": f"Bearer {tokens['agent-0']}"},
            )
        assert response.status_code == 401
        assert (await one.store.totals())["readings"] == len(submitted)
