"""The agent service: cycles on a schedule over one long-lived stream, until SIGTERM/SIGINT.

Task tree (one nursery; nothing outlives it)::

    AgentService.run
      Uplink (spool + sender task: one WebSocket kept open, pings, reconnect with backoff,
              TLS resumption, control text frames through ControlLink)
        heartbeats   heartbeat.json every <= 5 s, WATCHDOG=1, a small status to the server
        signals      SIGTERM/SIGINT: cancel the cycles
        cycles       Schedule -> run_cycle per due section -> status.json, status to the server

On a signal the cycle in progress is cancelled (every report it produced is already durable in
the spool), then the agent waits up to ``stop_timeout`` for the server to acknowledge what is
spooled, says ``stopping``, closes the stream, removes its pidfile and returns 0. What is still
unacknowledged then stays in the spool for the next start.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

import trio

from printerhq import __version__, control
from printerhq.agent import files
from printerhq.agent.config import AgentConfig, ScanSection
from printerhq.agent.cycle import run_cycle
from printerhq.agent.link import ControlLink
from printerhq.agent.logs import event
from printerhq.agent.notify import sd_notify
from printerhq.agent.remote import RemoteConfigKeeper
from printerhq.agent.schedule import Job, Schedule
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


class AgentService:
    def __init__(
        self,
        config: AgentConfig,
        *,
        pidfile: Path | None = None,
        version: str = __version__,
        stop_timeout: float = 10.0,
    ):
        self.config = config
        self.version = version
        self.stop_timeout = stop_timeout
        self.name = config.agent.agent_name()
        self.state_dir = Path(config.agent.state_dir)
        self.pidfile = pidfile or self.state_dir / files.PIDFILE
        self.state: control.AgentState = "starting"
        self.cycle = 0
        self.last: control.CycleStatus | None = None
        self.scans: list[ScanSection] = list(config.scan)
        self.keeper = RemoteConfigKeeper(self.state_dir, config.site.remote_config)
        self.link = ControlLink(self.keeper, version, self.status)
        self.uplink: Uplink | None = None

    def status(self) -> control.Status:
        return control.Status(state=self.state, cycle=self.cycle, last=self.last)

    def _beat(self) -> None:
        files.write_heartbeat(self.state_dir, self.version, self.state, self.cycle)
        sd_notify("WATCHDOG=1")

    def _open_uplink(self) -> Uplink:
        server = self.config.server
        token = Path(server.token_file).read_text().strip()
        return Uplink(
            server.url,
            token,
            self.state_dir / "spool",
            tls=TlsOptions(ca_bundle=server.ca_bundle, pin_sha256=server.pin_sha256),
            insecure=server.insecure,
            control=self.link,
        )

    # -- the service ----------------------------------------------------------------------
    async def run(self) -> int:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        files.write_pidfile(self.pidfile)
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
            )
            async with self._open_uplink() as uplink, trio.open_nursery() as nursery:
                self.uplink = uplink
                nursery.start_soon(self._heartbeats)
                with trio.CancelScope() as cycles:
                    await nursery.start(self._signals, cycles)
                    self.state = "running"
                    self._beat()
                    sd_notify("READY=1", f"STATUS=running, {len(self.scans)} scan sections")
                    event(log, "agent_running", pid=os.getpid())
                    await self._cycles(uplink)
                await self._stop(uplink)
                nursery.cancel_scope.cancel()
            event(log, "agent_stopped", pending=self.uplink.pending if self.uplink else 0)
            return 0
        finally:
            files.remove_pidfile(self.pidfile)

    async def _stop(self, uplink: Uplink) -> None:
        self.state = "stopping"
        sd_notify("STOPPING=1")
        self._beat()
        event(log, "agent_stopping", pending=uplink.pending)
        flushed = await uplink.flush(self.stop_timeout)
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
                cycles.cancel()
                return

    async def _heartbeats(self) -> None:
        period = self.config.agent.heartbeat
        last_sent = trio.current_time()
        while True:
            await trio.sleep(period)
            try:
                self._beat()
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

    async def _cycles(self, uplink: Uplink) -> None:
        schedule = self._schedule(trio.current_time(), self.config.agent.jitter)
        while True:
            await trio.sleep_until(schedule.next_time())
            fresh = self.keeper.take_fresh()
            if fresh is not None:
                # A new configuration takes effect now, at the cycle that was due: every
                # section starts with a discovery of its range.
                self.scans = list(fresh.scan)
                schedule = self._schedule(trio.current_time(), 0.0)
                event(log, "config_applied", version=self.keeper.version, sections=len(self.scans))
            statuses: list[control.CycleStatus] = []
            ran: set[int] = set()
            while (job := schedule.next_job(trio.current_time(), ran)) is not None:
                if not ran:
                    self.cycle += 1
                statuses.append(await self._run_job(job, uplink))
                schedule.done(job, trio.current_time())
                ran.add(job.section)
            if not statuses:
                continue
            self.last = merge(statuses)
            files.write_status(self.state_dir, self.last)
            self._beat()
            self.link.post(self.status())
            event(log, "cycle_done", cycle=self.cycle, **_fields(self.last))

    async def _run_job(self, job: Job, uplink: Uplink) -> control.CycleStatus:
        section = self.scans[job.section]
        try:
            return await run_cycle(
                job.kind, section, self.state_dir, uplink, flush_timeout=min(10.0, section.interval)
            )
        except Exception as exc:
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


def _fields(status: control.CycleStatus) -> dict[str, object]:
    return {
        name: getattr(status, name)
        for name in status.__struct_fields__
        if name not in ("error_samples", "time")
    }
