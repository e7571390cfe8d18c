"""Pacing for discovery probes: a sans-IO token bucket and its trio wrapper.

A scan of a /16 must not flood the network it is looking at: discovery packets leave at no more
than ``rate`` per second on average, with at most ``burst`` sent back to back (the classic token
bucket of RFC 2697 section 1, one rate and one bucket size). The core is pure arithmetic over the
caller's clock, so tests drive it with any numbers and the trio wrapper with ``MockClock``.
"""

from __future__ import annotations

__all__ = ["DEFAULT_BURST", "DEFAULT_RATE", "MIN_SLEEP", "RateLimiter", "TokenBucket"]

import trio

from .tokenbucket import DEFAULT_BURST, DEFAULT_RATE, TokenBucket

#: Waits shorter than this are not slept: the debt stays in the bucket and the next wait that
#: is long enough pays it all. Timers are only as fine as the event loop's poll (epoll: 1 ms), so
#: sleeping 50 us per packet at 20,000 pps would really cost 1 ms each and cap a scan near 1,000
#: pps. The price is a burst of at most ``rate * MIN_SLEEP`` packets beyond ``burst`` (0.5 at the
#: default 500 pps); the long-run average is unchanged.
MIN_SLEEP = 0.001


class RateLimiter:
    """The trio side of :class:`TokenBucket`: ``await limiter.acquire(n)`` paces ``n`` packets."""

    def __init__(self, rate: float, burst: float = DEFAULT_BURST) -> None:
        self.bucket = TokenBucket(rate, burst)

    async def acquire(self, tokens: float = 1.0) -> None:
        """Wait until ``tokens`` packets may be sent. Always a checkpoint (cancellable)."""
        wait = self.bucket.take(trio.current_time(), tokens)
        if wait >= MIN_SLEEP:
            await trio.sleep(wait)
        else:
            await trio.lowlevel.checkpoint()
