"""The fleet's summaries and pages on SQLite and PostgreSQL (printerhq.server.fleet_queries):
urgency order, search, filters, sorts, pages, counts, forecasts stored per device."""

from __future__ import annotations

import time

import msgspec
import pytest

from printerhq.server import device_query, fleet_queries, migrations
from printerhq.server.store import Store

from .helpers_fleet import DAY, URGENCY_ORDER, trouble_reports


@pytest.fixture
async def fleet(database):
    store = await Store.open(*database)
    now = time.time()
    await store.add_agent("site-a", "fleet-token-" + "a" * 20, site="Acme")
    agent = await store.agent_for_token("fleet-token-" + "a" * 20)
    await store.ingest(agent, "b-1", trouble_reports(now))
    assert await store.schema_version() == migrations.LATEST
    yield store, now
    await store.aclose()


async def serials(store, now, **params):
    rows, total = await fleet_queries.page(store, device_query.parse(params), now)
    return [r["serial"] for r in rows], total


async def test_refresh_and_urgency_order(fleet):
    store, now = fleet
    stale = await fleet_queries.stale(store)
    assert len(stale) == 5  # no summary yet
    assert await fleet_queries.refresh(store, stale, now) == 5
    assert await fleet_queries.stale(store) == []
    order, total = await serials(store, now)
    assert (order, total) == (URGENCY_ORDER, 5)
    rows, _ = await fleet_queries.page(store, device_query.parse({}), now)
    by_serial = {r["serial"]: r for r in rows}
    assert by_serial["JAM0001"]["urgency"] == "error"
    assert by_serial["JAM0001"]["status"] == "paper jam"
    assert by_serial["LOW0001"]["urgency"] == "runs_out"
    assert by_serial["LOW0001"]["runs_out_at"] == pytest.approx(now - 60 + 5 * DAY, abs=60)
    assert by_serial["LOW0001"]["lowest_percent"] == 10.0
    assert by_serial["GONE001"]["urgency"] == "unseen"
    assert by_serial["FINE001"]["urgency"] == "ok" and by_serial["FINE001"]["runs_out_at"] is None
    assert by_serial["FINE001"]["total_pages"] == 10_004
    assert by_serial["FINE001"]["site"] == "Acme"
    # Later, the slow one is still ok and the fine one becomes "not seen" after a day.
    later, _ = await serials(store, now + 2 * DAY)
    assert later[:2] == ["JAM0001", "LOW0001"]


async def test_search_filters_sorts_and_pages(fleet):
    store, now = fleet
    await fleet_queries.refresh(store, await fleet_queries.stale(store), now)
    assert await serials(store, now, q="low0001") == (["LOW0001"], 1)  # any case
    assert await serials(store, now, q="127.0.2.3") == (["GONE001"], 1)
    assert await serials(store, now, q="trouble-fine") == (["FINE001"], 1)  # sys name
    assert await serials(store, now, q="%") == ([], 0)  # LIKE's wildcards are literal
    assert await serials(store, now, q="_") == ([], 0)
    assert await serials(store, now, status="unseen") == (["GONE001"], 1)
    assert (await serials(store, now, status="ok"))[1] == 2
    assert (await serials(store, now, site="Acme"))[1] == 5
    assert (await serials(store, now, site="Other"))[1] == 0
    assert (await serials(store, now, vendor="hp"))[1] == 5
    assert (await serials(store, now, sort="lowest"))[0][0] == "LOW0001"
    assert (await serials(store, now, sort="-lowest"))[0][0] == "SLOW001"
    assert (await serials(store, now, sort="runs_out"))[0][:3] == ["LOW0001", "GONE001", "SLOW001"]
    assert (await serials(store, now, sort="last_seen"))[0][0] == "GONE001"
    assert (await serials(store, now, sort="serial"))[0] == sorted(URGENCY_ORDER)
    first, total = await serials(store, now, limit="2")
    second, _ = await serials(store, now, limit="2", offset="2")
    third, _ = await serials(store, now, limit="2", offset="4")
    assert total == 5 and first + second + third == URGENCY_ORDER


async def test_include_latest_and_everything_by_default(fleet):
    store, now = fleet
    rows, total = await fleet_queries.page(
        store, device_query.parse({"include": "latest", "limit": "1"}), now
    )
    assert total == 5 and rows[0]["latest"]["report"]["identity"]["serial"] == rows[0]["serial"]
    everything = device_query.parse({}, everything_by_default=True)
    rows, total = await fleet_queries.page(store, everything, now)
    assert [r["id"] for r in rows] == [d["id"] for d in await store.list_devices()]
    assert total == 5 and "latest" not in rows[0]


async def test_forecasts_live_and_stored(fleet):
    store, now = fleet
    rows, _ = await fleet_queries.page(store, device_query.parse({"q": "LOW0001"}), now)
    device_id = rows[0]["id"]
    [live] = await fleet_queries.device_forecasts(store, device_id, now)
    assert live.forecast.rate_per_day == pytest.approx(2.0)
    assert live.forecast.days_left == pytest.approx(5.0, abs=0.01)
    assert live.forecast.basis == "steady use over 10 days"
    assert await fleet_queries.stored_forecasts(store, device_id) == []  # not refreshed yet
    await fleet_queries.refresh(store, [device_id], now)
    [stored] = await fleet_queries.stored_forecasts(store, device_id)
    assert stored.pop("history")["points"] == 11  # the folded state, for the next refresh
    assert stored == fleet_queries.forecast_dict(live)
    assert await fleet_queries.device_forecasts(store, 10**9, now) is None


async def test_stale_after_a_new_reading(fleet):
    store, now = fleet
    await fleet_queries.refresh(store, await fleet_queries.stale(store), now)
    agent = await store.agent_for_token("fleet-token-" + "a" * 20)
    newer = [r for r in trouble_reports(now + 3600) if r.identity.serial == "JAM0001"][-1:]
    await store.ingest(agent, "b-2", newer)
    stale = await fleet_queries.stale(store)
    assert len(stale) == 1


async def test_incremental_refresh_equals_a_full_recompute(fleet):
    """A refresh folds only the readings since the last one into the stored state; the result is
    what a computation over the whole history gives."""
    store, now = fleet
    rows, _ = await fleet_queries.page(store, device_query.parse({"q": "SLOW001"}), now)
    device_id = rows[0]["id"]
    await fleet_queries.refresh(store, [device_id], now)
    agent = await store.agent_for_token("fleet-token-" + "a" * 20)
    # Four more days at 1 %/day, then a swap to a new cartridge and three days at 3 %/day.
    later = [r for r in trouble_reports(now + 7 * DAY) if r.identity.serial == "SLOW001"]
    for i, report in enumerate(later[-7:]):
        level = 76.0 - i if i < 4 else 100.0 - 3 * (i - 4)
        supply = msgspec.structs.replace(report.supplies[0], percent=level, level=int(level))
        await store.ingest(agent, f"more-{i}", [msgspec.structs.replace(report, supplies=[supply])])
    when = now + 7 * DAY
    await fleet_queries.refresh(store, [device_id], when)
    [stored] = await fleet_queries.stored_forecasts(store, device_id)
    stored.pop("history")

    def full(conn):
        summary, _ = fleet_queries.summarize_device(store, conn, device_id, when, stored=False)
        return summary

    [fresh] = (await store.run(full)).supplies
    assert stored == fleet_queries.forecast_dict(fresh)
    assert stored["percent"] == 94.0 and stored["basis"].endswith("since the swap 2 days ago")


async def test_background_refresher_batches_and_sweeps(fleet, monkeypatch):
    """The refresher: keys touched by ingest are refreshed once each; at start (and every
    sweep) devices without a summary are found without being touched."""
    import trio

    from printerhq.server import summary_refresh
    from printerhq.server.store import device_key

    store, now = fleet
    refreshed: list[list[int]] = []
    original = fleet_queries.refresh

    async def counted(store_, ids, now_=None):
        refreshed.append(sorted(ids))
        return await original(store_, ids, now_)

    monkeypatch.setattr(fleet_queries, "refresh", counted)
    refresher = summary_refresh.SummaryRefresher(store, sweep_seconds=3600)
    keys = [device_key(r.identity) for r in trouble_reports(now)]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(refresher.run)
        with trio.fail_after(60):
            while refresher.refreshed < 5:  # the start-up sweep finds the five
                await trio.sleep(0.01)
        assert await fleet_queries.stale(store) == []
        refreshed.clear()
        refresher.touched(keys)  # 55 readings, five devices
        refresher.touched(keys[:3])
        with trio.fail_after(60):
            await refresher.settle()
        nursery.cancel_scope.cancel()
    assert len(refreshed) == 1 and len(refreshed[0]) == 5  # each device once, in one round


async def test_fleet_page_links_keep_the_view(fleet):
    """The page's links (next, previous, column sorts) carry the view's search and filters, so
    every view is a URL; the latest reports are fetched for the page but not put in the links."""
    import html

    from printerhq.server import fleet_page

    store, now = fleet
    await fleet_queries.refresh(store, await fleet_queries.stale(store), now)
    params = {"q": "00", "limit": "2", "offset": "2", "sort": "-runs_out"}
    response = await fleet_page.render(store, params, now=now, logged_in=True)
    text = html.unescape(response.body.decode())
    assert response.status_code == 200 and "3 to 4 of 5 devices" in text
    assert '<a rel="next" href="/?q=00&sort=-runs_out&limit=2&offset=4">' in text
    assert '<a rel="prev" href="/?q=00&sort=-runs_out&limit=2">' in text
    assert 'href="/?q=00&sort=serial&limit=2">Serial</a>' in text  # a sort starts at page 1
    assert "include" not in text and text.count('<tr class="device"') == 2


async def test_rows_stored_before_the_bounds_summarize(database):
    """Issue 11's legacy rows (far-future and infinite times, a 7 MiB string) refresh and list
    without an error on both databases."""
    from .test_ingest_limits import store_legacy_rows

    store = await Store.open(*database)
    try:
        await store.add_agent("a", "legacy-token-" + "z" * 20)
        agent = await store.agent_for_token("legacy-token-" + "z" * 20)
        await store_legacy_rows(store, agent)
        stale = await fleet_queries.stale(store)
        assert stale and await fleet_queries.refresh(store, stale) == len(stale)
        rows, total = await fleet_queries.page(store, device_query.parse({"include": "latest"}))
        assert total == len(stale) == len(rows)
        assert all(len(r["model"] or "") <= 1024 for r in rows)
    finally:
        await store.aclose()
