"""Run every benchmark, one after the other: ``python -m benchmarks [NAME ...]``.

Each benchmark is its own module with its own options (``python -m benchmarks.bench_codec -h``);
this runner starts each in a fresh interpreter so one's memory and sockets cannot skew another.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BENCHMARKS = (
    "bench_codec",
    "bench_client",
    "bench_v3",
    "bench_collect",
    "bench_accuracy",
    "bench_real_cpu",
    "bench_repeat",
    "bench_sweep",
    "bench_upload_bytes",
    "bench_real_reports",
    "bench_agent_bytes",
    "bench_bytes",
    "bench_memory_day",
    "bench_ingest",
    "bench_streams",
    "bench_fleet_scale",
    "bench_hostile",
    "bench_dashboard_bytes",
    "bench_audit",
    "bench_fleet_page",
    "fuzz",
)
# Options for a benchmark's run here. The fuzz job's own default is a million inputs per target
# (up to 10 minutes each, on demand: python -m benchmarks.fuzz); in this suite a short pass.
OPTIONS = {"fuzz": ["--inputs", "50000", "--seconds", "60"]}


def main(argv: list[str]) -> int:
    chosen = argv or list(BENCHMARKS)
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        print(
            f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}",
            file=sys.stderr,
        )
        return 2
    root = Path(__file__).resolve().parents[1]
    failed = []
    for name in chosen:
        print(f"\n=== {name} ===", flush=True)
        started = time.monotonic()
        command = [sys.executable, "-m", f"benchmarks.{name}", *OPTIONS.get(name, [])]
        code = subprocess.call(command, cwd=root)
        print(f"=== {name}: exit {code}, {time.monotonic() - started:.0f} s ===", flush=True)
        if code:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
