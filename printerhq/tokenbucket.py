"""The sans-IO token bucket (RFC 2697 section 1: one rate, one bucket size).

Pure arithmetic over the caller's clock: :mod:`printerhq.ratelimit` paces discovery with it in
trio, and the trap receiver's decisions (:mod:`printerhq.traps.core`) bound floods with it.
"""

from __future__ import annotations

__all__ = ["DEFAULT_BURST", "DEFAULT_RATE", "TokenBucket"]

#: Discovery packets per second when nothing else is asked for: conservative, so that a scan of a
#: /16 (65,536 addresses, about 131,000 packets with ICMP) spreads over four minutes and never
#: looks like a flood to an IDS or a small router's connection table.
DEFAULT_RATE = 500.0
#: Packets that may leave back to back after a pause.
DEFAULT_BURST = 32


class TokenBucket:
    """``rate`` tokens per second accrue up to ``burst``; each packet costs one token.

    Sans-IO: :meth:`take` is told the time and answers how long the caller must wait before its
    packets may leave. The tokens are taken at once (the balance may go negative), so a caller
    that waits the answer and then sends keeps the average at ``rate`` exactly, and concurrent
    callers queue up behind each other instead of all waking at the same instant.
    """

    __slots__ = ("_stamp", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: float = DEFAULT_BURST) -> None:
        if not rate > 0 or not burst >= 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = float(rate)
        self.burst = float(burst)
        self._tokens = float(burst)
        self._stamp: float | None = None

    def _refill(self, now: float, tokens: float) -> None:
        """Check ``tokens``, then add what accrued since the last call (up to ``burst``); a clock
        that went back adds nothing and keeps the later stamp."""
        if tokens < 0:
            raise ValueError("tokens must not be negative")
        if self._stamp is not None and now > self._stamp:
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        if self._stamp is None or now > self._stamp:
            self._stamp = now

    def take(self, now: float, tokens: float = 1.0) -> float:
        """Take ``tokens`` at time ``now``; seconds to wait before sending (0.0: go now)."""
        self._refill(now, tokens)
        self._tokens -= tokens
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def try_take(self, now: float, tokens: float = 1.0) -> bool:
        """Take ``tokens`` at time ``now`` only if the bucket holds them: for dropping, not
        pacing (a trap flood is shed, not queued). A refusal leaves the balance untouched."""
        self._refill(now, tokens)
        if self._tokens < tokens:
            return False
        self._tokens -= tokens
        return True

    @property
    def tokens(self) -> float:
        """The balance at the last :meth:`take` (negative: packets promised ahead of time)."""
        return self._tokens
