"""A full disk under the spool: a clear SpoolFullError, nothing already spooled corrupted, and
collection resumes once the server acknowledges and frees room.

Uses a 1 MiB tmpfs mounted for the test (needs root; skipped otherwise).
"""

from __future__ import annotations

import os
import subprocess

import pytest
import trio

from printerhq.server.run import run_server
from printerhq.uplink import SpoolFullError, TlsOptions, Uplink
from printerhq.uplink.spool import Spool

from .helpers_server import TcpProxy, make_report, new_token


@pytest.fixture
def small_disk(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount tmpfs here: {result.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(spool: Spool) -> list[bytes]:
    written = []
    with pytest.raises(SpoolFullError) as info:
        for i in range(100_000):
            data = i.to_bytes(4, "big") + os.urandom(2000)  # incompressible, like the worst case
            spool.add(data)
            written.append(data)
            if i % 10 == 9:
                spool.seal(5)
    assert "disk full" in str(info.value) and "intact" in str(info.value)
    return written


def test_refusals_on_a_full_disk_keep_the_reason_and_let_the_queue_flow(small_disk):
    """Copying refused reports to ``rejected`` needs room; on a full disk the batches still leave
    the queue (the reserve, or without room for copies the reasons alone: test_spool.py)."""
    spool = Spool(small_disk / "spool")
    fill(spool)
    before = spool.count
    settled = 0
    while (batch := spool.next_batch()) is not None and settled < 6:
        batch_id, reports = batch
        if settled % 2:
            spool.ack_with_refusals(batch_id, [(i, "too long") for i in range(len(reports))])
        else:
            spool.reject(batch_id, "422 bad batch")
        settled += 1
    reasons = [reason for _, reason in spool.rejected()]
    assert settled == 6 and spool.count < before
    assert any(r.startswith("422") for r in reasons) and any(
        r.startswith("report ") for r in reasons
    )
    spool.close()


def test_full_disk_raises_and_keeps_what_was_spooled(small_disk):
    spool = Spool(small_disk / "spool")
    written = fill(spool)
    assert len(written) > 100
    assert spool.all_reports() == written  # the failed write left nothing half-done
    for _ in range(3):  # still full: still a clear error, still intact
        with pytest.raises(SpoolFullError):
            spool.add(os.urandom(2000))
    assert spool.all_reports() == written
    spool.close()
    reopened = Spool(small_disk / "spool")  # after a restart on the still-full disk
    assert reopened.all_reports() == written
    # Acknowledging frees pages inside the file, so spooling resumes without the disk growing.
    acked = 0
    while (batch := reopened.next_batch()) is not None and acked < 20:
        reopened.ack(batch[0])
        acked += 1
    reopened.add(b"after")
    assert reopened.all_reports()[-1] == b"after"
    reopened.close()


async def test_uplink_submit_pauses_on_full_disk_and_resumes_after_upload(small_disk, tmp_path):
    async with (
        run_server(tmp_path / "server", self_signed=True) as server,
        trio.open_nursery() as nursery,
    ):
        token = new_token()
        await server.store.add_agent("a", token)
        proxy = TcpProxy(server.port)
        await nursery.start(proxy.serve)
        proxy.cut()  # the server is unreachable while the disk fills
        reports = []
        async with Uplink(
            f"https://127.0.0.1:{proxy.port}",
            token,
            small_disk / "spool",
            agent="a",
            tls=TlsOptions(ca_bundle=str(server.certfile)),
            backoff_initial=0.05,
            backoff_max=0.2,
        ) as up:
            with pytest.raises(SpoolFullError):
                for i in range(100_000):
                    report = make_report(i)
                    # big, incompressible reports (each string within the server's 1,024 bound)
                    report.errors = [os.urandom(500).hex() for _ in range(3)]
                    await up.submit(report)
                    reports.append(report)
            assert up.pending == len(reports)
            resumed_at = []

            async def paused_scan():  # a scan awaiting submit(wait=True) simply pauses
                await up.submit(make_report(888_888), wait=True)
                resumed_at.append(proxy.total_bytes)

            async with trio.open_nursery() as scan:
                scan.start_soon(paused_scan)
                await trio.sleep(0.5)
                assert not resumed_at and proxy.total_bytes == 0  # still paused, nothing sent
                proxy.restore()
            assert resumed_at and resumed_at[0] > 0  # resumed only after uploads freed room
            reports.append(make_report(888_888))
            assert await up.flush(60)
            extra = make_report(999_999)
            await up.submit(extra)  # collection can go on
            assert await up.flush(30)
        stored = await server.store.all_readings()
        nursery.cancel_scope.cancel()
    assert len(stored) == len(reports) + 1
