"""The batched discovery sweep: the sans-IO core under adversarial replies, the trio shell over
the simulator (fault modes, the SNMPv1 fallback, the retry schedule on a MockClock), and the
Scanner using it: same findings as the per-host path, cancellation-safe."""

from __future__ import annotations

import gc
import random
import re
import socket

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from printerhq.engine import Scanner, ScanOptions
from printerhq.icmp import icmp_permitted
from printerhq.mib.identify import DISCOVERY_OIDS
from printerhq.ratelimit import TokenBucket
from printerhq.sim.server import serve_fleet
from printerhq.snmp.client import SnmpClient
from printerhq.snmp.credentials import Community
from printerhq.snmp.message import (
    Message,
    Pdu,
    PduType,
    Varbind,
    Version,
    encode_message,
    peek_version,
)
from printerhq.sweep import (
    DiscoverySweep,
    RequestIds,
    Responder,
    Silent,
    SweepRunner,
    discovery_templates,
)
from tests.helpers_engine import FIXTURES, open_fds, run_cancelled_after

CREDENTIALS = [Community(b"public"), Community(b"public", Version.V1)]
LEXMARK = next(p for p in FIXTURES if p.name.startswith("lexmark"))  # declares itself v1-only


def make_sweep(
    *,
    retries: int = 1,
    capacity: int = 8,
    timeout: float = 1.0,
    credentials=CREDENTIALS,
    seed: int = 0,
) -> DiscoverySweep:
    templates, decoders = discovery_templates(credentials, DISCOVERY_OIDS)
    rng = random.Random(seed)
    return DiscoverySweep(
        templates,
        decoders,
        timeout=timeout,
        retries=retries,
        capacity=capacity,
        ids=lambda: rng.randrange(0x0080_0000, 0x7FFF_FFFF),
    )


def reply(credential: Community, request_id: int) -> bytes:
    pdu = Pdu(
        PduType.RESPONSE, request_id, 0, 0, [Varbind(oid, 0x04, b"x") for oid in DISCOVERY_OIDS]
    )
    return encode_message(Message(credential.version, credential.community, pdu))


# -- the sans-IO core ----------------------------------------------------------------------


@settings(deadline=None, max_examples=150)
@given(
    count=st.integers(1, 40),
    capacity=st.integers(1, 12),
    retries=st.integers(0, 2),
    answers=st.lists(st.sampled_from(["none", "v2c", "v1", "both"]), min_size=40, max_size=40),
    seed=st.integers(0, 2**32 - 1),
)
def test_every_address_ends_once_and_forgeries_never_count(count, capacity, retries, answers, seed):
    rng = random.Random(seed)
    sweep = make_sweep(retries=retries, capacity=capacity, seed=seed)
    addresses = [("10.0.0", i) for i in range(count)]
    answers_on = {
        a: {"none": set(), "v2c": {0}, "v1": {1}, "both": {0, 1}}[answers[i]]
        for i, a in enumerate(addresses)
    }
    waits = [1.0 * 2.0**n for n in range(retries + 1)]
    genuine: dict = {}  # address -> credentials it got a genuine reply delivered for
    ended: dict = {}
    sent_at: dict = {}  # request-id -> (address, credential, [send times])
    sent_bytes: dict = {}  # address -> bytes of every datagram sent to it
    later: list = []  # replies delivered one step late
    queue = list(addresses)
    now = 0.0
    for _ in range(10_000):
        if not queue and sweep.size == 0:
            break
        while queue and sweep.room > 0:
            sweep.add(queue.pop(0))
        assert sweep.size <= capacity and sweep.pending <= capacity
        sweep.expire(now)
        arriving, later = later, []
        for request_id, address, data in sweep.datagrams(now, rng.randrange(1, 6)):
            assert address not in ended, "a datagram to an address that already ended"
            credential = 0 if peek_version(data) == Version.V2C else 1
            entry = sent_at.setdefault(request_id, (address, credential, []))
            assert entry[:2] == (address, credential), "an id reused for another probe"
            if entry[2]:  # a re-send: only once the previous attempt timed out
                assert now >= entry[2][-1] + waits[len(entry[2]) - 1] - 1e-9
            entry[2].append(now)
            sent_bytes[address] = sent_bytes.get(address, 0) + len(data)
            assert len(entry[2]) <= retries + 1
            fate = rng.randrange(6)
            if fate == 0 and credential in answers_on[address]:
                arriving.append(
                    (request_id, reply(CREDENTIALS[credential], request_id), address, True)
                )
            elif fate == 1 and credential in answers_on[address]:
                later.append(
                    (request_id, reply(CREDENTIALS[credential], request_id), address, True)
                )
            elif fate == 2:  # the right id from another address
                arriving.append(
                    (request_id, reply(CREDENTIALS[credential], request_id), ("10.9.9", 9), False)
                )
            elif fate == 3:  # the right source, a wrong id
                wrong = request_id + 1
                arriving.append((wrong, reply(CREDENTIALS[credential], wrong), address, False))
            elif fate == 4:  # the right id and source, garbage
                arriving.append((request_id, b"\x30\x03\x02\x01", address, False))
        for request_id, data, source, is_genuine in arriving:
            probe_known = sweep.owns(request_id)
            sweep.receive(request_id, data, source)
            if is_genuine and probe_known:
                genuine.setdefault(source, set()).add(sent_at[request_id][1])
        for event in sweep.events():
            assert event.address not in ended, "two events for one address"
            ended[event.address] = event
            if isinstance(event, Responder):
                assert event.credential in genuine.get(event.address, set())
                assert event.requests == sum(
                    len(times) for _, (a, _c, times) in sent_at.items() if a == event.address
                )
                # Computed from the schedule, not counted: it must equal what was sent.
                assert event.sent_bytes == sent_bytes[event.address]
        now += rng.choice([0.0, 0.25, 0.5, 1.0, 2.5])
    assert set(ended) == set(addresses)
    for address, event in ended.items():
        if isinstance(event, Silent):
            assert address not in genuine
            sends = sum(len(t) for a, _c, t in sent_at.values() if a == address)
            assert sends == len(CREDENTIALS) * (retries + 1) or event.problem is not None
        else:
            assert answers_on[address]


def test_fallback_credential_only_for_silent_addresses():
    sweep = make_sweep(retries=1)
    sweep.add("v2c-agent")
    sweep.add("v1-agent")
    now = 0.0
    sends: list[tuple[str, int]] = []
    for _ in range(20):
        sweep.expire(now)
        for request_id, address, data in sweep.datagrams(now, 10):
            version = 0 if peek_version(data) == Version.V2C else 1
            sends.append((address, version))
            if (address, version) in (("v2c-agent", 0), ("v1-agent", 1)):
                sweep.receive(request_id, reply(CREDENTIALS[version], request_id), address)
        now += 0.5
        if sweep.size == 0:
            break
    events = {e.address: e for e in sweep.events()}
    assert events["v2c-agent"].credential == 0 and events["v1-agent"].credential == 1
    assert sends.count(("v2c-agent", 0)) == 1 and ("v2c-agent", 1) not in sends
    assert sends.count(("v1-agent", 0)) == 2 and sends.count(("v1-agent", 1)) == 1


def test_a_batch_is_added_in_order_and_resends_go_before_new_addresses():
    sweep = make_sweep(retries=1, capacity=4)
    sweep.add_many(["a", "b"])
    with pytest.raises(RuntimeError):
        sweep.add_many(["c", "d", "e"])  # more than the room: nothing taken
    assert sweep.size == 2
    assert [address for _, address, _ in sweep.datagrams(0.0, 10)] == ["a", "b"]
    sweep.add_many(["c", "d"])
    sweep.expire(1.0)  # a and b time out: their re-sends are due
    assert [address for _, address, _ in sweep.datagrams(1.0, 3)] == ["a", "b", "c"]
    assert [address for _, address, _ in sweep.datagrams(1.0, 3)] == ["d"]


def test_a_sweep_asks_the_transport_only_about_the_others_ids():
    from printerhq.snmp.transport import Pending, UdpTransport
    from printerhq.traffic import Traffic

    class Sink:
        def __init__(self, ids: set[int]) -> None:
            self.ids = ids

        def owns(self, request_id: int) -> bool:
            return request_id in self.ids

        def deliver(self, data: bytes, request_id: int, source: tuple[bytes, int]) -> None:
            pass

    transport = UdpTransport(Traffic())
    me, other = Sink({1, 2}), Sink({3})
    transport.add_sink(me)
    transport.add_sink(other)
    transport.pending[4] = Pending((b"\x7f\x00\x00\x01", 161))
    assert [transport.id_in_use_besides(i, me) for i in (1, 2, 3, 4, 5)] == [
        False,
        False,
        True,  # another sink's
        True,  # the client's
        False,
    ]
    assert transport.id_in_use(1) and transport.id_in_use(3)


def test_request_ids_are_patchable_and_spread():
    ids = RequestIds()
    drawn = [ids() for _ in range(5000)]
    assert all(0x0080_0000 <= i <= 0x7FFF_FFFF for i in drawn)
    assert len(set(drawn)) > 4990


# -- the trio shell over the simulator ----------------------------------------------------


async def run_sweep(
    client: SnmpClient,
    addresses: list[str],
    port: int,
    *,
    credentials=CREDENTIALS,
    capacity: int = 64,
) -> dict[str, object]:
    templates, decoders = discovery_templates(credentials, DISCOVERY_OIDS)
    sweep = DiscoverySweep(
        templates,
        decoders,
        timeout=client.timeout,
        retries=client.retries,
        capacity=capacity,
        in_use=client.transport.id_in_use,
    )
    events: dict[str, object] = {}

    def dispatch(event) -> bool:
        address = socket.inet_ntoa(event.address[0])
        assert address not in events
        events[address] = event
        return False

    runner = SweepRunner(sweep, client.transport, TokenBucket(50_000, 64), client.stats, dispatch)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(runner.run)
        for address in addresses:
            await runner.add((socket.inet_aton(address), port))
        runner.close()
    assert client.transport.sinks == []
    return events


async def test_runner_finds_the_fleet_and_nothing_else():
    hosts = [f"127.96.0.{i + 1}" for i in range(len(FIXTURES))]
    blanks = [f"127.96.1.{i}" for i in range(1, 101)]
    async with serve_fleet(FIXTURES, hosts) as fleet:
        async with SnmpClient(timeout=0.2, retries=1) as client:
            events = await run_sweep(client, hosts + blanks, fleet.port, capacity=48)
    assert set(events) == set(hosts + blanks)
    found = {a for a, e in events.items() if isinstance(e, Responder)}
    assert found == set(hosts)
    lexmark = hosts[FIXTURES.index(LEXMARK)]
    assert events[lexmark].credential == 1  # v1-only: found through the fallback
    assert all(events[h].credential == 0 for h in hosts if h != lexmark)
    assert all(events[b].requests == 4 and events[b].answered_from is None for b in blanks)


@pytest.mark.parametrize("mode", ["malformed", "wrong-request-id", "other-address", "silent"])
async def test_fault_modes_never_count_as_answers(mode):
    hosts = ["127.96.2.1", "127.96.2.2"]
    async with serve_fleet(FIXTURES[:2], hosts, faults={hosts[0]: mode}) as fleet:
        async with SnmpClient(timeout=0.2, retries=1) as client:
            events = await run_sweep(client, hosts, fleet.port)
            stats = client.stats
    faulty, healthy = events[hosts[0]], events[hosts[1]]
    assert isinstance(healthy, Responder)
    assert isinstance(faulty, Silent)
    if mode == "malformed":
        assert faulty.problem is not None and stats.undecodable_replies >= 1
    if mode == "other-address":
        assert faulty.answered_from == (socket.inet_aton(hosts[1]), fleet.port)
        assert stats.mismatched_replies >= 1
    if mode == "wrong-request-id":
        assert stats.unmatched_replies >= 1 and faulty.problem is None
    if mode == "silent":
        assert faulty.problem is None and faulty.answered_from is None


def test_retry_schedule_on_a_mock_clock():
    clock = trio.testing.MockClock(autojump_threshold=0)

    async def main():
        host = "127.96.3.1"
        sends: list[tuple[int, float]] = []
        started = trio.current_time()

        def log(entry):
            sends.append((entry.pdu_type, trio.current_time() - started))

        async with serve_fleet(
            FIXTURES[:1], [host], faults={host: "silent"}, log_sink=log
        ) as fleet:
            async with SnmpClient(timeout=1.0, retries=2, backoff=2.0) as client:
                events = await run_sweep(client, [host], fleet.port)
                ended = trio.current_time() - started
        return sends, events[host], ended

    sends, event, ended = trio.run(main, clock=clock)
    times = [round(t, 3) for _, t in sends]
    # v2c at 0, 1, 3 (waits 1, 2, 4), then v1 at 7, 8, 10; silent after the last 4 s.
    assert times == [0.0, 1.0, 3.0, 7.0, 8.0, 10.0]
    assert isinstance(event, Silent) and event.requests == 6
    assert round(ended, 3) == 14.0


# -- the Scanner on the sweep -------------------------------------------------------------


def scan_options(port: int, **extra) -> ScanOptions:
    values = dict(
        port=port, timeout=0.2, retries=1, rate=20_000, collect=True, arp=False, icmp=False
    )
    values.update(extra)
    return ScanOptions(**values)


async def scan(options: ScanOptions, addresses, **kwargs) -> tuple[list, Scanner]:
    async with Scanner(options, **kwargs) as scanner:
        async with scanner.scan(addresses) as reports:
            found = [r async for r in reports]
    return found, scanner


def comparable(report) -> tuple:
    return (
        report.identity.address,
        report.identity.is_printer,
        report.identity.model,
        report.identity.serial,
        report.protocol,
        tuple(re.sub(r"request \d+", "request N", e) for e in report.errors),
        len(report.supplies),
        len(report.counters),
    )


async def test_scanner_sweep_finds_what_the_per_host_path_finds():
    hosts = [f"127.96.4.{i + 1}" for i in range(len(FIXTURES))]
    addresses = [f"127.96.4.{i}" for i in range(1, 60)]
    faults = {hosts[0]: "other-address", hosts[1]: "malformed"}
    async with serve_fleet(FIXTURES, hosts, faults=faults) as fleet:
        swept, fast = await scan(scan_options(fleet.port), addresses)
        per_host, slow = await scan(scan_options(fleet.port, batched_discovery=False), addresses)
    assert sorted(map(comparable, swept)) == sorted(map(comparable, per_host))
    lexmark = hosts[FIXTURES.index(LEXMARK)]
    assert next(r for r in swept if r.identity.address == lexmark).protocol == "snmpv1"
    assert any("instead and was dropped" in e for r in swept for e in r.errors)
    for field in ("addresses", "completed", "responders", "printers", "errors"):
        assert getattr(fast.stats, field) == getattr(slow.stats, field), field
    assert fast.stats.completed == len(addresses)
    # The winner is remembered for the known-printer shortcut of the next scan.
    state = fast.cache.devices.get(lexmark)
    assert state is not None and state.credential == 1


async def test_scanner_repeat_scan_uses_the_shortcut_and_memory(tmp_path):
    hosts = [f"127.96.5.{i + 1}" for i in range(3)]
    addresses = [f"127.96.5.{i}" for i in range(1, 40)]
    async with serve_fleet(FIXTURES[:3], hosts) as fleet:
        first, one = await scan(scan_options(fleet.port, state_dir=tmp_path), addresses)
        second, two = await scan(scan_options(fleet.port, state_dir=tmp_path), addresses)
    assert {r.identity.address for r in first} == {r.identity.address for r in second}
    assert two.stats.skipped > 0
    assert two.stats.packets_sent < one.stats.packets_sent


async def test_cancelling_a_swept_scan_at_many_points(tmp_path):
    hosts = [f"127.96.6.{i}" for i in range(1, 6)]
    addresses = [f"127.96.{b}.{i}" for b in (6, 7) for i in range(1, 41)]
    async with serve_fleet(FIXTURES[:5], hosts) as fleet:
        await trio.testing.wait_all_tasks_blocked()
        baseline_tasks = trio.lowlevel.current_statistics().tasks_living
        gc.collect()  # files an earlier test left to the collector close now, not mid-test
        baseline_fds = open_fds()
        finished = 0
        # A whole scan is only a few hundred task steps (no task per silent address).
        for steps in [1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 110, 130, 145, 160, 175, 50_000]:
            # concurrency < addresses: the producer waits for room too
            finished += await run_cancelled_after(
                steps,
                lambda steps=steps: scan(
                    scan_options(
                        fleet.port, state_dir=tmp_path / str(steps), timeout=0.1, concurrency=32
                    ),
                    addresses,
                ),
            )
            await trio.testing.wait_all_tasks_blocked()
            assert trio.lowlevel.current_statistics().tasks_living == baseline_tasks, steps
            assert open_fds() == baseline_fds, steps
        assert 1 <= finished < 16


async def test_snmpv3_after_the_communities_goes_per_host_to_silent_addresses_only():
    """[v2c, v1, v3]: the sweep asks v2c then v1; only an address silent on both gets the v3
    engine-id discovery, from the per-host path (a real socket records what arrives)."""
    from printerhq.snmp.usm import UsmUser
    from printerhq.snmp.v3credential import UsmCredential

    credentials = [*CREDENTIALS, UsmCredential(UsmUser(b"nobody"))]
    with trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM) as agent:
        await agent.bind(("127.96.8.1", 0))
        port = agent.getsockname()[1]
        versions: list[int] = []

        async def record() -> None:
            while True:
                data, _ = await agent.recvfrom(65535)
                versions.append(peek_version(data))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(record)
            found, scanner = await scan(
                scan_options(port, credentials=credentials, retries=0, timeout=0.1), ["127.96.8.1"]
            )
            await trio.sleep(0.05)
            nursery.cancel_scope.cancel()
    assert found == []
    assert versions[:2] == [Version.V2C, Version.V1]
    assert versions[2:] and set(versions[2:]) == {3}  # v3 only after both communities
    assert scanner.stats.completed == 1


async def test_client_requests_and_a_sweep_share_the_socket():
    """The client's own requests keep working (and keep their matching) while a sweep runs
    over the same transport."""
    hosts = [f"127.96.9.{i + 1}" for i in range(3)]
    async with serve_fleet(FIXTURES[:3], hosts) as fleet:
        async with SnmpClient(timeout=0.3, retries=1) as client:
            from printerhq.snmp.client import Target

            results: list = []

            async def direct() -> None:
                for host in hosts:
                    target = Target(host, fleet.port, credentials=[Community(b"public")])
                    results.append(await client.get(target, [DISCOVERY_OIDS[0]]))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(direct)
                events = await run_sweep(client, hosts + ["127.96.9.200"], fleet.port)
    assert len(results) == 3 and all(len(r) == 1 for r in results)
    assert {a for a, e in events.items() if isinstance(e, Responder)} == set(hosts)


# -- ICMP on: the echo rides along with the first GET ---------------------------------------


needs_icmp = pytest.mark.skipif(not icmp_permitted(), reason="no ICMP socket here")


@needs_icmp
async def test_runner_with_a_pinger_reports_each_address_ping_once():
    """Every address gets at most (retries + 1) echoes, charged to the bucket, and one event
    with the echo's outcome: loopback answers every ping, so all are "reply"; 0.0.0.0 is no
    unicast target and ends at once, as Pinger.probe refuses it."""
    from printerhq.icmp import Pinger

    hosts = [f"127.96.8.{i + 1}" for i in range(3)]
    blanks = [f"127.96.9.{i}" for i in range(1, 41)]
    async with serve_fleet(FIXTURES[:3], hosts) as fleet:
        async with SnmpClient(timeout=0.2, retries=1) as client, Pinger() as pinger:
            if pinger.mode == "off":
                pytest.skip("ICMP off")
            templates, decoders = discovery_templates(CREDENTIALS, DISCOVERY_OIDS)
            sweep = DiscoverySweep(
                templates,
                decoders,
                timeout=0.2,
                retries=1,
                capacity=16,
                in_use=client.transport.id_in_use,
            )
            events: dict[str, tuple] = {}

            def dispatch(event, ping) -> bool:
                address = socket.inet_ntoa(event.address[0])
                assert address not in events
                events[address] = (event, ping)
                return False

            bucket = TokenBucket(50_000, 64)
            runner = SweepRunner(
                sweep, client.transport, bucket, client.stats, dispatch, pinger=pinger, echoes=2
            )
            before = pinger.counters.packets_sent
            async with trio.open_nursery() as nursery:
                nursery.start_soon(runner.run)
                for address in hosts + blanks + ["0.0.0.0"]:
                    await runner.add((socket.inet_aton(address), fleet.port))
                runner.close()
            echoes = pinger.counters.packets_sent - before
            assert pinger._sinks == [] and client.transport.sinks == []
    assert set(events) == set(hosts + blanks + ["0.0.0.0"])
    assert all(isinstance(events[h][0], Responder) for h in hosts)
    for blank in blanks:
        event, ping = events[blank]
        assert isinstance(event, Silent) and ping is not None and ping.status == "reply"
    event, ping = events["0.0.0.0"]
    assert isinstance(event, Silent) and event.requests == 1
    assert ping.status == "error" and "not a unicast" in ping.detail
    assert len(hosts + blanks) <= echoes <= 2 * len(hosts + blanks)


@needs_icmp
async def test_scanner_sweep_with_icmp_finds_what_the_per_host_path_finds():
    hosts = [f"127.96.10.{i + 1}" for i in range(len(FIXTURES))]
    addresses = [f"127.96.10.{i}" for i in range(1, 60)] + ["0.0.0.0"]
    faults = {hosts[0]: "other-address", hosts[1]: "malformed"}
    async with serve_fleet(FIXTURES, hosts, faults=faults) as fleet:
        swept, fast = await scan(scan_options(fleet.port, icmp=True), addresses)
        per_host, slow = await scan(
            scan_options(fleet.port, icmp=True, batched_discovery=False), addresses
        )
    if fast._given[1] is None and not fast.stats.by_protocol.get("icmp"):
        pytest.skip("ICMP off")
    assert sorted(map(comparable, swept)) == sorted(map(comparable, per_host))
    assert any(e.startswith("icmp error:") for r in swept for e in r.errors)  # 0.0.0.0
    for field in ("addresses", "completed", "responders", "printers", "errors", "alive"):
        assert getattr(fast.stats, field) == getattr(slow.stats, field), field
    # Loopback answers every ping: every address but the SNMP responders (the malformed one
    # included) and 0.0.0.0 is alive.
    assert fast.stats.alive == len(addresses) - fast.stats.responders - 1
    icmp = fast.stats.by_protocol["icmp"]
    assert len(addresses) - 1 <= icmp.packets_sent <= 2 * (len(addresses) - 1)


@needs_icmp
async def test_cancelling_a_swept_scan_with_icmp_and_http_at_many_points(tmp_path):
    """The sweep's echoes, its sink on the pinger and the host tasks of ping-only addresses
    (HTTP probes, refused at once on loopback) leave nothing behind at any cancellation."""
    hosts = [f"127.96.11.{i}" for i in range(1, 4)]
    addresses = [f"127.96.{b}.{i}" for b in (11, 12) for i in range(1, 31)]
    async with serve_fleet(FIXTURES[:3], hosts) as fleet:
        from printerhq.icmp import Pinger

        async with Pinger() as pinger:
            if pinger.mode == "off":
                pytest.skip("ICMP off")
            await trio.testing.wait_all_tasks_blocked()
            baseline_tasks = trio.lowlevel.current_statistics().tasks_living
            gc.collect()  # files an earlier test left to the collector close now, not mid-test
            baseline_fds = open_fds()
            finished = 0
            for steps in [1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987, 50_000]:
                finished += await run_cancelled_after(
                    steps,
                    lambda steps=steps: scan(
                        scan_options(
                            fleet.port,
                            icmp=True,
                            http=True,
                            http_timeout=0.5,
                            timeout=0.1,
                            concurrency=16,
                            state_dir=tmp_path / str(steps),
                        ),
                        addresses,
                        pinger=pinger,
                    ),
                )
                await trio.testing.wait_all_tasks_blocked()
                assert trio.lowlevel.current_statistics().tasks_living == baseline_tasks, steps
                assert open_fds() == baseline_fds, steps
                assert pinger._sinks == [], steps  # the sweep's sink is gone
            assert 1 <= finished < 16
