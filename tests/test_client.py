"""The trio SNMP client against responders on real loopback sockets (our codec on the far end).

Timeouts and retries run on trio's MockClock (``autojump_clock``) where nothing should answer
in time, so they take no real time and assert exact virtual durations.
"""

from __future__ import annotations

import socket

import pytest
import trio

from printerhq.model import SnmpCost
from printerhq.snmp.ber import Tag
from printerhq.snmp.client import (
    IPV4_OVERHEAD,
    Community,
    SnmpBadReply,
    SnmpClient,
    SnmpError,
    SnmpErrorStatus,
    SnmpTimeout,
    SnmpWalkError,
    Target,
)
from printerhq.snmp.message import (
    REQUEST_ID_MAX,
    REQUEST_ID_MIN,
    Message,
    Pdu,
    PduType,
    Varbind,
    Version,
    decode_message,
    encode_message,
)
from printerhq.snmp.transport import peek_request_id

from .helpers_agents import ANY_OID, LOOPBACK, TableAgent, sample_table, udp_responder

SYS_DESCR = (1, 3, 6, 1, 2, 1, 1, 1, 0)
SYS_NAME = (1, 3, 6, 1, 2, 1, 1, 5, 0)
MISSING = (1, 3, 6, 1, 2, 1, 1, 9, 9)
SUPPLY_DESCR = (1, 3, 6, 1, 2, 1, 43, 11, 1, 1, 6)
PRT = (1, 3, 6, 1, 2, 1, 43)

V2C = Community(b"public")
V1 = Community(b"public", Version.V1)


def target_for(responder, *credentials) -> Target:
    return Target(responder.host, responder.port, credentials=list(credentials or [V2C]))


def reply_to(data: bytes, varbinds=None, *, error_status=0, error_index=0, version=None) -> bytes:
    request = decode_message(data)
    pdu = Pdu(
        PduType.RESPONSE,
        request.pdu.request_id,
        error_status,
        error_index,
        varbinds
        if varbinds is not None
        else [Varbind(vb.oid, Tag.OCTET_STRING, b"x") for vb in request.pdu.varbinds],
    )
    return encode_message(
        Message(version if version is not None else request.version, request.community, pdu)
    )


class Recorder:
    """Wraps a TableAgent, remembering each request it saw."""

    def __init__(self, agent: TableAgent) -> None:
        self.agent = agent
        self.requests: list[Message] = []

    def __call__(self, data, peer):
        self.requests.append(decode_message(data))
        reply = self.agent.respond(data)
        return [reply] if reply is not None else []


@pytest.fixture
def table():
    return sample_table()


# --------------------------------------------------------------------------------------------
# The operations against a well-behaved agent


async def test_get_returns_values_in_order(table):
    expected = {vb.oid: vb for vb in table}
    async with udp_responder(TableAgent(table)) as responder, SnmpClient(allowed=ANY_OID) as client:
        got = await client.get(target_for(responder), [SYS_NAME, SYS_DESCR])
    assert got == [expected[SYS_NAME], expected[SYS_DESCR]]


async def test_get_v2c_returns_exception_varbinds_as_they_are(table):
    async with udp_responder(TableAgent(table)) as responder, SnmpClient(allowed=ANY_OID) as client:
        got = await client.get(target_for(responder), [SYS_DESCR, MISSING])
    assert got[1] == Varbind(MISSING, Tag.NO_SUCH_OBJECT, None)
    assert got[1].is_exception and not got[0].is_exception


async def test_get_v1_missing_object_raises_no_such_name(table):
    async with udp_responder(TableAgent(table)) as responder, SnmpClient(allowed=ANY_OID) as client:
        with pytest.raises(SnmpErrorStatus) as caught:
            await client.get(target_for(responder, V1), [SYS_DESCR, MISSING])
    error = caught.value
    assert (error.error_status, error.error_name, error.error_index, error.oid) == (
        2,
        "noSuchName",
        2,
        MISSING,
    )
    assert "noSuchName" in str(error) and "1.3.6.1.2.1.1.9.9" in str(error)


async def test_get_next_and_get_bulk(table):
    oids = sorted(vb.oid for vb in table)
    by_oid = {vb.oid: vb for vb in table}
    async with udp_responder(TableAgent(table)) as responder, SnmpClient(allowed=ANY_OID) as client:
        target = target_for(responder)
        assert await client.get_next(target, [SYS_DESCR]) == [by_oid[oids[1]]]
        bulk = await client.get_bulk(
            target, [SYS_DESCR, SUPPLY_DESCR], non_repeaters=1, max_repetitions=3
        )
    column = [oid for oid in oids if oid[: len(SUPPLY_DESCR)] == SUPPLY_DESCR]
    assert bulk == [by_oid[oids[1]]] + [by_oid[oid] for oid in column[:3]]


@pytest.mark.parametrize("credential", [V2C, V1], ids=["v2c", "v1"])
async def test_walk_returns_exactly_the_subtree(table, credential):
    recorder = Recorder(TableAgent(table))
    async with udp_responder(recorder) as responder, SnmpClient(allowed=ANY_OID) as client:
        target = target_for(responder, credential)
        rows = [vb async for vb in client.walk(target, SUPPLY_DESCR, max_repetitions=7)]
    expected = sorted(vb for vb in table if vb.oid[: len(SUPPLY_DESCR)] == SUPPLY_DESCR)
    assert rows == expected
    kinds = {message.pdu.type for message in recorder.requests}
    assert kinds == ({PduType.GET_BULK} if credential is V2C else {PduType.GET_NEXT})


@pytest.mark.parametrize("credential", [V2C, V1], ids=["v2c", "v1"])
async def test_walk_to_the_end_of_the_mib(table, credential):
    """The last subtree in the agent: v2c ends on endOfMibView, v1 on noSuchName."""
    async with udp_responder(TableAgent(table)) as responder, SnmpClient(allowed=ANY_OID) as client:
        rows = [vb async for vb in client.walk(target_for(responder, credential), PRT)]
    assert rows == sorted(vb for vb in table if vb.oid[: len(PRT)] == PRT)


async def test_walk_with_unknown_mixed_credentials_settles_then_bulks(table):
    recorder = Recorder(TableAgent(table, {b"public": {Version.V2C}}))
    async with udp_responder(recorder) as responder, SnmpClient(allowed=ANY_OID) as client:
        target = target_for(responder, Community(b"public"), Community(b"public", Version.V1))
        rows = [vb async for vb in client.walk(target, SUPPLY_DESCR)]
    assert len(rows) == 50 and target.credential is target.credentials[0]
    assert [m.pdu.type for m in recorder.requests][:2] == [PduType.GET_NEXT, PduType.GET_BULK]


async def test_walk_halves_max_repetitions_on_too_big(table):
    agent = TableAgent(table)
    asked = []

    def handler(data, peer):
        request = decode_message(data)
        asked.append(request.pdu.max_repetitions)
        if request.pdu.max_repetitions > 5:
            return [reply_to(data, list(request.pdu.varbinds), error_status=1)]
        return [agent.respond(data)]

    async with udp_responder(handler) as responder, SnmpClient(allowed=ANY_OID) as client:
        rows = [
            vb async for vb in client.walk(target_for(responder), SUPPLY_DESCR, max_repetitions=20)
        ]
    assert len(rows) == 50
    assert asked[:3] == [20, 10, 5]


# --------------------------------------------------------------------------------------------
# Credentials


async def test_community_list_tried_in_order_and_winner_remembered(table, autojump_clock):
    recorder = Recorder(TableAgent(table, {b"right": {Version.V2C}}))
    async with (
        udp_responder(recorder) as responder,
        SnmpClient(allowed=ANY_OID, timeout=1, retries=1) as client,
    ):
        target = target_for(
            responder, Community(b"wrong1"), Community(b"right", Version.V1), Community(b"right")
        )
        await client.get(target, [SYS_DESCR])
        assert target.credential is target.credentials[2]
        first = len(recorder.requests)
        await client.get(target, [SYS_NAME])
    # wrong1 twice (retry), right/v1 twice, right/v2c once; then right/v2c only.
    assert first == 5
    assert [m.community for m in recorder.requests] == [b"wrong1"] * 2 + [b"right"] * 4
    assert client.stats.timeouts == 2


async def test_wrong_communities_give_a_clear_message(table, autojump_clock):
    async with udp_responder(TableAgent(table)) as responder, SnmpClient(allowed=ANY_OID) as client:
        target = target_for(responder, Community(b"secret1"), Community(b"secret2", Version.V1))
        with pytest.raises(SnmpTimeout) as caught:
            await client.get(target, [SYS_DESCR])
    message = str(caught.value)
    assert "2 credentials" in message and "wrong community or silent host" in message
    assert "secret" not in message and "secret" not in repr(target)
    assert target.credential is None


async def test_get_bulk_refuses_v1_only_target(table):
    async with udp_responder(TableAgent(table)) as responder, SnmpClient(allowed=ANY_OID) as client:
        with pytest.raises(SnmpError, match="GETBULK needs"):
            await client.get_bulk(target_for(responder, V1), [SYS_DESCR])


# --------------------------------------------------------------------------------------------
# Silence, retries, backoff


@pytest.fixture
async def silent_socket():
    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    await sock.bind((LOOPBACK, 0))
    with sock:
        yield sock


async def drain(sock) -> list[bytes]:
    datagrams = []
    while True:
        try:
            datagrams.append(sock._sock.recv(65535, socket.MSG_DONTWAIT))
        except BlockingIOError:
            return datagrams


async def test_silent_host_retries_with_backoff_and_same_request_id(silent_socket, autojump_clock):
    target = Target(LOOPBACK, silent_socket.getsockname()[1], credentials=[V2C])
    async with SnmpClient(allowed=ANY_OID, timeout=0.5, retries=3, backoff=2.0) as client:
        started = trio.current_time()
        with pytest.raises(SnmpTimeout, match=r"no reply from 127\.0\.0\.1:\d+ after 4 "):
            await client.get(target, [SYS_DESCR])
        waited = trio.current_time() - started
    assert waited == pytest.approx(0.5 + 1 + 2 + 4)
    sent = await drain(silent_socket)
    assert len(sent) == 4 and len(set(sent)) == 1  # same bytes, same request-id
    assert REQUEST_ID_MIN <= peek_request_id(sent[0]) <= REQUEST_ID_MAX
    assert (client.stats.requests, client.stats.retries, client.stats.timeouts) == (1, 3, 1)


async def test_late_reply_to_first_send_completes_the_request(autojump_clock):
    seen: list[int] = []
    async with trio.open_nursery() as nursery:
        sock = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        await sock.bind((LOOPBACK, 0))

        async def slow_agent():
            data, peer = await sock.recvfrom(65535)
            seen.append(peek_request_id(data))
            await trio.sleep(1.5)  # after the client's 1 s timeout, before its 2 s retry ends
            await sock.sendto(reply_to(data), peer)
            data, peer = await sock.recvfrom(65535)  # the retry
            seen.append(peek_request_id(data))

        nursery.start_soon(slow_agent)
        target = Target(LOOPBACK, sock.getsockname()[1], credentials=[V2C])
        async with SnmpClient(allowed=ANY_OID, timeout=1, retries=1, backoff=2) as client:
            got = await client.get(target, [SYS_DESCR])
        sock.close()
    assert got == [Varbind(SYS_DESCR, Tag.OCTET_STRING, b"x")]
    assert len(seen) == 2 and seen[0] == seen[1]
    assert client.stats.retries == 1 and client.stats.timeouts == 0


async def test_cancelling_a_request_removes_its_pending_entry(silent_socket):
    target = Target(LOOPBACK, silent_socket.getsockname()[1], credentials=[V2C])
    async with SnmpClient(allowed=ANY_OID, timeout=60) as client:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client.get, target, [SYS_DESCR])
            for _ in range(100):
                if client.in_flight:
                    break
                await trio.sleep(0.01)
            assert client.in_flight == 1
            nursery.cancel_scope.cancel()
        assert client.in_flight == 0
        assert client._limiter.borrowed_tokens == 0


async def test_max_in_flight_bounds_concurrent_requests(silent_socket, autojump_clock):
    target = Target(LOOPBACK, silent_socket.getsockname()[1], credentials=[V2C])
    peak = 0
    async with SnmpClient(allowed=ANY_OID, timeout=1, retries=0, max_in_flight=3) as client:

        async def one():
            with pytest.raises(SnmpTimeout):
                await client.get(target, [SYS_DESCR])

        async with trio.open_nursery() as nursery:
            for _ in range(10):
                nursery.start_soon(one)
            for _ in range(50):
                peak = max(peak, client.in_flight)
                await trio.sleep(0.1)
    assert peak == 3
    assert len(await drain(silent_socket)) == 10


# --------------------------------------------------------------------------------------------
# Hostile replies


async def test_reply_from_another_address_or_port_is_counted_and_dropped():
    async with trio.open_nursery() as nursery:
        agent = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        other_port = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        other_address = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        await agent.bind((LOOPBACK, 0))
        await other_port.bind((LOOPBACK, 0))
        await other_address.bind(("127.0.0.2", 0))

        async def spoofing_agent():
            data, peer = await agent.recvfrom(65535)
            wrong = reply_to(data, [Varbind(SYS_DESCR, Tag.OCTET_STRING, b"forged")])
            await other_port.sendto(wrong, peer)
            await other_address.sendto(wrong, peer)
            await trio.sleep(0.2)
            await agent.sendto(reply_to(data), peer)

        nursery.start_soon(spoofing_agent)
        async with SnmpClient(allowed=ANY_OID, timeout=5, retries=0) as client:
            target = Target(LOOPBACK, agent.getsockname()[1], credentials=[V2C])
            got = await client.get(target, [SYS_DESCR])
        for sock in (agent, other_port, other_address):
            sock.close()
    assert got[0].value == b"x"
    assert client.stats.mismatched_replies == 2


@pytest.mark.parametrize(
    "garbage, reason",
    [
        (b"\x00\x01garbage", "expected Message SEQUENCE"),
        (None, "overruns"),  # right request-id, then a truncated varbind list
        ("v1", "reply is V1, request was V2C"),
    ],
    ids=["not-ber", "truncated", "wrong-version"],
)
async def test_malformed_replies_are_dropped_then_reported(garbage, reason, autojump_clock):
    def handler(data, peer):
        if garbage is None:
            good = reply_to(data)
            return [good[:-3]]
        if garbage == "v1":
            return [reply_to(data, version=Version.V1)]
        return [garbage]

    async with (
        udp_responder(handler) as responder,
        SnmpClient(allowed=ANY_OID, retries=1) as client,
    ):
        with pytest.raises(SnmpBadReply, match=reason) as caught:
            await client.get(target_for(responder), [SYS_DESCR])
    assert f"{LOOPBACK}:{responder.port} answered" in str(caught.value)
    assert client.stats.undecodable_replies == 2


async def test_good_reply_after_garbage_is_accepted():
    def handler(data, peer):
        return [b"\x30\x03\x02\x01\x01", reply_to(data)[:-1], reply_to(data)]

    async with udp_responder(handler) as responder, SnmpClient(allowed=ANY_OID) as client:
        got = await client.get(target_for(responder), [SYS_DESCR])
    assert got[0].value == b"x"
    assert client.stats.undecodable_replies == 2


async def test_wrong_varbind_count_is_a_bad_reply():
    def handler(data, peer):
        return [reply_to(data, [])]

    async with udp_responder(handler) as responder, SnmpClient(allowed=ANY_OID) as client:
        with pytest.raises(SnmpBadReply, match="returned 0 varbinds for 1"):
            await client.get(target_for(responder), [SYS_DESCR])


def looping_handler(data, peer):
    """A broken agent whose GETNEXT/GETBULK always returns the same first row."""
    return [reply_to(data, [Varbind(SUPPLY_DESCR + (1, 1), Tag.INTEGER, 1)])]


async def test_walk_refuses_non_increasing_oids():
    async with udp_responder(looping_handler) as responder, SnmpClient(allowed=ANY_OID) as client:
        with pytest.raises(SnmpWalkError, match="OIDs must increase"):
            async for _ in client.walk(target_for(responder), SUPPLY_DESCR):
                pass


async def test_walk_length_is_bounded(table):
    async with (
        udp_responder(TableAgent(table)) as responder,
        SnmpClient(allowed=ANY_OID, max_walk_rows=30) as client,
    ):
        rows = []
        with pytest.raises(SnmpWalkError, match="passed 30 rows"):
            async for row in client.walk(target_for(responder), SUPPLY_DESCR):
                rows.append(row)
        assert len(rows) == 30
        shorter = [
            vb async for vb in client.walk(target_for(responder), (1, 3, 6, 1, 2, 1, 1), max_rows=4)
        ]
        assert len(shorter) == 4


# --------------------------------------------------------------------------------------------
# Cost accounting, IPv6, scale


async def test_cost_counts_every_datagram_including_retries(table, autojump_clock):
    agent = TableAgent(table)
    calls = 0

    def drops_first(data, peer):
        nonlocal calls
        calls += 1
        return [] if calls == 1 else [agent.respond(data)]

    async with udp_responder(drops_first) as responder, SnmpClient(allowed=ANY_OID) as client:
        cost = SnmpCost()
        await client.get(target_for(responder), [SYS_DESCR, SYS_NAME], cost=cost)
    stats = client.stats
    assert cost.requests == 2 == stats.packets_sent
    assert cost.sent_bytes == stats.bytes_sent and cost.received_bytes == stats.bytes_received
    assert cost.wire_bytes == stats.bytes_sent + stats.bytes_received + 3 * IPV4_OVERHEAD


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback (::1) on this host")
async def test_ipv6_and_ipv4_targets_share_one_client(table):
    async with (
        udp_responder(TableAgent(table), host="::1") as six,
        udp_responder(TableAgent(table)) as four,
        SnmpClient(allowed=ANY_OID) as client,
    ):
        cost = SnmpCost()
        a = await client.get(Target("::1", six.port, [V2C]), [SYS_DESCR], cost=cost)
        b = await client.get(Target(LOOPBACK, four.port, [V2C]), [SYS_DESCR])
    assert a == b
    assert cost.wire_bytes == cost.sent_bytes + cost.received_bytes + 2 * 48


async def test_ten_thousand_requests_in_flight_on_one_socket():
    """An agent that answers nothing until all 10,000 requests have arrived."""
    count = 10_000
    table = [
        Varbind((1, 3, 6, 1, 4, 1, 99999, 1, index), Tag.INTEGER, index * 7)
        for index in range(count)
    ]
    agent = TableAgent(table)
    request_ids: set[int] = set()
    held: list[tuple[bytes, tuple]] = []
    all_arrived = trio.Event()

    async def release_when_all_arrived(sock):
        nonlocal in_flight_when_all_arrived
        with trio.move_on_after(60):
            await all_arrived.wait()
        in_flight_when_all_arrived = client.in_flight
        for data, peer in held:
            await sock.sendto(agent.respond(data), peer)

    def holding(data, peer):
        request_ids.add(peek_request_id(data))
        held.append((data, peer))
        if len(held) == count:
            all_arrived.set()
        return []

    in_flight_when_all_arrived = 0
    async with (
        udp_responder(holding) as responder,
        SnmpClient(allowed=ANY_OID, timeout=90, retries=0) as client,
    ):
        target = Target(LOOPBACK, responder.port, [V2C])
        results: dict[int, list[Varbind]] = {}

        async def one(index):
            results[index] = await client.get(target, [table[index].oid])

        async with trio.open_nursery() as nursery:
            nursery.start_soon(release_when_all_arrived, responder.sock)
            for index in range(count):
                nursery.start_soon(one, index)
    assert in_flight_when_all_arrived == count
    assert len(request_ids) == count
    assert all(results[index] == [table[index]] for index in range(count))
    assert client.stats.retries == 0 and client.stats.mismatched_replies == 0


@pytest.mark.parametrize(
    "address, port, reason",
    [
        ("printer.example", 161, "'printer.example' is not a numeric IP address"),
        (LOOPBACK, 0, "port out of range"),
    ],
)
async def test_bad_target_gives_a_clear_message(address, port, reason):
    async with SnmpClient(allowed=ANY_OID) as client:
        with pytest.raises(SnmpError, match=reason):
            await client.get(Target(address, port, [V2C]), [SYS_DESCR])
    assert client.stats.packets_sent == 0


async def test_client_outside_async_with_is_refused():
    client = SnmpClient(allowed=ANY_OID)
    with pytest.raises(RuntimeError, match="async with"):
        await client.get(Target(LOOPBACK, 161, [V2C]), [SYS_DESCR])


# --------------------------------------------------------------------------------------------
# Against the printerhq simulator (printerhq/sim), when it is there: its fault modes are the
# hostile printers of DESIGN.md, served from real sockets.


def simulator_or_skip():
    try:
        from printerhq.sim.recording import Recording
        from printerhq.sim.server import serve_fleet
    except ImportError as exc:  # pragma: no cover - depends on the checkout
        pytest.skip(f"printerhq.sim is not available: {exc}")
    from .helpers_agents import fixture_recordings

    recordings = fixture_recordings()
    if not recordings:
        pytest.skip("no fixtures/*.snmprec to serve")
    return serve_fleet, Recording, recordings[0]


async def test_walk_of_simulated_printer_equals_its_recording():
    serve_fleet, Recording, path = simulator_or_skip()
    recording = Recording.load(path)
    expected = [vb for vb in recording.walk() if vb.oid[:2] == (1, 3)]
    async with (
        serve_fleet([path], [LOOPBACK], port=0) as fleet,
        SnmpClient(allowed=ANY_OID) as client,
    ):
        target = Target(LOOPBACK, fleet.port, [V2C, V1])
        rows = [vb async for vb in client.walk(target, (1, 3))]
        first = await client.get(target, [expected[0].oid])
    assert rows == expected
    assert first == expected[:1]


@pytest.mark.parametrize(
    "fault, error, counter",
    [
        ("malformed", SnmpBadReply, "undecodable_replies"),
        ("wrong-request-id", SnmpTimeout, "unmatched_replies"),
        ("other-address", SnmpTimeout, "mismatched_replies"),
        ("silent", SnmpTimeout, None),
    ],
)
async def test_simulated_faults_give_clear_errors(fault, error, counter, autojump_clock):
    serve_fleet, _, path = simulator_or_skip()
    addresses = [LOOPBACK, "127.0.0.2"]
    async with (
        serve_fleet([path], addresses, port=0, faults={LOOPBACK: fault}) as fleet,
        SnmpClient(allowed=ANY_OID, timeout=1, retries=1) as client,
    ):
        with pytest.raises(error, match=rf"127\.0\.0\.1:{fleet.port}"):
            await client.get(Target(LOOPBACK, fleet.port, [V2C]), [SYS_DESCR])
        healthy = await client.get(Target("127.0.0.2", fleet.port, [V2C]), [SYS_DESCR])
    assert healthy[0].oid == SYS_DESCR
    if counter is not None:
        assert getattr(client.stats, counter) == 2  # one per attempt, each dropped


async def test_oversized_reply_arrives_whole():
    serve_fleet, _, path = simulator_or_skip()
    async with (
        serve_fleet([path], [LOOPBACK], port=0, faults={LOOPBACK: "oversized"}) as fleet,
        SnmpClient(allowed=ANY_OID) as client,
    ):
        cost = SnmpCost()
        pdu = await client.request(
            Target(LOOPBACK, fleet.port, [V2C]), PduType.GET, [SYS_DESCR], cost=cost
        )
    assert pdu.varbinds[0].oid == SYS_DESCR and len(pdu.varbinds) == 2
    assert cost.received_bytes > 65_000
