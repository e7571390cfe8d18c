"""``printerhq serve`` (also ``python -m printerhq.server serve``): run the central server
(ingest, REST API, dashboard, /healthz, /metrics)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

import trio

from printerhq.terminal import SafeFormatter


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the central server",
        description="Run the central server: WebSocket and HTTPS ingest, REST API, /healthz, "
        "/metrics.",
    )
    parser.add_argument(
        "--data-dir", required=True, help="directory for the SQLite database and generated keys"
    )
    parser.add_argument(
        "--database", help="postgresql://user@host/db (default: SQLite in --data-dir)"
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=int, default=8443, help="port (0 picks a free one; default 8443)"
    )
    tls = parser.add_mutually_exclusive_group(required=True)
    tls.add_argument("--cert", help="PEM certificate chain (with --key)")
    tls.add_argument(
        "--self-signed",
        action="store_true",
        help="generate an ECDSA P-256 certificate in --data-dir",
    )
    tls.add_argument(
        "--insecure-http", action="store_true", help="serve plain HTTP (trials on loopback only)"
    )
    parser.add_argument("--key", help="PEM private key for --cert")
    parser.add_argument(
        "--open-read",
        action="store_true",
        help="serve the fleet API, /metrics and the dashboard without a viewer token "
        "(the old behaviour; logs a warning)",
    )
    parser.add_argument(
        "--ready-file", help="write the server URL to this file once listening (for scripts)"
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.cert and not args.key:
        print("printerhq serve: --cert needs --key", file=sys.stderr)
        return 2
    # SafeFormatter: agents' and devices' strings in a log line carry no terminal escapes.
    handler = logging.StreamHandler()
    handler.setFormatter(SafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, handlers=[handler])
    try:
        trio.run(_serve, args)
    except KeyboardInterrupt:
        pass
    return 0


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
    ) as server:
        message = f"printerhq server listening on {server.url}"
        if server.fingerprint:
            message += f" (certificate sha256 {server.fingerprint})"
        print(message, flush=True)
        if args.ready_file:
            with open(args.ready_file + ".tmp", "w") as f:
                f.write(server.url + "\n")
            import os

            os.replace(args.ready_file + ".tmp", args.ready_file)
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for _ in signals:
                print("printerhq server stopping", flush=True)
                break
