"""Privacy by construction: after full collections (cold, then warm) of every fixture and every
real recording through the UDP simulator, every OID the agents were asked about lies under the
catalogue's allow-list, and nothing touches job, user or document data."""

from __future__ import annotations

import trio

from printerhq.collect import DeviceCache, collect
from printerhq.mib import ALLOWED_SUBTREES, DISCOVERY_OIDS, FORBIDDEN, identify, is_allowed, oid
from printerhq.mib.oids import dotted, is_under
from printerhq.snmp.client import SnmpClient, SnmpError, Target
from printerhq.snmp.credentials import Community
from printerhq.snmp.message import Version

from .helpers_sim import fixture_paths, real_recordings, running_fleet

JOB_MONITORING = oid("1.3.6.1.2.1.97")
PRT_CHANNEL = oid("1.3.6.1.2.1.43.14")


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
    outside = sorted(dotted(o) for o in requested if not is_allowed(o))
    assert not outside, f"OIDs outside the allow-list were requested: {outside[:20]}"
    assert not any(is_under(o, JOB_MONITORING) for o in requested)
    assert not any(is_under(o, PRT_CHANNEL) for o in requested)
    for bad in FORBIDDEN:
        assert not any(is_under(o, bad) for o in requested)


def test_allow_list_excludes_job_data():
    for bad in FORBIDDEN:
        assert not is_allowed(bad + (1, 1))
        assert not any(
            is_under(prefix, bad) or is_under(bad, prefix) for prefix in ALLOWED_SUBTREES
        )
    assert is_allowed(oid("1.3.6.1.2.1.43.11.1.1.9.1.1"))
    assert not is_allowed(oid("1.3.6.1.2.1.97.1.1.1"))
    assert not is_allowed(oid("1.3.6.1.2.1.43.14.1.1.1.1.1"))
    for discovery in DISCOVERY_OIDS:
        assert is_allowed(discovery)
