"""``/metrics`` through prometheus-client: the server's counters and the fleet's printer metrics
(supply levels, page counters, status codes, error flags, last seen) with bounded, printable
labels; parsed back with the library's own parser."""

from __future__ import annotations

import ssl

import httpx
import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families

from printerhq import model
from printerhq.server import fleet_metrics
from printerhq.server.run import run_server

from .helpers_server import make_report, new_token

HOSTILE_MODEL = 'M"507\\\n# TYPE evil gauge\x1b[2J' + "x" * 5000


def samples(text: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append(s)
    return out


def printer(i: int, **changes) -> model.DeviceReport:
    r = make_report(i)
    status = model.Status(device="warning", printer="idle", errors=["jammed", "lowToner"])
    supplies = [
        *r.supplies,
        model.Supply(index=2, description="Cyan", kind="toner", colour="cyan", percent=7.0),
        model.Supply(index=3, description="Waste", kind="waste", state="some_space_left"),
    ]
    return msgspec.structs.replace(r, status=status, supplies=supplies, **changes)


@pytest.fixture
async def server(tmp_path):
    async with run_server(tmp_path / "server", self_signed=True) as srv:
        srv.viewer = new_token()
        await srv.store.add_viewer("grafana", srv.viewer)
        north_token = new_token()
        await srv.store.add_agent("north-1", north_token, site="north")
        await srv.store.add_agent("south-1", new_token(), site="south")
        north = await srv.store.agent_for_token(north_token)
        hostile = make_report(5)
        hostile = msgspec.structs.replace(
            hostile, identity=msgspec.structs.replace(hostile.identity, model=HOSTILE_MODEL)
        )
        await srv.store.ingest(north, "b1", [printer(1), make_report(2), hostile])
        srv.ctx = ssl.create_default_context(cafile=str(srv.certfile))
        yield srv


async def scrape(server, **params) -> httpx.Response:
    async with httpx.AsyncClient(verify=server.ctx) as c:
        return await c.get(
            server.url + "/metrics",
            params=params,
            headers={"authorization": f"Bearer {server.viewer}"},
        )


async def test_fleet_metrics_per_device(server):
    r = await scrape(server)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    found = samples(r.text)
    [level] = [s for s in found["printerhq_supply_level_percent"] if s.labels["colour"] == "cyan"]
    assert level.value == 7.0
    assert {k: level.labels[k] for k in ("site", "serial", "vendor", "supply", "kind")} == {
        "site": "north",
        "serial": "PHQ00001",
        "vendor": "HP",
        "supply": "Cyan",
        "kind": "toner",
    }
    # The waste box has no level: no series for it (rather than a made-up number).
    assert not [s for s in found["printerhq_supply_level_percent"] if s.labels["kind"] == "waste"]
    pages = {
        (s.labels["serial"], s.labels["counter"]): s.value for s in found["printerhq_pages_total"]
    }
    assert pages[("PHQ00001", "total")] == 10_001 and pages[("PHQ00002", "mono")] == 9_002
    status = {s.labels["serial"]: s.value for s in found["printerhq_device_status"]}
    assert status["PHQ00001"] == 3 and status["PHQ00002"] == 2  # warning, running
    printer_status = {s.labels["serial"]: s.value for s in found["printerhq_printer_status"]}
    assert printer_status["PHQ00001"] == 3  # idle
    errors = {(s.labels["serial"], s.labels["error"]) for s in found["printerhq_printer_error"]}
    assert errors == {("PHQ00001", "jammed"), ("PHQ00001", "lowToner")}
    seen = {s.labels["serial"]: s.value for s in found["printerhq_last_seen_timestamp_seconds"]}
    assert seen["PHQ00002"] == make_report(2).scanned_at
    assert found["printerhq_fleet_devices"][0].value == 3
    assert found["printerhq_fleet_truncated"][0].value == 0
    # The server's own counters are still there.
    assert 'printerhq_rows{table="readings"} 3.0' in r.text
    assert found["printerhq_reports_ingested_total"][0].value == 0  # stored directly, not posted


async def test_hostile_labels_are_bounded_and_printable(server):
    text = (await scrape(server)).text
    assert not [line for line in text.splitlines() if line.startswith("# TYPE evil")]
    assert "\x1b" not in text and "\n#" not in text.replace("\n# HELP", "").replace("\n# TYPE", "")
    found = samples(text)  # the library's parser reads it back: nothing broke the format
    [info] = [s for s in found["printerhq_device_info"] if s.labels["serial"] == "PHQ00005"]
    model_label = info.labels["model"]
    assert len(model_label) == fleet_metrics.MAX_LABEL
    assert model_label.startswith('M"507\\\\x0a# TYPE evil gauge\\x1b[2J')
    assert all(ch.isprintable() for s in found["printerhq_device_info"] for ch in s.labels["model"])


async def test_one_site_or_none_of_the_fleet(server):
    south = samples((await scrape(server, site="south")).text)
    assert "printerhq_device_info" not in south and south["printerhq_fleet_devices"][0].value == 0
    north = samples((await scrape(server, site="north")).text)
    assert len(north["printerhq_device_info"]) == 3
    counters_only = samples((await scrape(server, fleet="0")).text)
    assert "printerhq_fleet_devices" not in counters_only and "printerhq_rows" in counters_only
    bad = await scrape(server, site="a\nb")
    assert bad.status_code == 400 and "site name" in bad.json()["error"]


async def test_scrape_is_bounded(server, monkeypatch):
    monkeypatch.setattr(fleet_metrics, "MAX_SCRAPE_DEVICES", 2)
    found = samples((await scrape(server)).text)
    assert len(found["printerhq_device_info"]) == 2
    assert found["printerhq_fleet_truncated"][0].value == 1


async def test_fleet_families_and_sites_on_both_backends(store):
    """The scrape's query and the sites page's grouped counts, on SQLite and PostgreSQL."""
    import time

    from printerhq.server.agents_page import gather_sites
    from printerhq.server.metrics import Gathered, exposition

    token = new_token()
    await store.add_agent("north-1", token, site="north")
    await store.add_agent("idle-1", new_token())  # no site set: its own name is its site
    agent = await store.agent_for_token(token)
    await store.ingest(agent, "b1", [printer(1), make_report(2)])
    families = await fleet_metrics.gather(store)
    found = samples(exposition(Gathered(families)).decode())
    assert {s.labels["serial"] for s in found["printerhq_device_info"]} == {"PHQ00001", "PHQ00002"}
    assert {s.labels["site"] for s in found["printerhq_pages_total"]} == {"north"}
    idle = await fleet_metrics.gather(store, "idle-1")  # the families, without a device
    assert idle and not any(f.samples for f in idle if f.name.startswith("printerhq_device"))
    from printerhq.server import fleet_queries

    await fleet_queries.refresh(store, [d["id"] for d in await store.list_devices()])
    sites = await gather_sites(store, time.time())
    by_name = {s.name: s for s in sites}
    assert (by_name["north"].devices, by_name["north"].agents, by_name["idle-1"].devices) == (
        2,
        1,
        0,
    )
    assert by_name["north"].trouble == 2  # a jam; and silent for weeks
