"""Decoders: hostile values give a FieldProblem with a reason, never an exception."""

from __future__ import annotations

import typing

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from printerhq.mib import decode as dec
from printerhq.mib import standard as std
from printerhq.mib.vendors import tidy_model
from printerhq.model import FieldProblem, SupplyState
from printerhq.snmp.ber import Tag

DECODERS = [
    dec.text,
    dec.multiline_text,
    dec.integer,
    dec.counter,
    dec.number_text,
    dec.timeticks,
    dec.object_id,
    dec.mac_address,
    dec.error_flags,
    dec.enum(std.HR_DEVICE_STATUS_NAMES),
    dec.device_id_field("MDL", "MODEL"),
]

tags = st.one_of(st.sampled_from([int(t) for t in Tag]), st.integers(0, 255))
values = st.one_of(
    st.none(),
    st.integers(-(2**70), 2**70),
    st.binary(max_size=300),
    st.tuples(st.integers(0, 2**32)).map(tuple),
    st.lists(st.integers(0, 2**32), max_size=20).map(tuple),
    st.text(max_size=50),
    st.booleans(),
    st.floats(),
)


@settings(deadline=None, max_examples=300)
@given(tag=tags, value=values, decoder=st.sampled_from(DECODERS))
def test_decoders_return_or_raise_invalid_only(tag, value, decoder):
    try:
        decoder(tag, value)
    except dec.Invalid as exc:
        assert str(exc)  # always a reason


@settings(deadline=None, max_examples=300)
@given(tag=tags, value=values, decoder=st.sampled_from(DECODERS))
def test_decode_field_never_raises(tag, value, decoder):
    problems: list[FieldProblem] = []
    result = dec.decode_field("x.y", decoder, tag, value, problems)
    if problems:
        assert result is None
        assert problems[0].field == "x.y" and problems[0].reason


@settings(deadline=None, max_examples=300)
@given(
    level=st.one_of(st.none(), st.integers(-(2**31), 2**31)),
    capacity=st.one_of(st.none(), st.integers(-(2**31), 2**31)),
    coarse=st.booleans(),
    empty=st.booleans(),
)
def test_supply_level_is_total(level, capacity, coarse, empty):
    number, cap, percent, state, problem = dec.supply_level(
        level,
        capacity,
        coarse_steps={0: 100.0, 1: 5.0, 2: 0.0, 3: 1.0} if coarse else None,
        empty_code=-100 if empty else None,
    )
    assert state in typing.get_args(SupplyState)
    assert cap is None or cap > 0
    assert percent is None or 0.0 <= percent <= 100.0
    assert number is None or number >= 0
    if state == "invalid":
        assert problem
    if state == "ok":  # "ok" always comes with a percentage; never for a special value
        assert percent is not None and number is not None
    if level is not None and level >= 0 and not (empty and level == -100):
        # a real level is never lost, whatever the capacity says
        assert number == level or (coarse and state == "coarse")


@settings(deadline=None, max_examples=200)
@given(raw=st.binary(max_size=200))
def test_text_accepts_any_octets(raw):
    result = dec.text(Tag.OCTET_STRING, raw)
    assert result is None or (result == result.strip() and "\x00" not in result)


def test_hp_pml_prefix_is_stripped():
    assert dec.text(Tag.OCTET_STRING, b"\x01\x15VNCRC48198") == "VNCRC48198"


def test_non_utf8_text_falls_back_to_cp1252():
    assert dec.text(Tag.OCTET_STRING, b"Bac \xe0 d\xe9chets") == "Bac à déchets"


def test_hp_multiline_hex_description():
    raw = bytes.fromhex(
        "426C61636B20436172747269646765200a3338203332203337203431203230"
        "20343820353020323020343320343620333320333020333020343120303020"
    )
    assert dec.multiline_text(Tag.OCTET_STRING, raw) == "Black Cartridge 827A HP CF300A"


def test_hp_hex_line_cannot_carry_escape_sequences():
    """The hex second line is decoded after the first filter: its octets pass the same filter
    (issue 11 item 4: an OSC title and a CSI clear written as hex reached the terminal)."""
    payload = "\x1b]0;owned\x07\x1b[2J\x9b31m\u202e".encode("latin-1", errors="ignore")
    hex_line = " ".join(f"{b:02X}" for b in payload + b"HP")
    raw = b"Black Cartridge\n" + hex_line.encode()
    decoded = dec.multiline_text(Tag.OCTET_STRING, raw)
    assert decoded is not None and decoded.startswith("Black Cartridge")
    assert decoded.isprintable(), repr(decoded)
    assert "]0;owned" in decoded and "HP" in decoded  # the printable rest is kept


@settings(deadline=None, max_examples=300)
@given(st.binary(max_size=40), st.binary(max_size=40))
def test_multiline_text_is_always_printable(first, second):
    hex_line = " ".join(f"{b:02x}" for b in second)
    decoded = dec.multiline_text(Tag.OCTET_STRING, first + b"\n" + hex_line.encode())
    assert decoded is None or decoded.isprintable()


def test_error_flags_msb_first():
    assert dec.error_flags(Tag.OCTET_STRING, b"\x20") == ["lowToner"]
    assert dec.error_flags(Tag.OCTET_STRING, b"\x01\x00") == ["serviceRequested"]
    assert dec.error_flags(Tag.OCTET_STRING, b"\x80\x40") == ["lowPaper", "outputTrayMissing"]
    assert dec.error_flags(Tag.OCTET_STRING, b"") == []
    with pytest.raises(dec.Invalid):
        dec.error_flags(Tag.INTEGER, 5)


def test_mac_address():
    assert dec.mac_address(Tag.OCTET_STRING, bytes.fromhex("00206b4af325")) == "00:20:6b:4a:f3:25"
    assert dec.mac_address(Tag.OCTET_STRING, b"") is None
    assert dec.mac_address(Tag.OCTET_STRING, bytes(6)) is None
    with pytest.raises(dec.Invalid):
        dec.mac_address(Tag.OCTET_STRING, b"\x01\x02")


def test_device_id_field():
    decode = dec.device_id_field("MDL", "MODEL")
    assert (
        decode(Tag.OCTET_STRING, b"MFG:HP;MDL:HP LaserJet M130;CLS:PRINTER;") == "HP LaserJet M130"
    )
    assert decode(Tag.OCTET_STRING, b"COMMAND SET:;MODEL:Dell S5830dn") == "Dell S5830dn"
    assert decode(Tag.OCTET_STRING, b"no fields here") is None


def test_number_with_unit_text():
    assert dec.number_text(Tag.OCTET_STRING, b"1920 INCHES, 4876 CENTIMETERS") == 1920
    with pytest.raises(dec.Invalid):
        dec.number_text(Tag.OCTET_STRING, b"lots")


def test_special_supply_values():
    assert dec.supply_level(-3, 100)[3] == "some_remaining"
    assert dec.supply_level(-2, 100)[3] == "unknown"
    assert dec.supply_level(-1, -1)[3] == "unlimited"
    assert dec.supply_level(-1, 100)[3] == "unlimited"


def test_capacity_unlimited_says_so():
    # RFC 3805: MaxCapacity -1 = "no restriction"; the level stays, there is no percentage
    assert dec.supply_level(40, -1) == (40, None, None, "unlimited", None)
    assert dec.supply_level(None, -1)[3] == "unlimited"


def test_unknown_capacity_reports_the_level_honestly():
    # Sharp drum: level 9, capacity -2 -> "level 9, capacity unknown", never "ok"
    assert dec.supply_level(9, -2) == (9, None, None, "capacity_unknown", None)
    assert dec.supply_level(100, None)[3] == "capacity_unknown"
    # Brother's coarse steps still win where the vendor has them
    assert dec.supply_level(0, -2, coarse_steps={0: 100.0})[3] == "coarse"


def test_some_remaining_in_a_receptacle_is_space_left():
    assert dec.supply_level(-3, -2, receptacle=True)[3] == "some_space_left"
    assert dec.supply_level(-3, -2, receptacle=False)[3] == "some_remaining"


def test_receptacle_by_type_or_description():
    assert std.is_receptacle(4, "Waste Toner")
    assert std.is_receptacle(None, "Waste Toner Box")  # Konica: no type column
    assert not std.is_receptacle(3, "Black Toner")
    assert not std.is_receptacle(None, "Black Toner")
    assert not std.is_receptacle(15, "Waste Fuser")  # a specific type wins over the words


def test_part_numbers():
    assert dec.part_number("Black Cartridge 827A HP CF300A") == "CF300A"
    assert dec.part_number("Clean Rollers HP None") is None
    assert dec.part_number("Fuser Kit HP 110V-C1N54A, 220V-C1N58A") == "110V-C1N54A, 220V-C1N58A"
    assert dec.part_number("Magenta Cartridge HP CF413A This description") == "CF413A"
    assert dec.part_number("Black Toner, PN 006R01509") == "006R01509"
    assert dec.part_number("Toner (Cyan)") is None
    assert dec.supply_level(0, -2, coarse_steps={0: 100.0})[2:4] == (100.0, "coarse")
    assert dec.supply_level(-100, 100, empty_code=-100)[2] == 0.0
    # zero and negative capacities: capacity dropped, zero is reported as a problem
    assert dec.supply_level(50, 0)[1] is None and dec.supply_level(50, 0)[4]
    assert dec.supply_level(50, -2)[1:3] == (None, None)
    assert dec.supply_level(150, 100)[2] == 100.0 and dec.supply_level(150, 100)[4]
    assert dec.supply_level(76, 100)[2] == 76.0


def test_split_description():
    assert dec.split_description("Black Toner, PN 006R01509;SN48178080E0000481") == (
        "Black Toner",
        "006R01509",
        "48178080E0000481",
    )
    assert dec.split_description("Fuser, PN unknown;SNunknown") == ("Fuser", None, None)
    assert dec.split_description("Drum Unit") == ("Drum Unit", None, None)


def test_colour_of():
    assert dec.colour_of("Toner (Cyan)") == "cyan"
    assert dec.colour_of("CANON Matte Black Ink Tank") == "matte black"
    assert dec.colour_of("Fuser Kit") is None


def test_model_without_mac_suffix():
    assert tidy_model("HL-5370DW [001ba90ba752]") == "HL-5370DW"
    assert tidy_model("Printer X (00:1b:a9:0b:a7:52)") == "Printer X"
    assert tidy_model("Develop ineo  280") == "Develop ineo 280"
    assert tidy_model("ZTC TLP 2824 Plus") == "ZTC TLP 2824 Plus"
    assert tidy_model("MC873") == "MC873"  # short hex-looking names are models, not MACs
    assert tidy_model("[001ba90ba752]") is None
    assert tidy_model("") is None


@settings(deadline=None, max_examples=300)
@given(text=st.text(max_size=80))
def test_tidy_model_is_idempotent_and_never_empty(text):
    once = tidy_model(text)
    assert once is None or (once and once == once.strip() and "  " not in once)
    assert tidy_model(once) == once
