"""The trap receiver over real sockets on loopback, fed by net-snmp's snmptrap and snmpinform
(v1, v2c, v3 authPriv) and by a local flood; everything it receives is counted, nothing raises."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tracemalloc
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest
import trio

from printerhq.mib.alerts import PRINTER_V2_ALERT
from printerhq.snmp.trap_usm import NotificationReceiverUsm
from printerhq.traps import (
    TrapBindError,
    TrapEvent,
    TrapOptions,
    TrapReceiver,
    TrapV3User,
    open_trap_receiver,
)
from printerhq.traps.receiver import _bind_error, source_host

from .test_traps_core import trap

pytestmark = pytest.mark.skipif(
    shutil.which("snmptrap") is None, reason="net-snmp tools (Debian package snmp) not installed"
)

V2_ALERT = "1.3.6.1.2.1.43.18.2.0.1"  # printerV2Alert
ALERT_CODE = "1.3.6.1.2.1.43.18.1.1.7.1.7"  # prtAlertCode, hrDeviceIndex 1, prtAlertIndex 7
AUTH, PRIV = "auth-pass-phrase", "priv-pass-phrase"
SENDER_ENGINE = "0x8000000001020304"


def options(tmp_path: Path, **settings: object) -> TrapOptions:
    secrets = tmp_path / "trap-v3"
    secrets.write_text(f"auth=SHA:{AUTH}\npriv=AES:{PRIV}\n")
    secrets.chmod(0o600)
    settings.setdefault("listen", "127.0.0.1:0")
    return TrapOptions(
        enabled=True,  # type: ignore[arg-type]
        v3=[TrapV3User(user="trapuser", file=str(secrets))],
        **settings,
    )


def v3_args(auth: str = AUTH) -> list[str]:
    return ["-u", "trapuser", "-l", "authPriv", "-a", "SHA", "-A", auth, "-x", "AES", "-X", PRIV]


async def run_tool(*args: str) -> subprocess.CompletedProcess[bytes]:
    # -t/-r bound snmpinform's wait; -Ci would make snmptrap an inform, never used here.
    with trio.fail_after(20):
        return await trio.run_process(
            list(args), capture_stdout=True, capture_stderr=True, check=False
        )


async def send_alert(
    tool: str, flags: list[str], target: str, uptime: str, code: str
) -> subprocess.CompletedProcess[bytes]:
    """``snmptrap``/``snmpinform`` with ``flags`` (version, credentials, waits): a printerV2Alert
    (RFC 3805) at ``uptime`` whose prtAlertCode is ``code``."""
    return await run_tool(tool, *flags, target, uptime, V2_ALERT, ALERT_CODE, "i", code)


def open_receiver(tmp_path: Path, **settings: object) -> AbstractAsyncContextManager[TrapReceiver]:
    """The receiver on loopback with the default options, 127.0.0.1 its one known source."""
    return open_trap_receiver(options(tmp_path, **settings), is_known={"127.0.0.1"}.__contains__)


async def next_event(receiver, timeout: float = 5.0) -> TrapEvent:
    with trio.fail_after(timeout):
        return await receiver.events.receive()


async def settle(receiver, expected: int, timeout: float = 5.0) -> None:
    """Wait until ``expected`` datagrams were counted, or until the count stops moving."""
    with trio.move_on_after(timeout):
        last, still = -1, 0
        while receiver.stats.received < expected and still < 10:
            await trio.sleep(0.05)
            still = still + 1 if receiver.stats.received == last else 0
            last = receiver.stats.received


async def test_net_snmp_traps_and_informs_arrive_as_events(tmp_path: Path) -> None:
    async with open_receiver(tmp_path) as rx:
        target = f"127.0.0.1:{rx.address[1]}"

        done = await run_tool(
            "snmptrap",
            "-v",
            "1",
            "-c",
            "public",
            target,
            "1.3.6.1.2.1.43.18.2",
            "127.0.0.1",
            "6",
            "1",
            "4242",
            ALERT_CODE,
            "i",
            "8",
        )
        assert done.returncode == 0, done.stderr
        event = await next_event(rx)
        assert (event.version, event.inform, event.meaning) == ("v1", False, "jam")
        assert event.trap_oid == PRINTER_V2_ALERT  # RFC 3584 3.1 from printerV1Alert / 1
        assert event.uptime == 4242 and event.agent_addr == "127.0.0.1"
        assert event.source == "127.0.0.1" and event.alert is not None
        assert event.alert.code_name == "jam"

        done = await send_alert("snmptrap", ["-v", "2c", "-c", "public"], target, "777", "1101")
        assert done.returncode == 0, done.stderr
        event = await next_event(rx)
        assert (event.version, event.inform, event.meaning) == ("v2c", False, "toner empty")
        assert event.uptime == 777

        done = await send_alert(
            "snmpinform", ["-v", "2c", "-c", "public", "-t", "2", "-r", "1"], target, "778", "3"
        )
        assert done.returncode == 0, done.stderr  # snmpinform only succeeds if answered
        event = await next_event(rx)
        assert (event.version, event.inform, event.meaning) == ("v2c", True, "cover open")

        done = await send_alert(
            "snmptrap", ["-v", "3", "-e", SENDER_ENGINE, *v3_args()], target, "779", "808"
        )
        assert done.returncode == 0, done.stderr
        event = await next_event(rx)
        assert (event.version, event.inform, event.meaning) == ("v3", False, "paper out")
        assert event.user == "trapuser"

        done = await send_alert(
            "snmpinform", ["-v", "3", "-t", "2", "-r", "1", *v3_args()], target, "780", "1104"
        )
        assert done.returncode == 0, done.stderr
        event = await next_event(rx)
        assert (event.version, event.inform, event.meaning) == ("v3", True, "toner low")

        stats = rx.stats
        assert stats.decoded == 5 and stats.informs_answered == 2
        assert stats.discovery >= 1 and stats.malformed == stats.rejected == 0
        assert stats.received == stats.outcomes()


async def test_v3_wrong_passphrase_is_rejected_and_the_inform_unanswered(tmp_path) -> None:
    async with open_receiver(tmp_path) as rx:
        target = f"127.0.0.1:{rx.address[1]}"
        done = await send_alert(
            "snmptrap",
            ["-v", "3", "-e", SENDER_ENGINE, *v3_args("wrong-pass-phrase")],
            target,
            "1",
            "8",
        )
        assert done.returncode == 0  # a trap is fire and forget
        done = await send_alert(
            "snmpinform",
            ["-v", "3", "-t", "1", "-r", "0", *v3_args("wrong-pass-phrase")],
            target,
            "1",
            "8",
        )
        assert done.returncode != 0
        await settle(rx, 3)
        assert rx.stats.rejected == 2 and rx.stats.decoded == 0
        assert rx.stats.informs_answered == 0
        with pytest.raises(trio.WouldBlock):
            rx.events.receive_nowait()


async def send_from(source: str, port: int, datagrams: list[bytes]) -> None:
    with trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM) as sock:
        await sock.bind((source, 0))
        for data in datagrams:
            await sock.sendto(data, ("127.0.0.1", port))


async def test_unknown_sources_are_counted_and_dropped(tmp_path: Path) -> None:
    async with open_receiver(tmp_path) as rx:
        await send_from("127.0.0.3", rx.address[1], [trap(uptime=n) for n in range(20)])
        await send_from("127.0.0.1", rx.address[1], [trap(uptime=99)])
        event = await next_event(rx)
        assert event.source == "127.0.0.1" and event.uptime == 99
        await settle(rx, 21)
        assert rx.stats.unknown_source == 20 and rx.stats.decoded == 1


async def test_malformed_datagrams_are_counted_never_a_traceback(tmp_path, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="printerhq.traps")
    garbage = [
        b"",
        b"\x00",
        b"\x30\x80",
        os.urandom(200),
        trap()[:-3],
        trap() + b"\x00",
        b"\x30\x03\x02\x01\x03",
        b"\x30\x05\x02\x01\x07\x04\x00",
        b"\x30" + b"\xff" * 50,
    ]
    oversize = trap() + b"\x00" * 9000
    async with open_receiver(tmp_path, per_source_burst=100) as rx:
        await send_from("127.0.0.1", rx.address[1], [*garbage, oversize, trap(uptime=5)])
        event = await next_event(rx)  # still alive after the garbage
        assert event.uptime == 5
        await settle(rx, len(garbage) + 2)
        assert rx.stats.malformed == len(garbage)
        assert rx.stats.oversize == 1 and rx.stats.decoded == 1
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]


async def test_flood_is_shed_within_the_bounds(tmp_path: Path) -> None:
    """5,000 traps in under 2 s from eight known loopback sources: what is decoded stays within
    the buckets, the queue within its depth (newest kept), memory flat, and counts add up."""
    depth, per_rate, per_burst, g_rate, g_burst = 32, 20.0, 40, 100.0, 200
    opts = options(
        tmp_path,
        queue_depth=depth,
        per_source_rate=per_rate,
        per_source_burst=per_burst,
        global_rate=g_rate,
        global_burst=g_burst,
        collect_min_interval=60.0,
    )
    sources = [f"127.0.0.{n}" for n in range(2, 10)]
    payloads = [trap(uptime=n) for n in range(5000)]
    tracemalloc.start()
    try:
        async with open_trap_receiver(opts, is_known=set(sources).__contains__) as rx:
            port = rx.address[1]
            baseline = tracemalloc.get_traced_memory()[0]
            started = trio.current_time()
            socks = []
            for source in sources:
                sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
                await sock.bind((source, 0))
                socks.append(sock)
            sent = 0
            with trio.fail_after(10):
                for n, data in enumerate(payloads):  # bounded: 5,000 datagrams, then stop
                    await socks[n % len(socks)].sendto(data, ("127.0.0.1", port))
                    sent += 1
                    if n % 50 == 0:
                        await trio.sleep(0)  # let the receive task keep up
            send_time = trio.current_time() - started
            for sock in socks:
                sock.close()
            await settle(rx, sent)
            elapsed = trio.current_time() - started
            grown = tracemalloc.get_traced_memory()[0] - baseline
            stats = rx.stats
            assert sent == 5000 and send_time < 2.0
            assert stats.received <= sent and stats.received == stats.outcomes()
            assert stats.received > 0.9 * sent, stats  # loopback with a 1 MiB buffer
            assert stats.rate_limited > 0.8 * stats.received
            assert stats.decoded <= g_burst + g_rate * elapsed + 1
            assert stats.decoded <= len(sources) * (per_burst + per_rate * elapsed) + 1
            assert rx.events.statistics().current_buffer_used == min(depth, stats.decoded)
            assert stats.queue_dropped == max(0, stats.decoded - depth)
            kept = [rx.events.receive_nowait() for _ in range(min(depth, stats.decoded))]
            uptimes = [event.uptime or 0 for event in kept]
            assert uptimes == sorted(uptimes) and max(uptimes) > 4000  # the newest are kept
            # one collection request per printer, the rest suppressed
            assert stats.collect_requested == len(sources)
            assert stats.collect_suppressed == stats.decoded - len(sources)
            assert grown < 1_000_000, f"memory grew by {grown} bytes"
            print(
                f"flood: sent {sent} in {send_time:.2f}s, {stats.as_dict()}, memory +{grown} B",
                file=sys.stderr,
            )
    finally:
        tracemalloc.stop()


async def test_collection_requests_one_per_printer_until_taken(tmp_path: Path) -> None:
    async with open_receiver(tmp_path, collect_min_interval=0.0) as rx:
        await send_from("127.0.0.1", rx.address[1], [trap(uptime=1), trap(uptime=2)])
        for _ in range(2):
            await next_event(rx)
        with trio.fail_after(5):
            assert await rx.collect_requests.receive() == "127.0.0.1"
        with pytest.raises(trio.WouldBlock):  # the second trap found one already pending
            rx.collect_requests.receive_nowait()
        await send_from("127.0.0.1", rx.address[1], [trap(uptime=3)])
        await next_event(rx)
        with trio.fail_after(5):  # taken, so the next trap asks again
            assert await rx.collect_requests.receive() == "127.0.0.1"
        assert rx.stats.collect_requested == 2 and rx.stats.collect_suppressed == 1


async def test_collection_requests_respect_the_minimum_interval(tmp_path: Path) -> None:
    async with open_receiver(tmp_path, collect_min_interval=3600.0) as rx:
        for n in range(3):
            await send_from("127.0.0.1", rx.address[1], [trap(uptime=n)])
            await next_event(rx)
            if n == 0:
                assert rx.collect_requests.receive_nowait() == "127.0.0.1"
        assert rx.stats.collect_requested == 1 and rx.stats.collect_suppressed == 2


async def test_disabled_binds_nothing_and_ends_at_once() -> None:
    async with open_trap_receiver(TrapOptions(), is_known=lambda address: True) as rx:
        assert rx.address is None
        with trio.fail_after(1):
            assert [event async for event in rx.events] == []
            assert [address async for address in rx.collect_requests] == []


async def test_receiver_stops_cleanly_on_cancel(tmp_path: Path) -> None:
    with trio.move_on_after(0.2):
        async with open_trap_receiver(options(tmp_path), is_known=lambda a: True) as rx:
            async for _ in rx.events:
                pass
    # the socket is closed: the port can be bound again at once
    sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    with sock:
        await sock.bind(rx.address)


async def test_fixed_engine_id_is_used_for_informs(tmp_path: Path) -> None:
    opts = options(tmp_path, engine_id="80000000050102030405")
    async with open_trap_receiver(opts, is_known={"127.0.0.1"}.__contains__) as rx:
        assert rx.processor is not None
        assert rx.processor.usm.engine_id == bytes.fromhex("80000000050102030405")
        done = await send_alert(
            "snmpinform",
            ["-v", "3", "-t", "2", "-r", "1", *v3_args()],
            f"127.0.0.1:{rx.address[1]}",
            "1",
            "8",
        )
        assert done.returncode == 0, done.stderr


def test_privileged_port_error_names_the_capability() -> None:
    """Port 162 without CAP_NET_BIND_SERVICE: run a child without it (root's bounding set
    dropped with setpriv, or an ordinary user) and read its error."""
    code = (
        "import trio\n"
        "from printerhq.traps import TrapOptions, TrapBindError, open_trap_receiver\n"
        "async def main():\n"
        "    try:\n"
        "        async with open_trap_receiver(TrapOptions(enabled=True,\n"
        "                listen='127.0.0.1:162'), is_known=lambda a: True):\n"
        "            print('BOUND')\n"
        "    except TrapBindError as exc:\n"
        "        print('ERROR', exc)\n"
        "trio.run(main)\n"
    )
    command = [sys.executable, "-c", code]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("root without setpriv: cannot drop CAP_NET_BIND_SERVICE")
        command = [
            "setpriv",
            "--bounding-set=-net_bind_service",
            "--inh-caps=-net_bind_service",
            *command,
        ]
    if Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text().strip() not in (
        "1024",
        "",
    ):
        pytest.skip("unprivileged ports start below 1024 on this machine")
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert "CAP_NET_BIND_SERVICE" in done.stdout or "in use" in done.stdout, (
        done.stdout,
        done.stderr,
    )
    assert "Traceback" not in done.stderr


def test_bind_error_messages() -> None:
    import errno

    denied = _bind_error(PermissionError(errno.EACCES, "Permission denied"), "0.0.0.0", 162)
    assert isinstance(denied, TrapBindError) and "CAP_NET_BIND_SERVICE" in str(denied)
    busy = _bind_error(OSError(errno.EADDRINUSE, "in use"), "0.0.0.0", 162)
    assert "snmptrapd" in str(busy)


def test_usm_receiver_default_engine_ids_differ() -> None:
    assert NotificationReceiverUsm([]).engine_id != NotificationReceiverUsm([]).engine_id


async def test_ipv6_loopback(tmp_path: Path) -> None:
    async with open_trap_receiver(
        options(tmp_path, listen="[::1]:0"), is_known={"::1"}.__contains__
    ) as rx:
        with trio.socket.socket(trio.socket.AF_INET6, trio.socket.SOCK_DGRAM) as sock:
            await sock.sendto(trap(uptime=6), ("::1", rx.address[1]))
        event = await next_event(rx)
        assert event.source == "::1" and event.uptime == 6


def test_ipv4_mapped_sources_are_known_by_their_ipv4_form() -> None:
    assert source_host("::ffff:10.0.0.5") == "10.0.0.5"
    assert source_host("::ffff:zzz") == "::ffff:zzz"
    assert source_host("fe80::1") == "fe80::1" and source_host("10.0.0.5") == "10.0.0.5"


@pytest.mark.parametrize(
    "auth, priv", [("MD5", "DES"), ("SHA-256", "AES"), ("SHA-512", "AES-256"), ("SHA", None)]
)
async def test_net_snmp_v3_protocols(tmp_path: Path, auth: str, priv: str | None) -> None:
    secrets = tmp_path / "v3-other"
    secrets.write_text(f"auth={auth}:{AUTH}\n" + (f"priv={priv}:{PRIV}\n" if priv else ""))
    secrets.chmod(0o600)
    opts = TrapOptions(
        enabled=True, listen="127.0.0.1:0", v3=[TrapV3User(user="other", file=str(secrets))]
    )
    level = ["-l", "authPriv", "-x", priv, "-X", PRIV] if priv else ["-l", "authNoPriv"]
    args = ["-u", "other", "-a", auth, "-A", AUTH, *level]
    async with open_trap_receiver(opts, is_known={"127.0.0.1"}.__contains__) as rx:
        target = f"127.0.0.1:{rx.address[1]}"
        done = await send_alert(
            "snmptrap", ["-v", "3", "-e", SENDER_ENGINE, *args], target, "1", "8"
        )
        assert done.returncode == 0, done.stderr
        assert (await next_event(rx)).meaning == "jam"
        done = await send_alert(
            "snmpinform", ["-v", "3", "-t", "2", "-r", "1", *args], target, "2", "1101"
        )
        assert done.returncode == 0, done.stderr
        event = await next_event(rx)
        assert event.inform and event.user == "other" and event.meaning == "toner empty"
