"""Coverage-guided fuzzing of printerhq's parsers (atheris/libFuzzer), one process per target.

    python -m benchmarks.fuzz [--target NAME ...] [--inputs N] [--seconds S] [--json]

Defaults: every target, 1,000,000 inputs each, at most 600 s each (whichever comes first), an
input running longer than 10 s is a hang. Prints per target the inputs run, crashes, hangs,
edges and features (libFuzzer's coverage counters over the instrumented printerhq modules),
the corpus size, the slowest input, and the lines of the target's modules that the seeds alone
and the seeds plus the grown corpus execute. Exit 1 if any target crashed, hung or ran out of
memory; its inputs stay in the work directory (printed) to become regression tests.

Run it under ``nice -n 10`` on a shared machine. docs/fuzzing.md explains what each target feeds
and what counts as a crash; ``./run bench`` runs a short pass (see benchmarks/__main__.py).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.fuzz.targets import TARGETS

ROOT = Path(__file__).resolve().parents[2]


def _last_int(pattern: str, text: str) -> int | None:
    found = re.findall(pattern, text)
    return int(found[-1]) if found else None


def _traceback(log: str) -> str:
    start = log.find("=== Uncaught Python exception: ===")
    if start < 0:
        return ""
    block = log[start:].splitlines()[1:]
    end = next((i for i, line in enumerate(block) if line.startswith("==")), len(block))
    return "\n".join(block[:end][-20:])


def fuzz_one(name: str, args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"phq-fuzz-{name}-", dir=args.workdir))
    if args.corpus_dir:  # a corpus that outlives the run: the next run starts where this ends
        kept = Path(args.corpus_dir).resolve() / name
        kept.mkdir(parents=True, exist_ok=True)
        (workdir / "corpus").symlink_to(kept, target_is_directory=True)
    flags = [
        f"-runs={args.inputs}",
        f"-max_total_time={args.seconds}",
        f"-timeout={args.hang_seconds}",
        f"-rss_limit_mb={args.rss_mb}",
        "-print_final_stats=1",
        f"-seed={args.seed}",
    ]
    started = time.monotonic()
    with open(workdir / "log.txt", "w") as log_file:
        code = subprocess.call(
            [sys.executable, "-m", "benchmarks.fuzz.worker", "fuzz", name, str(workdir), *flags],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    elapsed = time.monotonic() - started
    log = (workdir / "log.txt").read_text(errors="replace")
    inputs = _last_int(r"stat::number_of_executed_units: (\d+)", log)
    if inputs is None:
        inputs = _last_int(r"#(\d+)\s", log) or 0
    slowest = workdir / "slowest.json"
    result: dict[str, Any] = {
        "target": name,
        "summary": TARGETS[name].summary,
        "documented_errors": list(TARGETS[name].expected),
        "inputs": inputs,
        "seconds": round(elapsed, 1),
        "exec_per_s": round(inputs / elapsed) if elapsed else 0,
        "edges": _last_int(r"cov: (\d+)", log),
        "features": _last_int(r"ft: (\d+)", log),
        "corpus": _last_int(r"corp: (\d+)/", log),
        "crashes": sorted(str(p) for p in workdir.glob("crash-*")),
        "hangs": sorted(str(p) for p in workdir.glob("timeout-*")),
        "out_of_memory": sorted(str(p) for p in workdir.glob("oom-*")),
        "peak_rss_mb": _last_int(r"stat::peak_rss_mb: (\d+)", log),
        "slowest_ms": (
            round(json.loads(slowest.read_text())["seconds"] * 1000, 2)
            if slowest.is_file()
            else None
        ),
        "exit": code,
        "workdir": str(workdir),
    }
    failed = bool(result["crashes"] or result["hangs"] or result["out_of_memory"])
    if code != 0 and not failed:
        result["error"] = log[-2000:]  # the harness itself failed: show why
        failed = True
    result["traceback"] = _traceback(log)
    if args.lines:
        result["seed_lines"] = _replay(name, [workdir / "seeds"])
        result["lines"] = _replay(name, [workdir / "seeds", workdir / "corpus"])
    result["failed"] = failed
    if not failed and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
        result["workdir"] = None
    return result


def _replay(name: str, dirs: list[Path]) -> dict[str, list[int]]:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.fuzz.worker", "replay", name, *map(str, dirs)],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=True,
    )
    lines: dict[str, list[int]] = json.loads(out.stdout.splitlines()[-1])["lines"]
    return lines


def _total(lines: dict[str, list[int]] | None) -> str:
    if not lines:
        return "-"
    hit = sum(h for h, _ in lines.values())
    total = sum(t for _, t in lines.values())
    return f"{hit}/{total}"


def _print_row(r: dict[str, Any]) -> None:
    print(
        f"{r['target']:<9} {r['inputs']:>10,} {r['seconds']:>7.0f} {r['exec_per_s']:>7,} "
        f"{len(r['crashes']):>7} {len(r['hangs']):>5} {r['edges'] or 0:>6} "
        f"{r['features'] or 0:>6} {r['corpus'] or 0:>6} {r['slowest_ms'] or 0:>9.1f} "
        f"{_total(r.get('seed_lines')):>9} {_total(r.get('lines')):>9}",
        flush=True,
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.fuzz", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--target",
        action="append",
        choices=[*TARGETS, "all"],
        help="a target (repeatable; default all)",
    )
    parser.add_argument("--inputs", type=int, default=1_000_000, help="inputs per target")
    parser.add_argument("--seconds", type=int, default=600, help="time bound per target")
    parser.add_argument("--hang-seconds", type=int, default=10, help="one input longer: a hang")
    parser.add_argument("--rss-mb", type=int, default=2048, help="memory bound per target")
    parser.add_argument("--seed", type=int, default=0, help="libFuzzer seed (0: random)")
    parser.add_argument("--no-lines", dest="lines", action="store_false", help="skip line counts")
    parser.add_argument("--keep", action="store_true", help="keep every work directory")
    parser.add_argument("--corpus-dir", help="keep each target's corpus in DIR/NAME, and reuse it")
    parser.add_argument("--workdir", help="where work directories go (default: the temp dir)")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    args = parser.parse_args(argv)
    if args.inputs < 1 or args.seconds < 1 or args.hang_seconds < 1 or args.rss_mb < 64:
        parser.error("--inputs, --seconds and --hang-seconds must be >= 1, --rss-mb >= 64")
    try:
        import atheris  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        print("atheris is not installed: pip install -e '.[fuzz]'", file=sys.stderr)
        return 2
    names = list(TARGETS) if not args.target or "all" in args.target else args.target
    if not args.json:
        print(
            f"{'target':<9} {'inputs':>10} {'seconds':>7} {'exec/s':>7} {'crashes':>7} "
            f"{'hangs':>5} {'edges':>6} {'feats':>6} {'corpus':>6} {'slowest':>9} "
            f"{'seedlines':>9} {'lines':>9}"
        )
    results = []
    for name in names:
        result = fuzz_one(name, args)
        results.append(result)
        if not args.json:
            _print_row(result)
            if result["failed"]:
                print(f"  FAILED, inputs kept in {result['workdir']}", file=sys.stderr)
                print(result["traceback"] or result.get("error", ""), file=sys.stderr)
    if args.json:
        print(json.dumps({"targets": results}, indent=2))
    return 1 if any(r["failed"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
