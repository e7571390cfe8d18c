"""Benchmark: a /16 sweep against onesixtyone, like with like; the rate that sets the pace.

    python -m benchmarks.bench_sweep [--repeats 3] [--baseline DIR] [--skip-slash8]

Everything runs inside a network namespace this benchmark creates and deletes (its own
loopback: 127.0.0.0/8 is local there, and no other traffic shares its counters); without root
it falls back to this machine's loopback. The simulator (``printerhq sim``) serves the
fixtures on 400 addresses of 127.90.0.0/16, in two layouts: **clustered** (the first 400
addresses: a burst of responders right at the start) and **spread** (one every 163 addresses).

Per layout, in the same round and interleaved, each run a separate process measured with
``os.wait4`` (wall, CPU user + system, peak RSS):

* ``onesixtyone -i LIST -c COMMUNITIES -p PORT -w 0`` on the 65,536 addresses: no pacing, one
  SNMPv1 GET per address, then a fixed 5 s wait after its last packet.
* ``printerhq scan 127.90.0.0/16 --identify-only --no-icmp --json --all --snmp-version 1
  --retries 0 --timeout 5 --rate 1000000``: the rate cap lifted (the in-flight bound derives
  from it), one packet per address, and the **same reply window**: each address waits 5 s
  after its send, so the scan ends 5 s after its last packet, as onesixtyone does.
* with ``--baseline DIR`` (an older tree, e.g. ``git archive main``): that tree's
  ``printerhq scan`` with the same options and ``--concurrency 65536`` (it had no derived
  bound): before and after in one run.

**Send phase**, measured the same way for every tool: the kernel's UDP ``NoPorts`` counter of
the namespace (``/proc/PID/net/snmp``; datagrams to an address where nothing listens, i.e. the
blank ones), polled every 0.5 ms from a thread here: the time from its first to its last
change (the last address of the range is blank in both layouts). ``start->last`` adds the
process start-up (a C program has none to speak of; Python imports its modules).

Then the **default-concurrency row**: ``--rate 20000 --timeout 0.5`` without
``--concurrency`` on a /18 (16,384 blank addresses), after (derived bound) and before (its
default of 1,024 addresses in flight), to show whether the rate or the in-flight bound sets
the pace. Then a /8 sweep stopped with SIGINT after 10 s (RSS at 2, 5 and 10 s must stay
flat), and two scans of the /16 with a discovery memory (packets of the repeat scan).

Each tree is byte-compiled first, as an installed package is (``benchmarks/bytecode.py``).
Medians of ``--repeats`` rounds; ratios are printerhq / onesixtyone. The machine is shared
(2 cores, other jobs running): expect noise, compare within one run. Bounded: each process
has a timeout, every loop a count.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.bytecode import compile_tree

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = sorted((ROOT / "fixtures").glob("*.snmprec"))
NETWORK = "127.90.0.0/16"
SLASH18 = "127.91.0.0/18"
PRINTERS = 400
WINDOW = 5.0  # onesixtyone's fixed wait after its last packet (receive_snmp(sock, 5000))
LAYOUTS = {
    "clustered": list(range(PRINTERS)),
    "spread": list(range(7, 65536, 163))[:PRINTERS],
}
POLL = 0.0005


def address(n: int, second: int = 90) -> str:
    return f"127.{second}.{n // 256}.{n % 256}"


# -- the namespace ------------------------------------------------------------------------


class Namespace:
    """A network namespace with only its loopback up, deleted on exit; or, without root,
    nothing (commands run as they are, on this machine's loopback)."""

    def __init__(self) -> None:
        self.name: str | None = None

    def __enter__(self) -> Namespace:
        if os.geteuid() == 0:
            name = f"phq-sweep-{os.getpid()}"
            made = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
            if made.returncode == 0:
                self.name = name
                subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"])
        if self.name is None:
            print("(no network namespace: needs root; using this machine's loopback)")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.name is not None:
            subprocess.run(["ip", "netns", "del", self.name], capture_output=True)

    def argv(self, argv: list[str]) -> list[str]:
        # `ip netns exec` execs the command itself: wait4 measures the tool, not ip.
        return argv if self.name is None else ["ip", "netns", "exec", self.name, *argv]


class NoPorts:
    """Polls the namespace's UDP NoPorts counter; the first and last time it changed."""

    def __init__(self, pid: int) -> None:
        self._path = f"/proc/{pid}/net/snmp"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self.first: float | None = None
        self.last: float | None = None
        self.count = 0

    def _read(self) -> int:
        with open(self._path) as f:
            lines = [line.split() for line in f if line.startswith("Udp:")]
        return int(lines[1][lines[0].index("NoPorts")])

    def _poll(self) -> None:
        start = previous = self._read()
        while not self._stop.is_set():
            value = self._read()
            if value != previous:
                now = time.monotonic()
                if self.first is None:
                    self.first = now
                self.last = now
                previous = value
            time.sleep(POLL)
        self.count = previous - start

    def __enter__(self) -> NoPorts:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.05)
        self._stop.set()
        self._thread.join(timeout=5)


# -- processes ----------------------------------------------------------------------------


def start_sim(ns: Namespace, addresses: list[str], port: int) -> subprocess.Popen:  # type: ignore[type-arg]
    argv = [sys.executable, "-m", "printerhq", "sim", *map(str, FIXTURES)]
    argv += ["--addresses", ",".join(addresses), "--port", str(port)]
    sim = subprocess.Popen(
        ns.argv(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert sim.stdout is not None
    ready = sim.stdout.readline()
    if not ready.startswith("sim: serving"):
        sim.kill()
        raise SystemExit(f"simulator did not start: {ready} {sim.stderr.read()}")  # type: ignore[union-attr]
    return sim


def stop(process: subprocess.Popen) -> None:  # type: ignore[type-arg]
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def measure(
    argv: list[str],
    *,
    timeout: float,
    stdout_path: Path,
    counter_pid: int,
    env: dict[str, str] | None = None,
    cwd: Path = ROOT,
) -> dict:  # type: ignore[type-arg]
    """One process to its end: wall, CPU, peak RSS (wait4), and its send phase (NoPorts)."""
    with open(stdout_path, "w") as out, NoPorts(counter_pid) as noports:
        started = time.monotonic()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.PIPE, cwd=cwd, env=env)
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
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    first, last = noports.first, noports.last
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mib": usage.ru_maxrss / 1024,
        "rc": os.waitstatus_to_exitcode(status),
        "stderr": stderr[-400:],
        "send": (last - first) if first is not None and last is not None else float("nan"),
        "to_last": (last - started) if last is not None else float("nan"),
        "blank": noports.count,
        "found": 0,
    }


def scan_argv(
    target: str,
    port: int,
    *,
    rate: float,
    timeout: float,
    concurrency: int | None = None,
) -> list[str]:
    argv = [sys.executable, "-m", "printerhq", "scan", target, "--port", str(port)]
    argv += ["--identify-only", "--no-icmp", "--json", "--all", "--snmp-version", "1"]
    argv += ["--retries", "0", "--timeout", f"{timeout:g}", "--rate", f"{rate:g}"]
    argv += ["--progress", "off", "--arp", "off"]
    if concurrency is not None:
        argv += ["--concurrency", str(concurrency)]
    return argv


def baseline_env(tree: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(tree)}


def found_json(path: Path) -> int:
    text = path.read_text()
    return len(json.loads(text)) if text.strip() else 0


def found_161(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if "[public]" in line)


# -- the parts ----------------------------------------------------------------------------


def sweep_layout(
    ns: Namespace, layout: str, repeats: int, baseline: Path | None, work: Path
) -> dict[str, list[dict]]:  # type: ignore[type-arg]
    port = 16100 + os.getpid() % 1000
    live = [address(n) for n in LAYOUTS[layout]]
    hosts = work / "hosts.txt"
    hosts.write_text("".join(f"{address(n)}\n" for n in range(65536)))
    communities = work / "communities.txt"
    communities.write_text("public\n")
    rows: dict[str, list[dict]] = {"onesixtyone": [], "printerhq": []}  # type: ignore[type-arg]
    if baseline is not None:
        rows["printerhq before"] = []
    sim = start_sim(ns, live, port)
    try:
        for _ in range(repeats):
            out = work / "ours.json"
            row = measure(
                ns.argv(scan_argv(NETWORK, port, rate=1e6, timeout=WINDOW)),
                timeout=120,
                stdout_path=out,
                counter_pid=sim.pid,
            )
            row["found"] = found_json(out)
            rows["printerhq"].append(row)
            out = work / "161.txt"
            argv = ["onesixtyone", "-i", str(hosts), "-c", str(communities), "-p", str(port)]
            row = measure(
                ns.argv([*argv, "-w", "0"]), timeout=120, stdout_path=out, counter_pid=sim.pid
            )
            row["found"] = found_161(out)
            rows["onesixtyone"].append(row)
            if baseline is not None:
                out = work / "before.json"
                row = measure(
                    ns.argv(scan_argv(NETWORK, port, rate=1e6, timeout=WINDOW, concurrency=65536)),
                    timeout=120,
                    stdout_path=out,
                    counter_pid=sim.pid,
                    env=baseline_env(baseline),
                    cwd=baseline,
                )
                row["found"] = found_json(out)
                rows["printerhq before"].append(row)
    finally:
        stop(sim)
    return rows


def default_concurrency(
    ns: Namespace, repeats: int, baseline: Path | None, work: Path
) -> dict[str, list[dict]]:  # type: ignore[type-arg]
    """--rate 20000 --timeout 0.5 and no --concurrency, on a blank /18."""
    port = 16100 + os.getpid() % 1000
    # Something must run in the namespace for its counters: a simulator on one address
    # outside the /18.
    sim = start_sim(ns, ["127.92.0.1"], port)
    rows: dict[str, list[dict]] = {"after": []}  # type: ignore[type-arg]
    try:
        for _ in range(repeats):
            rows["after"].append(
                measure(
                    ns.argv(scan_argv(SLASH18, port, rate=20000, timeout=0.5)),
                    timeout=120,
                    stdout_path=work / "default.json",
                    counter_pid=sim.pid,
                )
            )
        if baseline is not None:  # once: at 1,024 in flight it takes ~17 s
            rows["before"] = [
                measure(
                    ns.argv(scan_argv(SLASH18, port, rate=20000, timeout=0.5)),
                    timeout=120,
                    stdout_path=work / "default-before.json",
                    counter_pid=sim.pid,
                    env=baseline_env(baseline),
                    cwd=baseline,
                )
            ]
    finally:
        stop(sim)
    return rows


def slash8_rss(ns: Namespace) -> dict[float, float]:
    argv = ns.argv(scan_argv("127.0.0.0/8", 16099, rate=20000, timeout=0.5))
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


REPEAT_SCRIPT = """
import json, sys, trio
from printerhq.commands.scan import _scan_gc
from printerhq.engine import Scanner, ScanOptions
from printerhq.snmp.credentials import Community
from printerhq.snmp.message import Version
from printerhq.targets import parse_targets

port, network, state_dir = int(sys.argv[1]), sys.argv[2], sys.argv[3]

async def main():
    rows = []
    for _ in range(2):
        options = ScanOptions(port=port, credentials=[Community(b"public", Version.V1)],
                              timeout=0.5, retries=0, collect=False, rate=20000, icmp=False,
                              arp=False, state_dir=state_dir)
        found = 0
        async with Scanner(options) as scanner:
            async with scanner.scan(parse_targets(network).addresses()) as reports:
                async for _ in reports:
                    found += 1
        snmp = scanner.stats.by_protocol.get("snmp")
        rows.append({"found": found, "packets": snmp.packets_sent if snmp else 0,
                     "bytes": snmp.bytes_sent if snmp else 0,
                     "skipped": scanner.stats.skipped, "wall": scanner.stats.duration})
    print(json.dumps(rows))

with _scan_gc():
    trio.run(main)
"""


def repeat_scan(ns: Namespace, work: Path) -> list[dict]:  # type: ignore[type-arg]
    port = 16098
    sim = start_sim(ns, [address(n) for n in LAYOUTS["spread"]], port)
    try:
        argv = [sys.executable, "-c", REPEAT_SCRIPT, str(port), NETWORK, str(work / "state")]
        done = subprocess.run(ns.argv(argv), capture_output=True, text=True, timeout=300, cwd=ROOT)
    finally:
        stop(sim)
    if done.returncode != 0:
        raise SystemExit(f"repeat scan failed: {done.stderr[-500:]}")
    return json.loads(done.stdout)  # type: ignore[no-any-return]


# -- report -------------------------------------------------------------------------------


def median(rows: list[dict], key: str) -> float:  # type: ignore[type-arg]
    return float(statistics.median(row[key] for row in rows))


def print_table(title: str, groups: dict[str, list[dict]], n: int) -> None:  # type: ignore[type-arg]
    print(f"\n{title}")
    print(
        f"{'':18}{'send s':>8}{'addr/s':>9}{'start->last':>12}{'wall s':>8}{'CPU s':>7}"
        f"{'RSS MiB':>8}{'found':>6}"
    )
    for name, rows in groups.items():
        send = median(rows, "send")
        print(
            f"{name:18}{send:8.2f}{n / send:9.0f}{median(rows, 'to_last'):12.2f}"
            f"{median(rows, 'wall'):8.2f}{median(rows, 'cpu'):7.2f}{median(rows, 'rss_mib'):8.1f}"
            f"{int(median(rows, 'found')):6}"
        )
        for row in rows:
            if row["rc"] != 0:
                print(f"  exit {row['rc']}: {row['stderr']}")


def print_ratios(groups: dict[str, list[dict]]) -> None:  # type: ignore[type-arg]
    theirs = groups["onesixtyone"]
    for name in ("printerhq", "printerhq before"):
        if name not in groups:
            continue
        ours = groups[name]
        print(
            f"  {name} / onesixtyone: send phase "
            f"{median(ours, 'send') / median(theirs, 'send'):.2f}x, start->last "
            f"{median(ours, 'to_last') / median(theirs, 'to_last'):.2f}x, wall (same 5 s "
            f"window) {median(ours, 'wall') / median(theirs, 'wall'):.2f}x, CPU "
            f"{median(ours, 'cpu') / median(theirs, 'cpu'):.2f}x, RSS "
            f"{median(ours, 'rss_mib') / median(theirs, 'rss_mib'):.1f}x"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="rounds per row (median)")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="an older source tree (git archive) to run as 'before' in the same rounds",
    )
    parser.add_argument("--skip-slash8", action="store_true")
    parser.add_argument("--skip-repeat", action="store_true")
    parser.add_argument("--layouts", default="clustered,spread")
    args = parser.parse_args(argv)
    repeats = max(1, min(args.repeats, 10))
    for tree in (ROOT, args.baseline):
        if tree is not None:
            compile_tree(tree)  # as installed (benchmarks/bytecode.py)
    work = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    print(
        f"{PRINTERS} simulated printers in {NETWORK}; {repeats} rounds, medians; "
        f"{os.cpu_count()} CPUs shared with other jobs"
    )
    with Namespace() as ns:
        layouts = {
            layout: sweep_layout(ns, layout, repeats, args.baseline, work)
            for layout in args.layouts.split(",")
        }
        default = default_concurrency(ns, repeats, args.baseline, work)
        rss8 = {} if args.skip_slash8 else slash8_rss(ns)
        repeat = [] if args.skip_repeat else repeat_scan(ns, work)

    for layout, groups in layouts.items():
        print_table(
            f"/16 sweep, {layout} ({PRINTERS} printers), rate cap lifted, 5 s reply window",
            groups,
            65536,
        )
        print_ratios(groups)
    print_table(f"--rate 20000 --timeout 0.5, default concurrency, blank {SLASH18}", default, 16384)
    if "before" in default:
        after, before = default["after"], default["before"]
        print(
            f"  addresses/s: after {16384 / median(after, 'send'):.0f}, before "
            f"{16384 / median(before, 'send'):.0f} (rate 20,000 packets/s = addresses/s here)"
        )
    if rss8:
        flat = max(rss8.values()) - min(rss8.values())
        print(
            "\n/8 sweep (--rate 20000) stopped after 10 s, RSS MiB at 2/5/10 s: "
            + " / ".join(f"{v:.1f}" for v in rss8.values())
            + f" (spread {flat:.1f} MiB)"
        )
    if repeat:
        first, second = repeat
        print(
            f"\nrepeat scan with discovery memory: first {first['packets']} packets "
            f"({first['found']} found), repeat {second['packets']} packets "
            f"({second['found']} found, {second['skipped']} skipped): ratio "
            f"{second['packets'] / max(first['packets'], 1):.4f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
