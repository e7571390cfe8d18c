"""sd_notify(3) without libsystemd: one datagram to ``$NOTIFY_SOCKET``.

systemd's service manager reads ``READY=1`` (Type=notify: the unit is started), ``WATCHDOG=1``
(WatchdogSec=: still alive), ``STOPPING=1`` and ``STATUS=...``. The socket is an AF_UNIX
datagram socket; a name starting with ``@`` is in the abstract namespace (a leading NUL byte).
Without ``NOTIFY_SOCKET`` (no systemd, containers, tests) every call does nothing.
"""

from __future__ import annotations

import os
import socket


def sd_notify(*fields: str, environ: dict[str, str] | None = None) -> bool:
    """Send ``fields`` (e.g. ``"READY=1"``); True when a datagram left, False otherwise."""
    address = (environ if environ is not None else os.environ).get("NOTIFY_SOCKET", "")
    if not address or address[0] not in "/@":
        return False  # unset, or a vsock address we do not speak
    target = "\0" + address[1:] if address[0] == "@" else address
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto("\n".join(fields).encode(), target)
        return True
    except OSError:
        return False  # systemd gone or restarting: the watchdog will say what it thinks
