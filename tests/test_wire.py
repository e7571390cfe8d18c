"""The wire format: where it lives, what travels, what a server accepts (docs/wire.md)."""

from __future__ import annotations

import logging
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import msgspec
import pytest
import trio
import trio_websocket
from hypothesis import given, settings
from hypothesis import strategies as st

from printerhq import model, wire
from printerhq.server.run import run_server
from printerhq.uplink import TlsOptions, Uplink

from .helpers_server import make_report, new_token

FIXTURE_V1 = Path(__file__).resolve().parents[1] / "fixtures" / "wire" / "batch-v1.msgpack"


def test_server_app_does_not_import_the_uplink_stack():
    """The wire format sits beside the model: importing the server pulls in neither the upload
    client nor its WebSocket client library (a fresh interpreter, so other tests' imports do not
    count). httpx is the server's too since webhooks (docs/alerts.md; tests/test_layers.py
    names the two modules allowed to import it)."""
    code = (
        "import sys, printerhq.server.app, printerhq.server.run, printerhq.wire\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'trio_websocket'"
        " or m.startswith('printerhq.uplink'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""


# -- what travels ------------------------------------------------------------------------------
def test_versions_travel_in_the_raw_bytes(monkeypatch):
    """The bug: with ``omit_defaults`` a version equal to its default was never encoded."""
    report = make_report(1)
    assert report.schema == model.SCHEMA_VERSION
    assert msgspec.msgpack.decode(model.encode(report))["schema"] == model.SCHEMA_VERSION
    scan = model.ScanReport(scan_id="s", agent="a", started_at=1.0, finished_at=2.0)
    assert msgspec.msgpack.decode(model.encode(scan))["schema"] == model.SCHEMA_VERSION
    raw = msgspec.msgpack.decode(
        wire.encode(wire.raw_batch("b-1", "site-a", [model.encode(report)]))
    )
    assert raw["wire"] == wire.WIRE_VERSION
    assert raw["reports"][0]["schema"] == model.SCHEMA_VERSION
    assert raw["minor"] == wire.WIRE_MINOR
    # What the uplink sends a server that named no version (the first releases): minor 0 is
    # left out, so they read the batch.
    raw = msgspec.msgpack.decode(
        wire.encode(wire.raw_batch("b-1", "site-a", [model.encode(report)], minor=0))
    )
    assert "minor" not in raw
    monkeypatch.setattr(wire, "WIRE_MINOR", 3)
    raw = msgspec.msgpack.decode(
        wire.encode(wire.raw_batch("b-1", "site-a", [model.encode(report)]))
    )
    assert (raw["wire"], raw["minor"]) == (wire.WIRE_VERSION, 3)


def test_released_fixture_has_no_versions_and_decodes_as_wire_1():
    """The fixture is what released agents sent: no versions at all. Absent means 1.0 / 1."""
    raw = msgspec.msgpack.decode(FIXTURE_V1.read_bytes())
    assert set(raw) == {"batch_id", "agent", "reports"}
    assert all("schema" not in r for r in raw["reports"])
    batch = wire.decode_batch(FIXTURE_V1.read_bytes())
    assert (batch.wire, batch.minor) == (1, 0)
    assert [r.identity.vendor for r in batch.reports] == ["HP", "Ricoh", "Brother"]
    assert all(r.schema == 1 and r.supplies and r.counters for r in batch.reports)


def _newer_minor(data: bytes, minor: int = 1) -> bytes:
    """A batch as a newer-minor agent would send it: fields this server has never heard of, at
    the top, in a report and nested inside a report."""
    raw = msgspec.msgpack.decode(data)
    raw["minor"] = minor
    raw["sealed_by"] = {"build": "9.9", "flags": [1, 2, 3]}
    for report in raw["reports"]:
        report["toner_forecast_days"] = 12
        report["identity"]["room"] = "B-204"
        for supply in report.get("supplies", []):
            supply["eco_mode"] = True
    return msgspec.msgpack.encode(raw)


def test_same_major_newer_minor_is_decoded_tolerantly_older_and_same_strictly():
    base = FIXTURE_V1.read_bytes()
    strict = wire.decode_batch(base)
    batch = wire.decode_batch(_newer_minor(base, wire.WIRE_MINOR + 1))
    assert batch.minor == wire.WIRE_MINOR + 1
    assert batch.reports == strict.reports  # the unknown fields are gone, the known ones intact
    assert b"B-204" not in model.encode(batch.reports[0])
    with pytest.raises(wire.WireError, match="unknown field") as refused:
        wire.decode_batch(_newer_minor(base, wire.WIRE_MINOR))  # our own minor: strict
    assert refused.value.status == 422
    # Tolerant, not lax: a known field of the wrong type is still refused.
    raw = msgspec.msgpack.decode(_newer_minor(base, wire.WIRE_MINOR + 1))
    raw["reports"][0]["scanned_at"] = "yesterday"
    with pytest.raises(wire.WireError, match="scanned_at") as refused:
        wire.decode_batch(msgspec.msgpack.encode(raw))
    assert refused.value.status == 422


@pytest.mark.parametrize("field,value", [("wire", wire.WIRE_VERSION + 1), ("wire", 0)])
def test_another_major_is_refused_with_the_code(field, value):
    raw = msgspec.msgpack.decode(FIXTURE_V1.read_bytes())
    raw[field] = value
    with pytest.raises(wire.IncompatibleVersion) as refused:
        wire.decode_batch(msgspec.msgpack.encode(raw))
    assert refused.value.status == 409 and refused.value.reason.startswith(wire.INCOMPATIBLE)
    assert (
        "upgrade the server" if value > wire.WIRE_VERSION else "upgrade the agent"
    ) in refused.value.reason


def test_a_report_of_another_schema_major_is_refused():
    raw = msgspec.msgpack.decode(FIXTURE_V1.read_bytes())
    raw["reports"][1]["schema"] = model.SCHEMA_VERSION + 1
    with pytest.raises(wire.IncompatibleVersion, match="schema"):
        wire.decode_batch(msgspec.msgpack.encode(raw))


_names = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=20)
_reports = st.builds(
    model.DeviceReport,
    identity=st.builds(
        model.Identity,
        address=_names,
        is_printer=st.booleans(),
        vendor=st.none() | _names,
        serial=st.none() | _names,
        uptime_ticks=st.none() | st.integers(0, 2**32 - 1),
    ),
    scanned_at=st.floats(0, 4e9),
    protocol=st.sampled_from([None, "snmpv1", "snmpv2c", "snmpv3"]),
    counters=st.lists(
        st.builds(
            model.Counter,
            name=st.sampled_from(["total", "mono", "colour"]),
            value=st.integers(0, 2**40),
            label=st.none() | _names,
        ),
        max_size=3,
    ),
    supplies=st.lists(
        st.builds(
            model.Supply,
            index=st.integers(1, 99),
            description=_names,
            level=st.none() | st.integers(-3, 10**6),
            percent=st.none() | st.floats(0, 100),
            state=st.sampled_from(["ok", "unknown", "coarse"]),
        ),
        max_size=3,
    ),
    status=st.none() | st.builds(model.Status, errors=st.lists(_names, max_size=2)),
)


@settings(max_examples=150, deadline=None)
@given(reports=st.lists(_reports, min_size=1, max_size=4), newer=st.integers(0, 3))
def test_any_report_round_trips_with_its_version(reports, newer):
    """Property: any valid batch the agent seals decodes to the same reports, with the version
    it was sent in; a newer minor with added fields decodes to the same reports too."""
    data = wire.encode(wire.raw_batch("p-1", "site-a", [model.encode(r) for r in reports]))
    assert all(r["schema"] == model.SCHEMA_VERSION for r in msgspec.msgpack.decode(data)["reports"])
    if newer:
        data = _newer_minor(data, wire.WIRE_MINOR + newer)
    batch = wire.decode_batch(data)
    assert batch.reports == reports
    assert (batch.wire, batch.minor) == (wire.WIRE_VERSION, wire.WIRE_MINOR + newer)


def test_agent_tells_an_older_strict_server_from_a_bad_batch(monkeypatch):
    """A 422 "unknown field" means "server older" only from a server that does not name its
    version (the first releases) while this agent speaks a newer minor; otherwise the batch is
    bad and is quarantined as before (tests/test_server_security.py)."""
    from printerhq.uplink.client import is_incompatible

    unknown = "422 schema: Object contains unknown field `room` - at `$.reports[0].identity`"
    wrong_type = "422 schema: Expected `float`, got `str`"
    assert wire.FIELDS_MINOR == 0  # 1.1 added message kinds only, no field
    assert is_incompatible("409 incompatible_version: ...", "1.0")
    assert is_incompatible("409 incompatible_version: ...", None)
    assert not is_incompatible(unknown, None)  # our fields are 1.0's: the batch is bad
    assert not is_incompatible(wrong_type, None)
    monkeypatch.setattr(wire, "FIELDS_MINOR", 2)
    assert is_incompatible(unknown, None)  # an agent with added fields, first-release server
    assert not is_incompatible(unknown, "1.1")  # a server that names its version is tolerant
    assert not is_incompatible(wrong_type, None)


def test_agent_ignores_server_messages_of_an_unknown_kind_and_ack_fields_it_does_not_know():
    ack = msgspec.msgpack.encode({"batch_id": "b", "ok": True, "server_minor": 4})
    assert wire.decode_server_message(ack) == wire.Ack(batch_id="b")
    assert (
        wire.decode_server_message(msgspec.msgpack.encode({"kind": "config", "interval": 60}))
        is None
    )


# -- the server, over real sockets -------------------------------------------------------------
@pytest.fixture
async def server(tmp_path):
    async with run_server(tmp_path / "server", self_signed=True) as srv:
        srv.token = new_token()
        await srv.store.add_agent("site-a", srv.token)
        yield srv


def _http(server) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        verify=ssl.create_default_context(cafile=str(server.certfile)),
        base_url=server.url,
        headers={"authorization": f"Bearer {server.token}", "content-encoding": "deflate"},
    )


async def test_server_accepts_the_released_fixture_and_stores_its_version(server):
    async with _http(server) as c:
        r = await c.post("/api/v1/ingest", content=wire.compress_body(FIXTURE_V1.read_bytes()))
    assert r.status_code == 200 and wire.decode_ack(r.content).batch_id == "fixture-v1-0001"
    assert r.headers[wire.VERSION_HEADER] == f"{wire.WIRE_VERSION}.{wire.WIRE_MINOR}"
    assert await server.store.reading_versions() == [("site-a", "fixture-v1-0001", 1, 1, 0)] * 3
    devices = await server.store.list_devices()
    assert sorted(d["vendor"] for d in devices) == ["Brother", "HP", "Ricoh"]


async def test_server_accepts_a_newer_minor_ignores_its_fields_counts_and_logs_once(server, caplog):
    caplog.set_level(logging.INFO, logger="printerhq.server")
    newer = msgspec.msgpack.decode(_newer_minor(FIXTURE_V1.read_bytes(), wire.WIRE_MINOR + 2))
    async with _http(server) as c:
        for n in range(2):
            newer["batch_id"] = f"newer-{n}"
            r = await c.post(
                "/api/v1/ingest", content=wire.compress_body(msgspec.msgpack.encode(newer))
            )
            assert r.status_code == 200 and wire.decode_ack(r.content).ok
    versions = await server.store.reading_versions()
    assert {v[2:] for v in versions} == {
        (model.SCHEMA_VERSION, wire.WIRE_VERSION, wire.WIRE_MINOR + 2)
    }
    assert len(versions) == 6
    stored = [r for _, _, r in await server.store.all_readings()]
    assert not any(b"B-204" in r or b"toner_forecast" in r or b"eco_mode" in r for r in stored)
    assert server.app.state.metrics.newer_minor == 2
    assert caplog.text.count("fields this server does not know are ignored") == 1


async def test_server_refuses_another_major_with_409_and_the_code(server):
    raw = msgspec.msgpack.decode(FIXTURE_V1.read_bytes())
    raw["wire"] = wire.WIRE_VERSION + 1
    body = msgspec.msgpack.encode(raw)
    async with _http(server) as c:
        r = await c.post("/api/v1/ingest", content=wire.compress_body(body))
    assert r.status_code == 409
    assert r.json()["code"] == wire.INCOMPATIBLE and r.json()["wire"] == [
        wire.WIRE_VERSION,
        wire.WIRE_MINOR,
    ]
    ctx = ssl.create_default_context(cafile=str(server.certfile))
    headers = [(b"authorization", f"Bearer {server.token}".encode())]
    async with trio_websocket.open_websocket_url(server.ws_url, ctx, extra_headers=headers) as ws:
        await ws.send_message(wire.StreamCompressor().compress(body))
        ack = wire.decode_ack(await ws.get_message())
        announced = dict(ws.handshake_headers)[wire.VERSION_HEADER.encode()]
    assert announced == f"{wire.WIRE_VERSION}.{wire.WIRE_MINOR}".encode()
    assert r.headers[wire.VERSION_HEADER] == announced.decode()
    assert (
        not ack.ok
        and ack.batch_id == "fixture-v1-0001"
        and ack.error.startswith("409 " + wire.INCOMPATIBLE)
    )
    assert (await server.store.totals())["readings"] == 0


# -- the agent when the server cannot read it --------------------------------------------------
@pytest.mark.parametrize("transport", ["websocket", "http"])
async def test_agent_keeps_batches_spooled_when_the_server_refuses_its_version(
    server, tmp_path, caplog, monkeypatch, transport
):
    """A newer-major agent (simulated: it stamps its batches wire N+1) against this server: the
    batches stay in the spool (not in the rejected table), one error line, no hammering; once
    the server can read them (simulated: the agent speaks N again) they are delivered."""
    caplog.set_level(logging.INFO, logger="printerhq.uplink")
    speaks = [wire.WIRE_VERSION + 1]

    def stamped(self, batch_id, reports):
        batch = wire.raw_batch(batch_id, self.agent, reports)
        batch.wire = speaks[0]
        return wire.encode(batch)

    monkeypatch.setattr(Uplink, "_encode", stamped)
    async with Uplink(
        server.url,
        server.token,
        tmp_path / "spool",
        agent="site-a",
        transport=transport,
        tls=TlsOptions(ca_bundle=str(server.certfile)),
        incompatible_retry=2.0,
        backoff_initial=0.05,
    ) as up:
        for i in range(5):
            await up.submit(make_report(i))
        with trio.move_on_after(10):
            while not up.stats["incompatible"]:
                await trio.sleep(0.05)
        await trio.sleep(1.0)  # well inside incompatible_retry: no second attempt
        refused = server.app.state.metrics.rejected[wire.INCOMPATIBLE]
        assert up.stats["incompatible"] == 1 and refused == 1
        assert up.pending == 5 and up._spool.sync.rejected() == []
        assert caplog.text.count("cannot read this agent's wire version") == 1
        speaks[0] = wire.WIRE_VERSION  # the server was upgraded
        assert await up.flush(15)
        assert up.server_version == f"{wire.WIRE_VERSION}.{wire.WIRE_MINOR}"
    assert (await server.store.totals())["readings"] == 5
    assert "accepts this agent's batches again" in caplog.text
