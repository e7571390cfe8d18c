"""Bad arguments, paths and environments give one clear line and a documented exit code, never a
traceback (issue 11, items 7 and 8; docs/cli.md has the table of exit codes).

Parse-time checks run through the parser ``printerhq.cli.main`` uses, in this process (argparse
exits 2); what happens once a command runs (a port in use, a database that does not answer,
Ctrl-C) runs the real ``printerhq`` command as a subprocess, as tests/test_cli_scan.py does.
"""

from __future__ import annotations

import json
import math
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from printerhq.cli import build_parser
from printerhq.cmdline import exits, options
from printerhq.engine import ScanOptions
from printerhq.server import __main__ as server_main

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = sorted((ROOT / "fixtures").glob("*.snmprec"))
FINGERPRINT = "ab" * 32


def printerhq(*args: str, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "printerhq", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        **kwargs,
    )


def free_tcp_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def paths(tmp_path: Path) -> dict[str, str]:
    """A file where a directory is expected, a missing path, a text file that is not PEM."""
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory\n")
    not_pem = tmp_path / "not-pem.txt"
    not_pem.write_text("hello\n")
    return {
        "FILE": str(a_file),
        "UNDER_FILE": str(a_file / "sub"),
        "MISSING": str(tmp_path / "missing"),
        "NOT_PEM": str(not_pem),
        "DIR": str(tmp_path),
    }


# Every numeric and path option of every command, with a value that must be refused at parse
# time: (arguments, the option the one line must name).
PARSE_ERRORS = [
    (["scan", "127.0.0.1", "--port", "70000"], "--port"),
    (["scan", "127.0.0.1", "--port", "0"], "--port"),
    (["scan", "127.0.0.1", "--timeout", "nan"], "--timeout"),
    (["scan", "127.0.0.1", "--timeout", "inf"], "--timeout"),
    (["scan", "127.0.0.1", "--timeout", "0"], "--timeout"),
    (["scan", "127.0.0.1", "--timeout", "1e9"], "--timeout"),
    (["scan", "127.0.0.1", "--retries", "1000000"], "--retries"),
    (["scan", "127.0.0.1", "--retries", "-1"], "--retries"),
    (["scan", "127.0.0.1", "--concurrency", "0"], "--concurrency"),
    (["scan", "127.0.0.1", "--concurrency", "10000000"], "--concurrency"),
    (["scan", "127.0.0.1", "--rate", "nan"], "--rate"),
    (["scan", "127.0.0.1", "--rate", "-5"], "--rate"),
    (["scan", "127.0.0.1", "--state-dir", "FILE"], "--state-dir"),
    (["scan", "127.0.0.1", "--state-dir", "UNDER_FILE"], "--state-dir"),
    (["scan", "127.0.0.1", "--spool-dir", "FILE"], "--spool-dir"),
    (["scan", "127.0.0.1", "--ca-bundle", "MISSING"], "--ca-bundle"),
    (["scan", "127.0.0.1", "--ca-bundle", "NOT_PEM"], "--ca-bundle"),
    (["scan", "127.0.0.1", "--ca-bundle", "DIR"], "--ca-bundle"),
    (["scan", "127.0.0.1", "--pin-sha256", "zz"], "--pin-sha256"),
    (["scan", "127.0.0.1", "--pin-sha256", "a" * 63], "--pin-sha256"),
    (["scan", "127.0.0.1", "--pin-sha256", ":" * 64], "--pin-sha256"),
    (["scan", "127.0.0.1", "--token-file", "MISSING"], "--token-file"),
    (["scan", "127.0.0.1", "--v3-user", "u", "--v3-file", "MISSING"], "--v3-file"),
    (["scan", "127.0.0.1", "--upload-timeout", "inf"], "--upload-timeout"),
    (["sim", "fixtures", "--addresses", "127.0.0.1", "--port", "70000"], "--port"),
    (["sim", "fixtures", "--addresses", "127.0.0.1", "--latency", "nan"], "--latency"),
    (["sim", "fixtures", "--addresses", "127.0.0.1", "--jitter", "inf"], "--jitter"),
    (["sim", "fixtures", "--addresses", "127.0.0.1", "--loss", "2"], "--loss"),
    (["sim", "fixtures", "--addresses", "127.0.0.1", "--max-size", "0"], "--max-size"),
    (["sim", "fixtures", "--addresses", "127.0.0.1", "--log", "DIR"], "--log"),
    (["serve", "--data-dir", "FILE", "--self-signed"], "--data-dir"),
    (["serve", "--data-dir", "DIR", "--self-signed", "--port", "70000"], "--port"),
    (["serve", "--data-dir", "DIR", "--cert", "MISSING", "--key", "MISSING"], "--cert"),
    (
        ["serve", "--data-dir", "DIR", "--self-signed", "--database", "mysql://u:pw@h/db"],
        "--database",
    ),
    (["serve", "--data-dir", "DIR", "--self-signed", "--host", "printer.example"], "--host"),
    (["serve", "--data-dir", "DIR", "--self-signed", "--ready-file", "DIR"], "--ready-file"),
    (["server", "list-agents", "--data-dir", "FILE"], "--data-dir"),
    (["server", "add-agent", "a", "--data-dir", "DIR", "--database", "oracle://x"], "--database"),
    (["server", "publish-update", "MISSING", "--key", "MISSING", "--data-dir", "DIR"], "wheel"),
    (["server", "gen-update-key", "--out", "UNDER_FILE"], "--out"),
    (["fleet", "--server", "https://127.0.0.1:9", "--timeout", "nan"], "--timeout"),
    (["fleet", "--server", "https://127.0.0.1:9", "--device", "1" * 30], "--device"),
    (["fleet", "--server", "https://127.0.0.1:9", "--pin-sha256", "xyz"], "--pin-sha256"),
    (["fleet", "--server", "https://127.0.0.1:9", "--ca-bundle", "NOT_PEM"], "--ca-bundle"),
    (["demo", "--network", "10.0.0.0/24"], "--network"),
    (["demo", "--network", "garbage"], "--network"),
    (["demo", "--network", "127.0.0.0/8"], "--network"),
    (["demo", "--data-dir", "FILE"], "--data-dir"),
    (["demo", "--recordings", "MISSING"], "--recordings"),
    (["agent", "--config", "MISSING", "--pidfile", "DIR"], "--pidfile"),
    (["health-check", "--pidfile", "MISSING", "--max-age", "nan"], "--max-age"),
    (["install-service", "--dry-run", "--output-dir", "FILE"], "--output-dir"),
    (["install-service", "--dry-run", "--output-dir", "MISSING"], "--output-dir"),
]


@pytest.mark.parametrize(
    ("argv", "option"), PARSE_ERRORS, ids=[" ".join(argv)[:60] for argv, _ in PARSE_ERRORS]
)
def test_bad_value_is_one_line_naming_the_option_and_exit_2(argv, option, paths, capsys):
    argv = [paths.get(arg, arg) for arg in argv]
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(argv)  # what main() does first; nothing runs after a refusal
    assert stop.value.code == exits.USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err  # one line, no usage block, no traceback
    assert f"argument {option}" in err or f"argument {option.lstrip('-')}" in err, err
    assert "pw@" not in err  # a database URL's password is not echoed


def test_server_module_has_the_same_checks(paths, capsys):
    with pytest.raises(SystemExit) as stop:
        server_main.main(["serve", "--data-dir", paths["FILE"], "--self-signed"])
    assert stop.value.code == exits.USAGE
    assert "argument --data-dir" in capsys.readouterr().err


@pytest.mark.parametrize(
    "pin",
    [FINGERPRINT, FINGERPRINT.upper(), ":".join(["AB"] * 32), ":".join(["0f"] * 32)],
)
def test_fingerprints_as_serve_and_openssl_print_them_are_accepted(pin):
    assert options.fingerprint(pin) == pin.replace(":", "").lower()


@given(st.text(max_size=100))
def test_fingerprint_accepts_only_64_hex_digits(text):
    hexdigits = text.replace(":", "")
    try:
        value = options.fingerprint(text)
    except Exception:
        return
    assert len(value) == 64 and len(hexdigits) == 64
    assert all(c in "0123456789abcdef" for c in value)


@given(st.binary(min_size=32, max_size=32), st.booleans(), st.booleans())
def test_every_sha256_in_either_spelling_is_accepted(digest, upper, colons):
    text = digest.hex().upper() if upper else digest.hex()
    if colons:
        text = ":".join(text[i : i + 2] for i in range(0, 64, 2))
    assert options.fingerprint(text) == digest.hex()


@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers()))
def test_number_type_accepts_exactly_the_finite_values_in_range(value):
    parse = options.number(0, 60, low_open=True)
    inside = math.isfinite(value) and 0 < value <= 60
    try:
        parsed = parse(str(value))
    except Exception:
        assert not inside
    else:
        assert inside and parsed == float(str(value))


@pytest.mark.parametrize(
    "bad", [{"timeout": math.nan}, {"timeout": math.inf}, {"port": 70000}, {"port": -1}]
)
def test_scan_options_refuse_the_same_values_for_library_callers(bad):
    with pytest.raises(ValueError):
        ScanOptions(**bad)


# ------------------------------------------------------------------------------ run_command


def test_interrupt_inside_an_exception_group_is_130_without_traceback(capsys):
    def scan(_):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as interrupt:
            inner = BaseExceptionGroup("tasks", [interrupt, ValueError("sibling")])
            raise BaseExceptionGroup("nursery", [inner]) from None

    assert exits.run_command(scan, None, "printerhq scan") == exits.INTERRUPTED
    assert capsys.readouterr().err.strip() == "printerhq scan: interrupted"


def test_foreseeable_errors_are_lines_and_exit_1(capsys):
    def serve(_):
        raise ExceptionGroup("", [OSError(98, "Address already in use")])

    assert exits.run_command(serve, None, "printerhq serve") == exits.FAILURE
    assert capsys.readouterr().err == "printerhq serve: Address already in use\n"

    def admin(_):
        raise exits.CommandError("no database at x", exits.USAGE)

    assert exits.run_command(admin, None, "printerhq server") == exits.USAGE


def test_a_bug_keeps_its_traceback():
    def broken(_):
        raise ExceptionGroup("", [OSError(2, "gone"), ZeroDivisionError()])

    with pytest.raises(ExceptionGroup):
        exits.run_command(broken, None, "printerhq x")


# ------------------------------------------------------------------------------ scan


def test_ctrl_c_during_a_scan_exits_130_without_traceback():
    """A real scan of a simulated printer that never answers, interrupted by SIGINT."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.86.0.1", 0))
        port = probe.getsockname()[1]
    sim = subprocess.Popen(
        [sys.executable, "-m", "printerhq", "sim", str(FIXTURES[0]), "--addresses",
         "127.86.0.1", "--port", str(port), "--fault", "silent"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        assert sim.stdout.readline().startswith("sim: serving"), sim.stderr.read()
        scan = subprocess.Popen(
            [sys.executable, "-m", "printerhq", "scan", "127.86.0.1", "--port", str(port),
             "--timeout", "60", "--no-icmp", "--arp", "off", "--progress", "on"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
        )  # fmt: skip
        try:
            # The progress line says the scan is under way (its silent host waits 60 s).
            assert scan.stderr.read(1) == b"\r"
            scan.send_signal(signal.SIGINT)
            err = scan.communicate(timeout=60)[1].decode()
        finally:
            if scan.poll() is None:
                scan.kill()
                scan.wait()
        assert scan.returncode == exits.INTERRUPTED, err
        assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
        assert err.rstrip().endswith("printerhq scan: interrupted")
    finally:
        sim.send_signal(signal.SIGINT)
        stopped = sim.wait(timeout=30)
    assert stopped == exits.OK  # Ctrl-C is how the simulator is meant to stop


@pytest.mark.parametrize("targets", [["@EMPTY"], ["@COMMENTS"], ["127.0.0.1", "!127.0.0.0/8"]])
def test_a_target_list_naming_no_address_is_a_usage_error(targets, tmp_path):
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "comments.txt").write_text("# nothing here yet\n\n")
    named = {"@EMPTY": f"@{tmp_path / 'empty.txt'}", "@COMMENTS": f"@{tmp_path / 'comments.txt'}"}
    result = printerhq("scan", *[named.get(t, t) for t in targets], "--no-icmp", "--arp", "off")
    assert result.returncode == exits.USAGE, result.stderr
    assert "no address to scan" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("secret", ["hunter2!!", "10.0.0.999", "ghp_9x$Q", "300.1.1.1/8", "a..b"])
def test_an_at_file_error_does_not_echo_the_file(secret, tmp_path):
    """``@token.txt`` by mistake: the error names the file and line, never its text."""
    target_file = tmp_path / "token.txt"
    target_file.write_text(f"127.0.0.1\n{secret}\n")
    result = printerhq("scan", f"@{target_file}", "--no-icmp", "--arp", "off")
    assert result.returncode == exits.USAGE
    assert secret not in result.stderr + result.stdout
    assert "token.txt line 2" in result.stderr and "Traceback" not in result.stderr


def test_an_at_file_that_is_not_text_does_not_echo_its_bytes(tmp_path):
    target_file = tmp_path / "key.bin"
    target_file.write_bytes(b"\xff\xfeSECRET")
    result = printerhq("scan", f"@{target_file}")
    assert result.returncode == exits.USAGE
    assert "not UTF-8" in result.stderr and "xff" not in result.stderr


# ------------------------------------------------------------------------------ serve


def serve(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return printerhq("serve", "--data-dir", str(tmp_path / "data"), *args, timeout=60)


def test_serve_on_a_port_in_use_says_so(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = serve(tmp_path, "--self-signed", "--port", str(port))
    assert result.returncode == exits.FAILURE
    assert f"cannot listen on 127.0.0.1 port {port}: Address already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_with_postgresql_down_says_so(tmp_path):
    port = free_tcp_port()  # nothing listens there: connection refused
    url = f"postgresql://phq:s3cret@127.0.0.1:{port}/printerhq"
    result = serve(tmp_path, "--self-signed", "--port", "0", "--database", url)
    assert result.returncode == exits.FAILURE
    assert "cannot open the database" in result.stderr and "refused" in result.stderr
    assert "Traceback" not in result.stderr and "s3cret" not in result.stderr


def test_serve_with_a_certificate_that_is_not_pem_says_so(tmp_path, paths):
    result = serve(tmp_path, "--cert", paths["NOT_PEM"], "--key", paths["NOT_PEM"])
    assert result.returncode == exits.FAILURE
    assert "cannot load --cert" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1"])
def test_insecure_http_refuses_a_non_loopback_address(host, tmp_path):
    """Refused before anything binds: plain HTTP is for trials on this machine."""
    result = serve(tmp_path, "--insecure-http", "--host", host, "--port", "0")
    assert result.returncode == exits.USAGE
    assert "loopback only" in result.stderr and "listening" not in result.stdout
    assert not (tmp_path / "data" / "printerhq.sqlite3").exists()


def test_insecure_http_on_loopback_still_serves(tmp_path):
    ready = tmp_path / "ready"
    process = subprocess.Popen(
        [sys.executable, "-m", "printerhq", "serve", "--data-dir", str(tmp_path / "data"),
         "--insecure-http", "--host", "127.0.0.1", "--port", "0", "--ready-file", str(ready)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        line = process.stdout.readline()
        assert line.startswith("printerhq server listening on http://127.0.0.1:"), line
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == exits.OK  # SIGTERM/SIGINT: the normal stop
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# ------------------------------------------------------------------------------ server admin


def admin(*args: str) -> subprocess.CompletedProcess:
    return printerhq("server", *args, timeout=60)


@pytest.mark.parametrize(
    "action",
    [["list-agents"], ["list-tokens"], ["agents"], ["revoke-agent", "a"], ["revoke-viewer", "v"]],
)
def test_admin_commands_refuse_a_data_dir_without_a_database(action, tmp_path):
    mistyped = tmp_path / "var-lib-printerhp"
    result = admin(*action, "--data-dir", str(mistyped))
    assert result.returncode == exits.USAGE
    assert f"no database at {mistyped / 'printerhq.sqlite3'}" in result.stderr
    assert not mistyped.exists()  # nothing created


def test_add_agent_creates_the_database_and_says_where(tmp_path):
    data = tmp_path / "data"
    first = admin("add-agent", "site-a", "--data-dir", str(data))
    assert first.returncode == exits.OK, first.stderr
    assert f"creating a new database at {data / 'printerhq.sqlite3'}" in first.stderr
    listed = admin("list-agents", "--json", "--data-dir", str(data))
    assert [a["name"] for a in json.loads(listed.stdout)] == ["site-a"]
    again = admin("add-agent", "site-b", "--data-dir", str(data))
    assert "creating" not in again.stderr


def test_admin_with_postgresql_down_says_so(tmp_path):
    url = f"postgresql://phq@127.0.0.1:{free_tcp_port()}/printerhq"
    result = admin("list-agents", "--data-dir", str(tmp_path), "--database", url)
    assert result.returncode == exits.FAILURE
    assert "cannot open the database" in result.stderr and "Traceback" not in result.stderr


def test_admin_with_a_missing_sqlite_url_refuses(tmp_path):
    result = admin(
        "list-agents", "--data-dir", str(tmp_path), "--database", f"sqlite:///{tmp_path}/x.db"
    )
    assert result.returncode == exits.USAGE and "no database at" in result.stderr


# ------------------------------------------------------------------------------ demo, sim, fleet


def test_demo_that_reaches_no_printer_fails(tmp_path, paths):
    result = printerhq(
        "demo", "--recordings", paths["NOT_PEM"], "--network", "127.87.0.0/29", timeout=180
    )
    assert result.returncode == exits.FAILURE, result.stderr
    assert "no printer reached the server" in result.stderr and "Traceback" not in result.stderr


def test_sim_on_a_port_in_use_is_a_failure(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.88.0.1", 0))
        port = busy.getsockname()[1]
        result = printerhq(
            "sim", str(FIXTURES[0]), "--addresses", "127.88.0.1", "--port", str(port), timeout=60
        )
    assert result.returncode == exits.FAILURE
    assert "sim: error:" in result.stderr and "Traceback" not in result.stderr


def test_fleet_of_a_server_that_is_not_there_is_a_failure():
    result = printerhq(
        "fleet", "--server", f"https://127.0.0.1:{free_tcp_port()}", "--token", "t", timeout=60
    )
    assert result.returncode == exits.FAILURE
    assert "cannot reach" in result.stderr and "Traceback" not in result.stderr


def test_schema_prints_and_exits_0():
    result = printerhq("schema", "--compact", timeout=60)
    assert result.returncode == exits.OK and json.loads(result.stdout)


def test_exit_codes_are_the_documented_ones():
    assert (exits.OK, exits.FAILURE, exits.USAGE, exits.REPORTS_WAITING, exits.INTERRUPTED) == (
        0,
        1,
        2,
        3,
        130,
    )
    table = (ROOT / "docs" / "cli.md").read_text()
    for code in ("| 0 |", "| 1 |", "| 2 |", "| 3 |", "| 130 |"):
        assert code in table
