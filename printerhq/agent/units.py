"""systemd units for the agent and its health check, as text (no I/O).

Three files (systemd.service(5), systemd.timer(5), systemd.exec(5)):

- ``printerhq-agent.service``: ``Type=notify`` (the agent sends ``READY=1`` when started and
  ``WATCHDOG=1`` with each heartbeat, so systemd kills and restarts it if it hangs for
  ``WatchdogSec``), restarted on failure, run as a dedicated user in a read-only system with
  one writable state directory;
- ``printerhq-health-check.service``: one ``printerhq health-check --unit ...`` run;
- ``printerhq-health-check.timer``: runs it every minute.

Values land in unit files verbatim, so every one is checked here first: a newline or a quote
in a path would change the unit's meaning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

AGENT_UNIT = "printerhq-agent.service"
CHECK_UNIT = "printerhq-health-check.service"
CHECK_TIMER = "printerhq-health-check.timer"
STATE_DIR = PurePosixPath("/var/lib/printerhq")  # StateDirectory=printerhq
# useradd(8)'s portable names (and systemd's own rule for User=): no leading digit or dash.
USER_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,30}$")
# Paths go into ExecStart= unquoted: keep to characters that need no quoting or escaping
# there (systemd.service(5) "Command lines": '%' is a specifier, '$' a variable, '\' an escape).
SAFE_PATH = re.compile(r"^/[A-Za-z0-9._+,:=@/-]*$")


class UnitError(ValueError):
    """A value that cannot go into a unit file; the message names it."""


@dataclass(frozen=True)
class UnitOptions:
    executable: PurePosixPath  # absolute path of the printerhq console script
    config: PurePosixPath  # absolute path of the agent configuration
    user: str = "printerhq"
    watchdog_sec: int = 30  # the agent beats at least every 5 s
    restart_sec: int = 5
    check_every: str = "1min"  # OnUnitActiveSec= of the timer
    max_age: int = 30  # health-check --max-age

    def check(self) -> None:
        for name, path in (("executable", self.executable), ("config", self.config)):
            if not path.is_absolute() or not SAFE_PATH.match(str(path)):
                raise UnitError(
                    f"{name}: {str(path)!r} must be an absolute path of letters, "
                    f"digits and ._+,:=@/- only"
                )
        if not USER_NAME.match(self.user) or self.user == "root":
            raise UnitError(
                f"user: {self.user!r} is not a valid name for a dedicated user "
                f"(lowercase letters, digits, _ and -; not root)"
            )
        if not 5 <= self.watchdog_sec <= 3600:
            raise UnitError("watchdog_sec: must be between 5 and 3600")
        if not 1 <= self.restart_sec <= 3600:
            raise UnitError("restart_sec: must be between 1 and 3600")
        if not re.fullmatch(r"[1-9][0-9]{0,4}(s|min|h)", self.check_every):
            raise UnitError(f"check_every: {self.check_every!r} is not like 30s, 1min or 1h")
        if not 1 <= self.max_age <= 86400:
            raise UnitError("max_age: must be between 1 and 86400")


# The sandboxing both services share (systemd.exec(5)): no privilege gain, the kernel's
# tunables, modules, logs, cgroups, clock and hostname read-only, no new namespaces, no
# realtime scheduling, no set-uid/set-gid files, no change of execution domain.
_LOCKDOWN = """NoNewPrivileges=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
"""


def _header(what: str) -> str:
    return (
        f"# {what}\n"
        f"# Written by `printerhq install-service`; running it again overwrites this file.\n"
        f"# Local changes belong in a drop-in: systemctl edit <this unit>.\n"
    )


def agent_unit(options: UnitOptions) -> str:
    options.check()
    user = options.user
    return (
        _header("The printerhq data collector agent.")
        + f"""
[Unit]
Description=printerhq data collector agent
Wants=network-online.target
After=network-online.target

[Service]
Type=notify
# Only the agent's own process may send READY=1 / WATCHDOG=1 / STOPPING=1.
NotifyAccess=main
ExecStart={options.executable} agent --config {options.config} --pidfile {STATE_DIR}/agent.pid
WorkingDirectory={STATE_DIR}
# No WATCHDOG=1 for this long (the agent sends one with each heartbeat, at least every 5 s):
# systemd kills it with SIGABRT and Restart= starts it again.
WatchdogSec={options.watchdog_sec}s
Restart=on-failure
RestartSec={options.restart_sec}s
# SIGTERM lets the agent finish the writes in flight and close its stream.
TimeoutStopSec=30s

User={user}
Group={user}
DynamicUser=no
# /var/lib/printerhq, owned by the user: the agent's [agent] state_dir (spool, caches,
# heartbeat.json, agent.pid). The only place it may write.
StateDirectory=printerhq
StateDirectoryMode=0750
UMask=0027

# Hardening (systemd.exec(5)); `systemd-analyze security {AGENT_UNIT}` scores it.
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
{_LOCKDOWN}RemoveIPC=yes
PrivateMounts=yes
ProtectProc=invisible
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM
# IP for SNMP, HTTP and the uplink; UNIX for sd_notify; NETLINK to list interfaces;
# PACKET for the ARP-first sweep of a local segment.
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK AF_PACKET
# CAP_NET_RAW and nothing else. ICMP echo needs a raw socket unless the kernel's
# net.ipv4.ping_group_range admits this user's group to unprivileged ICMP datagram sockets
# (on most distributions it admits no one), and the ARP sweep's AF_PACKET socket always needs
# it. Ambient: a non-root user keeps the capability across exec; the bounding set drops all
# others, and NoNewPrivileges stops any way to gain more.
CapabilityBoundingSet=CAP_NET_RAW
AmbientCapabilities=CAP_NET_RAW

[Install]
WantedBy=multi-user.target
"""
    )


def check_service(options: UnitOptions) -> str:
    options.check()
    return (
        _header("One run of the printerhq agent health check (see the .timer).")
        + f"""
[Unit]
Description=printerhq agent health check
After={AGENT_UNIT}

[Service]
Type=oneshot
# Acts only if the configuration says [site] health_check = true; otherwise it only reports.
ExecStart={options.executable} health-check --config {options.config} --unit {AGENT_UNIT} \
--pidfile {STATE_DIR}/agent.pid --max-age {options.max_age}
# 1 means "the agent was restarted": the check did its job, it did not fail.
SuccessExitStatus=1

# Root, to run `systemctl restart`; it only reads the agent's files.
# CAP_DAC_READ_SEARCH: read them in the agent's 0750 state directory.
CapabilityBoundingSet=CAP_DAC_READ_SEARCH
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
PrivateNetwork=yes
{_LOCKDOWN}PrivateMounts=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM
# systemctl talks to the service manager over a UNIX socket; nothing else is needed.
RestrictAddressFamilies=AF_UNIX
"""
    )


def check_timer(options: UnitOptions) -> str:
    options.check()
    return (
        _header("Runs the printerhq agent health check periodically.")
        + f"""
[Unit]
Description=Run the printerhq agent health check every {options.check_every}

[Timer]
OnBootSec=2min
OnUnitActiveSec={options.check_every}
AccuracySec=10s
Unit={CHECK_UNIT}

[Install]
WantedBy=timers.target
"""
    )


def render_units(options: UnitOptions) -> dict[str, str]:
    """File name -> content of the three units."""
    return {
        AGENT_UNIT: agent_unit(options),
        CHECK_UNIT: check_service(options),
        CHECK_TIMER: check_timer(options),
    }


def useradd_command(user: str) -> list[str]:
    """A system user and group of the same name, no login, home the state directory."""
    if not USER_NAME.match(user) or user == "root":
        raise UnitError(f"user: {user!r} is not a valid name for a dedicated user")
    return [
        "useradd",
        "--system",
        "--user-group",
        "--home-dir",
        str(STATE_DIR),
        "--no-create-home",
        "--shell",
        "/usr/sbin/nologin",
        "--comment",
        "printerhq agent",
        user,
    ]
