"""Privacy, checked against the hand-written allow-list (printerhq/allowlist.py), never against
the catalogue it constrains:

* the catalogue stays inside it: every OID the collector can ask about, for every vendor;
* adding an operator-name OID or the ARP table to a vendor's catalogue entry fails that check;
* after full collections (cold, then warm) of every fixture and every real recording through
  the UDP simulator, every OID the agents were asked about lies inside it;
* every varbind of every reply outside it is emptied before it can reach a report (a simulator
  serving job, software and ARP data right after the allowed objects);
* the SNMP client refuses to send a request outside it: a clear error, counted, and the socket
  sees nothing.
"""

from __future__ import annotations

import ast
import dataclasses
import socket
from pathlib import Path

import pytest
import trio

from printerhq import allowlist
from printerhq.allowlist import ALLOW_LIST, ALLOWED_SUBTREES, FORBIDDEN, is_allowed
from printerhq.collect import DeviceCache, collect
from printerhq.collect.messages import Response, request_message
from printerhq.collect.planner import Collection
from printerhq.mib import DISCOVERY_OIDS, identify, oid
from printerhq.mib import standard as std
from printerhq.mib.oids import OID, dotted, is_under
from printerhq.mib.vendors import VENDORS, CounterOid, Scalar, Vendor
from printerhq.model import Identity, encode
from printerhq.sim.agent import Agent
from printerhq.sim.recording import Recording
from printerhq.snmp.ber import Tag
from printerhq.snmp.client import SnmpClient, SnmpError, SnmpRefused, Target
from printerhq.snmp.credentials import Community
from printerhq.snmp.message import PduType, Varbind, Version, decode_message, encode_message
from printerhq.sweep import discovery_templates

from .helpers_sim import fixture_paths, real_recordings, running_fleet

JOB_MONITORING = oid("1.3.6.1.2.1.97")
PRT_CHANNEL = oid("1.3.6.1.2.1.43.14")
OPERATOR = oid("1.3.6.1.2.1.43.5.1.1.4.1")  # prtGeneralCurrentOperator.1
ARP = oid("1.3.6.1.2.1.4.22")  # ipNetToMediaTable


# -- the catalogue stays inside the list ----------------------------------------------------


def catalogue_oids(vendors: tuple[Vendor, ...] = VENDORS) -> set[OID]:
    """Every object or column the collector can ask any device about (an instance's object is
    the instance without its last arc: the collector also asks each instance's predecessor)."""
    instances: set[OID] = set(DISCOVERY_OIDS)
    instances |= {
        std.SYS_LOCATION,
        std.SYS_UPTIME,
        std.IF_PHYS_ADDRESS + (1,),
        std.HR_DEVICE_DESCR + (1,),
        std.HR_DEVICE_STATUS + (1,),
        std.HR_PRINTER_STATUS + (1,),
        std.HR_PRINTER_ERROR_STATE + (1,),
        std.PRT_GENERAL_PRINTER_NAME + (1,),
        std.PRT_ALERT_ALL_EVENTS + (1,),
    }
    columns: set[OID] = {std.PRT_COLORANT_VALUE, std.PRT_CONSOLE_TEXT}
    # Table runs walk every column from their first to their last (planner TableRun).
    columns |= {std.PRT_COVER_ENTRY + (c,) for c in (2, 3)}
    columns |= {std.PRT_INPUT_ENTRY + (c,) for c in range(8, 14)}
    columns |= {std.PRT_MARKER_ENTRY + (c,) for c in range(3, 7)}
    columns |= {std.PRT_SUPPLY_ENTRY + (c,) for c in range(4, 10)}
    columns |= {std.PRT_ALERT_ENTRY + (c,) for c in range(2, 10)}
    for vendor in vendors:
        for scalar in (*vendor.model, *vendor.serial, *vendor.firmware):
            instances.add(scalar.oid)
        instances |= {counter.oid for counter in vendor.counters}
        for table in vendor.counter_tables:
            columns.add(table.value_column)
            if table.key_column:
                columns.add(table.key_column)
        for column in (vendor.supplies.fallback_level, vendor.supplies.fallback_name):
            if column:
                columns.add(column)
    return columns | {instance[:-1] for instance in instances}


def outside(oids: set[OID]) -> list[str]:
    return sorted(dotted(o) for o in oids if not is_allowed(o))


def test_the_catalogue_stays_inside_the_allow_list():
    oids = catalogue_oids()
    assert len(oids) > 80
    assert outside(oids) == []


def test_the_catalogue_check_sees_what_the_collector_asks():
    """The list of catalogue OIDs above is what the planner really asks: a cold collection
    of every fixture in-process asks nothing outside it (so the check above is not a guess)."""
    asked: set[OID] = set()
    catalogue = catalogue_oids()
    for path in v2c_fixtures():
        recording = Recording.load(path)
        agent = Agent(recording)
        identity = _discover(agent)
        for request in _drive(Collection(identity), agent):
            asked |= set(request)
    assert asked
    uncovered = sorted(
        dotted(o) for o in asked if not any(is_under(o, c) or is_under(c, o) for c in catalogue)
    )
    assert uncovered == []


@pytest.mark.parametrize(
    ("name", "extra"),
    [("operator name", OPERATOR), ("ARP table", ARP + (1, 2))],
)
def test_adding_private_data_to_a_vendor_fails_the_check(name: str, extra: OID):
    ricoh = next(v for v in VENDORS if v.key == "ricoh")
    widened = dataclasses.replace(
        ricoh,
        serial=(*ricoh.serial, Scalar(extra)),
        counters=(*ricoh.counters, CounterOid("total", extra, name)),
    )
    vendors = tuple(widened if v is ricoh else v for v in VENDORS)
    assert outside(catalogue_oids(vendors)) == [dotted(extra[:-1])], name


# -- the list itself ----------------------------------------------------------------------


def test_the_list_is_its_own_data():
    """Reviewed on its own: it imports nothing of the catalogue, every entry says what it is
    and why, and no entry overlaps another or a forbidden subtree."""
    tree = ast.parse(Path(allowlist.__file__).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)} | {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert imported == {"__future__", "collections.abc", "dataclasses"}
    assert len({e.oid for e in ALLOW_LIST}) == len(ALLOW_LIST)
    for entry in ALLOW_LIST:
        assert entry.mib and entry.name and entry.why, entry
        others = [o for o in ALLOWED_SUBTREES if o != entry.oid and is_under(entry.oid, o)]
        assert not others, f"{entry.dotted} lies inside another entry"
    for bad in FORBIDDEN:
        for entry in ALLOW_LIST:
            assert not is_under(entry.oid, bad.oid) and not is_under(bad.oid, entry.oid), (
                entry,
                bad,
            )
        assert not is_allowed(bad.oid + (1, 1))


def test_job_user_and_topology_data_are_outside():
    assert is_allowed(oid("1.3.6.1.2.1.43.11.1.1.9.1.1"))
    assert is_allowed(oid("1.3.6.1.2.1.43.11.1.1.9"))  # a GETNEXT from the column's start
    assert not is_allowed(oid("1.3.6.1.2.1.43.11.1.1"))  # ... but not from the whole entry
    for forbidden in (
        JOB_MONITORING + (1, 1),
        PRT_CHANNEL + (1, 1, 1, 1, 1),
        OPERATOR,
        ARP + (1, 2, 1, 10, 0, 0, 9),
        std.SYS_CONTACT,
        oid("1.3.6.1.2.1.25.4.2.1.2.1"),  # hrSWRunName
        oid("1.3.6.1.2.1.1"),  # the whole system group (would walk into sysContact)
        oid("1.3.6.1.4.1.11"),  # a whole vendor subtree
    ):
        assert not is_allowed(forbidden), dotted(forbidden)
    for discovery in DISCOVERY_OIDS:
        assert is_allowed(discovery)


# -- what the collector really asks, over UDP ---------------------------------------------


async def _collect_everything(fleet) -> dict[str, int]:
    reports: dict[str, int] = {}
    limiter = trio.CapacityLimiter(16)
    async with SnmpClient(timeout=2.0, retries=1) as client:

        async def one(address: str) -> None:
            async with limiter:
                target = Target(
                    address,
                    fleet.port,
                    credentials=[
                        Community(b"public", Version.V2C),
                        Community(b"public", Version.V1),
                    ],
                )
                try:
                    varbinds = await client.get(target, DISCOVERY_OIDS)
                except SnmpError:
                    return
                identity = identify(address, varbinds)
                cache = DeviceCache()
                cold = await collect(client, target, cache, identity)
                warm = await collect(client, target, cache, identity)
                reports[address] = len(cold.supplies) + len(warm.supplies)

        async with trio.open_nursery() as nursery:
            for address in fleet.addresses:
                nursery.start_soon(one, address)
        assert client.stats.refused == 0
    return reports


async def test_every_requested_oid_is_in_the_allow_list():
    recordings = fixture_paths() + real_recordings(include_detect_only=True)
    assert recordings
    async with running_fleet(recordings, log_limit=1_000_000) as fleet:
        with trio.fail_after(120):
            reports = await _collect_everything(fleet)
        log = list(fleet.request_log)
    assert len(reports) == len(recordings)
    assert sum(reports.values()) > 0, "collections read no supplies at all"
    requested = {o for entry in log for o in entry.oids}
    assert len(log) > len(recordings)  # discovery plus real collections happened
    assert outside(requested) == []
    for bad in FORBIDDEN:
        assert not any(is_under(o, bad.oid) for o in requested)


# -- every reply is screened --------------------------------------------------------------

# Job, software, user and ARP data placed right after allowed objects, where a GETBULK's
# extra repetitions (or a lying agent) hand them back.
SECRETS: list[Varbind] = [
    Varbind(oid("1.3.6.1.2.1.2.2.1.7.1"), Tag.INTEGER, 1),  # ifAdminStatus: merely unlisted
    Varbind(ARP + (1, 2, 1, 10, 0, 0, 9), Tag.OCTET_STRING, b"arp-secret-mac"),
    Varbind(oid("1.3.6.1.2.1.25.4.2.1.2.1"), Tag.OCTET_STRING, b"secret-process"),
    Varbind(oid("1.3.6.1.2.1.43.5.1.1.4.1"), Tag.OCTET_STRING, b"operator-alice"),
    Varbind(oid("1.3.6.1.2.1.43.11.1.1.10.1.1"), Tag.OCTET_STRING, b"unlisted-column-secret"),
    Varbind(oid("1.3.6.1.2.1.43.14.1.1.5.1.1"), Tag.OCTET_STRING, b"channel-secret"),
    Varbind(oid("1.3.6.1.2.1.43.16.5.1.3.1.1"), Tag.OCTET_STRING, b"console-next-secret"),
    Varbind(oid("1.3.6.1.2.1.43.18.1.1.10.1.1"), Tag.OCTET_STRING, b"alert-next-secret"),
    Varbind(oid("1.3.6.1.2.1.97.1.4.1.1.2.1"), Tag.OCTET_STRING, b"job-owner-alice"),
    Varbind(oid("1.3.6.1.2.1.97.1.4.1.1.3.1"), Tag.OCTET_STRING, b"secret-report.pdf"),
]
SECRET_WORDS = (b"secret", b"alice")


def v2c_fixtures() -> list[Path]:
    """The fixtures that answer SNMPv2c (the in-process drives below speak v2c)."""
    return [p for p in fixture_paths() if 1 in Recording.load(p).versions]


def _leaky(path) -> Recording:
    """A fixture holding only allowed objects, then the secrets: every walk that runs past an
    allowed column meets one."""
    recording = Recording.load(path)
    kept = [vb for vb in recording.varbinds if is_allowed(vb.oid)]
    return Recording(f"leaky-{recording.name}", kept + SECRETS, recording.versions)


def _discover(agent: Agent) -> Identity:
    reply = _exchange(agent, PduType.GET, list(DISCOVERY_OIDS))
    return identify("192.0.2.1", reply.varbinds)


def _exchange(agent: Agent, kind: PduType, oids: list[OID], nonrep: int = 0, reps: int = 0):
    from printerhq.collect.messages import Request

    request = Request(
        "get" if kind == PduType.GET else "next" if kind == PduType.GET_NEXT else "bulk",
        oids,
        nonrep,
        reps,
    )
    data = encode_message(request_message(request, 0x0100_0000, b"public", Version.V2C))
    reply = agent.respond(data)
    assert reply is not None
    return decode_message(reply).pdu


def _drive(collection: Collection, agent: Agent, seen: list[Varbind] | None = None):
    """Drive a collection in-process; yields each request's OIDs; ``seen`` gets every reply
    varbind as the agent sent it."""
    request_id = 0x0100_0000
    while (request := collection.next_request()) is not None:
        request_id += 1
        yield request.oids
        data = encode_message(request_message(request, request_id, b"public", Version.V2C))
        reply = agent.respond(data)
        assert reply is not None
        pdu = decode_message(reply).pdu
        if seen is not None:
            seen.extend(pdu.varbinds)
        collection.feed(Response(list(pdu.varbinds), pdu.error_status, pdu.error_index))


@pytest.mark.parametrize("path", v2c_fixtures(), ids=lambda p: p.stem)
def test_reply_varbinds_outside_the_list_never_reach_a_report(path):
    agent = Agent(_leaky(path))
    identity = _discover(agent)
    cache = DeviceCache()
    for _ in ("cold", "warm"):
        collection = Collection(identity, cache)
        seen: list[Varbind] = []
        for _request in _drive(collection, agent, seen):
            pass
        leaked = [vb for vb in seen if not is_allowed(vb.oid)]
        # Every one the agent sent was emptied, and none is among the values read.
        assert collection.screened == len(leaked)
        assert not [o for o in collection.values if not is_allowed(o)]
        for run in collection.runs.values():
            for cells in run.rows.values():
                assert all(is_allowed(vb.oid) for vb in cells.values())
        report = collection.report()
        encoded = encode(report)
        for word in SECRET_WORDS:
            assert word not in encoded, (path.stem, word)


def test_the_leaky_simulator_does_hand_out_secrets():
    """The test above is not vacuous: over the fixtures, the walks met the secrets."""
    total = 0
    for path in v2c_fixtures():
        agent = Agent(_leaky(path))
        collection = Collection(_discover(agent), DeviceCache())
        seen: list[Varbind] = []
        for _request in _drive(collection, agent, seen):
            pass
        total += sum(1 for vb in seen if not is_allowed(vb.oid))
    assert total >= len(v2c_fixtures())


# -- the client refuses ---------------------------------------------------------------------


async def test_the_client_refuses_before_the_socket():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a silent "device": a listener
    with sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        target = Target(
            "127.0.0.1",
            port,
            credentials=[Community(b"public", Version.V2C), Community(b"public", Version.V1)],
        )
        async with SnmpClient(timeout=0.2, retries=0) as client:
            for kind, oids in (
                (PduType.GET, [std.SYS_DESCR, std.SYS_CONTACT]),
                (PduType.GET_NEXT, [ARP]),
                (PduType.GET_BULK, [JOB_MONITORING]),
                (PduType.GET_NEXT, [oid("1.3.6.1.2.1.1")]),  # would walk into sysContact
            ):
                with pytest.raises(SnmpRefused) as refused:
                    await client.request(target, kind, oids, max_repetitions=5)
                assert "refused to ask for" in str(refused.value)
                assert isinstance(refused.value, SnmpError)  # a device error, not a crash
            with pytest.raises(SnmpRefused, match=r"1\.3\.6\.1\.2\.1\.97.*Job-Monitoring"):
                async for _vb in client.walk(target, JOB_MONITORING):
                    pass
            with pytest.raises(SnmpRefused, match="sysContact"):
                await client.get(target, [std.SYS_CONTACT])
            with pytest.raises(SnmpRefused, match="SET requests are never sent"):
                await client.request(target, PduType.SET, [std.SYS_LOCATION])  # allowed OID
            assert client.stats.refused == 7
            assert client.stats.requests == 0
            assert client.stats.packets_sent == 0
            # The same client still sends what is allowed: the socket sees that one.
            with pytest.raises(SnmpError):
                await client.get(target, [std.SYS_DESCR])
            assert client.stats.packets_sent >= 1
        sock.setblocking(False)
        received = []
        while True:
            try:
                received.append(sock.recv(65535))
            except BlockingIOError:
                break
    # Only the allowed GET reached the socket (once per credential tried).
    assert len(received) == 2
    for data in received:
        assert [vb.oid for vb in decode_message(data).pdu.varbinds] == [std.SYS_DESCR]


async def test_exchange_checks_what_its_caller_declares():
    async with SnmpClient(timeout=0.2, retries=0) as client:
        target = Target("127.0.0.1", 9, credentials=[Community(b"public")])

        def encode(request_id: int) -> bytes:
            raise AssertionError("nothing may be encoded for a refused request")

        with pytest.raises(SnmpRefused):
            await client.exchange(target, encode, bytes, asking=[ARP + (1,)])
        assert client.stats.refused == 1 and client.stats.packets_sent == 0


def test_the_discovery_sweep_checks_its_templates():
    templates, _ = discovery_templates([Community(b"public")], DISCOVERY_OIDS)
    assert templates
    with pytest.raises(SnmpRefused, match=r"1\.3\.6\.1\.2\.1\.1\.4\.0"):
        discovery_templates([Community(b"public")], [*DISCOVERY_OIDS, std.SYS_CONTACT])


def test_no_module_widens_the_client():
    """``SnmpClient(allowed=...)`` exists for the protocol's own tests: no module of printerhq
    passes it, so every client the agent and the scanner build enforces the allow-list."""
    package = Path(allowlist.__file__).parent
    offenders = []
    for path in package.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and "SnmpClient" in ast.unparse(node.func)
                and any(k.arg == "allowed" for k in node.keywords)
            ):
                offenders.append(f"{path.relative_to(package)}:{node.lineno}")
    assert offenders == []
