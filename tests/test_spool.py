"""The spool keeps exactly the reports not yet acknowledged, across crashes and kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from printerhq.uplink import spool as spool_module
from printerhq.uplink.spool import AsyncSpool, Spool, SpoolFullError


class SpoolMachine(RuleBasedStateMachine):
    """Model: an ordered dict of un-acked reports; sealed batches are fixed sets of them.

    ``crash`` abandons the open connection without closing it (as a killed process would)
    and reopens the directory: the model must still match.
    """

    def __init__(self):
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="phq-spool-")
        self.spool = Spool(self.dir, max_bytes=1 << 20)
        self.pending: dict[int, bytes] = {}
        self.batches: dict[str, list[int]] = {}
        self.counter = 0

    def teardown(self):
        self.spool.close()
        import shutil

        shutil.rmtree(self.dir, ignore_errors=True)

    @rule(size=st.integers(0, 300))
    def add(self, size):
        self.counter += 1
        data = self.counter.to_bytes(4, "big") + os.urandom(size)
        seq = self.spool.add(data)
        self.pending[seq] = data

    @rule(n=st.integers(1, 5))
    def seal(self, n):
        sealed_seqs = {s for seqs in self.batches.values() for s in seqs}
        free = [s for s in sorted(self.pending) if s not in sealed_seqs]
        result = self.spool.seal(n)
        if not free:
            assert result is None
            return
        batch_id, reports = result
        assert reports == [self.pending[s] for s in free[: len(reports)]]
        assert 1 <= len(reports) <= n
        self.batches[batch_id] = free[: len(reports)]

    @rule(data=st.data())
    def ack(self, data):
        if not self.batches:
            return
        batch_id = data.draw(st.sampled_from(sorted(self.batches)))
        assert self.spool.ack(batch_id) == len(self.batches[batch_id])
        for s in self.batches.pop(batch_id):
            del self.pending[s]
        assert self.spool.ack(batch_id) == 0  # a repeated ack is harmless

    @rule()
    def crash(self):
        # No close(), no checkpoint: like kill -9. A new connection must see every commit.
        self.spool._db = None  # drop our reference; sqlite closes the handle when collected
        self.spool = Spool(self.dir, max_bytes=1 << 20)

    @invariant()
    def holds_exactly_the_unacked(self):
        assert self.spool.all_reports() == [self.pending[s] for s in sorted(self.pending)]
        assert self.spool.count == len(self.pending)
        assert self.spool.size == sum(len(d) for d in self.pending.values())
        assert [b for b, _ in self.spool.sealed()] == list(self.batches)  # resent in seal order


@pytest.fixture(autouse=True)
def small_ack_chunks(monkeypatch):
    """Acknowledgements delete in chunks; make chunks small so the tests cross them."""
    monkeypatch.setattr(spool_module, "ACK_CHUNK", 2)


TestSpoolMachine = SpoolMachine.TestCase
TestSpoolMachine.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)


def test_size_limit_raises_spool_full(tmp_path):
    spool = Spool(tmp_path, max_bytes=1000)
    spool.add(b"x" * 600)
    with pytest.raises(SpoolFullError, match="limit 1000"):
        spool.add(b"y" * 600)
    assert spool.all_reports() == [b"x" * 600]
    batch_id, _ = spool.seal()
    spool.ack(batch_id)
    spool.add(b"y" * 600)  # room again once acknowledged


def test_rejected_batches_leave_the_queue_but_stay_on_disk(tmp_path):
    spool = Spool(tmp_path)
    spool.add(b"bad")
    batch_id, _ = spool.seal()
    spool.reject(batch_id, "422 schema")
    assert spool.count == 0 and spool.next_batch() is None
    assert spool.rejected() == [(batch_id, "422 schema")]


def test_refused_reports_of_an_acknowledged_batch_are_kept_once(tmp_path, monkeypatch):
    spool = Spool(tmp_path)
    for data in (b"good-0", b"bad-1", b"good-2", b"bad-3"):
        spool.add(data)
    batch_id, _ = spool.seal()
    refused = [(1, "$.counters[0].value: too large"), (3, "$.scanned_at: ahead"), (9, "no such")]
    # A crash after the refused reports were copied and before the acknowledgement: the batch is
    # resent, the server answers duplicate with the same refusals, and nothing is copied twice.
    monkeypatch.setattr(spool, "ack", lambda batch_id: (_ for _ in ()).throw(OSError("crash")))
    with pytest.raises(OSError):
        spool.ack_with_refusals(batch_id, refused)
    monkeypatch.undo()
    assert spool.next_batch()[0] == batch_id  # still queued
    assert spool.ack_with_refusals(batch_id, refused) == 4
    assert spool.count == 0 and spool.next_batch() is None
    kept = spool._db.execute("SELECT data, reason FROM rejected ORDER BY rowid").fetchall()
    assert kept == [
        (b"bad-1", "report 1: $.counters[0].value: too large"),
        (b"bad-3", "report 3: $.scanned_at: ahead"),
    ]
    assert spool.rejected_count() == 2


def test_without_room_for_copies_the_reasons_are_kept_and_the_queue_flows(tmp_path, monkeypatch):
    spool = Spool(tmp_path)
    for data in (b"a", b"b", b"c", b"d"):
        spool.add(data)
    first, _ = spool.seal(2)
    second, _ = spool.seal(2)
    real = spool._transaction_once
    calls = []

    def full_once(work):  # the copying attempt of each settlement finds the disk full
        calls.append(1)
        if len(calls) in (1, 3):  # reject's copy, then ack_with_refusals' copies
            raise spool_module.SpoolFullError("disk full")
        return real(work)

    monkeypatch.setattr(spool, "_transaction_once", full_once)
    monkeypatch.setattr(spool, "_transaction", lambda work, drain=False: full_once(work))
    spool.reject(first, "422 bad batch")
    spool.ack_with_refusals(second, [(1, "too long")])
    monkeypatch.undo()
    assert spool.count == 0 and spool.next_batch() is None
    kept = spool._db.execute("SELECT data, reason FROM rejected ORDER BY rowid").fetchall()
    assert kept == [
        (b"", "422 bad batch" + spool_module.NOT_KEPT),
        (b"", "422 bad batch" + spool_module.NOT_KEPT),
        (b"", "report 1: too long" + spool_module.NOT_KEPT),
    ]


async def test_async_spool_next_batch_resends_sealed_first(tmp_path):
    spool = await AsyncSpool.open(tmp_path)
    for i in range(5):
        await spool.add(bytes([i]))
    first_id, first = await spool.next_batch(set(), 2)
    _second_id, second = await spool.next_batch({first_id}, 2)
    assert first == [b"\x00", b"\x01"] and second == [b"\x02", b"\x03"]
    again_id, again = await spool.next_batch(set(), 2)  # after a reconnect: oldest sealed again
    assert (again_id, again) == (first_id, first)
    await spool.aclose()


def test_crash_between_ack_chunks_resends_the_rest_under_the_same_id(tmp_path):
    spool = Spool(tmp_path)
    for i in range(7):
        spool.add(bytes([i]))
    batch_id, reports = spool.seal(10)
    calls = 0
    real = spool._transaction

    def crash_on_second(work, drain=False):
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KeyboardInterrupt("simulated crash between two chunks")
        return real(work, drain)

    spool._transaction = crash_on_second
    with pytest.raises(KeyboardInterrupt):
        spool.ack(batch_id)
    reopened = Spool(tmp_path)
    [(same_id, rest)] = reopened.sealed()
    assert same_id == batch_id and rest == reports[2:]  # first chunk gone, the rest still owed
    assert reopened.ack(batch_id) == 5
    assert reopened.count == 0 and reopened.sealed() == []


_WRITER = r"""
import random, sys
from printerhq.uplink.spool import Spool
spool = Spool(sys.argv[1])
rng = random.Random(int(sys.argv[2]))
i = 0
while True:
    op = rng.random()
    if op < 0.6:
        i += 1
        spool.add(i.to_bytes(8, "big") * rng.randint(1, 300))
        print("A", i, flush=True)   # only after add() returned: the report was handed over
    elif op < 0.8:
        spool.seal(rng.randint(1, 40))
    else:
        sealed = spool.sealed()
        if sealed:
            batch_id, reports = rng.choice(sealed)
            ids = " ".join(str(int.from_bytes(r[:8], "big")) for r in reports)
            print("T", ids, flush=True)  # about to acknowledge these
            spool.ack(batch_id)
            print("K", flush=True)       # acknowledged
"""


@pytest.mark.parametrize("seed", range(3))
def test_kill_9_at_a_random_point_leaves_exactly_the_unacknowledged(tmp_path, seed):
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(tmp_path), str(seed)], stdout=subprocess.PIPE, text=True
    )
    lines = []
    deadline = time.monotonic() + 60
    kill_after = 300 + 97 * seed
    while len(lines) < kill_after and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.split())
    os.kill(proc.pid, signal.SIGKILL)  # anywhere: inside add, seal, ack, or an fsync
    lines += [line.split() for line in proc.stdout.read().splitlines()]
    proc.wait()
    added, acked, maybe = [], set(), set()
    for parts in lines:
        if not parts:
            continue
        if parts[0] == "A":
            added.append(int(parts[1]))
        elif parts[0] == "T":
            maybe = {int(x) for x in parts[1:]}
        elif parts[0] == "K":
            acked |= maybe
            maybe = set()
    assert len(added) > 100, "writer did not get going"
    held = [int.from_bytes(r[:8], "big") for r in Spool(tmp_path).all_reports()]
    assert len(held) == len(set(held)) and held == sorted(held)
    must_hold = [i for i in added if i not in acked and i not in maybe]
    assert set(must_hold) <= set(held), "a handed-over, unacknowledged report was lost"
    assert not (set(held) & acked), "an acknowledged report came back"
    extra = set(held) - set(added)
    assert extra <= {max(added) + 1}, "only the report being added at the kill may appear"
