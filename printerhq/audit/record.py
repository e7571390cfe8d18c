"""The audit trail's events: one JSON object per line, so a person can ``grep`` and ``less`` it
and a program can read it back (:func:`decode_line`). Sans-IO.

Every line has ``event`` and ``time`` (UTC, ISO 8601 with milliseconds). The kinds:

* ``request``: one datagram or HTTP request sent to a device — protocol, address, port, kind (PDU
  type, echo-request, who-has, GET), the OIDs or URL path asked, and the bytes handed to the
  socket (``null`` for HTTP, whose bytes the library writes);
* ``upload``: one message sent to the server — kind (``batch`` of reports, ``control`` status),
  its id, the transport, ``bytes`` (the message the server decodes) and ``sent`` (on the
  connection, compressed), the SHA-256 of the message, and per device the fields it carried;
* ``gap``: events lost while the log could not be written (a full disk), said once when writing
  works again;
* ``start``: the log was opened (agent start).
"""

from __future__ import annotations

__all__ = [
    "DeviceContent",
    "Event",
    "Gap",
    "Request",
    "Start",
    "Upload",
    "decode_line",
    "encode_line",
    "format_time",
    "parse_time",
]

import datetime as dt
import math
import time
from typing import Annotated

import msgspec

_options = dict(omit_defaults=True, kw_only=True, tag_field="event")
_Text = Annotated[str, msgspec.Meta(max_length=4096)]
_Texts = Annotated[list[_Text], msgspec.Meta(max_length=10_000)]


class Request(msgspec.Struct, tag="request", **_options):
    time: str
    protocol: str
    address: str
    kind: str
    port: int = 0
    items: _Texts = []  # dotted OIDs, or the URL path
    size: int | None = msgspec.field(default=None, name="bytes")


class DeviceContent(msgspec.Struct, omit_defaults=True, kw_only=True):
    """What one report of an upload carried: its device and its fields, never their values.

    A full report names its ``device`` (address) and ``reading`` (the digest deltas refer to);
    a delta names the ``base`` reading it patches. ``fields``: the paths present (list positions
    as ``[]``); ``counters``: the counter names; ``supplies``: how many supply rows."""

    device: str | None = None
    reading: str | None = None
    base: str | None = None
    fields: _Texts = []
    counters: _Texts = []
    supplies: int = 0


class Upload(msgspec.Struct, tag="upload", **_options):
    time: str
    kind: str  # "batch" or "control"
    id: str
    via: str
    size: int = msgspec.field(name="bytes")
    sent: int
    sha256: str
    devices: Annotated[list[DeviceContent], msgspec.Meta(max_length=100_000)] = []
    kept: bool = False  # the exact message is in uploads/ (printerhq audit --show-upload)
    note: str | None = None  # e.g. the message could not be read back for its contents


class Gap(msgspec.Struct, tag="gap", **_options):
    time: str  # when writing worked again
    since: str  # the first event lost
    lost: int
    error: str


class Start(msgspec.Struct, tag="start", **_options):
    time: str
    version: str = ""
    max_file_bytes: int = 0
    files: int = 0
    keep_uploads: int = 0


Event = Request | Upload | Gap | Start

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Event)


def encode_line(event: Event) -> bytes:
    return _encoder.encode(event) + b"\n"


def decode_line(line: bytes) -> Event | None:
    """The event on one line; None for a line that is not one (torn by a full disk, edited)."""
    try:
        return _decoder.decode(line)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


# The formatted second, reused by every event within it: formatting a date costs more than
# writing the line (the trail may get thousands of events a second during a sweep).
_second: list[tuple[int, str]] = [(-1, "")]


def format_time(epoch: float) -> str:
    """``2026-12-02T17:48:43.544Z`` (UTC, milliseconds)."""
    second = math.floor(epoch)
    micro = round((epoch - second) * 1_000_000)  # as datetime rounds: to the microsecond
    if micro >= 1_000_000:
        second, micro = second + 1, 0
    cached, text = _second[0]
    if second != cached:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _second[0] = (second, text)
    return f"{text}.{micro // 1000:03d}Z"


def parse_time(text: str) -> float | None:
    """Epoch seconds of an ISO 8601 time (naive means UTC); None if it is not one."""
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()
