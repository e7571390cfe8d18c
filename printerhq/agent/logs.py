"""Structured logs: one line per event; JSON lines when stderr is not a terminal (journald,
files, log shippers), ``time level event key=value`` for a person at a terminal.

An event is a short name plus fields: ``log.info("cycle_done", extra={"fields": {...}})``, or
through :func:`event`. Messages from the libraries (uplink, engine) go through the same handler.
No line carries a terminal escape a device or server sent (:mod:`printerhq.terminal`).
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, TextIO

from printerhq.terminal import safe, safe_json


class _Formatter(logging.Formatter):
    def __init__(self, as_json: bool):
        super().__init__()
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = dict(getattr(record, "fields", {}) or {})
        message = record.getMessage()
        if self.as_json:
            line = {
                "time": round(record.created, 3),
                "level": record.levelname.lower(),
                "logger": record.name,
                "event": message,
                **fields,
            }
            if record.exc_info:
                line["exception"] = self.formatException(record.exc_info)
            # Control characters a device or server put in a value travel as \uXXXX escapes:
            # the same string to a log shipper, inert on a terminal (``journalctl`` shows it).
            return safe_json(line, default=str)
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        # Each value is made safe on its own: a newline in a device string cannot forge a line.
        extra = " ".join(f"{safe(key)}={safe(value)}" for key, value in fields.items())
        text = f"{stamp} {record.levelname.lower():7} {safe(message)}" + (
            f" {extra}" if extra else ""
        )
        if record.exc_info:
            text += "\n" + safe(self.formatException(record.exc_info), newlines=True)
        return text


def setup_logging(
    stream: TextIO | None = None, level: int = logging.INFO, as_json: bool | None = None
) -> None:
    stream = stream or sys.stderr
    if as_json is None:
        as_json = not stream.isatty()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_Formatter(as_json))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def event(logger: logging.Logger, name: str, level: int = logging.INFO, /, **fields: Any) -> None:
    logger.log(level, name, extra={"fields": fields})
