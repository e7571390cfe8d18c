"""Scan targets -> a lazy address stream, e.g.
``"10.0.0.0/16, 10.1.0.5-80, printer.example, !10.0.3.0/24"``.

Syntax (full reference with examples in ``docs/targets.md``):

=============================  ===============================================================
token                          meaning
=============================  ===============================================================
``10.0.0.7``  ``2001:db8::7``  one address
``10.0.0.0/24``                an IPv4 prefix (host bits may be set: ``10.0.0.9/24`` is the /24,
                               as in nmap)
``2001:db8::/120``             an IPv6 prefix, at most ``max_ipv6`` addresses (default 65,536)
``10.0.0.1-10.0.3.254``        an inclusive range (IPv4 or IPv6)
``10.0.0.1-254``               shorthand: the end replaces the last octet(s) of the start
                               (``10.0.0.1-3.254`` is ``10.0.0.1-10.0.3.254``)
``printer.example``            a hostname, resolved later by :func:`resolve` (all its addresses)
``@hosts.txt``                 every token of that file (same syntax, nested up to 8 deep)
``!<any of the above>``        exclusion: applies to the whole spec, whatever the token order
``# ...``                      a comment to the end of the line
=============================  ===============================================================

Tokens are separated by commas, spaces or newlines.

Why intervals: a spec is kept as a handful of integer intervals per address family.  Includes are
sorted and merged, exclusions are merged and subtracted as intervals, so :meth:`TargetSpec.count`
is exact without iterating and :meth:`TargetSpec.addresses` walks a /8 in constant memory
(DESIGN.md, "Bounded everything": memory grows with the number of tokens, never with the number of
addresses).

Parsing is sans-IO except for ``@file`` tokens, which read a small local file synchronously; call
:func:`parse_targets` before the scan starts (or with ``allow_files=False`` for untrusted text).
Hostname resolution is the only network step and lives in the async :func:`resolve`.
"""

from __future__ import annotations

__all__ = [
    "TargetError",
    "TargetSpec",
    "Hostname",
    "parse_targets",
    "load_target_file",
    "resolve",
    "DEFAULT_MAX_IPV6",
    "MAX_INCLUDE_DEPTH",
    "MAX_FILE_BYTES",
]

import bisect
import ipaddress
import re
import socket
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

import trio

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Largest number of IPv6 addresses a single token may expand to: a /112.  A /64 has 2**64
#: addresses; sweeping it address by address is never what the user meant.
DEFAULT_MAX_IPV6 = 65_536
#: ``@file`` tokens may nest this deep (a cycle is reported long before).
MAX_INCLUDE_DEPTH = 8
#: A targets file larger than this is refused: it is a list of ranges, not a dump.
MAX_FILE_BYTES = 4 * 1024 * 1024

_MAPPED_FIRST = int(ipaddress.IPv6Address("::ffff:0.0.0.0"))
_MAPPED_LAST = int(ipaddress.IPv6Address("::ffff:255.255.255.255"))
_SEPARATORS = re.compile(r"[,\s]+")
# RFC 1123 section 2.1 labels; underscores are tolerated because real internal names use them
# and getaddrinfo accepts them.
_LABEL = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")
_DIGITS = re.compile(r"^[0-9]+$")


class TargetError(ValueError):
    """A token that is not a valid target.

    ``token`` is the text as written, ``position`` its 1-based index among the tokens of the text
    it came from, ``reason`` what is wrong, ``source`` where it came from (``"hosts.txt line 4"``)
    when that is a file.

    The message never quotes a file's text: ``@file`` may name the wrong file (a token file, a
    key) by mistake, and an error line must not print a secret on the terminal or in a log. It
    names the file, line and token position instead.
    """

    def __init__(self, token: str, position: int, reason: str, source: str | None = None):
        self.token = token
        self.position = position
        self.reason = reason
        self.source = source
        if source is None:
            super().__init__(f"bad target {token!r} (token {position}): {reason}")
        else:
            super().__init__(f"bad target in {source} (token {position}): {reason}")


class Hostname(NamedTuple):
    """A hostname token waiting for :func:`resolve`."""

    name: str
    exclude: bool
    position: int


class _Interval(NamedTuple):
    # (version, first, last) sorts IPv4 before IPv6 and then numerically, which is the
    # iteration order of TargetSpec.addresses().
    version: int
    first: int
    last: int


def _merge(intervals: Iterable[_Interval]) -> list[_Interval]:
    """Sort and merge overlapping or adjacent intervals of the same family."""
    merged: list[_Interval] = []
    for iv in sorted(intervals):
        if merged:
            prev = merged[-1]
            if prev.version == iv.version and iv.first <= prev.last + 1:
                if iv.last > prev.last:
                    merged[-1] = _Interval(prev.version, prev.first, iv.last)
                continue
        merged.append(iv)
    return merged


def _subtract(include: list[_Interval], exclude: list[_Interval]) -> list[_Interval]:
    """``include`` minus ``exclude``, both sorted and merged; a linear sweep."""
    result: list[_Interval] = []
    j = 0
    for version, first, last in include:
        # Skip exclusions that end before this interval starts.
        while j < len(exclude) and (exclude[j].version, exclude[j].last) < (version, first):
            j += 1
        k = j
        cursor = first
        while k < len(exclude) and exclude[k].version == version and exclude[k].first <= last:
            ex = exclude[k]
            if ex.first > cursor:
                result.append(_Interval(version, cursor, ex.first - 1))
            cursor = max(cursor, ex.last + 1)
            if cursor > last:
                break
            k += 1
        if cursor <= last:
            result.append(_Interval(version, cursor, last))
    return result


@dataclass(frozen=True)
class TargetSpec:
    """A parsed target list: address intervals plus hostnames still to resolve.

    Immutable and cheap.  :meth:`addresses` and :meth:`count` cover the address tokens (and, after
    :func:`resolve`, the hostnames' addresses); unresolved hostnames are listed in
    :attr:`hostnames` and are not counted.
    """

    include: tuple[_Interval, ...] = ()
    exclude: tuple[_Interval, ...] = ()
    hostnames: tuple[Hostname, ...] = ()

    @cached_property
    def _effective(self) -> list[_Interval]:
        return _subtract(_merge(self.include), _merge(self.exclude))

    @cached_property
    def _starts(self) -> list[tuple[int, int]]:
        return [(iv.version, iv.first) for iv in self._effective]

    def addresses(self) -> Iterator[IPAddress]:
        """Every target address once, IPv4 before IPv6, ascending; lazy (constant memory)."""
        for version, first, last in self._effective:
            make = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
            for value in range(first, last + 1):
                yield make(value)

    __iter__ = addresses

    def ranges(self) -> Iterator[tuple[IPAddress, IPAddress]]:
        """The disjoint inclusive ranges :meth:`addresses` walks, ascending."""
        for version, first, last in self._effective:
            make = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
            yield make(first), make(last)

    def count(self) -> int:
        """Exact number of addresses :meth:`addresses` yields, computed from the intervals."""
        return sum(iv.last - iv.first + 1 for iv in self._effective)

    def __contains__(self, address: object) -> bool:
        if isinstance(address, str):
            try:
                address = ipaddress.ip_address(address)
            except ValueError:
                return False
        if not isinstance(address, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
            return False
        key = (address.version, int(address))
        i = bisect.bisect_right(self._starts, key) - 1
        if i < 0:
            return False
        iv = self._effective[i]
        return iv.version == address.version and iv.first <= key[1] <= iv.last

    @property
    def unresolved(self) -> bool:
        """True while hostnames wait for :func:`resolve`."""
        return bool(self.hostnames)

    def __or__(self, other: TargetSpec) -> TargetSpec:
        """Combine two specs; exclusions of either apply to both."""
        return TargetSpec(
            self.include + other.include,
            self.exclude + other.exclude,
            self.hostnames + other.hostnames,
        )


# --------------------------------------------------------------------------------------------
# Parsing


@dataclass
class _Builder:
    max_ipv6: int
    allow_files: bool
    base_dir: Path
    depth: int = 0
    include: list[_Interval] = field(default_factory=list)
    exclude: list[_Interval] = field(default_factory=list)
    hostnames: list[Hostname] = field(default_factory=list)
    files_open: tuple[Path, ...] = ()


def _tokens(text: str) -> Iterator[tuple[str, int]]:
    """Yield ``(token, line_number)``; ``#`` starts a comment running to the end of the line."""
    for line_number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0]
        for token in _SEPARATORS.split(line):
            if token:
                yield token, line_number


def _parse_address(text: str) -> IPAddress:
    if "%" in text:
        raise ValueError("IPv6 zone ids (%...) are not supported")
    return ipaddress.ip_address(text)


def _looks_numeric(text: str) -> bool:
    # A token made of digits, dots, colons and hex is meant as an address; reporting it as a
    # hostname that failed to resolve would hide the typo.
    return bool(re.fullmatch(r"[0-9.]+", text)) or (":" in text)


def _check_hostname(name: str) -> str | None:
    """Why ``name`` is not a plausible hostname, or None if it is."""
    if not name.isascii():
        return "not an address, and not an ASCII hostname (give IDNs in xn-- form)"
    bare = name[:-1] if name.endswith(".") else name
    if not bare or len(bare) > 253:
        return "hostname length must be 1 to 253 characters"
    labels = bare.split(".")
    for label in labels:
        if not _LABEL.match(label):
            return f"not an address, and {label!r} is not a valid hostname label (RFC 1123)"
    if _DIGITS.match(labels[-1]):
        # RFC 3696 section 2: a top-level label is never all-numeric, so this was meant as an
        # IPv4 address.
        return "not a valid IPv4 address"
    return None


def _range_end(start: IPAddress, end_text: str) -> IPAddress:
    """Parse the end of ``start-end``, including the IPv4 suffix shorthand ``10.0.0.1-254``."""
    if start.version == 4 and re.fullmatch(r"[0-9]+(\.[0-9]+){0,2}", end_text):
        parts = end_text.split(".")
        octets = str(start).split(".")
        for p in parts:
            if len(p) > 3 or int(p) > 255 or (len(p) > 1 and p[0] == "0"):
                raise ValueError(f"octet {p!r} is not a decimal 0-255 without leading zeros")
        return ipaddress.IPv4Address(
            ".".join(octets[: 4 - len(parts)] + [str(int(p)) for p in parts])
        )
    end = _parse_address(end_text)
    if end.version != start.version:
        raise ValueError("range mixes IPv4 and IPv6")
    return end


def _interval_of(body: str, max_ipv6: int) -> _Interval | None:
    """The interval an address/prefix/range token covers; None if it is not numeric at all."""
    if "/" in body:
        if "%" in body:
            raise ValueError("IPv6 zone ids (%...) are not supported")
        net = ipaddress.ip_network(body, strict=False)
        iv = _Interval(net.version, int(net.network_address), int(net.broadcast_address))
    elif "-" in body:
        start_text, _, end_text = body.partition("-")
        try:
            start = _parse_address(start_text)
        except ValueError:
            if _looks_numeric(start_text):
                raise
            return None  # a hostname with a hyphen, such as printer-3.example
        end = _range_end(start, end_text)
        if int(end) < int(start):
            raise ValueError(f"range end {end} is before its start {start}")
        iv = _Interval(start.version, int(start), int(end))
    else:
        try:
            address = _parse_address(body)
        except ValueError:
            if _looks_numeric(body):
                raise
            return None
        iv = _Interval(address.version, int(address), int(address))
    if iv.version == 6 and iv.first <= _MAPPED_LAST and iv.last >= _MAPPED_FIRST:
        # ::ffff:a.b.c.d on an IPv6 socket follows the IPv6 routes, not the IPv4 ones: a scan
        # would send it somewhere else than a.b.c.d.  Ask for the IPv4 spelling instead.
        raise ValueError("IPv4-mapped IPv6 addresses (::ffff:a.b.c.d): write the IPv4 address")
    size = iv.last - iv.first + 1
    if iv.version == 6 and size > max_ipv6:
        raise ValueError(
            f"{size:,} IPv6 addresses is more than the limit of {max_ipv6:,} "
            "(use a longer prefix, e.g. /112, or raise max_ipv6)"
        )
    return iv


def _failure(token: str, position: int, source: str | None) -> Callable[[str], TargetError]:
    """The error maker for one token: its place in the text goes into every message."""

    def fail(reason: str) -> TargetError:
        return TargetError(token, position, reason, source)

    return fail


def _parse_into(b: _Builder, text: str, source_name: str | None) -> None:
    for position, (token, line_number) in enumerate(_tokens(text), start=1):
        source = None if source_name is None else f"{source_name} line {line_number}"
        fail = _failure(token, position, source)
        exclude = token.startswith("!")
        body = token[1:] if exclude else token
        if not body:
            raise fail("'!' must be followed by a target, with no space")
        if body.startswith("@"):
            if exclude:
                raise fail("exclude the file's targets with '!' inside the file instead")
            _include_file(b, body[1:], fail)
            continue
        try:
            iv = _interval_of(body, b.max_ipv6)
        except ValueError as exc:
            # The reasons quote the token; from a file only the kind of problem is told.
            reason = str(exc) if source is None else "not a valid address, range or network"
            raise fail(reason) from None
        if iv is not None:
            (b.exclude if exclude else b.include).append(iv)
            continue
        why = _check_hostname(body)
        if why is not None:
            raise fail(why if source is None else "not an address, and not a valid hostname")
        b.hostnames.append(Hostname(body.rstrip(".").lower(), exclude, position))


def _include_file(b: _Builder, name: str, fail: Callable[[str], TargetError]) -> None:
    if not b.allow_files:
        raise fail("@file includes are not allowed here")
    if not name:
        raise fail("'@' must be followed by a file name")
    if b.depth >= MAX_INCLUDE_DEPTH:
        raise fail(f"@file includes nest deeper than {MAX_INCLUDE_DEPTH}")
    path = (b.base_dir / name).resolve()
    if path in b.files_open:
        raise fail("@file includes itself")
    try:
        text = _read_small(path)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise fail(f"cannot read target file: {exc}") from None
    saved = (b.base_dir, b.depth, b.files_open)
    b.base_dir, b.depth, b.files_open = path.parent, b.depth + 1, b.files_open + (path,)
    try:
        _parse_into(b, text, name)
    finally:
        b.base_dir, b.depth, b.files_open = saved


def _read_small(path: Path) -> str:
    with open(path, "rb") as f:
        data = f.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(f"larger than {MAX_FILE_BYTES:,} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:  # its message quotes the bytes: say where, not what
        raise ValueError(f"not UTF-8 text (byte {exc.start})") from None


def parse_targets(
    text_or_tokens: str | Iterable[str],
    *,
    max_ipv6: int = DEFAULT_MAX_IPV6,
    allow_files: bool = True,
    base_dir: str | Path = ".",
) -> TargetSpec:
    """Parse a target list (a string, or an iterable of strings such as ``argv`` items).

    Raises :class:`TargetError` naming the first malformed token and its position; nothing else.
    ``@file`` tokens are read relative to ``base_dir`` (and nested ones relative to their file);
    ``allow_files=False`` refuses them, for text from an untrusted source.
    """
    text = text_or_tokens if isinstance(text_or_tokens, str) else "\n".join(text_or_tokens)
    b = _Builder(max_ipv6=max_ipv6, allow_files=allow_files, base_dir=Path(base_dir))
    _parse_into(b, text, None)
    return TargetSpec(tuple(b.include), tuple(b.exclude), tuple(b.hostnames))


def load_target_file(path: str | Path, *, max_ipv6: int = DEFAULT_MAX_IPV6) -> TargetSpec:
    """Parse a targets file (a ``--targets-file``): same syntax, errors name the file and line."""
    p = Path(path)
    try:
        text = _read_small(p)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise TargetError(str(path), 0, f"cannot read target file: {exc}") from None
    b = _Builder(
        max_ipv6=max_ipv6,
        allow_files=True,
        base_dir=p.resolve().parent,
        depth=1,
        files_open=(p.resolve(),),
    )
    _parse_into(b, text, p.name)
    return TargetSpec(tuple(b.include), tuple(b.exclude), tuple(b.hostnames))


# --------------------------------------------------------------------------------------------
# Resolution


async def _lookup(name: str, family: int) -> list[IPAddress]:
    infos = await trio.socket.getaddrinfo(name, None, family=family, type=socket.SOCK_DGRAM)
    found: list[IPAddress] = []
    for fam, _type, _proto, _canon, sockaddr in infos:
        if fam not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


async def resolve(
    spec: TargetSpec,
    *,
    family: int = socket.AF_UNSPEC,
    max_concurrent: int = 16,
    timeout: float = 10.0,
) -> tuple[TargetSpec, list[tuple[str, str]]]:
    """Resolve the spec's hostnames, without blocking trio (``trio.socket.getaddrinfo``).

    Returns the spec with every hostname replaced by all its addresses (``family`` can restrict
    them to ``socket.AF_INET`` or ``AF_INET6``), and a list of ``(hostname, error)`` for the names
    that failed: one bad name never stops the others.  A failed *exclusion* is reported as
    ``("!name", error)``; a caller that must never touch excluded hosts should refuse to scan then.
    """
    include = list(spec.include)
    exclude = list(spec.exclude)
    errors: list[tuple[str, str]] = []
    limiter = trio.CapacityLimiter(max_concurrent)

    async def one(host: Hostname) -> None:
        label = ("!" if host.exclude else "") + host.name
        async with limiter:
            with trio.move_on_after(timeout) as scope:
                try:
                    addresses = await _lookup(host.name, family)
                except (OSError, UnicodeError) as exc:
                    errors.append((label, str(exc) or type(exc).__name__))
                    return
        if scope.cancelled_caught:
            errors.append((label, f"lookup timed out after {timeout:g} s"))
            return
        if not addresses:
            errors.append((label, "no addresses of the requested family"))
            return
        target = exclude if host.exclude else include
        target.extend(_Interval(a.version, int(a), int(a)) for a in addresses)

    async with trio.open_nursery() as nursery:
        unique = {(h.name, h.exclude): h for h in spec.hostnames}
        for host in unique.values():
            nursery.start_soon(one, host)
    errors.sort()
    return TargetSpec(tuple(include), tuple(exclude), ()), errors
