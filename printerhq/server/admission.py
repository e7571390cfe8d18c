"""What the server admits into the database, beyond the schema: sans-IO checks and names.

The wire schema (``printerhq.model``, bounds from ``printerhq.limits``) refuses values no printer
sends; what it cannot know is the server's clock. A report scanned more than ``MAX_CLOCK_SKEW``
in the future would pin its device's "latest" reading until that time; one older than
``MAX_REPORT_AGE`` is a broken clock, not a long wait in a spool. Both are refused by index like
a schema refusal (docs/wire.md, "Refused reports").

Refusal reasons travel back to the agent in full (cut to ``wire.MAX_REASON``); Prometheus gets a
short, fixed label from :func:`reason_label` so a hostile agent cannot grow the label set.
"""

from __future__ import annotations

import math

from printerhq import limits, wire
from printerhq.model import DeviceReport

REASON_LABELS = (
    "too_long",  # a string or list longer than its bound
    "out_of_range",  # a number outside its bound (also NaN and infinities)
    "unknown_field",
    "scanned_in_future",
    "scanned_too_long_ago",
    "invalid",  # anything else the schema refused (wrong type, not a report)
)


def timestamp_problem(scanned_at: float, now: float) -> str | None:
    """Why ``scanned_at`` cannot be stored by a server whose clock reads ``now``, or ``None``."""
    if not math.isfinite(scanned_at):
        return "$.scanned_at: not a finite number"
    if scanned_at > now + limits.MAX_CLOCK_SKEW:
        return (
            f"$.scanned_at: {scanned_at:.0f} is {scanned_at - now:.0f} s ahead of the server's "
            f"clock (at most {limits.MAX_CLOCK_SKEW} s allowed): check the agent's clock"
        )
    if scanned_at < now - limits.MAX_REPORT_AGE:
        return (
            f"$.scanned_at: {scanned_at:.0f} is older than {limits.MAX_REPORT_AGE} s by the "
            "server's clock: check the agent's clock"
        )
    return None


def admit(
    batch: wire.Batch, refused: list[wire.Refused], now: float
) -> tuple[list[DeviceReport], list[wire.Refused]]:
    """The reports of ``batch`` (already schema-checked) that may be stored, and every refusal
    sorted by index; ``refused`` indexes count the reports as the agent sent them."""
    schema_refused = {r.index for r in refused}
    accepted: list[DeviceReport] = []
    out = list(refused)
    sent_indexes = (i for i in range(len(batch.reports) + len(refused)) if i not in schema_refused)
    for index, report in zip(sent_indexes, batch.reports, strict=False):
        problem = timestamp_problem(report.scanned_at, now)
        if problem is None:
            accepted.append(report)
        else:
            out.append(wire.Refused(index=index, reason=problem[: wire.MAX_REASON]))
    out.sort(key=lambda r: r.index)
    return accepted, out


def reason_label(reason: str) -> str:
    """The Prometheus label of a refusal reason (one of ``REASON_LABELS``)."""
    if "of length <=" in reason:
        return "too_long"
    if "ahead of the server's clock" in reason:
        return "scanned_in_future"
    if "by the server's clock" in reason:
        return "scanned_too_long_ago"
    if "unknown field" in reason:
        return "unknown_field"
    if ">=" in reason or "<=" in reason or "not a finite number" in reason:
        return "out_of_range"
    return "invalid"
