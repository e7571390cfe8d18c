"""``printerhq scan TARGETS``: discover SNMP agents, identify printers, show their metrics."""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import trio

from ..autotargets import (
    WIDEST_PREFIX,
    AutoTargetsError,
    chosen_subnets,
    describe,
    expand_auto,
    has_auto,
)
from ..cmdline import options
from ..cmdline.exits import FAILURE, REPORTS_WAITING, USAGE
from ..engine import DEFAULT_RATE, ScanOptions
from ..interfaces import auto_decisions
from ..model import DeviceReport, Identity
from ..scan.outcome import is_device
from ..snmp.message import Version
from ..snmp.v3credential import credentials_in_order
from ..targets import TargetError, TargetSpec, parse_targets, resolve
from ..terminal import safe
from .output import (
    STREAMED,
    ReportWriter,
    add_format_argument,
    chosen_format,
    json_array,
    scan_exit_code,
)
from .progress import Progress
from .scanning import scan
from .snmp_credentials import CredentialError, add_v3_arguments, v3_user_from_args
from .upload import add_upload_arguments, open_uplink, upload_settings

_VERSIONS = {"1": [Version.V1], "2c": [Version.V2C], "auto": [Version.V2C, Version.V1]}

# Bounds of the numeric options. Each re-send doubles the wait (SNMP leaves retransmission
# to the application; net-snmp's default is 1 s and 5 retries): 60 s and 10 retries are already
# a 34-hour wait for one silent host, far past any use, but finite.
MAX_TIMEOUT = 60.0
MAX_RETRIES = 10
MAX_CONCURRENCY = 65_536  # as the agent configuration's [[scan]] concurrency
MAX_RATE = 1_000_000.0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "scan",
        help="discover and read printers",
        description="Discover SNMP agents in TARGETS, tell printers from other devices, and show "
        "identity, supplies, counters, status and alerts of each printer.",
        epilog="examples:\n"
        "  printerhq scan 192.0.2.0/24\n"
        "  printerhq scan 127.77.0.1-127.77.0.40 --port 16100 --json\n"
        "  printerhq scan 10.0.0.0/22 '!10.0.2.0/24' --community public --community site\n"
        "  printerhq scan auto --list-targets   # the attached subnets it would scan, and why",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "targets",
        nargs="+",
        metavar="TARGET",
        help="addresses, ranges (10.0.0.1-254), CIDR, hostnames, @file, !exclusion, or auto "
        "(this machine's attached IPv4 subnets)",
    )
    parser.add_argument(
        "--list-targets",
        "--dry-run",
        dest="list_targets",
        action="store_true",
        help="print the targets (for auto: every interface, taken or skipped, and why) and "
        "exit without sending anything",
    )
    parser.add_argument(
        "--allow-wide",
        action="store_true",
        help=f"auto: also take subnets wider than a /{WIDEST_PREFIX}",
    )
    parser.add_argument(
        "--port", type=options.port(), default=161, help="SNMP UDP port (default 161)"
    )
    parser.add_argument(
        "--community",
        "-c",
        action="append",
        metavar="NAME",
        help="community to try, in order; repeatable (default: public)",
    )
    parser.add_argument(
        "--snmp-version",
        choices=sorted(_VERSIONS),
        default="auto",
        help="SNMP version: 1, 2c, or auto = v2c then v1 (default auto)",
    )
    add_v3_arguments(parser)
    parser.add_argument(
        "--timeout",
        type=options.number(0, MAX_TIMEOUT, low_open=True),
        default=1.0,
        metavar="S",
        help=f"seconds to wait for a reply, doubled at each re-send (default 1.0, at most "
        f"{MAX_TIMEOUT:g})",
    )
    parser.add_argument(
        "--retries",
        type=options.integer(0, MAX_RETRIES),
        default=1,
        help=f"re-sends after a timeout (default 1, at most {MAX_RETRIES})",
    )
    parser.add_argument(
        "--concurrency",
        type=options.integer(1, MAX_CONCURRENCY),
        default=None,
        help=f"hosts in progress at once (default: what --rate needs, rate x timeout x "
        f"tries for a single try; at most {MAX_CONCURRENCY:,})",
    )
    parser.add_argument(
        "--rate",
        type=options.number(0, MAX_RATE, low_open=True),
        default=DEFAULT_RATE,
        metavar="PPS",
        help=f"discovery packets per second, long-run average (default {DEFAULT_RATE:g})",
    )
    parser.add_argument(
        "--no-icmp",
        dest="icmp",
        action="store_false",
        help="do not ping alongside SNMP (hosts alive without SNMP go unseen)",
    )
    parser.add_argument(
        "--http",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="probe the web page of hosts that answer ping but not SNMP, to "
        "find printers with SNMP off (default: off)",
    )
    parser.add_argument(
        "--arp",
        choices=("auto", "on", "off"),
        default="auto",
        help="ARP-first discovery on attached subnets (auto: when permitted)",
    )
    parser.add_argument(
        "--state-dir",
        type=options.directory,
        metavar="DIR",
        help="remember responders and blank space here between scans; blank "
        "space is then probed less and less often (default: no memory)",
    )
    parser.add_argument(
        "--identify-only",
        action="store_true",
        help="discover and identify; do not read supplies and counters",
    )
    parser.add_argument(
        "--all", action="store_true", help="list every SNMP agent found, not only printers"
    )
    add_format_argument(parser)
    parser.add_argument(
        "--progress",
        choices=("auto", "on", "off"),
        default="auto",
        help="progress line on stderr (auto: when stderr is a terminal)",
    )
    add_upload_arguments(parser)
    parser.set_defaults(func=run)


def build_options(args: argparse.Namespace) -> ScanOptions:
    """Raises CredentialError for malformed SNMPv3 settings (the message holds no secret)."""
    user = v3_user_from_args(args)
    # With a v3 user, communities are tried only when asked for explicitly.
    communities = args.community or ([] if user else ["public"])
    credentials = credentials_in_order(user, communities, _VERSIONS[args.snmp_version])
    return ScanOptions(
        port=args.port,
        credentials=credentials,
        timeout=args.timeout,
        retries=args.retries,
        concurrency=args.concurrency,
        collect=not args.identify_only,
        rate=getattr(args, "rate", DEFAULT_RATE),
        icmp=getattr(args, "icmp", True),
        http=getattr(args, "http", False),
        arp={"auto": None, "on": True, "off": False}[getattr(args, "arp", "auto")],
        state_dir=getattr(args, "state_dir", None),
    )


# Python's cyclic GC is the largest single cost of a wide sweep: thousands of hosts in progress
# are thousands of live tasks and frames, and every gen-0 collection that escalates walks them
# all (benchmarks/bench_client.py measures the same for the client). The application, not the
# library, may tune it: freeze what import created, collect less often while scanning.
# Measured on a /16 of blanks: 17.1 -> 12.1 CPU seconds.
_SCAN_GC_THRESHOLD = (50_000, 20, 100)


@contextmanager
def _scan_gc() -> Iterator[None]:
    previous = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*_SCAN_GC_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*previous)
        gc.unfreeze()


def _targets(args: argparse.Namespace) -> list[str]:
    """The target tokens, ``auto`` replaced by the attached subnets; the choice, with every
    interface's reason, goes to stderr (stdout with --list-targets). Reads, never sends."""
    tokens: list[str] = list(args.targets)
    if not has_auto(tokens):
        return tokens
    decisions = auto_decisions(allow_wide=args.allow_wide)
    out = sys.stdout if args.list_targets else sys.stderr
    print("auto: this machine's interfaces (nothing sent):", file=out)
    for line in describe(decisions):
        print(f"  {safe(line)}", file=out)
    subnets = chosen_subnets(decisions)
    if not subnets:
        print("auto: no attached subnet chosen", file=out)
    return expand_auto(tokens, subnets)


def _list_targets(spec: TargetSpec) -> None:
    print(f"targets: {spec.count():,} addresses")
    for first, last in spec.ranges():
        print(f"  {first}" if first == last else f"  {first} - {last}")
    for host in spec.hostnames:
        print(f"  {safe(host.name)} (a name, resolved when the scan starts)")


def run(args: argparse.Namespace) -> int:
    from ..render import render_scan

    try:
        spec = parse_targets(_targets(args))
    except (TargetError, AutoTargetsError) as error:
        print(f"printerhq scan: {error}", file=sys.stderr)
        return USAGE
    if args.list_targets:
        _list_targets(spec)
        return 0
    if spec.count() == 0 and not spec.unresolved:
        print(
            "printerhq scan: the targets name no address to scan (an empty file, or every "
            "address excluded)",
            file=sys.stderr,
        )
        return USAGE
    try:
        options = build_options(args)  # ScanOptions checks the numbers (ValueError)
        uploading = upload_settings(args)
        fmt = chosen_format(args)
    except (CredentialError, ValueError) as error:
        print(f"printerhq scan: {error}", file=sys.stderr)
        return USAGE
    wanted = _wanted(args.all)
    # ndjson and csv are written as each device finishes, not held to the end of the scan.
    writer = ReportWriter(fmt, sys.stdout) if fmt in STREAMED else None

    def write_streamed(report: DeviceReport) -> None:
        if writer is not None and wanted(report):
            writer.write(report)

    upload_outcome: list[tuple[int, str]] = []  # (exit code, what to tell the user)

    async def main() -> list[DeviceReport]:
        resolved, failures = await resolve(spec)
        for name, reason in failures:
            print(safe(f"printerhq scan: cannot resolve {name}: {reason}"), file=sys.stderr)
        if any(name.startswith("!") for name, _ in failures):
            raise SystemExit("printerhq scan: an exclusion did not resolve; refusing to scan")
        show = args.progress == "on" or (args.progress == "auto" and sys.stderr.isatty())
        progress = Progress(resolved.count(), sys.stderr) if show else None
        # A name that did not resolve is a device we could not reach: it gets a report.
        unresolved = [
            DeviceReport(
                identity=Identity(address=name),
                scanned_at=time.time(),
                errors=[f"dns: cannot resolve {name}: {reason}"],
            )
            for name, reason in failures
        ]
        for report in unresolved:
            write_streamed(report)
        if uploading is None:

            async def shown(report: DeviceReport) -> None:
                write_streamed(report)

            return unresolved + await scan(resolved, options, progress, shown)
        async with open_uplink(uploading) as uplink:

            async def upload(report: DeviceReport) -> None:
                # Shown or not, an address that only failed is never uploaded as a device.
                if wanted(report) and is_device(report):
                    # Durable in the spool before the scan counts the report done; on a full
                    # disk this waits (collection pauses) rather than dropping anything.
                    await uplink.submit(report, wait=True)
                write_streamed(report)

            async with uplink.holding():  # the run's reports leave as one batch at the end
                reports = unresolved + await scan(resolved, options, progress, upload)
            upload_outcome.append(await uploading.finish(uplink))
            return reports

    upload_errors: tuple[type[Exception], ...] = ()
    if uploading is not None:  # the uplink is imported only when an upload is asked for
        from ..uplink import UplinkError

        upload_errors = (UplinkError,)
    started = time.monotonic()
    try:
        with _scan_gc():
            reports = trio.run(main)  # Ctrl-C: printerhq.cli turns it into exit 130
    except upload_errors as error:
        print(safe(f"printerhq scan: upload: {error}"), file=sys.stderr)
        return USAGE
    shown = [r for r in reports if wanted(r)]
    if fmt == "json":
        sys.stdout.write(json_array(shown))
    elif fmt == "table":
        print(safe(render_scan(shown), newlines=True))
        printers = sum(r.identity.is_printer for r in reports)
        failed = sum(bool(r.errors) for r in reports)
        print(
            f"\n{len(reports)} agents answered, {printers} printers, "
            + (f"{failed} with errors, " if failed else "")
            + f"{time.monotonic() - started:.1f} s",
            file=sys.stderr,
        )
    for _, line in upload_outcome:
        print(safe(f"printerhq scan: {line}"), file=sys.stderr)
    # 1: a device failed, or the server refused the upload or reports; 3: reports are safe in
    # the spool but not yet on the server (UploadSettings.finish; output.scan_exit_code).
    codes = {code for code, _ in upload_outcome}
    if FAILURE in codes:
        return FAILURE
    return scan_exit_code(reports, reports_waiting=REPORTS_WAITING in codes)


def _wanted(everything: bool) -> Callable[[DeviceReport], bool]:
    """What is shown and uploaded: printers and devices with problems, or every agent."""
    if everything:
        return lambda report: True
    return lambda report: report.identity.is_printer or bool(report.errors)
