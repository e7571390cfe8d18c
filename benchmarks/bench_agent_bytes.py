"""Bytes on the wire of the agent's warm cycle next to a one-shot ``printerhq scan --upload``.

    python -m benchmarks.bench_agent_bytes [--printers 7] [--cycles 5] [--repeats 3]
                                           [--interval 3] [--json]

Real processes in a network-namespace lab (built like tests/netns_lab.py, root only)::

    phq-agent-<tag>                           phq-lan-<tag>
    phqa-<tag> 10.213.N.1/24  <== veth ==>    phql-<tag> 10.213.N.2   printerhq serve (TLS 1.3,
                                                                      self-signed ECDSA P-256)
                                                         10.213.N.10.. printerhq sim (one fixture
                                                                      printer per address, UDP 161)

The agent side runs either ``printerhq agent --config FILE`` (interval ``--interval`` seconds,
discovery once an hour, so every cycle after the first is warm) or ``printerhq scan TARGETS
--upload URL --state-dir DIR`` once cold (a fresh state dir) and once again on the same state dir
(warm repeat). Same printers, same scan defaults (ICMP on, ARP where permitted, timeout 1 s).

**Method**: the kernel's counters of the agent's veth end (``ip -s -j link``), both directions,
Ethernet frames without FCS (the veth is the only link of the agent namespace, so this is every
byte the agent puts on or takes off the segment). The split comes from nftables counters on the
same device (``netdev`` ingress and egress hooks, by IP protocol, so IP fragments count too):
UDP = SNMP, ICMP = ping, TCP = the upload to the server (TLS + WebSocket or HTTPS; the only TCP
in the lab); "ARP+other" is the rest of the interface total. TCP SYNs sent count new connections.

An agent cycle is one interval period: the counters are read ``settle`` seconds after each
``status.json`` update, so a period holds one cycle's scan, its upload and acknowledgement, the
``status`` message after it and any idle traffic of the stream (pings) in between. A one-shot run
is from before the process starts to ``settle`` seconds after it exits (connection close
included). Without root the benchmark says why and measures nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Re-exported: tests/test_bench_agent_bytes.py checks through it that the lab is torn down.
from tests.netns_lab import CREATED_NAMESPACES as CREATED_NAMESPACES  # noqa: E402
from tests.netns_lab import (  # noqa: E402
    PREFIX,
    PYTHON,
    _pick_network,
    build_link,
    delete_namespaces,
    interface_counters,
    load_nft,
    skip_reason,
    start_sim,
    stop_process,
    wait_agent_status,
    wait_until_ready,
)

FIXTURES = ROOT / "fixtures"
# The seven printers among the fixtures (the switch and the workstation are not printers).
PRINTER_FIXTURES = (
    "hp_laserjet-pro-m404dn",
    "brother_hl-l2350dw",
    "kyocera_ecosys-p3145dn",
    "ricoh_mp-c3004",
    "xerox_versalink-c405",
    "epson_wf-c5790",
    "lexmark_e260dn",
)
SERVER_PORT = 8443
# Documented budgets (DESIGN.md, "What the system is"): bytes on the wire including the upload.
BUDGET_ONE_PRINTER = 7_260
BUDGET_13_PRINTERS = 111_530
RESULTS = ROOT / "benchmarks" / "results"
METHOD = (
    "kernel interface counters of the agent's veth end (both directions, Ethernet frames "
    "without FCS), split by IP protocol with nftables netdev ingress/egress counters"
)
CATEGORIES = ("snmp", "icmp", "upload")
PROTOCOLS = {"snmp": "udp", "icmp": "icmp", "upload": "tcp"}


@dataclass
class BenchLab:
    tag: str
    agent_ns: str
    lan_ns: str
    agent_if: str
    lan_if: str
    agent_ip: str
    server_ip: str
    printers: list[str]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def exec_agent(self) -> list[str]:
        return ["ip", "netns", "exec", self.agent_ns]

    def counters(self) -> dict[str, int]:
        """Interface totals and the per-protocol split, Ethernet frame bytes both directions."""
        return interface_counters(self.agent_ns, self.agent_if, "phqbench", CATEGORIES)


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    d = {k: after[k] - before[k] for k in before}
    d["other"] = d["total"] - sum(d[c] for c in CATEGORIES)  # ARP, mostly
    return d


def _nft_rules(ifname: str, server_port: int) -> str:
    ingress = egress = ""
    for name in CATEGORIES:
        proto = PROTOCOLS[name]
        ingress += f"ip protocol {proto} counter name {name}_in\n"
        egress += f"ip protocol {proto} counter name {name}_out\n"
    counters = "".join(f"counter {n}_{d} {{}}\n" for n in CATEGORIES for d in ("in", "out"))
    counters += "counter syn_out {}\n"
    hook = 'type filter hook {} device "' + ifname + '" priority 0;\n'
    syn = f"tcp dport {server_port} tcp flags & (syn | ack) == syn counter name syn_out\n"
    return (
        f"table netdev phqbench {{\n{counters}"
        f"chain ingress {{ {hook.format('ingress')}{ingress}}}\n"
        f"chain egress {{ {hook.format('egress')}{egress}{syn}}}\n}}\n"
    )


def _start_server(
    lan: list[str], address: str, data_dir: Path, timeout: float = 60
) -> subprocess.Popen[bytes]:
    """``printerhq serve`` in the lan namespace; waits (bounded) for its ready file."""
    ready = data_dir / "ready"
    ready.unlink(missing_ok=True)
    with open(data_dir / "server.log", "ab") as log:
        proc = subprocess.Popen(
            [
                *lan,
                "-m",
                "printerhq",
                "serve",
                "--data-dir",
                str(data_dir),
                "--host",
                address,
                "--port",
                str(SERVER_PORT),
                "--self-signed",
                "--ready-file",
                str(ready),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    wait_until_ready(proc, ready, data_dir / "server.log", timeout)
    return proc


@contextmanager
def open_bench_lab(recordings: list[Path], data_dir: Path) -> Iterator[BenchLab]:
    """Namespaces, veth, nft counters, simulator and server; always torn down."""
    tag = os.environ.get("PHQ_BENCH_TAG", "") + os.urandom(2).hex()  # a helper-owned prefix
    net = _pick_network()
    base = str(net.network_address)[:-1]  # "10.213.N."
    lab = BenchLab(
        tag=tag,
        agent_ns=f"{PREFIX}agent-{tag}",
        lan_ns=f"{PREFIX}lan-{tag}",
        agent_if=f"phqa-{tag}",
        lan_if=f"phql-{tag}",
        agent_ip=base + "1",
        server_ip=base + "2",
        printers=[f"{base}{10 + i}" for i in range(len(recordings))],
    )
    try:
        build_link(
            lab.agent_ns,
            lab.lan_ns,
            lab.agent_if,
            lab.lan_if,
            lab.agent_ip,
            (lab.server_ip, *lab.printers),
        )
        load_nft(lab.agent_ns, _nft_rules(lab.agent_if, SERVER_PORT))
        lan = ["ip", "netns", "exec", lab.lan_ns, PYTHON]
        lab.processes.append(start_sim(lab.lan_ns, recordings, lab.printers))
        # The demo's certificate (ECDSA P-256, same three names), with the lab address in place
        # of 127.0.0.1 so the agent verifies it against its ca_bundle as a site would.
        from printerhq.server.tls import ensure_self_signed

        ensure_self_signed(data_dir, ["localhost", lab.server_ip, "::1"])
        lab.processes.append(_start_server(lan, lab.server_ip, data_dir))
        yield lab
    finally:
        for proc in reversed(lab.processes):
            stop_process(proc, grace=15)
        delete_namespaces(lab.agent_ns, lab.lan_ns)


# -- the two ways to collect ----------------------------------------------------------------------


def _agent_config(lab: BenchLab, base: Path, token_file: Path, cert: Path, interval: float) -> Path:
    path = base / "agent.toml"
    targets = ", ".join(f'"{a}"' for a in lab.printers)
    path.write_text(f"""[server]
url = "https://{lab.server_ip}:{SERVER_PORT}"
token_file = "{token_file}"
ca_bundle = "{cert}"

[[scan]]
targets = [{targets}]
interval = "{interval}s"
discovery_interval = "1h"

[agent]
name = "bench"
state_dir = "{base / "agent-state"}"
jitter = "0s"
""")
    return path


def _server_counts(server_dir: Path) -> tuple[int, int]:
    """Batches and reports the server has taken from the agent (its SQLite file, read-only)."""
    uri = f"file:{server_dir / 'printerhq.sqlite3'}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=10)) as db:
        row = db.execute(
            "SELECT batches_total, reports_total FROM agents WHERE name = 'bench'"
        ).fetchone()
    return int(row[0]), int(row[1])


def measure_agent(
    lab: BenchLab,
    base: Path,
    server_dir: Path,
    token_file: Path,
    cert: Path,
    cycles: int,
    interval: float,
    settle: float,
) -> dict[str, Any]:
    """The first cycle (connect + discovery), then ``cycles`` warm interval periods."""
    config = _agent_config(lab, base, token_file, cert, interval)
    state_dir = base / "agent-state"
    log = base / "agent.log"
    start = lab.counters()
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [
                *lab.exec_agent(),
                PYTHON,
                "-m",
                "printerhq",
                "agent",
                "--config",
                str(config),
                "--log-format",
                "json",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    try:
        first = wait_agent_status(proc, state_dir, None, 60, log)
        time.sleep(settle)
        previous = lab.counters()
        first_cycle = _delta(start, previous)
        counts_first = _server_counts(server_dir)
        periods: list[dict[str, int]] = []
        statuses: list[dict[str, Any]] = []
        for _ in range(cycles):
            seen = statuses[-1] if statuses else first
            status = wait_agent_status(proc, state_dir, seen["time"], interval * 3 + 30, log)
            time.sleep(settle)
            now = lab.counters()
            periods.append(_delta(previous, now))
            statuses.append(status)
            previous = now
        counts_warm = _server_counts(server_dir)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        time.sleep(settle)
        stop = _delta(previous, lab.counters())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    return {
        "first": {**first_cycle, "status": first},
        "periods": periods,
        "statuses": statuses,
        "stop": stop,
        "exit": code,
        "warm_batches": counts_warm[0] - counts_first[0],
        "warm_reports": counts_warm[1] - counts_first[1],
    }


def measure_one_shot(
    lab: BenchLab,
    state_dir: Path,
    spool_dir: Path,
    token_file: Path,
    cert: Path,
    settle: float,
    timeout: float = 120,
) -> dict[str, Any]:
    """One ``printerhq scan --upload`` process, from before its start to after its exit."""
    before = lab.counters()
    done = subprocess.run(
        [
            *lab.exec_agent(),
            PYTHON,
            "-m",
            "printerhq",
            "scan",
            *lab.printers,
            "--json",
            "--upload",
            f"https://{lab.server_ip}:{SERVER_PORT}",
            "--token-file",
            str(token_file),
            "--ca-bundle",
            str(cert),
            "--state-dir",
            str(state_dir),
            "--spool-dir",
            str(spool_dir),
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise RuntimeError(f"scan --upload failed ({done.returncode}): {done.stderr[-3000:]}")
    time.sleep(settle)
    result: dict[str, Any] = _delta(before, lab.counters())
    reports = json.loads(done.stdout)
    result["printers"] = sum(1 for r in reports if r.get("identity", {}).get("is_printer"))
    return result


def measure(
    printers: int = len(PRINTER_FIXTURES),
    cycles: int = 5,
    repeats: int = 3,
    interval: float = 3.0,
    settle: float = 0.5,
) -> dict[str, Any]:
    """Everything, in one lab. Raises RuntimeError with the cause when a process fails."""
    if not 1 <= printers <= len(PRINTER_FIXTURES):
        raise ValueError(f"printers must be 1..{len(PRINTER_FIXTURES)}")
    recordings = [FIXTURES / f"{name}.snmprec" for name in PRINTER_FIXTURES[:printers]]
    with tempfile.TemporaryDirectory(prefix="phq-bench-") as tmp:
        base = Path(tmp)
        server_dir = base / "server"
        server_dir.mkdir()
        with open_bench_lab(recordings, server_dir) as lab:
            token = subprocess.run(
                [
                    PYTHON,
                    "-m",
                    "printerhq",
                    "server",
                    "add-agent",
                    "bench",
                    "--data-dir",
                    str(server_dir),
                ],
                check=True,
                capture_output=True,
                text=True,
                timeout=60,
                cwd=ROOT,
            ).stdout.split()[-1]
            token_file = base / "token"
            token_file.write_text(token + "\n")
            token_file.chmod(0o600)
            cert = server_dir / "server-cert.pem"
            agent = measure_agent(lab, base, server_dir, token_file, cert, cycles, interval, settle)
            cold, warm = [], []
            for r in range(repeats):
                state, spool = base / f"oneshot-state-{r}", base / f"oneshot-spool-{r}"
                cold.append(measure_one_shot(lab, state, spool, token_file, cert, settle))
                warm.append(measure_one_shot(lab, state, spool, token_file, cert, settle))
    return {
        "method": METHOD,
        "printers": printers,
        "cycles": cycles,
        "repeats": repeats,
        "interval": interval,
        "agent": agent,
        "one_shot_cold": cold,
        "one_shot_warm": warm,
        "budget_one_printer": BUDGET_ONE_PRINTER,
        "budget_13_printers": BUDGET_13_PRINTERS,
    }


# -- report ---------------------------------------------------------------------------------------

COLUMNS = (
    "total",
    "snmp",
    "icmp",
    "upload",
    "other",
    "connections",
    "packets",
    "snmp_packets",
    "icmp_packets",
    "upload_packets",
)


def _median(rows: list[dict[str, Any]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in rows) for k in COLUMNS}


def summarize(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Table rows: what ran, its bytes split, per printer, and ratios to the documented budgets."""
    agent = results["agent"]
    n = results["printers"]
    rows = [
        ("agent: first cycle (connect + discovery)", {k: agent["first"][k] for k in COLUMNS}, 1),
        (
            f"agent: warm cycle (median of {len(agent['periods'])})",
            _median(agent["periods"]),
            len(agent["periods"]),
        ),
        (
            f"scan --upload: cold (median of {len(results['one_shot_cold'])})",
            _median(results["one_shot_cold"]),
            len(results["one_shot_cold"]),
        ),
        (
            f"scan --upload: warm repeat (median of {len(results['one_shot_warm'])})",
            _median(results["one_shot_warm"]),
            len(results["one_shot_warm"]),
        ),
    ]
    out = []
    per_printer_budget_13 = results["budget_13_printers"] / 13
    for label, values, samples in rows:
        per_printer = values["total"] / n
        out.append(
            {
                "run": label,
                **values,
                "per_printer": per_printer,
                "samples": samples,
                "vs_one_printer_budget": per_printer / results["budget_one_printer"],
                "vs_13_printer_budget_per_printer": per_printer / per_printer_budget_13,
            }
        )
    return out


def render(results: dict[str, Any]) -> str:
    rows = summarize(results)
    header = (
        f"{'run':44} {'total B':>8} {'SNMP':>7} {'ICMP':>6} {'upload':>7} {'ARP+oth':>7} "
        f"{'segs':>5} {'TCP conn':>8} {'B/printer':>9} {'/7,260':>7} {'/8,579':>7}"
    )
    lines = [
        f"{results['printers']} printers, agent interval {results['interval']:g} s; "
        f"bytes on the wire: {results['method']}.",
        "upload = TLS 1.3 + WebSocket (agent) or TLS 1.3 + WebSocket/HTTPS (one-shot), "
        "handshakes included; segs = its TCP segments (both ways, ACKs included);",
        "TCP conn = TCP connections opened (SYNs sent).",
        "Budgets (DESIGN.md): 7,260 B for a scan of one printer; 111,530 B for 13 printers "
        "= 8,579 B per printer.",
        header,
        "-" * len(header),
    ]
    for r in rows:
        lines.append(
            f"{r['run']:44} {r['total']:>8.0f} {r['snmp']:>7.0f} {r['icmp']:>6.0f} "
            f"{r['upload']:>7.0f} {r['other']:>7.0f} {r['upload_packets']:>5.0f} "
            f"{r['connections']:>8.0f} "
            f"{r['per_printer']:>9.0f} {r['vs_one_printer_budget']:>7.3f} "
            f"{r['vs_13_printer_budget_per_printer']:>7.3f}"
        )
    agent = results["agent"]
    totals = [p["total"] for p in agent["periods"]]
    lines.append("-" * len(header))
    scan_bytes = [s["scan_bytes"] for s in agent["statuses"]]
    upload_bytes = [s["upload_bytes"] for s in agent["statuses"]]
    lines.append(f"agent warm periods (B): {totals}, mean {statistics.mean(totals):.0f}")
    lines.append(
        f"the agent's own count per warm cycle (status.json, payload): scan_bytes "
        f"{scan_bytes}, upload_bytes {upload_bytes}"
    )
    lines.append(
        f"the server took {agent['warm_reports']} reports in {agent['warm_batches']} "
        f"batches over the {len(totals)} warm cycles"
    )
    lines.append(
        f"agent stop (SIGTERM, stream closed): {agent['stop']['total']} B; exit {agent['exit']}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--printers", type=int, default=len(PRINTER_FIXTURES))
    parser.add_argument("--cycles", type=int, default=5, help="warm agent cycles to measure")
    parser.add_argument("--repeats", type=int, default=3, help="one-shot runs, cold and warm each")
    parser.add_argument("--interval", type=float, default=3.0, help="agent interval, seconds")
    parser.add_argument(
        "--settle",
        type=float,
        default=0.5,
        help="seconds to wait after a cycle or a run before reading the counters",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    if not (
        1 <= args.cycles <= 100
        and 1 <= args.repeats <= 20
        and 1 <= args.interval <= 60
        and 0 <= args.settle <= 5
    ):
        parser.error("cycles 1..100, repeats 1..20, interval 1..60 s, settle 0..5 s")
    reason = skip_reason()
    if reason:
        print(
            f"bench_agent_bytes: skipped: {reason} (this benchmark counts bytes with kernel "
            f"interface counters in a network-namespace lab)"
        )
        return 0
    results = measure(args.printers, args.cycles, args.repeats, args.interval, args.settle)
    results["rows"] = summarize(results)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"agent_bytes-{stamp}.json").write_text(json.dumps(results, indent=2, default=str))
    print(json.dumps(results, indent=2, default=str) if args.json else render(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
