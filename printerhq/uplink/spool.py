"""The durable spool: reports wait here, on disk, until the server acknowledges them.

Why SQLite (and not a directory of files or a hand-written log): sealing reports into a batch,
and deleting a batch on acknowledgement, are each *one* atomic transaction; SQLite's write-ahead
log with ``synchronous=FULL`` fsyncs every commit (https://sqlite.org/pragma.html#pragma_synchronous)
and is tested against power loss, so a report whose ``add`` returned survives ``kill -9`` and a
crash. When the disk fills, SQLite rolls the transaction back and reports ``SQLITE_FULL``:
nothing already committed is touched (https://sqlite.org/rescode.html#full), and we raise
``SpoolFullError``.

States of a report: *pending* -> *sealed* into a batch (a range of sequence numbers) (the batch id
is fixed on disk before the first send, so every retry carries the same id and the server's
``(agent, batch_id)`` key makes ingest idempotent) -> deleted on ack. A batch the server rejects
as malformed is moved to ``rejected`` so it neither blocks the queue nor silently disappears;
so are the single reports of an acknowledged batch that the server refused (by index, with its
reason), and a batch the uplink set aside after repeated server errors.

This class is synchronous (blocking file I/O); ``AsyncSpool`` runs it in a worker thread.
"""

from __future__ import annotations

import os
import sqlite3
import time
import uuid
from pathlib import Path

import trio

DEFAULT_MAX_BYTES = 256 << 20
SPOOL_FILE = "spool.sqlite3"
RESERVE_FILE = "reserve"
RESERVE_BYTES = 128 << 10
ACK_CHUNK = 16  # reports deleted per transaction on acknowledgement
NOT_KEPT = " (report not kept: the disk under the spool was full)"


class SpoolError(RuntimeError):
    """The spool cannot be read or written."""


class SpoolFullError(SpoolError):
    """The spool reached its size limit or the disk under it is full; collection should pause."""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS reports (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    data BLOB NOT NULL,
    added_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    ordinal INTEGER PRIMARY KEY AUTOINCREMENT,
    batch_id TEXT NOT NULL UNIQUE,
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    sealed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta(key, value) VALUES ('sealed_upto', 0);
CREATE TABLE IF NOT EXISTS rejected (
    batch_id TEXT NOT NULL,
    data BLOB NOT NULL,
    reason TEXT NOT NULL,
    rejected_at REAL NOT NULL
);
"""


def _is_disk_full(exc: sqlite3.Error) -> bool:
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name == "SQLITE_FULL" or "full" in str(exc).lower():
        return True
    # A failed write or fsync under ENOSPC can surface as SQLITE_IOERR_*.
    return (name.startswith("SQLITE_IOERR") and "WRITE" in name) or name == "SQLITE_IOERR_FSYNC"


class Spool:
    """A durable FIFO of encoded reports, grouped into batches for acknowledgement.

    ``max_bytes`` bounds the report payload kept (not the file, which SQLite reuses page by page).
    """

    def __init__(self, directory: str | os.PathLike[str], max_bytes: int = DEFAULT_MAX_BYTES):
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        try:
            # Reports name devices and addresses: readable by the agent's user only.
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            spool_file = self.directory / SPOOL_FILE
            # Created 0600 before SQLite opens it (its -wal/-shm take the same mode); an existing
            # file is chmod'ed by path, never opened and closed (that would drop SQLite's POSIX
            # locks, https://sqlite.org/howtocorrupt.html section 2.2).
            try:
                os.close(os.open(spool_file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            except FileExistsError:
                if spool_file.stat().st_mode & 0o077:
                    spool_file.chmod(0o600)
            self._db = sqlite3.connect(
                self.directory / SPOOL_FILE, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=5000")
            # Keep the WAL small: checkpoint every 256 KiB and truncate it afterwards, so a small
            # disk holds reports rather than log.
            self._db.execute("PRAGMA wal_autocheckpoint=64")
            self._db.execute("PRAGMA journal_size_limit=262144")
            self._db.executescript(_SCHEMA)
            row = self._db.execute(
                "SELECT COALESCE(SUM(length(data)), 0), COUNT(*) FROM reports"
            ).fetchone()
        except sqlite3.Error as exc:
            if _is_disk_full(exc):
                raise SpoolFullError(f"disk full under spool {self.directory}: {exc}") from exc
            raise SpoolError(f"cannot open spool {self.directory}: {exc}") from exc
        except OSError as exc:
            raise SpoolError(f"cannot open spool {self.directory}: {exc}") from exc
        self._bytes = int(row[0])
        self._count = int(row[1])
        self._reserve = self.directory / RESERVE_FILE
        self._ensure_reserve()

    # -- the reserve -----------------------------------------------------------------------
    # Sealing and acknowledging write too (the WAL). On a full disk that would leave reports
    # stuck: nothing could be sent, so nothing could be freed. A preallocated reserve file is
    # given up to let those drain operations through, and recreated once there is room again.
    def _ensure_reserve(self) -> None:
        if self._reserve.exists():
            return
        self._checkpoint()
        tmp = self._reserve.with_suffix(".tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(b"\0" * RESERVE_BYTES)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self._reserve)
        except OSError:
            tmp.unlink(missing_ok=True)  # no room yet; try again after the next acknowledgement

    # -- writing ---------------------------------------------------------------------------
    def _transaction(self, work, drain: bool = False):
        """Run ``work`` in one committed transaction. ``drain`` operations (seal, ack, reject)
        may spend the reserve when the disk is full."""
        try:
            return self._transaction_once(work)
        except SpoolFullError:
            if drain and self._reserve.exists():
                self._reserve.unlink()
            self._checkpoint()  # pages freed by acknowledgements may still sit in the WAL
            return self._transaction_once(work)

    def _checkpoint(self) -> None:
        """Copy the WAL into the database and truncate it (frees its disk space)."""
        try:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            pass

    def _transaction_once(self, work):
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                result = work()
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")  # synchronous=FULL: fsync of the WAL before returning
            return result
        except sqlite3.Error as exc:
            if self._db.in_transaction:
                try:
                    self._db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            if _is_disk_full(exc):
                raise SpoolFullError(
                    f"disk full under spool {self.directory} ({exc}); collection paused, "
                    "spooled reports are intact"
                ) from exc
            raise SpoolError(f"spool {self.directory}: {exc}") from exc

    def add(self, data: bytes) -> int:
        """Append one encoded report durably; return its sequence number."""
        if self._bytes + len(data) > self.max_bytes:
            raise SpoolFullError(
                f"spool {self.directory} holds {self._bytes} bytes, limit {self.max_bytes}; "
                "collection paused until the server acknowledges uploads"
            )
        seq = self._transaction(
            lambda: (
                self._db.execute(
                    "INSERT INTO reports(data, added_at) VALUES (?, ?)", (data, time.time())
                ).lastrowid
            )
        )
        self._bytes += len(data)
        self._count += 1
        return int(seq)

    def seal(
        self, max_reports: int = 100, max_bytes: int = 512 << 10
    ) -> tuple[str, list[bytes]] | None:
        """Group the oldest pending reports into a new batch; ``None`` if nothing is pending.

        Pending reports always follow the last sealed one, so a batch is a range of sequence
        numbers: sealing writes one small row, whatever the batch size (it must succeed on a
        nearly full disk, or nothing could ever be sent and freed).
        """

        def work():
            upto = self._db.execute("SELECT value FROM meta WHERE key = 'sealed_upto'").fetchone()[
                0
            ]
            rows = self._db.execute(
                "SELECT seq, length(data) FROM reports WHERE seq > ? ORDER BY seq LIMIT ?",
                (upto, max_reports),
            ).fetchall()
            if not rows:
                return None
            last, size = rows[0][0], 0
            for seq, length in rows:
                if size and size + length > max_bytes:
                    break
                last, size = seq, size + length
            batch_id = uuid.uuid4().hex
            self._db.execute(
                "INSERT INTO batches(batch_id, first_seq, last_seq, sealed_at) VALUES (?, ?, ?, ?)",
                (batch_id, rows[0][0], last, time.time()),
            )
            self._db.execute("UPDATE meta SET value = ? WHERE key = 'sealed_upto'", (last,))
            return batch_id, self._range(rows[0][0], last)

        return self._transaction(work, drain=True)

    def _remove(self, batch_id: str, reason: str | None, keep: bool = True) -> tuple[int, int]:
        row = self._db.execute(
            "SELECT first_seq, last_seq FROM batches WHERE batch_id = ?", (batch_id,)
        ).fetchone()
        if row is None:
            return 0, 0
        first, last = row
        size, count = self._db.execute(
            "SELECT COALESCE(SUM(length(data)), 0), COUNT(*) FROM reports WHERE seq BETWEEN ? AND "
            "?",
            (first, last),
        ).fetchone()
        if reason is not None:
            self._db.execute(
                "INSERT INTO rejected(batch_id, data, reason, rejected_at) "
                "SELECT ?, CASE WHEN ? THEN data ELSE X'' END, ?, ? FROM reports "
                "WHERE seq BETWEEN ? AND ?",
                (batch_id, keep, reason if keep else reason + NOT_KEPT, time.time(), first, last),
            )
        self._db.execute("DELETE FROM reports WHERE seq BETWEEN ? AND ?", (first, last))
        self._db.execute("DELETE FROM batches WHERE batch_id = ?", (batch_id,))
        return int(size), int(count)

    def ack(self, batch_id: str) -> int:
        """Forget an acknowledged batch; return how many reports it held (0 if unknown).

        Deleted in chunks of ``ACK_CHUNK`` reports, one transaction each: every page a delete
        touches passes through the WAL, and on a full disk a whole large batch would not fit.
        A crash between chunks leaves the batch's range with fewer reports; it is resent under
        the same id, the server answers "duplicate", and the rest is deleted.
        """
        total = 0
        while True:

            def work():
                row = self._db.execute(
                    "SELECT first_seq, last_seq FROM batches WHERE batch_id = ?", (batch_id,)
                ).fetchone()
                if row is None:
                    return 0, 0, True
                first, last = row
                rows = self._db.execute(
                    "SELECT seq, length(data) FROM reports WHERE seq BETWEEN ? AND ? ORDER BY seq "
                    "LIMIT ?",
                    (first, last, ACK_CHUNK + 1),
                ).fetchall()
                chunk = rows[:ACK_CHUNK]
                final = len(rows) <= ACK_CHUNK
                if chunk:
                    self._db.execute(
                        "DELETE FROM reports WHERE seq BETWEEN ? AND ?", (first, chunk[-1][0])
                    )
                if final:
                    self._db.execute("DELETE FROM batches WHERE batch_id = ?", (batch_id,))
                return sum(length for _, length in chunk), len(chunk), final

            size, count, final = self._transaction(work, drain=True)
            self._bytes -= size
            self._count -= count
            total += count
            if final:
                break
        self._ensure_reserve()
        return total

    def reject(self, batch_id: str, reason: str) -> int:
        """Move a batch the server refused as invalid out of the queue, keeping it for
        inspection."""
        try:
            size, count = self._transaction(lambda: self._remove(batch_id, reason), drain=True)
        except SpoolFullError:
            # No room for a copy: keep the reason, not the reports, rather than block the queue.
            size, count = self._transaction(
                lambda: self._remove(batch_id, reason, keep=False), drain=True
            )
        self._bytes -= size
        self._count -= count
        self._ensure_reserve()
        return count

    def ack_with_refusals(self, batch_id: str, refused: list[tuple[int, str]]) -> int:
        """Settle a batch the server acknowledged but of which it refused some reports (by
        index in the batch, with its reason): those are copied to ``rejected``, then the batch
        is acknowledged. A crash in between resends the batch; the server answers "duplicate"
        with the same refusals, and a copy already made is not made twice."""

        def work(keep: bool) -> None:
            row = self._db.execute(
                "SELECT first_seq, last_seq FROM batches WHERE batch_id = ?", (batch_id,)
            ).fetchone()
            if row is None:
                return
            seqs = [
                r[0]
                for r in self._db.execute(
                    "SELECT seq FROM reports WHERE seq BETWEEN ? AND ? ORDER BY seq", row
                )
            ]
            for index, reason in refused:
                if not 0 <= index < len(seqs):
                    continue  # an index this batch never had: nothing to keep
                text = f"report {index}: {reason}"
                self._db.execute(
                    "INSERT INTO rejected(batch_id, data, reason, rejected_at) "
                    "SELECT ?, CASE WHEN ? THEN data ELSE X'' END, ?, ? FROM reports "
                    "WHERE seq = ? AND NOT EXISTS "
                    "(SELECT 1 FROM rejected WHERE batch_id = ? AND reason LIKE ? || '%')",
                    (
                        batch_id,
                        keep,
                        text if keep else text + NOT_KEPT,
                        time.time(),
                        seqs[index],
                        batch_id,
                        text.replace("%", "_"),
                    ),
                )

        if refused:
            try:
                self._transaction(lambda: work(True), drain=True)
            except SpoolFullError:
                # No room for copies: the reasons are kept, the reports not, and the queue
                # flows (a full disk must not turn refused reports into a poison batch).
                self._transaction(lambda: work(False), drain=True)
        return self.ack(batch_id)

    # -- reading ---------------------------------------------------------------------------
    def sealed(self) -> list[tuple[str, list[bytes]]]:
        """Every sealed, unacknowledged batch, oldest first (resent after a reconnect)."""
        out = []
        for (batch_id,) in self._db.execute(
            "SELECT batch_id FROM batches ORDER BY ordinal"
        ).fetchall():
            out.append((batch_id, self._reports_of(batch_id)))
        return out

    def next_batch(
        self, exclude: set[str] | frozenset[str] = frozenset(), max_reports: int = 100
    ) -> tuple[str, list[bytes]] | None:
        """The oldest sealed batch not in ``exclude``, else a newly sealed one, else ``None``."""
        for (batch_id,) in self._db.execute(
            "SELECT batch_id FROM batches ORDER BY ordinal"
        ).fetchall():
            if batch_id not in exclude:
                return batch_id, self._reports_of(batch_id)
        return self.seal(max_reports)

    def _reports_of(self, batch_id: str) -> list[bytes]:
        first, last = self._db.execute(
            "SELECT first_seq, last_seq FROM batches WHERE batch_id = ?", (batch_id,)
        ).fetchone()
        return self._range(first, last)

    def _range(self, first: int, last: int) -> list[bytes]:
        rows = self._db.execute(
            "SELECT data FROM reports WHERE seq BETWEEN ? AND ? ORDER BY seq", (first, last)
        ).fetchall()
        return [bytes(r[0]) for r in rows]

    def all_reports(self) -> list[bytes]:
        """Every report still held (pending or sealed), in order: for tests and inspection."""
        return [bytes(r[0]) for r in self._db.execute("SELECT data FROM reports ORDER BY seq")]

    def rejected(self) -> list[tuple[str, str]]:
        return [
            (r[0], r[1]) for r in self._db.execute("SELECT DISTINCT batch_id, reason FROM rejected")
        ]

    def rejected_count(self) -> int:
        """Reports kept in ``rejected`` (refused by the server or set aside)."""
        return int(self._db.execute("SELECT COUNT(*) FROM rejected").fetchone()[0])

    @property
    def count(self) -> int:
        """Reports held, pending or sealed."""
        return self._count

    @property
    def size(self) -> int:
        return self._bytes

    def close(self) -> None:
        self._db.close()


class AsyncSpool:
    """``Spool`` for trio: each call runs in a worker thread, one at a time.

    A call that is cancelled still finishes its transaction in the thread (``run_sync`` is not
    abandoned), so cancellation never leaves a half-written batch.
    """

    def __init__(self, spool: Spool):
        self.sync = spool
        self._limiter = trio.CapacityLimiter(1)

    @classmethod
    async def open(cls, directory, max_bytes: int = DEFAULT_MAX_BYTES) -> AsyncSpool:
        return cls(await trio.to_thread.run_sync(Spool, directory, max_bytes))

    async def _run(self, fn, *args):
        return await trio.to_thread.run_sync(fn, *args, limiter=self._limiter)

    async def add(self, data: bytes) -> int:
        return await self._run(self.sync.add, data)

    async def next_batch(
        self, exclude: set[str], max_reports: int
    ) -> tuple[str, list[bytes]] | None:
        return await self._run(self.sync.next_batch, frozenset(exclude), max_reports)

    async def ack(self, batch_id: str) -> int:
        return await self._run(self.sync.ack, batch_id)

    async def reject(self, batch_id: str, reason: str) -> int:
        return await self._run(self.sync.reject, batch_id, reason)

    async def ack_with_refusals(self, batch_id: str, refused: list[tuple[int, str]]) -> int:
        return await self._run(self.sync.ack_with_refusals, batch_id, refused)

    @property
    def count(self) -> int:
        return self.sync.count

    async def aclose(self) -> None:
        await self._run(self.sync.close)
