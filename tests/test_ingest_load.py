"""500 agent streams open at once against one server process, and the amplification case
(issue 11): nothing lost, nothing stored twice, amplified uploads refused, /healthz answering.
Correctness only; the latencies and RSS are measured by ``benchmarks/bench_streams.py``."""

from __future__ import annotations

import pytest

from benchmarks.bench_streams import (
    register_agents,
    run_amplification,
    run_idle,
    run_streams,
    stored_exactly_once,
)

from .helpers_server import ServerProcess

STREAMS = 500
BATCHES = 2
REPORTS = 2


@pytest.fixture
def server(tmp_path):
    process = ServerProcess(tmp_path / "server")
    process.start()
    yield process
    process.stop()


async def test_500_concurrent_streams_lose_nothing_and_store_once(server):
    tokens = await register_agents(server, STREAMS)
    outcome = await run_streams(server, tokens, batches=BATCHES, reports=REPORTS, timeout=900)
    assert outcome.problems == []
    assert outcome.acked == STREAMS * BATCHES  # every first send acknowledged as stored
    assert outcome.duplicates == STREAMS  # every re-send answered "duplicate"
    assert await stored_exactly_once(server, STREAMS * BATCHES * REPORTS) == []
    assert outcome.health, "/healthz was polled while the streams ran"

    # The amplification case: uploads of a 7 MiB sysDescr (a few KB compressed each) are all
    # refused by the bound, store nothing, and /healthz keeps answering 200.
    amplified = await run_amplification(server, tokens["load-0"], 10)
    assert amplified.problems == []
    assert amplified.refused == 10
    assert await stored_exactly_once(server, STREAMS * BATCHES * REPORTS) == []
    assert server.proc is not None and server.proc.poll() is None  # still serving


async def test_idle_streams_stay_open_and_answer_pings(server):
    """Streams that only ping (issue 14: thousands of sites keep a stream open each): all
    open at once, each still answers a ping after the hold, one descriptor each on the server.
    The 5,000-stream figures (RSS per stream) come from ``bench_streams --idle 5000``."""
    tokens = await register_agents(server, 300)
    outcome = await run_idle(server, tokens, hold=1, ping_every=0.5, timeout=600)
    assert outcome.problems == []
    assert outcome.opened == outcome.answered == 300
    assert outcome.descriptors >= 300
