"""Shared pieces of the engine tests: the loopback fleet and a resolver that never leaves
the machine."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import trio

from printerhq.sim.recording import Recording

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = sorted((ROOT / "fixtures").glob("*.snmprec"))
PRINTER_MIB = (1, 3, 6, 1, 2, 1, 43)
HR_DEVICE_TYPE_1 = (1, 3, 6, 1, 2, 1, 25, 3, 2, 1, 2, 1)
HR_DEVICE_PRINTER = (1, 3, 6, 1, 2, 1, 25, 3, 1, 5)


def is_printer_recording(path: Path) -> bool:
    """Oracle independent of the identification code (as in test_cli_scan)."""
    recording = Recording.load(path)
    if recording.get(HR_DEVICE_TYPE_1).value == HR_DEVICE_PRINTER:
        return True
    after = recording.get_next(PRINTER_MIB)
    return not after.is_exception and after.oid[: len(PRINTER_MIB)] == PRINTER_MIB


class LocalResolver(trio.abc.HostnameResolver):
    """trio's resolver hook: names from a table, everything else fails, no DNS traffic."""

    def __init__(self, table: dict[str, str]) -> None:
        self.table = table

    async def getaddrinfo(self, host, port, family=0, type=0, proto=0, flags=0):
        name = host.decode() if isinstance(host, bytes) else host
        if name not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        address = self.table[name]
        fam = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
        return [(fam, socket.SOCK_DGRAM, 17, "", (address, port or 0))]

    async def getnameinfo(self, sockaddr, flags):
        raise NotImplementedError


def open_fds() -> set[int]:
    """This process's open file descriptors (sockets included)."""
    return {int(p.name) for p in Path("/proc/self/fd").iterdir()}


class CancelAfter(trio.abc.Instrument):
    """Cancels ``scope`` once ``steps`` task steps have run anywhere in the program."""

    def __init__(self, scope: trio.CancelScope, steps: int) -> None:
        self.scope, self.steps, self.seen = scope, steps, 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.seen += 1
        if self.seen == self.steps:
            self.scope.cancel()


async def run_cancelled_after(steps: int, body) -> bool:
    """Run ``await body()`` and cancel it after ``steps`` task steps; True if it finished first."""
    with trio.CancelScope() as scope:
        instrument = CancelAfter(scope, steps)
        trio.lowlevel.add_instrument(instrument)
        try:
            await body()
            return True
        finally:
            trio.lowlevel.remove_instrument(instrument)
    return False
