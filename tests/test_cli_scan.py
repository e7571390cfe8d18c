"""End to end through the real command line: `printerhq sim` in one process, `printerhq scan` in
another, talking UDP on loopback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from printerhq.sim.recording import Recording

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = sorted((ROOT / "fixtures").glob("*.snmprec"))
PRINTER_MIB = (1, 3, 6, 1, 2, 1, 43)
HR_DEVICE_TYPE_1 = (1, 3, 6, 1, 2, 1, 25, 3, 2, 1, 2, 1)
HR_DEVICE_PRINTER = (1, 3, 6, 1, 2, 1, 25, 3, 1, 5)


def is_printer_recording(path: Path) -> bool:
    """Oracle independent of our identification code: the recording carries the Printer-MIB or
    says hrDevicePrinter for device 1."""
    recording = Recording.load(path)
    device_type = recording.get(HR_DEVICE_TYPE_1)
    if device_type.value == HR_DEVICE_PRINTER:
        return True
    after = recording.get_next(PRINTER_MIB)
    return not after.is_exception and after.oid[: len(PRINTER_MIB)] == PRINTER_MIB


def free_udp_port(address: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((address, 0))
        return probe.getsockname()[1]


def printerhq(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "printerhq", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        **kwargs,
    )


@pytest.fixture
def simulator():
    """`printerhq sim fixtures/*.snmprec --addresses 127.78.0.1-127.78.0.40` as a subprocess."""
    port = free_udp_port("127.78.0.1")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "printerhq",
            "sim",
            *map(str, FIXTURES),
            "--addresses",
            "127.78.0.1-127.78.0.40",
            "--port",
            str(port),
            "--fault",
            "malformed@127.78.0.40",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        ready = process.stdout.readline()
        assert ready.startswith("sim: serving"), ready + process.stderr.read()
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_scan_lists_exactly_the_simulated_printers(simulator):
    port = simulator
    result = printerhq(
        "scan", "127.78.0.0/24", "--port", str(port), "--json", "--timeout", "0.3", "--retries", "0"
    )
    reports = json.loads(result.stdout)
    # 1 (a device failed): exactly the agent at .40, which answers malformed replies.
    assert result.returncode == 1, result.stderr
    assert {r["identity"]["address"] for r in reports if r.get("errors")} == {"127.78.0.40"}
    # Recordings are assigned round-robin to 127.78.0.1..40; .40 sends malformed replies.
    expected = {
        f"127.78.0.{i + 1}" for i in range(39) if is_printer_recording(FIXTURES[i % len(FIXTURES)])
    }
    printers = {r["identity"]["address"] for r in reports if r["identity"].get("is_printer")}
    assert printers == expected
    for report in reports:
        identity = report["identity"]
        if identity.get("is_printer"):
            assert identity.get("vendor"), identity
            assert identity.get("sys_descr"), identity


def test_scan_table_and_all_agents(simulator):
    port = simulator
    result = printerhq(
        "scan",
        "127.78.0.1-127.78.0.12",
        "--port",
        str(port),
        "--all",
        "--identify-only",
        "--timeout",
        "0.3",
        "--retries",
        "0",
    )
    assert result.returncode == 0, result.stderr
    # Every non-printer fixture shows up with --all, in the table.
    for index, path in enumerate(FIXTURES[:12]):
        if not is_printer_recording(path):
            assert f"127.78.0.{index + 1}" in result.stdout


def test_malformed_replies_do_not_stop_the_scan(simulator):
    port = simulator
    result = printerhq(
        "scan",
        "127.78.0.38-127.78.0.40",
        "--port",
        str(port),
        "--json",
        "--all",
        "--timeout",
        "0.3",
        "--retries",
        "0",
    )
    # 1: the malformed agent is a device that could not be read (the others are listed).
    assert result.returncode == 1, result.stderr
    addresses = {r["identity"]["address"] for r in json.loads(result.stdout)}
    assert "127.78.0.40" not in addresses or any(
        r["errors"] for r in json.loads(result.stdout) if r["identity"]["address"] == "127.78.0.40"
    )
    assert {"127.78.0.38", "127.78.0.39"} <= addresses


def test_wrong_community_finds_nothing_but_finishes(simulator):
    port = simulator
    result = printerhq(
        "scan",
        "127.78.0.1-127.78.0.3",
        "--port",
        str(port),
        "--json",
        "--community",
        "not-the-community",
        "--timeout",
        "0.2",
        "--retries",
        "0",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


@pytest.mark.parametrize("target", ["127.78.0.300", "10.0.0.1-", "!", "127.78.0.0/33"])
def test_malformed_target_is_a_clear_error(target):
    result = printerhq("scan", target)
    assert result.returncode == 2
    assert "printerhq scan:" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_runs(tmp_path):
    env = dict(os.environ)
    result = printerhq("demo", "--network", "127.79.0.0/24", env=env)
    assert result.returncode == 0, result.stderr
    assert "printers" in result.stderr


@pytest.fixture(scope="module")
def v3_snmpd(tmp_path_factory):
    from tests.helpers_snmpv3 import snmpd_available, start_snmpd

    if not snmpd_available():
        pytest.skip("net-snmp snmpd is not installed (./run setup installs it as root)")
    server = start_snmpd(tmp_path_factory.mktemp("snmpd-v3-cli"))
    yield server
    server.stop()


def test_scan_over_snmpv3_with_credentials_from_environment(v3_snmpd):
    from printerhq.snmp.usm import AuthProtocol, PrivProtocol
    from tests.helpers_snmpv3 import AUTH_PASS, PRIV_PASS, user_name

    user = user_name(AuthProtocol.SHA256, PrivProtocol.AES)
    env = {
        **os.environ,
        "PRINTERHQ_V3_USER": user,
        "PRINTERHQ_V3_AUTH": f"SHA-256:{AUTH_PASS}",
        "PRINTERHQ_V3_PRIV": f"AES:{PRIV_PASS}",
    }
    result = printerhq(
        "scan",
        "127.0.0.1",
        "--port",
        str(v3_snmpd.port),
        "--all",
        "--json",
        "--identify-only",
        "--timeout",
        "1",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    [report] = json.loads(result.stdout)
    assert report["protocol"] == "snmpv3/authPriv"
    assert report["identity"]["sys_descr"]
    assert not report["identity"].get("is_printer")
    assert AUTH_PASS not in result.stdout + result.stderr


def test_scan_over_snmpv3_wrong_passphrase_is_reported(v3_snmpd):
    from printerhq.snmp.usm import AuthProtocol, PrivProtocol
    from tests.helpers_snmpv3 import user_name

    user = user_name(AuthProtocol.SHA256, PrivProtocol.NONE)
    result = printerhq(
        "scan",
        "127.0.0.1",
        "--port",
        str(v3_snmpd.port),
        "--json",
        "--v3-user",
        user,
        "--auth",
        "SHA-256:definitely-wrong",
        "--timeout",
        "1",
    )
    assert result.returncode == 1, result.stderr  # failure: the device refused the passphrase
    [report] = json.loads(result.stdout)
    assert "wrongDigest" in " ".join(report["errors"])
    assert "definitely-wrong" not in result.stdout + result.stderr
    # The table says the same (issue 11 item 5: it showed a bare address and exited 0).
    table = printerhq(*[a for a in result.args[3:] if a != "--json"])
    assert table.returncode == 1, table.stderr
    [error] = report["errors"]
    stable = error.split(" = ")[0]  # the agent's wrongDigest counter goes up with each try
    assert f"Errors (1 device)\n  127.0.0.1  {stable} = " in table.stdout
    assert "(authentication passphrase or protocol wrong)" in table.stdout
    assert "definitely-wrong" not in table.stdout + table.stderr


def test_malformed_v3_option_is_a_clear_error():
    result = printerhq("scan", "127.0.0.1", "--v3-user", "ops", "--auth", "ROT13:secret-pass")
    assert result.returncode == 2
    assert "secret-pass" not in result.stderr
    assert "Traceback" not in result.stderr


def test_unprivileged_scan_says_what_it_skips_and_still_finds_printers(simulator):
    """Without CAP_NET_RAW (dropped with setpriv) ICMP is off with one clear warning; SNMP works."""
    import shutil

    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to drop CAP_NET_RAW")
    result = subprocess.run(
        [
            "setpriv",
            "--bounding-set=-net_raw",
            "--inh-caps=-net_raw",
            "--",
            sys.executable,
            "-m",
            "printerhq",
            "scan",
            "127.78.0.1-127.78.0.9",
            "--port",
            str(simulator),
            "--json",
            "--timeout",
            "0.3",
            "--retries",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("ICMP echo is off") == 1
    assert "CAP_NET_RAW" in result.stderr
    expected = {
        f"127.78.0.{i + 1}" for i in range(9) if is_printer_recording(FIXTURES[i % len(FIXTURES)])
    }
    found = {r["identity"]["address"] for r in json.loads(result.stdout)}
    assert found == expected
