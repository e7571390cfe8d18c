"""The bounds in the model's schema, per-report decoding of a batch, the server's clock window,
the repair of stored reports, and what ``printerhq scan --upload`` says at the end (issue 11).
Sans-IO: values in, values out; hypothesis for the codec parts."""

from __future__ import annotations

import math
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from printerhq import limits, model, wire
from printerhq.commands.upload import UploadSettings
from printerhq.server import admission

from .helpers_server import RECENT, make_report

NOW = RECENT + 86400

# Values a hostile or broken agent can put in a well-formed report.
wild_ints = st.integers(-(2**63), 2**64 - 1)  # what msgpack can carry
wild_floats = st.floats(allow_nan=True, allow_infinity=True)
wild_text = st.text(max_size=40) | st.just("x" * 5000)


@st.composite
def wild_reports(draw) -> model.DeviceReport:
    return model.DeviceReport(
        identity=model.Identity(
            address=draw(wild_text),
            serial=draw(st.none() | wild_text),
            uptime_ticks=draw(st.none() | wild_ints),
        ),
        scanned_at=draw(wild_floats | st.floats(0, 4e9)),
        counters=draw(
            st.lists(st.builds(model.Counter, name=st.just("total"), value=wild_ints), max_size=3)
        ),
        supplies=draw(
            st.lists(
                st.builds(
                    model.Supply,
                    index=wild_ints,
                    description=wild_text,
                    level=st.none() | wild_ints,
                    percent=st.none() | wild_floats,
                ),
                max_size=3,
            )
        ),
        errors=draw(st.lists(wild_text, max_size=3)),
    )


def within_bounds(report: model.DeviceReport) -> bool:
    try:
        model.decode_device_report(model.encode(report))
    except msgspec.ValidationError:
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(report=wild_reports())
def test_repair_brings_any_stored_report_inside_the_bounds(report):
    repaired = model.repair_report(model.encode(report))
    assert repaired is not None  # an identity with an address always survives
    assert within_bounds(repaired)
    if within_bounds(report):
        assert repaired == report  # a report inside the bounds is shown as it is
    # The JSON the API serves (inf and NaN become null there) repairs the same way.
    assert within_bounds(model.repair_report(msgspec.json.decode(msgspec.json.encode(report))))


@settings(max_examples=200, deadline=None)
@given(reports=st.lists(wild_reports(), min_size=1, max_size=6))
def test_each_report_of_a_batch_is_accepted_or_refused_by_its_own_index(reports):
    data = wire.encode(wire.raw_batch("b", "site-a", [model.encode(r) for r in reports]))
    batch, refused = wire.decode_batch_reports(data)
    valid = [i for i, r in enumerate(reports) if within_bounds(r)]
    assert [r.index for r in refused] == [i for i in range(len(reports)) if i not in valid]
    assert batch.reports == [reports[i] for i in valid]
    assert all(len(r.reason) <= wire.MAX_REASON for r in refused)
    # The strict decoder of the whole batch agrees: it refuses exactly when one is refused.
    if refused:
        with pytest.raises(wire.WireError):
            wire.decode_batch(data)
    else:
        assert wire.decode_batch(data).reports == batch.reports


def test_the_clock_window_and_indexes_across_both_kinds_of_refusal():
    reports = [
        make_report(0),
        msgspec.structs.replace(make_report(1), counters=[model.Counter(name="total", value=-1)]),
        msgspec.structs.replace(make_report(2), scanned_at=NOW + limits.MAX_CLOCK_SKEW + 1),
        make_report(3),
        msgspec.structs.replace(make_report(4), scanned_at=NOW - limits.MAX_REPORT_AGE - 1),
        msgspec.structs.replace(make_report(5), scanned_at=NOW + limits.MAX_CLOCK_SKEW),
    ]
    data = wire.encode(wire.raw_batch("b", "site-a", [model.encode(r) for r in reports]))
    batch, refused = wire.decode_batch_reports(data)
    accepted, refused = admission.admit(batch, refused, NOW)
    assert [r.index for r in refused] == [1, 2, 4]
    assert accepted == [reports[0], reports[3], reports[5]]  # the skew itself is allowed
    labels = [admission.reason_label(r.reason) for r in refused]
    assert labels == ["out_of_range", "scanned_in_future", "scanned_too_long_ago"]
    assert admission.timestamp_problem(math.nan, NOW) is not None
    assert admission.timestamp_problem(math.inf, NOW) is not None


def test_a_report_of_another_schema_still_refuses_the_whole_batch():
    """Not a bad report but another version: the agent keeps the batch (409)."""
    raw = msgspec.msgpack.encode({"identity": {"address": "x"}, "scanned_at": NOW, "schema": 2})
    data = wire.encode(wire.RawBatch(batch_id="b", agent="a", reports=[msgspec.Raw(raw)], wire=1))
    with pytest.raises(wire.IncompatibleVersion):
        wire.decode_batch_reports(data)


def test_an_older_agent_reads_an_ack_with_refusals():
    """Agents decode acks tolerantly: the first release's Ack (no ``refused``) reads one."""

    class FirstReleaseAck(msgspec.Struct, omit_defaults=True, kw_only=True):
        batch_id: str
        ok: bool = True
        duplicate: bool = False
        error: str | None = None

    ack = wire.Ack(batch_id="b", refused=[wire.Refused(index=2, reason="too long")])
    old = msgspec.msgpack.decode(wire.encode(ack), type=FirstReleaseAck)
    assert old.ok and old.batch_id == "b"
    # And an ack without refusals is byte for byte what the first release sent.
    plain = wire.encode(wire.Ack(batch_id="b"))
    assert plain == msgspec.msgpack.encode(FirstReleaseAck(batch_id="b"))


# -- what scan --upload says at the end -------------------------------------------------------
class FakeUplink:
    def __init__(self, *, flushed=True, refusal=None, refused=0, acked=2, pending=0):
        self._flushed = flushed
        self.refusal = refusal
        self.pending = pending
        self.stats = dict(
            acked=acked,
            refused_reports=refused,
            last_refusal="report 0: Expected `int` <= 9007199254740991",
            last_error="ConnectError: refused",
        )

    async def flush(self, timeout):
        return self._flushed


@pytest.mark.parametrize(
    "uplink, code, words",
    [
        (FakeUplink(), 0, "uploaded to"),
        (FakeUplink(refused=1), 1, "refused 1 report"),
        (FakeUplink(refusal="HTTPS upload answered 403", pending=7), 1, "7 reports wait in"),
        (FakeUplink(flushed=False, pending=3), 3, "3 reports not yet acknowledged"),
        (FakeUplink(flushed=False, refused=2, pending=3), 1, "3 reports wait in"),
    ],
)
async def test_upload_outcome_exit_codes(uplink, code, words):
    settings_ = UploadSettings("https://hq:8443", "t", Path("/spool"))
    got, line = await settings_.finish(uplink)  # type: ignore[arg-type]
    assert got == code and words in line, line


def test_fake_uplink_has_the_fields_finish_reads():
    from printerhq.uplink.client import UplinkStats

    assert {"acked", "refused_reports", "last_refusal", "last_error"} <= set(
        UplinkStats.__annotations__
    )


def test_fleet_reads_what_an_older_server_serves():
    """A server before the bounds serves stored rows as they are: a 7 MiB string, ``null`` for an
    infinite ``scanned_at`` (JSON has no inf), a counter past 2**53, history at impossible times.
    ``printerhq fleet`` shows them rather than exiting 1."""
    from printerhq.commands import fleet

    served = msgspec.json.decode(
        msgspec.json.encode(
            {
                "report": {
                    "identity": {"address": "10.0.0.9", "sys_descr": "A" * (7 << 20)},
                    "scanned_at": None,
                    "counters": [{"name": "total", "value": 2**64 - 1}],
                    "supplies": [{"index": 1, "description": "Black", "percent": 1e300}],
                }
            }
        )
    )
    report = fleet.as_report(served)
    assert report.identity.address == "10.0.0.9"
    assert len(report.identity.sys_descr or "") == limits.MAX_TEXT
    assert report.counters == [] and report.supplies[0].percent is None
    history = fleet.render_history(
        [{"scanned_at": t, "name": "total", "value": 5} for t in (1e13, -1e18, None, NOW)],
        [{"scanned_at": 1e13, "description": "Black", "percent": None}],
    )
    assert "invalid time" in history
