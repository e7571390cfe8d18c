"""Storage behind one interface: SQLite (default) or PostgreSQL (psycopg 3), same schema.

The server keeps no state outside the database: agents, tokens (hashed), idempotency keys,
devices and readings all live here, so several server instances can share one PostgreSQL.

Database calls are blocking DB-API calls run in worker threads (``trio.to_thread``) over a small
pool of connections; psycopg's async API is asyncio-only. SQL is written once with ``?``
placeholders and both dialects' shared syntax (``ON CONFLICT``, ``RETURNING``: SQLite >= 3.35).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import trio

from printerhq import limits, model
from printerhq.delta import digest as reading_digest
from printerhq.model import DeviceReport
from printerhq.server import migrations, retention

log = logging.getLogger("printerhq.server.store")

T = TypeVar("T")

STALE_AFTER = 15 * 60  # an agent silent this long is reported "stale" by /api/v1/agents
SQLITE_NAME = "printerhq.sqlite3"  # the database file in the data directory


def health_verdict(revoked: float | None, latest: float | None, now: float) -> str:
    """An account's health in the agent listings: revoked, never seen, ok or stale."""
    if revoked is not None:
        return "revoked"
    if latest is None:
        return "never_seen"
    return "ok" if now - latest < STALE_AFTER else "stale"


def account_fields(
    created: float,
    revoked: float | None,
    seen: float | None,
    address: str | None,
    batches: int,
    reports: int,
) -> dict[str, Any]:
    """The fields of an ``agents`` row that every listing of accounts shows."""
    return dict(
        created_at=created,
        revoked_at=revoked,
        last_seen=seen,
        last_address=address,
        batches=int(batches),
        reports=int(reports),
    )


class StoreError(RuntimeError):
    pass


class AgentRevoked(StoreError):
    pass


# agent: uploads reports; viewer: reads the fleet (API, dashboard); admin: reads the fleet and
# sets agents' remote configuration.
ROLES = ("agent", "viewer", "admin")
MAX_SITE_NAME = 64


def check_site_name(site: str) -> str:
    """A site name as given by an administrator: 1..64 printable characters, no control
    characters (it labels Prometheus series, CSV rows and pages)."""
    if not 0 < len(site) <= MAX_SITE_NAME or not site.isprintable() or site != site.strip():
        raise StoreError(
            f"site name must be 1 to {MAX_SITE_NAME} printable characters without surrounding "
            f"spaces, not {site[:MAX_SITE_NAME]!r}"
        )
    return site


@dataclass(frozen=True)
class Agent:
    """The holder of a token: an agent (uploads) or a viewer (reads). Least privilege: each
    role is refused by the other's endpoints."""

    id: int
    name: str
    role: str = "agent"


@dataclass(frozen=True)
class IngestResult:
    duplicate: bool
    reports: int


# The device row that list_devices, device and fleet return: one column list, one tuple of names
# (fleet adds the latest report after these columns).
_DEVICE_COLUMNS = (
    "id",
    "key",
    "address",
    "vendor",
    "model",
    "serial",
    "mac",
    "sys_name",
    "first_seen",
    "last_seen",
    "agent",
    "site",
)
# The site an agent (alias ``a``) belongs to: its own name unless one was set (migration 8). A
# device's site is the site of the agent that last reported it.
SITE_OF_AGENT = "COALESCE(a.site, a.name)"
# Text columns are cut on the way out: rows stored before the bounds of printerhq.limits may
# hold a megabyte-long model name (substr is the same in SQLite and PostgreSQL).
_DEVICE_FIELDS = (
    f"d.id, d.device_key, substr(d.address, 1, {limits.MAX_TEXT}),"
    f" substr(d.vendor, 1, {limits.MAX_TEXT}), substr(d.model, 1, {limits.MAX_TEXT}),"
    f" substr(d.serial, 1, {limits.MAX_TEXT}), substr(d.mac, 1, {limits.MAX_TEXT}),"
    f" substr(d.sys_name, 1, {limits.MAX_TEXT}), d.first_seen, d.last_seen, a.name,"
    f" {SITE_OF_AGENT}"
)
_DEVICE_FROM = "FROM devices d LEFT JOIN agents a ON a.id = d.last_agent_id"
# A stored report larger than this is left out of the fleet page (shown without its report):
# real reports are a few KB; rows stored before the bounds held megabytes.
MAX_SHOWN_REPORT_BYTES = 1 << 20
# Device ids are BIGINT: an id outside is no device (not an OverflowError in the driver).
MAX_DEVICE_ID = 2**63 - 1


def _is_device_id(device_id: int) -> bool:
    return 0 < device_id <= MAX_DEVICE_ID


def _newest_allowed(now: float | None = None) -> float:
    """The latest ``scanned_at`` a "latest reading" query considers: a row from further in the
    future (stored before the server checked timestamps) would pin the device for ever."""
    return (time.time() if now is None else now) + limits.MAX_CLOCK_SKEW


def _device_row(row: Sequence[object]) -> dict[str, object]:
    return dict(zip(_DEVICE_COLUMNS, row, strict=True))


# For the queries beside the store (fleet_queries.py, meter_reads_query.py, agents_page.py):
# the same device row, the same bounds and clock window, one definition.
DEVICE_COLUMNS, DEVICE_FIELDS, DEVICE_FROM = _DEVICE_COLUMNS, _DEVICE_FIELDS, _DEVICE_FROM
device_row, is_device_id, newest_allowed = _device_row, _is_device_id, _newest_allowed


def hash_token(token: str) -> str:
    """Tokens are 256-bit random strings, so a fast hash suffices (no dictionary to attack)."""
    return hashlib.sha256(token.encode()).hexdigest()


def device_key(identity: model.Identity) -> str:
    """A device's identity across address changes: serial, else MAC, else address."""
    if identity.serial:
        return f"serial:{identity.vendor or ''}:{identity.serial}"
    if identity.mac:
        return f"mac:{identity.mac.lower()}"
    return f"addr:{identity.address}"


# --------------------------------------------------------------------------------------------
# Dialects
# --------------------------------------------------------------------------------------------
class _Dialect:
    name: str
    retryable: tuple[type[BaseException], ...] = ()
    broken: tuple[type[BaseException], ...] = ()

    def connect(self) -> Any: ...
    def sql(self, text: str) -> str:
        return text

    @contextlib.contextmanager
    def transaction(self, conn) -> Iterator[None]:
        raise NotImplementedError
        yield

    def migration_lock(self, conn) -> None: ...

    def reserve_ids(self, conn, table: str, count: int) -> list[int]:
        """``count`` fresh ids of ``table``'s auto-increment key, in one query."""
        raise NotImplementedError

    def insert_rows(
        self, conn, table: str, columns: Sequence[str], rows: Sequence[Sequence[object]]
    ) -> None:
        """Insert ``rows`` into ``table`` in bulk (one statement, not one per row)."""
        raise NotImplementedError

    def upsert_devices(self, conn, rows: Sequence[Sequence[object]], newest: float) -> None:
        """Upsert ``rows`` (the columns of ``_UPSERT_DEVICE_INTO``, one row per device key, in
        key order); ``newest``: the latest ``last_seen`` that may pin a device's row."""
        conn.cursor().executemany(
            self.sql(f"{_UPSERT_DEVICE_INTO} {_UPSERT_DEVICE_ROW} {_UPSERT_DEVICE_CONFLICT}"),
            [(*row, newest, newest, newest) for row in rows],
        )

    @contextlib.contextmanager
    def pipeline(self, conn) -> Iterator[Callable[[], None]]:
        """Queue statements without waiting for each answer; yields ``sync()``, which waits
        for the answers so far (a ``rowcount`` is known only after it). A no-op by default."""
        yield lambda: None


class _SQLite(_Dialect):
    name = "sqlite"

    def __init__(self, path: Path):
        self.path = path
        self.retryable = (sqlite3.OperationalError,)
        _private_file(path)  # before any connection of this process: see _private_file

    def connect(self):
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process crashes
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    @contextlib.contextmanager
    def transaction(self, conn):
        conn.execute("BEGIN IMMEDIATE")  # take the write lock up front: no upgrade deadlocks
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def migration_lock(self, conn) -> None:
        pass  # BEGIN IMMEDIATE already serialises writers

    def reserve_ids(self, conn, table: str, count: int) -> list[int]:
        # Called inside a write transaction (BEGIN IMMEDIATE holds the database's write lock):
        # no other writer can take these ids before the rows are in. AUTOINCREMENT never
        # re-uses an id below sqlite_sequence's, and an explicit id above it moves it on.
        row = conn.execute(
            "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = ?), 0), "
            f"COALESCE((SELECT MAX(id) FROM {table}), 0))",
            (table,),
        ).fetchone()
        first = int(row[0]) + 1
        return list(range(first, first + count))

    def insert_rows(
        self, conn, table: str, columns: Sequence[str], rows: Sequence[Sequence[object]]
    ) -> None:
        if rows:
            marks = ", ".join("?" * len(columns))
            conn.executemany(f"INSERT INTO {table}({', '.join(columns)}) VALUES ({marks})", rows)


def _private_file(path: Path) -> None:
    """Create the database file readable by its owner only (0600) before SQLite opens it; its
    -wal and -shm files take the same mode (https://sqlite.org/tempfiles.html). A file that
    exists keeps its owner's bits and loses group's and others'.

    An existing file is never opened here: closing any descriptor of a database file drops the
    POSIX locks every SQLite connection of this process holds on it
    (https://sqlite.org/howtocorrupt.html section 2.2); ``chmod`` works on the path."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass
    except OSError:
        return  # SQLite's own error (a directory, no permission) is the clearer one
    with contextlib.suppress(OSError):
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            path.chmod(mode & 0o700)


class _Postgres(_Dialect):
    name = "postgresql"

    def __init__(self, url: str):
        import psycopg

        self.url = url
        self._psycopg = psycopg
        self.retryable = (
            psycopg.errors.DeadlockDetected,
            psycopg.errors.SerializationFailure,
        )
        self.broken = (psycopg.OperationalError, psycopg.InterfaceError)

    def connect(self):
        return self._psycopg.connect(self.url, autocommit=True, connect_timeout=10)

    def sql(self, text: str) -> str:
        return text.replace("?", "%s")

    @contextlib.contextmanager
    def transaction(self, conn):
        with conn.transaction():
            yield

    def migration_lock(self, conn) -> None:
        # Two instances starting together on one database: only one migrates at a time.
        conn.execute("SELECT pg_advisory_xact_lock(7340111)")

    def reserve_ids(self, conn, table: str, count: int) -> list[int]:
        # nextval is never rolled back and never handed out twice, whatever other instances do.
        rows = conn.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            (table, count),
        ).fetchall()
        return [int(r[0]) for r in rows]

    def insert_rows(
        self, conn, table: str, columns: Sequence[str], rows: Sequence[Sequence[object]]
    ) -> None:
        # One statement per table whatever the row count: each column travels as one array
        # (binary, dumped in C) and ``unnest`` turns the arrays back into rows. executemany
        # spent ~25 us of Python per row on the statement of each row; COPY is not allowed
        # inside a pipeline and costs two round trips of its own per table.
        if not rows:
            return
        types = _PG_COLUMN_TYPES[table]
        arrays = ", ".join(f"%b::{types[c]}[]" for c in columns)  # binary: no escaping
        conn.execute(
            f"INSERT INTO {table}({', '.join(columns)}) SELECT * FROM unnest({arrays})",
            [list(column) for column in zip(*rows, strict=True)],
        )

    def upsert_devices(self, conn, rows: Sequence[Sequence[object]], newest: float) -> None:
        # unnest keeps the arrays' order: rows are still locked in key order.
        if not rows:
            return  # a batch whose every report was refused
        conflict = _UPSERT_DEVICE_CONFLICT.replace("?", "%b")
        conn.execute(
            f"{_UPSERT_DEVICE_INTO} {_UPSERT_DEVICE_ARRAYS} {conflict}",
            [*(list(column) for column in zip(*rows, strict=True)), newest, newest, newest],
        )

    @contextlib.contextmanager
    def pipeline(self, conn) -> Iterator[Callable[[], None]]:
        with conn.pipeline() as pipeline:
            yield pipeline.sync


# --------------------------------------------------------------------------------------------
# Batched ingest: one statement per table and batch
# --------------------------------------------------------------------------------------------
_UPSERT_DEVICE_INTO = """
    INSERT INTO devices(device_key, address, vendor, model, serial, mac, sys_name,
                        first_seen, last_seen, last_agent_id)"""
_UPSERT_DEVICE_ROW = "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
# PostgreSQL: every device of the batch in one statement, its columns as binary arrays.
_UPSERT_DEVICE_ARRAYS = (
    "SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::text[], "
    "%b::text[], %b::text[], %b::double precision[], %b::double precision[], %b::bigint[])"
)
_UPSERT_DEVICE_CONFLICT = """
    ON CONFLICT (device_key) DO UPDATE SET
        address = CASE WHEN excluded.last_seen >= devices.last_seen
                  OR devices.last_seen > ?
                  THEN excluded.address ELSE devices.address END,
        last_agent_id = CASE WHEN excluded.last_seen >= devices.last_seen
                        OR devices.last_seen > ?
                        THEN excluded.last_agent_id ELSE devices.last_agent_id END,
        vendor = COALESCE(excluded.vendor, devices.vendor),
        model = COALESCE(excluded.model, devices.model),
        serial = COALESCE(excluded.serial, devices.serial),
        mac = COALESCE(excluded.mac, devices.mac),
        sys_name = COALESCE(excluded.sys_name, devices.sys_name),
        first_seen = CASE WHEN excluded.first_seen < devices.first_seen
                     THEN excluded.first_seen ELSE devices.first_seen END,
        last_seen = CASE WHEN excluded.last_seen > devices.last_seen
                    OR devices.last_seen > ?
                    THEN excluded.last_seen ELSE devices.last_seen END"""
_READING_COLUMNS = (
    "id",
    "device_id",
    "agent_id",
    "batch_id",
    "scanned_at",
    "received_at",
    "report",
    "schema_version",
    "wire_minor",
    "digest",
)
_COUNTER_COLUMNS = ("reading_id", "device_id", "scanned_at", "name", "value")
_SUPPLY_COLUMNS = (
    "reading_id",
    "device_id",
    "scanned_at",
    "idx",
    "description",
    "kind",
    "colour",
    "level",
    "capacity",
    "percent",
    "state",
)
# PostgreSQL types of the columns ``insert_rows`` fills (its arrays are cast to them).
_PG_COLUMN_TYPES = {
    "readings": dict(
        id="bigint",
        device_id="bigint",
        agent_id="bigint",
        batch_id="text",
        scanned_at="double precision",
        received_at="double precision",
        report="bytea",
        schema_version="integer",
        wire_minor="integer",
        digest="bytea",
    ),
    "counter_readings": dict(
        reading_id="bigint",
        device_id="bigint",
        scanned_at="double precision",
        name="text",
        value="bigint",
    ),
    "supply_readings": dict(
        reading_id="bigint",
        device_id="bigint",
        scanned_at="double precision",
        idx="integer",
        description="text",
        kind="text",
        colour="text",
        level="bigint",
        capacity="bigint",
        percent="double precision",
        state="text",
    ),
}
# Keys per ``IN (...)`` list: under SQLite's oldest limit of 999 bound variables.
_IN_CHUNK = 500


# --------------------------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------------------------
class Store:
    """Async facade over a pool of blocking connections. Open with ``await Store.open(...)``."""

    def __init__(self, dialect: _Dialect, pool_size: int):
        self.dialect = dialect
        self._idle: list[Any] = []
        self._slots = trio.Semaphore(pool_size)
        self._limiter = trio.CapacityLimiter(pool_size)
        # /healthz has a connection of its own: behind a burst of ingest it would otherwise wait
        # its turn in the pool for seconds, and a load balancer would pull a healthy instance.
        self._health_conn: Any = None
        self._health_limiter = trio.CapacityLimiter(1)
        # SQLite has one writer at a time: batches of this process queue here, in order, rather
        # than in SQLite's busy handler, which sleeps 1, 2, 5, 10... ms between tries while the
        # lock is held for about one. PostgreSQL writes concurrently: no queue.
        self._writer: contextlib.AbstractAsyncContextManager[Any] = (
            trio.Lock() if dialect.name == "sqlite" else contextlib.nullcontext()
        )

    @classmethod
    async def open(
        cls,
        data_dir: str | Path,
        database: str | None = None,
        pool_size: int | None = None,
        *,
        migrate_to: int | None = None,
    ) -> Store:
        """SQLite file ``SQLITE_NAME`` in ``data_dir`` unless ``database`` is a
        PostgreSQL URL.
        The schema is migrated to the latest version (``migrate_to``: stop at an older one, to
        build a database as an older release left it, for upgrade tests)."""
        if database and database.startswith(("postgresql://", "postgres://")):
            store = cls(_Postgres(database), pool_size or 8)
        elif database and database.startswith("sqlite:///"):
            store = cls(_SQLite(Path(database[len("sqlite:///") :])), pool_size or 4)
        elif database:
            raise StoreError("--database must be postgresql://... or sqlite:///path")
        else:
            Path(data_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
            store = cls(_SQLite(Path(data_dir) / SQLITE_NAME), pool_size or 4)
        await store.migrate(migrate_to)
        return store

    async def aclose(self) -> None:
        if self._health_conn is not None:
            with contextlib.suppress(Exception):
                self._health_conn.close()
            self._health_conn = None
        idle, self._idle = self._idle, []
        for conn in idle:
            with contextlib.suppress(Exception):
                conn.close()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(conn, *args)`` in a worker thread on a pooled connection, retrying
        deadlocks and reconnecting after a dropped connection (PostgreSQL restart)."""
        async with self._slots:
            for attempt in range(5):
                conn = self._idle.pop() if self._idle else None
                try:
                    if conn is None:
                        conn = await trio.to_thread.run_sync(
                            self.dialect.connect, limiter=self._limiter
                        )
                    result = await trio.to_thread.run_sync(fn, conn, *args, limiter=self._limiter)
                except self.dialect.retryable as exc:
                    self._idle.append(conn)
                    if attempt == 4:
                        raise
                    log.info("retrying transaction after %s", type(exc).__name__)
                    await trio.sleep(0.05 * (attempt + 1))
                    continue
                except self.dialect.broken:
                    if conn is not None:
                        with contextlib.suppress(Exception):
                            conn.close()
                    if attempt == 4:
                        raise
                    await trio.sleep(0.2 * (attempt + 1))
                    continue
                except BaseException:
                    if conn is not None:
                        with contextlib.suppress(Exception):
                            conn.close()
                    raise
                self._idle.append(conn)
                return result
        raise AssertionError("unreachable")

    def _x(self, conn, sql: str, params: tuple = ()):  # execute with dialect placeholders
        return conn.execute(self.dialect.sql(sql), params)

    execute = _x  # public: for the queries beside the store (fleet_queries)

    # -- schema --------------------------------------------------------------------------------
    async def migrate(self, target: int | None = None) -> int:
        """Apply the migrations not yet applied, up to ``target`` (default: all)."""
        return await self.run(self._migrate, migrations.LATEST if target is None else target)

    def _migrate(self, conn, target: int) -> int:
        d = self.dialect
        with d.transaction(conn):
            d.migration_lock(conn)
            self._x(
                conn,
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at "
                "DOUBLE PRECISION NOT NULL)",
            )
            row = self._x(conn, "SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
            current = int(row[0])
            for version in range(current + 1, target + 1):
                for statement in migrations.statements(d.name, version):
                    self._x(conn, statement)
                self._x(
                    conn,
                    "INSERT INTO schema_version(version, applied_at) VALUES (?, ?)",
                    (version, time.time()),
                )
                log.info("database migrated to schema version %d", version)
        return max(current, target)

    async def schema_version(self) -> int:
        return await self.run(
            lambda c: int(self._x(c, "SELECT MAX(version) FROM schema_version").fetchone()[0])
        )

    async def health(self) -> int:
        """The schema version, read on the health check's own connection (not the pool's): a
        database that answers at all answers at once, even while ingest fills the pool. A
        failure drops the connection (the next check opens a new one) and raises."""

        def work() -> int:
            if self._health_conn is None:
                self._health_conn = self.dialect.connect()
            try:
                row = self._x(
                    self._health_conn, "SELECT MAX(version) FROM schema_version"
                ).fetchone()
            except BaseException:
                with contextlib.suppress(Exception):
                    self._health_conn.close()
                self._health_conn = None
                raise
            return int(row[0])

        return await trio.to_thread.run_sync(work, limiter=self._health_limiter)

    async def ping(self) -> bool:
        await self.run(lambda c: self._x(c, "SELECT 1").fetchone())
        return True

    # -- agents --------------------------------------------------------------------------------
    async def add_agent(
        self, name: str, token: str, role: str = "agent", *, site: str | None = None
    ) -> None:
        """Register ``name`` with ``token`` (stored hashed) in ``role``; a revoked name of the
        same role is re-issued. Agents and viewers share one namespace of names. ``site``: the
        site an agent belongs to (default: its own name)."""
        if role not in ROLES:
            raise StoreError(f"unknown role {role!r}")
        if site is not None:
            check_site_name(site)
        await self.run(self._add_agent, name, hash_token(token), role)
        if site is not None:
            await self.set_site(name, site)

    async def set_site(self, name: str, site: str) -> None:
        """Put agent ``name`` in ``site``; its devices follow (a device belongs to the site of
        the agent that last reported it)."""
        check_site_name(site)

        def work(conn):
            with self.dialect.transaction(conn):
                sql = "UPDATE agents SET site = ? WHERE name = ? AND role = 'agent'"
                return self._x(conn, sql, (site, name)).rowcount

        if not await self.run(work):
            raise StoreError(f"no agent named {name!r}")

    async def add_viewer(self, name: str, token: str) -> None:
        """Register a viewer: its token reads the fleet (API, /metrics, dashboard), never
        uploads."""
        await self.add_agent(name, token, role="viewer")

    def _add_agent(self, conn, name: str, token_hash: str, role: str) -> None:
        with self.dialect.transaction(conn):
            row = self._x(
                conn, "SELECT revoked_at, role FROM agents WHERE name = ?", (name,)
            ).fetchone()
            if row is None:
                self._x(
                    conn,
                    "INSERT INTO agents(name, token_hash, created_at, role) VALUES (?, ?, ?, ?)",
                    (name, token_hash, time.time(), role),
                )
            elif row[1] != role:
                raise StoreError(f"{name!r} is already the name of a {row[1]}; pick another name")
            elif row[0] is not None:
                self._x(
                    conn,
                    "UPDATE agents SET token_hash = ?, revoked_at = NULL WHERE name = ?",
                    (token_hash, name),
                )
            else:
                raise StoreError(
                    f"{role} {name!r} already exists; revoke it first to issue a new token"
                )

    async def revoke_agent(self, name: str, role: str = "agent") -> bool:
        """Revoke the active token of ``name`` in ``role``; False when there is none."""

        def work(conn):
            with self.dialect.transaction(conn):
                return (
                    self._x(
                        conn,
                        "UPDATE agents SET revoked_at = ? WHERE name = ? AND role = ? AND "
                        "revoked_at IS NULL",
                        (time.time(), name, role),
                    ).rowcount
                    > 0
                )

        return await self.run(work)

    async def revoke_viewer(self, name: str) -> bool:
        return await self.revoke_agent(name, role="viewer")

    async def token_holder(self, token: str) -> Agent | None:
        """The active agent or viewer holding ``token``, or ``None`` (unknown or revoked)."""

        def work(conn):
            row = self._x(
                conn,
                "SELECT id, name, role FROM agents WHERE token_hash = ? AND revoked_at IS NULL",
                (hash_token(token),),
            ).fetchone()
            return Agent(int(row[0]), row[1], row[2]) if row else None

        return await self.run(work)

    async def agent_for_token(self, token: str) -> Agent | None:
        """The active *agent* holding ``token``, or ``None`` (unknown, revoked, or a viewer's)."""
        holder = await self.token_holder(token)
        return holder if holder is not None and holder.role == "agent" else None

    async def list_tokens(self, now: float | None = None) -> list[dict]:
        """Every token holder, agents and viewers, with its ``role`` (no token material)."""
        return await self._list(None, now)

    async def list_agents(self, now: float | None = None) -> list[dict]:
        """Agents only (what ``/api/v1/agents`` serves)."""
        return await self._list("agent", now)

    async def _list(self, role: str | None, now: float | None) -> list[dict]:
        now = time.time() if now is None else now

        def work(conn):
            sql = (
                "SELECT name, created_at, revoked_at, last_seen, last_address, batches_total, "
                f"reports_total, role, {SITE_OF_AGENT} FROM agents a"
            )
            if role is None:
                return self._x(conn, sql + " ORDER BY role, name").fetchall()
            return self._x(conn, sql + " WHERE role = ? ORDER BY name", (role,)).fetchall()

        out = []
        rows = await self.run(work)
        for name, created, revoked, seen, address, batches, reports, holder_role, site in rows:
            out.append(
                {
                    "name": name,
                    **account_fields(created, revoked, seen, address, batches, reports),
                    "health": health_verdict(revoked, seen, now),
                }
            )
            if holder_role == "agent":
                out[-1]["site"] = site
            if role is None:
                out[-1]["role"] = holder_role
        return out

    # -- ingest --------------------------------------------------------------------------------
    async def ingest(
        self,
        agent: Agent,
        batch_id: str,
        reports: list[DeviceReport],
        address: str | None = None,
        *,
        version: tuple[int, int] = (1, 0),
    ) -> IngestResult:
        """Store a batch once per ``(agent, batch_id)``; a repeat is acknowledged as duplicate.
        ``version`` is the wire ``(major, minor)`` the agent declared, kept with the batch and
        each reading (with the report's own ``schema``)."""
        async with self._writer:
            return await self.run(self._ingest, agent, batch_id, reports, address, version)

    def _ingest(
        self,
        conn,
        agent: Agent,
        batch_id: str,
        reports: list[DeviceReport],
        address: str | None,
        version: tuple[int, int],
    ) -> IngestResult:
        now = time.time()
        x = self._x
        major, minor = version
        # Pipelined on PostgreSQL: three round trips for the whole batch (begin + batch row +
        # agent row; devices + their ids + reading ids; rows + counts + commit), not one per row.
        with self.dialect.pipeline(conn) as sync, self.dialect.transaction(conn):
            batch_row = x(
                conn,
                "INSERT INTO batches(agent_id, batch_id, received_at, reports, wire_major, "
                "wire_minor) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (agent.id, batch_id, now, len(reports), major, minor),
            )
            agent_row = x(
                conn,
                "UPDATE agents SET last_seen = ?, last_address = ? WHERE id = ? AND revoked_at "
                "IS NULL",
                (now, address, agent.id),
            )
            sync()
            if not agent_row.rowcount:
                raise AgentRevoked(agent.name)  # the rollback takes the batch row back out
            if not batch_row.rowcount:
                return IngestResult(duplicate=True, reports=0)
            ids, reading_ids = self._upsert_devices(conn, agent, reports, now)
            self._insert_readings(conn, agent, batch_id, reports, ids, reading_ids, now, minor)
            x(
                conn,
                "UPDATE agents SET batches_total = batches_total + 1, reports_total = "
                "reports_total + ? WHERE id = ?",
                (len(reports), agent.id),
            )
        return IngestResult(duplicate=False, reports=len(reports))

    def _upsert_devices(
        self, conn, agent: Agent, reports: list[DeviceReport], now: float
    ) -> tuple[dict[str, int], list[int]]:
        """Upsert the batch's devices (one row per device key, from its newest report) in one
        ``executemany`` (pipelined on PostgreSQL), then read their ids in one query; and reserve
        the readings' ids (the same round trip on PostgreSQL): ``(ids by key, reading ids)``.
        Key order: concurrent batches lock device rows in the same order (no deadlock)."""
        latest: dict[str, DeviceReport] = {}
        for report in reports:
            key = device_key(report.identity)
            if key not in latest or report.scanned_at >= latest[key].scanned_at:
                latest[key] = report
        keys = sorted(latest)
        # a last_seen stored from the future (before the clock check) no longer pins the
        # device's address, agent and last_seen
        newest = _newest_allowed(now)
        rows = []
        for key in keys:
            ident, seen = latest[key].identity, latest[key].scanned_at
            rows.append(
                (
                    key,
                    ident.address,
                    ident.vendor,
                    ident.model,
                    ident.serial,
                    ident.mac,
                    ident.sys_name,
                    seen,
                    seen,
                    agent.id,
                )
            )
        self.dialect.upsert_devices(conn, rows, newest)
        found = []
        for start in range(0, len(keys), _IN_CHUNK):
            chunk = keys[start : start + _IN_CHUNK]
            marks = ", ".join("?" * len(chunk))
            sql = f"SELECT device_key, id FROM devices WHERE device_key IN ({marks})"
            found.append(self._x(conn, sql, tuple(chunk)))
        # Fetching the reserved ids waits for every answer queued so far (pipeline): the
        # device ids below are already here.
        reading_ids = self.dialect.reserve_ids(conn, "readings", len(reports))
        ids: dict[str, int] = {}
        for cursor in found:
            ids.update((k, int(i)) for k, i in cursor.fetchall())
        return ids, reading_ids

    def _insert_readings(
        self,
        conn,
        agent: Agent,
        batch_id: str,
        reports: list[DeviceReport],
        ids: dict[str, int],
        reading_ids: list[int],
        now: float,
        minor: int,
    ) -> None:
        """The batch's readings, counter and supply rows in three bulk inserts (``executemany``,
        pipelined on PostgreSQL). Reading ids were reserved up front in one query,
        so the counter and supply rows name their reading without a round trip each."""
        readings: list[tuple[object, ...]] = []
        counters: list[tuple[object, ...]] = []
        supplies: list[tuple[object, ...]] = []
        for report, reading_id in zip(reports, reading_ids, strict=True):
            device_id = ids[device_key(report.identity)]
            stored = model.encode(report)
            at = report.scanned_at
            readings.append(
                (
                    reading_id,
                    device_id,
                    agent.id,
                    batch_id,
                    at,
                    now,
                    stored,
                    report.schema,
                    minor,
                    reading_digest(stored),
                )
            )
            counters.extend((reading_id, device_id, at, c.name, c.value) for c in report.counters)
            supplies.extend(
                (
                    reading_id,
                    device_id,
                    at,
                    s.index,
                    s.description,
                    s.kind,
                    s.colour,
                    s.level,
                    s.capacity,
                    s.percent,
                    s.state,
                )
                for s in report.supplies
            )
        self.dialect.insert_rows(conn, "readings", _READING_COLUMNS, readings)
        self.dialect.insert_rows(conn, "counter_readings", _COUNTER_COLUMNS, counters)
        self.dialect.insert_rows(conn, "supply_readings", _SUPPLY_COLUMNS, supplies)

    async def reading_bases(self, agent: Agent, digests: set[bytes]) -> dict[bytes, bytes]:
        """The stored reports of ``agent`` named by ``digests`` (the bases of its deltas,
        printerhq.delta), digest -> report bytes; the ones not held are missing."""
        wanted = sorted(digests)[:1000]

        def work(conn):
            found: dict[bytes, bytes] = {}
            for start in range(0, len(wanted), 100):
                chunk = wanted[start : start + 100]
                rows = self._x(
                    conn,
                    "SELECT digest, report FROM readings WHERE agent_id = ? AND digest IN "
                    f"({', '.join('?' * len(chunk))})",
                    (agent.id, *chunk),
                ).fetchall()
                found.update((bytes(d), bytes(r)) for d, r in rows)
            return found

        return await self.run(work) if wanted else {}

    async def count_refused(self, agent: Agent, refused: int, reason: str) -> None:
        """Add ``refused`` reports to the agent's count of refused reports, with the latest
        reason (shown by ``/api/v1/agents``)."""

        def work(conn):
            with self.dialect.transaction(conn):
                self._x(
                    conn,
                    "UPDATE agents SET reports_refused = reports_refused + ?, last_refusal = ?, "
                    "last_refusal_at = ? WHERE id = ?",
                    (refused, reason, time.time(), agent.id),
                )

        await self.run(work)

    # -- retention -----------------------------------------------------------------------------
    async def prune(
        self,
        keep_raw_days: int = retention.DEFAULT_KEEP_RAW_DAYS,
        *,
        now: float | None = None,
        dry_run: bool = False,
        full: bool = False,
        devices_per_step: int = retention.DEVICES_PER_STEP,
        days_per_step: int = retention.DAYS_PER_STEP,
        lease_seconds: float = 600.0,
    ) -> retention.PruneResult:
        """Thin readings older than ``keep_raw_days`` to one per device per UTC day, keeping
        what billing and forecasts need (``printerhq.server.retention``).

        Bounded steps, each its own short transaction (``devices_per_step`` devices over
        ``days_per_step`` days); the pass resumes where the last one stopped (``full``: from the
        oldest reading, for readings that arrived late). One instance at a time holds the pass
        (a lease in ``retention_state``); another finds it held and skips. ``dry_run`` counts
        what would go and changes nothing."""
        if not 0 <= keep_raw_days <= retention.MAX_KEEP_RAW_DAYS:
            raise StoreError(f"keep_raw_days must be 0 to {retention.MAX_KEEP_RAW_DAYS}")
        now = time.time() if now is None else now
        cutoff = retention.raw_cutoff(now, keep_raw_days)
        result = retention.PruneResult(cutoff=cutoff)
        holder = uuid.uuid4().hex
        began = await self.run(self._retention_begin, holder, now, lease_seconds, dry_run)
        if began is None:
            result.skipped = "another instance is pruning"
            return result
        done_until, oldest = began
        if oldest is None:
            result.skipped = "no devices"
            return result
        start = oldest if full else max(done_until, oldest)
        start = retention.day_of(start) * retention.DAY
        try:
            while start < cutoff:
                end = min(start + days_per_step * retention.DAY, cutoff)
                after = 0
                while True:
                    ids = await self.run(self._device_ids_after, after, devices_per_step)
                    if not ids:
                        break
                    step = await self.run(
                        self._prune_step, ids, start, end, dry_run, holder, lease_seconds
                    )
                    result.readings += step.readings
                    result.counter_rows += step.counter_rows
                    result.supply_rows += step.supply_rows
                    result.moved_rows += step.moved_rows
                    after = ids[-1]
                if not dry_run:
                    await self.run(self._retention_advance, end, holder)
                start = end
        finally:
            if not dry_run:
                with trio.CancelScope(shield=True):
                    await self.run(self._retention_release, holder)
        return result

    def _retention_begin(
        self, conn, holder: str, now: float, lease_seconds: float, dry_run: bool
    ) -> tuple[float, float | None] | None:
        """Take the lease (unless dry): (done_until, the oldest first_seen), or None if held."""
        with self.dialect.transaction(conn):
            if not dry_run:
                taken = self._x(
                    conn,
                    "UPDATE retention_state SET lease_holder = ?, lease_until = ? WHERE name = "
                    "'readings' AND lease_until < ?",
                    (holder, now + lease_seconds, now),
                ).rowcount
                if not taken:
                    return None
            done = self._x(
                conn, "SELECT done_until FROM retention_state WHERE name = 'readings'"
            ).fetchone()
            oldest = self._x(conn, "SELECT MIN(first_seen) FROM devices").fetchone()[0]
        return float(done[0]) if done else 0.0, None if oldest is None else float(oldest)

    def _retention_advance(self, conn, done_until: float, holder: str) -> None:
        with self.dialect.transaction(conn):
            self._x(
                conn,
                "UPDATE retention_state SET done_until = ? WHERE name = 'readings' AND "
                "lease_holder = ? AND done_until < ?",
                (done_until, holder, done_until),
            )

    def _retention_release(self, conn, holder: str) -> None:
        with self.dialect.transaction(conn):
            self._x(
                conn,
                "UPDATE retention_state SET lease_until = 0 WHERE name = 'readings' AND "
                "lease_holder = ?",
                (holder,),
            )

    def _device_ids_after(self, conn, after: int, count: int) -> list[int]:
        rows = self._x(
            conn, "SELECT id FROM devices WHERE id > ? ORDER BY id LIMIT ?", (after, count)
        ).fetchall()
        return [int(r[0]) for r in rows]

    def _prune_step(
        self,
        conn,
        device_ids: list[int],
        start: float,
        end: float,
        dry_run: bool,
        holder: str,
        lease_seconds: float,
    ) -> retention.PruneResult:
        """One bounded step: these devices, readings in [start, end), one transaction."""
        x = self._x
        marks = ", ".join("?" * len(device_ids))
        context = contextlib.nullcontext() if dry_run else self.dialect.transaction(conn)
        with context:
            if not dry_run:
                renewed = x(
                    conn,
                    "UPDATE retention_state SET lease_until = ? WHERE name = 'readings' AND "
                    "lease_holder = ?",
                    (time.time() + lease_seconds, holder),
                ).rowcount
                if not renewed:
                    raise StoreError("the retention lease was lost; another instance prunes")
            readings = [
                (int(i), int(d), float(t))
                for i, d, t in x(
                    conn,
                    f"SELECT id, device_id, scanned_at FROM readings WHERE device_id IN ({marks})"
                    " AND scanned_at >= ? AND scanned_at < ?",
                    (*device_ids, start, end),
                ).fetchall()
            ]
            days = {(d, retention.day_of(t)) for _, d, t in readings}
            if len(days) == len(readings):
                return retention.PruneResult()  # one reading a day already: nothing to thin
            ids = [i for i, _, _ in readings]
            counters: list[retention.CounterRow] = []
            supplies: list[retention.SupplyRow] = []
            for first in range(0, len(ids), _IN_CHUNK):
                chunk = ids[first : first + _IN_CHUNK]
                in_ = ", ".join("?" * len(chunk))
                counters += x(
                    conn,
                    "SELECT reading_id, device_id, name, value, scanned_at FROM counter_readings "
                    f"WHERE reading_id IN ({in_})",
                    tuple(chunk),
                ).fetchall()
                supplies += x(
                    conn,
                    "SELECT reading_id, device_id, idx, level, percent, scanned_at FROM "
                    f"supply_readings WHERE reading_id IN ({in_})",
                    tuple(chunk),
                ).fetchall()
            plan = retention.plan(readings, counters, supplies)
            if not dry_run:
                sql = self.dialect.sql
                cur = conn.cursor()
                if plan.move_counters:
                    cur.executemany(
                        sql(
                            "UPDATE counter_readings SET reading_id = ? WHERE device_id = ? AND "
                            "name = ? AND scanned_at = ? AND reading_id = ?"
                        ),
                        plan.move_counters,
                    )
                if plan.drop_counters:
                    cur.executemany(
                        sql(
                            "DELETE FROM counter_readings WHERE device_id = ? AND name = ? AND "
                            "scanned_at = ? AND reading_id = ?"
                        ),
                        plan.drop_counters,
                    )
                if plan.move_supplies:
                    cur.executemany(
                        sql(
                            "UPDATE supply_readings SET reading_id = ? WHERE device_id = ? AND "
                            "idx = ? AND scanned_at = ? AND reading_id = ?"
                        ),
                        plan.move_supplies,
                    )
                if plan.drop_supplies:
                    cur.executemany(
                        sql(
                            "DELETE FROM supply_readings WHERE device_id = ? AND idx = ? AND "
                            "scanned_at = ? AND reading_id = ?"
                        ),
                        plan.drop_supplies,
                    )
                if plan.drop_readings:
                    cur.executemany(
                        sql("DELETE FROM readings WHERE id = ?"),
                        [(i,) for i in plan.drop_readings],
                    )
        return retention.PruneResult(
            readings=len(plan.drop_readings),
            counter_rows=len(plan.drop_counters),
            supply_rows=len(plan.drop_supplies),
            moved_rows=len(plan.move_counters) + len(plan.move_supplies),
        )

    # -- queries -------------------------------------------------------------------------------
    async def list_devices(self) -> list[dict]:
        def work(conn):
            return self._x(conn, f"SELECT {_DEVICE_FIELDS} {_DEVICE_FROM} ORDER BY d.id").fetchall()

        return [_device_row(row) for row in await self.run(work)]

    async def latest(self, device_id: int) -> dict | None:
        """The device's most recent report, as JSON-ready builtins."""

        if not _is_device_id(device_id):
            return None

        def work(conn):
            return self._x(
                conn,
                "SELECT report, scanned_at, received_at FROM readings WHERE device_id = ? AND "
                "scanned_at <= ? ORDER BY scanned_at DESC, id DESC LIMIT 1",
                (device_id, _newest_allowed()),
            ).fetchone()

        row = await self.run(work)
        if row is None:
            return None
        report = model.repair_report(bytes(row[0]))
        if report is None:
            return None
        return dict(
            device_id=device_id,
            scanned_at=row[1],
            received_at=row[2],
            report=model.to_builtins(report),
        )

    async def since_last_scans(self, device_id: int, scans: int) -> float:
        """The ``scanned_at`` of the device's ``scans``-th newest reading (0.0 when it has fewer):
        a ``since`` that keeps only the last ``scans`` scans of a long history."""

        if not _is_device_id(device_id):
            return 0.0

        def work(conn):
            return self._x(
                conn,
                "SELECT scanned_at FROM readings WHERE device_id = ? AND scanned_at <= ? ORDER BY "
                "scanned_at DESC LIMIT 1 OFFSET ?",
                (device_id, _newest_allowed(), max(0, scans - 1)),
            ).fetchone()

        row = await self.run(work)
        return float(row[0]) if row else 0.0

    async def counter_history(
        self, device_id: int, name: str | None = None, since: float = 0.0, limit: int = 1000
    ) -> list[dict]:
        def work(conn):
            sql = (
                "SELECT scanned_at, name, value FROM counter_readings WHERE device_id = ? AND "
                "scanned_at >= ? AND scanned_at <= ?"
            )
            params: tuple = (device_id, since, _newest_allowed())
            if name:
                sql += " AND name = ?"
                params += (name,)
            return self._x(
                conn, sql + " ORDER BY scanned_at, name LIMIT ?", params + (limit,)
            ).fetchall()

        return [dict(scanned_at=t, name=n, value=int(v)) for t, n, v in await self.run(work)]

    async def supply_history(
        self, device_id: int, since: float = 0.0, limit: int = 1000
    ) -> list[dict]:
        def work(conn):
            return self._x(
                conn,
                "SELECT scanned_at, idx, description, kind, colour, level, capacity, percent, "
                "state FROM supply_readings WHERE device_id = ? AND scanned_at >= ? AND "
                "scanned_at <= ? ORDER BY scanned_at, idx LIMIT ?",
                (device_id, since, _newest_allowed(), limit),
            ).fetchall()

        cols = (
            "scanned_at",
            "index",
            "description",
            "kind",
            "colour",
            "level",
            "capacity",
            "percent",
            "state",
        )
        return [dict(zip(cols, row, strict=True)) for row in await self.run(work)]

    async def device(self, device_id: int) -> dict | None:
        """One device's row (the fields of ``list_devices``), or ``None``."""

        if not _is_device_id(device_id):
            return None

        def work(conn):
            return self._x(
                conn, f"SELECT {_DEVICE_FIELDS} {_DEVICE_FROM} WHERE d.id = ?", (device_id,)
            ).fetchone()

        row = await self.run(work)
        return _device_row(row) if row else None

    async def fleet(self, limit: int = 10_000) -> list[dict]:
        """Every device (as ``list_devices``) with its latest report decoded (``report``, a
        ``DeviceReport`` or ``None``), in one query: what the dashboard's fleet page shows."""

        def work(conn):
            return self._x(
                conn,
                f"""SELECT {_DEVICE_FIELDS},
                           CASE WHEN length(r.report) > ? THEN NULL ELSE r.report END
                    {_DEVICE_FROM}
                    LEFT JOIN readings r ON r.id = (
                        SELECT r2.id FROM readings r2 WHERE r2.device_id = d.id
                        AND r2.scanned_at <= ?
                        ORDER BY r2.scanned_at DESC, r2.id DESC LIMIT 1)
                    ORDER BY d.id LIMIT ?""",
                (MAX_SHOWN_REPORT_BYTES, _newest_allowed(), limit),
            ).fetchall()

        out = []
        for row in await self.run(work):
            item = _device_row(row[:-1])
            item["report"] = model.repair_report(bytes(row[-1])) if row[-1] is not None else None
            out.append(item)
        return out

    async def device_exists(self, device_id: int) -> bool:
        if not _is_device_id(device_id):
            return False
        return await self.run(
            lambda c: (
                self._x(c, "SELECT 1 FROM devices WHERE id = ?", (device_id,)).fetchone()
                is not None
            )
        )

    async def totals(self) -> dict[str, int]:
        def work(conn):
            out = {}
            for table in ("agents", "devices", "readings", "batches"):
                out[table] = int(self._x(conn, f"SELECT COUNT(*) FROM {table}").fetchone()[0])
            return out

        return await self.run(work)

    async def all_readings(self) -> list[tuple[str, str, bytes]]:
        """``(agent, batch_id, report msgpack)`` for every reading: for tests and exports."""

        def work(conn):
            return self._x(
                conn,
                "SELECT a.name, r.batch_id, r.report FROM readings r JOIN agents a ON a.id = "
                "r.agent_id ORDER BY r.id",
            ).fetchall()

        return [(a, b, bytes(r)) for a, b, r in await self.run(work)]

    async def reading_versions(self) -> list[tuple[str, str, int, int, int]]:
        """``(agent, batch_id, schema, wire major, wire minor)`` for every reading, in order:
        the versions agents declared (for tests, exports and upgrade planning)."""

        def work(conn):
            return self._x(
                conn,
                """
                SELECT a.name, r.batch_id, r.schema_version, b.wire_major, r.wire_minor
                FROM readings r JOIN agents a ON a.id = r.agent_id
                JOIN batches b ON b.agent_id = r.agent_id AND b.batch_id = r.batch_id
                ORDER BY r.id""",
            ).fetchall()

        return [(a, b, int(s), int(w), int(m)) for a, b, s, w, m in await self.run(work)]
