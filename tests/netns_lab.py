"""A network-namespace lab: an agent and a /24 of simulated printers on one Ethernet segment.

::

    phq-agent-<tag>                          phq-lan-<tag>
    phqa-<tag> 10.213.N.1/24  <== veth ==>   phql-<tag> 10.213.N.10 .11 .12 .13 /24
                                             .10-.12: `printerhq sim` (SNMP), .11 drops ICMP (nft)
                                             .13: SNMP off, an EWS-like web page on port 80

Every other address of the /24 is blank: nothing answers ARP for it. The /24 is a random
10.213.N.0/24 that exists only inside these two namespaces (the veth pair is created directly in
them, never on the host, and no route leads out), so no packet of the lab can reach a real
network. IPv6 is disabled in both namespaces so interface counters show only our traffic.

Use :func:`open_lab` (context manager) or the ``netns_lab`` pytest fixture; both skip with a
message when not root or ``ip netns`` is unavailable, and always delete the namespaces.
Code that must run *inside* a namespace runs as a subprocess through :meth:`Lab.run_agent`, which
calls this module's command line (``python -m tests.netns_lab sweep|kernel-resolve|discover|ews``).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
FIXTURES = ROOT / "fixtures"
PREFIX = "phq-"
# Lab namespaces this process created, and those still open (for the leftover check; other
# processes, e.g. another test run at the same time, may own phq- namespaces of their own).
CREATED_NAMESPACES: set[str] = set()
OPEN_NAMESPACES: set[str] = set()

SNMP_RECORDINGS = (
    "hp_laserjet-pro-m404dn.snmprec",
    "brother_hl-l2350dw.snmprec",
    "kyocera_ecosys-p3145dn.snmprec",
)


ETHERNET_HEADER = 14  # the netdev ingress hook sees frames after the MAC header is pulled


def skip_reason() -> str | None:
    """Why the lab cannot run here, or None."""
    if os.geteuid() != 0:
        return "network-namespace lab needs root (ip netns, veth, nft)"
    if shutil.which("ip") is None:
        return "iproute2 'ip' is not installed"
    if shutil.which("nft") is None:
        return "nftables 'nft' is not installed (apt-get install nftables)"
    probe = f"{PREFIX}probe-{secrets.token_hex(3)}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"ip netns add failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def list_namespaces() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _sh(*args: str, timeout: float = 20) -> str:
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


@dataclass
class Lab:
    tag: str
    agent_ns: str
    lan_ns: str
    agent_if: str
    lan_if: str
    network: ipaddress.IPv4Network
    agent_ip: str
    snmp_printers: list[str]
    icmp_dropping: str
    web_only: str
    processes: list[subprocess.Popen] = field(default_factory=list)  # type: ignore[type-arg]

    @property
    def printers(self) -> list[str]:
        return [*self.snmp_printers, self.web_only]

    @property
    def blank(self) -> list[str]:
        used = {self.agent_ip, *self.printers}
        return [str(a) for a in self.network.hosts() if str(a) not in used]

    def in_agent(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", self.agent_ns, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
        )

    def run_agent(self, command: str, *args: str, timeout: float = 120) -> dict:  # type: ignore[type-arg]
        """Run ``python -m tests.netns_lab COMMAND ARGS`` inside the agent namespace; its JSON."""
        done = self.in_agent(PYTHON, "-m", "tests.netns_lab", command, *args, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{command} in {self.agent_ns} failed: {done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])


def _pick_network() -> ipaddress.IPv4Network:
    """A random 10.213.N.0/24 not present on the host (it will exist only in our namespaces)."""
    host = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True).stdout
    for _ in range(50):
        third = secrets.randbelow(254) + 1
        if f"10.213.{third}." not in host:
            return ipaddress.IPv4Network(f"10.213.{third}.0/24")
    raise RuntimeError("no free 10.213.N.0/24")


def _start(argv: list[str], ready: str, timeout: float = 20) -> subprocess.Popen:  # type: ignore[type-arg]
    """Start a server process and wait (bounded) for its ready line on stdout."""
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errors, cwd=ROOT)
        assert proc.stdout is not None
        os.set_blocking(proc.stdout.fileno(), False)
        deadline = time.monotonic() + timeout
        seen = b""
        while time.monotonic() < deadline:
            seen += proc.stdout.read() or b""
            if ready.encode() in seen:
                return proc
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        proc.kill()
        proc.wait(timeout=5)
        errors.seek(0)
        message = errors.read().decode(errors="replace")[-2000:]
    raise RuntimeError(f"{' '.join(argv)} did not become ready: {seen!r} {message}")


def build_link(
    agent_ns: str,
    lan_ns: str,
    agent_if: str,
    lan_if: str,
    agent_ip: str,
    lan_addresses: Iterable[str],
) -> None:
    """Two fresh namespaces (IPv6 off, lo up) joined by a veth pair, addressed in one /24."""
    for ns in (agent_ns, lan_ns):
        _sh("ip", "netns", "add", ns)
        CREATED_NAMESPACES.add(ns)
        OPEN_NAMESPACES.add(ns)
        # IPv6 off: no router solicitations or DAD on the link, only the traffic we send.
        for key in ("all", "default"):
            _sh(
                "ip",
                "netns",
                "exec",
                ns,
                "sh",
                "-c",
                f"echo 1 > /proc/sys/net/ipv6/conf/{key}/disable_ipv6",
            )
        _sh("ip", "-n", ns, "link", "set", "lo", "up")
    # Both ends are created inside the namespaces: the host never sees this link.
    _sh(
        "ip",
        "link",
        "add",
        agent_if,
        "netns",
        agent_ns,
        "type",
        "veth",
        "peer",
        "name",
        lan_if,
        "netns",
        lan_ns,
    )
    _sh("ip", "-n", agent_ns, "addr", "add", f"{agent_ip}/24", "dev", agent_if)
    for address in lan_addresses:
        _sh("ip", "-n", lan_ns, "addr", "add", f"{address}/24", "dev", lan_if)
    for ns, ifname in ((agent_ns, agent_if), (lan_ns, lan_if)):
        _sh("ip", "-n", ns, "link", "set", ifname, "up")


def load_nft(ns: str, rules: str) -> None:
    """Load an nftables ruleset (``nft -f`` syntax) inside namespace ``ns``."""
    done = subprocess.run(
        ["ip", "netns", "exec", ns, "nft", "-f", "-"],
        input=rules,
        capture_output=True,
        text=True,
        timeout=20,
    )
    if done.returncode != 0:
        raise RuntimeError(f"nft failed: {done.stderr}")


def start_sim(lan_ns: str, recordings: Iterable[Path], addresses: list[str]) -> subprocess.Popen:  # type: ignore[type-arg]
    """The printer simulator in ``lan_ns``, serving ``recordings`` on ``addresses`` port 161."""
    return _start(
        [
            "ip",
            "netns",
            "exec",
            lan_ns,
            PYTHON,
            "-m",
            "printerhq",
            "sim",
            *map(str, recordings),
            "--addresses",
            ",".join(addresses),
            "--port",
            "161",
            "--allow-non-loopback-in-netns",
        ],
        ready="sim: serving",
    )


def stop_process(proc: subprocess.Popen, grace: float = 5.0) -> None:  # type: ignore[type-arg]
    """SIGTERM, SIGKILL after ``grace`` seconds, then close its pipes."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    for stream in (proc.stdout, proc.stderr):
        if stream:
            stream.close()


def read_agent_status(state_dir: Path) -> dict[str, Any] | None:
    try:
        status: dict[str, Any] = json.loads((state_dir / "status.json").read_text())
        return status
    except (OSError, ValueError):
        return None


def wait_agent_status(
    proc: subprocess.Popen[bytes], state_dir: Path, after: float | None, timeout: float, log: Path
) -> dict[str, Any]:
    """The agent's next status.json whose ``time`` differs from ``after`` (bounded wait)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"agent exited ({proc.returncode}): {log.read_text()[-3000:]}")
        status = read_agent_status(state_dir)
        if status is not None and status.get("time") != after:
            return status
        time.sleep(0.02)
    raise RuntimeError(f"no agent cycle within {timeout} s: {log.read_text()[-3000:]}")


def interface_counters(
    ns: str, ifname: str, table: str, categories: Iterable[str]
) -> dict[str, int]:
    """Bytes and packets of ``ifname`` in ``ns``, both directions (Ethernet frames without FCS),
    and per category from the ``{category}_in``/``_out`` counters of nftables netdev ``table``
    (plus ``syn_out``: TCP connections opened)."""
    link = json.loads(_sh("ip", "-n", ns, "-s", "-j", "link", "show", "dev", ifname))[0]["stats64"]
    out = {
        "total": link["rx"]["bytes"] + link["tx"]["bytes"],
        "packets": link["rx"]["packets"] + link["tx"]["packets"],
    }
    listed = json.loads(
        _sh("ip", "netns", "exec", ns, "nft", "-j", "list", "counters", "table", "netdev", table)
    )
    raw = {i["counter"]["name"]: i["counter"] for i in listed["nftables"] if "counter" in i}
    for name in categories:
        incoming, outgoing = raw[f"{name}_in"], raw[f"{name}_out"]
        # egress sees the whole frame, ingress the frame after its MAC header
        out[name] = incoming["bytes"] + ETHERNET_HEADER * incoming["packets"] + outgoing["bytes"]
        out[f"{name}_packets"] = incoming["packets"] + outgoing["packets"]
    out["connections"] = raw["syn_out"]["packets"]
    return out


def wait_until_ready(
    proc: subprocess.Popen,  # type: ignore[type-arg]
    ready: Path,
    log: Path,
    timeout: float,
) -> None:
    """Wait (bounded) until a server writes its ready file; stop it and raise with its log's
    tail when it exits or the time is up."""
    deadline = time.monotonic() + timeout
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_process(proc, grace=15)
            raise RuntimeError(f"server did not start: {log.read_text()[-2000:]}")
        time.sleep(0.05)


def delete_namespaces(*names: str) -> None:
    for ns in names:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)
        OPEN_NAMESPACES.discard(ns)


@contextmanager
def open_lab() -> Iterator[Lab]:
    """Build the lab, yield it, and always tear it down (processes stopped, namespaces deleted)."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    tag = secrets.token_hex(3)
    net = _pick_network()
    base = str(net.network_address)[:-1]  # "10.213.N."
    lab = Lab(
        tag=tag,
        agent_ns=f"{PREFIX}agent-{tag}",
        lan_ns=f"{PREFIX}lan-{tag}",
        agent_if=f"phqa-{tag}",
        lan_if=f"phql-{tag}",
        network=net,
        agent_ip=base + "1",
        snmp_printers=[base + "10", base + "11", base + "12"],
        icmp_dropping=base + "11",
        web_only=base + "13",
    )
    try:
        build_link(lab.agent_ns, lab.lan_ns, lab.agent_if, lab.lan_if, lab.agent_ip, lab.printers)
        # The ICMP-dropping printer: echo requests to that one address are dropped in the lan
        # namespace's input hook (its ARP and SNMP still work).
        load_nft(
            lab.lan_ns,
            f"add table inet phq\n"
            f"add chain inet phq input {{ type filter hook input priority 0; }}\n"
            f"add rule inet phq input ip daddr {lab.icmp_dropping} icmp type echo-request drop\n",
        )
        lan = ["ip", "netns", "exec", lab.lan_ns, PYTHON]
        lab.processes.append(
            start_sim(lab.lan_ns, [FIXTURES / r for r in SNMP_RECORDINGS], lab.snmp_printers)
        )
        lab.processes.append(
            _start(
                [*lan, "-m", "tests.netns_lab", "ews", "--address", lab.web_only, "--port", "80"],
                ready="ews: serving",
            )
        )
        yield lab
    finally:
        for proc in lab.processes:
            stop_process(proc)
        delete_namespaces(lab.agent_ns, lab.lan_ns)


@pytest.fixture(scope="module")
def netns_lab() -> Iterator[Lab]:
    with open_lab() as lab:
        yield lab


# -- commands that run inside a namespace ---------------------------------------------------------


def _counters(ifname: str) -> dict[str, int]:
    base = Path("/sys/class/net") / ifname / "statistics"
    return {
        name: int((base / name).read_text())
        for name in ("tx_packets", "tx_bytes", "rx_packets", "rx_bytes")
    }


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before[k] for k in before}


def _cmd_ews(args: argparse.Namespace) -> int:
    """Serve the lab's synthetic EWS page (runs in the lan namespace)."""
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from tests.helpers_ews import LAB_WEB_ONLY

    class Handler(BaseHTTPRequestHandler):
        def version_string(self) -> str:
            return LAB_WEB_ONLY.server or ""

        def do_GET(self) -> None:
            body = LAB_WEB_ONLY.html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer((args.address, args.port), Handler)
    print(f"ews: serving on {args.address}:{args.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    import trio

    from printerhq.arp import ArpStats, arp_sweep

    targets = [
        str(a) for a in ipaddress.IPv4Network(args.network).hosts() if str(a) != args.exclude
    ]
    stats = ArpStats()
    audit = None
    if args.audit:
        from printerhq.audit.log import AuditLog

        audit = AuditLog(args.audit).open()
    before = _counters(args.interface)
    found = trio.run(
        lambda: arp_sweep(
            args.interface,
            targets,
            timeout=args.timeout,
            retries=args.retries,
            stats=stats,
            audit=audit,
        )
    )
    if audit is not None:
        audit.close()
    time.sleep(0.2)
    wire = _delta(before, _counters(args.interface))
    counts = {**vars(stats), "frames_sent": stats.frames_sent}
    print(json.dumps({"found": found, "targets": len(targets), "stats": counts, "wire": wire}))
    return 0


def _cmd_kernel_resolve(args: argparse.Namespace) -> int:
    """One UDP datagram to each address: the kernel ARPs for each (3 solicitations) and gives
    up; the datagrams never leave. Measures what 'just send an IP probe' costs in ARP."""
    import socket

    before = _counters(args.interface)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        for address in args.addresses.split(","):
            try:
                sock.sendto(b"x", (address, 9))
            except OSError:
                pass
    time.sleep(args.wait)
    wire = _delta(before, _counters(args.interface))
    print(json.dumps({"addresses": len(args.addresses.split(",")), "wire": wire}))
    return 0


def _cmd_discover(args: argparse.Namespace) -> int:
    """ARP-first discovery (or the ICMP + SNMP fallback) + identification, as JSON."""
    import trio

    from printerhq.arp import arp_discover
    from printerhq.http import probe_client, probe_http
    from printerhq.snmp.client import Community, SnmpClient, SnmpError, Target

    try:
        from printerhq.icmp import Pinger
    except ImportError:  # being written elsewhere; discovery works without it
        Pinger = None  # type: ignore[assignment,misc]

    sys_descr, sys_object_id = (1, 3, 6, 1, 2, 1, 1, 1, 0), (1, 3, 6, 1, 2, 1, 1, 2, 0)
    targets = [
        str(a) for a in ipaddress.IPv4Network(args.network).hosts() if str(a) != args.exclude
    ]

    async def main() -> dict:  # type: ignore[type-arg]
        before = _counters(args.interface)
        report: dict[str, dict] = {}  # type: ignore[type-arg]
        if args.mode == "arp":
            discovery = await arp_discover(targets, timeout=0.5, retries=args.arp_retries)
            live = list(discovery.live)
            arp_info = {
                "live": discovery.live,
                "unswept": discovery.unswept,
                "reason": discovery.reason,
                "frames": discovery.stats.frames_sent,
                "bytes": discovery.stats.bytes_sent,
            }
        else:
            live = targets  # no ARP: every address gets the IP probes
            arp_info = None
        async with SnmpClient(timeout=args.snmp_timeout, retries=1) as snmp:
            client = probe_client(timeout=args.http_timeout)
            async with client:
                pinger_cm = Pinger() if Pinger is not None else None
                pinger = await pinger_cm.__aenter__() if pinger_cm is not None else None
                try:

                    async def one(address: str) -> None:
                        entry: dict = {}  # type: ignore[type-arg]
                        if pinger is not None:
                            entry["icmp"] = await pinger.ping(address, timeout=1.0, retries=0)
                        try:
                            varbinds = await snmp.get(
                                Target(address, credentials=[Community(b"public")]),
                                [sys_descr, sys_object_id],
                            )
                            value = varbinds[0].value
                            if isinstance(value, bytes):
                                value = value.decode("utf-8", "replace")
                            entry["snmp"] = str(value)[:80]
                        except SnmpError:
                            entry["snmp"] = None
                        entry["http"] = None
                        if entry["snmp"] is None:
                            found = await probe_http(
                                address, timeout=args.http_timeout, client=client
                            )
                            if found is not None:
                                entry["http"] = {
                                    "vendor": found.vendor,
                                    "model": found.model,
                                    "serial": found.serial,
                                }
                        if entry.get("icmp") is not None or entry["snmp"] or entry["http"]:
                            report[address] = entry

                    async with trio.open_nursery() as nursery:
                        for address in live:
                            nursery.start_soon(one, address)
                finally:
                    if pinger_cm is not None:
                        await pinger_cm.__aexit__(None, None, None)
        await trio.sleep(0.2)
        return {
            "devices": report,
            "arp": arp_info,
            "icmp": Pinger is not None,
            "wire": _delta(before, _counters(args.interface)),
        }

    print(json.dumps(trio.run(main), default=str))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.netns_lab")
    sub = parser.add_subparsers(dest="command", required=True)
    ews = sub.add_parser("ews")
    ews.add_argument("--address", required=True)
    ews.add_argument("--port", type=int, default=80)
    ews.set_defaults(func=_cmd_ews)
    sweep = sub.add_parser("sweep")
    sweep.add_argument("--interface", required=True)
    sweep.add_argument("--network", required=True)
    sweep.add_argument("--exclude", default="")
    sweep.add_argument("--timeout", type=float, default=1.0)
    sweep.add_argument("--retries", type=int, default=1)
    sweep.add_argument("--audit", default="", help="keep the audit trail in this directory")
    sweep.set_defaults(func=_cmd_sweep)
    kernel = sub.add_parser("kernel-resolve")
    kernel.add_argument("--interface", required=True)
    kernel.add_argument("--addresses", required=True)
    kernel.add_argument("--wait", type=float, default=4.0)
    kernel.set_defaults(func=_cmd_kernel_resolve)
    discover = sub.add_parser("discover")
    discover.add_argument("--interface", required=True)
    discover.add_argument("--network", required=True)
    discover.add_argument("--exclude", default="")
    discover.add_argument("--mode", choices=("arp", "fallback"), default="arp")
    discover.add_argument("--arp-retries", type=int, default=0)
    discover.add_argument("--snmp-timeout", type=float, default=0.5)
    discover.add_argument("--http-timeout", type=float, default=2.0)
    discover.set_defaults(func=_cmd_discover)
    args = parser.parse_args(argv)
    # Safety: these commands send packets; they must run inside a lab namespace.
    from printerhq.sim.server import in_named_network_namespace

    if not in_named_network_namespace():
        print("refusing: run inside a lab namespace (ip netns exec phq-...)", file=sys.stderr)
        return 2
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
