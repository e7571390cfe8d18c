"""``printerhq sim``: serve ``.snmprec`` recordings on many loopback addresses until Ctrl-C."""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import trio

from printerhq.cmdline import options
from printerhq.cmdline.exits import FAILURE, OK, USAGE, describe, leaves
from printerhq.sim.agent import LogEntry
from printerhq.sim.faults import FAULT_MODES
from printerhq.sim.recording import Recording, RecordingError
from printerhq.sim.server import check_loopback, serve_fleet
from printerhq.snmp.ber import format_oid
from printerhq.terminal import safe

# One socket per address: keep the fleet well inside what one process may open.
MAX_ADDRESSES = 16_384
MAX_DELAY = 60.0  # seconds of --latency or --jitter: beyond any client's timeout already


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "sim",
        help="simulate a printer fleet on loopback addresses",
        description="Serve snmpsim .snmprec recordings over SNMPv1/v2c, one UDP socket per "
        "loopback address, recordings assigned round-robin. Prints one ready line, "
        "then runs until Ctrl-C.",
    )
    parser.add_argument(
        "recordings",
        nargs="+",
        metavar="RECORDING",
        type=Path,
        help=".snmprec files (a directory means every .snmprec in it)",
    )
    parser.add_argument(
        "--addresses",
        required=True,
        metavar="RANGE",
        help="loopback addresses: 127.77.0.1-127.77.0.40, 127.77.0.0/26, ...",
    )
    parser.add_argument(
        "--port",
        type=options.port(allow_any=True),
        default=161,
        help="UDP port (default 161; 0 = any)",
    )
    parser.add_argument(
        "--community",
        action="append",
        metavar="C",
        help="accepted community (repeatable; default: public)",
    )
    parser.add_argument(
        "--v1-only",
        nargs="+",
        default=[],
        metavar="FILE",
        type=Path,
        help="recordings to serve to SNMPv1 requests only (give RECORDING... before this option)",
    )
    parser.add_argument(
        "--latency",
        type=options.number(0, MAX_DELAY),
        default=0.0,
        metavar="S",
        help=f"seconds before each reply (at most {MAX_DELAY:g})",
    )
    parser.add_argument(
        "--jitter",
        type=options.number(0, MAX_DELAY),
        default=0.0,
        metavar="S",
        help="extra uniform random delay 0..S per reply",
    )
    parser.add_argument(
        "--loss",
        type=options.number(0, 1),
        default=0.0,
        metavar="P",
        help="probability of dropping a request (0..1)",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="MODE[@ADDR]",
        help=f"fault mode for one address or all ({', '.join(sorted(FAULT_MODES))})",
    )
    parser.add_argument(
        "--seed",
        type=options.integer(0, 2**64 - 1),
        default=0,
        help="random seed for loss/faults",
    )
    parser.add_argument(
        "--max-size",
        type=options.integer(1, 65507),
        default=None,
        metavar="BYTES",
        help="response size limit (default 65507)",
    )
    parser.add_argument(
        "--allow-non-loopback-in-netns",
        action="store_true",
        help="accept non-loopback addresses, but only when running inside a "
        "named network namespace (ip netns exec; the namespace test lab)",
    )
    parser.add_argument(
        "--log",
        type=options.new_file,
        metavar="FILE",
        help="append every request as a JSON line (address, pdu, oids)",
    )
    parser.set_defaults(func=run)


def parse_addresses(text: str, *, allow_netns: bool = False) -> list[str]:
    """Loopback addresses from a range/CIDR/list; refuses anything that is not loopback."""
    from printerhq.targets import parse_targets

    spec = parse_targets(text, allow_files=False)
    if spec.unresolved:
        raise ValueError("hostnames are not accepted for the simulator; give loopback addresses")
    count = spec.count()
    if count == 0:
        raise ValueError(f"no addresses in {text!r}")
    if count > MAX_ADDRESSES:
        raise ValueError(f"{count} addresses is more than the simulator serves ({MAX_ADDRESSES})")
    return [check_loopback(str(address), allow_netns=allow_netns) for address in spec.addresses()]


def parse_faults(items: list[str]) -> dict[str, str]:
    faults: dict[str, str] = {}
    for item in items:
        mode, _, address = item.partition("@")
        if mode not in FAULT_MODES:
            raise ValueError(
                f"unknown fault mode {mode!r}; choose from {', '.join(sorted(FAULT_MODES))}"
            )
        faults[address or "*"] = mode
    return faults


def expand_recordings(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.glob("*.snmprec")) if path.is_dir() else [path])
    return files


def _raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = needed + 64
    if soft != resource.RLIM_INFINITY and soft < want:
        target = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        if target < want:
            raise ValueError(
                f"{needed} addresses need {want} file descriptors; the limit is {hard}"
            )


def run(args: argparse.Namespace) -> int:
    try:
        allow_netns = args.allow_non_loopback_in_netns
        addresses = parse_addresses(args.addresses, allow_netns=allow_netns)
        faults = parse_faults(args.fault)
        files = expand_recordings(args.recordings)
        if not files:
            raise ValueError("no .snmprec files given")
        v1_only = {p.resolve() for p in args.v1_only}
        recordings = []
        for path in files:
            recording = Recording.load(path, strict=False)
            for problem in recording.problems:
                print(safe(f"sim: warning: {problem}"), file=sys.stderr)
            if path.resolve() in v1_only:
                recording.versions = frozenset((0,))
            recordings.append(recording)
        _raise_fd_limit(len(addresses))
    except (ValueError, OSError, RecordingError) as exc:
        print(safe(f"sim: error: {exc}"), file=sys.stderr)
        return USAGE
    communities = [c.encode() for c in (args.community or ["public"])]
    log_file = open(args.log, "a", encoding="utf-8", buffering=1) if args.log else None  # noqa: SIM115

    def write_log(entry: LogEntry) -> None:
        assert log_file is not None
        log_file.write(
            json.dumps(
                {
                    "time": round(time.time(), 3),
                    "address": entry.address,
                    "pdu": entry.pdu_type.name,
                    "oids": [format_oid(o) for o in entry.oids],
                }
            )
            + "\n"
        )

    async def main() -> None:
        async with serve_fleet(
            recordings,
            addresses,
            args.port,
            communities=communities,
            latency=args.latency,
            jitter=args.jitter,
            loss=args.loss,
            faults=faults,
            seed=args.seed,
            max_size=args.max_size,
            log_sink=write_log if log_file else None,
            allow_netns=allow_netns,
        ) as fleet:
            print(
                f"sim: serving {len(recordings)} recordings on {len(addresses)} addresses, "
                f"udp port {fleet.port}",
                flush=True,
            )
            try:
                await trio.sleep_forever()
            finally:
                stats = ", ".join(f"{k} {v}" for k, v in sorted(fleet.stats.items()))
                print(f"sim: stopped ({stats or 'no requests'})", file=sys.stderr)

    try:
        trio.run(main)
    except BaseException as exc:  # sorted out below
        return _exit_status(exc)
    finally:
        if log_file:
            log_file.close()
    return OK


def _exit_status(exc: BaseException) -> int:
    """Ctrl-C is the normal way to stop (0); a refused address or setting is a usage error (2),
    a socket that cannot be bound a failure (1); anything else raises (a bug)."""
    found = list(leaves(exc))
    if all(isinstance(leaf, KeyboardInterrupt) for leaf in found):
        return OK
    if not all(isinstance(leaf, (KeyboardInterrupt, ValueError, OSError)) for leaf in found):
        raise exc
    for leaf in found:
        if not isinstance(leaf, KeyboardInterrupt):
            print(safe(f"sim: error: {describe(leaf) or leaf}"), file=sys.stderr)
    return FAILURE if any(isinstance(leaf, OSError) for leaf in found) else USAGE
