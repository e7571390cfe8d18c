"""Bytes on the wire of the four documented scenarios, in a network-namespace lab.

    python -m benchmarks.bench_bytes [--quick] [--json]

Root only (``ip netns``, veth, nftables); without root it says so and measures nothing. The lab
(``phq-bl-a-<tag>`` and ``phq-bl-l-<tag>``, torn down on exit and on Ctrl-C)::

    agent namespace                             LAN namespace
    phqa-<tag>  10.2xx.A.1/24   <== veth ==>    phql-<tag>  10.2xx.A.10        one printer (sim)
                10.2xx.B.1/24                               10.2xx.B.10-.22    13 printers (sim)
                route 10.2xx.S.0/24 on-link                 10.2xx.S.2:8443    printerhq serve
                                                                               (--self-signed)

Every other address of the two /24s is blank: nothing answers ARP for it (the LAN namespace
holds only the addresses above). The server sits in a third /24 so that no scan touches it; the
agent verifies its self-signed certificate against ``server-cert.pem`` (``--ca-bundle``).

The scenarios and their documented budgets (DESIGN.md, "What the system is"):

===================== ============================== ===========
``blank_ip``          one blank address of A           5,280 B
``one_printer``       A.10                             7,260 B
``subnet_one_printer`` A/24 (one printer, the agent)   96,300 B
``thirteen_printers`` B/24 (13 printers, the agent)   111,530 B
===================== ============================== ===========

Each scenario is measured three ways, each from fresh state and under a fresh agent token:

* **the agent** (``printerhq agent``), cycles back to back (``interval`` 3 s, a discovery of the
  whole range every ``discovery_interval`` 15 s, so about every fifth cycle re-sweeps: far more
  often than the defaults of 15 min / 24 h, which only makes the warm mean dearer). *cold* =
  the first cycle with fresh state (TLS connect, discovery, upload); *warm* = the mean cycle
  over cycles 2-12 (2-6 with ``--quick``), re-sweeps included. One cycle is one period between
  two ``status.json`` updates, so idle traffic of the stream counts too;
* **one-shot** ``printerhq scan TARGETS --upload URL --state-dir DIR``, four runs on one state
  dir: *cold* = run 1, *warm* = run 4 (from before the process starts to after it exits);
* **FusionInventory** ``fusioninventory-netdiscovery --first --last --inventory`` (its SNMP
  inventory chained for what it finds; results saved locally, so no upload at all), when
  installed; one run, cold.

**Method**: kernel counters of the agent's veth end (``ip -s -j link``), both directions,
Ethernet frames without FCS: the only link of the agent namespace, so every byte the agent puts
on or takes off the segment. The split by protocol comes from nftables ``netdev`` ingress/egress
counters on the same device: ARP, ICMP, UDP = SNMP, TCP = upload (the only TCP in the lab); the
ingress hook sees frames without their 14-byte MAC header, which is added back.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.netns_lab import (  # noqa: E402
    CREATED_NAMESPACES,
    PYTHON,
    _sh,
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

__all__ = ["CREATED_NAMESPACES", "SCENARIOS", "measure", "render", "main", "skip_reason"]

FIXTURES = ROOT / "fixtures"
REALDATA = ROOT.parent / "shared" / "realdata" / "librenms"
# 13 printers: the seven printer fixtures, then six real recordings (LibreNMS test data) when
# ../shared/realdata is there, else the fixtures again (round robin).
PRINTER_FIXTURES = (
    "hp_laserjet-pro-m404dn",
    "brother_hl-l2350dw",
    "kyocera_ecosys-p3145dn",
    "ricoh_mp-c3004",
    "xerox_versalink-c405",
    "epson_wf-c5790",
    "lexmark_e260dn",
)
REAL_PRINTERS = (
    "jetdirect_m252dw",
    "brother_hl5370dw",
    "dell-laser_s5830dn",
    "konica_c250i",
    "ricoh_mpc3002",
    "sharp_mxm266nv",
)
SERVER_PORT = 8443
CATEGORIES = {"arp": "meta protocol arp", "icmp": "ip protocol icmp"}
CATEGORIES |= {"snmp": "ip protocol udp", "upload": "ip protocol tcp"}
SCENARIOS = {  # name -> documented budget, bytes on the wire including the upload
    "blank_ip": 5_280,
    "one_printer": 7_260,
    "subnet_one_printer": 96_300,
    "thirteen_printers": 111_530,
}
# The targets, as a share of the budget: (cold, warm).
TARGETS = {
    "blank_ip": (0.60, 0.15),
    "one_printer": (0.50, 0.15),
    "subnet_one_printer": (0.25, 0.10),
    "thirteen_printers": (0.40, 0.15),
}
AGENT_INTERVAL = 3.0
AGENT_DISCOVERY_INTERVAL = 15.0
ONE_SHOT_RUNS = 4
RESULTS = ROOT / "benchmarks" / "results"
METHOD = (
    "kernel interface counters of the agent's veth end (both directions, Ethernet frames "
    "without FCS), split by protocol with nftables netdev ingress/egress counters"
)


# -- the lab ---------------------------------------------------------------------------------------


@dataclass
class BytesLab:
    tag: str
    agent_ns: str
    lan_ns: str
    agent_if: str
    lan_if: str
    net_one: ipaddress.IPv4Network  # A: one printer
    net_many: ipaddress.IPv4Network  # B: 13 printers
    server_ip: str
    data_dir: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def host(self, net: ipaddress.IPv4Network, n: int) -> str:
        return str(net.network_address + n)

    @property
    def agent_ips(self) -> list[str]:
        return [self.host(self.net_one, 1), self.host(self.net_many, 1)]

    @property
    def printer_one(self) -> str:
        return self.host(self.net_one, 10)

    @property
    def printers_many(self) -> list[str]:
        return [self.host(self.net_many, 10 + i) for i in range(13)]

    @property
    def blank_ip(self) -> str:
        return self.host(self.net_one, 200)

    def targets(self, scenario: str) -> list[str]:
        return {
            "blank_ip": [self.blank_ip],
            "one_printer": [self.printer_one],
            "subnet_one_printer": [str(self.net_one)],
            "thirteen_printers": [str(self.net_many)],
        }[scenario]

    def expected_printers(self, scenario: str) -> int:
        return {"blank_ip": 0, "one_printer": 1, "subnet_one_printer": 1}.get(scenario, 13)

    def exec_agent(self) -> list[str]:
        return ["ip", "netns", "exec", self.agent_ns]

    def counters(self) -> dict[str, int]:
        """Interface totals and the per-protocol split, Ethernet frame bytes both directions."""
        return interface_counters(self.agent_ns, self.agent_if, "phqbytes", CATEGORIES)


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    d = {k: after[k] - before[k] for k in before}
    d["other"] = d["total"] - sum(d[c] for c in CATEGORIES)
    return d


def _nft_rules(ifname: str) -> str:
    ingress = "".join(f"{match} counter name {name}_in\n" for name, match in CATEGORIES.items())
    egress = "".join(f"{match} counter name {name}_out\n" for name, match in CATEGORIES.items())
    counters = "".join(f"counter {n}_{d} {{}}\n" for n in CATEGORIES for d in ("in", "out"))
    counters += "counter syn_out {}\n"
    hook = 'type filter hook {} device "' + ifname + '" priority 0;\n'
    syn = f"tcp dport {SERVER_PORT} tcp flags & (syn | ack) == syn counter name syn_out\n"
    return (
        f"table netdev phqbytes {{\n{counters}"
        f"chain ingress {{ {hook.format('ingress')}{ingress}}}\n"
        f"chain egress {{ {hook.format('egress')}{egress}{syn}}}\n}}\n"
    )


def _pick_networks() -> tuple[ipaddress.IPv4Network, ...]:
    """Three random /24s of one random 10.2xx.0.0/16 that the host does not use (they will
    exist only in our namespaces)."""
    host = _sh("ip", "-4", "-o", "addr", "show") + _sh("ip", "-4", "route", "show")
    for _ in range(50):
        second = 200 + secrets.randbelow(56)
        thirds: set[int] = set()
        while len(thirds) < 3:
            thirds.add(1 + secrets.randbelow(254))
        nets = tuple(ipaddress.IPv4Network(f"10.{second}.{t}.0/24") for t in sorted(thirds))
        if not any(f"10.{second}.{n.network_address.packed[2]}." in host for n in nets):
            return nets
    raise RuntimeError("no free 10.2xx.N.0/24")


def recordings() -> tuple[list[Path], list[Path]]:
    """(the one printer's recording, the 13 printers' recordings)."""
    fixtures = [FIXTURES / f"{name}.snmprec" for name in PRINTER_FIXTURES]
    real = [REALDATA / f"{name}.snmprec" for name in REAL_PRINTERS]
    if not all(path.exists() for path in real):
        real = [fixtures[i % len(fixtures)] for i in range(len(REAL_PRINTERS))]
    return fixtures[:1], fixtures + real


def _start_server(lab: BytesLab, timeout: float = 60) -> subprocess.Popen[bytes]:
    """``printerhq serve --self-signed --host S.2`` in the LAN namespace (its own certificate,
    which must name that address), waiting (bounded) for its ready file."""
    ready = lab.data_dir / "ready"
    with open(lab.data_dir / "server.log", "ab") as log:
        proc = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                lab.lan_ns,
                PYTHON,
                "-m",
                "printerhq",
                "serve",
                "--data-dir",
                str(lab.data_dir),
                "--host",
                lab.server_ip,
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
    wait_until_ready(proc, ready, lab.data_dir / "server.log", timeout)
    return proc


@contextlib.contextmanager
def open_lab(data_dir: Path, sim_args: tuple[str, ...] = ()) -> Iterator[BytesLab]:
    """Namespaces, veth, counters, simulators and server; always torn down (SIGTERM and SIGINT
    included: they become exceptions here, so the ``finally`` runs)."""
    tag = secrets.token_hex(3)
    net_one, net_many, net_server = _pick_networks()
    lab = BytesLab(
        tag=tag,
        agent_ns=f"phq-bl-a-{tag}",
        lan_ns=f"phq-bl-l-{tag}",
        agent_if=f"phqa-{tag}",
        lan_if=f"phql-{tag}",
        net_one=net_one,
        net_many=net_many,
        server_ip=str(net_server.network_address + 2),
        data_dir=data_dir,
    )
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    # Ctrl-C too, even where a shell started us with SIGINT ignored (a background job).
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        lan_addresses = [lab.printer_one, *lab.printers_many, lab.server_ip]
        build_link(
            lab.agent_ns,
            lab.lan_ns,
            lab.agent_if,
            lab.lan_if,
            lab.agent_ips[0],
            [f"{a}" for a in lan_addresses],
        )
        _sh("ip", "-n", lab.agent_ns, "addr", "add", f"{lab.agent_ips[1]}/24", "dev", lab.agent_if)
        # The server's /24 is reached on the link (no router), but it is not an address of ours,
        # so scans never sweep it.
        _sh("ip", "-n", lab.agent_ns, "route", "add", str(net_server), "dev", lab.agent_if)
        # Neighbour entries of a real agent with a 15-minute interval are stale at every cycle:
        # a cycle 2 s after the last must not ride on ARP answers it would not have. A short
        # reachable time (0.5-1.5 s, random as in the kernel) makes lab cycles pay what real
        # ones pay (the kernel's unicast re-probe of a stale entry, RFC 1122 section 2.3.2.1).
        for ns, ifname in ((lab.agent_ns, lab.agent_if), (lab.lan_ns, lab.lan_if)):
            _sh(*_in(ns), "sysctl", "-q", f"net.ipv4.neigh.{ifname}.base_reachable_time_ms=1000")
        load_nft(lab.agent_ns, _nft_rules(lab.agent_if))
        one, many = recordings()
        lab.processes.append(start_sim(lab.lan_ns, one, [lab.printer_one]))
        lab.processes.append(_start_sim_many(lab, many, sim_args))
        lab.processes.append(_start_server(lab))
        yield lab
    finally:
        for proc in reversed(lab.processes):
            stop_process(proc, grace=15)
        delete_namespaces(lab.agent_ns, lab.lan_ns)
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)


def _start_sim_many(
    lab: BytesLab, paths: list[Path], extra: tuple[str, ...]
) -> subprocess.Popen[bytes]:
    if not extra:
        return start_sim(lab.lan_ns, paths, lab.printers_many)
    from tests.netns_lab import _start

    return _start(
        [
            "ip",
            "netns",
            "exec",
            lab.lan_ns,
            PYTHON,
            "-m",
            "printerhq",
            "sim",
            *map(str, paths),
            "--addresses",
            ",".join(lab.printers_many),
            "--port",
            "161",
            "--allow-non-loopback-in-netns",
            *extra,
        ],
        ready="sim: serving",
    )


def _in(ns: str) -> list[str]:
    return ["ip", "netns", "exec", ns]


def forget_neighbours(lab: BytesLab) -> None:
    """Empty both neighbour tables: a cold run (and a one-shot run hours after the last) knows
    no MAC address yet, so it pays its ARP."""
    for ns in (lab.agent_ns, lab.lan_ns):
        _sh("ip", "-n", ns, "neigh", "flush", "all")


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


# -- the three ways to collect ------------------------------------------------------------------


def _add_agent(lab: BytesLab, name: str, base: Path) -> Path:
    token = subprocess.run(
        [PYTHON, "-m", "printerhq", "server", "add-agent", name, "--data-dir", str(lab.data_dir)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    ).stdout.split()[-1]
    path = base / f"token-{name}"
    path.write_text(token + "\n")
    path.chmod(0o600)
    return path


def measure_agent(
    lab: BytesLab, scenario: str, base: Path, cycles: int, settle: float
) -> dict[str, Any]:
    """Cycle 1 (cold) and cycles 2..``cycles`` of a fresh agent on the scenario's targets."""
    work = base / f"agent-{scenario}"
    work.mkdir()
    token = _add_agent(lab, f"agent-{scenario}", work)
    state_dir = work / "state"
    config = work / "agent.toml"
    targets = ", ".join(f'"{t}"' for t in lab.targets(scenario))
    config.write_text(f"""[server]
url = "https://{lab.server_ip}:{SERVER_PORT}"
token_file = "{token}"
ca_bundle = "{lab.data_dir / "server-cert.pem"}"

[[scan]]
targets = [{targets}]
interval = "{AGENT_INTERVAL:g}s"
discovery_interval = "{AGENT_DISCOVERY_INTERVAL:g}s"

[agent]
name = "agent-{scenario}"
state_dir = "{state_dir}"
jitter = "0s"
""")
    log = work / "agent.log"
    forget_neighbours(lab)
    start = lab.counters()
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [*lab.exec_agent(), PYTHON, "-m", "printerhq", "agent", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    try:
        statuses = [wait_agent_status(proc, state_dir, None, 120, log)]
        time.sleep(settle)
        previous = lab.counters()
        periods: list[dict[str, Any]] = [delta(start, previous)]
        while len(periods) < cycles:
            status = wait_agent_status(proc, state_dir, statuses[-1]["time"], 120, log)
            time.sleep(settle)
            now = lab.counters()
            periods.append(delta(previous, now))
            statuses.append(status)
            previous = now
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        time.sleep(settle)
        stop = delta(previous, lab.counters())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    for period, status in zip(periods, statuses, strict=True):
        period["kind"] = status["kind"]
        period["printers"] = status["printers"]
    return {"cycles": periods, "stop": stop, "exit": code}


def measure_one_shot(lab: BytesLab, scenario: str, base: Path, settle: float) -> dict[str, Any]:
    """``ONE_SHOT_RUNS`` runs of ``scan --upload`` on one state dir."""
    work = base / f"oneshot-{scenario}"
    work.mkdir()
    token = _add_agent(lab, f"oneshot-{scenario}", work)
    runs = []
    for _ in range(ONE_SHOT_RUNS):
        forget_neighbours(lab)
        before = lab.counters()
        started = time.monotonic()
        done = subprocess.run(
            [
                *lab.exec_agent(),
                PYTHON,
                "-m",
                "printerhq",
                "scan",
                *lab.targets(scenario),
                "--json",
                "--upload",
                f"https://{lab.server_ip}:{SERVER_PORT}",
                "--token-file",
                str(token),
                "--ca-bundle",
                str(lab.data_dir / "server-cert.pem"),
                "--state-dir",
                str(work / "state"),
            ],
            capture_output=True,
            text=True,
            timeout=180,
            cwd=ROOT,
        )
        elapsed = time.monotonic() - started
        if done.returncode != 0:
            raise RuntimeError(f"scan --upload failed ({done.returncode}): {done.stderr[-3000:]}")
        time.sleep(settle)
        run: dict[str, Any] = delta(before, lab.counters())
        run["seconds"] = round(elapsed, 2)
        reports = json.loads(done.stdout)
        run["printers"] = sum(1 for r in reports if r.get("identity", {}).get("is_printer"))
        runs.append(run)
    return {"runs": runs}


def fusion_available() -> bool:
    return shutil.which("fusioninventory-netdiscovery") is not None


def measure_fusion(lab: BytesLab, scenario: str, base: Path, settle: float) -> dict[str, Any]:
    """One ``fusioninventory-netdiscovery --inventory`` run over the scenario's range."""
    targets = lab.targets(scenario)
    if "/" in targets[0]:
        hosts = list(ipaddress.IPv4Network(targets[0]).hosts())
        first, last = str(hosts[0]), str(hosts[-1])
    else:
        first = last = targets[0]
    save = base / f"fusion-{scenario}"
    save.mkdir()
    forget_neighbours(lab)
    before = lab.counters()
    started = time.monotonic()
    done = subprocess.run(
        [
            *lab.exec_agent(),
            "fusioninventory-netdiscovery",
            "--first",
            first,
            "--last",
            last,
            "--threads",
            "32",  # its default of 1 takes minutes per /24; the byte count moves with it too
            "--timeout",
            "1",
            "--inventory",
            "--save",
            str(save),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    elapsed = time.monotonic() - started
    time.sleep(settle)
    run: dict[str, Any] = delta(before, lab.counters())
    inventories = list((save / "netinventory").glob("*.xml")) if save.exists() else []
    run["printers"] = sum(
        1 for path in inventories if "<TYPE>PRINTER</TYPE>" in path.read_text(errors="replace")
    )
    run["devices"] = len(list((save / "netdiscovery").glob("*.xml")))
    run["exit"] = done.returncode
    run["seconds"] = round(elapsed, 1)
    return run


def measure(
    quick: bool = False,
    fusion: bool = True,
    settle: float = 0.4,
    scenarios: list[str] | None = None,
    cycles: int | None = None,
) -> dict[str, Any]:
    """Everything, in one lab. Raises RuntimeError with the cause when a process fails."""
    cycles = cycles or (6 if quick else 12)
    chosen = {name: SCENARIOS[name] for name in scenarios or SCENARIOS}
    out: dict[str, Any] = {
        "method": METHOD,
        "quick": quick,
        "agent_cycles": cycles,
        "agent_interval": AGENT_INTERVAL,
        "agent_discovery_interval": AGENT_DISCOVERY_INTERVAL,
        "one_shot_runs": ONE_SHOT_RUNS,
        "bytes": {},
        "one_shot": {},
        "fusioninventory": {},
        "detail": {},
    }
    with tempfile.TemporaryDirectory(prefix="phq-bl-") as tmp:
        base = Path(tmp)
        data_dir = base / "server"
        data_dir.mkdir()
        with open_lab(data_dir) as lab:
            measure_lab(lab, base, out, chosen, cycles, fusion, settle)
    return out


def measure_lab(
    lab: BytesLab,
    base: Path,
    out: dict[str, Any],
    chosen: dict[str, int],
    cycles: int,
    fusion: bool,
    settle: float,
) -> None:
    """The scenarios in an open lab, into ``out``."""
    out["lab"] = {
        "one_printer": lab.printer_one,
        "blank_ip": lab.blank_ip,
        "subnet_one_printer": str(lab.net_one),
        "thirteen_printers": str(lab.net_many),
        "server": lab.server_ip,
    }
    for scenario, budget in chosen.items():
        agent = measure_agent(lab, scenario, base, cycles, settle)
        one_shot = measure_one_shot(lab, scenario, base, settle)
        warm_cycles = agent["cycles"][1:]
        out["bytes"][scenario] = {
            "cold": agent["cycles"][0]["total"],
            "warm": round(statistics.mean(c["total"] for c in warm_cycles)),
            "budget": budget,
        }
        runs = one_shot["runs"]
        out["one_shot"][scenario] = {
            "cold": runs[0]["total"],
            "warm": runs[-1]["total"],
            "budget": budget,
        }
        detail: dict[str, Any] = {
            "expected_printers": lab.expected_printers(scenario),
            "agent_cold": _split(agent["cycles"][0]),
            "agent_warm_mean": _mean_split(warm_cycles),
            "agent_cycles": agent["cycles"],
            "agent_stop": agent["stop"],
            "agent_exit": agent["exit"],
            "one_shot_runs": runs,
        }
        if fusion and fusion_available():
            run = measure_fusion(lab, scenario, base, settle)
            out["fusioninventory"][scenario] = {
                "cold": run["total"],
                "budget": budget,
                "printers": run["printers"],
            }
            detail["fusioninventory"] = run
        out["detail"][scenario] = detail


def _split(period: dict[str, Any]) -> dict[str, Any]:
    keys = ("total", *CATEGORIES, "other", "connections", "printers", "kind")
    return {k: period[k] for k in keys if k in period}


def _mean_split(periods: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("total", *CATEGORIES, "other", "connections")
    mean = {k: round(statistics.mean(p[k] for p in periods)) for k in keys}
    mean["discoveries"] = sum(1 for p in periods if p.get("kind") == "discovery")
    mean["cycles"] = len(periods)
    return mean


# -- report ---------------------------------------------------------------------------------------


def render(results: dict[str, Any]) -> str:
    warm_span = f"2-{results['agent_cycles']}"
    lines = [
        f"bytes on the wire ({results['method']})",
        f"agent: interval {results['agent_interval']:g} s, discovery every "
        f"{results['agent_discovery_interval']:g} s; cold = cycle 1, warm = mean of cycles "
        f"{warm_span}; one-shot `scan --upload`: run 1 cold, run {results['one_shot_runs']} warm",
        "",
        f"{'scenario':20} {'budget':>8} {'agent cold':>11} {'agent warm':>11} "
        f"{'1-shot cold':>11} {'1-shot warm':>11} {'FusionInv.':>11}",
    ]
    for scenario, agent in results["bytes"].items():
        budget = agent["budget"]
        one = results["one_shot"][scenario]
        fusion = results["fusioninventory"].get(scenario)
        lines.append(
            f"{scenario:20} {budget:>8,} "
            f"{_cell(agent['cold'], budget)} {_cell(agent['warm'], budget)} "
            f"{_cell(one['cold'], budget)} {_cell(one['warm'], budget)} "
            f"{_cell(fusion['cold'], budget) if fusion else '-':>11}"
        )
    lines += ["", "by protocol (B): ARP / ICMP / SNMP / upload / other"]
    for scenario, detail in results["detail"].items():
        for label, key in (("agent cold", "agent_cold"), ("agent warm", "agent_warm_mean")):
            d = detail[key]
            lines.append(
                f"  {scenario:20} {label:11} "
                + " / ".join(f"{d[k]:,}" for k in (*CATEGORIES, "other"))
                + (f"  ({d['discoveries']} re-sweeps)" if "discoveries" in d else "")
            )
        for label, run in (
            ("1-shot cold", detail["one_shot_runs"][0]),
            ("1-shot warm", detail["one_shot_runs"][-1]),
            ("FusionInv.", detail.get("fusioninventory")),
        ):
            if run is None:
                continue
            lines.append(
                f"  {scenario:20} {label:11} "
                + " / ".join(f"{run[k]:,}" for k in (*CATEGORIES, "other"))
                + f"  printers {run['printers']}/{detail['expected_printers']}"
            )
    return "\n".join(lines)


def _cell(value: int, budget: int) -> str:
    return f"{value:>6,} {100 * value / budget:>3.0f}%"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6 agent cycles instead of 12")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--no-fusion", dest="fusion", action="store_false", help="skip FusionInventory"
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=list(SCENARIOS),
        help="measure only this scenario (repeatable; default: all four)",
    )
    args = parser.parse_args(argv)
    reason = skip_reason()
    if reason:
        print(f"bench_bytes: skipped: {reason} (it counts bytes in a network-namespace lab)")
        return 0
    try:
        results = measure(quick=args.quick, fusion=args.fusion, scenarios=args.scenario)
    except KeyboardInterrupt:
        print("bench_bytes: interrupted; the lab is torn down", file=sys.stderr)
        return 130
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"bytes-{stamp}.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2) if args.json else render(results))
    return 0


if __name__ == "__main__":
    os.nice(0)
    raise SystemExit(main())
