"""The upload wire format shared by the uplink and the server.

A *batch* is the unit of acknowledgement: the agent seals spooled reports into a batch with a
random id, sends it, and deletes it only when the server acknowledges that id. The server stores a
batch at most once per ``(agent, batch_id)``, so a retry after a lost acknowledgement is harmless.

Frames are msgpack. On the WebSocket stream every binary message is one batch, compressed with a
zlib stream that lives as long as the connection (RFC 1950/1951, ``Z_SYNC_FLUSH`` after each
message, the same idea as permessage-deflate with context takeover, RFC 7692 §7.1.1): the second
report of a similar kind costs a fraction of the first. HTTPS POST bodies are compressed alone
(``Content-Encoding: deflate``). Acknowledgements travel uncompressed: they are a few bytes.
"""

from __future__ import annotations

import zlib

import msgspec

from printerhq.model import DeviceReport

WIRE_VERSION = 1
MAX_COMPRESSED_BYTES = 1 << 20  # one message/body on the wire
MAX_DECOMPRESSED_BYTES = 8 << 20  # a batch after inflation: bounds zip bombs
MAX_REPORTS_PER_BATCH = 500

_options = dict(forbid_unknown_fields=True, omit_defaults=True, kw_only=True)


class Batch(msgspec.Struct, **_options):
    """Reports sealed together under one id; the server decodes this with unknown fields forbidden."""

    batch_id: str
    agent: str
    reports: list[DeviceReport]
    wire: int = WIRE_VERSION


class RawBatch(msgspec.Struct, **_options):
    """What the agent encodes: the same msgpack as ``Batch``, reports already encoded in the spool."""

    batch_id: str
    agent: str
    reports: list[msgspec.Raw]
    wire: int = WIRE_VERSION


class Ack(msgspec.Struct, **_options):
    """The server's answer to one batch. ``duplicate`` means it was stored by an earlier attempt."""

    batch_id: str
    ok: bool = True
    duplicate: bool = False
    error: str | None = None


class WireError(ValueError):
    """A frame that is too large, not valid zlib/msgpack, or outside the schema."""

    def __init__(self, reason: str, status: int = 400):
        super().__init__(reason)
        self.reason = reason
        self.status = status


_batch_decoder = msgspec.msgpack.Decoder(Batch)
_ack_decoder = msgspec.msgpack.Decoder(Ack)
_encoder = msgspec.msgpack.Encoder()


def encode(value: msgspec.Struct) -> bytes:
    return _encoder.encode(value)


def decode_ack(data: bytes) -> Ack:
    return _ack_decoder.decode(data)


def validate_batch_shape(batch: Batch) -> None:
    if not (1 <= len(batch.batch_id) <= 64) or not batch.batch_id.isascii():
        raise WireError("batch_id must be 1-64 ASCII characters", 422)
    if len(batch.reports) > MAX_REPORTS_PER_BATCH:
        raise WireError(f"more than {MAX_REPORTS_PER_BATCH} reports in one batch", 413)
    if batch.wire != WIRE_VERSION:
        raise WireError(f"unsupported wire version {batch.wire}", 422)


def decode_batch(data: bytes) -> Batch:
    """Decode and validate an inflated batch; raise ``WireError`` with an HTTP status."""
    if len(data) > MAX_DECOMPRESSED_BYTES:
        raise WireError("batch too large", 413)
    try:
        batch = _batch_decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise WireError(f"schema: {exc}", 422) from None
    except msgspec.DecodeError as exc:
        raise WireError(f"malformed msgpack: {exc}", 400) from None
    validate_batch_shape(batch)
    return batch


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


def compress_body(data: bytes) -> bytes:
    """One-shot zlib body for HTTPS POST (``Content-Encoding: deflate`` is zlib, RFC 9110 §8.4.1.2)."""
    return zlib.compress(data, 6)


def decompress_body(data: bytes, limit: int = MAX_DECOMPRESSED_BYTES) -> bytes:
    return StreamDecompressor(limit).decompress(data)
