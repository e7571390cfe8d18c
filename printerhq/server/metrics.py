"""Prometheus text exposition (format 0.0.4) without a client library: a few counters."""

from __future__ import annotations

from collections import Counter


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

    def render(self, totals: dict[str, int]) -> str:
        lines = [
            "# HELP printerhq_batches_total Batches received, by transport and outcome.",
            "# TYPE printerhq_batches_total counter",
        ]
        for (transport, outcome), n in sorted(self.batches.items()):
            lines.append(
                f'printerhq_batches_total{{transport="{transport}",outcome="{outcome}"}} {n}'
            )
        lines += [
            "# HELP printerhq_reports_ingested_total Device reports stored by this instance.",
            "# TYPE printerhq_reports_ingested_total counter",
            f"printerhq_reports_ingested_total {self.reports}",
            "# HELP printerhq_rejected_total Uploads refused, by reason.",
            "# TYPE printerhq_rejected_total counter",
        ]
        for reason, n in sorted(self.rejected.items()):
            lines.append(f'printerhq_rejected_total{{reason="{reason}"}} {n}')
        lines += [
            "# HELP printerhq_reports_refused_total Reports of accepted batches that were not "
            "stored (outside the schema's bounds or the server's clock window), by reason.",
            "# TYPE printerhq_reports_refused_total counter",
        ]
        for reason, n in sorted(self.refused_reports.items()):
            lines.append(f'printerhq_reports_refused_total{{reason="{reason}"}} {n}')
        lines += [
            "# HELP printerhq_batches_newer_minor_total Batches from agents of a newer minor "
            "wire version (fields unknown here ignored).",
            "# TYPE printerhq_batches_newer_minor_total counter",
            f"printerhq_batches_newer_minor_total {self.newer_minor}",
            "# HELP printerhq_websocket_connections_total WebSocket streams accepted.",
            "# TYPE printerhq_websocket_connections_total counter",
            f"printerhq_websocket_connections_total {self.ws_connections}",
            "# HELP printerhq_websocket_open WebSocket streams open now.",
            "# TYPE printerhq_websocket_open gauge",
            f"printerhq_websocket_open {self.ws_open}",
            "# HELP printerhq_rows Rows in the database, by table.",
            "# TYPE printerhq_rows gauge",
        ]
        for table, n in sorted(totals.items()):
            lines.append(f'printerhq_rows{{table="{table}"}} {n}')
        return "\n".join(lines) + "\n"
