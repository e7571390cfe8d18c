"""Issue 11 at the server boundary: absurd but well-formed values are refused report by report
(never a 500, never a poison batch), data stored before the bounds still renders, device ids
out of range are 404, and the database is private. Real server on loopback TLS, real uplink."""

from __future__ import annotations

import logging
import os
import ssl
import stat
import time

import httpx
import msgspec
import pytest
import trio
import trio_websocket

from printerhq import limits, model, wire
from printerhq.server import admission
from printerhq.server.dashboard import COOKIE
from printerhq.server.run import run_server
from printerhq.uplink import TlsOptions, Uplink

from .helpers_server import make_report, new_token

HUGE = "A" * (7 << 20)  # the 7 MiB sysDescr (compresses to a few KB)


def with_counter(report: model.DeviceReport, value: int) -> model.DeviceReport:
    return msgspec.structs.replace(report, counters=[model.Counter(name="total", value=value)])


def absurd_reports() -> dict[str, model.DeviceReport]:
    """The issue's reproductions, each built the way a scanner on main could build it."""
    base = make_report(500)
    return {
        "counter64 max": with_counter(base, 2**64 - 1),
        "counter 2**63": with_counter(base, 2**63),
        "supply index 2**64-1": msgspec.structs.replace(
            base, supplies=[model.Supply(index=2**64 - 1, description="Black")]
        ),
        "scanned_at nan": msgspec.structs.replace(base, scanned_at=float("nan")),
        "scanned_at inf": msgspec.structs.replace(base, scanned_at=float("inf")),
        "scanned_at 1e13": msgspec.structs.replace(base, scanned_at=1e13),
        "scanned_at -1e18": msgspec.structs.replace(base, scanned_at=-1e18),
        "scanned_at in a year": msgspec.structs.replace(base, scanned_at=time.time() + 365 * 86400),
        "scanned_at in 1990": msgspec.structs.replace(base, scanned_at=6.3e8),
        "7 MiB sysDescr": msgspec.structs.replace(
            base, identity=msgspec.structs.replace(base.identity, sys_descr=HUGE)
        ),
        "percent nan": msgspec.structs.replace(
            base, supplies=[model.Supply(index=1, description="Black", percent=float("nan"))]
        ),
        "300 supplies": msgspec.structs.replace(
            base,
            supplies=[model.Supply(index=i, description="x") for i in range(300)],
        ),
    }


@pytest.fixture
async def server(tmp_path):
    async with run_server(tmp_path / "server", self_signed=True) as srv:
        srv.token = new_token()
        await srv.store.add_agent("site-a", srv.token)
        srv.viewer = new_token()
        await srv.store.add_viewer("reader", srv.viewer)
        srv.ctx = ssl.create_default_context(cafile=str(srv.certfile))
        yield srv


async def post_batch(server, batch_id: str, reports: list[model.DeviceReport]) -> httpx.Response:
    raw = wire.encode(wire.raw_batch(batch_id, "site-a", [model.encode(r) for r in reports]))
    async with httpx.AsyncClient(verify=server.ctx) as c:
        return await c.post(
            server.url + "/api/v1/ingest",
            content=wire.compress_body(raw),
            headers={"authorization": f"Bearer {server.token}", "content-encoding": "deflate"},
        )


async def stored_keys(server) -> list[tuple[str | None, float]]:
    return sorted(
        (r.identity.serial, r.scanned_at)
        for r in (model.decode_device_report(b) for _, _, b in await server.store.all_readings())
    )


@pytest.mark.parametrize("case", sorted(absurd_reports()))
async def test_an_absurd_report_is_refused_alone_over_https(server, case):
    bad = absurd_reports()[case]
    healthy = [make_report(1), make_report(2)]
    r = await post_batch(server, "mixed", [healthy[0], bad, healthy[1]])
    assert r.status_code == 200, r.text
    ack = wire.decode_ack(r.content)
    assert ack.ok and [item.index for item in ack.refused] == [1], ack
    assert await stored_keys(server) == sorted((h.identity.serial, h.scanned_at) for h in healthy)
    async with httpx.AsyncClient(verify=server.ctx) as c:
        assert (await c.get(server.url + "/healthz")).status_code == 200
        metrics = await c.get(
            server.url + "/metrics", headers={"authorization": f"Bearer {server.viewer}"}
        )
    assert "printerhq_reports_refused_total{reason=" in metrics.text


async def test_refusal_reasons_name_the_field_and_the_bound(server):
    cases = absurd_reports()
    order = sorted(cases)
    r = await post_batch(server, "all-bad", [cases[name] for name in order])
    reasons = {order[item.index]: item.reason for item in wire.decode_ack(r.content).refused}
    assert set(reasons) == set(order)  # every one refused, nothing stored
    assert (await server.store.totals())["readings"] == 0
    assert "$.counters[0].value" in reasons["counter64 max"]
    assert str(limits.MAX_COUNTER) in reasons["counter64 max"]
    assert "$.supplies[0].index" in reasons["supply index 2**64-1"]
    assert "$.identity.sys_descr" in reasons["7 MiB sysDescr"]
    assert "length <= 1024" in reasons["7 MiB sysDescr"]
    assert "ahead of the server's clock" in reasons["scanned_at in a year"]
    assert "older than" in reasons["scanned_at in 1990"]
    assert all(len(reason) <= wire.MAX_REASON for reason in reasons.values())
    labels = {admission.reason_label(reason) for reason in reasons.values()}
    assert labels <= set(admission.REASON_LABELS) and "invalid" not in labels
    # Shown per agent by the agents API; a retry (duplicate) is not counted twice.
    await post_batch(server, "all-bad", [cases[name] for name in order])
    async with httpx.AsyncClient(verify=server.ctx) as c:
        agents = (
            await c.get(
                server.url + "/api/v1/agents", headers={"authorization": f"Bearer {server.viewer}"}
            )
        ).json()
    refused = next(a for a in agents if a["name"] == "site-a")["refused"]
    assert refused["reports"] == len(order)
    assert refused["last"].startswith("batch all-bad, report 0: ")


async def test_the_stream_acks_with_refusals_and_stays_open(server):
    deflate = wire.StreamCompressor()
    headers = [(b"authorization", f"Bearer {server.token}".encode())]
    bad = absurd_reports()["counter64 max"]
    async with trio_websocket.open_websocket_url(
        server.ws_url, server.ctx, extra_headers=headers
    ) as ws:
        raw = wire.raw_batch("s-1", "site-a", [model.encode(bad), model.encode(make_report(3))])
        await ws.send_message(deflate.compress(wire.encode(raw)))
        ack = wire.decode_ack(await ws.get_message())
        assert ack.ok and [item.index for item in ack.refused] == [0]
        raw = wire.raw_batch("s-2", "site-a", [model.encode(make_report(4))])
        await ws.send_message(deflate.compress(wire.encode(raw)))
        ack = wire.decode_ack(await ws.get_message())
        assert ack.ok and not ack.refused
    assert (await server.store.totals())["readings"] == 2


async def test_uplink_keeps_refused_reports_aside_and_the_rest_flows(server, tmp_path):
    """The issue's poison message: one Counter64 at 2**64-1 at the head of the spool. Every
    healthy report, in its batch and behind it, reaches the server; the bad one waits in the
    rejected table with the server's reason."""
    cases = absurd_reports()
    healthy = [make_report(i) for i in range(10)]
    async with Uplink(
        server.url,
        server.token,
        tmp_path / "spool",
        agent="site-a",
        batch_reports=4,
        tls=TlsOptions(ca_bundle=str(server.certfile)),
    ) as up:
        await up.submit(cases["counter64 max"])
        for report in healthy[:5]:
            await up.submit(report)
        await up.submit(cases["scanned_at 1e13"])
        for report in healthy[5:]:
            await up.submit(report)
        assert await up.flush(30)
        assert up.stats["refused_reports"] == 2
        rejected = up._spool.sync.rejected()
    assert len(rejected) == 2
    assert any("$.counters[0].value" in reason for _, reason in rejected)
    assert any("$.scanned_at" in reason for _, reason in rejected)
    assert await stored_keys(server) == sorted((h.identity.serial, h.scanned_at) for h in healthy)


@pytest.mark.parametrize("transport", ["http", "websocket"])
async def test_a_batch_the_server_keeps_failing_on_is_set_aside(
    server, tmp_path, monkeypatch, caplog, transport
):
    """A server error that no validation foresaw (simulated: the store raises for one batch):
    retried with backoff, then set aside after ``max_server_errors``; the queue goes on."""
    caplog.set_level(logging.WARNING)
    store_ingest = server.store.ingest
    poison_serial = "POISON"
    attempts = []

    async def failing_ingest(agent, batch_id, reports, *args, **kwargs):
        if any(r.identity.serial == poison_serial for r in reports):
            attempts.append(batch_id)
            raise OverflowError("Python int too large to convert to SQLite INTEGER")
        return await store_ingest(agent, batch_id, reports, *args, **kwargs)

    monkeypatch.setattr(server.store, "ingest", failing_ingest)
    poison = make_report(77)
    poison = msgspec.structs.replace(
        poison, identity=msgspec.structs.replace(poison.identity, serial=poison_serial)
    )
    healthy = [make_report(i) for i in range(3)]
    async with Uplink(
        server.url,
        server.token,
        tmp_path / "spool",
        agent="site-a",
        batch_reports=1,
        window=1,
        transport=transport,
        backoff_initial=0.01,
        backoff_max=0.05,
        max_server_errors=3,
        tls=TlsOptions(ca_bundle=str(server.certfile)),
    ) as up:
        await up.submit(poison)
        for report in healthy:
            await up.submit(report)
        assert await up.flush(60)
        assert up.stats["set_aside"] == 1 and up.stats["server_errors"] == 3
        rejected = up._spool.sync.rejected()
    assert len(attempts) == 3 and len(set(attempts)) == 1  # one batch, three tries
    assert len(rejected) == 1 and "set aside after 3 server errors" in rejected[0][1]
    assert await stored_keys(server) == sorted((h.identity.serial, h.scanned_at) for h in healthy)


# -- data stored before the bounds ---------------------------------------------------------------
async def store_legacy_rows(store, agent) -> None:
    """Rows as a server before this change stored them: straight into the store, unchecked."""
    healthy = make_report(0)
    legacy = [
        healthy,
        msgspec.structs.replace(make_report(1), scanned_at=1e13),  # far future: would pin
        msgspec.structs.replace(make_report(2), scanned_at=float("inf")),
        msgspec.structs.replace(make_report(3), scanned_at=-1e18),
        msgspec.structs.replace(
            make_report(4),
            identity=msgspec.structs.replace(
                make_report(4).identity, sys_descr=HUGE, model="M" * 100_000
            ),
        ),
    ]
    await store.ingest(agent, "legacy", legacy)
    # The same device (serial of report 1) seen normally afterwards: its latest must be this.
    await store.ingest(agent, "later", [make_report(1 + 13)])


async def test_dashboard_and_api_survive_rows_stored_before_the_bounds(server):
    await store_legacy_rows(server.store, await server.store.agent_for_token(server.token))
    cookie = {"cookie": f"{COOKIE}={server.viewer}"}
    api = {"authorization": f"Bearer {server.viewer}"}
    async with httpx.AsyncClient(verify=server.ctx, base_url=server.url) as c:
        page = await c.get("/", headers=cookie)
        assert page.status_code == 200
        assert len(page.content) < 1 << 20  # the 7 MiB string and 100 KB model are cut
        devices = (await c.get("/api/v1/devices", headers=api)).json()
        for device in devices:
            assert (await c.get(f"/devices/{device['id']}", headers=cookie)).status_code == 200
            latest = await c.get(f"/api/v1/devices/{device['id']}", headers=api)
            assert latest.status_code in (200, 404)
            if latest.status_code == 200:
                report = latest.json()["report"]
                assert len(report["identity"].get("sys_descr") or "") <= limits.MAX_TEXT
                assert report["scanned_at"] <= time.time() + limits.MAX_CLOCK_SKEW
            for path in ("counters", "supplies"):
                history = await c.get(f"/api/v1/devices/{device['id']}/{path}", headers=api)
                assert history.status_code == 200
        # The device whose far-future reading was stored first: its latest is the real one.
        pinned = next(d for d in devices if d["serial"] == make_report(1).identity.serial)
        latest = (await c.get(f"/api/v1/devices/{pinned['id']}", headers=api)).json()
        assert latest["scanned_at"] == make_report(1 + 13).scanned_at
        assert pinned["last_seen"] <= time.time() + limits.MAX_CLOCK_SKEW


@pytest.mark.parametrize("device_id", ["9" * 30, str(2**63), "0"])
async def test_a_device_id_out_of_range_is_404(server, device_id):
    cookie = {"cookie": f"{COOKIE}={server.viewer}"}
    api = {"authorization": f"Bearer {server.viewer}"}
    async with httpx.AsyncClient(verify=server.ctx, base_url=server.url) as c:
        for path in ("", "/counters", "/supplies", "/counters?scans=3"):
            r = await c.get(f"/api/v1/devices/{device_id}{path}", headers=api)
            assert r.status_code == 404, (path, r.text)
        assert (await c.get(f"/devices/{device_id}", headers=cookie)).status_code == 404


async def test_database_and_spool_are_private(tmp_path):
    async with run_server(tmp_path / "server", self_signed=True):
        pass
    assert stat.S_IMODE((tmp_path / "server").stat().st_mode) == 0o700
    for name in os.listdir(tmp_path / "server"):
        if name.startswith("printerhq.sqlite3"):
            assert stat.S_IMODE((tmp_path / "server" / name).stat().st_mode) == 0o600, name
    async with Uplink("https://127.0.0.1:1", "t", tmp_path / "spool"):
        pass
    assert stat.S_IMODE((tmp_path / "spool").stat().st_mode) == 0o700
    for name in os.listdir(tmp_path / "spool"):
        if name.startswith("spool.sqlite3"):
            assert stat.S_IMODE((tmp_path / "spool" / name).stat().st_mode) == 0o600, name


async def test_refused_amplification_keeps_healthz_responsive(server):
    """Ten uploads of a 7 MiB sysDescr (a few KB each on the wire) at once, with /healthz
    asked meanwhile: all refused by the bound, nothing stored, /healthz answers throughout."""
    bad = absurd_reports()["7 MiB sysDescr"]
    answers: list[int] = []

    async def upload(n: int) -> None:
        r = await post_batch(server, f"amp-{n}", [bad])
        assert r.status_code == 200 and wire.decode_ack(r.content).refused

    async def health() -> None:
        async with httpx.AsyncClient(verify=server.ctx) as c:
            for _ in range(5):
                answers.append((await c.get(server.url + "/healthz")).status_code)

    async with trio.open_nursery() as nursery:
        for n in range(10):
            nursery.start_soon(upload, n)
        nursery.start_soon(health)
    assert answers == [200] * 5
    assert (await server.store.totals())["readings"] == 0


def test_fleet_command_survives_rows_stored_before_the_bounds(tmp_path, capsys):
    """Issue 11 item 2: ``printerhq fleet`` exited 1 once a far-future or infinite scan time (or
    a huge string) was stored. Rows written straight into the store as main's server stored them."""
    import argparse

    from printerhq.commands import fleet
    from printerhq.server.store import Store

    from .helpers_server import ServerProcess

    server = ServerProcess(tmp_path / "server")
    server.start()
    try:
        agent_token = server.admin("add-agent", "site-a").split()[-1]
        viewer = server.admin("add-viewer", "reader").split()[-1]

        async def legacy() -> None:
            store = await Store.open(server.data_dir)
            try:
                await store_legacy_rows(store, await store.agent_for_token(agent_token))
            finally:
                await store.aclose()

        trio.run(legacy)
        parser = argparse.ArgumentParser()
        fleet.register(parser.add_subparsers())
        for extra in ([], ["--history"], ["--json"]):
            args = parser.parse_args(
                ["fleet", "--server", server.url, "--ca-bundle", str(server.certfile)]
                + [f"--token={viewer}", *extra]
            )
            code = args.func(args)
            out = capsys.readouterr()
            assert code == 0, (extra, out.err)
            assert HUGE[:2000] not in out.out  # cut to the bound, not printed whole
    finally:
        server.stop()
