"""Recordings: the .snmprec parser, lexicographic queries, our fixtures, the real recordings."""

from __future__ import annotations

import string
from bisect import bisect_right
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from printerhq.sim.recording import Recording, RecordingError, format_line
from printerhq.snmp.ber import Tag
from printerhq.snmp.message import Varbind

from .helpers_sim import fixture_paths, real_recordings
from .strategies_snmp import V1_VALUE_TAGS, codec_settings, oids, values_for_tag

RECORDABLE_TAGS = (*V1_VALUE_TAGS, Tag.COUNTER64)
END = Tag.END_OF_MIB_VIEW


@st.composite
def recorded_varbinds(draw: st.DrawFn) -> Varbind:
    tag = draw(st.sampled_from(RECORDABLE_TAGS))
    return Varbind(draw(oids(max_arcs=30)), int(tag), draw(values_for_tag(tag)))


varbind_sets = st.lists(recorded_varbinds(), max_size=40, unique_by=lambda vb: vb.oid)


def successors(ordered: list[Varbind], oid: tuple[int, ...]) -> list[Varbind]:
    """Reference: every varbind strictly after ``oid`` (plain comparison of sorted tuples)."""
    return [vb for vb in ordered if vb.oid > oid]


# -- parse / write round trip ----------------------------------------------------------------


@codec_settings
@given(varbind_sets)
def test_written_snmprec_parses_back_equal(varbinds: list[Varbind]) -> None:
    text = "\n".join(format_line(vb) for vb in varbinds) + "\n"
    recording = Recording.parse(text, name="generated")
    assert recording.varbinds == sorted(varbinds, key=lambda vb: vb.oid)
    assert recording.problems == []
    again = Recording.parse(recording.to_text(), name="again")
    assert again.varbinds == recording.varbinds


@codec_settings
@given(
    oids(max_arcs=30),
    st.text(alphabet=string.printable.replace("\n", "").replace("\r", ""), max_size=60),
)
def test_plain_text_values_keep_every_character(oid: tuple[int, ...], text: str) -> None:
    """snmpsim writes printable strings verbatim: spaces, '|' and trailing blanks included."""
    line = f"{'.'.join(map(str, oid))}|4|{text}"
    recording = Recording.parse(line + "\r\n", name="plain")
    assert recording.varbinds == [Varbind(oid, Tag.OCTET_STRING, text.encode())]


@codec_settings
@given(varbind_sets)
def test_get_next_walk_visits_everything_in_order(varbinds: list[Varbind]) -> None:
    recording = Recording(name="walk", varbinds=varbinds)
    visited = []
    cursor: tuple[int, ...] = ()
    for _ in range(len(varbinds) + 1):
        found = recording.get_next(cursor)
        if found.tag == END:
            assert found.oid == cursor
            break
        assert found.oid > cursor
        visited.append(found)
        cursor = found.oid
    assert visited == sorted(varbinds, key=lambda vb: vb.oid)


@codec_settings
@given(varbind_sets, st.lists(oids(max_arcs=30), max_size=5))
def test_get_answers_exact_or_the_documented_exception(
    varbinds: list[Varbind], probes: list[tuple[int, ...]]
) -> None:
    recording = Recording(name="get", varbinds=varbinds)
    by_oid = {vb.oid: vb for vb in varbinds}
    for oid in [*by_oid, *probes]:
        answer = recording.get(oid)
        if oid in by_oid:
            assert answer == by_oid[oid]
            continue
        parent = oid[:-1]
        object_exists = any(known[: len(parent)] == parent for known in by_oid)
        expected = Tag.NO_SUCH_INSTANCE if object_exists else Tag.NO_SUCH_OBJECT
        assert answer == Varbind(oid, expected, None)


@codec_settings
@given(
    varbind_sets, st.lists(oids(max_arcs=30), max_size=6), st.integers(-3, 8), st.integers(-3, 12)
)
def test_get_bulk_follows_rfc3416_4_2_3(
    varbinds: list[Varbind],
    requested: list[tuple[int, ...]],
    non_repeaters: int,
    max_repetitions: int,
) -> None:
    ordered = sorted(varbinds, key=lambda vb: vb.oid)
    recording = Recording(name="bulk", varbinds=varbinds)
    result = recording.get_bulk(requested, non_repeaters, max_repetitions)

    n = max(min(non_repeaters, len(requested)), 0)
    m = max(max_repetitions, 0)
    r = len(requested) - n
    for i, oid in enumerate(requested[:n]):
        after = successors(ordered, oid)
        assert result[i] == (after[0] if after else Varbind(oid, END, None))
    rows = result[n:]
    assert len(rows) % r == 0 if r else rows == []
    if r == 0:
        return
    row_count = len(rows) // r
    assert row_count <= m
    for j, oid in enumerate(requested[n:]):
        after = successors(ordered, oid)
        for i in range(row_count):
            got = rows[i * r + j]
            if i < len(after):
                assert got == after[i]
            else:
                assert got.tag == END
    # Fewer rows than asked only when the last row is all endOfMibView.
    if row_count < m:
        assert row_count >= 1 and all(vb.tag == END for vb in rows[-r:])


def test_get_bulk_example_from_a_tiny_table() -> None:
    text = "\n".join(
        [
            "1.3.6.1.2.1.1.1.0|4|printer",
            "1.3.6.1.2.1.43.11.1.1.9.1.1|2|80",
            "1.3.6.1.2.1.43.11.1.1.9.1.2|2|-3",
            "1.3.6.1.2.1.43.11.1.1.6.1.1|4|Black",
            "1.3.6.1.2.1.43.11.1.1.6.1.2|4|Drum",
        ]
    )
    rec = Recording.parse(text, name="tiny")
    desc, level = (1, 3, 6, 1, 2, 1, 43, 11, 1, 1, 6), (1, 3, 6, 1, 2, 1, 43, 11, 1, 1, 9)
    out = rec.get_bulk([(1, 3, 6, 1, 2, 1, 1), desc, level], 1, 3)
    assert [(vb.oid[-3:] if vb.tag != END else "end") for vb in out] == [
        (1, 1, 0),  # non-repeater: sysDescr
        (6, 1, 1),
        (9, 1, 1),  # row 1
        (6, 1, 2),
        (9, 1, 2),  # row 2
        (9, 1, 1),
        "end",  # row 3: desc column runs into level; level ends
    ]


# -- malformed input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line, reason",
    [
        ("1.3.6.1.2.1.1.1.0|4", "expected OID|TYPE|VALUE"),
        ("1.3.6.1.x.1|4|a", "not a numeric OID"),
        ("1.3.6.1.2.1.1.3.0|67|soon", "invalid literal"),
        ("1.3.6.1.2.1.1.3.0|99|1", "unknown type code 99"),
        ("1.3.6.1.2.1.1.3.0|q|1", "not a decimal BER tag"),
        ("1.3.6.1.2.1.1.3.0|4x|abc", "bad hex value"),
        ("1.3.6.1.2.1.4.20.1.1.1|64|300.1.1.1", "1.3.6.1.2.1.4.20.1.1.1"),
        ("1.3.6.1.2.1.1.3.0|65|4294967296", "COUNTER32 out of range"),
        ("1.3.6.1.2.1.1.3.0|2|2147483648", "Integer32 out of range"),
        ("1.3.6.1.2.1.1.3.0|128|", "cannot be a recorded value"),
    ],
)
def test_malformed_line_names_file_and_line(line: str, reason: str) -> None:
    text = "1.3.6.1.2.1.1.1.0|4|fine\n# comment\n\n" + line + "\n"
    with pytest.raises(RecordingError) as info:
        Recording.parse(text, name="broken", source="fixtures/broken.snmprec")
    assert str(info.value).startswith("fixtures/broken.snmprec:4: ")
    assert reason in str(info.value)
    assert info.value.line == 4
    lenient = Recording.parse(text, name="broken", strict=False)
    assert len(lenient) == 1 and len(lenient.problems) == 1


def test_load_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.snmprec"
    path.write_text("1.3.6.1.2.1.1.1.0|4|ok\n1.3.6.1.2.1.1.2.0|6|\n1.3.6.1.2.1.1.3.0|67|-1\n")
    with pytest.raises(RecordingError, match=r"bad\.snmprec:3: "):
        Recording.load(path)
    assert Recording.load(path, strict=False).name == "bad"


def test_quirks_of_real_recordings_are_served() -> None:
    text = "\n".join(
        [
            "1.3.6.1.2.1.25.3.5.1.2.1|4x|",  # empty hex string
            "1.3.6.1.2.1.25.3.2.1.4.1|6|0",  # one-arc OID value: zeroDotZero
            "1.3.6.1.2.1.4.20.1.1.10.0.0.5|64|10.0.0.5",
            "1.3.6.1.2.1.4.20.1.3.10.0.0.5|64x|ffffff00",
            "1.3.6.1.2.1.1.4.0|4|",  # empty string
            "1.3.6.1.2.1.4.24.3.0|5|",  # NULL
            "1.3.6.1.2.1.31.1.1.1.6.1|70|18446744073709551615",
            "1.3.6.1.2.1.1.1.0|4|dup",
            "1.3.6.1.2.1.1.1.0|4|last wins",
            "1.3.6.1.2.1.1.5.0|4:numeric|min=1,max=2,value=7",  # variation module, static value
            "1.3.6.1.2.1.1.6.0|2:numeric|min=1,max=2",  # variation module, nothing static
        ]
    )
    rec = Recording.parse(text, name="quirks")
    got = {vb.oid: (vb.tag, vb.value) for vb in rec.varbinds}
    assert got[(1, 3, 6, 1, 2, 1, 25, 3, 5, 1, 2, 1)] == (Tag.OCTET_STRING, b"")
    assert got[(1, 3, 6, 1, 2, 1, 25, 3, 2, 1, 4, 1)] == (Tag.OBJECT_IDENTIFIER, (0, 0))
    assert got[(1, 3, 6, 1, 2, 1, 4, 20, 1, 1, 10, 0, 0, 5)] == (Tag.IP_ADDRESS, b"\n\0\0\5")
    assert got[(1, 3, 6, 1, 2, 1, 4, 20, 1, 3, 10, 0, 0, 5)] == (Tag.IP_ADDRESS, b"\xff\xff\xff\0")
    assert got[(1, 3, 6, 1, 2, 1, 1, 4, 0)] == (Tag.OCTET_STRING, b"")
    assert got[(1, 3, 6, 1, 2, 1, 4, 24, 3, 0)] == (Tag.NULL, None)
    assert got[(1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, 1)] == (Tag.COUNTER64, 2**64 - 1)
    assert got[(1, 3, 6, 1, 2, 1, 1, 1, 0)] == (Tag.OCTET_STRING, b"last wins")
    assert got[(1, 3, 6, 1, 2, 1, 1, 5, 0)] == (Tag.OCTET_STRING, b"7")
    assert (1, 3, 6, 1, 2, 1, 1, 6, 0) not in got
    assert len(rec.problems) == 2
    assert "duplicate" in rec.problems[0] and "variation module" in rec.problems[1]


@pytest.mark.parametrize(
    "directive, versions",
    [
        ("# printerhq-sim: versions=v1", {0}),
        ("#printerhq-sim: versions=v2c", {1}),
        ("# printerhq-sim: versions=v1,v2c", {0, 1}),
    ],
)
def test_version_directive(directive: str, versions: set[int]) -> None:
    rec = Recording.parse(directive + "\n1.3.6.1.2.1.1.1.0|4|x\n", name="v")
    assert rec.versions == versions
    assert Recording.parse(rec.to_text(), name="again").versions == versions


def test_bad_directive_is_an_error() -> None:
    with pytest.raises(RecordingError, match="v:1: unknown SNMP version 'v3'"):
        Recording.parse("# printerhq-sim: versions=v3\n", name="v")


# -- our fixtures ----------------------------------------------------------------------------

PRINTER_TYPE = (1, 3, 6, 1, 2, 1, 25, 3, 1, 5)
HR_DEVICE_TYPE = (1, 3, 6, 1, 2, 1, 25, 3, 2, 1, 2)
PRT = (1, 3, 6, 1, 2, 1, 43)
SUPPLY = (*PRT, 11, 1, 1)
COLORANT = (*PRT, 12, 1, 1)


def column(rec: Recording, prefix: tuple[int, ...]) -> dict[tuple[int, ...], Varbind]:
    """Rows under a column OID, keyed by index."""
    return {vb.oid[len(prefix) :]: vb for vb in rec.varbinds if vb.oid[: len(prefix)] == prefix}


def scalar(rec: Recording, oid: tuple[int, ...]) -> object:
    found = rec.get(oid)
    assert not found.is_exception, f"{rec.name}: missing {oid}"
    return found.value


def is_printer(rec: Recording) -> bool:
    return any(vb.value == PRINTER_TYPE for vb in column(rec, HR_DEVICE_TYPE).values())


FIXTURES = [Recording.load(p) for p in fixture_paths()]
PRINTERS = [rec for rec in FIXTURES if is_printer(rec)]


def test_fixture_set_covers_the_fleet() -> None:
    assert len(PRINTERS) >= 6
    others = [rec for rec in FIXTURES if not is_printer(rec)]
    assert len(others) >= 2
    enterprises = {scalar(rec, (1, 3, 6, 1, 2, 1, 1, 2, 0))[6] for rec in PRINTERS}
    assert len(enterprises) == len(PRINTERS), "one printer per vendor"
    techs = {scalar(rec, (*PRT, 10, 2, 1, 2, 1, 1)) for rec in PRINTERS}
    assert {4, 12} <= techs, "laser and inkjet"
    colours = {scalar(rec, (*PRT, 10, 2, 1, 6, 1, 1)) for rec in PRINTERS}
    assert {1, 4} <= colours, "mono and colour"
    assert any(rec.versions == {0} for rec in PRINTERS), "one SNMPv1-only printer"
    for rec in others:
        assert not column(rec, PRT), f"{rec.name} must not carry Printer-MIB"
    for rec in FIXTURES:
        assert rec.problems == []
        assert rec.name.count("_") == 1, "fixtures are named <vendor>_<model>"


@pytest.mark.parametrize("rec", PRINTERS, ids=lambda rec: rec.name)
def test_printer_fixture_is_internally_consistent(rec: Recording) -> None:
    for leaf in range(1, 8):
        scalar(rec, (1, 3, 6, 1, 2, 1, 1, leaf, 0))
    for col in (1, 2, 3, 4, 5, 6):
        scalar(rec, (1, 3, 6, 1, 2, 1, 25, 3, 2, 1, col, 1))
    scalar(rec, (1, 3, 6, 1, 2, 1, 25, 3, 5, 1, 1, 1))
    errors = scalar(rec, (1, 3, 6, 1, 2, 1, 25, 3, 5, 1, 2, 1))
    assert isinstance(errors, bytes) and len(errors) in (1, 2)
    serial = scalar(rec, (*PRT, 5, 1, 1, 17, 1))
    assert isinstance(serial, bytes) and serial
    life = scalar(rec, (*PRT, 10, 2, 1, 4, 1, 1))
    assert scalar(rec, (*PRT, 10, 2, 1, 5, 1, 1)) <= life  # type: ignore[operator]

    supply_rows = set(column(rec, (*SUPPLY, 5)))
    assert supply_rows
    for col in range(2, 10):  # every accessible column of prtMarkerSuppliesEntry
        assert set(column(rec, (*SUPPLY, col))) == supply_rows, f"supplies column {col}"
    colorant_rows = set(column(rec, (*COLORANT, 4)))
    assert scalar(rec, (*PRT, 10, 2, 1, 6, 1, 1)) == len(colorant_rows)
    for row in supply_rows:
        maximum = rec.get((*SUPPLY, 8, *row)).value
        level = rec.get((*SUPPLY, 9, *row)).value
        assert level in (-3, -2, -1) or 0 <= level <= maximum  # type: ignore[operator]
        colorant = rec.get((*SUPPLY, 3, *row)).value
        assert colorant == 0 or (1, colorant) in colorant_rows

    for table in ((6, 1, 1, 3), (8, 2, 1, 13), (16, 5, 1, 2), (18, 1, 1, 7)):
        assert column(rec, (*PRT, *table)), f"{rec.name}: empty table {table}"
    # Console lines and alerts agree with the counters in prtGeneral.
    assert scalar(rec, (*PRT, 5, 1, 1, 11, 1)) == len(column(rec, (*PRT, 16, 5, 1, 2)))
    alerts = column(rec, (*PRT, 18, 1, 1, 7))
    assert scalar(rec, (*PRT, 5, 1, 1, 19, 1)) >= len(alerts)  # type: ignore[operator]
    # Low-toner alert (1104) implies the lowToner bit (bit 2) and vice versa.
    low_toner_alert = any(vb.value == 1104 for vb in alerts.values())
    assert low_toner_alert == bool(errors[0] & 0x20)
    # A door-open alert (501) implies an open cover and the doorOpen bit (bit 4).
    door_alert = any(vb.value == 501 for vb in alerts.values())
    open_cover = any(vb.value == 3 for vb in column(rec, (*PRT, 6, 1, 1, 3)).values())
    assert door_alert == open_cover == bool(errors[0] & 0x08)


def test_v1_only_fixture_has_no_counter64() -> None:
    for rec in FIXTURES:
        if rec.versions == {0}:
            assert all(vb.tag != Tag.COUNTER64 for vb in rec.varbinds)


# -- the real recordings (GPL data, outside the repo) ----------------------------------------

REAL = real_recordings()
needs_real = pytest.mark.skipif(not REAL, reason="../shared/realdata is absent")


@needs_real
def test_every_real_recording_loads_and_walks() -> None:
    seen_types: Counter[int] = Counter()
    for path in REAL:
        rec = Recording.load(path, strict=False)
        lines = [
            line
            for line in path.read_text("utf-8", "surrogateescape").split("\n")
            if line.strip() and not line.startswith("#")
        ]
        duplicates = sum("duplicate" in p for p in rec.problems)
        skipped = len(rec.problems) - duplicates
        assert len(rec) == len(lines) - len(rec.problems), path.name
        assert skipped <= 10, rec.problems
        # A full GETNEXT walk returns every varbind in order.
        cursor: tuple[int, ...] = ()
        count = 0
        while (found := rec.get_next(cursor)).tag != END:
            assert found.oid > cursor
            cursor = found.oid
            count += 1
        assert count == len(rec)
        seen_types.update(vb.tag for vb in rec.varbinds)
    # Every type code the recordings use is served.
    assert {
        Tag.INTEGER,
        Tag.OCTET_STRING,
        Tag.NULL,
        Tag.OBJECT_IDENTIFIER,
        Tag.IP_ADDRESS,
        Tag.COUNTER32,
        Tag.GAUGE32,
        Tag.TIMETICKS,
        Tag.COUNTER64,
    } <= set(seen_types)


@needs_real
@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
def test_strict_mode_either_loads_or_names_the_line(path: Path) -> None:
    try:
        rec = Recording.load(path)
    except RecordingError as exc:
        assert exc.name == str(path) and exc.line >= 1
    else:
        assert len(rec) >= 1


def test_bisect_reference_agrees_with_tuple_order() -> None:
    """SNMP order is tuple order: a prefix sorts before its extensions, arcs compare as ints."""
    ordered = [
        (1, 3, 6, 1, 2, 1, 1),
        (1, 3, 6, 1, 2, 1, 1, 1, 0),
        (1, 3, 6, 1, 2, 1, 1, 10),
        (1, 3, 6, 1, 2, 1, 2),
        (1, 3, 6, 1, 2, 1, 10),
    ]
    assert sorted(reversed(ordered)) == ordered
    assert bisect_right(ordered, (1, 3, 6, 1, 2, 1, 1, 2)) == 2
