"""Interoperability with net-snmp: our client against a real ``snmpd``, answers compared with
``snmpget``/``snmpgetnext``/``snmpbulkget``/``snmpbulkwalk``/``snmpwalk`` for the same OIDs.

Values that change between two reads (TimeTicks, Counter32/64) are compared by OID and type
only; everything else must be equal varbind for varbind.
"""

from __future__ import annotations

import pytest

from printerhq.snmp.ber import format_oid
from printerhq.snmp.client import Community, SnmpClient, SnmpErrorStatus, SnmpTimeout, Target
from printerhq.snmp.message import Version

from .helpers_agents import ANY_OID, LOOPBACK, SNMPD_SYSTEM, comparable, net_snmp, run_snmpd

pytestmark = pytest.mark.interop

SYSTEM = (1, 3, 6, 1, 2, 1, 1)
GET_OIDS = [
    (1, 3, 6, 1, 2, 1, 1, 1, 0),  # sysDescr
    (1, 3, 6, 1, 2, 1, 1, 2, 0),  # sysObjectID
    (1, 3, 6, 1, 2, 1, 1, 3, 0),  # sysUpTime
    (1, 3, 6, 1, 2, 1, 1, 4, 0),  # sysContact
    (1, 3, 6, 1, 2, 1, 1, 5, 0),  # sysName
    (1, 3, 6, 1, 2, 1, 1, 6, 0),  # sysLocation
    (1, 3, 6, 1, 2, 1, 4, 20, 1, 1, 127, 0, 0, 1),  # ipAdEntAddr: an IpAddress
    (1, 3, 6, 1, 2, 1, 2, 1, 0),  # ifNumber
]
MISSING_OBJECT = (1, 3, 6, 1, 2, 1, 1, 99, 0)
MISSING_INSTANCE = (1, 3, 6, 1, 2, 1, 1, 5, 1)
WALK_ROOTS = [SYSTEM, (1, 3, 6, 1, 2, 1, 2, 2), (1, 3, 6, 1, 2, 1, 4, 20)]


@pytest.fixture(scope="module")
def snmpd_port(tmp_path_factory):
    with run_snmpd(tmp_path_factory.mktemp("snmpd")) as port:
        yield port


def target(port: int, version: Version = Version.V2C) -> Target:
    return Target(LOOPBACK, port, credentials=[Community(b"public", version)])


def dotted(oids) -> list[str]:
    return [format_oid(oid) for oid in oids]


async def test_get_v2c_equals_snmpget(snmpd_port):
    oids = GET_OIDS + [MISSING_OBJECT, MISSING_INSTANCE]
    async with SnmpClient(allowed=ANY_OID, timeout=2) as client:
        ours = await client.get(target(snmpd_port), oids)
    theirs = net_snmp("snmpget", "2c", "public", snmpd_port, *dotted(oids))
    assert len(theirs) == len(oids)
    assert comparable(ours) == comparable(theirs)
    assert ours[4].value == SNMPD_SYSTEM["sysName"]  # the config reached the agent
    assert ours[-2].is_exception and ours[-1].is_exception


async def test_get_v1_equals_snmpget(snmpd_port):
    async with SnmpClient(allowed=ANY_OID, timeout=2) as client:
        ours = await client.get(target(snmpd_port, Version.V1), GET_OIDS)
    theirs = net_snmp("snmpget", "1", "public", snmpd_port, *dotted(GET_OIDS))
    assert comparable(ours) == comparable(theirs)


async def test_get_v1_missing_object_is_no_such_name(snmpd_port):
    async with SnmpClient(allowed=ANY_OID, timeout=2) as client:
        with pytest.raises(SnmpErrorStatus) as caught:
            await client.get(target(snmpd_port, Version.V1), [GET_OIDS[0], MISSING_OBJECT])
    assert (caught.value.error_name, caught.value.error_index, caught.value.oid) == (
        "noSuchName",
        2,
        MISSING_OBJECT,
    )


async def test_get_next_equals_snmpgetnext(snmpd_port):
    oids = [SYSTEM, GET_OIDS[3], (1, 3, 6, 1, 2, 1, 2, 2, 1, 2)]
    async with SnmpClient(allowed=ANY_OID, timeout=2) as client:
        ours = await client.get_next(target(snmpd_port), oids)
    theirs = net_snmp("snmpgetnext", "2c", "public", snmpd_port, *dotted(oids))
    assert comparable(ours) == comparable(theirs)


async def test_get_bulk_equals_snmpbulkget(snmpd_port):
    oids = [(1, 3, 6, 1, 2, 1, 1, 1), SYSTEM, (1, 3, 6, 1, 2, 1, 2, 2, 1, 2)]
    async with SnmpClient(allowed=ANY_OID, timeout=2) as client:
        ours = await client.get_bulk(target(snmpd_port), oids, non_repeaters=1, max_repetitions=6)
    theirs = net_snmp("snmpbulkget", "2c", "public", snmpd_port, "-Cn1", "-Cr6", *dotted(oids))
    assert len(ours) > 3
    assert comparable(ours) == comparable(theirs)


@pytest.mark.parametrize("root", WALK_ROOTS, ids=dotted(WALK_ROOTS))
async def test_walk_v2c_equals_snmpbulkwalk(snmpd_port, root):
    async with SnmpClient(allowed=ANY_OID, timeout=2) as client:
        ours = [vb async for vb in client.walk(target(snmpd_port), root, max_repetitions=7)]
    theirs = net_snmp("snmpbulkwalk", "2c", "public", snmpd_port, "-Cr7", format_oid(root))
    assert ours, "walk returned nothing"
    assert comparable(ours) == comparable(theirs)


@pytest.mark.parametrize("root", WALK_ROOTS, ids=dotted(WALK_ROOTS))
async def test_walk_v1_equals_snmpwalk(snmpd_port, root):
    async with SnmpClient(allowed=ANY_OID, timeout=2) as client:
        ours = [vb async for vb in client.walk(target(snmpd_port, Version.V1), root)]
    theirs = net_snmp("snmpwalk", "1", "public", snmpd_port, format_oid(root))
    assert ours
    assert comparable(ours) == comparable(theirs)


async def test_community_list_finds_the_right_one(snmpd_port):
    credentials = [Community(b"nope"), Community(b"public", Version.V1), Community(b"public")]
    tgt = Target(LOOPBACK, snmpd_port, credentials=credentials)
    async with SnmpClient(allowed=ANY_OID, timeout=0.3, retries=0) as client:
        rows = [vb async for vb in client.walk(tgt, SYSTEM)]
    assert tgt.credential is credentials[1]
    assert len(rows) >= 6


async def test_wrong_community_is_a_clear_timeout(snmpd_port):
    tgt = Target(LOOPBACK, snmpd_port, credentials=[Community(b"private")])
    async with SnmpClient(allowed=ANY_OID, timeout=0.3, retries=1) as client:
        with pytest.raises(SnmpTimeout, match=f"no reply from 127.0.0.1:{snmpd_port}"):
            await client.get(tgt, GET_OIDS[:1])
    assert client.stats.packets_sent == 2 and client.stats.packets_received == 0
