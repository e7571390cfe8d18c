"""Durations in configuration files: "2s", "15m", "24h", "1h30m", "500ms", "7d".

A bare number is seconds. Units are the ones systemd.time(7) and Go's ParseDuration share; no
months or years (their length varies). Bounds keep absurd values out: 0 to 366 days.
"""

from __future__ import annotations

import re

UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
MAX_SECONDS = 366 * 86400.0
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


class Duration(float):
    """Seconds, decoded from a duration string (see :func:`parse_duration`)."""


def parse_duration(value: object) -> Duration:
    """Seconds from ``"15m"``-style text or a number; ``ValueError`` says what is wrong."""
    if isinstance(value, bool):
        raise ValueError(f'expected a duration like "15m", got {value!r}')
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        if not text:
            raise ValueError('empty duration; write e.g. "30s", "15m" or "24h"')
        pos, seconds = 0, 0.0
        while pos < len(text):
            match = _PART.match(text, pos)
            if match is None:
                raise ValueError(
                    f'{value!r} is not a duration; write e.g. "30s", "15m", '
                    f'"24h" or "1h30m" (units: ms, s, m, h, d)'
                )
            seconds += float(match.group(1)) * UNITS[match.group(2)]
            pos = match.end()
    else:
        raise ValueError(f'expected a duration like "15m", got {type(value).__name__}')
    if not 0 <= seconds <= MAX_SECONDS:
        raise ValueError(f"{value!r} is out of range (0 to 366 days)")
    return Duration(seconds)


def format_duration(seconds: float) -> str:
    """The shortest exact text for ``seconds`` ("90s" -> "1m30s"), for logs and the example."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    out, rest = "", seconds
    for unit in ("d", "h", "m"):
        size = UNITS[unit]
        whole = int(rest // size)
        if whole:
            out += f"{whole}{unit}"
            rest -= whole * size
    if rest or not out:
        out += f"{rest:g}s"
    return out
