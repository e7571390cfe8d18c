"""The simulator's agent (sans-IO) and the trio fleet server over real loopback UDP sockets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from printerhq.sim.agent import Agent, LogEntry
from printerhq.sim.faults import PADDING_OID
from printerhq.sim.recording import Recording
from printerhq.sim.server import serve_fleet
from printerhq.snmp.ber import SnmpDecodeError, Tag
from printerhq.snmp.message import (
    MAX_MESSAGE_SIZE,
    Message,
    Pdu,
    PduType,
    Varbind,
    Version,
    decode_message,
    encode_message,
)

from .helpers_sim import (
    FIXTURES,
    SYS_DESCR,
    SYS_OBJECT_ID,
    build_request,
    bulk_walk,
    exchange,
    fixture_paths,
    loopback_range,
    real_recordings,
    running_fleet,
    snmp_request,
    wait_until,
)
from .strategies_snmp import codec_settings, oids

HP = Recording.load(FIXTURES / "hp_laserjet-pro-m404dn.snmprec")
LINUX = Recording.load(FIXTURES / "linux_workstation.snmprec")
LEXMARK_V1 = Recording.load(FIXTURES / "lexmark_e260dn.snmprec")
SUPPLY_LEVEL = (1, 3, 6, 1, 2, 1, 43, 11, 1, 1, 9)
IF_NAME_2 = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1, 2)
IF_HC_IN_OCTETS_1 = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, 1)
IF_HIGH_SPEED_1 = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 15, 1)


def ask(
    agent: Agent, pdu_type: PduType, oid_list: list[tuple[int, ...]], **request: object
) -> Message:
    rid, data = build_request(pdu_type, oid_list, **request)  # type: ignore[arg-type]
    reply = agent.respond(data, "127.0.0.9")
    assert reply is not None
    message = decode_message(reply)
    assert message.pdu.type == PduType.RESPONSE and message.pdu.request_id == rid
    return message


# -- sans-IO agent ---------------------------------------------------------------------------


def test_v2c_get_puts_exceptions_in_varbinds() -> None:
    agent = Agent(HP)
    sys_descr_1 = (1, 3, 6, 1, 2, 1, 1, 1, 1)
    unknown = (1, 3, 6, 1, 4, 1, 99999, 1, 0)
    reply = ask(agent, PduType.GET, [SYS_DESCR, sys_descr_1, unknown])
    assert reply.pdu.error_status == 0 and reply.pdu.error_index == 0
    assert reply.pdu.varbinds == [
        HP.get(SYS_DESCR),
        Varbind(sys_descr_1, Tag.NO_SUCH_INSTANCE),
        Varbind(unknown, Tag.NO_SUCH_OBJECT),
    ]
    assert reply.pdu.varbinds[0].value.startswith(b"HP ETHERNET")  # type: ignore[union-attr]


def test_v2c_get_next_past_the_end_is_end_of_mib_view() -> None:
    last = HP.varbinds[-1].oid
    reply = ask(Agent(HP), PduType.GET_NEXT, [last, (1, 3)])
    assert reply.pdu.varbinds == [Varbind(last, Tag.END_OF_MIB_VIEW), HP.varbinds[0]]


def test_v1_missing_object_fails_the_whole_request() -> None:
    agent = Agent(HP)
    request = [SYS_DESCR, (1, 3, 6, 1, 2, 1, 1, 99, 0), SYS_OBJECT_ID]
    reply = ask(agent, PduType.GET, request, version=Version.V1)
    assert (reply.pdu.error_status, reply.pdu.error_index) == (2, 2)  # noSuchName, 2nd varbind
    assert [vb.oid for vb in reply.pdu.varbinds] == request
    assert all(vb.tag == Tag.NULL for vb in reply.pdu.varbinds)  # the request's own varbinds


def test_v1_get_next_past_the_end_is_no_such_name() -> None:
    last = HP.varbinds[-1].oid
    reply = ask(Agent(HP), PduType.GET_NEXT, [(1, 3), last], version=Version.V1)
    assert (reply.pdu.error_status, reply.pdu.error_index) == (2, 2)


def test_v1_never_sees_counter64() -> None:
    """RFC 3584 4.2.2.1: GET of a Counter64 is noSuchName, GETNEXT skips it."""
    agent = Agent(LINUX)
    v2 = ask(agent, PduType.GET_NEXT, [IF_NAME_2])
    assert v2.pdu.varbinds[0].oid == IF_HC_IN_OCTETS_1 and v2.pdu.varbinds[0].tag == Tag.COUNTER64
    v1 = ask(agent, PduType.GET_NEXT, [IF_NAME_2], version=Version.V1)
    assert v1.pdu.error_status == 0
    assert v1.pdu.varbinds[0].oid == IF_HIGH_SPEED_1
    v1_get = ask(agent, PduType.GET, [IF_HC_IN_OCTETS_1], version=Version.V1)
    assert (v1_get.pdu.error_status, v1_get.pdu.error_index) == (2, 1)


def test_get_bulk_answers_like_the_recording() -> None:
    agent = Agent(HP)
    reply = ask(
        agent,
        PduType.GET_BULK,
        [(1, 3, 6, 1, 2, 1, 1), SUPPLY_LEVEL],
        non_repeaters=1,
        max_repetitions=4,
    )
    assert reply.pdu.varbinds == HP.get_bulk([(1, 3, 6, 1, 2, 1, 1), SUPPLY_LEVEL], 1, 4)
    levels = [vb for vb in reply.pdu.varbinds[1:] if vb.oid[:11] == SUPPLY_LEVEL]
    assert [vb.value for vb in levels] == [8, 71]


def test_get_bulk_is_truncated_not_too_big() -> None:
    """RFC 3416 4.2.3: a GETBULK reply over the size limit loses varbinds from the end."""
    full = ask(Agent(HP), PduType.GET_BULK, [(1, 3)], max_repetitions=100)
    assert len(full.pdu.varbinds) == 100
    small = Agent(HP, max_size=700)
    rid, data = build_request(PduType.GET_BULK, [(1, 3)], max_repetitions=100)
    reply = small.respond(data)
    assert reply is not None and len(reply) <= 700
    message = decode_message(reply)
    assert message.pdu.error_status == 0
    kept = message.pdu.varbinds
    assert 0 < len(kept) < 100 and kept == full.pdu.varbinds[: len(kept)]
    # One more varbind would not have fitted.
    bigger = Message(
        Version.V2C, b"public", Pdu(PduType.RESPONSE, rid, 0, 0, full.pdu.varbinds[: len(kept) + 1])
    )
    assert len(encode_message(bigger)) > 700


@pytest.mark.parametrize("version, echoed", [(Version.V2C, False), (Version.V1, True)])
def test_get_over_the_size_limit_is_too_big(version: Version, echoed: bool) -> None:
    agent = Agent(HP, max_size=250)
    request = [vb.oid for vb in HP.varbinds[:8]]
    reply = ask(agent, PduType.GET, request, version=version)
    assert (reply.pdu.error_status, reply.pdu.error_index) == (1, 0)  # tooBig
    assert [vb.oid for vb in reply.pdu.varbinds] == (request if echoed else [])
    # When not even the tooBig reply fits, nothing is sent (RFC 3416 4.2.1); only the v1 form,
    # which echoes the request, can grow that large.
    _, huge = build_request(PduType.GET, [vb.oid for vb in HP.varbinds[:30]], version=version)
    too_big = Agent(HP, max_size=60).respond(huge)
    assert (too_big is None) == echoed


def test_set_is_refused() -> None:
    agent = Agent(HP)
    v2 = ask(agent, PduType.SET, [SYS_DESCR])
    assert (v2.pdu.error_status, v2.pdu.error_index) == (17, 1)  # notWritable
    v1 = ask(agent, PduType.SET, [SYS_DESCR], version=Version.V1)
    assert (v1.pdu.error_status, v1.pdu.error_index) == (2, 1)  # noSuchName


def test_agent_drops_what_it_must_not_answer() -> None:
    agent = Agent(HP, communities={b"secret"})
    _, wrong_community = build_request(PduType.GET, [SYS_DESCR])
    assert agent.respond(wrong_community) is None
    _, right = build_request(PduType.GET, [SYS_DESCR], community=b"secret")
    assert agent.respond(right) is not None
    assert agent.respond(b"\x30\x03\x02\x01") is None
    assert agent.respond(b"") is None
    # A Response PDU sent to an agent is not a request.
    response = Message(Version.V2C, b"secret", Pdu(PduType.RESPONSE, 5, 0, 0, []))
    assert agent.respond(encode_message(response)) is None
    # GETBULK inside an SNMPv1 message does not exist (RFC 3416 / RFC 1157).
    _, bulk = build_request(PduType.GET_BULK, [SYS_DESCR], community=b"secret")
    v1_bulk = bulk.replace(b"\x02\x01\x01", b"\x02\x01\x00", 1)
    assert agent.respond(v1_bulk) is None
    assert len(agent.request_log) == 1


def test_v1_only_recording_ignores_v2c() -> None:
    agent = Agent(LEXMARK_V1)
    assert agent.versions == {0}
    _, v2 = build_request(PduType.GET, [SYS_DESCR])
    assert agent.respond(v2) is None
    reply = ask(agent, PduType.GET, [SYS_DESCR], version=Version.V1)
    assert reply.pdu.varbinds[0].value.startswith(b"Lexmark")  # type: ignore[union-attr]


def test_request_log_records_address_type_and_oids() -> None:
    agent = Agent(HP)
    ask(agent, PduType.GET, [SYS_DESCR, SYS_OBJECT_ID])
    ask(agent, PduType.GET_BULK, [SUPPLY_LEVEL], max_repetitions=2)
    assert agent.request_log == [
        LogEntry("127.0.0.9", PduType.GET, [SYS_DESCR, SYS_OBJECT_ID]),
        LogEntry("127.0.0.9", PduType.GET_BULK, [SUPPLY_LEVEL]),
    ]


@codec_settings
@given(
    st.lists(oids(max_arcs=20), min_size=1, max_size=8),
    st.sampled_from([PduType.GET, PduType.GET_NEXT]),
)
def test_v2c_agent_matches_the_recording(
    requested: list[tuple[int, ...]], pdu_type: PduType
) -> None:
    reply = ask(Agent(HP), pdu_type, requested)
    lookup = HP.get if pdu_type == PduType.GET else HP.get_next
    assert reply.pdu.varbinds == [lookup(oid) for oid in requested]


# -- the trio fleet over real UDP sockets -----------------------------------------------------


async def test_fleet_assigns_round_robin_on_one_port() -> None:
    paths = fixture_paths()
    async with running_fleet(paths, count=len(paths) + 3) as fleet:
        names = [p.stem for p in paths]
        assert list(fleet.assignments.values()) == (names * 2)[: len(paths) + 3]
        assert fleet.port > 0
        for address, name in fleet.assignments.items():
            recording = fleet.agents[address].recording
            version = Version.V1 if recording.versions == {0} else Version.V2C
            reply = await snmp_request(
                address, fleet.port, PduType.GET, [SYS_DESCR], version=version
            )
            assert reply.pdu.varbinds == [recording.get(SYS_DESCR)], name


async def test_bulk_walk_over_udp_returns_the_whole_recording() -> None:
    async with running_fleet([FIXTURES / "xerox_versalink-c405.snmprec"]) as fleet:
        walked = await bulk_walk(fleet.addresses[0], fleet.port)
        assert walked == fleet.agents[fleet.addresses[0]].recording.varbinds


needs_real = pytest.mark.skipif(not real_recordings(), reason="../shared/realdata is absent")


@needs_real
async def test_every_real_recording_is_served_over_udp() -> None:
    paths = real_recordings()
    async with running_fleet(paths, start="127.78.0.1") as fleet:
        for address, name in fleet.assignments.items():
            recording = fleet.agents[address].recording
            walked = await bulk_walk(address, fleet.port, max_repetitions=40)
            assert walked == recording.varbinds, name
            # Every GET of a recorded OID answers exactly that varbind (v2c).
            for chunk in range(0, len(recording.varbinds), 30):
                part = recording.varbinds[chunk : chunk + 30]
                reply = await snmp_request(
                    address, fleet.port, PduType.GET, [vb.oid for vb in part]
                )
                assert reply.pdu.varbinds == part, name


async def test_non_loopback_addresses_are_refused() -> None:
    for address in ("10.0.0.1", "192.168.1.20", "8.8.8.8", "::2", "printer.example"):
        with pytest.raises(ValueError):
            async with serve_fleet([HP], [address]):
                pass  # pragma: no cover - never reached


async def test_unknown_fault_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault mode"):
        async with running_fleet([HP], faults={"*": "explode"}):
            pass  # pragma: no cover


async def test_bad_community_is_dropped_silently() -> None:
    async with running_fleet([HP], count=1, communities=[b"private"]) as fleet:
        address = fleet.addresses[0]
        with trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM) as sock:
            await sock.bind(("127.0.0.1", 0))
            _, request = build_request(PduType.GET, [SYS_DESCR])
            await sock.sendto(request, (address, fleet.port))
            await wait_until(lambda: fleet.stats["dropped"] == 1)
            # The server has finished with the request; a reply would already be queued.
            with pytest.raises(BlockingIOError):
                sock._sock.recv(2048)
        reply = await snmp_request(
            address, fleet.port, PduType.GET, [SYS_DESCR], community=b"private"
        )
        assert reply.pdu.varbinds[0].tag == Tag.OCTET_STRING
        assert [e.address for e in fleet.request_log] == [address]


async def test_v1_only_fixture_over_udp() -> None:
    async with running_fleet([LEXMARK_V1]) as fleet:
        address = fleet.addresses[0]
        v1 = await snmp_request(address, fleet.port, PduType.GET_NEXT, [(1, 3)], version=Version.V1)
        assert v1.version == Version.V1 and v1.pdu.varbinds == [LEXMARK_V1.varbinds[0]]
        with trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM) as sock:
            await sock.bind(("127.0.0.1", 0))
            _, request = build_request(PduType.GET, [SYS_DESCR])
            await sock.sendto(request, (address, fleet.port))
            await wait_until(lambda: fleet.stats["dropped"] == 1)
            with pytest.raises(BlockingIOError):
                sock._sock.recv(2048)


async def test_request_log_and_sink() -> None:
    seen: list[LogEntry] = []
    async with running_fleet([HP, LINUX], log_sink=seen.append) as fleet:
        hp, linux = fleet.addresses
        await snmp_request(hp, fleet.port, PduType.GET, [SYS_DESCR, SYS_OBJECT_ID])
        await snmp_request(
            linux, fleet.port, PduType.GET_BULK, [(1, 3, 6, 1, 2, 1, 25)], max_repetitions=3
        )
        assert (
            list(fleet.request_log)
            == seen
            == [
                LogEntry(hp, PduType.GET, [SYS_DESCR, SYS_OBJECT_ID]),
                LogEntry(linux, PduType.GET_BULK, [(1, 3, 6, 1, 2, 1, 25)]),
            ]
        )
        assert fleet.requests_to(linux) == seen[1:]
        assert fleet.stats["received"] == fleet.stats["answered"] == 2


async def test_fault_malformed() -> None:
    async with running_fleet([HP], count=3, faults={"*": "malformed"}, seed=7) as fleet:
        for address in fleet.addresses:
            for _ in range(3):
                _, request = build_request(PduType.GET, [SYS_DESCR])
                reply, _ = await exchange(address, fleet.port, request)
                with pytest.raises(SnmpDecodeError):
                    decode_message(reply)
        assert fleet.stats["faulted"] == 9


async def test_fault_wrong_request_id() -> None:
    async with running_fleet([HP], count=2, faults={"127.77.0.2": "wrong-request-id"}) as fleet:
        good, bad = fleet.addresses
        rid, request = build_request(PduType.GET, [SYS_DESCR])
        reply, _ = await exchange(bad, fleet.port, request)
        message = decode_message(reply)
        assert message.pdu.request_id != rid
        assert message.pdu.varbinds == [HP.get(SYS_DESCR)]
        ok = await snmp_request(good, fleet.port, PduType.GET, [SYS_DESCR])  # checks the id
        assert ok.pdu.varbinds == [HP.get(SYS_DESCR)]


async def test_fault_oversized() -> None:
    async with running_fleet([HP], faults={"*": "oversized"}) as fleet:
        _, request = build_request(PduType.GET, [SYS_DESCR])
        reply, _ = await exchange(fleet.addresses[0], fleet.port, request)
        assert len(reply) == MAX_MESSAGE_SIZE
        message = decode_message(reply)
        assert message.pdu.varbinds[0] == HP.get(SYS_DESCR)
        assert message.pdu.varbinds[-1].oid == PADDING_OID


async def test_fault_other_address() -> None:
    async with running_fleet([HP, LINUX], faults={"127.77.0.1": "other-address"}) as fleet:
        first, second = fleet.addresses
        _, request = build_request(PduType.GET, [SYS_DESCR])
        reply, source = await exchange(first, fleet.port, request)
        assert source == (second, fleet.port)
        assert decode_message(reply).pdu.varbinds == [HP.get(SYS_DESCR)]  # first's answer
        _, source = await exchange(second, fleet.port, request)
        assert source == (second, fleet.port)


async def test_fault_silent_logs_but_never_answers() -> None:
    async with running_fleet([HP], faults={"*": "silent"}) as fleet:
        with trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM) as sock:
            await sock.bind(("127.0.0.1", 0))
            _, request = build_request(PduType.GET, [SYS_DESCR])
            await sock.sendto(request, (fleet.addresses[0], fleet.port))
            await wait_until(lambda: fleet.stats["silent"] == 1)
            with pytest.raises(BlockingIOError):
                sock._sock.recv(2048)
        assert len(fleet.request_log) == 1


async def test_loss_drops_requests_reproducibly() -> None:
    async def lost_pattern(seed: int) -> list[bool]:
        async with running_fleet([HP], loss=0.5, seed=seed) as fleet:
            with trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM) as sock:
                await sock.bind(("127.0.0.1", 0))
                pattern = []
                for i in range(40):
                    _, request = build_request(PduType.GET, [SYS_DESCR])
                    await sock.sendto(request, (fleet.addresses[0], fleet.port))
                    await wait_until(lambda i=i: fleet.stats["received"] == i + 1)
                    lost = fleet.stats["lost"] == sum(pattern) + 1
                    pattern.append(lost)
                    if not lost:
                        await sock.recv(2048)
                return pattern

    first = await lost_pattern(3)
    assert 0 < sum(first) < 40
    assert await lost_pattern(3) == first


async def test_latency_delays_replies(autojump_clock: trio.testing.MockClock) -> None:
    async with running_fleet([HP], latency=30.0, jitter=5.0) as fleet:
        start = trio.current_time()
        rid, request = build_request(PduType.GET, [SYS_DESCR])
        reply, _ = await exchange(fleet.addresses[0], fleet.port, request, timeout=3600)
        elapsed = trio.current_time() - start
        assert decode_message(reply).pdu.request_id == rid
        assert 30.0 <= elapsed <= 35.0 + 1.0  # virtual seconds (MockClock)


async def test_port_zero_reuses_one_port_for_every_address() -> None:
    async with running_fleet([HP], count=5) as fleet:
        for address in fleet.addresses:
            _, request = build_request(PduType.GET, [SYS_DESCR])
            _, source = await exchange(address, fleet.port, request)
            assert source == (address, fleet.port)


async def test_error_in_the_block_is_not_wrapped() -> None:
    with pytest.raises(KeyError):
        async with running_fleet([HP]) as fleet:
            fleet.address_of("no-such-recording")


# -- the command ------------------------------------------------------------------------------

RUN_SIM = (
    "import argparse, sys\n"
    "from printerhq.commands import sim\n"
    "p = argparse.ArgumentParser(prog='printerhq'); sim.register(p.add_subparsers())\n"
    "a = p.parse_args(['sim', *sys.argv[1:]]); sys.exit(a.func(a))\n"
)


def test_address_parsing() -> None:
    from printerhq.commands.sim import parse_addresses, parse_faults

    assert parse_addresses("127.77.0.1-127.77.0.4") == loopback_range(4)
    assert parse_addresses("127.77.0.0/30") == [
        "127.77.0.0",
        "127.77.0.1",
        "127.77.0.2",
        "127.77.0.3",
    ]
    with pytest.raises(ValueError, match="loopback"):
        parse_addresses("127.255.255.254-128.0.0.1")
    assert parse_faults(["silent@127.77.0.3", "malformed"]) == {
        "127.77.0.3": "silent",
        "*": "malformed",
    }
    with pytest.raises(ValueError):
        parse_faults(["crash"])


async def test_sim_command_serves_until_interrupted(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    argv = [
        sys.executable,
        "-c",
        RUN_SIM,
        str(FIXTURES),
        "--addresses",
        "127.79.0.1-127.79.0.12",
        "--port",
        "0",
        "--v1-only",
        str(FIXTURES / "hp_laserjet-pro-m404dn.snmprec"),
        "--log",
        str(log),
    ]
    env = {**os.environ, "PYTHONPATH": str(FIXTURES.parent)}
    process = await trio.lowlevel.open_process(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    try:
        assert process.stdout is not None
        with trio.fail_after(30):
            line = b""
            while not line.endswith(b"\n"):
                chunk = await process.stdout.receive_some(1)
                assert chunk, "sim exited before it was ready"
                line += chunk
        text = line.decode()
        assert text.startswith("sim: serving 10 recordings on 12 addresses, udp port ")
        port = int(text.rsplit(" ", 1)[1])
        # 127.79.0.4 serves the HP fixture (fourth in name order), made v1-only on the command line.
        reply = await snmp_request("127.79.0.4", port, PduType.GET, [SYS_DESCR], version=Version.V1)
        assert reply.pdu.varbinds == [HP.get(SYS_DESCR)]
        process.send_signal(signal.SIGINT)
        with trio.fail_after(30):
            await process.wait()
        assert process.returncode == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                await stream.aclose()
    entries = [json.loads(row) for row in log.read_text().splitlines()]
    assert entries == [
        {
            "time": entries[0]["time"],
            "address": "127.79.0.4",
            "pdu": "GET",
            "oids": ["1.3.6.1.2.1.1.1.0"],
        }
    ]


def test_sim_command_refuses_a_real_network() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            RUN_SIM,
            str(FIXTURES),
            "--addresses",
            "192.168.0.1-192.168.0.3",
            "--port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(FIXTURES.parent)},
    )
    assert result.returncode == 2
    assert "loopback" in result.stderr
