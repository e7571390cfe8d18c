"""Interoperability with snmpsim: our client against ``snmpsim-command-responder`` serving
recordings, answers compared with net-snmp's ``snmpwalk``/``snmpbulkwalk``/``snmpget``.

The project's fixtures/*.snmprec are served (a built-in sample if there are none), and, when
``../shared/realdata`` is present, the real printer recordings from LibreNMS too. snmpsim
serves recorded values unchanged, so here every varbind must be equal, values included.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from printerhq.sim.recording import Recording
from printerhq.snmp.ber import format_oid
from printerhq.snmp.client import Community, SnmpClient, SnmpTimeout, Target
from printerhq.snmp.message import Varbind, Version

from .helpers_agents import (
    ANY_OID,
    LOOPBACK,
    fixture_recordings,
    net_snmp,
    net_snmp_run,
    realdata_recordings,
    run_snmpsim,
    walk_rows,
)

pytestmark = pytest.mark.interop

EVERYTHING = (1, 3, 6)
FIXTURES = fixture_recordings()
REALDATA = realdata_recordings()
FIXTURE_COMMUNITIES = [path.stem for path in FIXTURES] or ["public"]


@pytest.fixture(scope="module")
def fixture_agent(tmp_path_factory):
    with run_snmpsim(tmp_path_factory.mktemp("snmpsim"), FIXTURES) as (port, communities):
        yield port, communities


def normalised_copies(recordings: list[Path], folder: Path) -> list[Path]:
    """Each recording as our simulator reads it, written back as ``.snmprec``.

    snmpsim stops serving a file at a value it cannot evaluate, and two LibreNMS recordings
    hold one each: okilan_9450g a Counter32 of ``6git3159`` (it then served 22 of 172 rows)
    and zebra an OBJECT IDENTIFIER of a single arc, ``0`` (325 of 1,270 rows). Our reader skips
    the first (noted in ``Recording.problems``) and reads the second as ``0.0``
    (zeroDotZero); served in that form, snmpsim answers every row."""
    folder.mkdir(parents=True, exist_ok=True)
    copies = []
    for path in recordings:
        copy = folder / path.name
        copy.write_text(Recording.load(path, strict=False).to_text())
        copies.append(copy)
    return copies


@pytest.fixture(scope="module")
def realdata_agent(tmp_path_factory):
    if not REALDATA:
        pytest.skip("../shared/realdata is absent: real recordings not tested")
    directory = tmp_path_factory.mktemp("snmpsim-real")
    copies = normalised_copies(REALDATA, directory / "normalised")
    with run_snmpsim(directory, copies) as (port, communities):
        yield port, communities


def target(port: int, community: str, version: Version = Version.V2C) -> Target:
    return Target(LOOPBACK, port, credentials=[Community(community.encode(), version)])


async def walk(port: int, community: str, version: Version, root=EVERYTHING) -> list[Varbind]:
    async with SnmpClient(allowed=ANY_OID, timeout=3, retries=1) as client:
        return [
            vb
            async for vb in client.walk(target(port, community, version), root, max_repetitions=25)
        ]


async def walk_until_silence(port: int, community: str) -> tuple[list[Varbind], bool]:
    """Our v2c walk, and whether the agent fell silent before it ended."""
    rows: list[Varbind] = []
    async with SnmpClient(allowed=ANY_OID, timeout=0.5, retries=0) as client:
        try:
            async for varbind in client.walk(
                target(port, community), EVERYTHING, max_repetitions=25
            ):
                rows.append(varbind)
        except SnmpTimeout:
            return rows, True
    return rows, False


@pytest.mark.parametrize("community", FIXTURE_COMMUNITIES)
async def test_walk_v2c_equals_snmpbulkwalk(fixture_agent, community):
    port, _ = fixture_agent
    ours = await walk(port, community, Version.V2C)
    theirs = net_snmp("snmpbulkwalk", "2c", community, port, "-Cr25", format_oid(EVERYTHING))
    assert len(ours) > 5
    assert ours == walk_rows(theirs)


@pytest.mark.parametrize("community", FIXTURE_COMMUNITIES)
async def test_walk_v1_equals_snmpwalk(fixture_agent, community):
    port, _ = fixture_agent
    ours = await walk(port, community, Version.V1)
    theirs = net_snmp("snmpwalk", "1", community, port, format_oid(EVERYTHING))
    assert len(ours) > 5
    assert ours == walk_rows(theirs)


@pytest.mark.parametrize("community", FIXTURE_COMMUNITIES)
async def test_get_equals_snmpget(fixture_agent, community):
    port, _ = fixture_agent
    oids = [vb.oid for vb in await walk(port, community, Version.V2C)][:20]
    oids.append(oids[0] + (99,))  # a missing instance
    async with SnmpClient(allowed=ANY_OID, timeout=3) as client:
        ours = await client.get(target(port, community), oids)
    theirs = net_snmp("snmpget", "2c", community, port, *map(format_oid, oids))
    assert ours == theirs
    assert ours[-1].is_exception


async def test_unknown_community_is_a_clear_timeout(fixture_agent):
    port, _ = fixture_agent
    async with SnmpClient(allowed=ANY_OID, timeout=0.5, retries=0) as client:
        with pytest.raises(SnmpTimeout, match="wrong community or silent host"):
            await client.get(
                Target(
                    LOOPBACK,
                    port,
                    credentials=[
                        Community(b"no-such-recording"),
                        Community(b"nor-this", Version.V1),
                    ],
                ),
                [(1, 3, 6, 1, 2, 1, 1, 1, 0)],
            )


# Every row of every real recording is served and compared (5,880 rows over 25 files when
# this was written): each walk below must return its whole recording.
MIN_REAL_ROWS = 5_800


@pytest.mark.parametrize("community", [path.stem for path in REALDATA] or ["absent"])
async def test_real_printer_recordings_walk_equals_snmpbulkwalk(realdata_agent, community):
    """The whole recording, as our simulator reads it, comes back from snmpsim through our
    client and through net-snmp's snmpbulkwalk alike."""
    port, communities = realdata_agent
    ours, we_timed_out = await walk_until_silence(port, community)
    theirs, stderr = net_snmp_run(
        "snmpbulkwalk",
        "2c",
        community,
        port,
        "-Cr25",
        "-t",
        "0.5",
        "-r",
        "0",
        format_oid(EVERYTHING),
    )
    assert ours == walk_rows(theirs)
    assert not we_timed_out and "Timeout" not in stderr, stderr
    recorded = Recording.load(communities[community]).varbinds  # strict: the normalised copy
    assert ours == recorded  # every row, values included
    assert len(ours) == len(recorded) > 0


def test_real_recordings_served_whole(realdata_agent):
    """The floor on what the walks above compare: the files served hold every row."""
    _, communities = realdata_agent
    rows = {name: len(Recording.load(path).varbinds) for name, path in communities.items()}
    assert set(rows) == {path.stem for path in REALDATA}
    assert rows["okilan_9450g"] == 171  # 172 lines, one unreadable value (6git3159)
    assert rows["zebra"] == 1_270
    assert sum(rows.values()) >= MIN_REAL_ROWS
