"""snmpsim ``.snmprec`` recordings: parse, hold sorted, answer GET / GETNEXT / GETBULK. No I/O
beyond :meth:`Recording.load` reading one file.

Format (snmpsim): one variable per line, ``OID|TYPE|VALUE``. TYPE is the decimal BER tag of the
value (2 Integer32, 4 OCTET STRING, 5 NULL, 6 OBJECT IDENTIFIER, 64 IpAddress, 65 Counter32,
66 Gauge32, 67 TimeTicks, 68 Opaque, 70 Counter64); an ``x`` suffix means VALUE is hex
(``4x|0115414243``). Lines starting with ``#`` and blank lines are ignored (snmpsim's indexer
skips them too), which lets a fixture carry directives::

    # printerhq-sim: versions=v1        (serve this recording to SNMPv1 requests only)

snmpsim's variation modules (``TYPE:module|options``) cannot be emulated here: when the options
contain ``value=...`` that static value is served, otherwise the line is skipped and noted in
:attr:`Recording.problems`.

Order: a tuple of ints compares exactly like SNMP's lexicographic OID order (RFC 3416 section
4.2.2: arc by arc, a prefix sorts first), so the varbinds are kept in a plain sorted list and
located with :mod:`bisect`.
"""

from __future__ import annotations

__all__ = ["Recording", "RecordingError", "format_line", "parse_value"]

import binascii
import ipaddress
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from printerhq.snmp.ber import Tag, format_oid, parse_oid
from printerhq.snmp.message import Varbind

_DIRECTIVE = re.compile(r"#\s*printerhq-sim:\s*(.*)$")
_UNSIGNED_BITS: dict[int, int] = {
    Tag.COUNTER32: 32,
    Tag.GAUGE32: 32,
    Tag.TIMETICKS: 32,
    Tag.COUNTER64: 64,
}
_NUMERIC_TAGS = frozenset((Tag.INTEGER, *_UNSIGNED_BITS))
_BYTES_TAGS = frozenset((Tag.OCTET_STRING, Tag.OPAQUE))
_VERSION_WORDS = {"v1": 0, "1": 0, "v2c": 1, "2c": 1, "2": 1}


class RecordingError(ValueError):
    """A malformed recording line; the message names the file and line number."""

    def __init__(self, name: str, line: int, reason: str) -> None:
        super().__init__(f"{name}:{line}: {reason}")
        self.name = name
        self.line = line
        self.reason = reason


def parse_value(tag: int, text: str, hexed: bool) -> int | bytes | tuple[int, ...] | None:
    """Turn the VALUE column into the python value :class:`Varbind` carries. Raises ValueError."""
    if hexed:
        if tag not in (*_BYTES_TAGS, Tag.IP_ADDRESS):
            raise ValueError(f"hex value for non-string type {tag}")
        try:
            raw = binascii.unhexlify(text.strip())
        except (binascii.Error, ValueError):
            raise ValueError(f"bad hex value {text!r}") from None
        if tag == Tag.IP_ADDRESS and len(raw) != 4:
            raise ValueError(f"IpAddress must be 4 octets, got {len(raw)}")
        return raw
    if tag in _BYTES_TAGS:
        # snmpsim writes printable strings as-is; surrogateescape round-trips any bytes we read.
        return text.encode("utf-8", "surrogateescape")
    if tag == Tag.INTEGER:
        number = int(text.strip())
        if not -(1 << 31) <= number < (1 << 31):
            raise ValueError(f"Integer32 out of range: {number}")
        return number
    if tag in _UNSIGNED_BITS:
        number = int(text.strip())
        if not 0 <= number < (1 << _UNSIGNED_BITS[tag]):
            raise ValueError(f"{Tag(tag).name} out of range: {number}")
        return number
    if tag == Tag.OBJECT_IDENTIFIER:
        stripped = text.strip().lstrip(".")
        if stripped in ("", "0"):
            # Seen in real recordings (hrDeviceID "0"): a one-arc OID cannot be encoded
            # (X.690 8.19.4), and the value meant is zeroDotZero (RFC 2578 section 2).
            return (0, 0)
        return parse_oid(stripped)
    if tag == Tag.IP_ADDRESS:
        return ipaddress.IPv4Address(text.strip()).packed
    if tag == Tag.NULL:
        return None
    raise ValueError(f"unknown type code {tag}")


def format_line(varbind: Varbind) -> str:
    """One ``.snmprec`` line for a varbind (strings always hex: lossless for any bytes)."""
    oid = format_oid(varbind.oid)
    tag, value = varbind.tag, varbind.value
    if tag in (*_BYTES_TAGS, Tag.IP_ADDRESS) and isinstance(value, bytes | bytearray):
        return f"{oid}|{tag}x|{bytes(value).hex()}"
    if tag == Tag.OBJECT_IDENTIFIER and isinstance(value, tuple):
        return f"{oid}|{tag}|{format_oid(value)}"
    if tag == Tag.NULL:
        return f"{oid}|{tag}|"
    return f"{oid}|{tag}|{value!r}"  # int or None: repr is str


@dataclass(slots=True)
class Recording:
    """One simulated device: varbinds sorted by OID, plus the SNMP versions it answers.

    ``versions`` holds :class:`printerhq.snmp.message.Version` numbers (0 = v1, 1 = v2c).
    ``problems`` lists lines skipped in lenient mode and duplicate OIDs ("file:line: why").
    """

    name: str
    varbinds: list[Varbind]
    versions: frozenset[int] = frozenset((0, 1))
    problems: list[str] = field(default_factory=list)
    _oids: list[tuple[int, ...]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self.varbinds = sorted(self.varbinds, key=lambda vb: vb.oid)
        self._oids = [vb.oid for vb in self.varbinds]

    # -- loading -------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path, *, strict: bool = True) -> Recording:
        """Read a ``.snmprec`` file; the recording is named after the file stem."""
        path = Path(path)
        data = path.read_bytes()
        return cls.parse(
            data.decode("utf-8", "surrogateescape"), name=path.stem, source=str(path), strict=strict
        )

    @classmethod
    def parse(
        cls, text: str, name: str = "recording", *, source: str | None = None, strict: bool = True
    ) -> Recording:
        """Parse ``.snmprec`` text.

        strict: a malformed line raises :class:`RecordingError` naming ``source`` (or ``name``)
        and the line number. Lenient (``strict=False``): the line is skipped and noted in
        :attr:`problems` - real recordings carry a few (e.g. a Counter32 of ``6git3159``).
        Duplicate OIDs are never fatal: the last line wins (as a later ``snmpset`` would).
        """
        where = source or name
        by_oid: dict[tuple[int, ...], Varbind] = {}
        problems: list[str] = []
        versions = frozenset((0, 1))
        # Split on newlines only (str.splitlines would also split on \x0b, \x1c, U+2028... that
        # can sit inside a plain-text value) and keep trailing spaces: they belong to the value.
        for number, raw_line in enumerate(text.split("\n"), start=1):
            line = raw_line.rstrip("\r")
            stripped = line.strip()
            if not stripped:
                continue
            if stripped.startswith("#"):
                directive = _DIRECTIVE.match(stripped)
                if directive:
                    versions = _parse_directive(directive.group(1), where, number)
                continue
            try:
                varbind = _parse_line(line)
            except _Skip as skip:
                problems.append(f"{where}:{number}: {skip}")
                continue
            except ValueError as exc:
                if strict:
                    raise RecordingError(where, number, str(exc)) from None
                problems.append(f"{where}:{number}: {exc}")
                continue
            if varbind.oid in by_oid:
                problems.append(
                    f"{where}:{number}: duplicate OID {format_oid(varbind.oid)} (last one kept)"
                )
            by_oid[varbind.oid] = varbind
        return cls(name, list(by_oid.values()), versions, problems)

    def to_text(self) -> str:
        """The recording as ``.snmprec`` text (round-trips through :meth:`parse`)."""
        lines = []
        if self.versions != frozenset((0, 1)):
            words = ",".join("v1" if v == 0 else "v2c" for v in sorted(self.versions))
            lines.append(f"# printerhq-sim: versions={words}")
        lines.extend(format_line(vb) for vb in self.varbinds)
        return "\n".join(lines) + "\n"

    # -- queries (RFC 3416 section 4.2) --------------------------------------------------

    def __len__(self) -> int:
        return len(self.varbinds)

    def get(self, oid: tuple[int, ...]) -> Varbind:
        """GET one OID (RFC 3416 section 4.2.1).

        Without the MIB we cannot know where an object ends and its instance begins, so the rule
        is: if any recorded OID lies under the requested OID's parent, the object exists and the
        answer is noSuchInstance; otherwise noSuchObject. (sysDescr.1 -> noSuchInstance because
        sysDescr.0 exists; an unknown vendor subtree -> noSuchObject.)
        """
        oid = tuple(oid)
        at = bisect_left(self._oids, oid)
        if at < len(self._oids) and self._oids[at] == oid:
            return self.varbinds[at]
        parent = oid[:-1]
        below = bisect_left(self._oids, parent)
        if parent and below < len(self._oids) and self._oids[below][: len(parent)] == parent:
            return Varbind(oid, Tag.NO_SUCH_INSTANCE, None)
        return Varbind(oid, Tag.NO_SUCH_OBJECT, None)

    def get_next(self, oid: tuple[int, ...]) -> Varbind:
        """GETNEXT (RFC 3416 section 4.2.2): the first recorded OID strictly greater than
        ``oid``, or endOfMibView named by the requested OID."""
        oid = tuple(oid)
        at = bisect_right(self._oids, oid)
        if at < len(self.varbinds):
            return self.varbinds[at]
        return Varbind(oid, Tag.END_OF_MIB_VIEW, None)

    def get_bulk(
        self, oids: Sequence[tuple[int, ...]], non_repeaters: int, max_repetitions: int
    ) -> list[Varbind]:
        """GETBULK (RFC 3416 section 4.2.3) without any size limit.

        N = max(min(non_repeaters, len(oids)), 0) non-repeaters get one GETNEXT each; the
        R = len(oids) - N repeaters get up to M = max(max_repetitions, 0) rows, row i holding the
        successors of row i-1 in request order. endOfMibView repeats for a finished repeater;
        once a whole row is endOfMibView the response stops after that row (allowed by the
        section's reason (2) for fewer varbinds).
        """
        count = len(oids)
        n = max(min(non_repeaters, count), 0)
        m = max(max_repetitions, 0)
        out = [self.get_next(oid) for oid in oids[:n]]
        cursor = [tuple(oid) for oid in oids[n:]]
        if not cursor:
            return out
        for _ in range(m):
            row = [self.get_next(oid) for oid in cursor]
            out.extend(row)
            if all(vb.tag == Tag.END_OF_MIB_VIEW for vb in row):
                break
            cursor = [vb.oid for vb in row]
        return out

    def walk(self, start: tuple[int, ...] = (0, 0)) -> Iterable[Varbind]:
        """Every varbind after ``start`` in order (what a GETNEXT walk would visit)."""
        at = bisect_right(self._oids, tuple(start))
        return iter(self.varbinds[at:])


class _Skip(ValueError):
    """A line we understand but cannot serve (variation module without a static value)."""


def _parse_directive(text: str, where: str, number: int) -> frozenset[int]:
    for item in text.split():
        key, _, value = item.partition("=")
        if key != "versions":
            raise RecordingError(where, number, f"unknown printerhq-sim directive {key!r}")
        try:
            return frozenset(_VERSION_WORDS[word.strip().lower()] for word in value.split(","))
        except KeyError as exc:
            raise RecordingError(where, number, f"unknown SNMP version {exc.args[0]!r}") from None
    raise RecordingError(where, number, "empty printerhq-sim directive")


def _parse_line(line: str) -> Varbind:
    parts = line.split("|", 2)
    if len(parts) != 3:
        raise ValueError(f"expected OID|TYPE|VALUE, got {line[:80]!r}")
    oid_text, type_text, value_text = parts
    oid = parse_oid(oid_text)
    type_text = type_text.strip()
    if ":" in type_text:
        # snmpsim variation module: TYPE:module|options. Serve a static value= if there is one.
        type_text, _, module = type_text.partition(":")
        options = dict(item.partition("=")[::2] for item in value_text.split(","))
        if "value" not in options:
            raise _Skip(f"variation module {module!r} without a static value= (skipped)")
        value_text = options["value"]
    hexed = type_text.endswith("x")
    code = type_text[:-1] if hexed else type_text
    try:
        tag = int(code)
    except ValueError:
        raise ValueError(f"type {type_text!r} is not a decimal BER tag") from None
    try:
        tag = Tag(tag)
    except ValueError:
        raise ValueError(f"unknown type code {tag}") from None
    if tag in (Tag.SEQUENCE, Tag.NO_SUCH_OBJECT, Tag.NO_SUCH_INSTANCE, Tag.END_OF_MIB_VIEW):
        raise ValueError(f"type code {int(tag)} cannot be a recorded value")
    try:
        value = parse_value(tag, value_text, hexed)
    except ValueError as exc:
        raise ValueError(f"{format_oid(oid)}: {exc}") from None
    return Varbind(oid, int(tag), value)
