"""The dashboard byte benchmark runs and its numbers hang together (a few printers)."""

from __future__ import annotations

from benchmarks.bench_dashboard_bytes import WEB_PAGE_BUDGET, measure, report


async def test_dashboard_byte_benchmark(tmp_path):
    result = await measure(5, tmp_path)
    rows = result["rows"]
    gzip, plain = rows["page gzip"], rows["page identity"]
    assert gzip["encoding"] == "gzip" and plain["encoding"] == "identity"
    assert gzip["body"] * 3 < plain["body"]  # HTML tables shrink several times
    for row in rows.values():
        assert row["http"] > row["headers"] + row["body"]  # the request counts too
        assert row["tls"] > row["http"]  # handshake and record overhead on top
    assert result["first_visit_tls"] == gzip["tls"] + rows["stylesheet gzip (once)"]["tls"]
    assert f"{WEB_PAGE_BUDGET:,} B" in report(result)
