"""The audit trail (docs/audit.md): what the agent logs is exactly what went on the wire.

* a scan of the simulator: the trail lists exactly the requests the simulator's own request log
  recorded (devices, PDU types, OIDs, count);
* an upload to a real server on loopback: the trail's digest and length are those of the
  message the server decoded, and ``printerhq audit --show-upload`` shows that message;
* the trail is bounded (rotation, kept uploads), and a full disk never stops a scan: the loss is
  counted, said once, and reported by ``printerhq audit``;
* ``printerhq audit`` summarises a known trail (the expected figures computed from the events).
"""

from __future__ import annotations

import errno
import hashlib
import json
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from printerhq import cli
from printerhq.audit.contents import describe
from printerhq.audit.log import AuditLog, kept_upload, read_events
from printerhq.audit.record import Gap, Request, Start, Upload, decode_line, format_time
from printerhq.engine import Scanner, ScanOptions
from printerhq.mib.names import name_of
from printerhq.mib.oids import oid as parse_oid
from printerhq.server.run import run_server
from printerhq.sim.recording import Recording
from printerhq.snmp.credentials import Community
from printerhq.snmp.message import Version
from printerhq.uplink import Uplink

from . import strategies_snmp
from .helpers_server import REPO, make_report, new_token
from .helpers_sim import fixture_paths, running_fleet
from .netns_lab import netns_lab  # noqa: F401 - fixture
from .test_agent_e2e import simulator, site  # noqa: F401 - fixtures


def _v2c_fixtures() -> list[Path]:
    """The recordings that answer SNMPv2c: every request of a v2c-only scan reaches their log
    (a v1-only agent drops v2c requests before it logs them)."""
    return [p for p in fixture_paths() if Version.V2C in Recording.load(p, strict=False).versions]


def _snmp_requests(directory: Path) -> list[Request]:
    return [
        e
        for e in read_events(directory).events
        if isinstance(e, Request) and e.protocol.startswith("snmp")
    ]


async def test_the_trail_lists_exactly_what_the_simulator_received(tmp_path):
    received = []
    with AuditLog(tmp_path / "audit") as audit:
        async with (
            running_fleet(_v2c_fixtures(), log_sink=received.append) as fleet,
            Scanner(
                ScanOptions(
                    port=fleet.port,
                    timeout=1.0,
                    retries=2,
                    icmp=False,
                    credentials=[Community(b"public", Version.V2C)],
                    audit=audit,
                )
            ) as scanner,
            scanner.scan(fleet.addresses) as results,
        ):
            reports = [r async for r in results]
    assert sum(r.identity.is_printer for r in reports) >= 5
    logged = _snmp_requests(tmp_path / "audit")
    assert logged, "nothing was logged"
    assert all(e.protocol == "snmpv2c" and e.port == fleet.port for e in logged)
    trail = Counter((e.address, e.kind, tuple(e.items)) for e in logged)
    in_simulator = Counter(
        (entry.address, entry.pdu_type.name, tuple(".".join(map(str, o)) for o in entry.oids))
        for entry in received
    )
    assert trail == in_simulator
    assert {e.address for e in logged} == set(fleet.addresses)
    # The bytes are the datagrams' own: the simulator's count of bytes in is the trail's sum.
    assert sum(e.size or 0 for e in logged) == fleet.stats["bytes_in"]


async def test_snmpv3_requests_are_logged_though_their_pdus_are_encrypted(tmp_path):
    """authPriv: the datagrams cannot be read back, so the client describes them. The trail
    holds the simulator's log plus the one engine-id discovery per device (a GET with no
    varbinds, which the simulator answers before it logs anything)."""
    from printerhq.snmp.usm import AuthProtocol, PrivProtocol
    from printerhq.snmp.v3credential import UsmCredential

    from .helpers_snmpv3 import make_user

    user = make_user(AuthProtocol.SHA256, PrivProtocol.AES)
    received = []
    with AuditLog(tmp_path / "audit") as audit:
        async with (
            running_fleet(_v2c_fixtures()[:3], log_sink=received.append, users=[user]) as fleet,
            Scanner(
                ScanOptions(
                    port=fleet.port,
                    icmp=False,
                    credentials=[UsmCredential(user)],
                    audit=audit,
                )
            ) as scanner,
            scanner.scan(fleet.addresses) as results,
        ):
            reports = [r async for r in results]
    assert sum(r.identity.is_printer for r in reports) >= 2
    assert {r.protocol for r in reports} == {"snmpv3/authPriv"}
    logged = _snmp_requests(tmp_path / "audit")
    assert {e.protocol for e in logged} == {"snmpv3/authPriv", "snmpv3/noAuthNoPriv"}
    discoveries = [e for e in logged if e.protocol == "snmpv3/noAuthNoPriv"]
    assert Counter(e.address for e in discoveries) == Counter(fleet.addresses)
    assert all(e.kind == "GET" and not e.items for e in discoveries)
    trail = Counter(
        (e.address, e.kind, tuple(e.items)) for e in logged if e.protocol == "snmpv3/authPriv"
    )
    in_simulator = Counter(
        (entry.address, entry.pdu_type.name, tuple(".".join(map(str, o)) for o in entry.oids))
        for entry in received
    )
    assert trail == in_simulator
    # Every datagram's bytes are counted: the simulator's count of bytes in is the trail's sum.
    assert sum(e.size or 0 for e in logged) == fleet.stats["bytes_in"]


@pytest.mark.parametrize("transport", ["websocket", "http"])
async def test_an_upload_is_logged_with_the_bytes_the_server_decoded(
    tmp_path, monkeypatch, capsys, transport
):
    import printerhq.server.app as app

    decoded: list[bytes] = []
    original = app.decode_readings

    async def capture(store, agent, data):
        decoded.append(bytes(data))
        return await original(store, agent, data)

    monkeypatch.setattr(app, "decode_readings", capture)
    sent = [make_report(n) for n in range(4)]
    with AuditLog(tmp_path / "state" / "audit", keep_uploads=5) as audit:
        async with run_server(
            tmp_path / "server", insecure_http=True, websocket=transport == "websocket"
        ) as server:
            token = new_token()
            await server.store.add_agent("a", token)
            async with Uplink(
                f"http://127.0.0.1:{server.port}",
                token,
                tmp_path / "spool",
                agent="a",
                insecure=True,
                transport=transport,
                audit=audit,
            ) as up:
                for cycle in range(2):  # the second cycle's batch goes as deltas
                    async with up.holding():
                        for report in sent:
                            await up.submit(
                                report.__class__(
                                    **{
                                        **{f: getattr(report, f) for f in report.__struct_fields__},
                                        "scanned_at": report.scanned_at + 60 * cycle,
                                    }
                                )
                            )
                    assert await up.flush(10), up.stats
    uploads = [
        e
        for e in read_events(tmp_path / "state" / "audit").events
        if isinstance(e, Upload) and e.kind == "batch"
    ]
    assert [(e.size, e.sha256) for e in uploads] == [
        (len(d), hashlib.sha256(d).hexdigest()) for d in decoded
    ]
    assert len(uploads) == 2
    # Field level: the first batch names the four devices; the second patches their readings.
    first, second = uploads
    assert sorted(d.device for d in first.devices) == sorted(r.identity.address for r in sent)
    assert "counters[].value" in first.devices[0].fields
    assert {d.base for d in second.devices} <= {d.reading for d in first.devices}
    # The kept copy is the message itself, and --show-upload shows it as the server read it.
    assert kept_upload(tmp_path / "state" / "audit", second.id) == decoded[1]
    capsys.readouterr()
    state = str(tmp_path / "state")
    assert cli.main(["audit", "--state-dir", state, "--show-upload", first.id]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["sha256"] == first.sha256 and shown["matches_trail"] is True
    assert sorted(r["identity"]["address"] for r in shown["message"]["reports"]) == sorted(
        r.identity.address for r in sent
    )


def test_a_request_is_one_readable_line(tmp_path):
    with AuditLog(tmp_path, clock=lambda: 1_780_000_000.0) as audit:
        audit.request("snmpv2c", "192.0.2.7", 161, "GET", ["1.3.6.1.2.1.1.1.0"], 43)
    lines = (tmp_path / "audit.log").read_text().splitlines()
    assert len(lines) == 2  # the start line, then the request
    assert json.loads(lines[1]) == {
        "event": "request",
        "time": format_time(1_780_000_000.0),
        "protocol": "snmpv2c",
        "address": "192.0.2.7",
        "kind": "GET",
        "port": 161,
        "items": ["1.3.6.1.2.1.1.1.0"],
        "bytes": 43,
    }


def test_rotation_keeps_the_trail_bounded(tmp_path):
    with AuditLog(tmp_path, max_file_bytes=4096, files=3) as audit:
        for n in range(2000):
            audit.request("snmpv2c", f"192.0.2.{n % 250}", 161, "GET", [f"1.3.6.1.2.1.1.{n}"], 40)
        assert audit.rotations > 10
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["audit.log", "audit.log.1", "audit.log.2"]
    assert all((tmp_path / f).stat().st_size <= 4096 for f in files)
    trail = read_events(tmp_path)
    assert trail.unreadable == 0
    numbers = [int(e.items[0].rsplit(".", 1)[1]) for e in trail.events if isinstance(e, Request)]
    # The newest events, in order, none missing between the oldest kept and the last.
    assert numbers == list(range(numbers[0], 2000))


def test_only_the_last_uploads_are_kept(tmp_path):
    with AuditLog(tmp_path, keep_uploads=3) as audit:
        for n in range(6):
            audit.upload("batch", f"batch-{n}", b"\x80" + bytes([n]), 10, "websocket")
    kept = sorted(p.name for p in (tmp_path / "uploads").iterdir())
    assert kept == ["batch-3.msgpack", "batch-4.msgpack", "batch-5.msgpack"]


class _FullDisk:
    """A log file on a disk that fills up: writes fail with ENOSPC while ``full``."""

    def __init__(self) -> None:
        self.full = False
        self.data = bytearray()

    def write(self, data: bytes) -> int:
        if self.full:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.data += data
        return len(data)

    def close(self) -> None:
        pass


def test_a_full_disk_is_counted_said_once_and_reported(tmp_path, caplog, capsys):
    disk = _FullDisk()
    clock = iter(range(1_780_000_000, 1_780_100_000))
    audit = AuditLog(tmp_path, opener=lambda path: disk, clock=lambda: float(next(clock)))  # type: ignore[arg-type, return-value]
    with audit:
        audit.request("icmp", "192.0.2.1", 0, "echo-request", (), 8)
        disk.full = True
        for _ in range(25):  # never raises into the prober
            audit.request("icmp", "192.0.2.2", 0, "echo-request", (), 8)
        disk.full = False
        audit.request("icmp", "192.0.2.3", 0, "echo-request", (), 8)
    assert audit.lost == 25
    warnings = [r for r in caplog.records if "cannot be written" in r.getMessage()]
    assert len(warnings) == 1
    events = [decode_line(line) for line in bytes(disk.data).splitlines()]
    gaps = [e for e in events if isinstance(e, Gap)]
    assert len(gaps) == 1 and gaps[0].lost == 25 and "No space" in gaps[0].error
    assert [e.address for e in events if isinstance(e, Request)] == ["192.0.2.1", "192.0.2.3"]
    # printerhq audit reports the gap.
    (tmp_path / "state" / "audit").mkdir(parents=True)
    (tmp_path / "state" / "audit" / "audit.log").write_bytes(bytes(disk.data))
    assert cli.main(["audit", "--state-dir", str(tmp_path / "state")]) == 0
    out = capsys.readouterr().out
    assert "GAPS IN THE TRAIL" in out and "25 event(s) lost" in out


def test_a_file_size_limit_never_stops_the_writer(tmp_path):
    """A real write error (EFBIG under RLIMIT_FSIZE, in a child process): the writer keeps
    going, counts what it lost, and the file holds whole lines up to the limit."""
    script = textwrap.dedent(
        f"""
        import resource, signal, sys
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))
        from printerhq.audit.log import AuditLog
        with AuditLog({str(tmp_path)!r}, keep_uploads=0) as audit:
            for n in range(1000):
                audit.request("snmpv2c", "192.0.2.9", 161, "GET", ["1.3.6.1.2.1.1.1.0"], 43)
        print(audit.written, audit.lost)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert done.returncode == 0, done.stderr
    written, lost = map(int, done.stdout.split())
    assert lost > 0 and written + lost == 1001  # the start line and 1000 requests
    assert (tmp_path / "audit.log").stat().st_size <= 20000
    trail = read_events(tmp_path)
    assert len(trail.events) == written and trail.unreadable <= 1


def _known_trail(directory: Path) -> list[object]:
    """A trail with every kind of event, written by the writer itself."""
    clock = iter(float(t) for t in range(1_780_000_000, 1_780_000_100))
    message = b""
    with AuditLog(directory, clock=lambda: next(clock)) as audit:
        for address in ("192.0.2.10", "192.0.2.11"):
            audit.request("icmp", address, 0, "echo-request", (), 8)
            audit.request("snmpv2c", address, 161, "GET", ["1.3.6.1.2.1.1.1.0"], 41)
            audit.request(
                "snmpv2c",
                address,
                161,
                "GET_BULK",
                ["1.3.6.1.2.1.43.11.1.1.9", "1.3.6.1.2.1.43.11.1.1.6"],
                55,
            )
        hp_total = "1.3.6.1.4.1.11.2.3.9.4.2.1.4.1.2.5.0"
        audit.request("snmpv1", "192.0.2.12", 161, "GET", [hp_total], 60)
        audit.request("http", "192.0.2.13", 80, "GET", ["/"], None)
        from printerhq import model, wire

        message = wire.encode(
            wire.raw_batch("b-1", "a", [model.encode(make_report(n)) for n in range(2)])
        )
        audit.upload("batch", "b-1", message, 300, "websocket")
    return read_events(directory).events  # type: ignore[return-value]


def test_the_summary_of_a_known_trail(tmp_path, capsys):
    events = _known_trail(tmp_path / "audit")
    requests = [e for e in events if isinstance(e, Request)]
    uploads = [e for e in events if isinstance(e, Upload)]
    assert cli.main(["audit", "--state-dir", str(tmp_path), "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["requests"] == len(requests)
    assert [d["address"] for d in summary["devices"]] == sorted({e.address for e in requests})
    expected_bytes: Counter[str] = Counter()
    for e in requests:
        expected_bytes[e.protocol] += e.size or 0
    assert {p["protocol"]: p["bytes"] for p in summary["protocols"]} == dict(expected_bytes)
    asked = {o for e in requests if e.protocol.startswith("snmp") for o in e.items}
    named = {
        (group["mib"], item["oid"], item["name"])
        for group in summary["mibs"]
        for item in group["oids"]
    }
    assert named == {(name_of(parse_oid(o)).mib, o, name_of(parse_oid(o)).name) for o in asked}
    assert summary["http_paths"] == {"/": 1}
    assert summary["uploads"]["count"] == 1
    assert summary["uploads"]["bytes"] == uploads[0].size
    assert summary["uploads"]["devices"] == sorted(d.device for d in uploads[0].devices)
    assert summary["starts"] == sum(isinstance(e, Start) for e in events)
    # The table names each OID and its MIB.
    assert cli.main(["audit", "--state-dir", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    for text in (
        "sysDescr.0",
        "prtMarkerSuppliesLevel",
        "Printer-MIB (RFC 3805)",
        "HP private (enterprise 11)",
        "Devices touched",
    ):
        assert text in table
    # A period after every event holds nothing.
    assert cli.main(["audit", "--state-dir", str(tmp_path), "--since", "2099-01-01"]) == 0
    assert "no events in this period" in capsys.readouterr().out


def test_no_trail_is_an_error(tmp_path, capsys):
    assert cli.main(["audit", "--state-dir", str(tmp_path)]) == 1
    assert "no audit trail" in capsys.readouterr().err


async def test_icmp_echoes_are_logged(tmp_path):
    from printerhq.icmp import Pinger

    with AuditLog(tmp_path) as audit:
        async with Pinger(audit=audit) as pinger:
            if pinger.mode == "off":
                pytest.skip("ICMP is not permitted here")
            await pinger.ping("127.0.0.1", timeout=1.0)
    echoes = [e for e in read_events(tmp_path).events if isinstance(e, Request)]
    assert [(e.protocol, e.address, e.kind) for e in echoes] == [
        ("icmp", "127.0.0.1", "echo-request")
    ]
    assert echoes[0].size == pinger.counters.bytes_sent


async def test_http_probes_are_logged_with_their_path(tmp_path):
    from printerhq.http import probe_http

    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens: the attempt is still logged, before it is made
    with AuditLog(tmp_path) as audit:
        await probe_http("127.0.0.1", port=port, timeout=2.0, audit=audit)
    logged = [e for e in read_events(tmp_path).events if isinstance(e, Request)]
    assert [(e.protocol, e.address, e.port, e.kind, e.items) for e in logged] == [
        ("http", "127.0.0.1", port, "GET", ["/"]),
        ("https", "127.0.0.1", port, "GET", ["/"]),
    ]


@given(st.binary(max_size=512))
def test_reading_arbitrary_bytes_never_raises(data):
    assert isinstance(describe(data)[0], list)
    decode_line(data)  # an event or None, never an exception


def test_the_agent_with_audit_logs_its_cycle_and_its_uploads(tmp_path, capsys, site):  # noqa: F811
    """``printerhq agent --audit`` (a real process, the simulator and the server too): the trail
    names every device the server got, and the kept uploads are those the trail describes."""
    from .helpers_agent_e2e import stop_agent
    from .test_agent_e2e import FIRST_RANGE

    config = site.config(FIRST_RANGE, remote_config=False)
    with open(site.log_path, "a") as log:
        site.agent = subprocess.Popen(
            [sys.executable, "-m", "printerhq", "agent", "--config", str(config), "--audit"],
            stdout=log,
            stderr=log,
            cwd=REPO,
        )
    on_server = site.wait_for("reports on the server", site.addresses_on_server)
    assert stop_agent(site.agent) == 0
    state = str(site.state_dir)
    assert cli.main(["audit", "--state-dir", state, "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    touched = {d["address"] for d in summary["devices"]}
    assert on_server <= touched
    assert on_server <= set(summary["uploads"]["devices"])
    assert summary["uploads"]["batches"] >= 1 and summary["lost"] == 0
    assert summary["uploads"]["control"] >= 1  # the statuses on the agent stream too
    batches = [u for u in summary["upload_list"] if u["kind"] == "batch"]
    for upload in batches:
        assert cli.main(["audit", "--state-dir", state, "--show-upload", upload["id"]]) == 0
        shown = json.loads(capsys.readouterr().out)
        assert shown["matches_trail"] and shown["sha256"] == upload["sha256"]


def test_the_trail_is_private_to_the_agent(tmp_path):
    """The kept uploads hold what the reports hold: 0700 directories, 0600 files, as the spool."""
    with AuditLog(tmp_path / "audit") as audit:
        audit.upload("batch", "b-1", b"\x80", 1, "websocket")
    assert (tmp_path / "audit").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "audit" / "uploads").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "audit" / "audit.log").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "audit" / "uploads" / "b-1.msgpack").stat().st_mode & 0o777 == 0o600


@given(strategies_snmp.messages(), st.integers(0x0100_0000, 0x7FFF_FFFF))
def test_a_datagram_is_described_by_its_own_bytes_whatever_its_request_id(message, other_id):
    """What the sweep's datagrams are logged as (read back from the bytes, cached by the bytes
    around the request-id): the message's own version, PDU type and OIDs, for any id."""
    from dataclasses import replace

    from printerhq.snmp.message import encode_message
    from printerhq.snmp.transport import describe_request

    for pdu in (message.pdu, replace(message.pdu, request_id=other_id)):
        protocol, kind, oids = describe_request(encode_message(replace(message, pdu=pdu)))
        assert protocol == ("snmpv1" if message.version == Version.V1 else "snmpv2c")
        assert kind == message.pdu.type.name
        assert list(oids) == [vb.oid for vb in message.pdu.varbinds]


@given(st.binary(max_size=300))
def test_describing_arbitrary_bytes_never_raises(data):
    from printerhq.snmp.transport import describe_request

    assert describe_request(data)[0] in ("snmp", "snmpv1", "snmpv2c", "snmpv3")


def test_a_disk_still_full_at_the_end_is_said_in_the_agent_log(tmp_path, caplog):
    disk = _FullDisk()
    audit = AuditLog(tmp_path, opener=lambda path: disk)  # type: ignore[arg-type, return-value]
    with audit:
        disk.full = True
        for _ in range(7):
            audit.request("icmp", "192.0.2.2", 0, "echo-request", (), 8)
    assert audit.lost == 7
    said = [r.getMessage() for r in caplog.records if "not recorded" in r.getMessage()]
    assert len(said) == 1 and "7 event(s) lost" in said[0]
    # Freed before the end: the gap goes into the trail at close instead.
    disk2 = _FullDisk()
    with AuditLog(tmp_path / "b", opener=lambda path: disk2) as audit:  # type: ignore[arg-type, return-value]
        disk2.full = True
        audit.request("icmp", "192.0.2.2", 0, "echo-request", (), 8)
        disk2.full = False
    gaps = [e for e in map(decode_line, bytes(disk2.data).splitlines()) if isinstance(e, Gap)]
    assert [g.lost for g in gaps] == [1]


def test_the_site_switches_the_trail_on_and_sizes_it_never_the_server():
    from printerhq.agent.config import ConfigError, parse_config, parse_remote

    from .test_agent_config import SCAN, SERVER, error_of

    default = parse_config((SERVER + SCAN).encode())
    assert default.site.audit is False
    assert (default.audit.max_file_mb, default.audit.files, default.audit.keep_uploads) == (
        8,
        4,
        20,
    )
    on = parse_config(
        (SERVER + SCAN + "[site]\naudit = true\n[audit]\nfiles = 2\nkeep_uploads = 0\n").encode()
    )
    assert on.site.audit and on.audit.files == 2 and on.audit.keep_uploads == 0
    assert "audit.files" in error_of(SERVER + SCAN + "[audit]\nfiles = 0\n")
    for table in ("[audit]\nfiles = 2\n", "[site]\naudit = false\n"):
        with pytest.raises(ConfigError, match="cannot be set remotely"):
            parse_remote(SCAN + table)


def test_arp_frames_are_logged_in_the_namespace_lab(netns_lab, tmp_path):  # noqa: F811
    """ARP needs an Ethernet link: the lab's veth (skipped when not root). Every frame the
    kernel's interface counters saw leave is in the trail, one per asked address."""
    lab = netns_lab
    result = lab.run_agent(
        "sweep",
        "--interface",
        lab.agent_if,
        "--network",
        str(lab.network),
        "--exclude",
        lab.agent_ip,
        "--retries",
        "0",
        "--timeout",
        "0.5",
        "--audit",
        str(tmp_path),
    )
    frames = [e for e in read_events(tmp_path).events if isinstance(e, Request)]
    assert {(e.protocol, e.kind) for e in frames} == {("arp", "who-has")}
    assert len(frames) == result["wire"]["tx_packets"] == result["targets"]
    assert sum(e.size or 0 for e in frames) == result["wire"]["tx_bytes"]
    asked = {e.address for e in frames}
    assert asked == {str(a) for a in lab.network.hosts()} - {lab.agent_ip}


@given(st.floats(0, 4_102_444_800, allow_nan=False))
def test_times_are_utc_milliseconds_and_read_back(epoch):
    import datetime as dt

    from printerhq.audit.record import parse_time

    moment = dt.datetime.fromtimestamp(epoch, dt.UTC)
    expected = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    assert format_time(epoch) == expected
    assert abs((parse_time(format_time(epoch)) or 0) - epoch) < 0.001
