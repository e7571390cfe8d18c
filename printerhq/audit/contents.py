"""What an upload message carried, at field level: which devices, which fields, which counters —
never a value (an address names the device; a serial number, a location, a level stay out).

Sans-IO. Reads the message the uplink sends (``printerhq.wire`` ``batch``, or
``printerhq.delta`` ``delta_batch``) as plain msgpack: the audit describes what was sent, even a
report the model would refuse. A delta carries only the paths it changes, and names its device
by the digest of the reading it patches (``base``), which an earlier upload's full report
carries as its ``reading``.
"""

from __future__ import annotations

__all__ = ["describe"]

from typing import Any

import msgspec

from .. import delta
from .record import DeviceContent

_MAX_PATHS = 512  # per report: a report has ~60; more is a report gone wrong, cut
_MAX_DEPTH = 8


class _Envelope(msgspec.Struct):
    # Reports raw: a reading's digest is over its bytes as sent (printerhq.delta.digest).
    reports: list[msgspec.Raw] = []
    deltas: list[Any] = []


_envelope = msgspec.msgpack.Decoder(_Envelope)


def describe(message: bytes) -> tuple[list[DeviceContent], str | None]:
    """(one entry per report, in message order; a note when the message could not be read)."""
    try:
        envelope = _envelope.decode(message)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        return [], f"not an upload message: {exc}"
    found: list[DeviceContent] = []
    for raw in envelope.reports:
        found.append(_full(bytes(raw)))
    for item in envelope.deltas:
        found.append(_delta(item))
    return found, None


def _full(data: bytes) -> DeviceContent:
    try:
        report = msgspec.msgpack.decode(data)
    except msgspec.DecodeError:
        return DeviceContent(fields=["<not msgpack>"])
    reading = delta.digest(data).hex()
    if not isinstance(report, dict):
        return DeviceContent(reading=reading, fields=["<not a map>"])
    identity = report.get("identity")
    address = identity.get("address") if isinstance(identity, dict) else None
    counters = report.get("counters")
    supplies = report.get("supplies")
    return DeviceContent(
        device=address if isinstance(address, str) else None,
        reading=reading,
        fields=_paths(report),
        counters=sorted(
            {c["name"] for c in counters if isinstance(c, dict) and isinstance(c.get("name"), str)}
        )
        if isinstance(counters, list)
        else [],
        supplies=len(supplies) if isinstance(supplies, list) else 0,
    )


def _delta(item: Any) -> DeviceContent:
    if not (isinstance(item, list) and len(item) == 3 and isinstance(item[2], dict)):
        return DeviceContent(fields=["<not a delta>"])
    base = item[0].hex() if isinstance(item[0], bytes) else None
    return DeviceContent(base=base, fields=_paths(item[2], patch=True))


def _paths(tree: dict[Any, Any], patch: bool = False) -> list[str]:
    """Sorted leaf paths: ``identity.serial``, ``supplies[].level``. In a patch an int key is a
    list position and ``n`` a new length; a ``[value]`` op is a leaf (its value left out)."""
    paths: set[str] = set()

    def walk(value: Any, prefix: str, depth: int) -> None:
        if len(paths) >= _MAX_PATHS:
            return
        if depth > _MAX_DEPTH:
            paths.add(prefix + "…")
            return
        if isinstance(value, dict):
            if not value:
                paths.add(prefix or "<empty>")
            for key, child in value.items():
                if patch and key == "n" and isinstance(child, int):
                    paths.add(f"{prefix}[]#length" if prefix else "#length")
                    continue
                if isinstance(key, int):
                    walk(child, f"{prefix}[]", depth + 1)
                else:
                    walk(child, f"{prefix}.{key}" if prefix else str(key), depth + 1)
        elif isinstance(value, list) and not patch:
            for child in value:
                walk(child, f"{prefix}[]", depth + 1)
            if not value:
                paths.add(prefix)
        else:
            paths.add(prefix)

    walk(tree, "", 0)
    return sorted(paths)
