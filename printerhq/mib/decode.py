"""Value decoders: one varbind value in, one typed value out.

Every decoder takes the varbind's BER ``tag`` and plain ``value`` (see
:mod:`printerhq.snmp.message`) and either returns a value, returns ``None`` for "the device has no
value here" (noSuchObject, an empty string), or raises :class:`Invalid` with a reason. Nothing else
escapes: :func:`decode_field` turns :class:`Invalid` (and, as a last line of defence, any other
exception) into a :class:`~printerhq.model.FieldProblem`, so one hostile value never stops a
collection. Property tests in ``tests/test_mib_decode.py`` hold every decoder to this.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable
from typing import TypeAlias, TypeVar

from printerhq.limits import MAX_TIME_TICKS
from printerhq.model import FieldProblem, SupplyState
from printerhq.snmp.ber import Tag

from . import standard as std

T = TypeVar("T")
Decoder: TypeAlias = Callable[[int, object], T | None]
"""(BER tag, plain value) -> the typed value, None when absent; raises :class:`Invalid`."""


class Invalid(ValueError):
    """The device sent a value that cannot mean what the object defines."""


_INTEGER_TAGS = frozenset((Tag.INTEGER, Tag.GAUGE32, Tag.COUNTER32, Tag.COUNTER64, Tag.TIMETICKS))
_ABSENT_TAGS = frozenset((Tag.NULL, Tag.NO_SUCH_OBJECT, Tag.NO_SUCH_INSTANCE, Tag.END_OF_MIB_VIEW))

# HP's PML objects prefix their strings with two octets (0x01 0x15: a PML data-type header).
HP_PML_PREFIX = b"\x01\x15"
# A text line that is itself hex, as HP writes the rest of a long supply description
# ("38 32 37 41 20 48 50"), the rule LibreNMS applies in PrinterSupplies.php.
_HEX_LINE = re.compile(r"^([0-9A-Fa-f]{2} )*[0-9A-Fa-f]{1,2} ?$")
_MAX_TEXT = 1024  # longer strings are truncated: no printer field needs more


def is_absent(tag: int) -> bool:
    return tag in _ABSENT_TAGS


def _bytes(tag: int, value: object) -> bytes | None:
    if tag in _ABSENT_TAGS:
        return None
    if tag not in (Tag.OCTET_STRING, Tag.OPAQUE) or not isinstance(value, (bytes, bytearray)):
        raise Invalid(f"expected OCTET STRING, got tag 0x{tag:02x}")
    return bytes(value)


def _decode_text_bytes(raw: bytes) -> str:
    """UTF-8 when it is UTF-8, else Windows-1252 (what Western printers use), never an error."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def text(tag: int, value: object) -> str | None:
    """DisplayString: PML prefix stripped, NULs and surrounding blanks removed, empty -> None."""
    raw = _bytes(tag, value)
    if raw is None:
        return None
    if raw.startswith(HP_PML_PREFIX):
        raw = raw[2:]
    raw = raw[:_MAX_TEXT].replace(b"\x00", b"")
    return _printable(_decode_text_bytes(raw)).strip() or None


def _printable(text: str) -> str:
    """Control and other unprintable characters (ESC, C1, bidi overrides) become blanks; the
    line breaks stay for :func:`multiline_text`. Applied after every decoding step."""
    if text.isprintable():  # almost every text: nothing to replace
        return text
    return "".join(ch if ch.isprintable() or ch == "\n" else " " for ch in text)


def multiline_text(tag: int, value: object) -> str | None:
    """Text whose later lines may be hex (HP supply descriptions); joined into one line."""
    result = text(tag, value)
    if result is None or "\n" not in result:
        return result
    parts = []
    for line in result.split("\n"):
        if _HEX_LINE.match(line.strip()) and line.strip():
            with contextlib.suppress(ValueError):  # not hex after all: keep the text
                # The decoded octets are new text: filter them as the rest (an ESC written as
                # "1B" would otherwise reach the terminal).
                line = _printable(bytes.fromhex(line.replace(" ", "")).decode("latin-1"))
        parts.append(line)
    joined = "".join(parts).replace("\x00", "")
    return " ".join(joined.split()) or None


def integer(tag: int, value: object) -> int | None:
    if tag in _ABSENT_TAGS:
        return None
    if tag not in _INTEGER_TAGS or not isinstance(value, int) or isinstance(value, bool):
        raise Invalid(f"expected an integer, got tag 0x{tag:02x}")
    return value


def counter(tag: int, value: object) -> int | None:
    """A page counter: a non-negative integer (Counter32, Gauge32, INTEGER or Counter64)."""
    number = integer(tag, value)
    if number is not None and number < 0:
        raise Invalid(f"negative counter {number}")
    return number


_LEADING_NUMBER = re.compile(r"^\s*(\d{1,20})(?:\s+[A-Za-z].*)?$", re.DOTALL)


def number_text(tag: int, value: object) -> int | None:
    """An integer some vendors send as text: digits, optionally followed by a unit
    (Zebra: ``"1920 INCHES, 4876 CENTIMETERS"`` -> 1920, the first unit being the counter's)."""
    if tag in (Tag.OCTET_STRING,):
        string = text(tag, value)
        if string is None:
            return None
        match = _LEADING_NUMBER.match(string)
        if not match:
            raise Invalid(f"not a number: {string[:40]!r}")
        return int(match.group(1))
    return counter(tag, value)


def timeticks(tag: int, value: object) -> int | None:
    if tag in _ABSENT_TAGS:
        return None
    if tag not in (Tag.TIMETICKS, Tag.INTEGER, Tag.GAUGE32, Tag.COUNTER32) or not isinstance(
        value, int
    ):
        raise Invalid(f"expected TimeTicks, got tag 0x{tag:02x}")
    if not 0 <= value <= MAX_TIME_TICKS:
        raise Invalid(f"TimeTicks {value} outside 0..{MAX_TIME_TICKS}")
    return value


def bounded(decoder: Decoder[int], low: int, high: int) -> Decoder[int]:
    """``decoder`` that refuses a number outside ``low..high`` (the MIB's range, or the bound
    of :mod:`printerhq.limits` every receiver enforces)."""

    def decode(tag: int, value: object) -> int | None:
        number = decoder(tag, value)
        if number is not None and not low <= number <= high:
            raise Invalid(f"{number} outside {low}..{high}")
        return number

    decode.__name__ = f"bounded_{getattr(decoder, '__name__', 'decoder')}"
    return decode


def object_id(tag: int, value: object) -> str | None:
    if tag in _ABSENT_TAGS:
        return None
    if tag != Tag.OBJECT_IDENTIFIER or not isinstance(value, tuple):
        raise Invalid(f"expected OBJECT IDENTIFIER, got tag 0x{tag:02x}")
    return ".".join(map(str, value))


def mac_address(tag: int, value: object) -> str | None:
    raw = _bytes(tag, value)
    if not raw:
        return None
    if len(raw) != 6:
        raise Invalid(f"MAC address of {len(raw)} octets")
    if raw == bytes(6):
        return None
    return ":".join(f"{octet:02x}" for octet in raw)


def enum(names: dict[int, str]) -> Decoder[str]:
    """An INTEGER enumeration; a code outside the table is kept as ``"code <n>"``."""

    def decode(tag: int, value: object) -> str | None:
        number = integer(tag, value)
        if number is None:
            return None
        return names.get(number, f"code {number}")

    decode.__name__ = "enum"
    return decode


def error_flags(tag: int, value: object) -> list[str] | None:
    """hrPrinterDetectedErrorState: names of the set bits, RFC 2790 bit order (MSB first)."""
    raw = _bytes(tag, value)
    if raw is None:
        return None
    if len(raw) > 4:
        raise Invalid(f"error state of {len(raw)} octets")
    flags = []
    for bit in range(len(raw) * 8):
        if raw[bit // 8] & (0x80 >> (bit % 8)):
            flags.append(std.HR_ERROR_FLAGS[bit] if bit < len(std.HR_ERROR_FLAGS) else f"bit{bit}")
    return flags


def device_id_field(*keys: str) -> Decoder[str]:
    """A field of an IEEE 1284 device-ID string (``MFG:HP;MDL:LaserJet M130;...``)."""

    def decode(tag: int, value: object) -> str | None:
        string = text(tag, value)
        if string is None:
            return None
        fields: dict[str, str] = {}
        for part in string.split(";"):
            key, sep, val = part.partition(":")
            if sep:
                fields.setdefault(key.strip().upper(), val.strip())
        for key in keys:
            if fields.get(key):
                return fields[key]
        return None

    decode.__name__ = "device_id_field"
    return decode


def decode_field(
    field: str, decoder: Decoder[T], tag: int, value: object, problems: list[FieldProblem]
) -> T | None:
    """Run ``decoder``; on a bad value record a :class:`FieldProblem` and return ``None``."""
    try:
        return decoder(tag, value)
    except Invalid as exc:
        problems.append(FieldProblem(field=field, reason=str(exc)))
    except Exception as exc:  # a decoder bug must cost one field, not the device
        problems.append(FieldProblem(field=field, reason=f"{type(exc).__name__}: {exc}"))
    return None


# --------------------------------------------------------------------------------------------
# Supplies: raw prtMarkerSupplies values -> level, capacity, percent, state


def supply_level(
    level: int | None,
    capacity: int | None,
    *,
    coarse_steps: dict[int, float] | None = None,
    empty_code: int | None = None,
    receptacle: bool = False,
) -> tuple[int | None, int | None, float | None, SupplyState, str | None]:
    """Normalise one supply's level and capacity (RFC 3805 section 2.2 special values).

    Returns ``(level, capacity, percent, state, problem)``. ``level``/``capacity`` keep only real
    quantities; what the special values mean moves into ``state``
    (:data:`printerhq.model.SupplyState`):

    * level -1 or capacity -1 ("other": the sub-unit places no restriction): ``unlimited``,
      with the level kept when it is a quantity;
    * level -2 or no level: ``unknown``;
    * level -3 ("at least one unit remains"): ``some_remaining`` for a supply that is used up,
      ``some_space_left`` for a ``receptacle`` that fills up (waste toner: -3 means not full);
    * a real level with capacity -2 (unknown) or no capacity: ``capacity_unknown``, the level
      reported as it is and no percentage (Sharp's waste toner, drums and developers);
    * ``coarse``: a vendor's few steps instead of a level (``coarse_steps``, Brother), used when
      the capacity is not a quantity; ``empty_code`` is a vendor's "empty" (Ricoh's -100).
    """
    problem = None
    unlimited = capacity == -1
    cap: int | None = capacity
    if cap is not None and cap <= 0:
        if cap == 0 or cap < -2:
            problem = f"capacity {cap} is not a quantity"
        cap = None
    if level is None:
        return None, cap, None, "unlimited" if unlimited else "unknown", problem
    if empty_code is not None and level == empty_code:
        return 0, cap, 0.0, "ok", problem
    if coarse_steps is not None and cap is None and level in coarse_steps:
        return level, cap, coarse_steps[level], "coarse", problem
    if level == -1:
        return None, cap, None, "unlimited", problem
    if level == -2:
        return None, cap, None, "unknown", problem
    if level == -3:
        return None, cap, None, "some_space_left" if receptacle else "some_remaining", problem
    if level < 0:
        return None, cap, None, "invalid", f"level {level} is not a quantity"
    if unlimited:
        return level, None, None, "unlimited", problem
    if cap is None:
        return level, None, None, "capacity_unknown", problem
    if level > cap:
        # Seen after a cartridge swap before the device re-reads the chip: keep the raw level,
        # clamp the percentage, say so.
        return level, cap, 100.0, "ok", f"level {level} above capacity {cap}"
    return level, cap, round(level * 100.0 / cap, 1), "ok", problem


# Compiled once: a report asks for every supply's colour, each word in turn.
_COLOUR_PATTERNS = tuple((word, re.compile(rf"\b{word}\b")) for word in std.COLOUR_WORDS)


@functools.lru_cache(maxsize=1024)  # a fleet has few distinct descriptions; texts are bounded
def colour_of(description: str | None) -> str | None:
    if not description:
        return None
    lowered = description.lower()
    for word, pattern in _COLOUR_PATTERNS:
        if pattern.search(lowered):
            return "grey" if word == "gray" else word
    return None


_PN_SUFFIX = re.compile(
    r",\s*PN\s*(?P<part>[^;,]*)(?:;\s*SN\s*(?P<serial>[^;,]*))?.*$", re.IGNORECASE | re.DOTALL
)


@functools.lru_cache(maxsize=1024)  # pure, asked per supply per report
def split_description(description: str | None) -> tuple[str | None, str | None, str | None]:
    """(description, part number, cartridge serial) from texts such as Xerox's
    ``"Black Toner, PN 006R01509;SN48178080E0000481"``; "unknown" values become None."""
    if not description:
        return description, None, None
    match = _PN_SUFFIX.search(description)
    if not match:
        return description, None, None

    def known(value: str | None) -> str | None:
        value = (value or "").strip()
        return None if not value or value.lower() == "unknown" else value

    head = description[: match.start()].strip() or description
    return head, known(match.group("part")), known(match.group("serial"))


# A part number has a digit ("CF410A", "110V-C1N54A"); HP writes "HP None" when it has none.
_PART = r"(?=[A-Z0-9-]*[0-9])[A-Z0-9][A-Z0-9-]{3,}"
_PART_NUMBERS = re.compile(
    rf"(?:,\s*PN\s*|\bHP\s+)(?P<parts>{_PART}(?:\s*,\s*{_PART})*)(?![A-Za-z0-9-])",
    re.IGNORECASE,
)


@functools.lru_cache(maxsize=1024)  # pure, asked per supply per report
def part_number(description: str | None) -> str | None:
    """The part number(s) a description names, all of them when it lists several
    ("Fuser Kit HP 110V-C1N54A, 220V-C1N58A" -> "110V-C1N54A, 220V-C1N58A")."""
    if not description:
        return None
    match = _PART_NUMBERS.search(description)
    if not match:
        return None
    return ", ".join(part.strip() for part in match.group("parts").split(","))
