"""Releases for agent updates: storage and HTTP routes.

The server stores what ``printerhq server publish-update`` signed and serves it to agents; it
never signs and never holds the signing key, so a compromised server cannot push code (agents
verify against the public key in their local configuration, see ``printerhq.release``).
Releases live in the database (migration 4), like every other piece of server state, so several
instances sharing one PostgreSQL serve the same releases.

Routes, agent tokens only (an update is for the agent that runs it; a viewer has no use for a
wheel):

- ``GET /api/v1/updates/latest``: the newest release by PEP 440 ordering, as the signed JSON
  envelope ``{"manifest": base64, "signature": base64}``; 404 when none is published.
- ``GET /api/v1/updates/{version}/wheel``: that release's wheel.
- ``POST /api/v1/updates/report``: an agent reports an update outcome (installed, refused,
  rolled back); viewers read them at ``GET /api/v1/updates/reports``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import msgspec
from packaging.version import Version
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from printerhq import release
from printerhq.server.store import Agent, Store

log = logging.getLogger("printerhq.server.releases")

MAX_REPORT_BYTES = 2048
REPORTS_KEPT = 1000  # the newest reports served; the table itself is small (one row per event)


class UpdateReport(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """An agent's word on a release. ``outcome``: ``installed``, ``refused``, ``rolled-back``."""

    version: Annotated[str, msgspec.Meta(max_length=64)]
    outcome: Annotated[str, msgspec.Meta(pattern=r"^(installed|refused|rolled-back)$")]
    kind: Annotated[str, msgspec.Meta(max_length=32, pattern=r"^[a-z-]*$")] = ""
    reason: Annotated[str, msgspec.Meta(max_length=300)] = ""


# -- storage ---------------------------------------------------------------------------------
async def publish(
    store: Store, signed: release.SignedManifest, manifest: release.Manifest, wheel: bytes
) -> None:
    """Store a signed release; publishing a version twice is refused (a version names one wheel)."""

    def work(conn: Any) -> None:
        sql = store.dialect.sql
        with store.dialect.transaction(conn):
            if conn.execute(
                sql("SELECT 1 FROM releases WHERE version = ?"), (manifest.version,)
            ).fetchone():
                raise release.ReleaseError(
                    "wheel", f"version {manifest.version} is already published"
                )
            conn.execute(
                sql(
                    "INSERT INTO releases(name, version, manifest, signature, wheel, published_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)"
                ),
                (
                    manifest.name,
                    manifest.version,
                    signed.manifest,
                    signed.signature,
                    wheel,
                    time.time(),
                ),
            )

    await store.run(work)


async def latest(store: Store) -> release.SignedManifest | None:
    """The newest release by version (not by publication time: a fix published later for an
    older line must not look newer to agents already past it)."""

    def work(conn: Any) -> list[tuple[Any, ...]]:
        return list(
            conn.execute(
                store.dialect.sql("SELECT version, manifest, signature FROM releases")
            ).fetchall()
        )

    rows = await store.run(work)
    if not rows:
        return None
    _version, manifest, signature = max(rows, key=lambda row: Version(row[0]))
    return release.SignedManifest(manifest=bytes(manifest), signature=bytes(signature))


async def wheel(store: Store, version: str) -> bytes | None:
    def work(conn: Any) -> Any:
        return conn.execute(
            store.dialect.sql("SELECT wheel FROM releases WHERE version = ?"), (version,)
        ).fetchone()

    row = await store.run(work)
    return bytes(row[0]) if row else None


async def add_report(store: Store, agent: Agent, report: UpdateReport) -> None:
    def work(conn: Any) -> None:
        with store.dialect.transaction(conn):
            conn.execute(
                store.dialect.sql(
                    "INSERT INTO update_reports(agent_id, received_at, version, outcome, reason) "
                    "VALUES (?, ?, ?, ?, ?)"
                ),
                (
                    agent.id,
                    time.time(),
                    report.version,
                    report.outcome,
                    f"{report.kind}: {report.reason}" if report.kind else report.reason,
                ),
            )

    await store.run(work)


async def list_reports(store: Store, limit: int = REPORTS_KEPT) -> list[dict[str, Any]]:
    def work(conn: Any) -> list[tuple[Any, ...]]:
        return list(
            conn.execute(
                store.dialect.sql(
                    "SELECT a.name, r.received_at, r.version, r.outcome, r.reason "
                    "FROM update_reports r "
                    "JOIN agents a ON a.id = r.agent_id ORDER BY r.id DESC LIMIT ?"
                ),
                (limit,),
            ).fetchall()
        )

    return [
        dict(agent=name, received_at=at, version=version, outcome=outcome, reason=reason)
        for name, at, version, outcome, reason in await store.run(work)
    ]


# -- routes ----------------------------------------------------------------------------------
def _json(data: object, status: int = 200) -> Response:
    return Response(msgspec.json.encode(data), status_code=status, media_type="application/json")


def routes(
    store: Store,
    authenticate: Callable[[Any], Awaitable[Agent | None]],
    reader: Callable[[Callable[[Request], Awaitable[Response]]], Any],
) -> list[Route]:
    """The update routes; ``authenticate`` and ``reader`` are the app's agent and viewer checks."""

    def refused() -> Response:
        return Response(
            msgspec.json.encode({"error": "missing, unknown or revoked agent token"}),
            status_code=401,
            media_type="application/json",
            headers={"WWW-Authenticate": "Bearer"},
        )

    async def get_latest(request: Request) -> Response:
        if await authenticate(request) is None:
            return refused()
        signed = await latest(store)
        if signed is None:
            return _json({"error": "no release published"}, 404)
        return Response(release.encode_signed(signed), media_type="application/json")

    async def get_wheel(request: Request) -> Response:
        if await authenticate(request) is None:
            return refused()
        version = request.path_params["version"]
        data = await wheel(store, version) if len(version) <= 64 else None
        if data is None:
            return _json({"error": "no such release"}, 404)
        return Response(data, media_type="application/octet-stream")

    async def post_report(request: Request) -> Response:
        agent = await authenticate(request)
        if agent is None:
            return refused()
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_REPORT_BYTES:
                return _json({"error": "report too large"}, 413)
        try:
            report = msgspec.json.decode(bytes(body), type=UpdateReport)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return _json({"error": f"invalid report: {str(exc)[:200]}"}, 400)
        await add_report(store, agent, report)
        log.info(
            "agent %s update report: %s %s %s %s",
            agent.name,
            report.version,
            report.outcome,
            report.kind,
            report.reason[:200],
        )
        return _json({"ok": True})

    async def get_reports(request: Request) -> Response:
        return _json(await list_reports(store))

    return [
        Route("/api/v1/updates/latest", get_latest),
        Route("/api/v1/updates/{version}/wheel", get_wheel),
        Route("/api/v1/updates/report", post_report, methods=["POST"]),
        Route("/api/v1/updates/reports", reader(get_reports)),
    ]
