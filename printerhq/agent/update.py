"""Signed updates of the agent: fetch, verify, install beside, try, switch, confirm or roll back.

The agent loop calls :meth:`UpdateManager.check_and_apply` on its schedule (only when the site
allows updates). The decisions live in ``printerhq.release`` (signature, digest, versions) and
``printerhq.agent.update_state`` (trial verdicts, restarts); this module does the I/O.

Layout under the install root (``<root>``)::

    <root>/versions/<version>/   one virtual environment per installed release
    <root>/current -> versions/<version>   what the service runs (swapped by rename(2): atomic)
    <root>/state.json            bad versions, a pending switch, the last outcome
    <root>/downloads/            the verified wheel being installed
    <root>/trial/heartbeat.json  the trial process's heartbeat
    <root>/logs/                 pip's and the trial's output, per version

A new environment reuses the dependencies of the one running now: ``python -m venv
--without-pip``, a ``.pth`` file naming the running environment's site-packages, then
``pip install --no-deps --no-index`` of the wheel (pip itself comes through the ``.pth``). No
network but the download from our own server; a release that needs a new dependency fails its
trial and is rolled back. ``current`` must be the environment the service starts from (the
systemd unit runs ``<root>/current/bin/printerhq``); at the first update it is created pointing
at the running environment.
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

import httpx
import msgspec
import trio

from printerhq import __version__, release
from printerhq.agent import update_state
from printerhq.agent.update_state import Pending, TrialJudge, UpdateState
from printerhq.atomicfile import write_atomic

log = logging.getLogger("printerhq.agent.update")

DEFAULT_TRIAL_DEADLINE = 120.0  # seconds for the new version to show a good cycle
INSTALL_TIMEOUT = 300.0  # venv + pip install + --version, together
STOP_GRACE = 10.0  # SIGTERM to SIGKILL for the trial process
MAX_ENVELOPE_BYTES = 2 * release.MAX_MANIFEST_BYTES  # base64 manifest + signature + keys
MARKER = ".printerhq-complete"  # written last: an environment without it is a leftover


@dataclass(frozen=True)
class UpdatePaths:
    root: Path

    @property
    def versions(self) -> Path:
        return self.root / "versions"

    @property
    def current(self) -> Path:
        return self.root / "current"

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def downloads(self) -> Path:
        return self.root / "downloads"

    @property
    def trial_heartbeat(self) -> Path:
        return self.root / "trial" / "heartbeat.json"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def env(self, version: str) -> Path:
        return self.versions / version


class UpdateEvent(msgspec.Struct, frozen=True, kw_only=True):
    """What the agent tells the server (``POST /api/v1/updates/report``)."""

    version: str
    outcome: str  # installed | refused | rolled-back
    kind: str = ""
    reason: str = ""


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    """The result of one check. ``kind``: ``nothing`` (none published), ``current``, ``refused``,
    ``failed`` (the trial failed; marked bad), ``error`` (server unreachable, disk, pip...;
    retried next time), ``switched`` or ``rolled-back``. For the last two, ``exec_argv`` is
    what the agent must become: finish the cycle in flight, close the stream, then
    ``os.execv(exec_argv[0], exec_argv)`` (same pid, so systemd and pidfiles follow)."""

    kind: str
    version: str = ""
    reason: str = ""
    exec_argv: list[str] = []


Reporter = Callable[[UpdateEvent], Awaitable[None]]
TrialCommand = Callable[[Path, Path], list[str]]  # (new environment, heartbeat file) -> argv


def http_reporter(http: httpx.AsyncClient) -> Reporter:
    """Report to the server over ``http`` (base URL and agent token set); a failed report is
    logged, never raised: the log line stays the record."""

    async def report(event: UpdateEvent) -> None:
        try:
            response = await http.post(
                "/api/v1/updates/report",
                content=msgspec.json.encode(event),
                headers={"content-type": "application/json"},
            )
            if response.status_code != 200:
                log.warning("update report refused by the server: %d", response.status_code)
        except httpx.HTTPError as exc:
            log.warning("update report not delivered: %s", type(exc).__name__)

    return report


def base_paths(versions: Path) -> list[str]:
    """The running environment's package directories, minus our own versioned environments:
    what every new environment reuses (so the chain never grows)."""
    out: list[str] = []
    versions = versions.resolve()
    for entry in sys.path:
        path = Path(entry).resolve()
        if (
            path.name in ("site-packages", "dist-packages")
            and path.is_dir()
            and versions not in path.parents
            and str(path) not in out
        ):
            out.append(str(path))
    return out


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def point_current(paths: UpdatePaths, target: Path) -> None:
    """Make ``current`` point at ``target`` in one rename(2): a reader (systemd starting the
    service) sees the old link or the new one, never none."""
    paths.root.mkdir(parents=True, exist_ok=True)
    tmp = paths.root / ".current.tmp"
    tmp.unlink(missing_ok=True)
    # Relative when inside the root, so the whole root can be moved.
    link = os.path.relpath(target, paths.root) if paths.root in target.parents else str(target)
    os.symlink(link, tmp)
    os.replace(tmp, paths.current)
    _fsync_dir(paths.root)


class UpdateManager:
    """One per agent. ``http`` is an ``httpx.AsyncClient`` with the server's base URL, TLS
    settings and ``Authorization: Bearer <agent token>``. ``restart_args`` are the arguments the
    agent was started with after the program name (``["agent", "--config", FILE]``).
    ``trial_command(env, heartbeat)`` is the argv that runs the new version on trial: the agent
    passes ``printerhq agent --config FILE --update-trial HEARTBEAT`` from the new environment
    (``printerhq.agent.service.trial_command``)."""

    def __init__(
        self,
        public_key: str,
        paths: UpdatePaths,
        http: httpx.AsyncClient,
        *,
        restart_args: Sequence[str],
        running_version: str = __version__,
        trial_command: TrialCommand,
        report: Reporter | None = None,
        trial_deadline: float = DEFAULT_TRIAL_DEADLINE,
        poll_interval: float = 0.2,
        python: str = sys.executable,
    ):
        self.public_key = release.parse_public_key(public_key)  # ReleaseError("key") if unusable
        self.paths = paths
        self.http = http
        self.restart_args = list(restart_args)
        self.running = running_version
        self.report = report or http_reporter(http)
        self.trial_command = trial_command
        self.trial_deadline = trial_deadline
        self.poll_interval = poll_interval
        self.python = python
        self._told: set[tuple[str, bytes]] = set()  # refusals already logged and reported
        self._busy = trio.Lock()  # one check at a time: two would race on one environment

    # -- state ---------------------------------------------------------------------------------
    def load_state(self) -> UpdateState:
        try:
            return update_state.decode_state(self.paths.state_file.read_bytes())
        except FileNotFoundError:
            return UpdateState()

    def _save(self, state: UpdateState) -> None:
        _write_atomic(self.paths.state_file, update_state.encode_state(state))

    def _exec_argv(self, env: Path) -> list[str]:
        return [str(env / "bin" / "printerhq"), *self.restart_args]

    # -- after a restart -------------------------------------------------------------------------
    async def on_start(self) -> Outcome | None:
        """Call once at agent start. ``None``, or a rollback the agent must exec into at once:
        the switched version started too often without confirming a cycle."""
        state = self.load_state()
        decision = update_state.on_start(state, self.running)
        if decision.action == "none":
            return None
        pending = state.pending
        assert pending is not None
        if decision.action == "wait":
            self._save(state)
            return None
        previous = Path(pending.previous)
        point_current(self.paths, previous)
        state.mark_bad(pending.version)
        state.pending = None
        state.last = f"rolled back {pending.version}: {decision.reason}"
        self._save(state)
        log.error("update %s rolled back to %s: %s", pending.version, previous, decision.reason)
        await self.report(
            UpdateEvent(
                version=pending.version,
                outcome="rolled-back",
                kind="restart",
                reason=decision.reason,
            )
        )
        return Outcome(
            kind="rolled-back",
            version=pending.version,
            reason=decision.reason,
            exec_argv=self._exec_argv(previous),
        )

    async def confirm(self) -> bool:
        """Call after each good cycle (cheap when nothing is pending): a switched version that
        completes a cycle is final; older environments are removed."""
        state = self.load_state()
        previous = state.pending.previous if state.pending else ""
        if not update_state.confirm(state, self.running):
            return False
        self._save(state)
        log.info("update %s confirmed after a good cycle", self.running)
        keep = (
            {self.paths.current.resolve(), Path(previous).resolve()}
            if previous
            else {self.paths.current.resolve()}
        )
        if self.paths.versions.is_dir():
            for env in self.paths.versions.iterdir():
                if env.resolve() not in keep:
                    await trio.to_thread.run_sync(shutil.rmtree, env, True)
        return True

    # -- the check -----------------------------------------------------------------------------
    async def check_and_apply(self) -> Outcome:
        """Fetch the latest release and install it if it is signed, intact, newer and not known
        bad; never raises for what a server or network can do (the outcome says).
        Cancellation stops the install or the trial (its process is killed) and leaves
        ``current`` as it was."""
        async with self._busy:
            return await self._check_and_apply()

    async def _check_and_apply(self) -> Outcome:
        try:
            status, body = await self._get_bounded("/api/v1/updates/latest", MAX_ENVELOPE_BYTES)
            if status == 404:
                return Outcome(kind="nothing")
            if status != 200:
                return self._error("", f"the server answered {status} for the latest release")
            signed = release.decode_signed(body)
        except httpx.HTTPError as exc:
            return self._error("", f"cannot reach the server: {type(exc).__name__}")
        except release.ReleaseError as exc:
            return await self._refuse(None, exc)
        state = self.load_state()
        try:
            manifest = release.verify(signed, self.public_key)
            release.judge(
                manifest, self.running, bad=set(state.bad), python=platform.python_version()
            )
        except release.ReleaseError as exc:
            return await self._refuse(signed, exc)
        try:
            data = await self._download(manifest)
            release.check_wheel(manifest, data)
        except release.ReleaseError as exc:
            return await self._refuse(signed, exc)
        except httpx.HTTPError as exc:
            return self._error(manifest.version, f"wheel download failed: {type(exc).__name__}")
        return await self._install_and_try(manifest, data, state)

    async def _get_bounded(self, url: str, limit: int) -> tuple[int, bytes]:
        """Status and body, reading at most ``limit`` bytes (more is a ``manifest`` refusal)."""
        async with self.http.stream("GET", url) as response:
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > limit:
                    raise release.ReleaseError("manifest", f"answer larger than {limit} bytes")
            return response.status_code, bytes(body)

    def _error(self, version: str, reason: str) -> Outcome:
        log.warning("update check failed: %s", reason)
        return Outcome(kind="error", version=version, reason=reason)

    async def _refuse(
        self, signed: release.SignedManifest | None, exc: release.ReleaseError
    ) -> Outcome:
        version = _claimed_version(signed)
        if exc.kind == "current":
            return Outcome(kind="current", version=version)
        key = (exc.kind, signed.manifest + signed.signature if signed else b"")
        if key not in self._told:  # one log line and one report per release and reason
            self._told.add(key)
            log.warning("update %s refused (%s): %s", version or "?", exc.kind, exc.reason)
            if exc.kind != "bad":  # a bad version was reported when it failed
                await self.report(
                    UpdateEvent(
                        version=version[:64],
                        outcome="refused",
                        kind=exc.kind,
                        reason=exc.reason[:300],
                    )
                )
        return Outcome(kind="refused", version=version, reason=f"{exc.kind}: {exc.reason}")

    async def _download(self, manifest: release.Manifest) -> bytes:
        """The wheel, never more than the signed size (a server cannot fill the disk)."""
        url = f"/api/v1/updates/{quote(manifest.version, safe='')}/wheel"
        async with self.http.stream("GET", url) as response:
            if response.status_code != 200:
                raise release.ReleaseError(
                    "tampered", f"the server answered {response.status_code} for the signed wheel"
                )
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) > manifest.size:
                    raise release.ReleaseError(
                        "tampered", f"the wheel is larger than the signed {manifest.size} bytes"
                    )
        return bytes(data)

    # -- install, trial, switch ----------------------------------------------------------------
    async def _install_and_try(
        self, manifest: release.Manifest, data: bytes, state: UpdateState
    ) -> Outcome:
        version = manifest.version
        env = self.paths.env(version)
        log.info(
            "update %s verified (sha256 %s…); installing into %s",
            version,
            manifest.sha256[:16],
            env,
        )
        try:
            with trio.fail_after(INSTALL_TIMEOUT):
                await self._install(manifest, data, env)
        except (OSError, subprocess.CalledProcessError, trio.TooSlowError, _InstallError) as exc:
            reason = f"installation failed: {_describe(exc)}"
            if isinstance(exc, _InstallError):  # the wheel itself is broken: never again
                return await self._failed(version, env, state, reason)
            await trio.to_thread.run_sync(shutil.rmtree, env, True)
            return self._error(version, reason)
        verdict = await self._trial(version, env)
        if verdict.state != "passed":
            return await self._failed(version, env, state, f"trial failed: {verdict.reason}")
        # Passed: remember the switch first (a crash before the rename leaves a harmless
        # pending entry for a version that is not running), then swap ``current``.
        previous = (
            self.paths.current.resolve() if self.paths.current.is_symlink() else Path(sys.prefix)
        )
        state.pending = Pending(version=version, previous=str(previous), switched_at=time.time())
        state.last = f"switched to {version}"
        self._save(state)
        point_current(self.paths, env)
        log.info("update %s passed its trial; current -> %s; restarting into it", version, env)
        await self.report(
            UpdateEvent(
                version=version, outcome="installed", reason=f"switched from {self.running}"
            )
        )
        return Outcome(
            kind="switched", version=version, exec_argv=self._exec_argv(self.paths.current)
        )

    async def _failed(self, version: str, env: Path, state: UpdateState, reason: str) -> Outcome:
        state.mark_bad(version)
        state.last = f"failed {version}: {reason}"
        self._save(state)
        await trio.to_thread.run_sync(shutil.rmtree, env, True)
        log.error("update %s failed and is marked bad (kept %s): %s", version, self.running, reason)
        await self.report(
            UpdateEvent(version=version, outcome="rolled-back", kind="trial", reason=reason[:300])
        )
        return Outcome(kind="failed", version=version, reason=reason)

    async def _install(self, manifest: release.Manifest, data: bytes, env: Path) -> None:
        paths = self.paths
        if paths.current.exists() and env.resolve() == paths.current.resolve():
            raise _InstallError(f"{env} is the current environment")
        await trio.to_thread.run_sync(
            shutil.rmtree, env, True
        )  # a leftover from an interrupted try
        for d in (paths.versions, paths.downloads, paths.logs):
            d.mkdir(parents=True, exist_ok=True)
        wheel = paths.downloads / manifest.wheel
        await trio.to_thread.run_sync(_write_atomic, wheel, data)
        logfile = paths.logs / f"{manifest.version}-install.log"
        try:
            with open(logfile, "wb") as out:
                run = _runner(out, paths.root)
                await run([self.python, "-m", "venv", "--without-pip", str(env)])
                site = _site_packages(env)
                site.joinpath("_printerhq_base.pth").write_text(
                    "".join(p + "\n" for p in base_paths(paths.versions))
                )
                # pip comes from the running environment: without it, this host cannot install
                # anything, which is no fault of the release (an error, retried; not "bad").
                await run([str(env / "bin" / "python"), "-c", "import pip"])
                try:
                    await run(
                        [
                            str(env / "bin" / "python"),
                            "-m",
                            "pip",
                            "install",
                            "--no-deps",
                            "--no-index",
                            "--ignore-installed",
                            "--disable-pip-version-check",
                            "--no-input",
                            "--no-warn-script-location",
                            str(wheel),
                        ]
                    )
                    result = await run([str(env / "bin" / "printerhq"), "--version"], capture=True)
                except subprocess.CalledProcessError as exc:
                    raise _InstallError(
                        f"{Path(exc.cmd[0]).name} {' '.join(exc.cmd[1:3])} exited with "
                        f"{exc.returncode} "
                        f"(see {logfile})"
                    ) from None
                said = result.decode(errors="replace").strip()
                if said != f"printerhq {manifest.version}":
                    raise _InstallError(
                        f"the new environment says {said[:80]!r}, "
                        f"expected version {manifest.version}"
                    )
            (env / MARKER).write_text(f"{manifest.version} {manifest.sha256}\n")
        finally:
            wheel.unlink(missing_ok=True)

    async def _trial(self, version: str, env: Path) -> update_state.Verdict:
        """Run the new version beside this one until the judge decides; stop it either way."""
        heartbeat = self.paths.trial_heartbeat
        heartbeat.parent.mkdir(parents=True, exist_ok=True)
        heartbeat.unlink(missing_ok=True)
        argv = self.trial_command(env, heartbeat)
        started = time.time()
        judge = TrialJudge(version, started, started + self.trial_deadline)
        log.info("update %s: trial run %s", version, " ".join(argv))
        with open(self.paths.logs / f"{version}-trial.log", "wb") as out:
            proc = await trio.lowlevel.open_process(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.paths.root,
                env=_child_env(),
            )
        try:
            while True:
                # Exit status first, heartbeat second: a child that wrote its heartbeat and
                # exited between the two reads is still seen healthy.
                exit_code = proc.poll()
                try:
                    beat = update_state.decode_heartbeat(heartbeat.read_bytes())
                except FileNotFoundError:
                    beat = None
                verdict = judge.observe(time.time(), beat, proc.pid, exit_code)
                if verdict.state != "waiting":
                    return verdict
                await trio.sleep(self.poll_interval)
        finally:
            with trio.CancelScope(shield=True):
                await _stop(proc)


class _InstallError(Exception):
    """The release itself cannot be installed or run here (not a passing condition)."""


def _claimed_version(signed: release.SignedManifest | None) -> str:
    """The version a manifest claims, for log lines and reports (not trusted for anything)."""
    if signed is None:
        return ""
    try:
        return str(msgspec.json.decode(signed.manifest, type=dict).get("version", ""))[:64]
    except (msgspec.DecodeError, msgspec.ValidationError, AttributeError):
        return ""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, trio.TooSlowError):
        return f"took longer than {INSTALL_TIMEOUT:.0f}s"
    return str(exc) or type(exc).__name__


def _site_packages(env: Path) -> Path:
    matches = sorted((env / "lib").glob("python*/site-packages"))
    if len(matches) != 1:
        raise _InstallError(f"no single site-packages in {env}")
    return matches[0]


def _child_env() -> dict[str, str]:
    """The environment of install and trial commands: the new version's code comes only from
    its own environment (no PYTHONPATH, no user site), and pip reads no configuration (it
    installs one local file and must not consult an index or a constraints file)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_"))}
    env.update(PIP_CONFIG_FILE=os.devnull, PYTHONNOUSERSITE="1")
    return env


def _runner(out: BinaryIO, cwd: Path) -> Callable[..., Awaitable[bytes]]:
    """Run a command (cancellation kills it), output to ``out``; ``capture``: return stdout.
    ``cwd``: neutral, so ``python -m`` does not import a checkout from the working directory."""
    env = _child_env()

    async def run(argv: list[str], capture: bool = False) -> bytes:
        out.write(("$ " + " ".join(argv) + "\n").encode())
        out.flush()
        if capture:
            result = await trio.run_process(
                argv,
                stdin=subprocess.DEVNULL,
                capture_stdout=True,
                stderr=out,
                env=env,
                cwd=cwd,
                check=True,
            )
            out.write(result.stdout)
            return bytes(result.stdout)
        await trio.run_process(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env, cwd=cwd, check=True
        )
        return b""

    return run


async def _stop(proc: trio.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
        with trio.move_on_after(STOP_GRACE):
            await proc.wait()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
