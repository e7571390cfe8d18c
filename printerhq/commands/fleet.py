"""``printerhq fleet``: print the fleet as the central server stores it (REST API, viewer token).

The token comes from ``--token``, ``--token-file`` or ``$PRINTERHQ_VIEWER_TOKEN`` (the last two
keep it out of ``ps``). TLS is verified against the system CAs, ``--ca-bundle`` (a self-signed
server's certificate) or ``--pin-sha256`` (the fingerprint ``serve`` prints); the pin is checked on
a ``/healthz`` request before the token crosses the connection, as the uplink does.

:class:`FleetClient` is the reusable part (``printerhq demo`` reads the fleet with it).
"""

from __future__ import annotations

import argparse
import io
import ssl
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import trio

from .. import model
from ..cmdline import options
from ..cmdline.exits import FAILURE, OK, USAGE
from ..model import DeviceReport
from ..terminal import safe, safe_json
from ..uplink.transport import PinMismatch, TlsOptions, check_pin, client_ssl_context
from ..words import whole_percent
from .output import STREAMED, ReportWriter, add_format_argument, chosen_format
from .tokens import read_token

TOKEN_ENV = "PRINTERHQ_VIEWER_TOKEN"
HISTORY_ROWS = 20  # scans per device in ``--history`` tables
PAGE_SIZE = 500  # devices per request (the server's most)
MAX_PAGES = 2000  # a server that keeps saying "next" is not followed for ever (1,000,000 devices)
MAX_DEVICE_ID = 2**63 - 1  # device ids are database integers (signed 64-bit)
MAX_TIMEOUT = 3600.0


class FleetError(Exception):
    """A failure worth one clear line to the user (dead server, bad token, unverified TLS)."""


class NotFound(FleetError):
    """A 404: no such device, or no reading of it the server can show."""


class FleetClient:
    """Reads the fleet from a server's REST API with a viewer token. Open with
    :func:`open_fleet_client`; one pooled connection, verified (and pinned) before use."""

    def __init__(self, http: httpx.AsyncClient, url: str, token: str):
        self._http = http
        self.url = url.rstrip("/")
        self._token = token

    async def _get(self, path: str, params: dict[str, Any] | None = None) -> object:
        return (await self._get_with_headers(path, params))[0]

    async def _get_with_headers(
        self, path: str, params: dict[str, Any] | None = None
    ) -> tuple[object, httpx.Headers]:
        try:
            response = await self._http.get(
                self.url + path, params=params, headers={"authorization": f"Bearer {self._token}"}
            )
        except httpx.HTTPError as exc:
            raise _transport_error(self.url, exc) from None
        if response.status_code == 401:
            raise FleetError(
                f"{self.url} refused the token (401: unknown or revoked); "
                "issue one with `printerhq server add-viewer NAME`"
            )
        if response.status_code == 403:
            raise FleetError(
                f"{self.url} refused the token (403): it is not a viewer token "
                "(agent tokens can upload but not read the fleet)"
            )
        if response.status_code == 404:
            raise NotFound(f"{path}: not found on {self.url}")
        if response.status_code == 400:  # the server says what was wrong with the request
            try:
                reason = str(response.json().get("error"))[:300]
            except (ValueError, AttributeError):
                reason = "bad request"
            raise FleetError(f"{self.url}{path} refused the request: {reason}")
        if response.status_code != 200:
            raise FleetError(f"{self.url}{path} answered {response.status_code}")
        try:
            return response.json(), response.headers
        except ValueError:
            raise FleetError(f"{self.url}{path} answered something that is not JSON") from None

    async def devices(self) -> list[dict[str, Any]]:
        """``GET /api/v1/devices``: one row per device, in id order, each with its latest
        reading (``latest``, as :meth:`latest` answers, or None) when the server pages: one
        request per :data:`PAGE_SIZE` devices. A server from before pages answers the whole
        list at once, without ``latest``."""
        rows: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            params = {"limit": PAGE_SIZE, "offset": len(rows), "sort": "id", "include": "latest"}
            page, headers = await self._get_with_headers("/api/v1/devices", params)
            if not isinstance(page, list) or not all(isinstance(r, dict) for r in page):
                raise FleetError(f"{self.url}/api/v1/devices answered something not a list")
            rows += page
            total = headers.get("x-total-count")
            if total is None:
                return rows  # an older server: everything at once, no latest
            if len(page) < PAGE_SIZE or len(rows) >= _count(total):
                return rows
        raise FleetError(f"{self.url} lists more than {MAX_PAGES * PAGE_SIZE:,} devices")

    async def latest(self, device_id: int) -> dict[str, Any]:
        """``GET /api/v1/devices/{id}``: ``{device_id, scanned_at, received_at, report}``."""
        return await self._get(f"/api/v1/devices/{int(device_id)}")  # type: ignore[return-value]

    async def counters(
        self, device_id: int, scans: int = HISTORY_ROWS, limit: int = 10_000
    ) -> list[dict[str, Any]]:
        """Counter readings of the device's last ``scans`` scans, oldest first."""
        return await self._get(
            f"/api/v1/devices/{int(device_id)}/counters", {"scans": scans, "limit": limit}
        )  # type: ignore[return-value]

    async def supplies(
        self, device_id: int, scans: int = HISTORY_ROWS, limit: int = 10_000
    ) -> list[dict[str, Any]]:
        """Supply readings of the device's last ``scans`` scans, oldest first."""
        return await self._get(
            f"/api/v1/devices/{int(device_id)}/supplies", {"scans": scans, "limit": limit}
        )  # type: ignore[return-value]

    async def meter_reads(self, start: str, end: str, site: str | None = None) -> object:
        """``GET /api/v1/meter-reads``: every device's counters at the start and end of the
        period ``[start, end)`` (dates, UTC), one request whatever the fleet's size."""
        params = {"from": start, "to": end, **({"site": site} if site else {})}
        return await self._get("/api/v1/meter-reads", params)

    async def reports(self, device_ids: list[int] | None = None) -> list[DeviceReport]:
        """The latest report of each device (all, or ``device_ids``), as ``DeviceReport``."""
        if device_ids is None:
            rows = await self.devices()
            if all("latest" in row for row in rows):  # one request per page, not per device
                return [as_report(row["latest"]) for row in rows if row["latest"]]
            device_ids = [int(d["id"]) for d in rows]
        return [as_report(await self.latest(i)) for i in device_ids]


def _count(text: str) -> int:
    try:
        return max(0, int(text))
    except ValueError:
        raise FleetError(f"the server sent a total that is not a number: {text[:20]!r}") from None


def as_report(latest: dict[str, Any]) -> DeviceReport:
    """The ``report`` of a ``GET /api/v1/devices/{id}`` answer as a typed ``DeviceReport``."""
    # Brought inside the model's bounds rather than refused: a server may hold reports stored
    # before it checked them (a megabyte-long string, a time in year 300,000).
    raw = latest.get("report") if isinstance(latest, dict) else None
    report = model.repair_report(raw) if isinstance(raw, dict) else None
    if report is None:
        raise FleetError("the server sent a report this version cannot read")
    return report


def _unread(row: dict[str, Any]) -> DeviceReport:
    """A device the server lists without a reading it can show: its row, with the reason."""
    fitted = model.repair_report(
        {
            "identity": {k: row.get(k) for k in ("address", "vendor", "model", "serial", "mac")},
            "scanned_at": 0.0,
            "errors": ["the server holds no reading of this device it can show"],
        }
    )
    if fitted is None:
        raise FleetError(f"device {row.get('id')}: the server sent a row this version cannot read")
    return fitted


def _transport_error(url: str, exc: BaseException) -> FleetError:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return FleetError(
                f"the certificate of {url} could not be verified ({cause.verify_message}); "
                "pass --ca-bundle FILE (the server's certificate or CA) or --pin-sha256 HEX"
            )
        cause = cause.__cause__ or cause.__context__
    if "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return FleetError(
            f"the certificate of {url} could not be verified; pass --ca-bundle or --pin-sha256"
        )
    if isinstance(exc, httpx.TimeoutException):
        return FleetError(f"{url} did not answer in time")
    if isinstance(exc, httpx.ConnectError):
        return FleetError(f"cannot reach {url}: {exc or type(exc).__name__}")
    return FleetError(f"talking to {url} failed: {type(exc).__name__}: {exc}")


@asynccontextmanager
async def open_fleet_client(
    url: str, token: str, tls: TlsOptions | None = None, *, timeout: float = 30.0
) -> AsyncIterator[FleetClient]:
    """A :class:`FleetClient` for ``url``. Plain ``http://`` needs ``tls.insecure``. Raises
    :class:`FleetError` when the server cannot be reached or its certificate is not trusted."""
    tls = tls or TlsOptions()
    secure = url.startswith("https://")
    if not secure and not (url.startswith("http://") and tls.insecure):
        raise FleetError(
            f"{url}: use an https:// URL (or http:// with --insecure, token unencrypted)"
        )
    verify: ssl.SSLContext | bool = client_ssl_context(tls) if secure else False
    async with httpx.AsyncClient(
        verify=verify,
        trust_env=True,
        timeout=httpx.Timeout(timeout),
        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
    ) as http:
        client = FleetClient(http, url, token)
        if secure and tls.pin_sha256:
            # Pin the one pooled connection before it carries the token.
            try:
                response = await http.get(client.url + "/healthz")
                check_pin(
                    response.extensions["network_stream"].get_extra_info("ssl_object"),
                    tls.pin_sha256,
                )
            except httpx.HTTPError as exc:
                raise _transport_error(client.url, exc) from None
            except PinMismatch as exc:
                raise FleetError(f"{client.url}: {exc}; the token was not sent") from None
        yield client


# --------------------------------------------------------------------------------------------
# Rendering of history
# --------------------------------------------------------------------------------------------
def _clock(t: object) -> str:
    import datetime

    try:
        return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime(  # type: ignore[arg-type]
            "%Y-%m-%d %H:%M:%S"
        )
    except (OverflowError, ValueError, OSError, TypeError):
        return "invalid time"


def render_history(
    counters: list[dict[str, Any]], supplies: list[dict[str, Any]], rows: int = HISTORY_ROWS
) -> str:
    """One compact table: a line per scan (newest last), counters then supply percentages."""
    # An older server serves rows with impossible times as they were stored (JSON null for inf).
    counters = [c for c in counters if isinstance(c.get("scanned_at"), (int, float))]
    supplies = [s for s in supplies if isinstance(s.get("scanned_at"), (int, float))]
    columns: list[str] = []
    by_time: dict[float, dict[str, str]] = {}
    for c in counters:
        name = safe(c["name"])
        if name not in columns:
            columns.append(name)
        by_time.setdefault(c["scanned_at"], {})[name] = safe(c["value"])
    columns.sort(
        key=lambda name: name != "total"
    )  # the page total first, then as the server lists them
    supply_columns: list[str] = []
    for s in supplies:
        name = f"{safe(s['description'])[:18]} %"
        if name not in supply_columns:
            supply_columns.append(name)
        percent = whole_percent(s["percent"])  # rounded once, half up, as in the tables
        by_time.setdefault(s["scanned_at"], {})[name] = "?" if percent is None else str(percent)
    columns += supply_columns
    if not by_time:
        return "  (no history)"
    header = ["scanned (UTC)", *columns]
    table = [
        [_clock(t), *(by_time[t].get(c, "") for c in columns)] for t in sorted(by_time)[-rows:]
    ]
    widths = [max(len(header[i]), *(len(r[i]) for r in table)) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += [
        "  ".join(
            v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in table
    ]
    return "\n".join("  " + line.rstrip() for line in lines)


# --------------------------------------------------------------------------------------------
# Command
# --------------------------------------------------------------------------------------------
def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "fleet",
        help="print the fleet as the central server stores it",
        description="Read the fleet from a printerhq server's REST API with a viewer token "
        f"(--token, --token-file or ${TOKEN_ENV}) and print it like `printerhq scan`.",
    )
    parser.add_argument(
        "--server", required=True, metavar="URL", help="e.g. https://hq.example:8443"
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--token", help=f"a viewer token (printerhq server add-viewer); or ${TOKEN_ENV}"
    )
    group.add_argument(
        "--token-file",
        type=options.existing_file,
        metavar="FILE",
        help="read the viewer token from FILE",
    )
    parser.add_argument(
        "--ca-bundle",
        type=options.ca_bundle,
        metavar="FILE",
        help="CA certificates to verify the server with",
    )
    parser.add_argument(
        "--pin-sha256",
        type=options.fingerprint,
        metavar="HEX",
        help="the server certificate's SHA-256 (printed by serve; 64 hex digits)",
    )
    parser.add_argument(
        "--insecure", action="store_true", help="allow a plain http:// URL (token unencrypted)"
    )
    parser.add_argument(
        "--device",
        type=options.integer(1, MAX_DEVICE_ID),
        metavar="ID",
        action="append",
        help="only this device id (repeatable; ids from --json or the dashboard)",
    )
    parser.add_argument(
        "--history", action="store_true", help="also print each device's counter and supply history"
    )
    add_format_argument(
        parser,
        json_is="the devices with their latest report",
        ndjson_is="the latest report of each device, one per line",
    )
    billing = parser.add_argument_group("meter reads (billing)")
    billing.add_argument(
        "--meter-reads",
        action="store_true",
        help="print each device's page counters at the start and end of a period instead",
    )
    billing.add_argument("--from", dest="period_from", metavar="YYYY-MM-DD", help="first day")
    billing.add_argument(
        "--to", dest="period_to", metavar="YYYY-MM-DD", help="the day after the last (excluded)"
    )
    billing.add_argument("--site", metavar="SITE", help="only the devices of this site")
    parser.add_argument(
        "--timeout",
        type=options.number(0, MAX_TIMEOUT, low_open=True),
        default=30.0,
        metavar="S",
        help=f"seconds per request (default 30, at most {MAX_TIMEOUT:g})",
    )
    parser.set_defaults(func=run)


def viewer_token(args: argparse.Namespace) -> str:
    """The token from the arguments or the environment; ``FleetError`` when there is none."""
    try:
        token = read_token(args.token, args.token_file, TOKEN_ENV)
    except ValueError as error:
        raise FleetError(str(error)) from None
    if not token:
        raise FleetError(f"a viewer token is needed: --token, --token-file or ${TOKEN_ENV}")
    return token


def run(args: argparse.Namespace) -> int:
    try:
        token = viewer_token(args)
        tls = TlsOptions(
            ca_bundle=args.ca_bundle, pin_sha256=args.pin_sha256, insecure=args.insecure
        )
        fmt = chosen_format(args)
        _check_meter_reads(args)
    except ValueError as exc:
        print(f"printerhq fleet: {safe(exc)}", file=sys.stderr)
        return USAGE
    except FleetError as exc:
        print(f"printerhq fleet: {safe(exc)}", file=sys.stderr)
        return FAILURE
    try:
        # Everything the server sent is made safe for the terminal (also in JSON: escaped).
        sys.stdout.write(trio.run(_fleet, args, token, tls, fmt))
    except FleetError as exc:
        print(f"printerhq fleet: {safe(exc)}", file=sys.stderr)
        return FAILURE
    return OK


def _check_meter_reads(args: argparse.Namespace) -> None:
    """``--from``/``--to``/``--site`` only with ``--meter-reads``, and a valid period there
    (ValueError: a usage error)."""
    from ..server.meter_reads import parse_period

    given = [n for n in ("period_from", "period_to", "site") if getattr(args, n, None)]
    if not getattr(args, "meter_reads", False):
        if given:
            raise ValueError("--from, --to and --site go with --meter-reads")
        return
    if args.device or args.history:
        raise ValueError("--meter-reads covers every device: no --device or --history")
    parse_period(args.period_from, args.period_to)  # PeriodError is a ValueError


async def _meter_reads(args: argparse.Namespace, token: str, tls: TlsOptions, fmt: str) -> str:
    from .meter_reads_output import render

    async with open_fleet_client(args.server, token, tls, timeout=args.timeout) as client:
        answer = await client.meter_reads(args.period_from, args.period_to, args.site)
    return render(answer, fmt)


async def _fleet(args: argparse.Namespace, token: str, tls: TlsOptions, fmt: str) -> str:
    from ..render import render_reports
    from .scanning import address_order

    if getattr(args, "meter_reads", False):
        return await _meter_reads(args, token, tls, fmt)
    async with open_fleet_client(args.server, token, tls, timeout=args.timeout) as client:
        if args.device:
            rows = [{"id": i} for i in args.device]
        else:
            rows = await client.devices()
        entries = []
        for row in rows:
            if "latest" in row:  # the list carried it (a server with pages)
                latest: dict[str, Any] | None = row["latest"]
            else:
                try:
                    latest = await client.latest(int(row["id"]))
                except NotFound:
                    if args.device:
                        raise
                    latest = None  # listed, but no reading inside the server's clock window
            entry = {**row, "latest": latest}
            if args.history:
                entry["counters"] = await client.counters(int(row["id"]))
                entry["supplies"] = await client.supplies(int(row["id"]))
            entries.append(entry)
    if fmt == "json":
        return safe_json(entries) + "\n"
    reports = [
        (as_report(entry["latest"]) if entry["latest"] else _unread(entry), entry)
        for entry in entries
    ]
    reports.sort(key=lambda pair: address_order(pair[0]))
    if fmt in STREAMED:
        stream = io.StringIO()
        writer = ReportWriter(fmt, stream)
        for report, _ in reports:
            writer.write(report)
        return stream.getvalue()
    out = render_reports([r for r, _ in reports]) + "\n"
    if args.history:
        for report, entry in reports:
            ident = report.identity
            out += (
                "\n"
                + safe(
                    f"history of device {entry['id']} {ident.address} "
                    f"{ident.vendor or ''} {ident.model or ''}"
                ).rstrip()
            )
            out += "\n" + render_history(entry["counters"], entry["supplies"]) + "\n"
    if not entries:
        out = "the server holds no devices yet\n"
    return safe(out, newlines=True)
