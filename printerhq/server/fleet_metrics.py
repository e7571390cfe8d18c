"""The fleet's printer metrics for Prometheus, gathered from the store at scrape time.

One query (every device with its latest report; ``?site=`` narrows it to one site) runs in a
worker thread, which decodes each report and adds its samples to the metric families as the rows
come, so no list of decoded reports is held. Per device, with the labels ``device_id``, ``site``,
``serial``, ``model``, ``vendor``:

- ``printerhq_device_info`` (1, plus ``address``), ``printerhq_last_seen_timestamp_seconds``;
- ``printerhq_device_status`` and ``printerhq_printer_status``: the numeric codes of
  hrDeviceStatus and hrPrinterStatus (RFC 2790), as snmp_exporter exposes them;
- ``printerhq_printer_error{error}``: 1 for each hrPrinterDetectedErrorState flag set now
  (``jammed``, ``doorOpen``, ``lowToner``…; a flag that is not set has no series);
- ``printerhq_supply_level_percent{supply, colour, kind, index}`` (absent when the device does
  not know the level);
- ``printerhq_pages_total{counter}``: the page counters (``total``, ``mono``, ``colour``…).

Label values came from devices: hostile input. Each is made printable (:func:`printerhq.terminal
.safe`) and cut to :data:`MAX_LABEL` characters; the library escapes quotes and backslashes.
The scrape covers at most :data:`MAX_SCRAPE_DEVICES` devices (``printerhq_fleet_truncated`` says
when more were left out): a larger fleet is scraped per site (docs/prometheus.md).
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from printerhq import model
from printerhq.mib.standard import HR_DEVICE_STATUS_NAMES, HR_PRINTER_STATUS_NAMES
from printerhq.server.meter_reads import BILLING_COUNTERS
from printerhq.server.store import (
    DEVICE_COLUMNS,
    DEVICE_FIELDS,
    DEVICE_FROM,
    MAX_SHOWN_REPORT_BYTES,
    SITE_OF_AGENT,
    Store,
    newest_allowed,
)
from printerhq.terminal import safe

MAX_LABEL = 128  # characters per label value: a model name, a supply description
MAX_SCRAPE_DEVICES = 20_000  # per scrape (about 40 MB of text): a larger fleet is scraped by site
DEVICE_STATUS_CODES = {name: code for code, name in HR_DEVICE_STATUS_NAMES.items()}
PRINTER_STATUS_CODES = {name: code for code, name in HR_PRINTER_STATUS_NAMES.items()}
PAGE_UNITS = frozenset({"impressions", "pages", "sheets"})
PAGE_COUNTERS = frozenset(BILLING_COUNTERS)
DEVICE_LABELS = ["device_id", "site", "serial", "model", "vendor"]


def label(value: object) -> str:
    """A label value from hostile input: printable, bounded, ``""`` for none."""
    return "" if value is None else safe(value)[:MAX_LABEL]


class FleetFamilies:
    """The fleet's metric families, filled one device at a time."""

    def __init__(self) -> None:
        self.info = GaugeMetricFamily(
            "printerhq_device_info",
            "A device the server stores (1), with its address.",
            labels=[*DEVICE_LABELS, "address"],
        )
        self.last_seen = GaugeMetricFamily(
            "printerhq_last_seen_timestamp_seconds",
            "When the device was last scanned (Unix time).",
            labels=DEVICE_LABELS,
        )
        self.device_status = GaugeMetricFamily(
            "printerhq_device_status",
            "hrDeviceStatus of the latest report: 1 unknown, 2 running, 3 warning, 4 testing, "
            "5 down.",
            labels=DEVICE_LABELS,
        )
        self.printer_status = GaugeMetricFamily(
            "printerhq_printer_status",
            "hrPrinterStatus of the latest report: 1 other, 2 unknown, 3 idle, 4 printing, "
            "5 warmup.",
            labels=DEVICE_LABELS,
        )
        self.error = GaugeMetricFamily(
            "printerhq_printer_error",
            "1 for each hrPrinterDetectedErrorState flag set in the latest report (jammed, "
            "doorOpen, noToner, lowToner, offline...).",
            labels=[*DEVICE_LABELS, "error"],
        )
        self.supply = GaugeMetricFamily(
            "printerhq_supply_level_percent",
            "Level of a supply in percent of its capacity (toner, ink, drum, waste...).",
            labels=[*DEVICE_LABELS, "supply", "colour", "kind", "index"],
        )
        self.pages = CounterMetricFamily(
            "printerhq_pages",
            "Page counters of the latest report, by counter (total, mono, colour, print, copy, "
            "scan, fax...).",
            labels=[*DEVICE_LABELS, "counter"],
        )
        self.devices = 0
        self.truncated = 0

    def add(self, device: dict[str, Any], report: model.DeviceReport | None) -> None:
        base = [
            str(int(device["id"])),
            label(device.get("site")),
            label(device.get("serial")),
            label(device.get("model")),
            label(device.get("vendor")),
        ]
        self.devices += 1
        self.info.add_metric([*base, label(device.get("address"))], 1)
        if isinstance(device.get("last_seen"), (int, float)):
            self.last_seen.add_metric(base, float(device["last_seen"]))
        if report is None:
            return
        status = report.status
        if status is not None:
            if status.device in DEVICE_STATUS_CODES:
                self.device_status.add_metric(base, DEVICE_STATUS_CODES[status.device])
            if status.printer in PRINTER_STATUS_CODES:
                self.printer_status.add_metric(base, PRINTER_STATUS_CODES[status.printer])
            for flag in dict.fromkeys(status.errors):  # each flag once
                self.error.add_metric([*base, label(flag)], 1)
        seen: set[tuple[str, ...]] = set()
        for s in report.supplies:
            if s.percent is None:
                continue
            key = (label(s.description), label(s.colour), s.kind, str(s.index))
            if key not in seen:  # two rows with one label set would break the exposition
                seen.add(key)
                self.supply.add_metric([*base, *key], s.percent)
        counted: set[str] = set()
        for c in report.counters:
            if c.name in PAGE_COUNTERS and c.unit in PAGE_UNITS and c.name not in counted:
                counted.add(c.name)
                self.pages.add_metric([*base, c.name], c.value)

    def families(self) -> list[Metric]:
        devices = GaugeMetricFamily(
            "printerhq_fleet_devices", "Devices in this scrape.", value=self.devices
        )
        truncated = GaugeMetricFamily(
            "printerhq_fleet_truncated",
            f"1 when devices were left out of this scrape (more than {MAX_SCRAPE_DEVICES}: "
            "scrape per site, ?site=).",
            value=self.truncated,
        )
        return [
            self.info,
            self.last_seen,
            self.device_status,
            self.printer_status,
            self.error,
            self.supply,
            self.pages,
            devices,
            truncated,
        ]


_FLEET_SQL = f"""
SELECT {DEVICE_FIELDS}, CASE WHEN length(r.report) > ? THEN NULL ELSE r.report END
{DEVICE_FROM}
LEFT JOIN readings r ON r.id = (
    SELECT r2.id FROM readings r2 WHERE r2.device_id = d.id AND r2.scanned_at <= ?
    ORDER BY r2.scanned_at DESC, r2.id DESC LIMIT 1)"""


async def gather(store: Store, site: str | None = None) -> list[Metric]:
    """The fleet's families (one query, decoded and added in a worker thread)."""

    def work(conn: Any) -> list[Metric]:
        sql = _FLEET_SQL
        params: tuple[Any, ...] = (MAX_SHOWN_REPORT_BYTES, newest_allowed(time.time()))
        if site is not None:
            sql += f" WHERE {SITE_OF_AGENT} = ?"
            params += (site,)
        cursor = store._x(conn, sql + " ORDER BY d.id LIMIT ?", (*params, MAX_SCRAPE_DEVICES + 1))
        fleet = FleetFamilies()
        for row in cursor:
            if fleet.devices == MAX_SCRAPE_DEVICES:
                fleet.truncated = 1  # at least one more; counting them all would cost a scan
                break
            device = dict(zip(DEVICE_COLUMNS, row[:-1], strict=True))
            report = model.repair_report(bytes(row[-1])) if row[-1] is not None else None
            fleet.add(device, report)
        return fleet.families()

    return await store.run(work)
