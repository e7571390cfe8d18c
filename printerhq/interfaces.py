"""This machine's network interfaces, read without sending anything: the JSON of iproute2's
``ip -j -d -4 addr show`` (netlink, answered by the kernel), parsed by
:func:`printerhq.autotargets.parse_ip_addr`. Used by ``targets = ["auto"]`` and
``printerhq scan auto``.

Why ``ip`` and not an ioctl loop: one call gives every address with its prefix, the interface
flags (up, loopback, point-to-point) and the link kind (veth, bridge, wireguard), in a documented
format; SIOCGIFCONF gives neither the kind nor secondary addresses.
"""

from __future__ import annotations

__all__ = ["IP_COMMAND", "auto_decisions", "read_interfaces"]

import os
import shutil
import subprocess

from .autotargets import AutoTargetsError, Decision, Interface, choose, parse_ip_addr

IP_COMMAND = ("-j", "-d", "-4", "addr", "show")
# Where iproute2 lives when PATH (a service's minimal one) does not say.
_FALLBACK_PATHS = ("/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip")
_TIMEOUT = 10.0  # seconds: the kernel answers in milliseconds; a hung tool must not hang us


def _ip_tool() -> str:
    found = shutil.which("ip")
    if found:
        return found
    for path in _FALLBACK_PATHS:
        if os.access(path, os.X_OK):
            return path
    raise AutoTargetsError("'auto' needs the ip tool (iproute2), which is not installed")


def read_interfaces() -> list[Interface]:
    """The interfaces of this machine's network namespace (raises :class:`AutoTargetsError`)."""
    try:
        done = subprocess.run(
            [_ip_tool(), *IP_COMMAND],
            capture_output=True,
            timeout=_TIMEOUT,
            check=False,
            env={"LC_ALL": "C", "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")},
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise AutoTargetsError(f"could not list the network interfaces: {exc}") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise AutoTargetsError(
            "could not list the network interfaces: "
            + (message[0][:200] if message else f"ip exited with {done.returncode}")
        )
    return parse_ip_addr(done.stdout)


def auto_decisions(*, allow_wide: bool = False) -> list[Decision]:
    """What ``auto`` chooses here and now, every interface with its reason."""
    return choose(read_interfaces(), allow_wide=allow_wide)
