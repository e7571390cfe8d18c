"""What the server knows about its agents as services: the configuration an administrator wants
each to run (versioned), and what each agent last said about itself on its stream.

Kept beside :class:`~printerhq.server.store.Store` (it runs its SQL through ``store.run``) so the
ingest store stays about reports. Tables: migration 3 in ``migrations.py``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import msgspec

from printerhq import control
from printerhq.server.store import (
    SITE_OF_AGENT,
    Store,
    StoreError,
    account_fields,
    health_verdict,
)


@dataclass(frozen=True)
class WantedConfig:
    version: int
    document: str


class AgentControl:
    def __init__(self, store: Store):
        self.store = store

    def _x(self, conn, sql: str, params: tuple = ()):
        return self.store._x(conn, sql, params)

    # -- administrator ---------------------------------------------------------------------
    async def set_config(self, agent: str, document: str, by: str = "") -> tuple[int, int]:
        """Store ``document`` as ``agent``'s next configuration: ``(agent id, version)``, the
        versions counting 1, 2, ... per agent."""
        if len(document.encode()) > control.MAX_DOCUMENT_BYTES:
            raise StoreError(f"configuration larger than {control.MAX_DOCUMENT_BYTES} bytes")

        def work(conn):
            with self.store.dialect.transaction(conn):
                row = self._x(
                    conn,
                    "SELECT id FROM agents"
                    " WHERE name = ? AND role = 'agent' AND revoked_at IS NULL",
                    (agent,),
                ).fetchone()
                if row is None:
                    raise StoreError(f"no active agent named {agent!r}")
                agent_id = int(row[0])
                latest = self._x(
                    conn,
                    "SELECT COALESCE(MAX(version), 0) FROM agent_configs WHERE agent_id = ?",
                    (agent_id,),
                ).fetchone()[0]
                version = int(latest) + 1
                self._x(
                    conn,
                    "INSERT INTO agent_configs(agent_id, version, document, created_at, created_by)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (agent_id, version, document, time.time(), by or None),
                )
                return agent_id, version

        return await self.store.run(work)

    async def wanted(self, agent_id: int) -> WantedConfig | None:
        def work(conn):
            return self._x(
                conn,
                "SELECT version, document FROM agent_configs"
                " WHERE agent_id = ? ORDER BY version DESC LIMIT 1",
                (agent_id,),
            ).fetchone()

        row = await self.store.run(work)
        return WantedConfig(int(row[0]), row[1]) if row else None

    async def wanted_by_name(self, agent: str) -> WantedConfig | None:
        def work(conn):
            return self._x(
                conn,
                """SELECT c.version, c.document
                   FROM agent_configs c JOIN agents a ON a.id = c.agent_id
                   WHERE a.name = ? AND a.role = 'agent' ORDER BY c.version DESC LIMIT 1""",
                (agent,),
            ).fetchone()

        row = await self.store.run(work)
        return WantedConfig(int(row[0]), row[1]) if row else None

    # -- what agents say ---------------------------------------------------------------------
    async def _upsert(self, agent_id: int, **columns: object) -> None:
        names = list(columns)
        updates = ", ".join(f"{n} = excluded.{n}" for n in names)
        sql = (
            f"INSERT INTO agent_status(agent_id, {', '.join(names)})"
            f" VALUES (?{', ?' * len(names)})"
            f" ON CONFLICT (agent_id) DO UPDATE SET {updates}"
        )

        def work(conn):
            self._x(conn, sql, (agent_id, *columns.values()))

        await self.store.run(work)

    async def record(self, agent_id: int, message: control.FromAgent) -> None:
        now = time.time()
        if isinstance(message, control.Hello):
            await self._upsert(
                agent_id,
                software_version=message.version,
                heartbeat_at=now,
                remote_config=int(message.remote_config),
                config_applied=message.config_version,
            )
        elif isinstance(message, control.Status):
            columns: dict[str, object] = dict(
                state=message.state, cycle=message.cycle, heartbeat_at=now
            )
            if message.last is not None:
                columns["last_cycle"] = msgspec.json.encode(message.last).decode()
            await self._upsert(agent_id, **columns)
        else:
            columns = dict(
                config_result_version=message.version,
                config_outcome=message.outcome,
                config_reason=message.reason,
                heartbeat_at=now,
            )
            if message.outcome == "applied":
                columns["config_applied"] = message.version
            await self._upsert(agent_id, **columns)

    async def outcome(self, agent_id: int, version: int) -> str | None:
        """What the agent answered to configuration ``version`` (None: nothing yet)."""

        def work(conn):
            return self._x(
                conn,
                "SELECT config_outcome FROM agent_status"
                " WHERE agent_id = ? AND config_result_version = ?",
                (agent_id, version),
            ).fetchone()

        row = await self.store.run(work)
        return row[0] if row else None

    # -- listing -----------------------------------------------------------------------------
    async def overview(self, now: float | None = None) -> list[dict]:
        """Every agent: last heartbeat, version, state, configuration (wanted / applied /
        last outcome with its reason) and the last cycle; what ``GET /api/v1/agents`` and
        ``printerhq server agents`` show."""
        now = time.time() if now is None else now

        def work(conn):
            return self._x(
                conn,
                f"""
                SELECT a.name, a.created_at, a.revoked_at, a.last_seen, a.last_address,
                       a.batches_total, a.reports_total, s.software_version, s.state,
                       s.remote_config, s.heartbeat_at, s.cycle, s.last_cycle,
                       s.config_applied, s.config_result_version, s.config_outcome, s.config_reason,
                       (SELECT MAX(c.version) FROM agent_configs c WHERE c.agent_id = a.id),
                       a.reports_refused, a.last_refusal, a.last_refusal_at, {SITE_OF_AGENT}
                FROM agents a LEFT JOIN agent_status s ON s.agent_id = a.id
                WHERE a.role = 'agent' ORDER BY a.name""",
            ).fetchall()

        out = []
        for (
            name,
            created,
            revoked,
            seen,
            address,
            batches,
            reports,
            version,
            state,
            remote,
            beat,
            cycle,
            last_cycle,
            applied,
            result_version,
            outcome,
            reason,
            wanted,
            refused,
            last_refusal,
            last_refusal_at,
            site,
        ) in await self.store.run(work):
            latest = max((t for t in (seen, beat) if t is not None), default=None)
            out.append(
                dict(
                    name=name,
                    site=site,
                    health=health_verdict(revoked, latest, now),
                    **account_fields(created, revoked, seen, address, batches, reports),
                    heartbeat_at=beat,
                    version=version,
                    state=state,
                    cycle=cycle,
                    remote_config=None if remote is None else bool(remote),
                    config=dict(
                        wanted=wanted,
                        applied=applied,
                        result_version=result_version,
                        outcome=outcome,
                        reason=reason or None,
                    ),
                    last_cycle=msgspec.json.decode(last_cycle) if last_cycle else None,
                    # reports the server refused (docs/server.md "Limits"), with the latest why
                    refused=dict(reports=int(refused), last=last_refusal, last_at=last_refusal_at),
                )
            )
        return out
