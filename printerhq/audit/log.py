"""The audit trail on disk: a rotating JSON Lines log, the last uploads kept byte for byte, and
the reader ``printerhq audit`` uses.

Layout, under the agent's ``<state_dir>/audit``::

    audit.log        the newest events, one JSON object per line (printerhq.audit.record)
    audit.log.1 ...  older ones, up to ``files`` in all; the oldest is deleted on rotation
    uploads/<id>.msgpack   the exact message of each of the last ``keep_uploads`` uploads

So the trail takes at most ``files * max_file_bytes`` plus the kept uploads (each at most the
wire's message limit; a cycle's batch is usually a few kB).

Writing never raises and never waits on anything but the local write: the probers call
:meth:`AuditLog.request` in their send path. A write that fails (a full disk: ENOSPC, EDQUOT,
EFBIG) is counted, logged once, and the events that follow are counted as lost until a write
works again; then one ``gap`` line says how many were lost and since when (``printerhq audit``
reports it). A line cut short by the failure is left as it is; the reader skips and counts it.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_FILES",
    "DEFAULT_KEEP_UPLOADS",
    "DEFAULT_MAX_FILE_BYTES",
    "AuditLog",
    "ReadResult",
    "kept_upload",
    "read_events",
]

import hashlib
import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from .contents import describe
from .record import Event, Gap, Request, Start, Upload, decode_line, encode_line, format_time

log = logging.getLogger("printerhq.audit")

DEFAULT_MAX_FILE_BYTES = 8 << 20  # 8 MiB per file ...
DEFAULT_FILES = 4  # ... 4 files: at most 32 MiB of trail, some 100,000 requests
DEFAULT_KEEP_UPLOADS = 20  # the last 20 uploads' messages, for --show-upload
LOG_NAME = "audit.log"
UPLOADS = "uploads"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def _private(path: str, flags: int) -> int:
    # 0600, like the spool: a kept upload holds what the reports hold (serials, locations).
    return os.open(path, flags, 0o600)


def _append(path: Path) -> BinaryIO:
    return open(path, "ab", buffering=0, opener=_private)


def _upload_path(directory: Path, upload_id: str) -> Path:
    return directory / UPLOADS / f"{_UNSAFE.sub('_', upload_id)[:128] or '_'}.msgpack"


class AuditLog:
    """The writer. Implements :class:`printerhq.traffic.AuditSink` (``request``) and
    :class:`printerhq.traffic.UploadAuditSink` (``upload``). Use as a context manager, or
    :meth:`open` / :meth:`close`.

    ``opener`` opens the log file for appending (a test passes one whose writes fail);
    ``clock`` gives the time of each event.
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        files: int = DEFAULT_FILES,
        keep_uploads: int = DEFAULT_KEEP_UPLOADS,
        opener: Callable[[Path], BinaryIO] | None = None,
        clock: Callable[[], float] = time.time,
        version: str = "",
    ) -> None:
        if max_file_bytes < 4096 or files < 1 or keep_uploads < 0:
            raise ValueError("max_file_bytes >= 4096, files >= 1 and keep_uploads >= 0 required")
        self.directory = Path(directory)
        self.path = self.directory / LOG_NAME
        self.max_file_bytes = max_file_bytes
        self.files = files
        self.keep_uploads = keep_uploads
        self._opener = opener or _append
        self._clock = clock
        self.version = version  # of the agent, in the start line
        self._file: BinaryIO | None = None
        self._size = 0
        self.written = 0  # events written
        self.lost = 0  # events lost over the log's life (full disk, ...)
        self.rotations = 0
        self._down_since: str | None = None  # time of the first event lost in this outage
        self._down_lost = 0
        self._down_error = ""
        self._torn = False  # the last write stopped inside a line

    # -- life ---------------------------------------------------------------------------------
    def open(self) -> AuditLog:
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._reopen()
        except OSError as exc:
            self._failed(format_time(self._clock()), exc)
        self._write(
            Start(
                time=format_time(self._clock()),
                version=self.version,
                max_file_bytes=self.max_file_bytes,
                files=self.files,
                keep_uploads=self.keep_uploads,
            )
        )
        return self

    def close(self) -> None:
        if self._down_since is not None:
            # Still failing: one last try to put the gap in the trail, else say it in the log.
            self._write_gap(format_time(self._clock()))
        if self._down_since is not None:
            log.warning(
                "audit log %s: %d event(s) lost since %s (%s) and not recorded in it",
                self.path,
                self._down_lost,
                self._down_since,
                self._down_error,
            )
        self._close_file()

    def _close_file(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
            self._file = None

    def __enter__(self) -> AuditLog:
        return self.open()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the sinks ----------------------------------------------------------------------------
    def request(
        self,
        protocol: str,
        address: str,
        port: int,
        kind: str,
        items: Sequence[str],
        size: int | None,
    ) -> None:
        self._write(
            Request(
                time=format_time(self._clock()),
                protocol=protocol,
                address=address,
                port=port,
                kind=kind,
                items=list(items),
                size=size,
            )
        )

    def upload(self, kind: str, upload_id: str, message: bytes, sent: int, via: str) -> None:
        now = format_time(self._clock())
        devices, note = describe(message) if kind == "batch" else ([], None)
        kept = kind == "batch" and self.keep_uploads > 0 and self._keep(upload_id, message)
        self._write(
            Upload(
                time=now,
                kind=kind,
                id=upload_id,
                via=via,
                size=len(message),
                sent=sent,
                sha256=hashlib.sha256(message).hexdigest(),
                devices=devices,
                kept=kept,
                note=note,
            )
        )

    # -- writing ------------------------------------------------------------------------------
    def _reopen(self) -> None:
        self._close_file()
        self._file = self._opener(self.path)
        try:
            self._size = os.fstat(self._file.fileno()).st_size
        except (OSError, ValueError, AttributeError):  # a test's file object has no descriptor
            self._size = 0

    def _rotate(self) -> None:
        self._close_file()
        paths = [self.path] + [self.path.with_name(f"{LOG_NAME}.{n}") for n in range(1, self.files)]
        paths[-1].unlink(missing_ok=True)
        for older, newer in zip(reversed(paths[1:]), reversed(paths[:-1]), strict=True):
            if newer.exists():
                newer.replace(older)
        self.rotations += 1
        self._reopen()

    def _write(self, event: Event) -> None:
        line = encode_line(event)
        if self._down_since is not None and not self._write_gap(event.time):
            self._failed(event.time, None)
            return
        try:
            self._write_bytes(line)
            self.written += 1
        except OSError as exc:
            self._failed(event.time, exc)

    def _write_gap(self, now: str) -> bool:
        """Write the gap line of the current outage; True once it is in the trail."""
        assert self._down_since is not None
        gap = Gap(time=now, since=self._down_since, lost=self._down_lost, error=self._down_error)
        try:
            self._write_bytes((b"\n" if self._torn else b"") + encode_line(gap))
        except OSError:
            return False
        log.warning(
            "audit log writable again: %d event(s) lost since %s (%s)",
            self._down_lost,
            self._down_since,
            self._down_error,
        )
        self._down_since, self._down_lost, self._torn = None, 0, False
        return True

    def _write_bytes(self, data: bytes) -> None:
        if self._file is None:
            self._reopen()
        if self._size and self._size + len(data) > self.max_file_bytes:
            self._rotate()
        assert self._file is not None
        done = 0
        while done < len(data):
            count = self._file.write(data[done:])
            if not count:
                self._torn = done > 0
                raise OSError(28, "short write (no space left on device?)")
            done += count
            self._size += count

    def _failed(self, when: str, exc: OSError | None) -> None:
        self.lost += 1
        if self._down_since is None:
            self._down_since = when
            self._down_error = (exc.strerror or str(exc)) if exc is not None else "write failed"
            log.warning(
                "audit log %s cannot be written (%s): counting what is lost until it can",
                self.path,
                self._down_error,
            )
        self._down_lost += 1

    def _keep(self, upload_id: str, message: bytes) -> bool:
        """Keep the exact message; the oldest beyond ``keep_uploads`` go. False when it could
        not be written (counted with the lost events: it is part of the trail)."""
        path = _upload_path(self.directory, upload_id)
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            with open(tmp, "wb", opener=_private) as handle:
                handle.write(message)
            tmp.replace(path)
            kept = sorted(
                (p for p in path.parent.glob("*.msgpack")), key=lambda p: p.stat().st_mtime_ns
            )
            for old in kept[: max(0, len(kept) - self.keep_uploads)]:
                old.unlink(missing_ok=True)
        except OSError as exc:
            self._failed(format_time(self._clock()), exc)
            try:
                path.with_name(path.name + ".tmp").unlink(missing_ok=True)
            except OSError:
                pass
            return False
        return True


# -- reading ------------------------------------------------------------------------------------
@dataclass
class ReadResult:
    """The events of a trail, oldest first, and what could not be read."""

    events: list[Event] = field(default_factory=list)
    unreadable: int = 0  # lines that are not events (torn by a full disk, edited)
    files: list[Path] = field(default_factory=list)


def _log_files(directory: Path) -> list[Path]:
    """Oldest first: audit.log.N ... audit.log.1, audit.log."""
    rotated: list[tuple[int, Path]] = []
    for path in directory.glob(f"{LOG_NAME}.*"):
        suffix = path.name[len(LOG_NAME) + 1 :]
        if suffix.isdigit():
            rotated.append((int(suffix), path))
    files = [path for _, path in sorted(rotated, reverse=True)]
    current = directory / LOG_NAME
    if current.exists():
        files.append(current)
    return files


def _lines(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        for line in handle:
            if line.strip():
                yield line


def read_events(directory: str | Path) -> ReadResult:
    directory = Path(directory)
    result = ReadResult(files=_log_files(directory))
    for path in result.files:
        for line in _lines(path):
            event = decode_line(line)
            if event is None:
                result.unreadable += 1
            else:
                result.events.append(event)
    return result


def kept_upload(directory: str | Path, upload_id: str) -> bytes | None:
    """The exact message of upload ``upload_id``, if it is among the kept ones."""
    try:
        return _upload_path(Path(directory), upload_id).read_bytes()
    except OSError:
        return None
