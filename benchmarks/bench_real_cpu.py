"""Benchmark: CPU per printer collected from the 25 real recordings, printerhq against
FusionInventory's ``fusioninventory-netinventory``, side by side.

    python -m benchmarks.bench_real_cpu [--realdata DIR] [--repeats 3]

The recordings (LibreNMS's test data, read from ``../shared/realdata/librenms``) are served by
``printerhq sim`` on 127.88.S.1-25 (one UDP port). Each tool reads every device over SNMP v2c,
one process measured with ``os.wait4`` (CPU = user + system of that process alone; the
simulator's own CPU is not counted for anyone):

* ``printerhq scan 127.88.S.1-127.88.S.25 --snmp-version 2c --no-icmp --arp off --json``:
  discovery, identification and a cold collection of every printer (identity, supplies,
  counters, status, alerts), the whole command, Python start-up included;
* FusionInventory's netinventory (Debian ``fusioninventory-agent-task-network``, when
  installed) the way its documentation runs it, **one process per device**
  (``--host A --credentials version:2c,community:public``), summed over the 25 devices;
* the same netinventory given **all 25 hosts in one process** (``--host A --host B ...``):
  its start-up paid once, as ours is.

Each printerhq tree is byte-compiled first, as an installed package is
(``benchmarks/bytecode.py``). CPU per printer = the run's CPU / printers collected (the
devices each tool returned with a model or serial). Medians of ``--repeats`` rounds, tools
interleaved. The machine is shared: compare within one run. The pysnmp-codec comparison
(the same collection with pysnmp's encoder and decoder) is ``benchmarks.bench_collect``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.bench_accuracy import start_simulator
from benchmarks.bytecode import compile_tree

ROOT = Path(__file__).resolve().parents[1]
REALDATA = ROOT.parent / "shared" / "realdata" / "librenms"


def cpu_of(argv: list[str], timeout: float = 300, cwd: Path = ROOT) -> tuple[float, str]:
    """CPU seconds (user + system) of the process ``argv`` alone, and its stdout."""
    out_path = Path(f"/tmp/bench-real-cpu-{os.getpid()}.out")
    with open(out_path, "w") as out:
        # `python -m` finds the package in cwd first: an older tree runs its own code.
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL, cwd=cwd)
        deadline = time.monotonic() + timeout
        while True:
            pid, _, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                _, _, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.01)
    text = out_path.read_text(errors="replace")
    out_path.unlink()
    return usage.ru_utime + usage.ru_stime, text


def ours(first: str, last: str, port: int, tree: Path | None = None) -> tuple[float, int]:
    """One ``printerhq scan`` of the range (from ``tree``, an older source tree, if given)."""
    argv = [sys.executable, "-m", "printerhq", "scan", f"{first}-{last}", "--port", str(port)]
    argv += ["--snmp-version", "2c", "--no-icmp", "--arp", "off", "--json", "--progress", "off"]
    argv += ["--timeout", "2"]
    cpu, out = cpu_of(argv, cwd=tree or ROOT)
    reports = json.loads(out) if out.strip() else []
    collected = sum(
        1
        for r in reports
        if r["identity"].get("is_printer")
        and (r["identity"].get("model") or r["identity"].get("serial"))
    )
    return cpu, collected


def fi_argv(binary: str, hosts: list[str], port: int) -> list[str]:
    argv = [binary]
    for host in hosts:
        argv += ["--host", host]
    argv += ["--port", ",".join([str(port)] * len(hosts))]
    argv += ["--credentials", "version:2c,community:public", "--timeout", "5"]
    return argv


def fi_devices(out: str) -> int:
    """Devices netinventory returned with a model or serial (one XML document per device)."""
    count = 0
    for device in re.findall(r"<DEVICE>(.*?)</DEVICE>", out, flags=re.S):
        if re.search(r"<(MODEL|SERIAL)>[^<]+</", device):
            count += 1
    return count


def fusioninventory(binary: str, hosts: list[str], port: int, single: bool) -> tuple[float, int]:
    if single:
        cpu, out = cpu_of(fi_argv(binary, hosts, port), timeout=600)
        return cpu, fi_devices(out)
    total, found = 0.0, 0
    for host in hosts:
        cpu, out = cpu_of(fi_argv(binary, [host], port), timeout=60)
        total += cpu
        found += fi_devices(out)
    return total, found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realdata", type=Path, default=REALDATA)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--baseline", type=Path, help="an older source tree (git archive) to run as well"
    )
    args = parser.parse_args(argv)
    if not args.realdata.is_dir():
        print(f"{args.realdata} is absent: nothing to compare (skipped)")
        return 0
    for tree in (ROOT, args.baseline):
        if tree is not None:
            compile_tree(tree)  # as installed (benchmarks/bytecode.py)
    paths = sorted(args.realdata.glob("*.snmprec"))
    binary = shutil.which("fusioninventory-netinventory")
    if binary is None:
        print(
            "fusioninventory-netinventory not found (Debian package "
            "fusioninventory-agent-task-network): printerhq alone",
            file=sys.stderr,
        )
    subnet = random.randint(1, 254)
    hosts = [f"127.88.{subnet}.{n}" for n in range(1, len(paths) + 1)]
    simulator, port = start_simulator(paths, subnet, cwd=ROOT)
    rows: dict[str, list[tuple[float, int]]] = {"printerhq scan": []}
    if args.baseline:
        rows["printerhq scan, before"] = []
    if binary:
        rows["netinventory, a process per device"] = []
        rows["netinventory, one process"] = []
    try:
        for _ in range(max(1, min(args.repeats, 10))):
            rows["printerhq scan"].append(ours(hosts[0], hosts[-1], port))
            if args.baseline:
                rows["printerhq scan, before"].append(
                    ours(hosts[0], hosts[-1], port, args.baseline)
                )
            if binary:
                rows["netinventory, a process per device"].append(
                    fusioninventory(binary, hosts, port, single=False)
                )
                rows["netinventory, one process"].append(
                    fusioninventory(binary, hosts, port, single=True)
                )
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)
    print(f"{len(paths)} real recordings, SNMP v2c over loopback; medians of {args.repeats} rounds")
    print(f"{'':38}{'CPU s':>8}{'printers':>10}{'ms/printer':>12}")
    per: dict[str, float] = {}
    for name, results in rows.items():
        cpu = statistics.median(r[0] for r in results)
        found = int(statistics.median(r[1] for r in results))
        per[name] = cpu / max(found, 1)
        print(f"{name:38}{cpu:8.2f}{found:10}{per[name] * 1000:12.1f}")
    for name in rows:
        if name != "printerhq scan" and per["printerhq scan"] > 0:
            print(
                f"  CPU per printer: {name} / printerhq = {per[name] / per['printerhq scan']:.1f}x"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
