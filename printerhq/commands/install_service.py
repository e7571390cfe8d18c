"""``printerhq install-service``: write the systemd units for the agent and its health check.

It writes files and, unless ``--dry-run``, creates the dedicated user if it is missing. It
never starts, enables or reloads anything: it prints the ``systemctl`` commands for the
administrator to run.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path, PurePosixPath

from printerhq.agent.site import SiteConfigError, read_site_settings
from printerhq.agent.units import (
    AGENT_UNIT,
    CHECK_TIMER,
    STATE_DIR,
    UnitError,
    UnitOptions,
    render_units,
    useradd_command,
)
from printerhq.cmdline import options

DEFAULT_CONFIG = Path("/etc/printerhq/agent.toml")
DEFAULT_OUTPUT = Path("/etc/systemd/system")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "install-service",
        help="write systemd units for the agent and its health check",
        description=f"Write {AGENT_UNIT} (Type=notify, watchdog, a dedicated user, hardened) "
        f"and a timer running `printerhq health-check` every minute. Creates the "
        f"user if missing (not with --dry-run). Starts nothing: prints the "
        f"systemctl commands to run.",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=DEFAULT_CONFIG,
        metavar="FILE",
        help=f"agent configuration the units name (default {DEFAULT_CONFIG})",
    )
    parser.add_argument(
        "--user",
        default="printerhq",
        help="dedicated user and group to run the agent (default printerhq)",
    )
    parser.add_argument(
        "--prefix",
        type=Path,
        metavar="DIR",
        help="installation prefix: the units run DIR/bin/printerhq (default: "
        "the printerhq beside this Python)",
    )
    parser.add_argument(
        "--output-dir",
        type=options.existing_directory,
        metavar="DIR",
        help=f"where to write the units (default {DEFAULT_OUTPUT}; with "
        f"--dry-run and no --output-dir they are printed)",
    )
    parser.add_argument(
        "--check-every",
        default="1min",
        metavar="SPAN",
        help="health check period, systemd time span (default 1min)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="create no user and write nothing outside --output-dir",
    )
    parser.set_defaults(func=run)


def find_executable(prefix: Path | None) -> Path:
    """The absolute path of the printerhq console script the units will run."""
    if prefix is not None:
        candidates = [prefix.absolute() / "bin" / "printerhq"]
    else:
        # The script installed with this interpreter (a virtualenv's bin/), else PATH's.
        found = shutil.which("printerhq")
        candidates = [
            Path(sys.executable).parent / "printerhq",
            *([Path(found).absolute()] if found else []),
        ]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise UnitError(
        f"no printerhq executable at {' or '.join(map(str, candidates))}"
        + ("" if prefix else "; give --prefix")
    )


def _write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _user_exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
        return True
    except KeyError:
        return False


def run(args: argparse.Namespace) -> int:
    config = args.config.absolute()
    try:
        options = UnitOptions(
            executable=PurePosixPath(find_executable(args.prefix)),
            config=PurePosixPath(config),
            user=args.user,
            check_every=args.check_every,
        )
        units = render_units(options)
    except UnitError as exc:
        print(f"install-service: {exc}", file=sys.stderr)
        return 2
    notes: list[str] = []
    try:
        settings = read_site_settings(config)
        if settings.state_dir != Path(STATE_DIR):
            notes.append(
                f"{config}: [agent] state_dir is {settings.state_dir}, but the unit "
                f"lets the agent write only in {STATE_DIR}; set state_dir = "
                f'"{STATE_DIR}"'
            )
        if not settings.health_check:
            notes.append(
                f"{config}: [site] health_check is false: the timer's health check "
                f"will only report, never restart"
            )
    except SiteConfigError as exc:
        notes.append(f"{exc} (write the configuration before starting the agent)")

    if args.dry_run and args.output_dir is None:
        for name, text in units.items():
            print(f"# ---- {name}\n{text}")
    else:
        output = args.output_dir or DEFAULT_OUTPUT
        try:
            for name, text in units.items():
                _write(output / name, text)
                print(f"wrote {output / name}")
        except OSError as exc:
            print(
                f"install-service: cannot write to {output}: {exc.strerror or exc}", file=sys.stderr
            )
            return 1

    if _user_exists(args.user):
        pass
    elif args.dry_run:
        notes.append(
            f"user {args.user} does not exist; would run: {' '.join(useradd_command(args.user))}"
        )
    else:
        command = useradd_command(args.user)
        done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, check=False)
        if done.returncode != 0:
            print(
                f"install-service: {' '.join(command)} failed: "
                f"{done.stderr.decode('utf-8', 'replace').strip()}",
                file=sys.stderr,
            )
            return 1
        print(f"created system user {args.user}")

    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    print(
        f"next (as root): systemctl daemon-reload && systemctl enable --now {AGENT_UNIT} "
        f"{CHECK_TIMER}",
        file=sys.stderr,
    )
    return 0
