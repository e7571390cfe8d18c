"""The agent service: cycles on a schedule over one long-lived stream, until SIGTERM/SIGINT.

Task tree (one nursery; nothing outlives it)::

    AgentService.run
      Uplink (spool + sender task: one WebSocket kept open, pings, reconnect with backoff,
              TLS resumption, control text frames through ControlLink)
        heartbeats   heartbeat.json every <= 5 s, WATCHDOG=1, a small status to the server
        signals      SIGTERM/SIGINT: cancel the cycles
        trap events  one log line per trap ([traps] enabled)
        trap collect a warm collection of the one printer a trap came from
        cycles       Schedule -> run_cycle per due section -> status.json, status to the server;
                     between cycles, on its own schedule, the update check ([site] updates)

On a signal the cycle in progress is cancelled (every report it produced is already durable in
the spool), then the agent waits up to ``stop_timeout`` for the server to acknowledge what is
spooled, says ``stopping``, closes the stream, removes its pidfile and returns 0. What is still
unacknowledged then stays in the spool for the next start.

An update that passed its trial ends the cycles the same way (the cycle in flight finishes
first: the check runs between cycles) and leaves ``exec_argv`` set: the command function then
``execv``s it once ``trio.run`` has returned (same pid; docs/agent.md, "Updates"). So does a
rollback decided at start.

With ``trial_heartbeat`` the service is an update *trial* (``printerhq agent --update-trial``):
the new version, started by the old one, runs one cycle from its own state dir
(``<install_root>/trial/state``: its own spool and memories, so it never touches the running
agent's files), uploads it on its own stream (no control messages: the server's view of the agent
stays the running one's), writes its heartbeat to that file, and exits.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from printerhq import __version__, control
from printerhq.agent import files
from printerhq.agent.config import AgentConfig, ScanSection, local_v3_files
from printerhq.agent.cycle import known_printers, run_cycle
from printerhq.agent.link import ControlLink
from printerhq.agent.logs import event
from printerhq.agent.notify import sd_notify
from printerhq.agent.remote import RemoteConfigKeeper
from printerhq.agent.schedule import Job, Kind, Schedule
from printerhq.agent.server_http import server_client
from printerhq.agent.update import Outcome, TrialCommand, UpdateManager, UpdatePaths
from printerhq.audit.log import AuditLog
from printerhq.snmp.ber import format_oid
from printerhq.traps import TrapEvent, TrapOptions, TrapReceiver, open_trap_receiver
from printerhq.uplink import TlsOptions, Uplink

log = logging.getLogger("printerhq.agent")

SERVER_HEARTBEAT = 60.0  # seconds between status messages when no cycle ends


def merge(statuses: list[control.CycleStatus]) -> control.CycleStatus:
    """One status for the sections that ran together in a cycle."""
    if len(statuses) == 1:
        return statuses[0]
    samples = [s for status in statuses for s in status.error_samples][: control.MAX_ERROR_SAMPLES]
    return control.CycleStatus(
        time=max(s.time for s in statuses),
        kind="discovery" if any(s.kind == "discovery" for s in statuses) else "warm",
        duration=round(sum(s.duration for s in statuses), 3),
        addresses=sum(s.addresses for s in statuses),
        printers=sum(s.printers for s in statuses),
        reports=sum(s.reports for s in statuses),
        errors=sum(s.errors for s in statuses),
        error_samples=samples,
        scan_bytes=sum(s.scan_bytes for s in statuses),
        upload_bytes=sum(s.upload_bytes for s in statuses),
        pending=statuses[-1].pending,
    )


def trial_command(config_path: Path) -> TrialCommand:
    """How the old version starts a new one on trial: the new environment's own ``printerhq``,
    this configuration (absolute: the trial runs in the install root), one cycle."""
    config_path = config_path.absolute()

    def command(env: Path, heartbeat: Path) -> list[str]:
        return [
            str(env / "bin" / "printerhq"),
            "agent",
            "--config",
            str(config_path),
            "--update-trial",
            str(heartbeat),
        ]

    return command


class AgentService:
    def __init__(
        self,
        config: AgentConfig,
        *,
        pidfile: Path | None = None,
        version: str = __version__,
        stop_timeout: float = 10.0,
        config_path: Path | None = None,
        restart_args: Sequence[str] = (),
        trial_heartbeat: Path | None = None,
    ):
        self.config = config
        self.version = version
        self.stop_timeout = stop_timeout
        self.name = config.agent.agent_name()
        self.config_path = config_path
        self.restart_args = list(restart_args)
        self.trial_heartbeat = trial_heartbeat
        main_state = Path(config.agent.state_dir)
        self.update_root = config.updates.root(config.agent.state_dir)
        self.state_dir = self.update_root / "trial" / "state" if trial_heartbeat else main_state
        self.pidfile = pidfile or self.state_dir / files.PIDFILE
        self.state: control.AgentState = "starting"
        self.cycle = 0
        self.good_cycles = 0  # cycles in which no section failed (the trial's measure)
        self.failures = 0  # section runs that raised
        self.last: control.CycleStatus | None = None
        self.scans: list[ScanSection] = list(config.scan)
        # A trial reads the running agent's last-good remote configuration, never writes it.
        self.keeper = RemoteConfigKeeper(
            main_state, config.site.remote_config, local_v3_files(config)
        )
        self.link = ControlLink(self.keeper, version, self.status)
        self.uplink: Uplink | None = None
        self.exec_argv: list[str] | None = None  # what to become after trio.run returns
        self.exit_code = 0
        self.signalled = False  # SIGTERM/SIGINT: stop, even in the middle of a switch
        # [traps]: the known printers (the receiver's is_known) and which section knows each.
        self.known: set[str] = set()
        self._known_in: dict[str, int] = {}
        self.traps: TrapReceiver | None = None
        self._traps_written: dict[str, int] | None = None  # counters last in status.json
        self._scanning = trio.Lock()  # a trap's collection waits for the cycle in flight
        # [site] audit: every request and upload, logged in <state_dir>/audit (docs/audit.md).
        self.audit: AuditLog | None = None

    @property
    def trial(self) -> bool:
        return self.trial_heartbeat is not None

    def status(self) -> control.Status:
        return control.Status(state=self.state, cycle=self.cycle, last=self.last)

    def _beat(self) -> None:
        if self.trial_heartbeat is not None:
            # The trial's judge reads completed good cycles; "stopping" would read as a failure
            # of a trial that simply finished, so the last "running" beat stays.
            if self.state != "stopping":
                files.write_heartbeat(
                    self.state_dir,
                    self.version,
                    self.state,
                    self.good_cycles,
                    path=self.trial_heartbeat,
                )
            return
        files.write_heartbeat(self.state_dir, self.version, self.state, self.cycle)
        sd_notify("WATCHDOG=1")

    def _tls(self) -> TlsOptions:
        server = self.config.server
        return TlsOptions(ca_bundle=server.ca_bundle, pin_sha256=server.pin_sha256)

    def _token(self) -> str:
        return Path(self.config.server.token_file).read_text().strip()

    def _open_uplink(self) -> Uplink:
        server = self.config.server
        return Uplink(
            server.url,
            self._token(),
            self.state_dir / "spool",
            tls=self._tls(),
            insecure=server.insecure,
            control=None if self.trial else self.link,
            audit=self.audit,
        )

    @asynccontextmanager
    async def _updates(self) -> AsyncIterator[UpdateManager | None]:
        """The update manager when the site allows updates (never in a trial)."""
        cfg = self.config
        if self.trial or not cfg.site.updates or cfg.updates.public_key is None:
            yield None
            return
        server = cfg.server
        async with server_client(
            server.url, self._token(), self._tls(), insecure=server.insecure
        ) as http:
            yield UpdateManager(
                cfg.updates.public_key,
                UpdatePaths(self.update_root),
                http,
                restart_args=self.restart_args,
                running_version=self.version,
                trial_command=trial_command(self.config_path or Path("agent.toml")),
                trial_deadline=cfg.updates.trial_deadline,
            )

    def _trap_options(self) -> TrapOptions:
        # A trial never listens: the running agent holds the port.
        return TrapOptions() if self.trial else self.config.traps

    # -- the service ----------------------------------------------------------------------
    async def run(self) -> int:
        """0 after a clean stop (then ``exec_argv`` may name what to exec), 1 for a trial
        whose cycle failed."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if not self.trial:
            files.write_pidfile(self.pidfile)
        if self.config.site.audit:
            # A trial keeps its own trail, under its own state directory.
            sizes = self.config.audit
            self.audit = AuditLog(
                self.state_dir / "audit",
                max_file_bytes=sizes.max_file_mb << 20,
                files=sizes.files,
                keep_uploads=sizes.keep_uploads,
                version=self.version,
            ).open()
        try:
            remote = self.keeper.load_last_good()
            if remote is not None:
                self.scans = list(remote.scan)
            self._beat()
            event(
                log,
                "agent_starting",
                name=self.name,
                version=self.version,
                state_dir=str(self.state_dir),
                sections=len(self.scans),
                remote_config=self.config.site.remote_config,
                config_version=self.keeper.version,
                updates=self.config.site.updates,
                traps=self.config.traps.enabled,
                audit=self.config.site.audit,
                trial=self.trial,
            )
            async with self._updates() as updates:
                if updates is not None:
                    rollback = await updates.on_start()
                    if rollback is not None:
                        self._exec_into(rollback)
                        return 0
                await self._serve(updates)
            if self.signalled and self.exec_argv:
                # Told to stop while handing over: stop. ``current`` already names the new
                # version, so whatever starts the agent next starts it (and it confirms).
                event(log, "update_restart_cancelled", argv=self.exec_argv)
                self.exec_argv = None
            event(log, "agent_stopped", pending=self.uplink.pending if self.uplink else 0)
            return self.exit_code
        finally:
            if self.audit is not None:
                self.audit.close()
            if not self.trial:
                files.remove_pidfile(self.pidfile)

    async def _serve(self, updates: UpdateManager | None) -> None:
        self._refresh_known()
        async with (
            open_trap_receiver(self._trap_options(), is_known=self.known.__contains__) as traps,
            self._open_uplink() as uplink,
            trio.open_nursery() as nursery,
        ):
            self.uplink = uplink
            if traps.address is not None:
                self.traps = traps
                event(
                    log,
                    "traps_listening",
                    address=f"{traps.address[0]}:{traps.address[1]}",
                    known_printers=len(self.known),
                )
            nursery.start_soon(self._heartbeats)
            nursery.start_soon(self._trap_events, traps)
            nursery.start_soon(self._trap_collections, traps, uplink)
            with trio.CancelScope() as cycles:
                await nursery.start(self._signals, cycles)
                self.state = "running"
                self._beat()
                if not self.trial:
                    sd_notify("READY=1", f"STATUS=running, {len(self.scans)} scan sections")
                event(log, "agent_running", pid=os.getpid())
                await self._cycles(uplink, updates)
            await self._stop(uplink)
            nursery.cancel_scope.cancel()

    def _exec_into(self, outcome: Outcome) -> None:
        self.exec_argv = list(outcome.exec_argv)
        event(
            log,
            "update_restart",
            logging.WARNING if outcome.kind == "rolled-back" else logging.INFO,
            outcome=outcome.kind,
            version=outcome.version,
            reason=outcome.reason,
            argv=self.exec_argv,
        )

    async def _stop(self, uplink: Uplink) -> None:
        self.state = "stopping"
        if not self.trial:
            sd_notify("STOPPING=1")
        self._beat()
        event(log, "agent_stopping", pending=uplink.pending)
        flushed = await uplink.flush(self.stop_timeout)
        if not self.trial:  # a trial has no control channel
            self.link.post(self.status())
            with trio.move_on_after(1.0):  # let the last status reach the stream
                await self.link.drained()
        if not flushed:
            event(
                log,
                "reports_left_in_spool",
                logging.WARNING,
                pending=uplink.pending,
                spool=str(self.state_dir / "spool"),
            )

    async def _signals(
        self,
        cycles: trio.CancelScope,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as received:
            task_status.started()
            async for signum in received:
                event(log, "signal", signal=signal.Signals(signum).name)
                self.signalled = True
                cycles.cancel()
                return

    def _write_status(self) -> None:
        if self.last is None:
            return
        traps = self.traps.stats.as_dict() if self.traps is not None else None
        files.write_status(self.state_dir, self.last, traps=traps)
        self._traps_written = traps

    async def _heartbeats(self) -> None:
        period = self.config.agent.heartbeat
        last_sent = trio.current_time()
        while True:
            await trio.sleep(period)
            try:
                self._beat()
                # Traps arrive between cycles: their counters reach status.json with the next
                # heartbeat after they change, not only with the next cycle.
                if self.traps is not None and self.traps.stats.as_dict() != self._traps_written:
                    self._write_status()
            except OSError as exc:  # a full disk must not stop collection
                event(log, "heartbeat_failed", logging.WARNING, error=str(exc))
            if trio.current_time() - last_sent >= SERVER_HEARTBEAT:
                self.link.post(control.Status(state=self.state, cycle=self.cycle))
                last_sent = trio.current_time()

    def _schedule(self, start: float, jitter: float) -> Schedule:
        return Schedule(
            [(s.interval, s.discovery_interval) for s in self.scans],
            start,
            seed=self.name,
            jitter=jitter,
        )

    async def _cycles(self, uplink: Uplink, updates: UpdateManager | None = None) -> None:
        """Cycles until cancelled; returns by itself after a switch to a new version, and in a
        trial after its first cycle."""
        jitter = 0.0 if self.trial else self.config.agent.jitter
        schedule = self._schedule(trio.current_time(), jitter)
        next_check = math.inf  # the first update check follows the first cycle
        if self.trial and not self.scans:
            # Nothing to scan (a remote-only site before its first configuration): it started,
            # read its configuration and opened its stream; that is all a cycle would show.
            self.good_cycles = 1
            self._beat()
            return
        while True:
            await trio.sleep_until(min(schedule.next_time(), next_check))
            fresh = self.keeper.take_fresh()
            if fresh is not None:
                # A new configuration takes effect now, at the cycle that was due: every
                # section starts with a discovery of its range.
                self.scans = list(fresh.scan)
                schedule = self._schedule(trio.current_time(), 0.0)
                event(log, "config_applied", version=self.keeper.version, sections=len(self.scans))
            statuses: list[control.CycleStatus] = []
            failed = False
            ran: set[int] = set()
            while (job := schedule.next_job(trio.current_time(), ran)) is not None:
                if not ran:
                    self.cycle += 1
                failures = self.failures
                statuses.append(await self._run_job(job, uplink))
                failed |= self.failures > failures
                schedule.done(job, trio.current_time())
                ran.add(job.section)
            if statuses:
                await self._cycle_done(statuses, failed, updates)
                if self.trial:
                    self.exit_code = 1 if failed else 0
                    return
                if updates is not None and next_check == math.inf:
                    next_check = trio.current_time()
            if updates is not None and trio.current_time() >= next_check:
                outcome = await self._check_update(updates)
                next_check = trio.current_time() + self.config.updates.check_interval
                if outcome is not None and outcome.kind == "switched":
                    self._exec_into(outcome)
                    return

    async def _cycle_done(
        self, statuses: list[control.CycleStatus], failed: bool, updates: UpdateManager | None
    ) -> None:
        self.last = merge(statuses)
        if not failed:
            self.good_cycles += 1
        self._refresh_known()
        self._write_status()
        self._beat()
        if not self.trial:
            self.link.post(self.status())
        event(log, "cycle_done", cycle=self.cycle, **_fields(self.last))
        if updates is not None and not failed:
            try:
                await updates.confirm()
            except OSError as exc:
                event(log, "update_confirm_failed", logging.WARNING, error=str(exc))

    async def _check_update(self, updates: UpdateManager) -> Outcome | None:
        """One check; the cycles wait for it (a trial runs a cycle of its own meanwhile)."""
        try:
            outcome = await updates.check_and_apply()
        except OSError as exc:  # the install root's disk: retried at the next check
            event(log, "update_check_failed", logging.WARNING, error=str(exc))
            return None
        # Refusals and errors are logged by the manager (a refusal once per release, not per
        # check); these two change what runs, so they get a structured line of their own.
        if outcome.kind in ("switched", "failed"):
            event(
                log,
                "update_check",
                logging.INFO if outcome.kind == "switched" else logging.WARNING,
                outcome=outcome.kind,
                version=outcome.version,
                reason=outcome.reason,
            )
        return outcome

    async def _run_job(
        self, job: Job, uplink: Uplink, only: str | None = None
    ) -> control.CycleStatus:
        """One section's run; a failure (counted in ``failures``) is a status, never raised."""
        section = self.scans[job.section]
        try:
            async with self._scanning:
                return await run_cycle(
                    job.kind,
                    section,
                    self.state_dir,
                    uplink,
                    flush_timeout=min(10.0, section.interval),
                    only=only,
                    audit=self.audit,
                )
        except Exception as exc:
            self.failures += 1
            event(
                log,
                "cycle_failed",
                logging.ERROR,
                section=job.section,
                kind=job.kind,
                error=f"{type(exc).__name__}: {exc}",
            )
            return control.CycleStatus(
                time=time.time(),
                kind=job.kind,
                duration=0.0,
                errors=1,
                error_samples=[f"{type(exc).__name__}: {exc}"[:500]],
                pending=uplink.pending,
            )

    # -- traps ----------------------------------------------------------------------------------
    def _refresh_known(self) -> None:
        """The printers the sections' memories know warm: the trap receiver accepts these
        sources (the set is updated in place; the receiver holds its ``__contains__``)."""
        if not self.config.traps.enabled or self.trial:
            return
        known_in: dict[str, int] = {}
        for index, section in enumerate(self.scans):
            try:
                addresses = known_printers(section, self.state_dir)
            except OSError as exc:
                event(log, "known_printers_unreadable", logging.WARNING, error=str(exc))
                continue
            for address in addresses:
                known_in.setdefault(address, index)
        self._known_in = known_in
        self.known.clear()
        self.known.update(known_in)

    async def _trap_events(self, traps: TrapReceiver) -> None:
        async for trap in traps.events:
            level = logging.WARNING if trap.alert else logging.INFO
            event(log, "trap", level, **_trap_fields(trap))

    async def _trap_collections(self, traps: TrapReceiver, uplink: Uplink) -> None:
        """A trap from a known printer: collect that printer now (warm, its section's memory),
        its report uploaded on the open stream like a cycle's."""
        async for address in traps.collect_requests:
            section = self._known_in.get(address)
            if section is None or section >= len(self.scans):
                continue  # forgotten since (a new configuration): the next cycle decides
            kind: Kind = "warm"
            failures = self.failures
            status = await self._run_job(Job(section, kind), uplink, only=address)
            event(
                log,
                "trap_collected" if self.failures == failures else "trap_collect_failed",
                address=address,
                reports=status.reports,
                duration=status.duration,
                pending=status.pending,
            )


def _trap_fields(trap: TrapEvent) -> dict[str, object]:
    fields: dict[str, object] = {
        "source": trap.source,
        "meaning": trap.meaning or format_oid(trap.trap_oid),
        "version": trap.version,
        "inform": trap.inform,
        "trap_oid": format_oid(trap.trap_oid),
    }
    if trap.alert is not None:
        fields["severity"] = trap.alert.severity
        fields["alert_code"] = trap.alert.code_name or trap.alert.code
    return fields


def _fields(status: control.CycleStatus) -> dict[str, object]:
    return {
        name: getattr(status, name)
        for name in status.__struct_fields__
        if name not in ("error_samples", "time")
    }
