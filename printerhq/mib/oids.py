"""Object identifiers as tuples of ints, the form the codec uses
(:class:`~printerhq.snmp.message.Varbind`)."""

from __future__ import annotations

import functools

OID = tuple[int, ...]


def oid(dotted: str) -> OID:
    """``"1.3.6.1.2.1.1.1.0"`` (a leading dot is allowed) -> ``(1, 3, 6, 1, 2, 1, 1, 1, 0)``."""
    return tuple(int(part) for part in dotted.strip().lstrip(".").split("."))


@functools.lru_cache(maxsize=4096)  # row indexes and OIDs repeat report after report
def dotted(value: OID) -> str:
    return ".".join(map(str, value))


def is_under(value: OID, prefix: OID) -> bool:
    """True when ``value`` is ``prefix`` itself or lies in the subtree below it."""
    return value[: len(prefix)] == prefix
