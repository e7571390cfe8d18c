"""The upload wire format shared by the uplink (agent) and the server.

A *batch* is the unit of acknowledgement: the agent seals spooled reports into a batch with a
random id, sends it, and deletes it only when the server acknowledges that id. The server stores a
batch at most once per ``(agent, batch_id)``, so a retry after a lost acknowledgement is harmless.

Frames are msgpack. On the WebSocket stream every binary message is one batch, compressed with a
zlib stream that lives as long as the connection (RFC 1950/1951, ``Z_SYNC_FLUSH`` after each
message, the same idea as permessage-deflate with context takeover, RFC 7692 §7.1.1): the second
report of a similar kind costs a fraction of the first. HTTPS POST bodies are compressed alone
(``Content-Encoding: deflate``). Acknowledgements travel uncompressed: they are a few bytes.

Versions (docs/wire.md has the whole policy). The format is ``major.minor``: a batch carries
``wire`` (major, always encoded) and ``minor`` (encoded when not 0, so a 1.0 batch is byte for
byte what the first released servers accept); every report carries ``schema`` (the data model's
major, always encoded). A field that is absent means the value the first release implied: wire 1,
minor 0, schema 1. A server decodes strictly (unknown fields refused) up to its own minor and
tolerantly (unknown fields dropped at the boundary, counted) for a newer minor of its major; a
different major is refused with ``409`` and the code ``incompatible_version``, which the agent
recognises: it keeps the batch spooled and retries much later.

Message kinds. Messages carry an optional ``kind``; absent means ``"batch"`` from the agent and
``"ack"`` from the server. A new kind is a new struct with ``kind`` set, in its own module;
readers look at :class:`Header` first. Wire 1.1 added ``delta_batch`` (printerhq.delta) and
``status`` (printerhq.control), sent only to a server that named 1.1 or newer.
"""

from __future__ import annotations

import types
import typing
import zlib
from typing import Annotated, Literal, Union

import msgspec

from printerhq.model import SCHEMA_VERSION, DeviceReport

WIRE_VERSION = 1  # major: bumped on a change an older reader cannot skip over
# minor: bumped when fields are added (older readers of this major drop them) or a message kind
# (1.1: ``delta_batch``, printerhq.delta)
WIRE_MINOR = 1
# The newest minor that added *fields* (to Batch or the model) rather than message kinds: what a
# strict first-release server may refuse as "unknown field" in a batch it can otherwise read.
FIELDS_MINOR = 0
LEGACY_WIRE = 1  # what a batch without ``wire`` means: agents before the version travelled
INCOMPATIBLE = "incompatible_version"  # error code (HTTP 409) for a major this side cannot read
# The server names its version in this header on ingest responses and the WebSocket handshake.
# Servers without it are the first releases (wire 1.0, strict): to them a newer minor's fields
# are unknown, and their 422 for such a field means "older server", not "bad batch".
VERSION_HEADER = "printerhq-wire"


def version_text() -> str:
    return f"{WIRE_VERSION}.{WIRE_MINOR}"


MAX_COMPRESSED_BYTES = 1 << 20  # one message/body on the wire
MAX_DECOMPRESSED_BYTES = 8 << 20  # a batch after inflation: bounds zip bombs
MAX_REPORTS_PER_BATCH = 500
MAX_REASON = 200  # characters of a refusal's reason sent back to the agent

_options = dict(forbid_unknown_fields=True, omit_defaults=True, kw_only=True)


class Header(msgspec.Struct, kw_only=True):
    """The first look at any message: what kind, which version, which batch (unknown fields
    allowed here; the full decode that follows is strict or tolerant by version)."""

    kind: str = "batch"
    batch_id: str = ""
    wire: int = LEGACY_WIRE
    minor: int = 0


class Batch(msgspec.Struct, **_options):
    """Reports sealed together under one id, as the server decodes it (unknown fields forbidden
    for this server's own version). ``wire``/``minor`` hold what the agent declared."""

    batch_id: str
    agent: str
    reports: list[DeviceReport]
    wire: int = LEGACY_WIRE
    minor: int = 0


class RawBatch(msgspec.Struct, **_options):
    """What the agent encodes: the same msgpack as ``Batch``, reports already encoded in the
    spool. ``wire`` has no default, so it is always encoded; build it with :func:`raw_batch`."""

    batch_id: str
    agent: str
    reports: list[msgspec.Raw]
    wire: int
    minor: int = 0  # 0 is omitted: a 1.0 batch stays readable by the first released servers


def raw_batch(
    batch_id: str, agent: str, reports: list[bytes], minor: int | None = None
) -> RawBatch:
    """The batch this agent sends: its major, ``minor`` (at most its own: the uplink declares
    no more than the server named, a plain batch is the same in every minor), spooled report
    bytes as they are."""
    return RawBatch(
        batch_id=batch_id,
        agent=agent,
        reports=[msgspec.Raw(r) for r in reports],
        wire=WIRE_VERSION,
        minor=WIRE_MINOR if minor is None else min(minor, WIRE_MINOR),
    )


class Refused(msgspec.Struct, omit_defaults=True, kw_only=True):
    """One report of a batch the server did not store: its position in ``Batch.reports`` and
    why (``"<field path>: <bound>"``, at most ``MAX_REASON`` characters)."""

    index: int
    reason: str


class Ack(msgspec.Struct, omit_defaults=True, kw_only=True):
    """The server's answer to one batch. ``duplicate`` means it was stored by an earlier attempt.
    ``refused`` (added in 1.0 without a minor bump, see docs/wire.md): reports of an
    acknowledged batch that the server did not store, by index; every other report was stored.
    Agents read it tolerantly: a newer server may add fields."""

    batch_id: str
    ok: bool = True
    duplicate: bool = False
    error: str | None = None
    refused: list[Refused] = []


class WireError(ValueError):
    """A frame that is too large, not valid zlib/msgpack, or outside the schema."""

    def __init__(self, reason: str, status: int = 400):
        super().__init__(reason)
        self.reason = reason
        self.status = status


class IncompatibleVersion(WireError):
    """A major version this side cannot read (HTTP 409, code ``incompatible_version``)."""

    def __init__(self, reason: str):
        super().__init__(f"{INCOMPATIBLE}: {reason}", 409)


def _tolerant(tp: typing.Any, memo: dict[type, type]) -> typing.Any:
    """``tp`` with every Struct replaced by a copy that ignores unknown fields (same fields,
    types, defaults and constraints): the decoder for a newer minor of our major."""
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        if tp not in memo:
            fields: list[typing.Any] = []
            for f in msgspec.structs.fields(tp):
                sub = _tolerant(f.type, memo)
                if f.default is not msgspec.NODEFAULT:
                    fields.append((f.name, sub, f.default))
                elif f.default_factory is not msgspec.NODEFAULT:
                    fields.append((f.name, sub, msgspec.field(default_factory=f.default_factory)))
                else:
                    fields.append((f.name, sub))
            memo[tp] = msgspec.defstruct(
                f"Tolerant{tp.__name__}", fields, kw_only=True, omit_defaults=True
            )
        return memo[tp]
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is None or origin is Literal or not args:
        return tp
    if origin is Annotated:
        return Annotated[(_tolerant(args[0], memo), *args[1:])]
    if origin in (Union, types.UnionType):
        return Union[tuple(_tolerant(a, memo) for a in args)]  # noqa: UP007 - built at run time
    return origin[tuple(_tolerant(a, memo) for a in args)]


_header_decoder = msgspec.msgpack.Decoder(Header)
_batch_decoder = msgspec.msgpack.Decoder(Batch)
_tolerant_batch_decoder = msgspec.msgpack.Decoder(_tolerant(Batch, {}))
_ack_decoder = msgspec.msgpack.Decoder(Ack)
_encoder = msgspec.msgpack.Encoder()


def encode(value: msgspec.Struct) -> bytes:
    return _encoder.encode(value)


def decode_ack(data: bytes) -> Ack:
    return _ack_decoder.decode(data)


def decode_server_message(data: bytes) -> Ack | None:
    """What an agent reads from the server: an ``Ack``, or ``None`` for a kind it does not know
    (a newer server's control message, to be ignored)."""
    if _header_decoder.decode(data).kind not in ("ack", "batch"):  # absent kind reads "batch"
        return None
    return _ack_decoder.decode(data)


def validate_batch_shape(batch: Batch) -> None:
    if not (1 <= len(batch.batch_id) <= 64) or not batch.batch_id.isascii():
        raise WireError("batch_id must be 1-64 ASCII characters", 422)
    if len(batch.reports) > MAX_REPORTS_PER_BATCH:
        raise WireError(f"more than {MAX_REPORTS_PER_BATCH} reports in one batch", 413)
    for report in batch.reports:
        if report.schema != SCHEMA_VERSION:
            raise IncompatibleVersion(
                f"a report of schema {report.schema}; this server reads schema "
                f"{SCHEMA_VERSION}: {_advice(report.schema, SCHEMA_VERSION)}"
            )


def _advice(theirs: int, ours: int) -> str:
    return "upgrade the server" if theirs > ours else "upgrade the agent"


def decode_header(data: bytes) -> Header:
    """The kind and version of a message, without decoding the rest."""
    try:
        header = _header_decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise WireError(f"schema: {exc}", 422) from None
    except msgspec.DecodeError as exc:
        raise WireError(f"malformed msgpack: {exc}", 400) from None
    if not (0 <= header.wire < 1 << 16 and 0 <= header.minor < 1 << 16):
        raise WireError("wire version out of range", 422)
    return header


def checked_header(data: bytes, kind: str = "batch") -> Header:
    """The header of an inflated upload message of ``kind``, after the checks every upload
    passes before its body is decoded: its size, its kind, and its wire major
    (``WireError`` with an HTTP status; ``IncompatibleVersion`` for another major)."""
    if len(data) > MAX_DECOMPRESSED_BYTES:
        raise WireError("batch too large", 413)
    header = decode_header(data)
    if header.kind != kind:
        raise WireError(f"unsupported message kind {header.kind[:32]!r}", 422)
    if header.wire != WIRE_VERSION:
        raise IncompatibleVersion(
            f"the agent speaks wire {header.wire}.{header.minor}; this server "
            f"wire {WIRE_VERSION}.{WIRE_MINOR}: {_advice(header.wire, WIRE_VERSION)}"
        )
    return header


def decode_batch(data: bytes) -> Batch:
    """Decode and validate an inflated batch; raise ``WireError`` with an HTTP status.

    All or nothing: one report outside the schema refuses the batch. The server reads batches
    with :func:`decode_batch_reports` instead, which refuses such a report alone.

    Same major, minor up to ours: strict (an unknown field is an error). Same major, newer minor:
    fields we do not know are dropped here, at the boundary, and never reach the store; the
    caller sees ``batch.minor > WIRE_MINOR`` and counts it. Another major: ``IncompatibleVersion``.
    """
    header = checked_header(data)
    try:
        if header.minor <= WIRE_MINOR:
            batch = _batch_decoder.decode(data)
        else:
            batch = msgspec.convert(
                _tolerant_batch_decoder.decode(data), Batch, from_attributes=True
            )
    except msgspec.ValidationError as exc:
        raise WireError(f"schema: {exc}", 422) from None
    except msgspec.DecodeError as exc:
        raise WireError(f"malformed msgpack: {exc}", 400) from None
    validate_batch_shape(batch)
    return batch


# -- per-report admission (server side) ---------------------------------------------------------
# One bad report must not cost the others their place: the batch's envelope is decoded first with
# each report left as raw msgpack, then every report on its own. A report outside the schema
# (a bound of printerhq.limits broken, a field unknown) is refused by index; the rest is stored.


class _ReportsRaw(msgspec.Struct, **_options):
    """A batch with its reports still raw (strict envelope: this server's minor or older)."""

    batch_id: str
    agent: str
    reports: list[msgspec.Raw]
    wire: int = LEGACY_WIRE
    minor: int = 0


class _SchemaOnly(msgspec.Struct):
    """The ``schema`` of one report, read before the report itself (unknown fields allowed)."""

    schema: int = 1


_raw_batch_decoder = msgspec.msgpack.Decoder(_ReportsRaw)
_tolerant_raw_batch_decoder = msgspec.msgpack.Decoder(_tolerant(_ReportsRaw, {}))
_schema_only_decoder = msgspec.msgpack.Decoder(_SchemaOnly)
_report_decoder = msgspec.msgpack.Decoder(DeviceReport)
_tolerant_report_decoder = msgspec.msgpack.Decoder(_tolerant(DeviceReport, {}))


def _decode_report(raw: msgspec.Raw, tolerant: bool) -> DeviceReport:
    if not tolerant:
        return _report_decoder.decode(raw)
    return msgspec.convert(_tolerant_report_decoder.decode(raw), DeviceReport, from_attributes=True)


def decode_batch_reports(data: bytes) -> tuple[Batch, list[Refused]]:
    """Decode an inflated batch report by report: ``(batch of the valid reports, refusals)``.

    The envelope (id, agent, versions, size) is all or nothing as in :func:`decode_batch`
    (``WireError``); a report of another ``schema`` refuses the whole batch (409, the agent keeps
    it). A report that is well-formed msgpack but outside the schema is refused alone, named by
    its index in the batch as sent; ``Batch.reports`` keeps the others in order.
    """
    header = checked_header(data)
    tolerant = header.minor > WIRE_MINOR
    if not tolerant:
        # The common case, a batch whose every report is valid: one typed decode of the whole
        # message (in C), the same checks after it. Any report outside the schema sends the
        # message down the report-by-report path below, which names it.
        try:
            whole = _batch_decoder.decode(data)
        except (msgspec.ValidationError, msgspec.DecodeError):
            pass
        else:
            validate_batch_shape(whole)
            return whole, []
    try:
        if tolerant:
            envelope = msgspec.convert(
                _tolerant_raw_batch_decoder.decode(data), _ReportsRaw, from_attributes=True
            )
        else:
            envelope = _raw_batch_decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise WireError(f"schema: {exc}", 422) from None
    except msgspec.DecodeError as exc:
        raise WireError(f"malformed msgpack: {exc}", 400) from None
    shape = Batch(batch_id=envelope.batch_id, agent=envelope.agent, reports=[])
    validate_batch_shape(shape)
    if len(envelope.reports) > MAX_REPORTS_PER_BATCH:
        raise WireError(f"more than {MAX_REPORTS_PER_BATCH} reports in one batch", 413)
    reports, refused = decode_reports(envelope.reports, tolerant)
    batch = Batch(
        batch_id=envelope.batch_id,
        agent=envelope.agent,
        reports=reports,
        wire=envelope.wire,
        minor=envelope.minor,
    )
    return batch, refused


def decode_reports(
    raws: list[msgspec.Raw], tolerant: bool = False
) -> tuple[list[DeviceReport], list[Refused]]:
    """Each raw report decoded on its own: ``(the valid ones in order, refusals by index in
    raws)``. A report of another ``schema`` raises ``IncompatibleVersion`` (the whole message is
    of a version this server cannot read). ``tolerant``: a newer minor's unknown fields dropped."""
    reports: list[DeviceReport] = []
    refused: list[Refused] = []
    for index, raw in enumerate(raws):
        try:
            schema = _schema_only_decoder.decode(raw).schema
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            refused.append(Refused(index=index, reason=f"not a report: {exc}"[:MAX_REASON]))
            continue
        if schema != SCHEMA_VERSION:
            raise IncompatibleVersion(
                f"a report of schema {schema}; this server reads schema "
                f"{SCHEMA_VERSION}: {_advice(schema, SCHEMA_VERSION)}"
            )
        try:
            reports.append(_decode_report(raw, tolerant))
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            refused.append(Refused(index=index, reason=str(exc)[:MAX_REASON]))
    return reports, refused


class StreamCompressor:
    """Agent side of the per-connection zlib stream."""

    def __init__(self, level: int = 6):
        self._z = zlib.compressobj(level, zlib.DEFLATED, 15)

    def compress(self, data: bytes) -> bytes:
        return self._z.compress(data) + self._z.flush(zlib.Z_SYNC_FLUSH)


class StreamDecompressor:
    """Server side of the per-connection zlib stream, with a bound on the inflated size."""

    def __init__(self, limit: int = MAX_DECOMPRESSED_BYTES):
        self._z = zlib.decompressobj(15)
        self._limit = limit

    def decompress(self, data: bytes) -> bytes:
        try:
            out = self._z.decompress(data, self._limit + 1)
        except zlib.error as exc:
            raise WireError(f"bad compression: {exc}", 400) from None
        if len(out) > self._limit or self._z.unconsumed_tail:
            raise WireError("batch too large after decompression", 413)
        return out

    def start(self, data: bytes, first: int) -> tuple[bytes, bool]:
        """Inflate at most ``first`` bytes of one message: ``(output, more)``; with ``more``,
        :meth:`finish` returns the rest (the caller may run it in a worker thread)."""
        first = min(first, self._limit + 1)
        try:
            out = self._z.decompress(data, first)
        except zlib.error as exc:
            raise WireError(f"bad compression: {exc}", 400) from None
        if len(out) > self._limit:
            raise WireError("batch too large after decompression", 413)
        # Output cut at ``first``: zlib may hold more, in its unconsumed input or its window.
        return out, len(out) == first

    def finish(self, done: int) -> bytes:
        """The rest of the message :meth:`start` began (``done`` bytes inflated so far)."""
        try:
            out = self._z.decompress(self._z.unconsumed_tail, self._limit + 1 - done)
        except zlib.error as exc:
            raise WireError(f"bad compression: {exc}", 400) from None
        if done + len(out) > self._limit or self._z.unconsumed_tail:
            raise WireError("batch too large after decompression", 413)
        return out


def compress_body(data: bytes) -> bytes:
    """One-shot zlib body for HTTPS POST (``Content-Encoding: deflate`` is zlib,
    RFC 9110 §8.4.1.2)."""
    return zlib.compress(data, 6)


def decompress_body(data: bytes, limit: int = MAX_DECOMPRESSED_BYTES) -> bytes:
    return StreamDecompressor(limit).decompress(data)
