"""``printerhq server prune``: apply the history retention now (``printerhq.server.retention``).

Readings older than ``--keep-raw-days`` (default 90) are thinned to one per device per UTC day,
keeping each counter's first and last value of the day and a daily supply level. ``--dry-run``
prints what would go and changes nothing. The running server does the same on its own every
hour (``printerhq serve --keep-raw-days``); both can run at once (one holds the pass at a time).
"""

from __future__ import annotations

import argparse
import time

import trio

from printerhq.cmdline.exits import OK, CommandError
from printerhq.server import retention
from printerhq.server.command_support import (
    add_database_arguments,
    database_failure,
    existing_database,
)


def keep_raw_days(text: str) -> int:
    """0..36500 whole days (0: thin everything before today)."""
    try:
        days = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of days: {text!r}") from None
    if not 0 <= days <= retention.MAX_KEEP_RAW_DAYS:
        raise argparse.ArgumentTypeError(f"must be 0 to {retention.MAX_KEEP_RAW_DAYS} days")
    return days


def register(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = actions.add_parser(
        "prune",
        help="thin readings older than --keep-raw-days to one per device per day, now",
        description="Apply the history retention now: readings older than --keep-raw-days are "
        "thinned to one per device per UTC day, keeping each counter's first and last value "
        "of the day (meter reads stay exact) and a daily supply level.",
    )
    sub.add_argument(
        "--keep-raw-days",
        type=keep_raw_days,
        default=retention.DEFAULT_KEEP_RAW_DAYS,
        metavar="DAYS",
        help=f"days of readings kept as they came (default {retention.DEFAULT_KEEP_RAW_DAYS})",
    )
    sub.add_argument("--dry-run", action="store_true", help="count what would go; change nothing")
    sub.add_argument(
        "--full",
        action="store_true",
        help="from the oldest reading, not where the last pass stopped (late arrivals)",
    )
    add_database_arguments(sub, "the server's data directory (as given to serve)")
    sub.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    existing_database(args.data_dir, args.database)
    try:
        result = trio.run(_prune, args)
    except Exception as exc:
        line = database_failure(exc)
        if line is None:
            raise
        raise CommandError(line) from None
    cutoff = time.strftime("%Y-%m-%d", time.gmtime(result.cutoff))
    if result.skipped:
        print(f"nothing done: {result.skipped}")
        return OK
    verb = "would delete" if args.dry_run else "deleted"
    print(
        f"{verb} {result.readings} readings, {result.counter_rows} counter rows and "
        f"{result.supply_rows} supply rows from before {cutoff} (UTC); "
        f"{result.moved_rows} rows kept with their day's reading"
    )
    return OK


async def _prune(args: argparse.Namespace) -> retention.PruneResult:
    from printerhq.server.store import Store

    store = await Store.open(args.data_dir, args.database)
    try:
        return await store.prune(args.keep_raw_days, dry_run=args.dry_run, full=args.full)
    finally:
        await store.aclose()
