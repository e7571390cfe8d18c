"""The token bucket: sans-IO arithmetic (hypothesis) and the trio wrapper under MockClock."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from printerhq.ratelimit import RateLimiter, TokenBucket


def test_burst_then_paced():
    bucket = TokenBucket(rate=10, burst=3)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.1)
    assert bucket.take(0.0) == pytest.approx(0.2)  # queued behind the previous one


def test_refills_but_never_beyond_burst():
    bucket = TokenBucket(rate=10, burst=2)
    bucket.take(0.0)
    bucket.take(0.0)
    assert bucket.take(100.0) == 0.0
    assert bucket.take(100.0) == 0.0
    assert bucket.take(100.0) > 0


def test_time_going_backwards_is_ignored():
    bucket = TokenBucket(rate=1, burst=1)
    assert bucket.take(10.0) == 0.0
    assert bucket.take(5.0) == pytest.approx(1.0)


@pytest.mark.parametrize("rate, burst", [(0, 1), (-1, 1), (1, 0.5)])
def test_rejects_bad_settings(rate, burst):
    with pytest.raises(ValueError):
        TokenBucket(rate, burst)


@settings(deadline=None)
@given(
    rate=st.floats(0.5, 10_000),
    burst=st.integers(1, 64),
    gaps=st.lists(st.floats(0, 2), min_size=1, max_size=200),
    sizes=st.lists(st.integers(1, 6), min_size=1, max_size=200),
)
def test_sends_never_exceed_rate_times_time_plus_burst(rate, burst, gaps, sizes):
    """A caller that waits what take() says and then sends: over any prefix of the schedule,
    packets sent <= burst + rate * elapsed (the token-bucket guarantee)."""
    bucket = TokenBucket(rate, burst)
    now = 0.0
    sent = 0
    for gap, size in zip(gaps, sizes, strict=False):  # independent draws: the shorter one ends
        now += gap
        now += bucket.take(now, size)  # wait, then send at `now`
        sent += size
        assert sent <= burst + rate * now + 1e-6 * max(1.0, sent)


async def test_limiter_paces_under_mock_clock(autojump_clock):
    limiter = RateLimiter(rate=100, burst=10)
    start = trio.current_time()
    for _ in range(110):
        await limiter.acquire()
    # 10 from the burst, then 100 at 100/s: one second on the mock clock.
    assert trio.current_time() - start == pytest.approx(1.0)


async def test_concurrent_acquirers_share_the_rate(autojump_clock):
    limiter = RateLimiter(rate=50, burst=1)
    stamps: list[float] = []

    async def worker() -> None:
        for _ in range(10):
            await limiter.acquire()
            stamps.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        for _ in range(5):
            nursery.start_soon(worker)
    assert len(stamps) == 50
    assert max(stamps) - min(stamps) == pytest.approx(49 / 50)


async def test_acquire_is_cancellable(autojump_clock):
    limiter = RateLimiter(rate=1, burst=1)
    await limiter.acquire()
    with trio.move_on_after(0.5) as scope:
        await limiter.acquire()
    assert scope.cancelled_caught
