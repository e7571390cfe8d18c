"""Benchmark: sweeping a /16 on loopback, against onesixtyone, and what a repeat scan costs.

    python -m benchmarks.bench_sweep [--rate PPS] [--concurrency N] [--skip-slash8]

Everything is on loopback (127.0.0.0/8). Steps, side by side in one run:

1. The simulator (``printerhq sim``, a subprocess) serves the fixtures on about 1% of
   127.90.0.0/16: 656 addresses spread over the range (every 100th).
2. ``printerhq scan 127.90.0.0/16 --identify-only --no-icmp --json --all`` (one SNMPv2c
   credential, no retries: one packet per address, as onesixtyone sends) and
   ``onesixtyone -i LIST -c COMMUNITIES -p PORT -w 0`` on the same 65,536-address list.
   Measured per process with ``os.wait4``: wall time, CPU seconds (user + system), peak RSS;
   addresses per second = 65,536 / wall time; agents found.
   The same scan through the engine in a subprocess, twice: with the batched discovery sweep
   (``ScanOptions.batched_discovery=True``, the default) and with the per-host path (a task and
   a client request per address, as before the sweep existed): before/after in one run; and
   both again with ICMP on (when permitted), where loopback answers every ping, so every
   address is "alive": that measures the echo riding along with each GET and the handling of
   65,000 ping-only hosts, not blank space (the netns lab tests have truly silent addresses).
3. A /8 sweep (``printerhq scan 127.0.0.0/8``) stopped with SIGINT after 10 s: RSS sampled at
   2, 5 and 10 s must stay flat (targets stream lazily; nothing grows per address).
4. Two scans of the /16 in this process with a discovery memory (``state_dir``): SNMP packets of
   the repeat scan against the first.

Ratios are ours / onesixtyone. The whole run is bounded (each process has a timeout).
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

from printerhq.icmp import icmp_permitted

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = sorted((ROOT / "fixtures").glob("*.snmprec"))
NETWORK = "127.90.0.0/16"
SPREAD = 100  # one responder every 100 addresses: ~1%


def responders() -> list[str]:
    return [f"127.90.{n // 256}.{n % 256}" for n in range(7, 65536, SPREAD)]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.90.0.7", 0))
        return probe.getsockname()[1]


def start_sim(addresses: list[str], port: int) -> subprocess.Popen:
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "printerhq",
            "sim",
            *map(str, FIXTURES),
            "--addresses",
            ",".join(addresses),
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert sim.stdout is not None
    ready = sim.stdout.readline()
    if not ready.startswith("sim: serving"):
        sim.kill()
        raise SystemExit(f"simulator did not start: {ready} {sim.stderr.read()}")  # type: ignore
    return sim


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def measure(argv: list[str], *, timeout: float, stdout_path: Path) -> dict:
    """Run one process to the end; wall, CPU and peak RSS of that process alone (wait4)."""
    with open(stdout_path, "w") as out:
        started = time.monotonic()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.PIPE, cwd=ROOT)
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        wall = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mib": usage.ru_maxrss / 1024,
        "rc": proc.returncode,
        "stderr": stderr[-500:],
    }


def scan_argv(target: str, port: int, rate: float, concurrency: int, timeout: float) -> list[str]:
    return [
        sys.executable,
        "-m",
        "printerhq",
        "scan",
        target,
        "--port",
        str(port),
        "--identify-only",
        "--no-icmp",
        "--json",
        "--all",
        "--snmp-version",
        "1",
        "--retries",
        "0",
        "--timeout",
        str(timeout),
        "--rate",
        str(rate),
        "--concurrency",
        str(concurrency),
        "--progress",
        "off",
        "--arp",
        "off",
    ]


ENGINE_SCRIPT = """
import sys, trio
from printerhq.commands.scan import _scan_gc
from printerhq.engine import ScanOptions, Scanner
from printerhq.snmp.credentials import Community
from printerhq.snmp.message import Version
from printerhq.targets import parse_targets

port, rate, concurrency, timeout, batched, icmp = sys.argv[1:7]

async def main():
    options = ScanOptions(port=int(port), credentials=[Community(b"public", Version.V1)],
                          timeout=float(timeout), retries=0, concurrency=int(concurrency),
                          collect=False, rate=float(rate), icmp=icmp == "1", arp=False,
                          batched_discovery=batched == "1")
    found = 0
    async with Scanner(options) as scanner:
        async with scanner.scan(parse_targets(sys.argv[7]).addresses()) as reports:
            async for _ in reports:
                found += 1
    icmp_sent = scanner.stats.by_protocol.get("icmp")
    print(found, scanner.stats.alive, icmp_sent.packets_sent if icmp_sent else 0)

with _scan_gc():
    trio.run(main)
"""


def engine_argv(
    port: int, rate: float, concurrency: int, timeout: float, batched: bool, icmp: bool = False
) -> list[str]:
    return [
        sys.executable,
        "-c",
        ENGINE_SCRIPT,
        str(port),
        str(rate),
        str(concurrency),
        str(timeout),
        "1" if batched else "0",
        "1" if icmp else "0",
        NETWORK,
    ]


def slash8_rss(port: int, rate: float, concurrency: int, timeout: float) -> dict:
    argv = scan_argv("127.0.0.0/8", port, rate, concurrency, timeout)
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    samples: dict[float, float] = {}
    started = time.monotonic()
    try:
        for at in (2.0, 5.0, 10.0):
            time.sleep(max(0.0, started + at - time.monotonic()))
            samples[at] = rss_kib(proc.pid) / 1024
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
    return samples


async def repeat_scan(
    port: int, rate: float, concurrency: int, timeout: float, state_dir: Path
) -> list[dict]:
    from printerhq.engine import Scanner, ScanOptions
    from printerhq.snmp.credentials import Community
    from printerhq.snmp.message import Version
    from printerhq.targets import parse_targets

    rows = []
    for _ in range(2):
        options = ScanOptions(
            port=port,
            credentials=[Community(b"public", Version.V1)],
            timeout=timeout,
            retries=0,
            concurrency=concurrency,
            collect=False,
            rate=rate,
            icmp=False,
            arp=False,
            state_dir=state_dir,
        )
        found = 0
        async with Scanner(options) as scanner:
            async with scanner.scan(parse_targets(NETWORK).addresses()) as reports:
                async for _ in reports:
                    found += 1
        snmp = scanner.stats.by_protocol.get("snmp")
        rows.append(
            {
                "found": found,
                "packets": snmp.packets_sent if snmp else 0,
                "bytes": snmp.bytes_sent if snmp else 0,
                "skipped": scanner.stats.skipped,
                "wall": scanner.stats.duration,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rate",
        type=float,
        default=20_000,
        help="our packets per second (default 20000; the CLI default is 500)",
    )
    parser.add_argument("--concurrency", type=int, default=8192)
    parser.add_argument("--timeout", type=float, default=0.5)
    parser.add_argument("--skip-slash8", action="store_true")
    args = parser.parse_args(argv)

    live = responders()
    port = free_udp_port()
    work = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    hosts = work / "hosts.txt"
    hosts.write_text("".join(f"127.90.{n // 256}.{n % 256}\n" for n in range(65536)))
    communities = work / "communities.txt"
    communities.write_text("public\n")
    print(f"simulator: {len(live)} agents on {NETWORK} (1 in {SPREAD}), udp port {port}")
    sim = start_sim(live, port)
    try:
        ours = measure(
            scan_argv(NETWORK, port, args.rate, args.concurrency, args.timeout),
            timeout=300,
            stdout_path=work / "ours.json",
        )
        import json

        ours["found"] = len(json.loads((work / "ours.json").read_text() or "[]"))
        theirs = measure(
            ["onesixtyone", "-i", str(hosts), "-c", str(communities), "-p", str(port), "-w", "0"],
            timeout=300,
            stdout_path=work / "onesixtyone.txt",
        )
        theirs["found"] = sum(
            1 for line in (work / "onesixtyone.txt").read_text().splitlines() if "[public]" in line
        )
        engine = {}
        # ICMP on (when this process may open an ICMP socket): loopback answers every ping,
        # so all 65,536 addresses are "alive"; nothing here is silent to ICMP (the network
        # namespace lab tests are where blank addresses really are).
        icmp_rows = (
            (("sweep+icmp", True, True), ("per-host+icmp", False, True)) if icmp_permitted() else ()
        )
        for name, batched, icmp in (
            ("engine, sweep", True, False),
            ("engine, per-host", False, False),
            *icmp_rows,
        ):
            out = work / f"engine-{int(batched)}{int(icmp)}.txt"
            engine[name] = measure(
                engine_argv(port, args.rate, args.concurrency, args.timeout, batched, icmp),
                timeout=600,
                stdout_path=out,
            )
            fields = (out.read_text().split() or ["0"]) + ["0", "0"]
            engine[name]["found"] = int(fields[0])
            engine[name]["alive"], engine[name]["echoes"] = int(fields[1]), int(fields[2])
        rss8 = (
            {} if args.skip_slash8 else slash8_rss(port, args.rate, args.concurrency, args.timeout)
        )
        from printerhq.commands.scan import _scan_gc

        with _scan_gc():  # the same GC setting as the CLI above
            repeat = trio.run(
                repeat_scan, port, args.rate, args.concurrency, args.timeout, work / "state"
            )
    finally:
        sim.terminate()
        try:
            sim.wait(timeout=10)
        except subprocess.TimeoutExpired:
            sim.kill()
            sim.wait()

    n = 65536
    print(
        f"\nsweep of {NETWORK} ({n} addresses, {len(live)} answering), our rate "
        f"{args.rate:g} pps, concurrency {args.concurrency}, timeout {args.timeout} s"
    )
    print(f"{'':16}{'wall s':>9}{'addr/s':>10}{'CPU s':>8}{'peak RSS MiB':>14}{'found':>7}")
    for name, row in (("printerhq scan", ours), ("onesixtyone", theirs), *engine.items()):
        print(
            f"{name:16}{row['wall']:9.2f}{n / row['wall']:10.0f}{row['cpu']:8.2f}"
            f"{row['rss_mib']:14.1f}{row['found']:7}"
        )
        if row["rc"] != 0:
            print(f"  exit {row['rc']}: {row['stderr']}")
    print(
        f"{'ratio ours/161':16}{ours['wall'] / theirs['wall']:9.2f}"
        f"{theirs['wall'] / ours['wall']:10.2f}{ours['cpu'] / max(theirs['cpu'], 1e-3):8.2f}"
        f"{ours['rss_mib'] / max(theirs['rss_mib'], 1e-3):14.2f}"
    )
    for label, (slow, fast) in (
        ("sweep/per-host", ("engine, per-host", "engine, sweep")),
        ("icmp: sweep/ph", ("per-host+icmp", "sweep+icmp")),
    ):
        if slow not in engine:
            continue
        before, after = engine[slow], engine[fast]
        print(
            f"{label:16}{after['wall'] / before['wall']:9.2f}"
            f"{before['wall'] / after['wall']:10.2f}"
            f"{after['cpu'] / max(before['cpu'], 1e-3):8.2f}"
            f"{after['rss_mib'] / max(before['rss_mib'], 1e-3):14.2f}"
        )
    for name in ("sweep+icmp", "per-host+icmp"):
        if name in engine:
            print(
                f"{name}: {engine[name]['alive']} alive by ping (loopback answers every "
                f"address), {engine[name]['echoes']} echoes sent"
            )
    if rss8:
        flat = max(rss8.values()) - min(rss8.values())
        print(
            "\n/8 sweep stopped after 10 s, RSS MiB at 2/5/10 s: "
            + " / ".join(f"{v:.1f}" for v in rss8.values())
            + f" (spread {flat:.1f} MiB)"
        )
    first, second = repeat
    print(
        f"\nrepeat scan with discovery memory: first {first['packets']} packets "
        f"({first['bytes']} B, {first['wall']:.1f} s, {first['found']} found), repeat "
        f"{second['packets']} packets ({second['bytes']} B, {second['wall']:.1f} s, "
        f"{second['found']} found, {second['skipped']} skipped): ratio "
        f"{second['packets'] / max(first['packets'], 1):.4f}"
    )
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"(benchmark process itself: {usage.ru_utime + usage.ru_stime:.1f} CPU s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
