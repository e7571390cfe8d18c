"""Socket helpers shared by the trio shell's probers (SNMP transport, ICMP pinger).

Low level on purpose: the pinger sizes its buffers like the SNMP transport without importing the
SNMP package.
"""

from __future__ import annotations

__all__ = ["SOCKET_BUFFER", "grow_buffers"]

import socket as stdlib_socket
import sys

# Socket buffers sized for 10,000 requests in flight: ~10,000 replies of ~100 B each, but the
# kernel charges each queued datagram ~1 KiB of overhead (skb truesize), hence megabytes.
SOCKET_BUFFER = 8 * 1024 * 1024

# Linux's SO_RCVBUFFORCE/SO_SNDBUFFORCE (asm-generic/socket.h); Python's socket module lacks them.
_LINUX = sys.platform.startswith("linux")
_SO_RCVBUFFORCE = getattr(stdlib_socket, "SO_RCVBUFFORCE", 33 if _LINUX else None)
_SO_SNDBUFFORCE = getattr(stdlib_socket, "SO_SNDBUFFORCE", 32 if _LINUX else None)


def grow_buffers(sock: stdlib_socket.socket) -> None:
    """Ask for large socket buffers; SO_*BUFFORCE passes rmem_max when we may (CAP_NET_ADMIN)."""
    for force, plain in (
        (_SO_RCVBUFFORCE, stdlib_socket.SO_RCVBUF),
        (_SO_SNDBUFFORCE, stdlib_socket.SO_SNDBUF),
    ):
        for option in (force, plain):
            if option is None:
                continue
            try:
                sock.setsockopt(stdlib_socket.SOL_SOCKET, option, SOCKET_BUFFER)
                break
            except OSError:
                continue
