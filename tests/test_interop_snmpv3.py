"""Interoperability: our sans-IO USM session over a plain trio UDP socket against a real net-snmp
``snmpd`` on loopback, compared with net-snmp's own ``snmpget``/``snmpbulkwalk`` using the same
credentials. Also the error cases, each of which must surface as its own exception."""

from __future__ import annotations

import itertools
import re

import pytest
import trio

from printerhq.engine import Scanner, ScanOptions
from printerhq.snmp.ber import Tag
from printerhq.snmp.client import SnmpClient, SnmpTimeout, Target
from printerhq.snmp.credentials import Community
from printerhq.snmp.message import REQUEST_ID_MIN, Pdu, PduType, Varbind
from printerhq.snmp.usm import (
    AuthProtocol,
    DecryptionError,
    NotInTimeWindow,
    PrivProtocol,
    UnknownEngineId,
    UnknownUserName,
    UnsupportedSecLevel,
    UsmSession,
    UsmUser,
    WrongDigest,
)
from printerhq.snmp.v3 import peek_msg_id
from printerhq.snmp.v3credential import SnmpV3Error, UsmCredential

from .helpers_agents import ANY_OID
from .helpers_snmpv3 import (
    ALL_PAIRS,
    AUTH_PASS,
    COMMUNITY,
    NOAUTH_USER,
    PRIV_PASS,
    Snmpd,
    make_user,
    snmpd_available,
    start_snmpd,
    user_name,
)

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(not snmpd_available(), reason="net-snmp snmpd not installed"),
]

SYSTEM = (1, 3, 6, 1, 2, 1, 1)
SYS_UPTIME = (*SYSTEM, 3, 0)
GET_OIDS = [(*SYSTEM, n, 0) for n in (1, 2, 4, 5, 6, 7, 99)]
SNMP_ENGINE_ID = (1, 3, 6, 1, 6, 3, 10, 2, 1, 1, 0)
PAIRS = [*ALL_PAIRS, (AuthProtocol.NONE, PrivProtocol.NONE)]
_ids = itertools.count(REQUEST_ID_MIN + 1000)


def pair_id(pair) -> str:
    return user_name(*pair)


@pytest.fixture(scope="module")
def snmpd(tmp_path_factory) -> Snmpd:
    server = start_snmpd(tmp_path_factory.mktemp("snmpd"))
    yield server
    server.stop()


class V3Peer:
    """Test-only driver: one UsmSession over one connected trio UDP socket."""

    def __init__(self, sock: trio.socket.SocketType, session: UsmSession) -> None:
        self.sock = sock
        self.session = session

    async def exchange(self, data: bytes, msg_id: int, timeout: float = 2.0) -> bytes:
        await self.sock.send(data)
        with trio.fail_after(timeout):
            for _ in range(32):  # bounded: stray datagrams are skipped, not waited for forever
                reply = await self.sock.recv(65535)
                if peek_msg_id(reply) == msg_id:
                    return reply
        raise AssertionError("no matching reply")

    async def discover(self) -> bytes:
        msg_id = next(_ids)
        return self.session.handle_discovery(
            await self.exchange(self.session.discovery_request(msg_id), msg_id)
        )

    async def request(
        self,
        pdu_type: PduType,
        oids,
        non_repeaters: int = 0,
        max_repetitions: int = 0,
        timeout: float = 2.0,
    ) -> Pdu:
        if not self.session.discovered:
            await self.discover()
        for attempt in range(2):
            request_id = next(_ids)
            pdu = Pdu(
                pdu_type, request_id, non_repeaters, max_repetitions, [Varbind(oid) for oid in oids]
            )
            try:
                reply = await self.exchange(self.session.encode_request(pdu), request_id, timeout)
            except trio.TooSlowError:
                await self._diagnose_silence()
                raise
            try:
                return self.session.decode_response(reply, request_id)
            except NotInTimeWindow:
                if attempt:
                    raise
                # The session adopted the agent's boots/time from the authenticated report.
        raise AssertionError("unreachable")

    async def _diagnose_silence(self) -> None:
        """An authPriv request the agent could not decrypt is dropped silently (net-snmp): ask
        the same user at authNoPriv to tell a wrong privacy key from a lost packet."""
        if self.session.user.priv_protocol is PrivProtocol.NONE:
            return
        msg_id = next(_ids)
        try:
            reply = await self.exchange(self.session.privacy_probe_request(msg_id), msg_id)
        except trio.TooSlowError:
            return
        raise self.session.handle_privacy_probe(reply)

    async def walk(self, root: tuple[int, ...], max_repetitions: int = 10) -> list[Varbind]:
        found: list[Varbind] = []
        cursor = root
        for _ in range(1000):  # bounded walk
            pdu = await self.request(PduType.GET_BULK, [cursor], 0, max_repetitions)
            for varbind in pdu.varbinds:
                if varbind.oid[: len(root)] != root or varbind.tag == Tag.END_OF_MIB_VIEW:
                    return found
                found.append(varbind)
            cursor = pdu.varbinds[-1].oid
        raise AssertionError("walk did not end")

    async def walk_getnext(self, root: tuple[int, ...]) -> list[Varbind]:
        found: list[Varbind] = []
        cursor = root
        for _ in range(1000):
            (varbind,) = (await self.request(PduType.GET_NEXT, [cursor])).varbinds
            if varbind.oid[: len(root)] != root or varbind.tag == Tag.END_OF_MIB_VIEW:
                return found
            found.append(varbind)
            cursor = varbind.oid
        raise AssertionError("walk did not end")


async def open_peer(snmpd: Snmpd, user: UsmUser) -> V3Peer:
    sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    await sock.connect(snmpd.address)
    return V3Peer(sock, UsmSession(user))


# -- net-snmp output, normalised ---------------------------------------------------------------

_EXCEPTIONS = {
    "No Such Object": "noSuchObject",
    "No Such Instance": "noSuchInstance",
    "No more variables": "endOfMibView",
}


def parse_netsnmp(output: str) -> list[tuple[tuple[int, ...], object]]:
    """Lines of ``-On -Ox -Ot -Oe`` output, continuation lines joined."""
    entries: list[str] = []
    for line in output.splitlines():
        if line.startswith("."):
            entries.append(line)
        elif line.strip() and entries:
            entries[-1] += " " + line
    parsed = []
    for entry in entries:
        oid_text, _, value = entry.partition(" = ")
        oid = tuple(int(p) for p in oid_text.strip(".").split("."))
        parsed.append((oid, _netsnmp_value(value.strip())))
    return parsed


def _netsnmp_value(text: str) -> object:
    for prefix, name in _EXCEPTIONS.items():
        if text.startswith(prefix):
            return name
    if text.startswith("Hex-STRING:"):
        return bytes.fromhex(text.removeprefix("Hex-STRING:"))
    if text.startswith("STRING:") or text == '""':
        return text.removeprefix("STRING:").strip().strip('"').encode()
    if text.startswith("OID:"):
        return tuple(int(p) for p in text.removeprefix("OID:").strip().strip(".").split("."))
    match = re.fullmatch(r"(?:[\w-]+: )?(-?\d+)", text)
    if match:
        return int(match.group(1))
    raise ValueError(f"unparsed net-snmp value {text!r}")


def normalise(varbinds: list[Varbind]) -> list[tuple[tuple[int, ...], object]]:
    names = {
        Tag.NO_SUCH_OBJECT: "noSuchObject",
        Tag.NO_SUCH_INSTANCE: "noSuchInstance",
        Tag.END_OF_MIB_VIEW: "endOfMibView",
    }
    return [(vb.oid, names.get(vb.tag, vb.value)) for vb in varbinds]


def without_uptime(rows):
    return [(oid, None if oid == SYS_UPTIME else value) for oid, value in rows]


FORMAT = ["-On", "-Ox", "-Ot", "-Oe"]


def dotted(oid) -> str:
    return "." + ".".join(map(str, oid))


# -- equality with net-snmp --------------------------------------------------------------------


@pytest.mark.parametrize("pair", PAIRS, ids=pair_id)
async def test_get_matches_snmpget(snmpd: Snmpd, pair) -> None:
    peer = await open_peer(
        snmpd, make_user(*pair) if pair[0] is not AuthProtocol.NONE else UsmUser(NOAUTH_USER)
    )
    with peer.sock:
        ours = await peer.request(PduType.GET, GET_OIDS)
        engine = (await peer.request(PduType.GET, [SNMP_ENGINE_ID])).varbinds[0].value
    assert peer.session.engine_id == engine  # discovery found the agent's snmpEngineID
    args = snmpd.netsnmp_args(*pair, name=None if pair[0] is not AuthProtocol.NONE else NOAUTH_USER)
    theirs = parse_netsnmp(
        snmpd.run_tool("snmpget", [*FORMAT, *args, snmpd.peer, *map(dotted, GET_OIDS)])
    )
    assert normalise(ours.varbinds) == theirs
    assert any(value == b"printerhq interop lab" for _, value in theirs)


@pytest.mark.parametrize("pair", PAIRS, ids=pair_id)
async def test_bulkwalk_matches_snmpbulkwalk(snmpd: Snmpd, pair) -> None:
    user = make_user(*pair) if pair[0] is not AuthProtocol.NONE else UsmUser(NOAUTH_USER)
    peer = await open_peer(snmpd, user)
    with peer.sock:
        ours = await peer.walk(SYSTEM, max_repetitions=7)
    args = snmpd.netsnmp_args(*pair, name=None if pair[0] is not AuthProtocol.NONE else NOAUTH_USER)
    theirs = parse_netsnmp(
        snmpd.run_tool("snmpbulkwalk", [*FORMAT, "-Cr7", *args, snmpd.peer, dotted(SYSTEM)])
    )
    assert len(theirs) > 20
    assert without_uptime(normalise(ours)) == without_uptime(theirs)


async def test_getnext_walk_equals_bulk_walk(snmpd: Snmpd) -> None:
    peer = await open_peer(snmpd, make_user(AuthProtocol.SHA256, PrivProtocol.AES))
    with peer.sock:
        by_bulk = await peer.walk(SYSTEM, max_repetitions=50)
        by_next = await peer.walk_getnext(SYSTEM)
        assert without_uptime(normalise(by_bulk)) == without_uptime(normalise(by_next))


async def test_one_discovery_serves_many_requests(snmpd: Snmpd) -> None:
    peer = await open_peer(snmpd, make_user(AuthProtocol.SHA512, PrivProtocol.AES256))
    with peer.sock:
        engine = await peer.discover()
        for _ in range(5):
            await peer.request(PduType.GET, GET_OIDS[:1])
        assert peer.session.engine_id == engine


# -- error cases: each its own exception, never a bare timeout -------------------------------


async def _get_with(snmpd: Snmpd, user: UsmUser, timeout: float = 2.0) -> Pdu:
    peer = await open_peer(snmpd, user)
    with peer.sock:
        return await peer.request(PduType.GET, GET_OIDS[:1], timeout=timeout)


async def test_unknown_user(snmpd: Snmpd) -> None:
    with pytest.raises(UnknownUserName) as caught:
        await _get_with(snmpd, make_user(AuthProtocol.SHA, PrivProtocol.AES, name="nobody"))
    assert caught.value.from_agent


@pytest.mark.parametrize("priv", [PrivProtocol.NONE, PrivProtocol.DES, PrivProtocol.AES])
async def test_wrong_auth_passphrase(snmpd: Snmpd, priv) -> None:
    user = make_user(
        AuthProtocol.SHA256,
        priv,
        auth_pass="not-the-auth-pass",
        name=user_name(AuthProtocol.SHA256, priv),
    )
    with pytest.raises(WrongDigest) as caught:
        await _get_with(snmpd, user)
    assert caught.value.from_agent


@pytest.mark.parametrize("priv", [PrivProtocol.DES, PrivProtocol.AES, PrivProtocol.AES256])
async def test_wrong_priv_passphrase(snmpd: Snmpd, priv) -> None:
    user = make_user(AuthProtocol.SHA, priv, priv_pass="not-the-priv-pass")
    with pytest.raises(DecryptionError) as caught:
        await _get_with(snmpd, user, timeout=1.0)
    assert "privacy passphrase" in str(caught.value)


async def test_priv_asked_of_an_auth_only_user(snmpd: Snmpd) -> None:
    user = UsmUser(
        user_name(AuthProtocol.SHA, PrivProtocol.NONE),
        AuthProtocol.SHA,
        AUTH_PASS,
        PrivProtocol.AES,
        PRIV_PASS,
    )
    with pytest.raises(UnsupportedSecLevel) as caught:
        await _get_with(snmpd, user)
    assert caught.value.from_agent


async def test_auth_asked_of_a_noauth_user(snmpd: Snmpd) -> None:
    with pytest.raises(UnsupportedSecLevel):
        await _get_with(snmpd, UsmUser(NOAUTH_USER, AuthProtocol.MD5, AUTH_PASS))


async def test_unknown_engine_id(snmpd: Snmpd) -> None:
    peer = await open_peer(snmpd, make_user(AuthProtocol.SHA, PrivProtocol.AES))
    peer.session.set_engine(bytes.fromhex("8000000001020304050607"), 1, 1)
    with peer.sock, pytest.raises(UnknownEngineId) as caught:
        await peer.request(PduType.GET, GET_OIDS[:1])
    assert caught.value.from_agent


@pytest.mark.parametrize("skew", ["boots", "time"])
async def test_not_in_time_window_then_resync(snmpd: Snmpd, skew: str) -> None:
    peer = await open_peer(snmpd, make_user(AuthProtocol.SHA384, PrivProtocol.AES))
    with peer.sock:
        await peer.discover()
        true_boots = peer.session.engine_boots
        if skew == "boots":
            peer.session.set_engine(peer.session.engine_id, true_boots + 5, 0)
        else:
            peer.session.set_engine(
                peer.session.engine_id, true_boots, peer.session.engine_time + 10_000
            )
        request_id = next(_ids)
        data = peer.session.encode_request(
            Pdu(PduType.GET, request_id, varbinds=[Varbind(GET_OIDS[0])])
        )
        with pytest.raises(NotInTimeWindow) as caught:
            peer.session.decode_response(await peer.exchange(data, request_id))
        assert caught.value.from_agent and caught.value.engine_boots == true_boots
        assert peer.session.engine_boots == true_boots  # adopted from the authenticated report
        pdu = await peer.request(PduType.GET, GET_OIDS[:1])  # and the next request works
        assert pdu.varbinds[0].tag == Tag.OCTET_STRING


# -- through the trio client (shared socket, credential seam) --------------------------------


def client_target(snmpd: Snmpd, *credentials) -> Target:
    return Target("127.0.0.1", snmpd.port, credentials=list(credentials))


@pytest.mark.parametrize(
    "pair",
    [
        (AuthProtocol.MD5, PrivProtocol.DES),
        (AuthProtocol.SHA, PrivProtocol.AES),
        (AuthProtocol.SHA256, PrivProtocol.AES),
        (AuthProtocol.SHA512, PrivProtocol.AES256),
        (AuthProtocol.SHA224, PrivProtocol.NONE),
    ],
    ids=pair_id,
)
async def test_client_get_bulk_walk_match_netsnmp(snmpd: Snmpd, pair) -> None:
    credential = UsmCredential(make_user(*pair))
    target = client_target(snmpd, credential)
    args = snmpd.netsnmp_args(*pair)
    async with SnmpClient(allowed=ANY_OID, timeout=2.0, retries=0) as client:
        got = await client.get(target, GET_OIDS)
        bulk = await client.get_bulk(target, [SYSTEM], max_repetitions=5)
        walked = [vb async for vb in client.walk(target, SYSTEM, max_repetitions=7)]
        sent_before_second_walk = client.stats.packets_sent
        again = [vb async for vb in client.walk(target, SYSTEM, max_repetitions=50)]
    theirs = parse_netsnmp(
        snmpd.run_tool("snmpget", [*FORMAT, *args, snmpd.peer, *map(dotted, GET_OIDS)])
    )
    assert normalise(got) == theirs
    theirs_walk = parse_netsnmp(
        snmpd.run_tool("snmpbulkwalk", [*FORMAT, "-Cr7", *args, snmpd.peer, dotted(SYSTEM)])
    )
    assert without_uptime(normalise(walked)) == without_uptime(theirs_walk)
    assert without_uptime(normalise(again)) == without_uptime(theirs_walk)
    assert without_uptime(normalise(bulk)) == without_uptime(theirs_walk[:5])
    # Discovery happened once: the second walk (all rows in one GETBULK) is one datagram.
    assert client.stats.packets_sent - sent_before_second_walk == 1
    assert target.credential is credential


async def test_client_shares_socket_between_v2c_and_v3(snmpd: Snmpd) -> None:
    v3 = client_target(snmpd, UsmCredential(make_user(AuthProtocol.SHA256, PrivProtocol.AES)))
    v2c = client_target(snmpd, Community(COMMUNITY))
    async with SnmpClient(allowed=ANY_OID, timeout=2.0, retries=0) as client:
        results: dict[str, list] = {}

        async def fetch(name: str, target: Target) -> None:
            results[name] = [await client.get(target, GET_OIDS) for _ in range(10)]

        async with trio.open_nursery() as nursery:
            nursery.start_soon(fetch, "v3", v3)
            nursery.start_soon(fetch, "v2c", v2c)
    assert results["v3"] == results["v2c"]


@pytest.mark.parametrize(
    "user, expected",
    [
        (make_user(AuthProtocol.SHA, PrivProtocol.AES, name="nobody"), UnknownUserName),
        (make_user(AuthProtocol.SHA, PrivProtocol.AES, auth_pass="wrong-auth-pass"), WrongDigest),
        (
            make_user(AuthProtocol.SHA, PrivProtocol.AES, priv_pass="wrong-priv-pass"),
            DecryptionError,
        ),
        (
            make_user(AuthProtocol.MD5, PrivProtocol.DES, priv_pass="wrong-priv-pass"),
            DecryptionError,
        ),
        (
            UsmUser(
                user_name(AuthProtocol.SHA, PrivProtocol.NONE),
                AuthProtocol.SHA,
                AUTH_PASS,
                PrivProtocol.AES,
                PRIV_PASS,
            ),
            UnsupportedSecLevel,
        ),
    ],
    ids=["unknown-user", "wrong-auth", "wrong-priv-aes", "wrong-priv-des", "unsupported-level"],
)
async def test_client_errors_are_specific(snmpd: Snmpd, user: UsmUser, expected) -> None:
    credential = UsmCredential(user)
    async with SnmpClient(allowed=ANY_OID, timeout=1.0, retries=0) as client:
        with pytest.raises(SnmpV3Error) as caught:
            await client.get(client_target(snmpd, credential), GET_OIDS[:1])
    assert type(caught.value.usm_error) is expected
    assert not isinstance(caught.value, SnmpTimeout)
    for secret in ("wrong-auth-pass", "wrong-priv-pass", AUTH_PASS, PRIV_PASS):
        assert secret not in str(caught.value) and secret not in repr(credential)


async def test_client_falls_back_to_next_credential(snmpd: Snmpd) -> None:
    wrong = UsmCredential(make_user(AuthProtocol.SHA, PrivProtocol.AES, name="nobody"))
    target = client_target(snmpd, wrong, Community(COMMUNITY))
    async with SnmpClient(allowed=ANY_OID, timeout=1.0, retries=0) as client:
        await client.get(target, GET_OIDS[:1])
    assert isinstance(target.credential, Community)


@pytest.mark.parametrize("skew", ["boots", "time"])
async def test_client_resyncs_on_not_in_time_window(snmpd: Snmpd, skew: str) -> None:
    credential = UsmCredential(make_user(AuthProtocol.SHA, PrivProtocol.AES))
    target = client_target(snmpd, credential)
    async with SnmpClient(allowed=ANY_OID, timeout=2.0, retries=0) as client:
        await client.get(target, GET_OIDS[:1])
        session = credential.session_for(target)
        boots = session.engine_boots
        if skew == "boots":
            session.set_engine(session.engine_id, boots + 3, 0)
        else:
            session.set_engine(session.engine_id, boots, session.engine_time + 5000)
        sent = client.stats.packets_sent
        [varbind] = await client.get(target, GET_OIDS[:1])
        assert client.stats.packets_sent - sent == 2  # rejected once, re-synced, retried once
    assert varbind.tag == Tag.OCTET_STRING
    assert session.engine_boots == boots


# -- end to end through the Scanner (what `printerhq scan --v3-user ...` runs) ----------------


async def _scan_once(snmpd: Snmpd, credential) -> list:
    options = ScanOptions(
        port=snmpd.port, credentials=[credential], timeout=1.0, retries=0, collect=False
    )
    async with Scanner(options) as scanner:
        async with scanner.scan(["127.0.0.1"]) as reports:
            return [report async for report in reports]


async def test_scanner_over_v3(snmpd: Snmpd) -> None:
    [report] = await _scan_once(
        snmpd, UsmCredential(make_user(AuthProtocol.SHA256, PrivProtocol.AES))
    )
    assert report.protocol == "snmpv3/authPriv"
    assert not report.errors


async def test_scanner_reports_wrong_auth_as_device_error(snmpd: Snmpd) -> None:
    user = make_user(AuthProtocol.SHA256, PrivProtocol.AES, auth_pass="wrong-auth-pass")
    [report] = await _scan_once(snmpd, UsmCredential(user))
    assert len(report.errors) == 1 and "wrongDigest" in report.errors[0]
    assert "wrong-auth-pass" not in report.errors[0]


@pytest.mark.parametrize(
    "ours, theirs",
    [
        ((AuthProtocol.SHA512, PrivProtocol.AES), (AuthProtocol.SHA256, PrivProtocol.AES)),
        ((AuthProtocol.MD5, PrivProtocol.NONE), (AuthProtocol.SHA, PrivProtocol.NONE)),
    ],
    ids=["sha512-vs-sha256", "md5-vs-sha"],
)
async def test_wrong_auth_protocol_is_wrong_digest(snmpd: Snmpd, ours, theirs) -> None:
    user = make_user(*ours, name=user_name(*theirs))
    with pytest.raises(WrongDigest):
        await _get_with(snmpd, user)


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (PrivProtocol.AES256, PrivProtocol.AES192),
        (PrivProtocol.DES, PrivProtocol.AES),
        (PrivProtocol.AES256_REEDER, PrivProtocol.AES256),
    ],
)
async def test_wrong_priv_protocol_is_decryption_error(snmpd: Snmpd, ours, theirs) -> None:
    # MD5 gives 16-octet keys, so the AES-256 key extensions really differ.
    user = make_user(AuthProtocol.MD5, ours, name=user_name(AuthProtocol.MD5, theirs))
    with pytest.raises(DecryptionError):
        await _get_with(snmpd, user, timeout=1.0)
