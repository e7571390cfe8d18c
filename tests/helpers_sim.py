"""Helpers for tests that need simulated printers: run a fleet in-process, talk SNMP to it.

Usage from any test module::

    from .helpers_sim import running_fleet, snmp_request, fixture_paths

    async def test_something():
        async with running_fleet(fixture_paths(), count=9) as fleet:
            address = fleet.address_of("hp_laserjet-pro-m404dn")
            reply = await snmp_request(address, fleet.port, PduType.GET, [SYS_DESCR])

Everything binds loopback addresses on an ephemeral port (port 0), so parallel test runs do not
collide. Real LibreNMS recordings live outside the repo (GPL data); use :func:`real_recordings`,
which returns an empty list when ``../shared/realdata`` is absent (callers skip).
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from printerhq.sim.recording import Recording
from printerhq.sim.server import Fleet, serve_fleet
from printerhq.snmp.message import (
    Message,
    Pdu,
    PduType,
    Varbind,
    Version,
    decode_message,
    encode_message,
)

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures"
REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"
SYS_DESCR = (1, 3, 6, 1, 2, 1, 1, 1, 0)
SYS_OBJECT_ID = (1, 3, 6, 1, 2, 1, 1, 2, 0)
# A bound on every wait in tests, so a broken server fails a test instead of hanging it.
TEST_TIMEOUT = 10.0

_request_ids = itertools.count(0x0100_0000)


def fixture_paths() -> list[Path]:
    """Our own recordings, sorted by name."""
    return sorted(FIXTURES.glob("*.snmprec"))


def real_recordings(include_detect_only: bool = True) -> list[Path]:
    """The LibreNMS recordings under ../shared/realdata (empty list when absent)."""
    base = REALDATA / "librenms"
    paths = sorted(base.glob("*.snmprec"))
    if include_detect_only:
        paths += sorted((base / "detect-only").glob("*.snmprec"))
    return paths


def loopback_range(count: int, start: str = "127.77.0.1") -> list[str]:
    first = ipaddress.IPv4Address(start)
    return [str(first + i) for i in range(count)]


@asynccontextmanager
async def running_fleet(
    recordings: Sequence[Recording | Path] | None = None,
    count: int | None = None,
    *,
    start: str = "127.77.0.1",
    **options: object,
) -> AsyncIterator[Fleet]:
    """Serve ``recordings`` (default: every fixture) on ``count`` loopback addresses (default:
    one per recording) on an ephemeral port. ``options`` go to :func:`serve_fleet`."""
    recordings = list(fixture_paths() if recordings is None else recordings)
    addresses = loopback_range(count or len(recordings), start)
    async with serve_fleet(recordings, addresses, 0, **options) as fleet:  # type: ignore[arg-type]
        yield fleet


def build_request(
    pdu_type: PduType,
    oids: Sequence[tuple[int, ...]],
    *,
    version: Version = Version.V2C,
    community: bytes = b"public",
    request_id: int | None = None,
    non_repeaters: int = 0,
    max_repetitions: int = 10,
) -> tuple[int, bytes]:
    """(request_id, encoded request)."""
    rid = next(_request_ids) if request_id is None else request_id
    status, index = (non_repeaters, max_repetitions) if pdu_type == PduType.GET_BULK else (0, 0)
    pdu = Pdu(pdu_type, rid, status, index, [Varbind(tuple(o)) for o in oids])
    return rid, encode_message(Message(version, community, pdu))


async def exchange(
    address: str, port: int, request: bytes, *, timeout: float = TEST_TIMEOUT
) -> tuple[bytes, tuple[str, int]]:
    """Send one datagram from a fresh socket; return (reply bytes, reply source)."""
    with trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM) as sock:
        await sock.bind(("127.0.0.1", 0))
        await sock.sendto(request, (address, port))
        with trio.fail_after(timeout):
            data, peer = await sock.recvfrom(70_000)
        return data, peer


async def snmp_request(
    address: str, port: int, pdu_type: PduType, oids: Sequence[tuple[int, ...]], **request: object
) -> Message:
    """One request/response exchange, decoded with our codec. Checks the request-id."""
    rid, data = build_request(pdu_type, oids, **request)  # type: ignore[arg-type]
    reply, _ = await exchange(address, port, data)
    message = decode_message(reply)
    assert message.pdu.request_id == rid, "reply to a different request"
    return message


async def bulk_walk(
    address: str,
    port: int,
    root: tuple[int, ...] = (1, 3),
    *,
    max_repetitions: int = 25,
    limit: int = 100_000,
) -> list[Varbind]:
    """Walk everything from ``root`` with GETBULK (v2c) until endOfMibView; bounded."""
    out: list[Varbind] = []
    cursor = tuple(root)
    for _ in range(limit):
        reply = await snmp_request(
            address, port, PduType.GET_BULK, [cursor], max_repetitions=max_repetitions
        )
        assert reply.pdu.error_status == 0, reply.pdu.error_name
        for varbind in reply.pdu.varbinds:
            if varbind.is_exception:
                return out
            assert varbind.oid > cursor, "walk went backwards"
            out.append(varbind)
            cursor = varbind.oid
        if not reply.pdu.varbinds:
            raise AssertionError("empty GETBULK reply")
    raise AssertionError("walk did not end")


async def wait_until(condition: Callable[[], bool], *, timeout: float = TEST_TIMEOUT) -> None:
    """Yield to other tasks until ``condition()`` holds (bounded by ``timeout``)."""
    with trio.fail_after(timeout):
        while not condition():
            await trio.sleep(0.001)
