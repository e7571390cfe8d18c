"""USM (RFC 3414, RFC 7860, RFC 3826): key vectors, pysnmp differential, round-trips, tampering,
time window and report mapping, all sans-IO."""

from __future__ import annotations

from hashlib import md5, sha1

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder as ber_decoder
from pyasn1.type import univ

# pysnmp's USM service must be imported before its eso modules (circular import otherwise).
from pysnmp.proto.secmod.rfc3414.service import UsmSecurityParameters as PyUsmParams

# isort: split
from pysnmp.proto.mpmod.rfc3412 import ScopedPDU as PyScopedPDU
from pysnmp.proto.mpmod.rfc3412 import SNMPv3Message
from pysnmp.proto.secmod.eso.priv.aes192 import Aes192 as PyAes192Reeder
from pysnmp.proto.secmod.eso.priv.aes192 import AesBlumenthal192
from pysnmp.proto.secmod.eso.priv.aes256 import Aes256 as PyAes256Reeder
from pysnmp.proto.secmod.eso.priv.aes256 import AesBlumenthal256
from pysnmp.proto.secmod.rfc3414 import localkey
from pysnmp.proto.secmod.rfc3414.auth.hmacmd5 import HmacMd5
from pysnmp.proto.secmod.rfc3414.auth.hmacsha import HmacSha
from pysnmp.proto.secmod.rfc3414.priv.des import Des as PyDes
from pysnmp.proto.secmod.rfc3826.priv.aes import Aes as PyAes
from pysnmp.proto.secmod.rfc7860.auth.hmacsha2 import HmacSha2

from printerhq.snmp.ber import SnmpDecodeError
from printerhq.snmp.message import Pdu, PduType, Varbind
from printerhq.snmp.usm import (
    AuthProtocol,
    DecryptionError,
    NotInTimeWindow,
    PrivProtocol,
    ReportError,
    SecurityLevel,
    UnknownEngineId,
    UnknownUserName,
    UnsupportedSecLevel,
    UsmError,
    UsmSession,
    UsmUser,
    WrongDigest,
    decrypt_scoped_pdu,
    encrypt_scoped_pdu,
    localize_key,
    localized_priv_key,
    password_to_key,
)
from printerhq.snmp.v3 import decode_v3_message

ENGINE = bytes.fromhex("80001f8880e9bd0c1d12667a5100000000")
SYS_DESCR = (1, 3, 6, 1, 2, 1, 1, 1, 0)

PY_AUTH = {
    AuthProtocol.MD5: (HmacMd5.SERVICE_ID, HmacMd5(), md5),
    AuthProtocol.SHA: (HmacSha.SERVICE_ID, HmacSha(), sha1),
    **{
        proto: (oid, HmacSha2(oid), HmacSha2.HASH_ALGORITHM[oid])
        for proto, oid in (
            (AuthProtocol.SHA224, HmacSha2.SHA224_SERVICE_ID),
            (AuthProtocol.SHA256, HmacSha2.SHA256_SERVICE_ID),
            (AuthProtocol.SHA384, HmacSha2.SAH384_SERVICE_ID),
            (AuthProtocol.SHA512, HmacSha2.SHA512_SERVICE_ID),
        )
    },
}
PY_PRIV = {
    PrivProtocol.DES: PyDes,
    PrivProtocol.AES: PyAes,
    PrivProtocol.AES192: AesBlumenthal192,
    PrivProtocol.AES256: AesBlumenthal256,
    PrivProtocol.AES192_REEDER: PyAes192Reeder,
    PrivProtocol.AES256_REEDER: PyAes256Reeder,
}
AUTHS = [a for a in AuthProtocol if a is not AuthProtocol.NONE]
PRIVS = [p for p in PrivProtocol if p is not PrivProtocol.NONE]

passphrases = st.binary(min_size=8, max_size=40)
engine_ids = st.binary(min_size=5, max_size=32)


def user_for(
    auth: AuthProtocol,
    priv: PrivProtocol,
    name: str = "alice",
    auth_pass: str = "auth-secret-1",
    priv_pass: str = "priv-secret-1",
) -> UsmUser:
    return UsmUser(
        name,
        auth,
        None if auth is AuthProtocol.NONE else auth_pass,
        priv,
        None if priv is PrivProtocol.NONE else priv_pass,
    )


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def session(
    user: UsmUser, boots: int = 3, engine_time: int = 5000, clock: FakeClock | None = None
) -> UsmSession:
    s = UsmSession(user, clock=clock or FakeClock())
    s.set_engine(ENGINE, boots, engine_time)
    return s


# -- keys -------------------------------------------------------------------------------------


def test_rfc3414_appendix_a3_vectors() -> None:
    """RFC 3414 A.3.1 (MD5) and A.3.2 (SHA): password "maplesyrup", engine-id 00..02."""
    engine = bytes.fromhex("000000000000000000000002")
    ku = password_to_key(b"maplesyrup", "md5")
    assert ku.hex() == "9faf3283884e92834ebc9847d8edd963"
    assert localize_key(ku, engine, "md5").hex() == "526f5eed9fcce26f8964c2930787d82b"
    ku = password_to_key(b"maplesyrup", "sha1")
    assert ku.hex() == "9fb5cc0381497b3793528939ff788d5d79145211"
    assert localize_key(ku, engine, "sha1").hex() == "6695febc9288e36282235fc7151f128497b38f3f"


@settings(deadline=None, max_examples=12)
@given(st.sampled_from(AUTHS), passphrases, engine_ids)
def test_localisation_matches_pysnmp(auth: AuthProtocol, passphrase: bytes, engine: bytes) -> None:
    _oid, _service, hash_func = PY_AUTH[auth]
    ours = localize_key(password_to_key(passphrase, auth.hash_name), engine, auth.hash_name)
    theirs = localkey.password_to_key(passphrase, univ.OctetString(engine), hash_func)
    assert ours == bytes(theirs)
    assert len(ours) == hash_func().digest_size


@settings(deadline=None, max_examples=40)
@given(
    st.sampled_from(AUTHS), st.sampled_from(PRIVS), st.binary(min_size=16, max_size=64), engine_ids
)
def test_priv_key_extension_matches_pysnmp(
    auth: AuthProtocol, priv: PrivProtocol, master: bytes, engine: bytes
) -> None:
    """Blumenthal and Reeder key extension and DES/AES truncation, against pysnmp's eso/rfc3826
    services (their ``localize_key`` takes the already hashed master key Ku)."""
    oid = PY_AUTH[auth][0]
    theirs = PY_PRIV[priv]().localize_key(oid, univ.OctetString(master), univ.OctetString(engine))
    assert localized_priv_key(master, engine, auth, priv) == bytes(theirs)[: priv.key_length]


def test_key_cache_hits_per_engine() -> None:
    user = user_for(AuthProtocol.SHA256, PrivProtocol.AES, auth_pass="cache-test-pass")
    session(user)
    before = password_to_key.cache_info().hits
    session(user)
    assert password_to_key.cache_info().hits >= before + 2  # auth and priv Ku from the cache


# -- ciphers and MACs against pysnmp ---------------------------------------------------------


@settings(deadline=None)
@given(
    st.sampled_from([PrivProtocol.AES, PrivProtocol.AES192, PrivProtocol.AES256]),
    st.binary(min_size=32, max_size=32),
    st.integers(0, 2**31 - 1),
    st.integers(0, 2**31 - 1),
    st.binary(min_size=8, max_size=8),
    st.binary(max_size=300),
)
def test_aes_matches_pysnmp(priv, key, boots, engine_time, salt, plaintext) -> None:
    key = key[: priv.key_length]
    service = PY_PRIV[priv]()
    ours = encrypt_scoped_pdu(priv, key, boots, engine_time, salt, plaintext)
    assert len(ours) == len(plaintext)  # CFB: no padding
    back = service.decrypt_data(
        univ.OctetString(key), (boots, engine_time, list(salt)), univ.OctetString(ours)
    )
    assert bytes(back) == plaintext
    assert decrypt_scoped_pdu(priv, key, boots, engine_time, salt, ours) == plaintext


@settings(deadline=None)
@given(
    st.binary(min_size=16, max_size=16),
    st.integers(0, 2**31 - 1),
    st.integers(0, 2**32 - 1),
    st.binary(max_size=300),
)
def test_des_matches_pysnmp(key, boots, local_int, plaintext) -> None:
    service = PyDes()
    service.local_int = local_int
    ciphertext, salt = service.encrypt_data(univ.OctetString(key), (boots, 0, None), plaintext)
    salt = bytes(salt)
    assert salt == boots.to_bytes(4, "big") + local_int.to_bytes(4, "big")
    # pysnmp pads a full block when already aligned; both are valid (RFC 3414 8.1.1.2).
    ours = decrypt_scoped_pdu(PrivProtocol.DES, key, boots, 0, salt, bytes(ciphertext))
    assert ours[: len(plaintext)] == plaintext
    mine = encrypt_scoped_pdu(PrivProtocol.DES, key, boots, 0, salt, plaintext)
    assert len(mine) % 8 == 0
    back = service.decrypt_data(
        univ.OctetString(key), (boots, 0, univ.OctetString(salt)), univ.OctetString(mine)
    )
    assert bytes(back)[: len(plaintext)] == plaintext


varbind_lists = st.lists(
    st.one_of(
        st.builds(
            Varbind,
            st.lists(st.integers(0, 2**32 - 1), max_size=10).map(lambda t: (1, 3, 6, 1, *t)),
            st.just(0x05),
            st.none(),
        ),
        st.builds(Varbind, st.just(SYS_DESCR), st.just(0x04), st.binary(max_size=200)),
    ),
    max_size=6,
)
pdus = st.builds(
    Pdu,
    st.sampled_from([PduType.GET, PduType.GET_NEXT, PduType.GET_BULK]),
    st.integers(0x800000, 0x7FFFFFFF),
    st.integers(0, 5),
    st.integers(0, 50),
    varbind_lists,
)
pairs = st.sampled_from(
    [(a, p) for a in AUTHS for p in (PrivProtocol.NONE, *PRIVS)]
    + [(AuthProtocol.NONE, PrivProtocol.NONE)]
)


@settings(deadline=None)
@given(pairs, pdus)
def test_pysnmp_verifies_and_decrypts_our_requests(pair, pdu: Pdu) -> None:
    """pysnmp, acting as the agent: its HMAC check passes on our bytes, its cipher decrypts our
    scoped PDU, and pyasn1 reads the PDU we meant."""
    auth, priv = pair
    user = user_for(auth, priv)
    ours = session(user)
    data = ours.encode_request(pdu)
    message, rest = ber_decoder.decode(data, asn1Spec=SNMPv3Message())
    assert rest == b""
    usm, _ = ber_decoder.decode(bytes(message["msgSecurityParameters"]), asn1Spec=PyUsmParams())
    if auth is not AuthProtocol.NONE:
        service = PY_AUTH[auth][1]
        key = univ.OctetString(user.auth_key(ENGINE))
        service.authenticate_incoming_message(key, usm["msgAuthenticationParameters"], data)
    if priv is PrivProtocol.NONE:
        scoped_bytes = None
        scoped = message["msgData"]["plaintext"]
    else:
        service = PY_PRIV[priv]()
        params = (
            int(usm["msgAuthoritativeEngineBoots"]),
            int(usm["msgAuthoritativeEngineTime"]),
            list(bytes(usm["msgPrivacyParameters"])),
        )
        if priv is PrivProtocol.DES:
            params = params[:2] + (usm["msgPrivacyParameters"],)
        scoped_bytes = bytes(
            service.decrypt_data(
                univ.OctetString(user.priv_key(ENGINE)), params, message["msgData"]["encryptedPDU"]
            )
        )
        scoped, _ = ber_decoder.decode(scoped_bytes, asn1Spec=PyScopedPDU())
    assert bytes(scoped["contextEngineId"]) == ENGINE
    inner = scoped["data"].getComponent()
    assert int(inner["request-id"]) == pdu.request_id
    assert [tuple(vb["name"]) for vb in inner["variable-bindings"]] == [v.oid for v in pdu.varbinds]


# -- round trips, tampering -------------------------------------------------------------------


@settings(deadline=None)
@given(pairs, pdus)
def test_round_trip(pair, pdu: Pdu) -> None:
    """What one session encodes, a session with the same user and engine decodes, unchanged."""
    s = session(user_for(*pair))
    assert s.decode_response(s.encode_request(pdu)) == pdu


@settings(deadline=None)
@given(st.sampled_from(AUTHS), st.sampled_from([PrivProtocol.NONE, *PRIVS]), pdus, st.data())
def test_any_flipped_bit_is_rejected(auth, priv, pdu, data) -> None:
    s = session(user_for(auth, priv))
    encoded = bytearray(s.encode_request(pdu))
    position = data.draw(st.integers(0, len(encoded) * 8 - 1))
    encoded[position // 8] ^= 1 << (position % 8)
    with pytest.raises((UsmError, SnmpDecodeError)):
        s.decode_response(bytes(encoded))


@settings(deadline=None)
@given(st.sampled_from(AUTHS), st.sampled_from(PRIVS), pdus, st.data())
def test_flips_in_mac_or_ciphertext_are_wrong_digest(auth, priv, pdu, data) -> None:
    """Flips that leave the BER structure intact can only be caught by the HMAC."""
    s = session(user_for(auth, priv))
    encoded = bytearray(s.encode_request(pdu))
    message, located = decode_v3_message(bytes(encoded))
    ciphertext_start = len(encoded) - len(message.encrypted_pdu)
    region = data.draw(st.sampled_from(["mac", "ciphertext"]))
    if region == "mac":
        at = data.draw(st.integers(located.auth_start, located.auth_stop - 1))
    else:
        at = data.draw(st.integers(ciphertext_start, len(encoded) - 1))
    encoded[at] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises(WrongDigest):
        s.decode_response(bytes(encoded))


def test_wrong_privacy_key_on_our_side_is_decryption_error() -> None:
    agent = session(user_for(AuthProtocol.SHA, PrivProtocol.AES))
    ours = session(user_for(AuthProtocol.SHA, PrivProtocol.AES, priv_pass="not-the-same"))
    response = agent.encode_request(
        Pdu(PduType.RESPONSE, 0x800001, varbinds=[Varbind(SYS_DESCR, 0x04, b"printer")])
    )
    with pytest.raises(DecryptionError):
        ours.decode_response(response)


def test_des_ciphertext_not_multiple_of_8_is_decryption_error() -> None:
    with pytest.raises(DecryptionError):
        decrypt_scoped_pdu(PrivProtocol.DES, bytes(16), 1, 1, bytes(8), bytes(12))


def test_privacy_probe() -> None:
    user = user_for(AuthProtocol.SHA256, PrivProtocol.AES)
    ours = session(user)
    agent = session(user_for(AuthProtocol.SHA256, PrivProtocol.NONE))  # same auth key, no priv
    probe = ours.privacy_probe_request(0x800005)
    seen, _ = decode_v3_message(probe)
    assert seen.authenticated and not seen.encrypted
    answer = agent.encode_request(
        Pdu(
            PduType.RESPONSE,
            0x800005,
            varbinds=[Varbind((1, 3, 6, 1, 6, 3, 10, 2, 1, 3, 0), 0x02, 12)],
        )
    )
    assert isinstance(ours.handle_privacy_probe(answer), DecryptionError)
    # A forged (unauthenticated) answer proves nothing.
    forged = session(UsmUser("alice")).encode_request(Pdu(PduType.RESPONSE, 0x800005))
    with pytest.raises(UsmError):
        ours.handle_privacy_probe(forged)


# -- reports ----------------------------------------------------------------------------------

REPORTS = {
    1: UnsupportedSecLevel,
    2: NotInTimeWindow,
    3: UnknownUserName,
    4: UnknownEngineId,
    5: WrongDigest,
    6: DecryptionError,
}


@pytest.mark.parametrize("counter", sorted(REPORTS))
def test_unauthenticated_reports_map_to_errors(counter: int) -> None:
    agent = session(UsmUser(""))
    report = agent.encode_request(
        Pdu(
            PduType.REPORT, 0, varbinds=[Varbind((1, 3, 6, 1, 6, 3, 15, 1, 1, counter, 0), 0x41, 9)]
        )
    )
    ours = session(user_for(AuthProtocol.SHA, PrivProtocol.AES))
    with pytest.raises(REPORTS[counter]) as caught:
        ours.decode_response(report)
    assert caught.value.from_agent
    assert type(caught.value) is REPORTS[counter]


def test_other_report_is_report_error() -> None:
    agent = session(UsmUser(""))
    report = agent.encode_request(
        Pdu(PduType.REPORT, 0, varbinds=[Varbind((1, 3, 6, 1, 6, 3, 11, 2, 1, 2, 0), 0x41, 1)])
    )
    with pytest.raises(ReportError, match="snmpInvalidMsgs"):
        session(UsmUser("bob")).decode_response(report)


def test_discovery() -> None:
    ours = UsmSession(user_for(AuthProtocol.SHA, PrivProtocol.DES), clock=FakeClock())
    request = ours.discovery_request(77)
    message, _ = decode_v3_message(request)
    assert message.flags == 0x04 and message.security.engine_id == b""
    assert message.security.user_name == b"" and message.scoped_pdu.pdu.varbinds == []
    with pytest.raises(UnknownEngineId):
        ours.encode_request(Pdu(PduType.GET, 0x800001))
    agent = session(UsmUser(""), boots=9, engine_time=1234)
    report = agent.encode_request(
        Pdu(PduType.REPORT, 77, varbinds=[Varbind((1, 3, 6, 1, 6, 3, 15, 1, 1, 4, 0), 0x41, 1)])
    )
    assert ours.handle_discovery(report) == ENGINE
    assert (ours.engine_boots, ours.engine_time) == (9, 1234)


# -- time window (RFC 3414 section 3.2 step 7.b) ----------------------------------------------


def _response_at(boots: int, engine_time: int) -> bytes:
    agent = session(user_for(AuthProtocol.SHA, PrivProtocol.AES), boots, engine_time)
    return agent.encode_request(Pdu(PduType.RESPONSE, 0x800001))


def test_time_window() -> None:
    clock = FakeClock(50.0)
    ours = session(user_for(AuthProtocol.SHA, PrivProtocol.AES), 3, 5000, clock)
    clock.now += 100  # our notion of the agent's time is now 5100
    assert ours.engine_time == 5100
    ours.decode_response(_response_at(3, 5100 - 150))  # at the edge: accepted
    with pytest.raises(NotInTimeWindow) as caught:
        ours.decode_response(_response_at(3, 5100 - 151))
    assert not caught.value.from_agent
    with pytest.raises(NotInTimeWindow):
        ours.decode_response(_response_at(2, 9000))  # older boots
    ours.decode_response(_response_at(4, 10))  # agent rebooted: adopted
    assert (ours.engine_boots, ours.engine_time) == (4, 10)


@given(st.integers(0, 2**31 - 2), st.integers(0, 2**31 - 1))
def test_authenticated_not_in_time_window_report_resyncs(boots: int, engine_time: int) -> None:
    ours = session(user_for(AuthProtocol.SHA512, PrivProtocol.AES256), 7, 100)
    agent = session(user_for(AuthProtocol.SHA512, PrivProtocol.NONE), boots, engine_time)
    report = agent.encode_request(
        Pdu(
            PduType.REPORT,
            0x800001,
            varbinds=[Varbind((1, 3, 6, 1, 6, 3, 15, 1, 1, 2, 0), 0x41, 3)],
        )
    )
    with pytest.raises(NotInTimeWindow) as caught:
        ours.decode_response(report)
    assert (caught.value.engine_boots, caught.value.engine_time) == (boots, engine_time)
    assert (ours.engine_boots, ours.engine_time) == (boots, engine_time)
    request, _ = decode_v3_message(ours.encode_request(Pdu(PduType.GET, 0x800002)))
    assert (request.security.engine_boots, request.security.engine_time) == (boots, engine_time)


def test_response_at_lower_level_rejected() -> None:
    ours = session(user_for(AuthProtocol.SHA, PrivProtocol.AES))
    downgraded = session(user_for(AuthProtocol.SHA, PrivProtocol.NONE)).encode_request(
        Pdu(PduType.RESPONSE, 0x800001)
    )
    with pytest.raises(UnsupportedSecLevel):
        ours.decode_response(downgraded)
    plain = session(UsmUser("alice")).encode_request(Pdu(PduType.RESPONSE, 0x800001))
    with pytest.raises(UnsupportedSecLevel):
        ours.decode_response(plain)


# -- users ------------------------------------------------------------------------------------


def test_user_repr_hides_secrets() -> None:
    user = UsmUser(
        "carol", AuthProtocol.SHA256, "very-secret-auth", PrivProtocol.AES, "very-secret-priv"
    )
    for text in (repr(user), str(user), repr(session(user))):
        assert "very-secret" not in text and "carol" in text
    assert user.security_level is SecurityLevel.AUTH_PRIV


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(name="x", priv_protocol=PrivProtocol.AES, priv_passphrase="12345678"),
        dict(name="x", auth_protocol=AuthProtocol.SHA),
        dict(name="x", auth_protocol=AuthProtocol.SHA, auth_passphrase="short"),
        dict(name="x" * 33),
        dict(name="x", auth_passphrase="12345678"),
    ],
)
def test_user_validation(kwargs) -> None:
    with pytest.raises(ValueError):
        UsmUser(**kwargs)


# -- the reverse: pysnmp's primitives build the message, we decode it ------------------------


def _pysnmp_response(
    user: UsmUser, request_id: int, value: bytes, boots: int, engine_time: int
) -> bytes:
    """A Response as pysnmp's codec, auth and priv services would put it on the wire."""
    from pyasn1.codec.ber import encoder as ber_encoder
    from pysnmp.proto import api

    proto = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
    response = proto.GetResponsePDU()
    proto.apiPDU.set_defaults(response)
    proto.apiPDU.set_request_id(response, request_id)
    proto.apiPDU.set_varbinds(response, [(SYS_DESCR, proto.OctetString(value))])
    scoped = PyScopedPDU()
    scoped["contextEngineId"] = ENGINE
    scoped["contextName"] = b""
    scoped.setComponentByPosition(2)
    scoped.getComponentByPosition(2).setComponentByType(
        response.tagSet, response, verifyConstraints=False, matchTags=False, matchConstraints=False
    )
    scoped_bytes = ber_encoder.encode(scoped)
    auth, priv = user.auth_protocol, user.priv_protocol
    usm = PyUsmParams()
    usm["msgAuthoritativeEngineId"] = ENGINE
    usm["msgAuthoritativeEngineBoots"] = boots
    usm["msgAuthoritativeEngineTime"] = engine_time
    usm["msgUserName"] = user.name
    usm["msgAuthenticationParameters"] = bytes(auth.mac_length)
    usm["msgPrivacyParameters"] = b""
    message = SNMPv3Message()
    message["msgVersion"] = 3
    header = message.setComponentByPosition(1).getComponentByPosition(1)
    header["msgID"] = request_id
    header["msgMaxSize"] = 65507
    header["msgFlags"] = bytes((0x01 | (0x02 if priv is not PrivProtocol.NONE else 0),))
    header["msgSecurityModel"] = 3
    data = message.setComponentByPosition(3).getComponentByPosition(3)
    if priv is PrivProtocol.NONE:
        data.setComponentByPosition(0, scoped)
    else:
        service = PY_PRIV[priv]()
        ciphertext, salt = service.encrypt_data(
            univ.OctetString(user.priv_key(ENGINE)), (boots, engine_time, None), scoped_bytes
        )
        usm["msgPrivacyParameters"] = salt
        data["encryptedPDU"] = ciphertext
    message["msgSecurityParameters"] = ber_encoder.encode(usm)
    whole = ber_encoder.encode(message)
    return PY_AUTH[auth][1].authenticate_outgoing_message(
        univ.OctetString(user.auth_key(ENGINE)), whole
    )


@settings(deadline=None)
@given(
    st.sampled_from(AUTHS),
    st.sampled_from([PrivProtocol.NONE, *PRIVS]),
    st.integers(0x800000, 0x7FFFFFFF),
    st.binary(max_size=300),
)
def test_we_decode_what_pysnmp_builds(auth, priv, request_id, value) -> None:
    user = user_for(auth, priv)
    ours = session(user, boots=3, engine_time=5000)
    wire = _pysnmp_response(user, request_id, value, 3, 5000)
    pdu = ours.decode_response(wire)
    assert pdu == Pdu(PduType.RESPONSE, request_id, 0, 0, [Varbind(SYS_DESCR, 0x04, value)])
