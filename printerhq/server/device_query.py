"""The fleet's list parameters (``GET /api/v1/devices``, the fleet page): parsed and bounded
once, from untrusted query strings, into a :class:`DeviceQuery` (sans-IO).

``limit`` (1..500), ``offset`` (0..10,000,000), ``q`` (search in serial, model, address and
sys name; at most 64 characters), ``sort`` (one of :data:`SORTS`, ``-`` in front for
descending), ``site``, ``vendor``, ``status`` (one of :data:`STATUSES`), ``include=latest``
(each row carries its latest report). Anything else is a :class:`QueryError` with a reason
meant for the person who typed the URL (an API answers it with 400).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

__all__ = [
    "DeviceQuery",
    "QueryError",
    "parse",
    "SORTS",
    "STATUSES",
    "MAX_LIMIT",
    "DEFAULT_LIMIT",
    "PARAMETERS",
]

MAX_LIMIT = 500
DEFAULT_LIMIT = 100
MAX_OFFSET = 10_000_000
MAX_SEARCH = 64
MAX_NAME = 128  # site and vendor names
SORTS = ("urgency", "id", "name", "address", "model", "serial", "last_seen", "lowest", "runs_out")
STATUSES = ("error", "runs_out", "unseen", "ok")
PARAMETERS = ("limit", "offset", "q", "sort", "site", "vendor", "status", "include")


class QueryError(ValueError):
    """A parameter out of its bounds; the message says which and what is allowed."""


@dataclass(frozen=True, slots=True)
class DeviceQuery:
    limit: int | None = DEFAULT_LIMIT  # None: every device (the API without parameters)
    offset: int = 0
    q: str = ""
    sort: str = "urgency"
    descending: bool = False
    site: str = ""
    vendor: str = ""
    status: str = ""
    include_latest: bool = False

    def params(self, **changes: object) -> dict[str, str]:
        """The query string of this view (with ``changes``), defaults left out: for links."""
        view = replace(self, **changes)  # type: ignore[arg-type]
        out: dict[str, str] = {}
        if view.q:
            out["q"] = view.q
        for name in ("site", "vendor", "status"):
            if getattr(view, name):
                out[name] = getattr(view, name)
        if view.sort != "urgency" or view.descending:
            out["sort"] = ("-" if view.descending else "") + view.sort
        if view.limit is not None and view.limit != DEFAULT_LIMIT:
            out["limit"] = str(view.limit)
        if view.offset:
            out["offset"] = str(view.offset)
        if view.include_latest:
            out["include"] = "latest"
        return out


def _integer(params: Mapping[str, str], name: str, low: int, high: int, default: int) -> int:
    text = params.get(name)
    if text is None or text == "":
        return default
    if not (text.isascii() and text.isdigit()) or len(text) > 12:
        raise QueryError(f"{name} must be a whole number from {low} to {high}")
    value = int(text)
    if not low <= value <= high:
        raise QueryError(f"{name} must be a whole number from {low} to {high}")
    return value


def _text(params: Mapping[str, str], name: str, most: int) -> str:
    text = (params.get(name) or "").strip()
    if len(text) > most:
        raise QueryError(f"{name} is longer than {most} characters")
    if not text.isprintable():
        raise QueryError(f"{name} must be printable text")
    return text


def parse(params: Mapping[str, str], *, everything_by_default: bool = False) -> DeviceQuery:
    """Parse a query string. ``everything_by_default``: with no parameter at all the answer is
    every device in id order (what ``GET /api/v1/devices`` answered before it had pages)."""
    unknown = sorted(set(params) - set(PARAMETERS))
    if unknown:
        raise QueryError(f"unknown parameter {unknown[0][:32]!r}; known: {', '.join(PARAMETERS)}")
    if everything_by_default and not any(params.get(name) for name in PARAMETERS):
        return DeviceQuery(limit=None, sort="id")
    sort_text = _text(params, "sort", 16) or "urgency"
    descending = sort_text.startswith("-")
    sort = sort_text[1:] if descending else sort_text
    if sort not in SORTS:
        raise QueryError(f"sort must be one of {', '.join(SORTS)} (- in front: descending)")
    status = _text(params, "status", 16)
    if status and status not in STATUSES:
        raise QueryError(f"status must be one of {', '.join(STATUSES)}")
    include = _text(params, "include", 16)
    if include not in ("", "latest"):
        raise QueryError("include must be 'latest'")
    return DeviceQuery(
        limit=_integer(params, "limit", 1, MAX_LIMIT, DEFAULT_LIMIT),
        offset=_integer(params, "offset", 0, MAX_OFFSET, 0),
        q=_text(params, "q", MAX_SEARCH),
        sort=sort,
        descending=descending,
        site=_text(params, "site", MAX_NAME),
        vendor=_text(params, "vendor", MAX_NAME),
        status=status,
        include_latest=include == "latest",
    )
