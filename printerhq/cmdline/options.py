"""Argument types that check numbers and paths while argparse parses them.

Each is a ``type=`` callable: it returns the value or raises ``argparse.ArgumentTypeError`` with
a reason, and argparse prints ``PROG: error: argument --OPTION: REASON`` and exits 2 (usage) before
anything runs. A value that is well-formed but absurd (a port of 70000, a timeout of ``nan`` or
``inf``, a million retries, a directory that is a file) stops here, not as a traceback later.

Paths are checked for what can be known before the command runs (the file exists, the directory
could be made); the command still reports the ``OSError`` of a later race as one line.
"""

from __future__ import annotations

__all__ = [
    "Parser",
    "bind_host",
    "ca_bundle",
    "directory",
    "existing_directory",
    "existing_file",
    "fingerprint",
    "integer",
    "new_file",
    "number",
    "port",
]

import argparse
import ipaddress
import math
import os
import re
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from .exits import USAGE

_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
_SHA256_PAIRS = re.compile(r"(?:[0-9a-fA-F]{2}:){31}[0-9a-fA-F]{2}")


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr (exit 2): ``PROG: error: ...``.

    Subcommand parsers made by ``add_subparsers`` are of the same class, so every command's
    usage errors look alike.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE, f"{self.prog}: error: {message}\n")


def _fail(message: str) -> NoReturn:
    raise argparse.ArgumentTypeError(message)


def integer(low: int, high: int) -> Callable[[str], int]:
    """A whole number in ``low..high``."""

    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            _fail(f"{text!r} is not a whole number")
        if not low <= value <= high:
            _fail(f"{value} is out of range ({low:,} to {high:,})")
        return value

    parse.__name__ = "integer"
    return parse


def number(low: float, high: float, *, low_open: bool = False) -> Callable[[str], float]:
    """A finite number in ``low..high`` (``low_open``: strictly more than ``low``).

    ``nan`` and ``inf`` are numbers to ``float()`` but not to a timeout: NaN compares false
    with everything and slips past ``<=`` checks; an infinite timeout waits for ever.
    """

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            _fail(f"{text!r} is not a number")
        too_low = value <= low if low_open else value < low
        if not math.isfinite(value) or too_low or value > high:
            lower = f"more than {_show(low)}" if low_open else f"at least {_show(low)}"
            _fail(f"{text} is out of range ({lower}, at most {_show(high)})")
        return value

    parse.__name__ = "number"
    return parse


def _show(value: float) -> str:
    return f"{int(value):,}" if value == int(value) else f"{value:g}"


def port(*, allow_any: bool = False) -> Callable[[str], int]:
    """A TCP/UDP port, 1..65535; with ``allow_any`` also 0 (the system picks a free one)."""
    low = 0 if allow_any else 1
    check = integer(low, 65535)

    def parse(text: str) -> int:
        try:
            return check(text)
        except argparse.ArgumentTypeError:
            _fail(f"{text!r} is not a port ({low} to 65535{', 0: any free port' * allow_any})")

    parse.__name__ = "port"
    return parse


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return candidate
    return Path(".")


def directory(text: str) -> Path:
    """A directory, or a path where one can be created (every existing part is a directory)."""
    if not text:
        _fail("an empty path is not a directory")
    path = Path(text)
    existing = _nearest_existing(path)
    if not existing.is_dir():
        if existing == path:
            _fail(f"{text} exists and is not a directory")
        _fail(f"{text}: {existing} is not a directory")
    return path


def existing_directory(text: str) -> Path:
    """A directory that exists."""
    path = Path(text)
    if not path.is_dir():
        _fail(f"{text} is not a directory" if path.exists() else f"{text} does not exist")
    return path


def existing_file(text: str) -> Path:
    """A regular file (or a symlink to one) that exists and is readable."""
    path = Path(text)
    if not path.is_file():
        _fail(f"{text} is not a file" if path.exists() else f"{text} does not exist")
    if not os.access(path, os.R_OK):
        _fail(f"{text} is not readable")
    return path


def new_file(text: str) -> Path:
    """A file to write: not a directory, and its directory exists."""
    path = Path(text)
    if not text:
        _fail("an empty path is not a file name")
    if path.is_dir():
        _fail(f"{text} is a directory, not a file name")
    if not path.absolute().parent.is_dir():
        _fail(f"{text}: the directory {path.absolute().parent} does not exist")
    return path


def ca_bundle(text: str) -> str:
    """A PEM file of CA certificates that TLS can load (the server's own, if self-signed)."""
    existing_file(text)
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=text)
    except ssl.SSLError:
        _fail(f"{text} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
    except OSError as exc:
        _fail(f"{text}: {exc.strerror or exc}")
    return text


def fingerprint(text: str) -> str:
    """A SHA-256 fingerprint: 64 hex digits, or 32 colon-separated pairs (``AB:CD:...``), as
    ``printerhq serve`` and ``openssl x509 -fingerprint -sha256`` print it. Returned as 64
    lower-case hex digits."""
    if not (_SHA256_HEX.fullmatch(text) or _SHA256_PAIRS.fullmatch(text)):
        _fail("not a SHA-256 fingerprint (64 hex digits, colons between pairs allowed)")
    return text.replace(":", "").lower()


def bind_host(text: str) -> str:
    """An address to listen on: an IP address, or ``localhost``.

    A name other than ``localhost`` would be looked up in the DNS to bind; give the address.
    """
    if text == "localhost":
        return text
    try:
        ipaddress.ip_address(text)
    except ValueError:
        _fail(f"{text!r} is not an IP address (or localhost)")
    return text
