"""The agent's configuration: every error names the key and the problem; durations; the example;
``--check-config`` and ``--print-example-config``; what a remote document may carry."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from printerhq.agent.config import (
    ConfigError,
    load_config,
    local_v3_files,
    parse_config,
    parse_remote,
)
from printerhq.agent.durations import MAX_SECONDS, format_duration, parse_duration
from printerhq.agent.example import EXAMPLE_CONFIG, example_config
from printerhq.interfaces import auto_decisions

ROOT = Path(__file__).resolve().parents[1]

SERVER = '[server]\nurl = "https://hq.example:8443"\ntoken_file = "/nonexistent/token"\n'
SCAN = '[[scan]]\ntargets = ["192.0.2.0/24"]\ninterval = "15m"\n'


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(text.encode())
    return str(caught.value)


def test_a_minimal_file_gets_the_defaults():
    config = parse_config((SERVER + SCAN).encode())
    section = config.scan[0]
    assert section.interval == 900 and section.discovery_interval == 86400 and section.port == 161
    assert (config.site.remote_config, config.site.health_check, config.site.updates) == (
        False,
        False,
        False,
    )
    assert config.agent.state_dir == "/var/lib/printerhq" and config.agent.agent_name()
    assert config.updates.public_key is None and config.traps.enabled is False


@pytest.mark.parametrize(
    "text, expected",
    [
        (SERVER + SCAN.replace('"15m"', '"2x"'), "scan[0].interval: '2x' is not a duration"),
        (SERVER + SCAN.replace('"15m"', '"-5s"'), "scan[0].interval: '-5s' is not a duration"),
        (SERVER + SCAN.replace('"15m"', '"400d"'), "scan[0].interval: '400d' is out of range"),
        (SERVER + SCAN.replace('"15m"', '"0.5s"'), "scan[0].interval: must be at least 1s"),
        (
            SERVER + SCAN + 'discovery_interval = "1m"\n',
            "scan[0].discovery_interval: must not be shorter than interval",
        ),
        (SERVER + SCAN + "port = 70000\n", "scan[0].port: Expected `int` <= 65535"),
        (SERVER + SCAN + 'port = "161"\n', "scan[0].port: Expected `int`, got `str`"),
        (SERVER + SCAN + "colour = 1\n", "scan[0].colour: unknown key"),
        (SERVER + SCAN.replace('"192.0.2.0/24"', '"192.0.2.0/33"'), "scan[0].targets: "),
        (
            SERVER + SCAN.replace('["192.0.2.0/24"]', "[]"),
            "scan[0].targets: Expected `array` of length >= 1",
        ),
        (
            SERVER + SCAN.replace('"192.0.2.0/24"', '"printer.example"'),
            "scan[0].targets: hostnames are not supported",
        ),
        (SERVER + SCAN + SCAN.replace('"15m"', "true"), "scan[1].interval: expected a duration"),
        (SERVER + SCAN + '[scan.v3]\nfile = "/x"\n', "scan[0].v3.user: required key is missing"),
        # Passphrases live in the v3 file, never in the configuration.
        (SERVER + SCAN + '[scan.v3]\nuser = "u"\nauth = "SHA:x"\n', "scan[0].v3.auth: unknown key"),
        (
            SERVER + SCAN + '[scan.v3]\nuser = "u"\nfile = "/nonexistent/v3"\n',
            "scan[0].v3.file: /nonexistent/v3 is not",
        ),
        (SCAN, "server: required key is missing"),
        (
            SERVER.replace('url = "https://hq.example:8443"\n', ""),
            "server.url: required key is missing",
        ),
        (
            SERVER.replace("https://hq.example:8443", "ftp://hq.example"),
            "server.url: Expected `str` matching regex",
        ),
        (
            SERVER.replace("https://", "http://") + SCAN,
            "server.url: http:// sends the token unencrypted",
        ),
        (SERVER + 'pin_sha256 = "zz"\n' + SCAN, "server.pin_sha256: Expected `str` matching regex"),
        (
            SERVER + f'pin_sha256 = "{":" * 64}"\n' + SCAN,
            "server.pin_sha256: Expected `str` matching regex",
        ),
        (
            SERVER + SCAN + "[site]\nremote_config = 1\n",
            "site.remote_config: Expected `bool`, got `int`",
        ),
        (SERVER + SCAN + "[site]\nupdate = true\n", "site.update: unknown key"),
        (
            SERVER + SCAN + '[agent]\nheartbeat = "10s"\n',
            "agent.heartbeat: must be more than 0s and at most 5s",
        ),
        (SERVER + SCAN + "[fleet]\nx = 1\n", "fleet: unknown key"),
        (SERVER, "scan: at least one [[scan]] section is needed"),
        (SERVER + "[[scan\n", "not valid TOML"),
    ],
)
def test_every_error_names_the_key_and_the_problem(text, expected):
    assert error_of(text).startswith(expected), error_of(text)


@pytest.mark.parametrize("pin", ["ab" * 32, ":".join(["AB"] * 32)])
def test_a_pin_as_serve_or_openssl_prints_it_is_accepted(pin):
    config = parse_config((SERVER + f'pin_sha256 = "{pin}"\n' + SCAN).encode())
    assert config.server.pin_sha256 == pin


def test_without_scan_sections_remote_config_must_be_on():
    config = parse_config((SERVER + "[site]\nremote_config = true\n").encode())
    assert config.scan == [] and config.site.remote_config


def test_the_example_is_valid_and_commented():
    config = parse_config(EXAMPLE_CONFIG.encode())
    assert config.server.url == "https://hq.example:8443" and config.scan[0].interval == 900
    assert EXAMPLE_CONFIG.count("#") > 15
    for key in (
        "remote_config",
        "health_check",
        "updates",
        "discovery_interval",
        "pin_sha256",
        "state_dir",
    ):
        assert key in EXAMPLE_CONFIG


def test_load_config_checks_the_token_file(tmp_path):
    path = tmp_path / "agent.toml"
    path.write_text(SERVER.replace("/nonexistent/token", str(tmp_path / "token")) + SCAN)
    with pytest.raises(ConfigError, match=r"^server.token_file: cannot read .*token"):
        load_config(path)
    (tmp_path / "token").write_text("\n")
    with pytest.raises(ConfigError, match=r"^server.token_file: .* is empty"):
        load_config(path)
    (tmp_path / "token").write_text("secret\n")
    assert load_config(path).scan[0].targets == ["192.0.2.0/24"]
    with pytest.raises(ConfigError, match=r"^cannot read .*missing.toml"):
        load_config(tmp_path / "missing.toml")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "printerhq", "agent", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def test_check_config_and_print_example_config(tmp_path):
    printed = run_cli("--print-example-config")
    # The example with this machine's attached subnets (read, never probed) filled in.
    assert printed.returncode == 0
    assert printed.stdout == example_config(auto_decisions())
    parse_config(printed.stdout.encode())
    (tmp_path / "token").write_text("secret\n")
    good = tmp_path / "good.toml"
    good.write_text(
        printed.stdout.replace("/etc/printerhq/token", str(tmp_path / "token")).replace(
            'ca_bundle = "/etc/printerhq/hq.pem"', "# no bundle"
        )
    )
    ok = run_cli("--check-config", str(good))
    assert ok.returncode == 0 and "valid (1 scan section, remote_config=off" in ok.stdout, ok.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text(good.read_text().replace('interval = "15m"', 'interval = "fifteen"'))
    refused = run_cli("--check-config", str(bad))
    assert (
        refused.returncode == 2
        and "scan[0].interval: 'fifteen' is not a duration" in refused.stderr
    )
    assert "Traceback" not in refused.stderr
    run = run_cli("--config", str(bad))
    assert run.returncode == 2 and "scan[0].interval" in run.stderr


# -- durations -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, seconds",
    [
        ("2s", 2),
        ("15m", 900),
        ("24h", 86400),
        ("1h30m", 5400),
        ("500ms", 0.5),
        ("7d", 604800),
        ("1.5h", 5400),
        (30, 30),
        (0.25, 0.25),
        ("1m 30s", 90),
    ],
)
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text", ["", "5", "5x", "m", "1h-5m", "-1s", "1e3s", "367d", True, None, [1]]
)
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


@given(st.integers(min_value=1, max_value=int(MAX_SECONDS)))
def test_format_duration_round_trips(seconds):
    assert parse_duration(format_duration(seconds)) == seconds


# -- the remote document ---------------------------------------------------------------------------
def test_a_remote_document_carries_scan_sections_only():
    assert parse_remote(SCAN).scan[0].interval == 900
    for table in ("server", "site", "agent", "updates", "traps"):
        with pytest.raises(
            ConfigError, match=rf"^{table}: the \[{table}\] settings are the site's own"
        ):
            parse_remote(f"[{table}]\nx = 1\n" + SCAN)
    with pytest.raises(ConfigError, match=r"^scan: Expected `array` of length >= 1"):
        parse_remote("scan = []\n")
    with pytest.raises(ConfigError, match=r"^scan: required key is missing"):
        parse_remote("")
    with pytest.raises(ConfigError, match=r"^scan\[0\].interval: '2x'"):
        parse_remote(SCAN.replace('"15m"', '"2x"'))
    with pytest.raises(ConfigError, match="larger than"):
        parse_remote("#" * (300 << 10))


def test_a_remote_document_cannot_include_agent_files(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    document = SCAN.replace('["192.0.2.0/24"', f'["@{secret}"')
    assert f"@{secret}" in document
    with pytest.raises(ConfigError, match="@file includes are not allowed") as caught:
        parse_remote(document)
    assert "root:" not in str(caught.value)
    # The local file may include target files: the site's own administrator wrote it.
    targets = tmp_path / "targets.txt"
    targets.write_text("192.0.2.7\n")
    local = parse_config((SERVER + SCAN.replace('["192.0.2.0/24"', f'["@{targets}"')).encode())
    assert local.scan[0].targets == [f"@{targets}"]


def test_a_remote_document_may_use_only_the_v3_files_the_site_names(tmp_path):
    """The server must not make the agent read a file of its choosing as SNMPv3 credentials."""
    site_secret = tmp_path / "v3"
    site_secret.write_text("user=u\nauth=SHA:authpass1\n")
    other = tmp_path / "other"
    other.write_text("anything\n")
    local = parse_config(
        (SERVER + SCAN + f'[scan.v3]\nuser = "u"\nfile = "{site_secret}"\n').encode()
    )
    allowed = local_v3_files(local)
    assert allowed == {str(site_secret)}
    remote = SCAN + '[scan.v3]\nuser = "u"\nfile = "{}"\n'
    with pytest.raises(ConfigError, match=r"scan\[0\]\.v3\.file: a remote configuration may only"):
        parse_remote(remote.format(other), allowed)
    with pytest.raises(ConfigError, match="may only use a v3 secret file"):
        parse_remote(remote.format(site_secret))  # a site that names none
    assert parse_remote(remote.format(site_secret), allowed).scan[0].v3 is not None


# -- [updates] and [traps] ---------------------------------------------------------------------
KEY = "lS3S0dD0j1hJtw0dMZtIGt8l6R2QHfZ2eHb4mFPTB8M="  # any 32 bytes in base64


@pytest.mark.parametrize(
    "text, expected",
    [
        (SERVER + SCAN + "[site]\nupdates = true\n", "updates.public_key: required with [site]"),
        (
            SERVER + SCAN + '[updates]\npublic_key = "not a key"\n',
            "updates.public_key: public_key must be a 32-byte Ed25519 key",
        ),
        (
            SERVER + SCAN + f'[updates]\npublic_key = "{KEY[:-4]}"\n',
            "updates.public_key: public_key must be a 32-byte Ed25519 key",
        ),
        (
            SERVER + SCAN + f'[updates]\npublic_key = "{KEY}"\ninstall_root = "rel/dir"\n',
            "updates.install_root: rel/dir is not an absolute path",
        ),
        (
            SERVER + SCAN + '[updates]\ntrial_deadline = "2h"\n',
            "updates.trial_deadline: must be between 1s and 3600s",
        ),
        (SERVER + SCAN + '[updates]\ncheck_interval = "10ms"\n', "updates.check_interval: must"),
        (SERVER + SCAN + '[updates]\ntrial = "2s"\n', "updates.trial: unknown key"),
        (SERVER + SCAN + '[traps]\nlisten = "0.0.0.0"\n', "traps.listen: '0.0.0.0' is not"),
        (SERVER + SCAN + '[traps]\nlisten = "trapper:162"\n', "traps.listen: 'trapper' is not"),
        (SERVER + SCAN + "[traps]\nqueue_depth = 0\n", "traps.queue_depth: Expected `int` >= 1"),
        (SERVER + SCAN + '[traps]\nengine_id = "800000000"\n', "traps.engine_id:"),
        (SERVER + SCAN + "[traps]\nport = 162\n", "traps.port: unknown key"),
        (
            SERVER + SCAN + '[[traps.v3]]\nuser = "u"\npass = "x"\n',
            "traps.v3[0].pass: unknown key",
        ),
    ],
)
def test_updates_and_traps_errors_name_the_key(text, expected):
    assert error_of(text).startswith(expected)


def test_updates_and_traps_sections_get_their_defaults(tmp_path):
    config = parse_config(
        (
            SERVER
            + SCAN
            + f'[site]\nupdates = true\n[updates]\npublic_key = "{KEY}"\n'
            + '[agent]\nstate_dir = "/srv/agent"\n[traps]\nenabled = true\n'
        ).encode()
    )
    assert config.updates.trial_deadline == 120 and config.updates.check_interval == 6 * 3600
    assert config.updates.root(config.agent.state_dir) == Path("/srv/agent/updates")
    from printerhq.traps import TrapOptions

    assert isinstance(config.traps, TrapOptions)
    assert config.traps.listen_address() == ("0.0.0.0", 162)
    assert config.traps.collect_min_interval == 30.0 and config.traps.per_source_rate == 10.0


def test_load_config_reads_the_trap_users_secret_files(tmp_path):
    (tmp_path / "token").write_text("secret\n")
    text = SERVER.replace("/nonexistent/token", str(tmp_path / "token")) + SCAN
    missing = tmp_path / "missing-v3"
    path = tmp_path / "agent.toml"
    path.write_text(
        text + f'[traps]\nenabled = true\n[[traps.v3]]\nuser = "u"\nfile = "{missing}"\n'
    )
    with pytest.raises(ConfigError, match=r"^traps\.v3 user 'u': "):
        load_config(path)


def test_check_config_verifies_the_update_public_key(tmp_path):
    (tmp_path / "token").write_text("secret\n")
    base = SERVER.replace("/nonexistent/token", str(tmp_path / "token")) + SCAN
    good = tmp_path / "good.toml"
    good.write_text(base + f'[site]\nupdates = true\n[updates]\npublic_key = "{KEY}"\n')
    ok = run_cli("--check-config", str(good))
    assert ok.returncode == 0 and "updates=on" in ok.stdout and "traps=off" in ok.stdout, ok.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text(good.read_text().replace(KEY, KEY[:20] + "A" * 20))
    refused = run_cli("--check-config", str(bad))
    assert refused.returncode == 2 and "updates.public_key: " in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
