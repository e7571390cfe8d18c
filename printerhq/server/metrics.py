"""``/metrics``: the Prometheus exposition, written by the ``prometheus-client`` library.

Two sources, gathered at scrape time: this instance's own counters (:class:`Metrics`, below) and
the fleet's printer metrics from the store (``fleet_metrics.py``). Each scrape builds a private
registry around families already gathered (no global registry: several apps live in one test
process), and the library writes the text format (escaping of label values included).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator

from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

# generate_latest writes the classic text format (legacy names, escaped with underscores).
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4


class Gathered(Collector):
    """A collector over metric families gathered before the scrape is written (the store is
    asynchronous; prometheus-client's ``collect`` is not)."""

    def __init__(self, families: Iterable[Metric]):
        self.families = list(families)

    def collect(self) -> Iterator[Metric]:
        yield from self.families


def exposition(*collectors: Collector) -> bytes:
    """The text format of ``collectors``, through a registry of this scrape only."""
    registry = CollectorRegistry(auto_describe=False)
    for collector in collectors:
        registry.register(collector)
    return generate_latest(registry)


class Metrics:
    """Per-process counters. They are not state the service depends on: each instance behind a
    load balancer exposes its own, and Prometheus sums them."""

    def __init__(self) -> None:
        self.batches: Counter[tuple[str, str]] = Counter()  # by (transport, outcome)
        self.reports = 0
        self.rejected: Counter[str] = Counter()  # by reason
        self.ws_connections = 0
        self.ws_open = 0
        self.refused_reports: Counter[str] = Counter()  # reports not stored, by reason label
        self.newer_minor = 0  # batches from agents of a newer minor (unknown fields dropped)

    def families(self, totals: dict[str, int]) -> Iterator[Metric]:
        """This instance's counters and the database's row counts, as metric families."""
        batches = CounterMetricFamily(
            "printerhq_batches",
            "Batches received, by transport and outcome.",
            labels=["transport", "outcome"],
        )
        for (transport, outcome), n in sorted(self.batches.items()):
            batches.add_metric([transport, outcome], n)
        yield batches
        yield CounterMetricFamily(
            "printerhq_reports_ingested",
            "Device reports stored by this instance.",
            value=self.reports,
        )
        rejected = CounterMetricFamily(
            "printerhq_rejected", "Uploads refused, by reason.", labels=["reason"]
        )
        for reason, n in sorted(self.rejected.items()):
            rejected.add_metric([reason], n)
        yield rejected
        refused = CounterMetricFamily(
            "printerhq_reports_refused",
            "Reports of accepted batches that were not stored (outside the schema's bounds or "
            "the server's clock window), by reason.",
            labels=["reason"],
        )
        for reason, n in sorted(self.refused_reports.items()):
            refused.add_metric([reason], n)
        yield refused
        yield CounterMetricFamily(
            "printerhq_batches_newer_minor",
            "Batches from agents of a newer minor wire version (fields unknown here ignored).",
            value=self.newer_minor,
        )
        yield CounterMetricFamily(
            "printerhq_websocket_connections",
            "WebSocket streams accepted.",
            value=self.ws_connections,
        )
        yield GaugeMetricFamily(
            "printerhq_websocket_open", "WebSocket streams open now.", value=self.ws_open
        )
        rows = GaugeMetricFamily(
            "printerhq_rows", "Rows in the database, by table.", labels=["table"]
        )
        for table, n in sorted(totals.items()):
            rows.add_metric([table], n)
        yield rows

    def render(self, totals: dict[str, int]) -> str:
        """The server's own metrics alone, as text (what ``/metrics?fleet=0`` serves)."""
        return exposition(Gathered(self.families(totals))).decode()
