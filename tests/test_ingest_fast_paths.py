"""The short cuts of the ingest path give what the long ways give: inflating on the event loop
then in a thread, one typed decode of a clean batch, the typed read of a stored report, the
PostgreSQL column arrays (NULL-only columns too), and a server with alerts and retention both on
starts and stops."""

from __future__ import annotations

import zlib

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from printerhq import model, wire
from printerhq.server.run import run_server

from .helpers_server import make_report


def _inflate(decompressor: wire.StreamDecompressor, frame: bytes, first: int) -> bytes:
    out, more = decompressor.start(frame, first)
    return out + decompressor.finish(len(out)) if more else out


@settings(max_examples=60, deadline=None)
@given(
    messages=st.lists(st.binary(max_size=3000), min_size=1, max_size=4),
    first=st.integers(min_value=1, max_value=4000),
    repeat=st.integers(min_value=1, max_value=40),
)
def test_start_and_finish_inflate_what_decompress_does(messages, first, repeat):
    """Every message of one zlib stream comes back whole wherever ``start`` stops, and the
    stream goes on after a message finished in two steps."""
    compressor = wire.StreamCompressor()
    decompressor = wire.StreamDecompressor()
    for message in messages:
        data = message * repeat  # compressible: small frames that inflate past ``first``
        assert _inflate(decompressor, compressor.compress(data), first) == data


@pytest.mark.parametrize("first", [10, 999, 1000, 1001, 1 << 20])
def test_the_inflated_size_stays_bounded_in_both_steps(first):
    exact = zlib.compress(b"x" * 1000)
    assert _inflate(wire.StreamDecompressor(limit=1000), exact, first) == b"x" * 1000
    with pytest.raises(wire.WireError) as too_large:
        _inflate(wire.StreamDecompressor(limit=1000), zlib.compress(b"x" * 1001), first)
    assert too_large.value.status == 413
    # ``start`` itself refuses past the limit: ``finish`` is never asked to inflate with no
    # bound left (zlib reads a max_length of 0 as "no limit").
    with pytest.raises(wire.WireError):
        wire.StreamDecompressor(limit=1000).start(zlib.compress(b"x" * 1001), 1 << 20)


def _batch(reports: list[bytes]) -> bytes:
    return wire.encode(wire.raw_batch("b-1", "agent", reports))


def test_a_clean_batch_decodes_as_the_report_by_report_path_does():
    reports = [make_report(i) for i in range(25)]
    batch, refused = wire.decode_batch_reports(_batch([model.encode(r) for r in reports]))
    assert refused == [] and batch.reports == reports
    assert (batch.batch_id, batch.agent, batch.wire, batch.minor) == (
        "b-1",
        "agent",
        wire.WIRE_VERSION,
        wire.WIRE_MINOR,
    )


def test_one_bad_report_still_refuses_that_report_alone():
    good = [model.encode(make_report(i)) for i in range(3)]
    bad = msgspec.msgpack.encode(
        {**msgspec.msgpack.decode(good[1]), "protocol": "x" * 10_000}  # past its bound
    )
    batch, refused = wire.decode_batch_reports(_batch([good[0], bad, good[2]]))
    assert [r.index for r in refused] == [1]
    assert [r.scanned_at for r in batch.reports] == [
        make_report(0).scanned_at,
        make_report(2).scanned_at,
    ]


def test_a_stored_report_inside_the_bounds_reads_back_equal():
    report = make_report(7)
    assert model.repair_report(model.encode(report)) == report
    # Outside the bounds (stored before them): the repairing walk still cuts it to size.
    raw = msgspec.msgpack.decode(model.encode(report))
    raw["identity"]["sys_name"] = "n" * 100_000
    repaired = model.repair_report(msgspec.msgpack.encode(raw))
    assert repaired is not None and 0 < len(repaired.identity.sys_name or "") < 100_000


async def test_columns_that_hold_only_nulls_are_stored(store):
    """On PostgreSQL every column of a batch travels as one array: a column of NULLs only and
    the largest counter value come back as they went."""
    await store.add_agent("a", "ta")
    agent = await store.agent_for_token("ta")
    bare = msgspec.structs.replace(
        make_report(1),
        counters=[model.Counter(name="total", value=2**53 - 1)],
        supplies=[model.Supply(index=1, description="toner", kind="toner")],  # no levels
    )
    assert (await store.ingest(agent, "b1", [bare, make_report(2)])).reports == 2
    device = next(d for d in await store.list_devices() if d["serial"] == "PHQ00001")
    supplies = await store.supply_history(device["id"])
    assert [(s["colour"], s["level"], s["capacity"], s["percent"]) for s in supplies] == [
        (None, None, None, None)
    ]
    assert [c["value"] for c in await store.counter_history(device["id"], "total")] == [2**53 - 1]
    stored = sorted(
        model.decode_device_report(r).scanned_at for _, _, r in await store.all_readings()
    )
    assert stored == [bare.scanned_at, make_report(2).scanned_at]


async def test_a_server_with_alerts_and_retention_starts_and_stops(tmp_path):
    """Both background tasks at once (the defaults of ``printerhq server serve``)."""
    async with run_server(tmp_path, insecure_http=True, keep_raw_days=90) as server:
        assert server.port > 0


async def test_a_batch_whose_every_report_was_refused_is_recorded(store):
    """Nothing to upsert or insert: the batch row alone (its retry is a duplicate)."""
    await store.add_agent("a", "ta")
    agent = await store.agent_for_token("ta")
    assert (await store.ingest(agent, "empty", [])).reports == 0
    assert (await store.ingest(agent, "empty", [])).duplicate
