"""``printerhq agent --config FILE``: the 24/7 data collector service (docs/agent.md).

Exit codes: 0 after SIGTERM/SIGINT (clean stop) or a valid ``--check-config``; 2 for a
configuration error (one line naming the key and the problem); 1 when the service fails (or,
with ``--update-trial``, when its cycle failed).

After an update passed its trial (or a rollback at start), the service returns from ``trio.run``
with ``exec_argv`` set and this function ``execv``s it: the same pid runs the other version.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import trio

from printerhq.agent.config import AgentConfig, ConfigError, load_config
from printerhq.cmdline import options
from printerhq.cmdline.exits import FAILURE, OK, USAGE


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "agent",
        help="run the data collector service (schedules, one stream to the server)",
        description="Scan the configured ranges on their schedules and stream the reports to "
        "the central server over one long-lived connection, until SIGTERM/SIGINT.",
        epilog="examples:\n"
        "  printerhq agent --print-example-config > /etc/printerhq/agent.toml\n"
        "  printerhq agent --check-config /etc/printerhq/agent.toml\n"
        "  printerhq agent --config /etc/printerhq/agent.toml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--config", type=Path, metavar="FILE", help="run with this configuration")
    what.add_argument(
        "--check-config",
        type=Path,
        metavar="FILE",
        help="validate FILE and exit (0: valid, 2: the problem on stderr)",
    )
    what.add_argument(
        "--print-example-config",
        action="store_true",
        help="print a commented example configuration",
    )
    parser.add_argument(
        "--pidfile",
        type=options.new_file,
        metavar="FILE",
        help="write the process id here (default: <state_dir>/agent.pid)",
    )
    parser.add_argument(
        "--log-format",
        choices=("auto", "json", "text"),
        default="auto",
        help="log lines on stderr (auto: JSON unless stderr is a terminal)",
    )
    parser.add_argument(
        "--audit",
        action="store_true",
        help="keep the audit trail of every request and upload in <state_dir>/audit, as "
        "[site] audit = true does (read it with `printerhq audit`)",
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logs")
    parser.add_argument(
        "--update-trial",
        type=Path,
        metavar="HEARTBEAT",
        help="(used by the agent itself) run one cycle as the trial of a new version: heartbeat "
        "to HEARTBEAT, state under <install_root>/trial/state, no pidfile, then exit",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.print_example_config:
        from printerhq.agent.example import example_config
        from printerhq.autotargets import AutoTargetsError
        from printerhq.interfaces import auto_decisions

        try:  # reads the interfaces (ip -j addr), sends nothing
            decisions = auto_decisions()
        except AutoTargetsError as error:
            print(
                f"printerhq agent: {error}; the example keeps its example ranges", file=sys.stderr
            )
            decisions = []
        sys.stdout.write(example_config(decisions))
        return OK
    path = args.check_config or args.config
    if args.update_trial is not None and args.config is None:
        print("printerhq agent: --update-trial needs --config", file=sys.stderr)
        return USAGE
    try:
        config = load_config(path)
    except ConfigError as error:
        print(f"printerhq agent: {path}: {error}", file=sys.stderr)
        return USAGE
    if args.audit:
        config.site.audit = True
    if args.check_config:
        sections = len(config.scan)
        print(
            f"{path}: valid ({sections} scan section{'s' if sections != 1 else ''}, "
            f"remote_config={'on' if config.site.remote_config else 'off'}, "
            f"health_check={'on' if config.site.health_check else 'off'}, "
            f"updates={'on' if config.site.updates else 'off'}, "
            f"traps={'on' if config.traps.enabled else 'off'}, "
            f"audit={'on' if config.site.audit else 'off'})"
        )
        _show_auto(config)
        return OK
    from printerhq.agent.logs import setup_logging
    from printerhq.agent.service import AgentService

    as_json = {"auto": None, "json": True, "text": False}[args.log_format]
    setup_logging(level=logging.DEBUG if args.verbose else logging.INFO, as_json=as_json)
    service = AgentService(
        config,
        pidfile=args.pidfile,
        config_path=args.config,
        restart_args=sys.argv[1:],
        trial_heartbeat=args.update_trial,
    )
    try:
        code = trio.run(service.run)
    except OSError as error:
        logging.getLogger("printerhq.agent").error(
            "agent_failed", extra={"fields": {"error": str(error)}}
        )
        return FAILURE
    if service.exec_argv:
        # Outside trio.run: nothing of this process's event loop is left to clean up. The
        # stream is closed and the spool flushed; what remains is the same pid, another version.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            os.execv(service.exec_argv[0], service.exec_argv)
        except OSError as error:
            print(f"printerhq agent: cannot exec {service.exec_argv[0]}: {error}", file=sys.stderr)
            return FAILURE
    return code


def _show_auto(config: AgentConfig) -> None:
    """For ``targets = ["auto"]``: what it chooses on this machine now, and why (reads the
    interfaces, sends nothing)."""
    from printerhq.autotargets import AutoTargetsError, describe, has_auto
    from printerhq.interfaces import auto_decisions
    from printerhq.terminal import safe

    for i, section in enumerate(config.scan):
        if not has_auto(section.targets):
            continue
        try:
            decisions = auto_decisions(allow_wide=section.allow_wide)
        except AutoTargetsError as error:
            print(f"scan[{i}].targets auto: {error}")
            continue
        print(f"scan[{i}].targets auto, on this machine now:")
        for line in describe(decisions):
            print(f"  {safe(line)}")
