"""Delta readings (printerhq/delta.py): diff/apply properties, the server's rebuild, the agent's
memory of acknowledged bases."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from printerhq import delta, model, wire
from tests.test_wire import _reports

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=True)
    | st.text(max_size=8)
    | st.binary(max_size=8)
)
_keys = st.sampled_from(["a", "b", "c", "n", "level", "value"]) | st.text(max_size=4)
_trees = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(_keys, inner, max_size=5),
    max_leaves=30,
)
_roots = st.dictionaries(_keys, _trees, max_size=6)


def _bytes(tree: Any) -> bytes:
    return msgspec.msgpack.encode(tree)


def _canon(tree: Any) -> Any:
    """``tree`` with map order left out (a report's order is its struct's), every scalar as its
    exact msgpack bytes."""
    if isinstance(tree, dict):
        return sorted((_bytes(k), _canon(v)) for k, v in tree.items())
    if isinstance(tree, list):
        return [_canon(v) for v in tree]
    return _bytes(tree)


def _wire_round_trip(patch: Any) -> Any:
    """The patch as the server decodes it (int and str keys survive msgpack)."""
    return msgspec.msgpack.decode(msgspec.msgpack.encode(patch))


@settings(max_examples=400, deadline=None)
@given(base=_roots, new=_roots)
def test_apply_of_diff_rebuilds_any_tree_exactly(base, new):
    """Property: for any two msgpack maps, apply(base, diff(base, new)) is new, every value
    byte for byte (so 1, 1.0 and True, 0.0 and -0.0, lists that grow or shrink are all told
    apart; map order aside), and the base is left as it was."""
    before = _bytes(base)
    patch = delta.diff(base, new) or {}
    rebuilt = delta.apply(base, _wire_round_trip(patch))
    assert _canon(rebuilt) == _canon(new)
    assert _bytes(base) == before
    if _bytes(base) == _bytes(new):
        assert patch == {}


@settings(max_examples=200, deadline=None)
@given(base=_roots, new=_roots, noise=_roots)
def test_a_patch_applied_to_another_base_is_refused_or_checked(base, new, noise):
    """Property: a patch applied to a tree it was not made for either raises DeltaError or
    gives *some* tree — never another exception. (The server then checks the result's digest,
    see the next tests: a wrong tree never becomes a row.)"""
    patch = _wire_round_trip(delta.diff(base, new) or {})
    try:
        delta.apply(noise, patch)
    except delta.DeltaError:
        pass


@settings(max_examples=200, deadline=None)
@given(patch=_roots, base=_roots)
def test_any_patch_is_applied_or_refused_with_delta_error(patch, base):
    try:
        delta.apply(base, patch)
    except delta.DeltaError:
        pass


def _ack_cycle(bases: delta.Bases, batch_id: str, reports: list[model.DeviceReport]):
    data = bases.encode(batch_id, "site-a", [model.encode(r) for r in reports], delta.DELTA_MINOR)
    return delta.decode_batch(data)


def _rebuild_all(batch: delta.DeltaBatch, stored: dict[bytes, bytes]) -> list[model.DeviceReport]:
    """What the server does: resolve each delta against the readings it holds by digest."""
    out, refused = wire.decode_reports(batch.reports)
    assert not refused
    for d in batch.deltas:
        if d.base not in stored:
            raise delta.base_unknown("no such base")
        out.append(delta.rebuild(stored[d.base], d))
    for report in out:
        data = model.encode(report)
        stored[delta.digest(data)] = data
    return out


@settings(max_examples=150, deadline=None)
@given(first=_reports, later=st.lists(_reports, min_size=1, max_size=4))
def test_the_server_rebuilds_every_reading_exactly(first, later):
    """Property: readings of one device, sent full then as deltas against what was
    acknowledged, are rebuilt by the server into the very reports the agent collected."""
    address = first.identity.address
    readings = [first] + [
        msgspec.structs.replace(r, identity=msgspec.structs.replace(r.identity, address=address))
        for r in later
    ]
    bases = delta.Bases()
    stored: dict[bytes, bytes] = {}
    for number, report in enumerate(readings):
        batch = _ack_cycle(bases, f"b{number}", [report])
        assert _rebuild_all(batch, stored) == [report]
        bases.acknowledged(f"b{number}")
    assert len(bases) == 1


def _printer(pages: int, level: int, scanned_at: float) -> model.DeviceReport:
    return model.DeviceReport(
        identity=model.Identity(
            address="10.0.0.5",
            is_printer=True,
            vendor="HP",
            model="LaserJet Pro M404dn",
            serial="PHBQA12345",
            firmware="002_2310A",
            mac="00:11:22:33:44:55",
            sys_descr="HP LaserJet Pro M404dn, FW 002_2310A",
        ),
        scanned_at=scanned_at,
        protocol="snmpv2c",
        counters=[model.Counter(name="total", value=pages, source="1.3.6.1.2.1.43.10.2.1.4.1.1")],
        supplies=[
            model.Supply(
                index=1,
                description="Black Cartridge HP CF259A",
                kind="toner",
                colour="black",
                level=level,
                capacity=100,
                percent=float(level),
            )
        ],
        status=model.Status(device="running", printer="idle"),
        collection="warm",
    )


def test_a_warm_reading_travels_as_a_small_delta_then_full_every_n():
    bases = delta.Bases(full_every=2)
    stored: dict[bytes, bytes] = {}
    sizes = []
    for n in range(5):
        report = _printer(1000 + n, 80 - n, 1.7e9 + 60 * n)
        batch = _ack_cycle(bases, f"b{n}", [report])
        sizes.append((len(batch.reports), len(batch.deltas)))
        assert _rebuild_all(batch, stored) == [report]
        bases.acknowledged(f"b{n}")
    # full, delta, delta, full (two deltas since the last full reading), delta
    assert sizes == [(1, 0), (0, 1), (0, 1), (1, 0), (0, 1)]
    one = _printer(2000, 50, 1.8e9)
    two = _printer(2001, 50, 1.8e9 + 60)
    patch = delta.diff(msgspec.msgpack.decode(model.encode(one)), msgspec.to_builtins(two))
    assert len(msgspec.msgpack.encode(patch)) < len(model.encode(two)) / 5


def test_a_delta_against_a_base_the_server_lacks_is_refused_and_the_agent_sends_full():
    bases = delta.Bases()
    first, second = _printer(10, 90, 1.7e9), _printer(11, 89, 1.7e9 + 60)
    _ack_cycle(bases, "b1", [first])
    bases.acknowledged("b1")
    batch = _ack_cycle(bases, "b2", [second])
    assert batch.deltas and not batch.reports
    with pytest.raises(wire.WireError) as refused:
        _rebuild_all(batch, stored={})  # another server: it never stored b1
    assert refused.value.status == 412 and delta.BASE_UNKNOWN in refused.value.reason
    bases.dropped("b2")
    bases.forget()
    again = _ack_cycle(bases, "b2", [second])
    assert wire.decode_reports(again.reports) == ([second], []) and not again.deltas


def test_a_wrong_base_or_a_forged_result_never_becomes_a_report():
    first, second = _printer(10, 90, 1.7e9), _printer(11, 89, 1.7e9 + 60)
    other = _printer(10, 90, 1.7e9 + 1)  # another reading: same shape, another scanned_at
    base = model.encode(first)
    patch = delta.diff(msgspec.msgpack.decode(base), msgspec.msgpack.decode(model.encode(second)))
    assert patch is not None
    good = delta.Delta(
        base=delta.digest(base), result=delta.digest(model.encode(second)), patch=patch
    )
    assert delta.rebuild(base, good) == second
    with pytest.raises(wire.WireError, match=delta.BASE_UNKNOWN):
        delta.rebuild(model.encode(other), good)  # stored bytes that are not the named base
    forged = delta.Delta(base=good.base, result=delta.digest(model.encode(other)), patch=patch)
    with pytest.raises(wire.WireError, match=delta.BASE_UNKNOWN):
        delta.rebuild(base, forged)
    bad = delta.Delta(base=good.base, result=good.result, patch={"counters": {0: {"x": {}}}})
    with pytest.raises(wire.WireError, match=delta.BASE_UNKNOWN):
        delta.rebuild(base, bad)
    invalid = delta.Delta(base=good.base, result=good.result, patch={"scanned_at": ["noon"]})
    with pytest.raises(wire.WireError) as refused:
        delta.rebuild(base, invalid)
    assert refused.value.status == 422


def test_decoding_is_strict_and_bounded():
    bases = delta.Bases()
    data = bases.encode("b", "site-a", [model.encode(_printer(1, 1, 1.0))], 1)
    assert wire.decode_header(data).kind == delta.KIND
    raw = msgspec.msgpack.decode(data)
    raw["room"] = "3B"
    with pytest.raises(wire.WireError, match="unknown field"):
        delta.decode_batch(msgspec.msgpack.encode(raw))
    raw = msgspec.msgpack.decode(data)
    raw["deltas"] = [[b"12345678", b"1234567", {}]]  # a digest one byte short
    with pytest.raises(wire.WireError):
        delta.decode_batch(msgspec.msgpack.encode(raw))
    raw = msgspec.msgpack.decode(data)
    raw["wire"] = wire.WIRE_VERSION + 1
    with pytest.raises(wire.IncompatibleVersion):
        delta.decode_batch(msgspec.msgpack.encode(raw))
    raw = msgspec.msgpack.decode(data)
    raw["deltas"] = [[b"12345678", b"12345678", {}]] * (wire.MAX_REPORTS_PER_BATCH + 1)
    with pytest.raises(wire.WireError) as refused:
        delta.decode_batch(msgspec.msgpack.encode(raw))
    assert refused.value.status == 413
    deep: dict[Any, Any] = {}
    node = deep
    for _ in range(delta.MAX_DEPTH + 2):
        node["a"] = {}
        node = node["a"]
    nested: Any = {"a": None}
    tree = nested
    for _ in range(delta.MAX_DEPTH + 2):
        tree["a"] = {"a": None}
        tree = tree["a"]
    with pytest.raises(delta.DeltaError, match="deep"):
        delta.apply(nested, deep)


def test_a_spooled_report_the_model_cannot_read_goes_as_it_is_and_never_becomes_a_base():
    """Poison in the spool (printerhq.uplink quarantines what the server refuses): split never
    raises on it, sends it unchanged, and it names no base."""
    poison = msgspec.msgpack.encode({"identity": {"address": "x"}, "scanned_at": 1.0, "u": 1})
    good = model.encode(_printer(1, 1, 1.0))
    bases = delta.Bases()
    full, deltas = bases.split("b", [poison, good])
    assert full == [poison, delta.canonical(good)] and deltas == []
    bases.acknowledged("b")
    assert len(bases) == 1
