"""A one-line live progress display for long scans: done, found, rate, ETA."""

from __future__ import annotations

import time
from typing import TextIO

from ..model import ScanStats


class Progress:
    """Redraws one status line on ``stream`` at most ``hz`` times per second."""

    def __init__(self, total: int, stream: TextIO, *, hz: float = 5.0, width: int = 24) -> None:
        self.total = max(total, 1)
        self.stream = stream
        self.width = width
        self.interval = 1.0 / hz
        self._started = time.monotonic()
        self._last = 0.0

    def line(self, stats: ScanStats, now: float) -> str:
        elapsed = max(now - self._started, 1e-9)
        # Done: probed to the end, or skipped (adaptive backoff); in progress are not done.
        done = min(stats.completed, self.total)
        rate = done / elapsed
        remaining = (self.total - done) / rate if rate > 0 else float("inf")
        filled = int(self.width * done / self.total)
        bar = "#" * filled + "-" * (self.width - filled)
        eta = _duration(remaining) if remaining != float("inf") else "?"
        skipped = f", {stats.skipped} skipped" if stats.skipped else ""
        return (
            f"[{bar}] {done}/{self.total} addresses{skipped}, {stats.responders} answered, "
            f"{stats.printers} printers, {rate:.0f}/s, ETA {eta}"
        )

    def update(self, stats: ScanStats, *, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._last < self.interval:
            return
        self._last = now
        self.stream.write("\r" + self.line(stats, now) + ("\n" if final else ""))
        self.stream.flush()


def _duration(seconds: float) -> str:
    """``42s``, ``3m07s``, ``1h02m``: an ETA short enough for one status line."""
    seconds = max(0, int(seconds + 0.5))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
