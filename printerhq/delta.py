"""Delta readings: a report sent as what changed since a reading the server already holds.

Sans-IO, shared by the agent (which diffs) and the server (which applies). A warm reading of a
printer differs from the previous one in a few numbers (a counter, a level, ``scanned_at``), yet a
full report is 300-900 bytes of msgpack. So, once the server has acknowledged a reading, the
agent sends the next one of the same device as a :class:`Delta`:

* ``base``: the digest of the acknowledged reading (:func:`digest`, BLAKE2b-64 of the report's
  msgpack as :func:`printerhq.model.encode` writes it — the bytes the agent spooled and the bytes
  the server stores);
* ``patch``: :func:`diff` of the two readings as msgpack trees;
* ``result``: the digest of the new reading.

The server looks the base up among the readings it stored from that agent, applies the patch
(:func:`apply`), decodes the result as strictly as a full report and checks that it hashes to
``result``. A base it does not hold (another database, an old row, a reading it refused) or a
result that does not check out refuses the whole message with ``412 base_unknown`` before
anything is stored; the agent then forgets its bases and re-sends the same batch id with full
readings. So a delta never becomes a wrong row, and nothing is lost.

Patch format (a msgpack map, applied to a map or a list):

* map target — key -> ``[value]`` sets the key, ``[]`` removes it, a map patches the value there;
* list target — index -> ``[value]`` or a map, as above; the optional key ``"n"`` gives the new
  length (shorter: truncated; longer: every new index must be set by a ``[value]``).

Versioning (docs/wire.md): a message of kind ``delta_batch``, wire 1.1. The agent sends it only
to a server that named wire 1.1 or newer of its major on the handshake (an older server never
receives one); to any other it sends plain ``batch`` messages of full reports, as before.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

import msgspec

from printerhq import model, wire

KIND = "delta_batch"
DELTA_MINOR = 1  # the first wire minor whose servers read KIND
DIGEST_BYTES = 8
MAX_DEPTH = 16  # a report is 5 levels deep; a deeper patch is refused, not recursed into
BASE_UNKNOWN = "base_unknown"  # the error code of a refused delta (HTTP 412)

_options = dict(forbid_unknown_fields=True, omit_defaults=True, kw_only=True)
_Digest = Annotated[bytes, msgspec.Meta(min_length=DIGEST_BYTES, max_length=DIGEST_BYTES)]
_LENGTH_KEY = "n"


class DeltaError(ValueError):
    """A patch that does not fit its base (wrong shape, index out of range, too deep)."""


def digest(report: bytes) -> bytes:
    """The name of a reading: BLAKE2b-64 of its canonical msgpack bytes (:func:`canonical`)."""
    return hashlib.blake2b(report, digest_size=DIGEST_BYTES).digest()


def canonical(report: bytes) -> bytes:
    """A report's bytes as the server stores them: decoded and re-encoded by the model, so both
    sides hash the same bytes whatever wrote them first (a default written out, an older
    agent's spool)."""
    return model.encode(_report_decoder.decode(report))


# -- diff and apply over msgpack trees -------------------------------------------------------------
def _same(a: Any, b: Any) -> bool:
    """Equal as msgpack: same type and value (``1``, ``1.0`` and ``True`` differ; so do ``0.0``
    and ``-0.0``; NaN equals NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict | list):
        return diff(a, b) is None
    if isinstance(a, float):
        return msgspec.msgpack.encode(a) == msgspec.msgpack.encode(b)
    return bool(a == b)


def _size(value: Any) -> int:
    return len(msgspec.msgpack.encode(value))


def _op(old: Any, new: Any) -> Any:
    """The operation that turns ``old`` into ``new`` (None: unchanged)."""
    if type(old) is type(new) and isinstance(old, dict | list):
        patch = diff(old, new)
        if patch is None:
            return None
        # A patch as large as the value itself buys nothing: send the value.
        return patch if _size(patch) < _size(new) + 1 else [new]
    return None if _same(old, new) else [new]


def diff(base: Any, new: Any) -> dict[Any, Any] | None:
    """The patch from ``base`` to ``new`` (both maps or both lists), ``None`` when equal."""
    patch: dict[Any, Any] = {}
    if isinstance(base, dict) and isinstance(new, dict):
        for key, value in new.items():
            if key in base:
                op = _op(base[key], value)
                if op is not None:
                    patch[key] = op
            else:
                patch[key] = [value]
        for key in base:
            if key not in new:
                patch[key] = []
    elif isinstance(base, list) and isinstance(new, list):
        for index, value in enumerate(new):
            if index < len(base):
                op = _op(base[index], value)
                if op is not None:
                    patch[index] = op
            else:
                patch[index] = [value]
        if len(new) != len(base):
            patch[_LENGTH_KEY] = len(new)
    else:
        raise TypeError("diff needs two maps or two lists")
    return patch or None


def apply(base: Any, patch: Any, depth: int = 0) -> Any:
    """``base`` with ``patch`` applied (a new tree; ``base`` is not changed). ``DeltaError``
    when the patch does not fit."""
    if depth > MAX_DEPTH:
        raise DeltaError("patch nested too deep")
    if not isinstance(patch, dict):
        raise DeltaError("a patch must be a map")
    if isinstance(base, dict):
        out = dict(base)
        for key, op in patch.items():
            if isinstance(op, list):
                if len(op) == 1:
                    out[key] = op[0]
                elif not op and key in out:
                    del out[key]
                else:
                    raise DeltaError(f"bad operation for key {key!r}")
            elif key in out and isinstance(out[key], dict | list):
                out[key] = apply(out[key], op, depth + 1)
            else:
                raise DeltaError(f"patch of key {key!r}, which holds no map or list")
        return out
    if isinstance(base, list):
        items: list[Any] = list(base)
        length = patch.get(_LENGTH_KEY, len(base))
        if type(length) is not int or not 0 <= length <= len(base) + len(patch):
            raise DeltaError("bad list length")
        unset = object()
        del items[length:]
        items.extend([unset] * (length - len(items)))
        for index, op in patch.items():
            if index == _LENGTH_KEY:
                continue
            if type(index) is not int or not 0 <= index < length:
                raise DeltaError(f"list index {index!r} out of range")
            if isinstance(op, list) and len(op) == 1:
                items[index] = op[0]
            elif (
                isinstance(op, dict) and index < len(base) and isinstance(items[index], dict | list)
            ):
                items[index] = apply(items[index], op, depth + 1)
            else:
                raise DeltaError(f"bad operation for index {index}")
        if any(item is unset for item in items):
            raise DeltaError("a list grew without its new items")
        return items
    raise DeltaError("a patch applies to a map or a list")


# -- the wire message ------------------------------------------------------------------------------
class Delta(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    """One reading as a patch of an acknowledged one (array-like: three values, no field names)."""

    base: _Digest
    result: _Digest
    patch: dict[Any, Any]


class DeltaBatch(msgspec.Struct, tag_field="kind", tag=KIND, **_options):
    """Kind ``delta_batch``: a batch (one id, acknowledged as a whole) of full reports and
    deltas. The server rebuilds every delta into a full report before it stores anything.

    The full reports stay raw here: each is decoded on its own (``wire.decode_reports``), so one
    report outside the model's bounds is refused alone, by its position in the message (the full
    reports first, then the deltas), never the whole batch."""

    batch_id: str
    agent: str
    wire: int
    minor: int
    reports: list[msgspec.Raw] = []
    deltas: list[Delta] = []


_decoder = msgspec.msgpack.Decoder(DeltaBatch)
_report_decoder = msgspec.msgpack.Decoder(model.DeviceReport)


def decode_batch(data: bytes) -> DeltaBatch:
    """Decode an inflated ``delta_batch`` message strictly (``WireError`` with a status)."""
    wire.checked_header(data, KIND)
    try:
        batch = _decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise wire.WireError(f"schema: {exc}", 422) from None
    except msgspec.DecodeError as exc:
        raise wire.WireError(f"malformed msgpack: {exc}", 400) from None
    if len(batch.reports) + len(batch.deltas) > wire.MAX_REPORTS_PER_BATCH:
        raise wire.WireError(f"more than {wire.MAX_REPORTS_PER_BATCH} reports in one batch", 413)
    return batch


def base_unknown(reason: str) -> wire.WireError:
    return wire.WireError(f"{BASE_UNKNOWN}: {reason}", 412)


def rebuild(base: bytes, delta: Delta) -> model.DeviceReport:
    """The full report ``delta`` stands for, from the stored ``base`` bytes; decoded as strictly
    as a full report and checked against ``delta.result``. ``WireError`` 412 when it does not
    check out (a wrong base or a broken patch), 422 when the result is no valid report."""
    if digest(base) != delta.base:
        raise base_unknown("the stored base does not match its digest")
    try:
        tree = apply(msgspec.msgpack.decode(base), delta.patch)
        report = _report_decoder.decode(msgspec.msgpack.encode(tree))
    except DeltaError as exc:
        raise base_unknown(str(exc)) from None
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise wire.WireError(f"schema: a rebuilt report: {exc}", 422) from None
    if digest(model.encode(report)) != delta.result:
        raise base_unknown("the rebuilt report does not match its digest")
    return report


# -- the agent's side: which readings the server holds ---------------------------------------------
class Bases:
    """The agent's memory of the last acknowledged reading per device (by address), and the
    encoding of batches against it. Sans-IO: the uplink calls :meth:`encode`, then
    :meth:`acknowledged` or :meth:`forget`.

    Every ``full_every`` deltas a device gets a full reading again (bounds what a bug could
    cost). The memory lives in the process: a restarted agent starts with full readings.
    """

    def __init__(self, full_every: int = 96, max_devices: int = 100_000):
        self.full_every = full_every
        self.max_devices = max_devices
        # address -> the acknowledged reading: (digest, canonical bytes, scanned_at, deltas sent
        # since the last full reading). Bytes, not trees: a few hundred bytes per printer.
        self._bases: dict[str, tuple[bytes, bytes, float, int]] = {}
        self._sent: dict[str, list[tuple[int, str, tuple[bytes, bytes, float, int]]]] = {}
        self._with_deltas: dict[str, int] = {}  # batch id -> deltas in it, until answered
        # batch id -> the spool position of each report in message order (full reports first,
        # then deltas): the server names a refused report by its position in the message.
        self._order: dict[str, list[int]] = {}
        self.deltas = 0
        self.full = 0

    def split(
        self, batch_id: str, reports: list[bytes], deltas_allowed: bool = True
    ) -> tuple[list[bytes], list[Delta]]:
        """``reports`` (spooled ``model.encode`` bytes) as the full readings (canonical bytes)
        and the deltas to send; remembered under ``batch_id`` until it is answered. With
        ``deltas_allowed=False`` (a server that reads no deltas) all are full, and still
        remembered: they are bases once acknowledged."""
        full: list[bytes] = []
        deltas: list[Delta] = []
        full_at: list[int] = []  # spool position of each full report
        delta_at: list[int] = []  # ... and of each delta
        sent: list[tuple[int, str, tuple[bytes, bytes, float, int]]] = []
        for position, spooled in enumerate(reports):
            try:
                data = canonical(spooled)
            except (msgspec.DecodeError, msgspec.ValidationError):
                # Not a report of this model: sent as it is, for the server to refuse (and
                # the uplink to quarantine); never a base.
                full.append(spooled)
                full_at.append(position)
                continue
            tree = msgspec.msgpack.decode(data)
            address = _address(tree)
            name = digest(data)
            base = self._bases.get(address) if address is not None and deltas_allowed else None
            patch = None
            if base is not None and base[3] < self.full_every:
                patch = diff(msgspec.msgpack.decode(base[1]), tree) or {}
                if _size(patch) + 2 * DIGEST_BYTES >= len(data):
                    patch = None  # nothing saved: the whole reading is as small
            if patch is not None and base is not None:
                deltas.append(Delta(base=base[0], result=name, patch=patch))
                delta_at.append(position)
                count = base[3] + 1
            else:
                full.append(data)
                full_at.append(position)
                count = 0
            if address is not None:
                sent.append((position, address, (name, data, _scanned_at(tree), count)))
        self._sent[batch_id] = sent
        self._order[batch_id] = full_at + delta_at
        if deltas:
            self._with_deltas[batch_id] = len(deltas)
        else:
            self._with_deltas.pop(batch_id, None)
        self.deltas += len(deltas)
        self.full += len(full)
        return full, deltas

    def encode(self, batch_id: str, agent: str, reports: list[bytes], minor: int) -> bytes:
        """A ``delta_batch`` message of ``reports`` (spooled ``model.encode`` bytes)."""
        full, deltas = self.split(batch_id, reports)
        return wire.encode(
            DeltaBatch(
                batch_id=batch_id,
                agent=agent,
                wire=wire.WIRE_VERSION,
                minor=minor,
                reports=[msgspec.Raw(r) for r in full],
                deltas=deltas,
            )
        )

    def had_deltas(self, batch_id: str) -> bool:
        """Did ``batch_id``, as last encoded, carry deltas?"""
        return batch_id in self._with_deltas

    def spool_positions(self, batch_id: str, positions: list[int]) -> list[int]:
        """The spool positions of the reports at ``positions`` of ``batch_id`` as last encoded
        (a refusal names a report by its place in the message; a position the message never
        had is left as it is, for the spool to ignore)."""
        order = self._order.get(batch_id)
        if order is None:
            return list(positions)
        return [order[p] if 0 <= p < len(order) else p for p in positions]

    def acknowledged(self, batch_id: str, refused: frozenset[int] = frozenset()) -> None:
        """The server stored ``batch_id``: its readings are the new bases, except those at the
        spool positions in ``refused`` (the server did not store them: no base)."""
        self._with_deltas.pop(batch_id, None)
        self._order.pop(batch_id, None)
        for position, address, reading in self._sent.pop(batch_id, []):
            if position in refused:
                continue
            previous = self._bases.pop(address, None)
            if previous is not None and previous[2] > reading[2]:
                self._bases[address] = previous  # an older reading acknowledged late
                continue
            self._bases[address] = reading
            while len(self._bases) > self.max_devices:
                self._bases.pop(next(iter(self._bases)))

    def dropped(self, batch_id: str) -> None:
        """``batch_id`` was not stored (refused): nothing changes."""
        self._sent.pop(batch_id, None)
        self._order.pop(batch_id, None)
        self._with_deltas.pop(batch_id, None)

    def forget(self) -> None:
        """The server lacks a base: every device gets a full reading next."""
        self._bases.clear()

    def __len__(self) -> int:
        return len(self._bases)


def _address(tree: Any) -> str | None:
    identity = tree.get("identity") if isinstance(tree, dict) else None
    address = identity.get("address") if isinstance(identity, dict) else None
    return address if isinstance(address, str) else None


def _scanned_at(tree: Any) -> float:
    value = tree.get("scanned_at", 0.0) if isinstance(tree, dict) else 0.0
    return float(value) if isinstance(value, int | float) else 0.0
