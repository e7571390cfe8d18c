"""``printerhq health-check``: restart an agent that is dead or whose heartbeat is stale.

Exit codes: 0 healthy or nothing to do (also when not allowed to act: the verdict is still
printed), 1 the agent was restarted, 2 bad options or configuration, 3 it needed a restart
that failed.

Acting is the site's decision: with ``--config`` the agent configuration's ``[site]
health_check`` must be true (it defaults to false); without a configuration file only an
explicit ``--restart`` lets it act. ``--no-restart`` always only reports.

Under systemd, pass ``--unit`` (the generated timer does) and the restart is ``systemctl
restart UNIT``. The systemd environment (``INVOCATION_ID``) is deliberately not taken as a hint:
shells in a desktop terminal inherit it from the terminal's own service, and a health check
typed there must not restart a system unit nobody named.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import re
import sys
import time
from pathlib import Path
from typing import Any

from printerhq.agent.health import (
    EXIT_HEALTHY,
    EXIT_RESTART_FAILED,
    EXIT_RESTARTED,
    EXIT_USAGE,
    Assessment,
    Mode,
    Verdict,
    assess,
    restart_command,
)
from printerhq.agent.revive import (
    LOCK_NAME,
    LOG_NAME,
    ReviveError,
    check_trusted,
    exclusive,
    observe,
    read_pidfile,
    spawn_detached,
    stop_process,
    systemctl_restart,
    wait_for_heartbeat,
)
from printerhq.agent.site import SiteConfigError, read_site_settings
from printerhq.terminal import safe

DEFAULT_UNIT = "printerhq-agent.service"
DEFAULT_MAX_AGE = 30.0  # the agent beats at least every 5 s: six missed beats
_UNIT_NAME = re.compile(r"^[A-Za-z0-9:_.@\\-]{1,240}\.service$")


def _seconds(upper: float) -> Any:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
        if not (math.isfinite(value) and 0 < value <= upper):
            raise argparse.ArgumentTypeError(
                f"{text} is out of range (more than 0, at most {upper:g})"
            )
        return value

    return parse


def _unit(text: str) -> str:
    name = text if text.endswith(".service") else text + ".service"
    if not _UNIT_NAME.match(name):
        raise argparse.ArgumentTypeError(f"{text!r} is not a service unit name")
    return name


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "health-check",
        help="restart the agent if it is dead or its heartbeat is stale",
        description="Look at the agent's pidfile, heartbeat and process; restart it if it is "
        "dead or its heartbeat is older than --max-age, when the site allows it. "
        "Exit status: 0 healthy or nothing to do, 1 restarted, 2 usage or "
        "configuration error, 3 a restart was needed and failed.",
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="agent configuration: [site] health_check allows restarts, "
        "[agent] state_dir holds the pidfile and heartbeat",
    )
    parser.add_argument(
        "--pidfile",
        type=Path,
        metavar="FILE",
        help="the agent's pidfile (default: STATE_DIR/agent.pid)",
    )
    parser.add_argument(
        "--heartbeat",
        type=Path,
        metavar="FILE",
        help="the agent's heartbeat (default: heartbeat.json beside the pidfile)",
    )
    parser.add_argument(
        "--max-age",
        type=_seconds(86400),
        default=DEFAULT_MAX_AGE,
        metavar="SECONDS",
        help=f"a heartbeat older than this is stale (default {DEFAULT_MAX_AGE:g})",
    )
    parser.add_argument(
        "--restart",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="act on a dead or stale agent (default: as [site] health_check "
        "says; without --config, only with --restart)",
    )
    systemd = parser.add_mutually_exclusive_group()
    systemd.add_argument(
        "--unit", type=_unit, metavar="NAME", help="restart with `systemctl restart NAME`"
    )
    systemd.add_argument(
        "--systemd",
        action="store_const",
        const=DEFAULT_UNIT,
        dest="unit",
        help=f"same as --unit {DEFAULT_UNIT}",
    )
    parser.add_argument(
        "--grace",
        type=_seconds(3600),
        default=10.0,
        metavar="SECONDS",
        help="without systemd: SIGKILL a stale agent this long after SIGTERM (default 10)",
    )
    parser.add_argument(
        "--wait",
        type=_seconds(3600),
        default=30.0,
        metavar="SECONDS",
        help="without systemd: wait this long for the new agent's first heartbeat (default 30)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.set_defaults(func=run)


class _Reporter:
    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.record: dict[str, Any] = {}

    def say(self, text: str) -> None:
        if not self.as_json:
            print(safe(f"health-check: {text}"), flush=True)

    def finish(self, code: int) -> int:
        self.record["exit"] = code
        if self.as_json:
            print(json.dumps(self.record, sort_keys=True), flush=True)
        return code


def run(args: argparse.Namespace) -> int:
    out = _Reporter(args.json)
    pidfile: Path | None = args.pidfile
    if args.config is not None:
        try:
            settings = read_site_settings(args.config)
        except SiteConfigError as exc:
            print(safe(f"health-check: {exc}"), file=sys.stderr)
            return EXIT_USAGE
        pidfile = pidfile or settings.state_dir / "agent.pid"
        if not settings.health_check:
            allowed, why_not = False, f"[site] health_check is false in {args.config}"
        elif args.restart is False:
            allowed, why_not = False, "--no-restart"
        else:
            allowed, why_not = True, ""
    else:
        allowed = args.restart is True
        why_not = (
            ""
            if allowed
            else (
                "--no-restart"
                if args.restart is False
                else "no --config (pass --restart to act without one)"
            )
        )
    if pidfile is None:
        print("health-check: give --pidfile or --config", file=sys.stderr)
        return EXIT_USAGE
    heartbeat_path: Path = args.heartbeat or pidfile.with_name("heartbeat.json")

    observation, problems = observe(pidfile, heartbeat_path)
    verdict = assess(observation, args.max_age)
    out.record.update(
        verdict=verdict.verdict.value,
        reason=verdict.reason,
        pid=verdict.pid,
        heartbeat_age=verdict.heartbeat_age,
        problems=problems,
        allowed=allowed,
        action="none",
        new_pid=None,
    )
    for problem in problems:
        out.say(f"note: {problem}")
    out.say(f"{verdict.verdict.value}: {verdict.reason}")
    if not verdict.verdict.needs_restart:
        return out.finish(EXIT_HEALTHY)
    if not allowed:
        out.say(f"not restarting: {why_not}")
        return out.finish(EXIT_HEALTHY)

    mode = Mode.SYSTEMD if args.unit else Mode.DIRECT
    out.record["mode"] = mode.value
    try:
        if mode is Mode.SYSTEMD:
            out.say(f"restarting: systemctl restart {args.unit}")
            systemctl_restart(args.unit)
        else:
            new_pid = _restart_direct(args, pidfile, heartbeat_path, out)
            if new_pid is None:
                return out.finish(EXIT_HEALTHY)
            out.record["new_pid"] = new_pid
    except ReviveError as exc:
        out.record.update(action="failed", error=str(exc))
        out.say(f"could not restart: {exc}")
        return out.finish(EXIT_RESTART_FAILED)
    out.record["action"] = "restarted"
    return out.finish(EXIT_RESTARTED)


def _restart_direct(
    args: argparse.Namespace, pidfile: Path, heartbeat_path: Path, out: _Reporter
) -> int | None:
    """Stop what is left of the agent, start it again; its new pid (None: another check did)."""
    state_dir = pidfile.parent
    with exclusive(state_dir / LOCK_NAME, timeout=args.grace + args.wait + 10):
        # Look again under the lock: a health check that held it may have restarted the agent.
        observation, _ = observe(pidfile, heartbeat_path)
        verdict: Assessment = assess(observation, args.max_age)
        if not verdict.verdict.needs_restart:
            out.say(f"already seen to: {verdict.verdict.value}: {verdict.reason}")
            return None
        beat = observation.heartbeat
        if beat is None:
            raise ReviveError(
                f"no usable heartbeat in {heartbeat_path} records how the agent was started"
            )
        check_trusted(heartbeat_path)
        try:
            command = restart_command(beat.argv, beat.cwd, sys.executable)
        except ValueError as exc:
            raise ReviveError(str(exc)) from None
        if verdict.verdict is Verdict.STALE and verdict.pid is not None:
            out.say(f"stopping agent {verdict.pid} (SIGTERM, SIGKILL after {args.grace:g}s)")
            stop_process(verdict.pid, args.grace)
        _remove_pidfile_of(pidfile, verdict.pid)
        out.say(f"starting: {' '.join(command)} (in {beat.cwd}, output to {state_dir / LOG_NAME})")
        began = time.monotonic()
        process = spawn_detached(command, beat.cwd, state_dir / LOG_NAME)
        started = wait_for_heartbeat(process, heartbeat_path, args.wait)
        if started.heartbeat is None:
            out.say(f"restarted: agent {started.pid}, no heartbeat yet after {args.wait:g}s")
        else:
            out.say(
                f"restarted: agent {started.pid}, first heartbeat after "
                f"{time.monotonic() - began:.1f}s"
            )
        return started.pid


def _remove_pidfile_of(pidfile: Path, pid: int | None) -> None:
    """Remove the pidfile if it still names the agent we found dead or just stopped."""
    recorded, _, _ = read_pidfile(pidfile, time.time())
    if recorded is not None and recorded == pid:
        with contextlib.suppress(FileNotFoundError):
            pidfile.unlink()
