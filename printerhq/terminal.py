"""Text that is safe to show on a terminal: the one sanitising function for everything printed
or logged.

A printer, an agent or a server controls many strings we print (sysDescr, supply names, panel
text, error messages that quote a reply). A terminal obeys what such a string carries: ESC and CSI
sequences (ECMA-48) move the cursor, recolour or clear the screen, OSC sequences set the window
title or write the clipboard, C1 controls (U+0080..U+009F, e.g. U+009B is a one-byte CSI) do the
same in 8-bit mode, and bidi overrides (U+202E, Unicode TR #9) make text read backwards (the
"Trojan Source" trick, CVE-2021-42574). :func:`safe` turns every such character into a visible
escape (``\\x1b``, ``\\u202e``) so the operator sees what the device sent and the terminal obeys
none of it.

What is escaped: every character Python does not call printable (``str.isprintable``) except the
plain and other spaces (category Zs): all of Cc (C0, DEL, C1), Cf (bidi controls, zero-width and
other invisible format characters), Zl/Zp (line and paragraph separators), Cs (lone surrogates,
which would also make ``print`` fail), Co and Cn (private use and unassigned: nothing a printer
should send, and a future terminal might act on them). ``safe(text, newlines=True)`` keeps ``\\n``
for multi-line text that we built ourselves; a single field never keeps it (a device string with a
newline could forge a line of our output).

Machine outputs keep their data lossless: :func:`safe_json` writes JSON whose strings carry those
characters as ``\\uXXXX`` escapes (the same string to a JSON reader, inert on a terminal).
"""

from __future__ import annotations

import json
import logging
import unicodedata
from collections.abc import Callable
from typing import Any

__all__ = ["safe", "safe_json", "spreadsheet_safe", "SafeFormatter"]


def _escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _keep(ch: str, newlines: bool) -> bool:
    if ch.isprintable():
        return True
    if ch == "\n":
        return newlines
    return unicodedata.category(ch) == "Zs"  # no-break and other spaces: visible as space


def safe(text: object, *, newlines: bool = False) -> str:
    """``text`` (any object, through ``str``) with every control, format and other invisible
    character replaced by a visible escape. ``newlines=True`` keeps ``\\n`` (our own layout)."""
    string = text if isinstance(text, str) else str(text)
    if string.isprintable():  # the common case: nothing to do
        return string
    return "".join(ch if _keep(ch, newlines) else _escape(ch) for ch in string)


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection, OWASP):
# ``=HYPERLINK(...)`` from a device's location field would. Tab and CR start one too in some.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: object) -> str:
    """``text`` made :func:`safe` and, when it starts like a formula, prefixed with ``'`` (a
    spreadsheet then shows it as text): for every CSV cell that may hold a device's string."""
    cell = safe(text)
    return "'" + cell if cell.startswith(FORMULA_START) else cell


def _json_escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x10000:
        return f"\\u{code:04x}"
    # Outside the BMP JSON has only surrogate pairs (RFC 8259 section 7).
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def safe_json(
    value: object, *, indent: int | None = None, default: Callable[[Any], Any] | None = None
) -> str:
    """JSON text of ``value`` (builtins) in which no string carries a raw control or invisible
    character: they travel as ``\\uXXXX`` escapes, which a JSON reader decodes to the same string.
    Other non-ASCII text (``Büro``) stays readable."""
    text = json.dumps(value, ensure_ascii=False, indent=indent, default=default)
    # JSON's own syntax is ASCII and printable, so every character escaped here is inside a string
    # (json.dumps already escaped C0 controls, the quote and the backslash).
    if text.replace("\n", "").isprintable():  # the common case: nothing to do
        return text
    return "".join(ch if _keep(ch, True) else _json_escape(ch) for ch in text)


class SafeFormatter(logging.Formatter):
    """A :class:`logging.Formatter` whose lines carry no terminal escapes: the message line is
    made :func:`safe` (a newline in a logged value cannot forge a second log line), a traceback
    keeps its own line breaks."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return safe(super().formatMessage(record))

    def formatException(self, ei: object) -> str:
        return safe(super().formatException(ei), newlines=True)  # type: ignore[arg-type]

    def formatStack(self, stack_info: str) -> str:
        return safe(super().formatStack(stack_info), newlines=True)
