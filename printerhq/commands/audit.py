"""``printerhq audit``: summarise the agent's audit trail (docs/audit.md), or show one upload as
the server received it.

Reads ``<state_dir>/audit`` (``[site] audit = true`` or ``printerhq agent --audit`` writes it).
Exit codes: 0; 1 when the trail or the upload is not there; 2 for a bad option.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path
from typing import Any

import msgspec

from printerhq import delta, model, wire
from printerhq.agent.config import AgentSection
from printerhq.agent.durations import parse_duration
from printerhq.audit.log import kept_upload, read_events
from printerhq.audit.record import Upload, format_time, parse_time
from printerhq.audit.summary import render_table, summarise
from printerhq.cmdline.exits import FAILURE, OK
from printerhq.terminal import safe, safe_json

AUDIT_DIR = "audit"


def moment(text: str) -> float:
    """``24h``/``7d``/``90m`` (that long ago) or an ISO date/time (UTC unless it says)."""
    value = parse_time(text)
    if value is not None:
        return value
    try:
        return time.time() - float(parse_duration(text))
    except (ValueError, TypeError):
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a duration (24h, 7d) nor a date (2026-12-02, 2026-12-02T17:00)"
        ) from None


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "audit",
        help="summarise the agent's audit trail: devices touched, OIDs asked, bytes, uploads",
        description="Summarise what the agent sent over a period, from its audit trail "
        "(<state_dir>/audit, written with [site] audit = true or `printerhq agent --audit`): "
        "the devices it touched, the OIDs it asked grouped by MIB with their names, the bytes "
        "per protocol, and its uploads. Compare it with docs/security.md.",
        epilog="examples:\n"
        "  printerhq audit --since 24h\n"
        "  printerhq audit --since 2026-12-01 --until 2026-12-02 --format json\n"
        "  printerhq audit --show-upload 5f0c...",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path(AgentSection().state_dir),
        metavar="DIR",
        help="the agent's state directory (default: %(default)s)",
    )
    parser.add_argument("--since", type=moment, metavar="WHEN", help="24h, 7d, or a date/time")
    parser.add_argument("--until", type=moment, metavar="WHEN", help="24h, 7d, or a date/time")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument(
        "--show-upload",
        metavar="ID",
        help="print one upload as the server received it (one of the last uploads kept)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    directory = Path(args.state_dir) / AUDIT_DIR
    if args.show_upload is not None:
        return _show_upload(directory, args.show_upload)
    trail = read_events(directory)
    if not trail.files:
        print(
            f"printerhq audit: no audit trail in {safe(directory)} (turn it on with "
            "[site] audit = true or `printerhq agent --audit`)",
            file=sys.stderr,
        )
        return FAILURE
    summary = summarise(
        trail.events,
        args.since,
        args.until,
        unreadable=trail.unreadable,
        since_text=None if args.since is None else format_time(args.since),
        until_text=None if args.until is None else format_time(args.until),
    )
    if args.format == "json":
        print(safe_json(msgspec.to_builtins(summary), indent=2))
    else:
        sys.stdout.write(safe(render_table(summary), newlines=True))
    return OK


def decoded_upload(message: bytes) -> dict[str, Any]:
    """The message as the server decodes it (``printerhq.server.readings``): the envelope, every
    full report, and every delta as its base, result and patch."""
    kind = wire.decode_header(message).kind
    if kind == delta.KIND:
        sent = delta.decode_batch(message)
        reports, refused = wire.decode_reports(sent.reports, tolerant=True)
        return {
            "kind": kind,
            "batch_id": sent.batch_id,
            "agent": sent.agent,
            "wire": f"{sent.wire}.{sent.minor}",
            "reports": [model.to_builtins(r) for r in reports],
            "deltas": [
                {"base": d.base.hex(), "result": d.result.hex(), "patch": _plain(d.patch)}
                for d in sent.deltas
            ],
            "unreadable_reports": [msgspec.to_builtins(r) for r in refused],
        }
    batch, refused = wire.decode_batch_reports(message)
    return {
        "kind": kind,
        "batch_id": batch.batch_id,
        "agent": batch.agent,
        "wire": f"{batch.wire}.{batch.minor}",
        "reports": [model.to_builtins(r) for r in batch.reports],
        "unreadable_reports": [msgspec.to_builtins(r) for r in refused],
    }


def _plain(value: Any) -> Any:
    """A patch as JSON can hold it: map keys as text, bytes as hex."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return value


def _show_upload(directory: Path, upload_id: str) -> int:
    message = kept_upload(directory, upload_id)
    if message is None:
        print(
            f"printerhq audit: upload {safe(upload_id)!s} is not among the uploads kept in "
            f"{safe(directory / 'uploads')} (the last ones only)",
            file=sys.stderr,
        )
        return FAILURE
    digest = hashlib.sha256(message).hexdigest()
    logged = [
        e
        for e in read_events(directory).events
        if isinstance(e, Upload) and e.id == upload_id and e.kind == "batch"
    ]
    try:
        content: Any = decoded_upload(message)
    except (wire.WireError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        content = {"error": f"the kept message cannot be decoded: {exc}"}
    document = {
        "id": upload_id,
        "bytes": len(message),
        "sha256": digest,
        # The trail's line for this upload says the same, or the kept copy is not what was sent.
        "matches_trail": bool(logged) and logged[-1].sha256 == digest,
        "sent": [{"time": e.time, "via": e.via, "sent_bytes": e.sent} for e in logged],
        "message": content,
    }
    print(safe_json(document, indent=2))
    return OK
