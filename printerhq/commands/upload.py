"""``--upload URL``: options shared by commands that send reports to the central server.

The token can come from ``--token``, ``--token-file`` or ``$PRINTERHQ_TOKEN``; the last two keep
it out of process lists. It never appears in output or logs.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..cmdline import options
from ..cmdline.exits import FAILURE, OK, REPORTS_WAITING
from .tokens import read_token

if TYPE_CHECKING:
    # Imported when an upload is asked for: the uplink (httpx, trio-websocket) costs a plain
    # scan about 5 MB and 0.1 CPU s it never uses.
    from ..uplink import TlsOptions, Uplink

TOKEN_ENV = "PRINTERHQ_TOKEN"
MAX_UPLOAD_TIMEOUT = 3600.0


def default_spool_dir() -> Path:
    """``$XDG_STATE_HOME/printerhq/spool`` (``~/.local/state`` when unset), as the XDG base
    directory spec places state that should survive restarts."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "printerhq" / "spool"


def add_upload_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "upload",
        f"send the reports to a printerhq server (token also from --token-file or "
        f"${TOKEN_ENV}, which keep it out of process lists)",
    )
    group.add_argument("--upload", metavar="URL", help="server base URL, https://host:port")
    group.add_argument("--token", help="this agent's upload token (printerhq server add-agent)")
    group.add_argument(
        "--token-file", type=options.existing_file, metavar="FILE", help="read the token from FILE"
    )
    group.add_argument(
        "--agent",
        default="",
        help="agent name the token was issued for (default: whatever the token says)",
    )
    group.add_argument(
        "--spool-dir",
        type=options.directory,
        metavar="DIR",
        help="durable queue of reports not yet acknowledged "
        "(default: $XDG_STATE_HOME/printerhq/spool)",
    )
    group.add_argument(
        "--ca-bundle",
        type=options.ca_bundle,
        metavar="FILE",
        help="CA certificates to verify the server with (e.g. its self-signed cert)",
    )
    group.add_argument(
        "--pin-sha256",
        type=options.fingerprint,
        metavar="HEX",
        help="the server certificate's SHA-256 fingerprint (printed by serve; 64 hex digits)",
    )
    group.add_argument(
        "--insecure",
        action="store_true",
        help="allow a plain http:// URL (token and reports unencrypted; warns)",
    )
    group.add_argument(
        "--upload-timeout",
        type=options.number(0, MAX_UPLOAD_TIMEOUT),
        default=30.0,
        metavar="S",
        help="seconds to wait at the end for the server's acknowledgements; "
        f"what is not acknowledged stays spooled for the next run (default 30, at most "
        f"{MAX_UPLOAD_TIMEOUT:g})",
    )


@dataclass
class UploadSettings:
    url: str
    token: str = field(repr=False)
    spool_dir: Path
    agent: str = ""
    tls: TlsOptions = field(default_factory=lambda: _tls_options())
    insecure: bool = False
    timeout: float = 30.0

    async def finish(self, uplink: Uplink) -> tuple[int, str]:
        """Wait for the acknowledgements: ``(exit code, a line saying where the reports are)``.

        0: everything acknowledged and stored. 1: the server refused the upload (401/403: every
        report stays spooled) or refused reports (they are in the spool's rejected table, the
        rest is stored). 3: reports wait in the spool (no acknowledgement in time).
        """
        flushed = await uplink.flush(self.timeout)
        acked = uplink.stats["acked"]
        batches = f"{acked} batch{'es' if acked != 1 else ''} acknowledged"
        if uplink.refusal is not None:
            return FAILURE, (
                f"the server {self.url} refused the upload: {uplink.refusal}; "
                f"{uplink.pending} reports wait in {self.spool_dir} and are sent once the "
                "token and agent name are right"
            )
        refused = uplink.stats["refused_reports"]
        if refused:
            waiting = (
                ""
                if flushed
                else f"; {uplink.pending} reports wait in {self.spool_dir} for the next run"
            )
            return FAILURE, (
                f"the server {self.url} refused {refused} report{'s' if refused != 1 else ''} "
                f"({uplink.stats['last_refusal']}); kept in the rejected table of the spool "
                f"{self.spool_dir}; {batches}{waiting}"
            )
        if flushed:
            return OK, f"uploaded to {self.url} ({batches})"
        why = uplink.stats.get("last_error") or "no acknowledgement in time"
        return REPORTS_WAITING, (
            f"{uplink.pending} reports not yet acknowledged by {self.url} ({why}); "
            f"they are safe in {self.spool_dir} and are sent on the next run"
        )


def upload_settings(args: argparse.Namespace) -> UploadSettings | None:
    """The upload the arguments ask for, or None. Raises ValueError with a clear message."""
    if not args.upload:
        if args.token or args.token_file:
            raise ValueError("--token/--token-file given without --upload URL")
        return None
    token = read_token(args.token, args.token_file, TOKEN_ENV)
    if not token:
        raise ValueError(f"--upload needs a token: --token, --token-file or ${TOKEN_ENV}")
    if args.upload_timeout < 0:
        raise ValueError("--upload-timeout must be >= 0")
    spool_dir = args.spool_dir or (
        args.state_dir / "spool" if getattr(args, "state_dir", None) else default_spool_dir()
    )
    tls = _tls_options(ca_bundle=args.ca_bundle, pin_sha256=args.pin_sha256)
    return UploadSettings(
        args.upload, token, spool_dir, args.agent, tls, args.insecure, args.upload_timeout
    )


def _tls_options(**settings: object) -> TlsOptions:
    from ..uplink import TlsOptions

    return TlsOptions(**settings)  # type: ignore[arg-type]


@asynccontextmanager
async def open_uplink(settings: UploadSettings) -> AsyncIterator[Uplink]:
    from ..uplink import Uplink

    settings.spool_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    async with Uplink(
        settings.url,
        settings.token,
        settings.spool_dir,
        agent=settings.agent,
        tls=settings.tls,
        insecure=settings.insecure,
    ) as uplink:
        yield uplink
