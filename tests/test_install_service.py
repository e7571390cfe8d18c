"""``printerhq install-service``: the units it writes, checked by ``systemd-analyze verify``.

Nothing here starts, enables or reloads a unit, and no user is created: every run is
``--dry-run`` or names a user that exists (``nobody``), and writes into a temporary directory.
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest

from printerhq.agent.units import (
    AGENT_UNIT,
    CHECK_TIMER,
    CHECK_UNIT,
    UnitError,
    UnitOptions,
    render_units,
    useradd_command,
)

PRINTERHQ = Path(sys.executable).parent / "printerhq"  # the console script of this checkout


def install(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "printerhq", "install-service", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def parse_unit(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(
        strict=False, interpolation=None, comment_prefixes=("#",), delimiters=("=",)
    )
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text.replace("\\\n", ""))
    return parser


@pytest.fixture
def units(tmp_path: Path) -> Path:
    config = tmp_path / "agent.toml"
    config.write_text('[site]\nhealth_check = true\n[agent]\nstate_dir = "/var/lib/printerhq"\n')
    out = tmp_path / "units"
    out.mkdir()
    done = install("--dry-run", "--output-dir", str(out), "--config", str(config))
    assert done.returncode == 0, done.stderr
    return out


def test_units_are_written_with_what_the_issue_asks(units: Path, tmp_path: Path) -> None:
    assert sorted(p.name for p in units.iterdir()) == sorted([AGENT_UNIT, CHECK_UNIT, CHECK_TIMER])
    agent = parse_unit((units / AGENT_UNIT).read_text())["Service"]
    expected = {
        "Type": "notify",
        "NotifyAccess": "main",
        "WatchdogSec": "30s",
        "Restart": "on-failure",
        "RestartSec": "5s",
        "User": "printerhq",
        "Group": "printerhq",
        "DynamicUser": "no",
        "StateDirectory": "printerhq",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "NoNewPrivileges": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectControlGroups": "yes",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX AF_NETLINK AF_PACKET",
        "CapabilityBoundingSet": "CAP_NET_RAW",
        "AmbientCapabilities": "CAP_NET_RAW",
    }
    assert {key: agent.get(key) for key in expected} == expected
    exec_start = agent["ExecStart"].split()
    assert exec_start[0] == str(PRINTERHQ) and Path(exec_start[0]).is_absolute()
    assert exec_start[1:4] == ["agent", "--config", str(tmp_path / "agent.toml")]
    check = parse_unit((units / CHECK_UNIT).read_text())["Service"]
    assert check["Type"] == "oneshot" and check["SuccessExitStatus"] == "1"
    command = check["ExecStart"].split()
    assert command[:4] == [str(PRINTERHQ), "health-check", "--config", str(tmp_path / "agent.toml")]
    assert command[command.index("--unit") + 1] == AGENT_UNIT
    timer = parse_unit((units / CHECK_TIMER).read_text())
    assert timer["Timer"]["OnUnitActiveSec"] == "1min"
    assert timer["Timer"]["Unit"] == CHECK_UNIT
    assert timer["Install"]["WantedBy"] == "timers.target"


def test_systemd_analyze_verify_accepts_the_units(units: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is missing (Debian package systemd; ./run setup installs it)")
    files = [str(units / name) for name in (AGENT_UNIT, CHECK_UNIT, CHECK_TIMER)]
    done = subprocess.run(
        [analyze, "verify", *files], capture_output=True, text=True, timeout=120, check=False
    )
    # verify exits 0 even for unknown keys and unparsable values ("..., ignoring"): any line
    # that names one of our files is a finding.
    findings = [
        line
        for line in (done.stdout + done.stderr).splitlines()
        if str(units) in line or "printerhq" in line
    ]
    assert done.returncode == 0 and findings == [], done.stdout + done.stderr


def test_systemd_analyze_verify_catches_a_broken_unit(units: Path) -> None:
    """The check above can fail: the same verify run on a damaged copy reports it."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is missing")
    broken = units / AGENT_UNIT
    broken.write_text(broken.read_text().replace("WatchdogSec=30s", "WatchdogSec=soon"))
    done = subprocess.run(
        [analyze, "verify", str(broken)], capture_output=True, text=True, timeout=120, check=False
    )
    assert "WatchdogSec" in done.stderr or "sec value" in done.stderr


def test_dry_run_without_output_dir_prints_and_writes_nothing(tmp_path: Path) -> None:
    done = install(
        "--dry-run", "--user", "printerhq-test-absent", "--config", str(tmp_path / "missing.toml")
    )
    assert done.returncode == 0, done.stderr
    for name in (AGENT_UNIT, CHECK_UNIT, CHECK_TIMER):
        assert f"# ---- {name}" in done.stdout
    assert "would run: useradd --system" in done.stderr  # and did not
    assert "cannot read" in done.stderr
    assert "systemctl daemon-reload" in done.stderr  # told, never run


def test_existing_user_is_not_created_again(tmp_path: Path) -> None:
    done = install(
        "--output-dir", str(tmp_path), "--user", "nobody", "--config", str(tmp_path / "agent.toml")
    )
    assert done.returncode == 0, done.stderr
    assert "created system user" not in done.stdout
    assert "User=nobody" in (tmp_path / AGENT_UNIT).read_text()


def test_notes_about_the_configuration(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text('[agent]\nstate_dir = "/srv/elsewhere"\n')
    done = install("--dry-run", "--config", str(config))
    assert done.returncode == 0
    assert "state_dir is /srv/elsewhere" in done.stderr
    assert "health_check is false" in done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--user", "root"],
        ["--user", "Bad User"],
        ["--prefix", "/nonexistent/prefix"],
        ["--config", "/etc/my agent.toml"],
        ["--check-every", "often"],
    ],
)
def test_bad_options_exit_2(args: list[str]) -> None:
    done = install("--dry-run", *args)
    assert done.returncode == 2 and "install-service:" in done.stderr


def test_values_that_would_change_a_unit_are_refused() -> None:
    good = UnitOptions(
        executable=PurePosixPath("/usr/bin/printerhq"),
        config=PurePosixPath("/etc/printerhq/agent.toml"),
    )
    assert set(render_units(good)) == {AGENT_UNIT, CHECK_UNIT, CHECK_TIMER}
    for bad in (
        {"config": PurePosixPath("/etc/a.toml\nExecStartPre=/bin/sh")},
        {"config": PurePosixPath("/etc/%h.toml")},
        {"executable": PurePosixPath("relative/printerhq")},
        {"user": "x\nUser=root"},
        {"watchdog_sec": 1},
    ):
        with pytest.raises(UnitError):
            render_units(UnitOptions(**{**good.__dict__, **bad}))
    assert useradd_command("printerhq")[-1] == "printerhq"
    with pytest.raises(UnitError):
        useradd_command("-o")
