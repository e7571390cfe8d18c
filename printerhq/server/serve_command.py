"""``printerhq serve`` (also ``python -m printerhq.server serve``): run the central server
(ingest, REST API, dashboard, /healthz, /metrics).

Exit codes (``printerhq.cmdline.exits``): 0 after SIGTERM/SIGINT once listening (the normal way
to stop), 1 when it cannot start (port in use, a certificate that does not load, a database that
does not open), 2 for bad arguments, 130 for Ctrl-C before it was listening.
"""

from __future__ import annotations

import argparse
import errno
import gc
import ipaddress
import logging
import os
import signal
import ssl
import sys
from typing import TypeGuard

import trio

from printerhq.cmdline import options
from printerhq.cmdline.exits import OK, USAGE, CommandError, leaves
from printerhq.server.command_support import add_database_arguments, database_failure
from printerhq.terminal import SafeFormatter


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the central server",
        description="Run the central server: WebSocket and HTTPS ingest, REST API, /healthz, "
        "/metrics.",
    )
    add_database_arguments(parser, "directory for the SQLite database and generated keys")
    parser.add_argument(
        "--host",
        type=options.bind_host,
        default="127.0.0.1",
        help="IP address to listen on (default 127.0.0.1)",
    )
    parser.add_argument(
        "--port",
        type=options.port(allow_any=True),
        default=8443,
        help="port (0 picks a free one; default 8443)",
    )
    tls = parser.add_mutually_exclusive_group(required=True)
    tls.add_argument(
        "--cert",
        type=options.existing_file,
        metavar="FILE",
        help="PEM certificate chain (with --key)",
    )
    tls.add_argument(
        "--self-signed",
        action="store_true",
        help="generate an ECDSA P-256 certificate in --data-dir",
    )
    tls.add_argument(
        "--insecure-http",
        action="store_true",
        help="serve plain HTTP, for trials; only on a loopback --host (refused on any other)",
    )
    parser.add_argument(
        "--key", type=options.existing_file, metavar="FILE", help="PEM private key for --cert"
    )
    parser.add_argument(
        "--open-read",
        action="store_true",
        help="serve the fleet API, /metrics and the dashboard without a viewer token "
        "(the old behaviour; logs a warning)",
    )
    parser.add_argument(
        "--ready-file",
        type=options.new_file,
        metavar="FILE",
        help="write the server URL to this file once listening (for scripts)",
    )
    from printerhq.server import retention
    from printerhq.server.prune_command import keep_raw_days

    parser.add_argument(
        "--keep-raw-days",
        type=keep_raw_days,
        default=retention.DEFAULT_KEEP_RAW_DAYS,
        metavar="DAYS",
        help="keep readings as they came for DAYS days, then one per device per day (meter "
        f"reads stay exact; default {retention.DEFAULT_KEEP_RAW_DAYS}); applied every hour",
    )
    parser.add_argument(
        "--keep-all-readings",
        action="store_true",
        help="never thin old readings (the database grows without bound)",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.set_defaults(func=run)


def is_loopback(host: str) -> bool:
    return host == "localhost" or ipaddress.ip_address(host).is_loopback


def run(args: argparse.Namespace) -> int:
    if args.cert and not args.key:
        print("printerhq serve: --cert needs --key", file=sys.stderr)
        return USAGE
    if args.insecure_http and not is_loopback(args.host):
        # Plain HTTP carries tokens and reports in clear: a trial on this machine only. A TLS
        # proxy in front belongs on the same host and talks to 127.0.0.1.
        print(
            f"printerhq serve: --insecure-http listens on loopback only, not on {args.host} "
            "(use --cert/--key or --self-signed to serve the network)",
            file=sys.stderr,
        )
        return USAGE
    if args.cert:
        from printerhq.server.tls import server_ssl_context

        try:
            server_ssl_context(args.cert, args.key)
        except ssl.SSLError as exc:
            raise CommandError(
                f"cannot load --cert {args.cert} with --key {args.key}: "
                f"{exc.reason or exc} (both PEM, the key matching the certificate)"
            ) from None
    # SafeFormatter: agents' and devices' strings in a log line carry no terminal escapes.
    handler = logging.StreamHandler()
    handler.setFormatter(SafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, handlers=[handler])
    from printerhq.server.run import raise_open_file_limit

    raise_open_file_limit()
    try:
        trio.run(_serve, args)
    except Exception as exc:  # KeyboardInterrupt (BaseException) goes on to printerhq.cli
        raise _startup_failure(exc, args) from None
    return OK


def _startup_failure(exc: Exception, args: argparse.Namespace) -> BaseException:
    """A CommandError naming what could not start, or ``exc`` itself when it is a bug."""
    lines = []
    for leaf in leaves(exc):
        line = database_failure(leaf)
        if line is None and _is_bind_error(leaf):
            line = f"cannot listen on {args.host} port {args.port}: {leaf.strerror}"
        if line is None:
            return exc
        lines.append(line)
    return CommandError("; ".join(dict.fromkeys(lines)))


def _is_bind_error(exc: BaseException) -> TypeGuard[OSError]:
    """A socket's bind failure (a file's OSError carries its file name)."""
    binding = (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES)
    return isinstance(exc, OSError) and exc.errno in binding and exc.filename is None


async def _serve(args: argparse.Namespace) -> None:
    from printerhq.server.run import run_server

    async with run_server(
        args.data_dir,
        args.host,
        args.port,
        database=args.database,
        certfile=args.cert,
        keyfile=args.key,
        self_signed=args.self_signed,
        insecure_http=args.insecure_http,
        open_read=args.open_read,
        keep_raw_days=None if args.keep_all_readings else args.keep_raw_days,
    ) as server:
        # Listen for the stop signals before saying "listening": a script that reads the line
        # and at once sends SIGTERM gets a clean stop (exit 0), not death by the signal.
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            message = f"printerhq server listening on {server.url}"
            if server.fingerprint:
                message += f" (certificate sha256 {server.fingerprint})"
            print(message, flush=True)
            # What start-up built (modules, routes, the schema's types: ~100,000 objects) lives
            # as long as the process: out of the collector's sight, a full collection during a
            # burst of uploads no longer walks it.
            gc.freeze()
            if args.ready_file:
                with open(str(args.ready_file) + ".tmp", "w") as f:
                    f.write(server.url + "\n")
                os.replace(str(args.ready_file) + ".tmp", args.ready_file)
            async for _ in signals:
                print("printerhq server stopping", flush=True)
                break
