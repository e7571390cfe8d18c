"""Control messages (bounds, unknown kinds/fields, round trips), the agent's remote-config keeper,
its control link, the files it keeps, and sd_notify over real AF_UNIX sockets."""

from __future__ import annotations

import json
import os
import socket
import sys

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from printerhq import control
from printerhq.agent import files
from printerhq.agent.link import ControlLink
from printerhq.agent.notify import sd_notify
from printerhq.agent.remote import LAST_GOOD, RemoteConfigKeeper

SCAN = '[[scan]]\ntargets = ["192.0.2.0/28"]\ninterval = "2s"\n'

statuses = st.builds(
    control.CycleStatus,
    time=st.floats(0, 1e10),
    kind=st.sampled_from(["warm", "discovery"]),
    duration=st.floats(0, 1e6),
    addresses=st.integers(0, 1 << 40),
    printers=st.integers(0, 1 << 20),
    errors=st.integers(0, 1000),
    error_samples=st.lists(
        st.text(max_size=control.MAX_REASON), max_size=control.MAX_ERROR_SAMPLES
    ),
)
from_agent = st.one_of(
    st.builds(
        control.Hello,
        version=st.text(max_size=20),
        remote_config=st.booleans(),
        config_version=st.integers(0, 1 << 40),
    ),
    st.builds(
        control.Status,
        state=st.sampled_from(["starting", "running", "stopping"]),
        cycle=st.integers(0, 1 << 40),
        last=st.none() | statuses,
    ),
    st.builds(
        control.ConfigResult,
        version=st.integers(0, 1 << 40),
        outcome=st.sampled_from(["applied", "rejected", "ignored"]),
        reason=st.text(max_size=control.MAX_REASON),
    ),
)


@given(from_agent)
def test_agent_messages_round_trip(message):
    assert control.decode_from_agent(control.encode(message)) == message


@given(st.integers(1, 1 << 40), st.text(max_size=200))
def test_config_push_round_trips(version, document):
    push = control.ConfigPush(version=version, document=document)
    assert control.decode_from_server(control.encode(push)) == push


@pytest.mark.parametrize(
    "frame",
    [
        '{"kind": "shutdown"}',  # unknown kind
        '{"kind": "hello", "version": "1", "remote_config": true, "token": "x"}',  # unknown field
        '{"kind": "hello", "version": "1"}',  # missing field
        '{"kind": "status", "state": "dancing"}',
        '{"kind": "status", "state": "running", "cycle": -1}',
        '{"kind": "config_result", "version": 1, "outcome": "applied", "reason": "'
        + "x" * 501
        + '"}',
        '{"kind": "status", "state": "running", "last": {"time": 1, "kind": "warm", "duration": 1, '
        '"error_samples": [' + ",".join(['"e"'] * 11) + "]}}",
        '{"kind": "status", "state": "running", '
        '"last": {"time": 1, "kind": "warm", "duration": -1}}',
        "not json",
        '"x' + "y" * (control.MAX_MESSAGE_BYTES) + '"',
    ],
)
def test_agent_messages_out_of_bounds_are_refused(frame):
    with pytest.raises(control.ControlError):
        control.decode_from_agent(frame)


@pytest.mark.parametrize(
    "frame",
    [
        '{"kind": "config", "version": 0, "document": ""}',
        '{"kind": "config", "version": 1}',
        '{"kind": "config", "version": 1, "document": "'
        + "#" * (control.MAX_DOCUMENT_BYTES + 1)
        + '"}',
        '{"kind": "hello", "version": 1, "document": ""}',
        '{"kind": "config", "version": 1, "document": "", "extra": 1}',
    ],
)
def test_server_messages_out_of_bounds_are_refused(frame):
    with pytest.raises(control.ControlError):
        control.decode_from_server(frame)


# -- the keeper ----------------------------------------------------------------------
def test_keeper_applies_keeps_last_good_and_rejects_with_the_key(tmp_path):
    keeper = RemoteConfigKeeper(tmp_path, allowed=True)
    result = keeper.offer(control.ConfigPush(version=3, document=SCAN))
    assert result == control.ConfigResult(version=3, outcome="applied")
    assert keeper.take_fresh() is not None and keeper.take_fresh() is None
    bad = keeper.offer(control.ConfigPush(version=4, document=SCAN.replace('"2s"', '"soon"')))
    assert (
        bad is not None and bad.outcome == "rejected" and bad.reason.startswith("scan[0].interval:")
    )
    assert keeper.version == 3 and keeper.take_fresh() is None
    site = keeper.offer(control.ConfigPush(version=5, document="[server]\nurl = 'x'\n" + SCAN))
    assert site is not None and site.outcome == "rejected" and site.reason.startswith("server: ")
    # Survives a restart: the last good one, not the rejected ones.
    again = RemoteConfigKeeper(tmp_path, allowed=True)
    remote = again.load_last_good()
    assert remote is not None and again.version == 3 and remote.scan[0].targets == ["192.0.2.0/28"]
    assert json.loads((tmp_path / LAST_GOOD).read_text())["version"] == 3
    # The same version again is acknowledged without re-parsing.
    assert again.offer(control.ConfigPush(version=3, document="")) == result


def test_keeper_with_remote_config_off_ignores_and_says_so_once_per_version(tmp_path):
    keeper = RemoteConfigKeeper(tmp_path, allowed=False)
    first = keeper.offer(control.ConfigPush(version=1, document=SCAN))
    assert (
        first is not None and first.outcome == "ignored" and "remote_config = false" in first.reason
    )
    assert keeper.offer(control.ConfigPush(version=1, document=SCAN)) is None
    assert keeper.offer(control.ConfigPush(version=2, document=SCAN)).outcome == "ignored"  # type: ignore[union-attr]
    assert (
        keeper.version == 0 and keeper.take_fresh() is None and not (tmp_path / LAST_GOOD).exists()
    )
    (tmp_path / LAST_GOOD).write_bytes(
        msgspec.json.encode({"version": 9, "document": SCAN, "applied_at": 0})
    )
    assert keeper.load_last_good() is None  # a saved one is not used while the site says no


async def test_link_opens_each_connection_with_the_whole_state(tmp_path):
    keeper = RemoteConfigKeeper(tmp_path, allowed=True)
    link = ControlLink(keeper, "1.2.3", lambda: control.Status(state="running", cycle=4))
    opening = [control.decode_from_agent(text) for text in link.connected()]
    assert opening == [
        control.Hello(version="1.2.3", remote_config=True, config_version=0),
        control.Status(state="running", cycle=4),
    ]
    await link.received(control.encode(control.ConfigPush(version=2, document=SCAN)))
    assert control.decode_from_agent(await link.next_message()) == control.ConfigResult(
        version=2, outcome="applied"
    )
    await link.received("garbage")  # logged and dropped
    for cycle in range(100):
        link.post(control.Status(state="running", cycle=cycle))
    assert len(link._queue) == 32  # bounded: the newest kept
    # A reconnect: the queue is replaced by the current state, the result repeated.
    opening = [control.decode_from_agent(text) for text in link.connected()]
    assert opening[0] == control.Hello(version="1.2.3", remote_config=True, config_version=2)
    assert control.ConfigResult(version=2, outcome="applied") in opening and not link._queue


# -- files ----------------------------------------------------------------------------------------
def test_heartbeat_status_and_pidfile(tmp_path):
    beat = files.write_heartbeat(tmp_path, "9.9", "running", 7)
    data = json.loads((tmp_path / "heartbeat.json").read_text())
    assert data == {
        "pid": os.getpid(),
        "time": beat.time,
        "version": "9.9",
        "state": "running",
        "cycle": 7,
        "argv": sys.argv,
        "cwd": os.getcwd(),
    }
    assert files.read_heartbeat(tmp_path) == beat
    assert [p.name for p in tmp_path.iterdir()] == ["heartbeat.json"]  # no temporary left
    files.write_status(
        tmp_path, control.CycleStatus(time=1.0, kind="warm", duration=0.5, printers=2)
    )
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["printers"] == 2 and status["pending"] == 0 and status["kind"] == "warm"
    pidfile = tmp_path / "agent.pid"
    files.write_pidfile(pidfile)
    assert pidfile.read_text() == f"{os.getpid()}\n"
    files.remove_pidfile(pidfile)
    assert not pidfile.exists()
    pidfile.write_text("1\n")  # a successor's pidfile is not ours to remove
    files.remove_pidfile(pidfile)
    assert pidfile.exists()


# -- sd_notify ------------------------------------------------------------------------------------
def test_sd_notify_to_a_path_and_an_abstract_socket(tmp_path):
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(path)
        assert sd_notify("READY=1", "STATUS=ok", environ={"NOTIFY_SOCKET": path})
        assert listener.recv(4096) == b"READY=1\nSTATUS=ok"
    name = f"printerhq-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind("\0" + name)
        assert sd_notify("WATCHDOG=1", environ={"NOTIFY_SOCKET": "@" + name})
        assert listener.recv(4096) == b"WATCHDOG=1"
    assert not sd_notify("READY=1", environ={})
    assert not sd_notify("READY=1", environ={"NOTIFY_SOCKET": str(tmp_path / "nobody")})
    assert not sd_notify("READY=1", environ={"NOTIFY_SOCKET": "vsock:2:1"})
