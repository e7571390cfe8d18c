"""Signed updates end to end, real processes on loopback: wheels built from this checkout with a
bumped version, published with ``printerhq server publish-update`` to a running server, fetched,
verified, installed into a new environment and tried by ``UpdateManager`` — whose trial is the
new version's own ``printerhq agent --update-trial`` running one cycle. The last tests run the
whole agent (``printerhq agent --config``) with a simulator: it applies an update, execs into
it and reports the new version; a release that fails its trial is rolled back while the old
agent keeps running; a tampered one is refused, logged once and reported.
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
import ssl
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
import trio
from packaging.version import Version

from printerhq import __version__
from printerhq.agent import update_state
from printerhq.agent.service import trial_command
from printerhq.agent.update import UpdateManager, UpdatePaths
from tests.helpers_agent_e2e import (
    agent_toml,
    kill_agent,
    log_events,
    simulator_process,
    start_agent,
    stop_agent,
    wait_for,
)
from tests.helpers_server import REPO, ServerProcess
from tests.test_cli_scan import FIXTURES, free_udp_port

T = TypeVar("T")
V = Version(__version__)
NEWER = f"{V.major}.{V.minor}.{V.micro + 1}"
BROKEN = f"{V.major}.{V.minor}.{V.micro + 2}"
NO_AGENT = f"{V.major}.{V.minor}.{V.micro + 3}"  # installs and says its version; cannot run
OLDER = "0.0.1" if Version("0.0.1") < V else "0.0.0"
COPY_IGNORE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    "tests",
    "benchmarks",
    ".pytest_cache",
    ".hypothesis",
    ".mypy_cache",
    ".ruff_cache",
)


def _build(tmp: Path, version: str, *, broken: bool = False, no_agent: bool = False) -> Path:
    """A wheel of this checkout at ``version``; ``broken``: its command line raises at import;
    ``no_agent``: ``--version`` works, but the agent service raises at import (it fails its
    trial, not its installation)."""
    src = tmp / f"src-{version}"
    shutil.copytree(REPO, src, ignore=COPY_IGNORE)
    for rel, old, new in (
        ("pyproject.toml", f'version = "{__version__}"', f'version = "{version}"'),
        ("printerhq/__init__.py", f'__version__ = "{__version__}"', f'__version__ = "{version}"'),
    ):
        path = src / rel
        text = path.read_text()
        assert old in text, (rel, old)
        path.write_text(text.replace(old, new, 1))
    if broken:
        cli = src / "printerhq" / "cli.py"
        cli.write_text(cli.read_text() + '\nraise RuntimeError("this release is broken")\n')
    if no_agent:
        service = src / "printerhq" / "agent" / "service.py"
        service.write_text(
            service.read_text() + '\nraise RuntimeError("this release cannot run the agent")\n'
        )
    out = tmp / "wheels"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {result.stderr[-500:]}")
    (wheel,) = out.glob(f"printerhq-{version}-*.whl")
    return wheel


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("wheels")
    return {
        "newer": _build(tmp, NEWER),
        "broken": _build(tmp, BROKEN, broken=True),
        "older": _build(tmp, OLDER),
        "no-agent": _build(tmp, NO_AGENT, no_agent=True),
    }


class Site:
    """A server process with an agent token and a signing key."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.server = ServerProcess(tmp / "server")
        self.server.start()
        self.token = self.server.admin("add-agent", "site-a")
        self.viewer = self.server.admin("add-viewer", "ops")
        self.key = tmp / "signing.key"
        self.public_key = self.gen_key(self.key)
        self.root = tmp / "install"
        self.token_file = tmp / "agent.token"
        self.token_file.write_text(self.token.split()[-1] + "\n")
        # What the trial runs: one cycle over an address where nothing answers (a good cycle
        # with no printers) unless a simulator's port and range are given.
        self.config_path = self.agent_config()

    def agent_config(
        self,
        targets: str = "127.84.9.1",
        port: int | None = None,
        interval: str = "1h",
        check_interval: str = "1h",
        updates: bool = True,
    ) -> Path:
        path = self.tmp / "agent.toml"
        path.write_text(
            agent_toml(
                server={
                    "url": self.server.url,
                    "token_file": str(self.token_file),
                    "ca_bundle": str(self.server.certfile),
                },
                scan={
                    "targets": [targets],
                    "interval": interval,
                    "port": port or free_udp_port(targets.split("-")[0]),
                },
                site={"updates": updates},
                updates={
                    "public_key": self.public_key,
                    "check_interval": check_interval,
                    "install_root": str(self.root),
                    "trial_deadline": "90s",
                },
                agent={"name": "site-a", "state_dir": str(self.tmp / "state")},
            )
        )
        return path

    def gen_key(self, path: Path) -> str:
        result = self._cli("server", "gen-update-key", "--out", str(path))
        assert path.stat().st_mode & 0o777 == 0o600
        return result.stdout.strip()

    def publish(self, wheel: Path, key: Path | None = None) -> subprocess.CompletedProcess:
        return self._cli(
            "server",
            "publish-update",
            str(wheel),
            "--key",
            str(key or self.key),
            "--data-dir",
            str(self.server.data_dir),
        )

    def _cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "printerhq.cli", *args],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=60,
            check=check,
        )

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        ctx = ssl.create_default_context(cafile=str(self.server.certfile))
        return httpx.AsyncClient(
            base_url=self.server.url,
            verify=ctx,
            timeout=30,
            headers={"Authorization": f"Bearer {token or self.token}"},
        )

    def manager(self, http: httpx.AsyncClient, **kw) -> UpdateManager:
        kw.setdefault("restart_args", ["--version"])
        kw.setdefault("trial_deadline", 60.0)
        kw.setdefault("trial_command", trial_command(self.config_path))
        return UpdateManager(self.public_key, UpdatePaths(self.root), http, **kw)

    async def reports(self) -> list[dict]:
        async with self.client(self.viewer) as http:
            response = await http.get("/api/v1/updates/reports")
            assert response.status_code == 200
            return response.json()

    def flip_wheel_byte(self, offset: int) -> None:
        with sqlite3.connect(self.server.data_dir / "printerhq.sqlite3") as conn:
            (wheel,) = conn.execute("SELECT wheel FROM releases").fetchone()
            wheel = bytearray(wheel)
            wheel[offset] ^= 0x01
            conn.execute("UPDATE releases SET wheel = ?", (bytes(wheel),))

    def sql(self, statement: str, params: tuple = ()) -> None:
        with sqlite3.connect(self.server.data_dir / "printerhq.sqlite3") as conn:
            conn.execute(statement, params)


@pytest.fixture
def site(tmp_path):
    s = Site(tmp_path)
    try:
        yield s
    finally:
        s.server.stop()


def _version_of(executable: Path) -> str:
    return subprocess.run(
        [str(executable), "--version"], capture_output=True, text=True, timeout=60
    ).stdout.strip()


async def test_an_update_applies_and_a_restart_confirms_it(site, wheels, caplog) -> None:
    caplog.set_level(logging.INFO, "printerhq.agent.update")
    assert "published" in site.publish(wheels["newer"]).stdout
    async with site.client() as http:
        outcome = await site.manager(http).check_and_apply()
        assert outcome.kind == "switched", outcome
        env = site.root / "versions" / NEWER
        assert site.root.joinpath("current").resolve() == env.resolve()
        assert (env / ".printerhq-complete").exists()
        # The new environment runs the new code, and the restart command is the new version.
        assert _version_of(site.root / "current" / "bin" / "printerhq") == f"printerhq {NEWER}"
        assert outcome.exec_argv == [str(site.root / "current" / "bin" / "printerhq"), "--version"]
        assert (
            subprocess.run(outcome.exec_argv, capture_output=True, text=True).stdout.strip()
            == f"printerhq {NEWER}"
        )
        state = update_state.decode_state((site.root / "state.json").read_bytes())
        assert state.pending is not None and state.pending.version == NEWER
        assert Path(state.pending.previous) == Path(sys.prefix).resolve()

        # After the exec, the new version starts, checks again (nothing newer) and confirms.
        restarted = site.manager(http, running_version=NEWER)
        assert await restarted.on_start() is None
        assert (await restarted.check_and_apply()).kind == "current"
        assert await restarted.confirm()
        assert update_state.decode_state((site.root / "state.json").read_bytes()).pending is None
    assert [(r["version"], r["outcome"]) for r in await site.reports()] == [(NEWER, "installed")]
    assert any("passed its trial" in r.message for r in caplog.records)


async def test_a_switched_version_that_never_confirms_is_rolled_back(site, wheels) -> None:
    site.publish(wheels["newer"])
    async with site.client() as http:
        assert (await site.manager(http).check_and_apply()).kind == "switched"
        restarted = site.manager(http, running_version=NEWER)
        for _ in range(update_state.MAX_BOOTS):
            assert await restarted.on_start() is None  # it starts, but never completes a cycle
        outcome = await restarted.on_start()
    assert outcome is not None and outcome.kind == "rolled-back"
    assert site.root.joinpath("current").resolve() == Path(sys.prefix).resolve()
    assert _version_of(Path(outcome.exec_argv[0])) == f"printerhq {__version__}"
    state = update_state.decode_state((site.root / "state.json").read_bytes())
    assert state.bad == [NEWER] and state.pending is None
    assert (await site.reports())[0]["outcome"] == "rolled-back"


async def test_a_broken_release_is_rolled_back_and_never_retried(site, wheels, caplog) -> None:
    site.publish(wheels["broken"])
    async with site.client() as http:
        manager = site.manager(http)
        outcome = await manager.check_and_apply()
        assert outcome.kind == "failed", outcome
        assert "exited with 1" in outcome.reason
        assert not site.root.joinpath("current").exists()  # never switched: the old one runs on
        assert not (site.root / "versions" / BROKEN).exists()
        assert update_state.decode_state((site.root / "state.json").read_bytes()).bad == [BROKEN]
        again = await manager.check_and_apply()
        assert again.kind == "refused" and again.reason.startswith("bad")
        assert (await site.manager(http).check_and_apply()).kind == "refused"  # across restarts too
    reports = await site.reports()
    assert [(r["version"], r["outcome"]) for r in reports] == [(BROKEN, "rolled-back")]
    assert "this release is broken" in (site.root / "logs" / f"{BROKEN}-install.log").read_text()


@pytest.mark.parametrize("trial", ["crash", "silent"])
async def test_a_version_that_does_not_come_up_in_its_trial_is_rolled_back(
    site, wheels, trial
) -> None:
    """The trial process runs the new version's interpreter; here it exits 3, or runs but never
    writes a heartbeat (deadline)."""
    code = "raise SystemExit(3)" if trial == "crash" else "import time; time.sleep(60)"
    site.publish(wheels["newer"])
    async with site.client() as http:
        manager = site.manager(
            http,
            trial_deadline=3.0,
            trial_command=lambda env, beat: [str(env / "bin" / "python"), "-c", code],
        )
        with trio.fail_after(60):
            outcome = await manager.check_and_apply()
    assert outcome.kind == "failed"
    assert ("code 3" if trial == "crash" else "no good cycle within 3s") in outcome.reason
    assert not site.root.joinpath("current").exists()
    assert update_state.decode_state((site.root / "state.json").read_bytes()).bad == [NEWER]


@pytest.mark.parametrize(
    "attack", ["flipped-wheel-byte", "other-key", "unsigned", "edited-manifest"]
)
async def test_tampered_releases_are_refused(site, wheels, attack, caplog) -> None:
    caplog.set_level(logging.INFO, "printerhq.agent.update")
    if attack == "other-key":
        site.gen_key(site.tmp / "other.key")
        site.publish(wheels["newer"], key=site.tmp / "other.key")
    else:
        site.publish(wheels["newer"])
    if attack == "flipped-wheel-byte":  # the storage, or anyone on the way, changed one byte
        site.flip_wheel_byte(1000)
    elif attack == "unsigned":
        site.sql("UPDATE releases SET signature = X''")
    elif attack == "edited-manifest":
        site.sql(
            "UPDATE releases SET manifest = CAST(replace(CAST(manifest AS TEXT), ?, ?) AS BLOB)",
            (f'"version":"{NEWER}"', '"version":"99.0.0"'),
        )
    expected = {
        "flipped-wheel-byte": "tampered",
        "other-key": "signature",
        "unsigned": "unsigned",
        "edited-manifest": "signature",
    }[attack]
    async with site.client() as http:
        manager = site.manager(http)
        outcome = await manager.check_and_apply()
        assert outcome.kind == "refused" and outcome.reason.startswith(expected), outcome
        assert (await manager.check_and_apply()).kind == "refused"
    assert not (site.root / "versions").exists() or not any((site.root / "versions").iterdir())
    assert not site.root.joinpath("current").exists()
    refusals = [r for r in caplog.records if "refused" in r.message]
    assert (
        len(refusals) == 1 and f"({expected})" in refusals[0].message
    )  # one line, not one per check
    reports = await site.reports()
    assert [(r["outcome"], r["reason"].split(":")[0]) for r in reports] == [("refused", expected)]


async def test_a_downgrade_is_refused(site, wheels) -> None:
    site.publish(wheels["older"])
    async with site.client() as http:
        outcome = await site.manager(http).check_and_apply()
    assert outcome.kind == "refused" and outcome.reason.startswith("downgrade"), outcome
    assert not site.root.joinpath("current").exists()
    assert [(r["version"], r["outcome"]) for r in await site.reports()] == [(OLDER, "refused")]


async def test_the_server_serves_only_agents_and_the_newest_version(site, wheels) -> None:
    site.publish(wheels["older"])
    site.publish(wheels["newer"])  # published later and newer
    again = site._cli(
        "server",
        "publish-update",
        str(wheels["newer"]),
        "--key",
        str(site.key),
        "--data-dir",
        str(site.server.data_dir),
        check=False,
    )
    assert again.returncode == 1 and "already published" in again.stderr
    async with site.client() as http:
        latest = await http.get("/api/v1/updates/latest")
        assert latest.status_code == 200
        wheel = await http.get(f"/api/v1/updates/{NEWER}/wheel")
        assert wheel.content == wheels["newer"].read_bytes()
        assert (await http.get("/api/v1/updates/9.9.9/wheel")).status_code == 404
        assert (
            await http.post("/api/v1/updates/report", content=b'{"version":"1","outcome":"hacked"}')
        ).status_code == 400
    from printerhq import release

    signed = release.decode_signed(latest.content)
    assert release.verify(signed, release.parse_public_key(site.public_key)).version == NEWER
    for token in (site.viewer, "not-a-token"):
        async with site.client(token) as http:
            assert (await http.get("/api/v1/updates/latest")).status_code == 401
            assert (await http.get(f"/api/v1/updates/{NEWER}/wheel")).status_code == 401
    async with site.client() as http:  # an agent token does not read the reports
        assert (await http.get("/api/v1/updates/reports")).status_code == 403


async def test_cancelling_during_the_trial_kills_it_and_changes_nothing(site, wheels) -> None:
    """Structured concurrency: the trial process does not outlive the cancelled check, and a
    cancelled update is not held against the release (it is tried again next time)."""
    site.publish(wheels["newer"])
    pidfile = site.tmp / "trial.pid"
    code = f"import os, time; open({str(pidfile)!r}, 'w').write(str(os.getpid())); time.sleep(120)"
    async with site.client() as http:
        manager = site.manager(
            http, trial_command=lambda env, beat: [str(env / "bin" / "python"), "-c", code]
        )
        with trio.move_on_after(60) as scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(manager.check_and_apply)
                while not pidfile.exists() or not pidfile.read_text():
                    await trio.sleep(0.05)
                nursery.cancel_scope.cancel()
        assert not scope.cancelled_caught, "the trial never started"
    pid = int(pidfile.read_text())
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    assert not site.root.joinpath("current").exists()
    assert not (site.root / "state.json").exists()  # nothing marked bad, nothing pending
    async with site.client() as http:  # and the next check installs it
        assert (await site.manager(http).check_and_apply()).kind == "switched"


def test_an_agent_process_execs_into_the_new_version(site, wheels) -> None:
    """The handover as the agent does it: a separate process checks, applies, then ``execv``s
    the returned argv (same pid); what runs next is the new version from ``current``."""
    site.publish(wheels["newer"])
    script = f"""
import os, ssl
from pathlib import Path
import httpx, trio
from printerhq.agent.service import trial_command
from printerhq.agent.update import UpdateManager, UpdatePaths

async def check():
    ctx = ssl.create_default_context(cafile={str(site.server.certfile)!r})
    headers = {{"Authorization": "Bearer {site.token}"}}
    async with httpx.AsyncClient(base_url={site.server.url!r}, verify=ctx, headers=headers) as http:
        paths = UpdatePaths(Path({str(site.root)!r}))
        manager = UpdateManager(
            {site.public_key!r}, paths, http, restart_args=["--version"],
            trial_command=trial_command(Path({str(site.config_path)!r})),
        )
        return await manager.check_and_apply()

outcome = trio.run(check)
print("outcome", outcome.kind, os.getpid(), flush=True)
os.execv(outcome.exec_argv[0], outcome.exec_argv)
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=site.tmp
    )
    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stderr[-2000:]
    assert lines[0].startswith("outcome switched ")
    assert lines[1] == f"printerhq {NEWER}"


async def test_a_host_that_cannot_install_is_not_the_releases_fault(
    site, wheels, monkeypatch
) -> None:
    """Without the running environment's packages (here: no pip reachable from the new
    environment), the update is an error retried later, not a bad release."""
    import printerhq.agent.update as update

    site.publish(wheels["newer"])
    monkeypatch.setattr(update, "base_paths", lambda versions: [])
    async with site.client() as http:
        outcome = await site.manager(http).check_and_apply()
        assert outcome.kind == "error" and "installation failed" in outcome.reason, outcome
        assert not (site.root / "versions" / NEWER).exists()
        assert not site.root.joinpath("current").exists()
        assert not (site.root / "state.json").exists()  # nothing marked bad, nothing pending
        monkeypatch.undo()
        assert (await site.manager(http).check_and_apply()).kind == "switched"
    assert [r["outcome"] for r in await site.reports()] == ["installed"]


# -- the whole agent ---------------------------------------------------------------------------
SIM_PREFIX = "127.84.0"
SIM_RANGE = f"{SIM_PREFIX}.1-{SIM_PREFIX}.3"


@pytest.fixture(scope="module")
def simulator() -> Iterator[int]:
    with simulator_process(FIXTURES[:3], f"{SIM_PREFIX}.1", f"{SIM_PREFIX}.3") as port:
        yield port


class AgentRun:
    """``printerhq agent --config`` as a process, its JSON log, its heartbeat."""

    def __init__(self, site: Site, config: Path):
        self.site = site
        self.log_path = site.tmp / "agent.log"
        self.state_dir = site.tmp / "state"
        self.process = start_agent(config, self.log_path)

    def events(self) -> list[dict]:
        return log_events(self.log_path)

    def heartbeat(self) -> dict:
        try:
            return json.loads((self.state_dir / "heartbeat.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def wait_for(self, what: str, check: Callable[[], object], timeout: float = 120.0):
        return wait_for(what, check, self.process, self.log_path, timeout)

    def stop(self) -> int:
        return stop_agent(self.process)

    def kill(self) -> None:
        kill_agent(self.process)


@pytest.fixture
def agent_site(tmp_path, simulator) -> Iterator[tuple[Site, int]]:
    s = Site(tmp_path)
    runs: list[AgentRun] = []
    s.runs = runs  # type: ignore[attr-defined]
    try:
        yield s, simulator
    finally:
        for run in runs:
            run.kill()
        s.server.stop()


def _start(site: Site, sim_port: int, **kw) -> AgentRun:
    config = site.agent_config(SIM_RANGE, sim_port, interval="2s", **kw)
    run = AgentRun(site, config)
    site.runs.append(run)  # type: ignore[attr-defined]
    return run


def _server_version(site: Site) -> str | None:
    with httpx.Client(
        base_url=site.server.url,
        verify=ssl.create_default_context(cafile=str(site.server.certfile)),
        headers={"Authorization": f"Bearer {site.viewer}"},
        timeout=10,
    ) as http:
        rows = http.get("/api/v1/agents").json()
    return rows[0]["version"] if rows else None


def _cycles_after(run: AgentRun, event: str) -> int:
    events = run.events()
    marks = [i for i, e in enumerate(events) if e["event"] == event]
    return sum(1 for e in events[marks[0] :] if e["event"] == "cycle_done") if marks else 0


def test_the_agent_applies_an_update_execs_into_it_and_reports_the_new_version(
    agent_site, wheels
) -> None:
    site, sim_port = agent_site
    site.publish(wheels["newer"])
    run = _start(site, sim_port)
    beat = run.wait_for(
        "the agent running the new version",
        lambda: (b := run.heartbeat()).get("version") == NEWER and b.get("cycle", 0) >= 1 and b,
        timeout=240,
    )
    # exec: the same process (pid), now the new version from <root>/current.
    assert beat["pid"] == run.process.pid and beat["state"] == "running"
    assert Path(beat["argv"][0]) == site.root / "current" / "bin" / "printerhq"
    assert site.root.joinpath("current").resolve() == (site.root / "versions" / NEWER).resolve()
    events = run.events()
    starts = [e for e in events if e["event"] == "agent_starting"]
    assert [e["version"] for e in starts] == [__version__, NEWER]
    switched = [e for e in events if e["event"] == "update_check"]
    assert [(e["outcome"], e["version"]) for e in switched] == [("switched", NEWER)]
    # The old version finished its cycle and closed its stream before the exec.
    order = [e["event"] for e in events]
    assert order.index("update_restart") < order.index("agent_stopped") < len(order) - 1
    assert order.index("cycle_done") < order.index("update_check")
    # The trial was the new version's own agent, one cycle of the simulator's printers.
    trial = log_events(site.root / "logs" / f"{NEWER}-trial.log")
    assert any(e["event"] == "agent_starting" and e["trial"] for e in trial)
    assert any(e["event"] == "cycle_done" and e["printers"] >= 1 for e in trial)
    # The switch is confirmed after the new version's first good cycle.
    run.wait_for(
        "the switch confirmed",
        lambda: update_state.decode_state((site.root / "state.json").read_bytes()).pending is None,
    )
    assert run.wait_for(
        "the server showing the new version", lambda: _server_version(site) == NEWER
    )
    assert [(r["version"], r["outcome"]) for r in run_trio(site.reports)] == [(NEWER, "installed")]
    assert run.stop() == 0


def test_a_release_that_fails_its_trial_is_rolled_back_and_the_old_agent_runs_on(
    agent_site, wheels
) -> None:
    site, sim_port = agent_site
    site.publish(wheels["no-agent"])
    run = _start(site, sim_port)
    failed = run.wait_for(
        "the failed trial",
        lambda: next((e for e in run.events() if e["event"] == "update_check"), None),
        timeout=240,
    )
    assert failed["outcome"] == "failed" and failed["version"] == NO_AGENT
    assert "exited with code 1" in failed["reason"]
    assert (
        "this release cannot run the agent"
        in (site.root / "logs" / f"{NO_AGENT}-trial.log").read_text()
    )
    # The old one never stopped: more cycles after the failure, same pid, same version.
    run.wait_for("cycles after the rollback", lambda: _cycles_after(run, "update_check") >= 2)
    beat = run.heartbeat()
    assert beat["pid"] == run.process.pid and beat["version"] == __version__
    assert not site.root.joinpath("current").exists()
    assert update_state.decode_state((site.root / "state.json").read_bytes()).bad == [NO_AGENT]
    reports = run_trio(site.reports)
    assert [(r["version"], r["outcome"]) for r in reports] == [(NO_AGENT, "rolled-back")]
    assert "trial failed" in reports[0]["reason"]
    assert run.stop() == 0


def test_a_tampered_release_is_refused_logged_once_and_reported(agent_site, wheels) -> None:
    site, sim_port = agent_site
    site.publish(wheels["newer"])
    site.flip_wheel_byte(1000)
    run = _start(site, sim_port, check_interval="1s")
    run.wait_for("a refusal on the server", lambda: run_trio(site.reports))
    # Several checks later: still one log line, one report, the old version running.
    run.wait_for("more checks", lambda: _cycles_after(run, "agent_running") >= 4)
    refusals = [e for e in run.events() if "refused" in e["event"]]
    assert len(refusals) == 1 and refusals[0]["level"] == "warning"
    assert f"update {NEWER} refused (tampered)" in refusals[0]["event"]
    reports = run_trio(site.reports)
    assert [(r["version"], r["outcome"], r["reason"].split(":")[0]) for r in reports] == [
        (NEWER, "refused", "tampered")
    ]
    assert run.heartbeat()["version"] == __version__ and run.heartbeat()["pid"] == run.process.pid
    assert not (site.root / "versions" / NEWER).exists()
    assert run.stop() == 0


def run_trio(fn: Callable[[], Awaitable[T]]) -> T:
    return trio.run(fn)


def test_a_switched_version_that_keeps_failing_to_confirm_is_rolled_back_at_agent_start(
    agent_site,
) -> None:
    """``on_start`` through the real agent: a pending switch that has had its starts is rolled
    back before anything else runs, and the agent execs the previous environment (here the
    test's own, so the same code comes back up and runs normally)."""
    site, sim_port = agent_site
    state = update_state.UpdateState(
        pending=update_state.Pending(
            version=__version__,
            previous=sys.prefix,
            switched_at=time.time() - 60,
            boots=update_state.MAX_BOOTS,
        )
    )
    site.root.mkdir(parents=True)
    (site.root / "state.json").write_bytes(update_state.encode_state(state))
    run = _start(site, sim_port)
    run.wait_for("cycles after the rollback", lambda: _cycles_after(run, "update_restart") >= 1)
    events = run.events()
    restart = [e for e in events if e["event"] == "update_restart"]
    assert [(e["outcome"], e["version"]) for e in restart] == [("rolled-back", __version__)]
    assert restart[0]["argv"][0] == str(Path(sys.prefix) / "bin" / "printerhq")
    assert sum(1 for e in events if e["event"] == "agent_starting") == 2
    assert run.heartbeat()["pid"] == run.process.pid  # exec: the same process
    assert site.root.joinpath("current").resolve() == Path(sys.prefix).resolve()
    after = update_state.decode_state((site.root / "state.json").read_bytes())
    assert after.pending is None and after.bad == [__version__]
    reports = run_trio(site.reports)
    assert [(r["version"], r["outcome"]) for r in reports] == [(__version__, "rolled-back")]
    assert run.stop() == 0
