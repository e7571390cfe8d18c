"""What an upload message holds, as full reports: a plain ``batch``, or a ``delta_batch`` whose
deltas are rebuilt against the readings this server stored (printerhq.delta, docs/wire.md).

Everything is resolved before anything is stored: one delta whose base this server does not
hold (or whose result does not check out) refuses the whole message with ``412 base_unknown``,
and the agent sends the same batch id again with full readings. A rebuilt report is stored
exactly as if it had come whole.
"""

from __future__ import annotations

from printerhq import delta, wire
from printerhq.server.store import Agent, Store


async def decode_readings(
    store: Store, agent: Agent, data: bytes
) -> tuple[wire.Batch, list[wire.Refused]]:
    """Decode and validate an inflated upload message: ``(the batch of valid reports, the
    refusals)``, a refusal naming a report by its position in the message (a delta batch: its
    full reports first, then its deltas). ``WireError`` with an HTTP status when the message as
    a whole cannot be read."""
    if wire.decode_header(data).kind != delta.KIND:
        return wire.decode_batch_reports(data)
    sent = delta.decode_batch(data)
    reports, refused = wire.decode_reports(sent.reports, tolerant=sent.minor > wire.WIRE_MINOR)
    bases = await store.reading_bases(agent, {d.base for d in sent.deltas})
    for number, item in enumerate(sent.deltas):
        base = bases.get(item.base)
        if base is None:
            raise delta.base_unknown(
                f"deltas[{number}]: no reading {item.base.hex()} of this agent is stored here"
            )
        try:
            reports.append(delta.rebuild(base, item))
        except wire.WireError as exc:
            if exc.status != 422:
                raise  # 412: a wrong base; the agent sends the batch again in full
            # A patch that rebuilds a report outside the bounds: that report alone.
            reason = str(exc)[: wire.MAX_REASON]
            refused.append(wire.Refused(index=len(sent.reports) + number, reason=reason))
    batch = wire.Batch(
        batch_id=sent.batch_id,
        agent=sent.agent,
        reports=reports,
        wire=sent.wire,
        minor=sent.minor,
    )
    wire.validate_batch_shape(batch)
    return batch, refused
