"""Alerts in the database: the thresholds file, open and closed alerts, the webhook outbox.

A thin layer over :class:`~printerhq.server.store.Store` (its SQL runs through ``store.run``).
:meth:`AlertStore.sync` turns the conditions that hold (``alert_rules.evaluate``) into opened
and closed alerts in one transaction, and queues one outbox row per event and webhook in the
same transaction: an event is never lost between the alert and its delivery.

Two instances evaluating at once on one PostgreSQL: the partial unique index
``alerts_one_open`` lets only one insert of an open alert succeed (``ON CONFLICT DO NOTHING``
returns no row to the other), and ``UPDATE ... WHERE closed_at IS NULL`` closes an alert for one
of them only; the events are queued by whichever instance changed the row. Tables: the alerts
migration in ``migrations.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from printerhq import limits, model
from printerhq.server import alert_rules as rules
from printerhq.server.store import SITE_OF_AGENT, Store

CONFIG_NAME = "alerts"
HISTORY_DAYS = 60  # supply history a forecast looks at
MAX_RECENT = 20  # reports per device that can hold an error alert open
CHUNK = 500  # devices read (and their supply history) per query while evaluating
MAX_LISTED = 10_000
BATCH = 200  # rows per INSERT or UPDATE while syncing (8 parameters each: well under the limits)
# days to empty from (unix time, percent) points, oldest first: the forecast's days_left
Forecaster = Callable[[Sequence[tuple[float, float]], float], float | None]

_ALERT_COLUMNS = (
    "id",
    "subject",
    "rule",
    "item",
    "severity",
    "site",
    "label",
    "message",
    "opened_at",
    "closed_at",
)
_ALERT_FIELDS = ", ".join(_ALERT_COLUMNS)


@dataclass(frozen=True)
class SyncResult:
    opened: int
    closed: int
    queued: int  # outbox rows (events x webhooks)


@dataclass(frozen=True)
class Claimed:
    id: int
    url: str
    event: str
    body: bytes
    attempts: int  # including this one


def _alert_dict(row: Sequence[Any]) -> dict[str, Any]:
    out = dict(zip(_ALERT_COLUMNS, row, strict=True))
    out["id"] = int(out["id"])
    kind, _, ident = str(out["subject"]).partition(":")
    out["subject_kind"], out["subject_id"] = kind, int(ident) if ident.isdigit() else None
    out["title"] = rules.rule_words(str(out["rule"]))
    out["state"] = "open" if out["closed_at"] is None else "closed"
    return out


def payload(alert: dict[str, Any], event: str, delivery: str) -> bytes:
    """The JSON body a webhook receives (docs/alerts.md "Payload")."""
    return msgspec.json.encode(
        {
            "id": delivery,  # the same on every retry: a receiver drops repeats by it
            "event": f"alert.{event}",
            "alert": {k: alert[k] for k in (*_ALERT_COLUMNS, "title", "state")},
        }
    )


def _matches(hook: rules.Webhook, severity: str, site: str | None) -> bool:
    if hook.sites is not None and site not in hook.sites:
        return False
    return rules.severity_rank(severity) <= rules.severity_rank(hook.min_severity)


def _device_label(address: str, model_name: str | None, serial: str | None) -> str:
    parts = [address] + [p for p in (model_name, serial and f"({serial})") if p]
    return " ".join(parts)[: limits.MAX_TEXT]


def _decode(stored: bytes | None) -> model.DeviceReport | None:
    """A stored report: the strict decoder first (fast), the repairing reader for a report
    stored before the bounds existed."""
    if stored is None:
        return None
    try:
        return model.decode_device_report(bytes(stored))
    except msgspec.DecodeError:
        return model.repair_report(bytes(stored))


class AlertStore:
    def __init__(self, store: Store):
        self.store = store

    def _x(self, conn: Any, sql: str, params: tuple[Any, ...] = ()) -> Any:
        return self.store._x(conn, sql, params)

    # -- configuration ---------------------------------------------------------------------
    async def set_config(self, document: str) -> rules.AlertsConfig:
        """Validate ``document`` (TOML) and make it the configuration of every instance."""
        config = rules.parse_config(document)

        def work(conn: Any) -> None:
            with self.store.dialect.transaction(conn):
                self._x(
                    conn,
                    "INSERT INTO alert_config(name, document, updated_at) VALUES (?, ?, ?)"
                    " ON CONFLICT (name) DO UPDATE SET document = excluded.document,"
                    " updated_at = excluded.updated_at",
                    (CONFIG_NAME, document, time.time()),
                )

        await self.store.run(work)
        return config

    async def config(self) -> rules.AlertsConfig:
        """The stored configuration; the defaults when none was set (or, defensively, when the
        stored one no longer parses: it was validated when set)."""
        row = await self.store.run(
            lambda c: self._x(
                c, "SELECT document FROM alert_config WHERE name = ?", (CONFIG_NAME,)
            ).fetchone()
        )
        if row is None:
            return rules.AlertsConfig()
        try:
            return rules.parse_config(row[0])
        except rules.ConfigError:
            return rules.AlertsConfig()

    # -- what the rules look at ----------------------------------------------------------------
    async def agent_states(self) -> list[rules.AgentState]:
        def work(conn: Any) -> list[Any]:
            return list(
                self._x(
                    conn,
                    f"SELECT a.id, a.name, {SITE_OF_AGENT}, a.last_seen, s.heartbeat_at"
                    " FROM agents a LEFT JOIN agent_status s ON s.agent_id = a.id"
                    " WHERE a.role = 'agent' AND a.revoked_at IS NULL ORDER BY a.id",
                ).fetchall()
            )

        out = []
        for agent_id, name, site, seen, beat in await self.store.run(work):
            latest = max((t for t in (seen, beat) if t is not None), default=None)
            out.append(rules.AgentState(int(agent_id), name, site, latest))
        return out

    async def device_states(
        self, now: float, forecaster: Forecaster | None = None
    ) -> list[rules.DeviceState]:
        """Every device with its latest report (and, with ``forecaster``, each supply's days
        left from its recent history), read ``CHUNK`` devices per query."""
        out: list[rules.DeviceState] = []
        after = 0
        while True:
            chunk = await self.store.run(self._device_chunk, after, now, forecaster is not None)
            if not chunk:
                return out
            rows, history = chunk
            for device_id, address, model_name, serial, last_seen, site, report in rows:
                days: dict[int, float | None] = {}
                if forecaster is not None:
                    for idx, points in history.get(int(device_id), {}).items():
                        days[idx] = forecaster(points, now)
                out.append(
                    rules.DeviceState(
                        id=int(device_id),
                        site=site,
                        label=_device_label(address, model_name, serial),
                        last_seen=float(last_seen),
                        report=report,
                        days_left=days,
                    )
                )
            after = int(rows[-1][0])

    def _device_chunk(self, conn: Any, after: int, now: float, with_history: bool) -> Any:
        rows = self._x(
            conn,
            f"""SELECT d.id, substr(d.address, 1, {limits.MAX_TEXT}),
                       substr(d.model, 1, {limits.MAX_TEXT}),
                       substr(d.serial, 1, {limits.MAX_TEXT}),
                       d.last_seen, {SITE_OF_AGENT},
                       CASE WHEN length(r.report) > ? THEN NULL ELSE r.report END
                FROM devices d LEFT JOIN agents a ON a.id = d.last_agent_id
                LEFT JOIN readings r ON r.id = (
                    SELECT r2.id FROM readings r2 WHERE r2.device_id = d.id
                    AND r2.scanned_at <= ? ORDER BY r2.scanned_at DESC, r2.id DESC LIMIT 1)
                WHERE d.id > ? ORDER BY d.id LIMIT ?""",
            (1 << 20, now + limits.MAX_CLOCK_SKEW, after, CHUNK),
        ).fetchall()
        if not rows:
            return None
        # Decoded here, in the worker thread, not on the event loop: a few seconds of CPU per
        # 100,000 printers.
        rows = [(*row[:-1], _decode(row[-1])) for row in rows]
        history: dict[int, dict[int, list[tuple[float, float]]]] = {}
        if with_history:
            for device_id, idx, at, percent in self._x(
                conn,
                "SELECT device_id, idx, scanned_at, percent FROM supply_readings"
                " WHERE device_id >= ? AND device_id <= ? AND scanned_at >= ? AND scanned_at <= ?"
                " AND percent IS NOT NULL ORDER BY device_id, idx, scanned_at",
                (
                    int(rows[0][0]),
                    int(rows[-1][0]),
                    now - HISTORY_DAYS * 86400,
                    now + limits.MAX_CLOCK_SKEW,
                ),
            ):
                series = history.setdefault(int(device_id), {}).setdefault(int(idx), [])
                series.append((float(at), float(percent)))
        return rows, history

    async def recent_reports(
        self, device_ids: set[int], since: float, now: float
    ) -> dict[int, list[model.DeviceReport]]:
        """Each device's reports scanned since ``since``, newest first (at most
        ``MAX_RECENT`` each): what holds an open error alert through a scan without it."""
        wanted = sorted(device_ids)

        def work(conn: Any) -> dict[int, list[model.DeviceReport]]:
            out: dict[int, list[model.DeviceReport]] = {}
            for start in range(0, len(wanted), CHUNK):
                part = wanted[start : start + CHUNK]
                for device_id, stored in self._x(
                    conn,
                    "SELECT device_id, report FROM readings WHERE device_id IN"
                    f" ({', '.join('?' * len(part))}) AND scanned_at >= ? AND scanned_at <= ?"
                    " AND length(report) <= ? ORDER BY device_id, scanned_at DESC",
                    (*part, since, now + limits.MAX_CLOCK_SKEW, 1 << 20),
                ):
                    kept = out.setdefault(int(device_id), [])
                    report = _decode(stored) if len(kept) < MAX_RECENT else None
                    if report is not None:
                        kept.append(report)
            return out

        return await self.store.run(work) if wanted else {}

    # -- open and close ------------------------------------------------------------------------
    async def open_keys(self) -> set[rules.Key]:
        rows = await self.store.run(
            lambda c: self._x(
                c, "SELECT subject, rule, item FROM alerts WHERE closed_at IS NULL"
            ).fetchall()
        )
        return {(s, r, i) for s, r, i in rows}

    async def sync(
        self,
        conditions: dict[rules.Key, rules.Condition],
        config: rules.AlertsConfig,
        now: float | None = None,
    ) -> SyncResult:
        """Open an alert for each condition not open yet, close each open alert whose
        condition is gone, and queue their webhook deliveries: one transaction."""
        at = time.time() if now is None else now
        return await self.store.run(self._sync, conditions, config, at)

    def _sync(
        self,
        conn: Any,
        conditions: dict[rules.Key, rules.Condition],
        config: rules.AlertsConfig,
        now: float,
    ) -> SyncResult:
        opened = closed = queued = 0
        with self.store.dialect.transaction(conn):
            open_rows = {
                (r[1], r[2], r[3]): r
                for r in self._x(
                    conn, f"SELECT {_ALERT_FIELDS} FROM alerts WHERE closed_at IS NULL"
                ).fetchall()
            }
            # Keys in one order on every instance: concurrent transactions lock index entries in
            # the same order (no deadlock). Rows go BATCH at a time: one round trip each, not one
            # per alert (the first evaluation of a large fleet opens thousands).
            new = [conditions[k] for k in sorted(conditions.keys() - open_rows.keys())]
            for start in range(0, len(new), BATCH):
                part = new[start : start + BATCH]
                values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * len(part))
                params = [
                    v
                    for c in part
                    for v in (
                        c.subject,
                        c.rule,
                        c.item,
                        c.severity,
                        c.site,
                        c.label,
                        c.message,
                        now,
                    )
                ]
                # A row not returned: another instance opened that alert a moment ago.
                rows = self._x(
                    conn,
                    f"INSERT INTO alerts(subject, rule, item, severity, site, label, message,"
                    f" opened_at) VALUES {values}"
                    f" ON CONFLICT (subject, rule, item) WHERE closed_at IS NULL DO NOTHING"
                    f" RETURNING {_ALERT_FIELDS}",
                    tuple(params),
                ).fetchall()
                opened += len(rows)
                queued += self._queue(conn, [_alert_dict(r) for r in rows], "opened", config, now)
            gone = sorted(int(open_rows[k][0]) for k in open_rows.keys() - conditions.keys())
            for start in range(0, len(gone), BATCH):
                ids = gone[start : start + BATCH]
                # A row not returned: another instance closed it.
                rows = self._x(
                    conn,
                    f"UPDATE alerts SET closed_at = ? WHERE id IN ({', '.join('?' * len(ids))})"
                    f" AND closed_at IS NULL RETURNING {_ALERT_FIELDS}",
                    (now, *ids),
                ).fetchall()
                closed += len(rows)
                queued += self._queue(conn, [_alert_dict(r) for r in rows], "closed", config, now)
        return SyncResult(opened, closed, queued)

    def _queue(
        self,
        conn: Any,
        alerts: list[dict[str, Any]],
        event: str,
        config: rules.AlertsConfig,
        now: float,
    ) -> int:
        outbox = [
            (
                alert["id"],
                event,
                hook.url,
                payload(alert, event, f"{alert['id']}-{event}"),
                now,
                now,
            )
            for alert in sorted(alerts, key=lambda a: int(a["id"]))
            for hook in config.webhook
            if _matches(hook, alert["severity"], alert["site"])
        ]
        for start in range(0, len(outbox), BATCH):
            part = outbox[start : start + BATCH]
            self._x(
                conn,
                "INSERT INTO webhook_outbox(alert_id, event, url, body, created_at, next_at)"
                f" VALUES {', '.join(['(?, ?, ?, ?, ?, ?)'] * len(part))}",
                tuple(v for row in part for v in row),
            )
        return len(outbox)

    # -- listing -------------------------------------------------------------------------------
    async def alerts(
        self, state: str = "open", since: float = 0.0, limit: int = MAX_LISTED
    ) -> list[dict[str, Any]]:
        """Open alerts (most urgent, then oldest first), or alerts closed at or after
        ``since`` (latest first)."""
        limit = max(1, min(limit, MAX_LISTED))

        def work(conn: Any) -> list[Any]:
            if state == "open":
                sql = f"SELECT {_ALERT_FIELDS} FROM alerts WHERE closed_at IS NULL"
                return list(self._x(conn, sql + " ORDER BY opened_at, id").fetchall())
            return list(
                self._x(
                    conn,
                    f"SELECT {_ALERT_FIELDS} FROM alerts WHERE closed_at IS NOT NULL"
                    " AND closed_at >= ? ORDER BY closed_at DESC, id DESC LIMIT ?",
                    (since, limit),
                ).fetchall()
            )

        out = [_alert_dict(r) for r in await self.store.run(work)]
        if state == "open":
            out.sort(key=lambda a: (rules.severity_rank(a["severity"]), a["opened_at"], a["id"]))
            out = out[:limit]
        return out

    # -- the outbox ----------------------------------------------------------------------------
    async def claim(self, owner: str, now: float, lease: float, limit: int) -> list[Claimed]:
        """Take up to ``limit`` due deliveries for ``lease`` seconds; a row another instance
        holds is skipped, one whose lease ran out (its instance died) is due again."""
        lock = " FOR UPDATE SKIP LOCKED" if self.store.dialect.name == "postgresql" else ""

        def work(conn: Any) -> list[Any]:
            with self.store.dialect.transaction(conn):
                return list(
                    self._x(
                        conn,
                        "UPDATE webhook_outbox SET claimed_by = ?, claimed_until = ?,"
                        " attempts = attempts + 1 WHERE id IN (SELECT id FROM webhook_outbox"
                        " WHERE delivered_at IS NULL AND failed_at IS NULL AND next_at <= ?"
                        " AND (claimed_until IS NULL OR claimed_until <= ?)"
                        f" ORDER BY id LIMIT ?{lock})"
                        " RETURNING id, url, event, body, attempts",
                        (owner, now + lease, now, now, limit),
                    ).fetchall()
                )

        rows = await self.store.run(work)
        claimed = [Claimed(int(i), u, e, bytes(b), int(n)) for i, u, e, b, n in rows]
        return sorted(claimed, key=lambda c: c.id)

    async def delivered(self, claim: Claimed, owner: str, now: float) -> None:
        await self._settle(
            "UPDATE webhook_outbox SET delivered_at = ?, claimed_until = NULL, last_error = NULL"
            " WHERE id = ? AND claimed_by = ?",
            (now, claim.id, owner),
        )

    async def retry_later(
        self, claim: Claimed, owner: str, next_at: float | None, now: float, error: str
    ) -> None:
        """A failed attempt: due again at ``next_at``, or given up (``None``)."""
        if next_at is None:
            sql = "UPDATE webhook_outbox SET failed_at = ?, claimed_until = NULL, last_error = ?"
            params: tuple[Any, ...] = (now, error[:500])
        else:
            sql = "UPDATE webhook_outbox SET next_at = ?, claimed_until = NULL, last_error = ?"
            params = (next_at, error[:500])
        await self._settle(sql + " WHERE id = ? AND claimed_by = ?", (*params, claim.id, owner))

    async def _settle(self, sql: str, params: tuple[Any, ...]) -> None:
        def work(conn: Any) -> None:
            with self.store.dialect.transaction(conn):
                self._x(conn, sql, params)

        await self.store.run(work)

    async def outbox(self) -> list[dict[str, Any]]:
        """Every outbox row (for tests and ``printerhq server alerts --json``)."""
        cols = "id, alert_id, event, url, attempts, next_at, delivered_at, failed_at, last_error"
        names = cols.split(", ")

        def work(conn: Any) -> list[Any]:
            sql = f"SELECT {cols} FROM webhook_outbox ORDER BY id"
            return list(self._x(conn, sql).fetchall())

        return [dict(zip(names, r, strict=True)) for r in await self.store.run(work)]
