"""The trap receiver's decisions without sockets: outcomes always add up, token buckets per
source and global bound what is decoded, unknown sources cost no decoding, options validate."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from printerhq.mib.alerts import PRINTER_V2_ALERT
from printerhq.ratelimit import TokenBucket
from printerhq.snmp.ber import Tag
from printerhq.snmp.message import Message, Pdu, PduType, Varbind, Version, encode_message
from printerhq.snmp.trap import SNMP_TRAP_OID_0, SYS_UPTIME_0
from printerhq.snmp.trap_usm import NotificationReceiverUsm
from printerhq.traps import TrapConfigError, TrapOptions, TrapProcessor, TrapV3User
from printerhq.traps.options import parse_listen

from .strategies_snmp import codec_settings

KNOWN = {f"10.0.0.{n}" for n in range(1, 6)}


def trap(
    uptime: int = 1,
    pdu_type: PduType = PduType.TRAP_V2,
    community: bytes = b"public",
    code: int = 8,
) -> bytes:
    return encode_message(
        Message(
            Version.V2C,
            community,
            Pdu(
                pdu_type,
                12345,
                varbinds=[
                    Varbind(SYS_UPTIME_0, Tag.TIMETICKS, uptime),
                    Varbind(SNMP_TRAP_OID_0, Tag.OBJECT_IDENTIFIER, PRINTER_V2_ALERT),
                    Varbind((1, 3, 6, 1, 2, 1, 43, 18, 1, 1, 7, 1, 1), Tag.INTEGER, code),
                ],
            ),
        )
    )


def processor(**settings: object) -> TrapProcessor:
    options = TrapOptions(enabled=True, listen="127.0.0.1:0", **settings)  # type: ignore[arg-type]
    return TrapProcessor(options, KNOWN.__contains__, NotificationReceiverUsm([]))


def test_event_from_a_known_printer() -> None:
    handled = processor().handle(trap(code=1101), ("10.0.0.1", 40000), 0.0, 1.7e9)
    assert handled.outcome == "decoded" and handled.reply is None
    event = handled.event
    assert event is not None
    assert (event.source, event.port, event.version) == ("10.0.0.1", 40000, "v2c")
    assert event.meaning == "toner empty" and event.user is None
    assert event.received_at == 1.7e9 and event.uptime == 1


def test_inform_reply_and_counters() -> None:
    proc = processor()
    handled = proc.handle(trap(pdu_type=PduType.INFORM), ("10.0.0.1", 1), 0.0, 0.0)
    assert handled.reply is not None and handled.event is not None and handled.event.inform
    assert proc.stats.informs_answered == 1


def test_unknown_source_is_dropped_before_decoding() -> None:
    proc = processor()
    handled = proc.handle(b"\xff garbage that would be malformed", ("192.0.2.9", 1), 0.0, 0.0)
    assert handled.outcome == "unknown_source" and handled.event is None
    assert proc.stats.unknown_source == 1 and proc.stats.malformed == 0


def test_community_filter() -> None:
    proc = processor(communities=["printers"])
    assert proc.handle(trap(community=b"public"), ("10.0.0.1", 1), 0.0, 0.0).outcome == "rejected"
    assert proc.handle(trap(community=b"printers"), ("10.0.0.1", 1), 0.0, 0.0).event


def test_per_source_bucket_does_not_spend_the_global_budget() -> None:
    proc = processor(per_source_rate=1.0, per_source_burst=5, global_rate=1.0, global_burst=8)
    outcomes = [proc.handle(trap(), ("10.0.0.1", 1), 0.0, 0.0).outcome for _ in range(50)]
    assert outcomes.count("decoded") == 5
    # The noisy printer used 5 of the 8 global tokens, the others still get theirs.
    others = [proc.handle(trap(), (f"10.0.0.{n}", 1), 0.0, 0.0).outcome for n in (2, 3, 4, 5)]
    assert others == ["decoded", "decoded", "decoded", "rate_limited"]
    # Tokens come back with time.
    assert proc.handle(trap(), ("10.0.0.1", 1), 2.0, 0.0).outcome == "decoded"


def test_try_take_refuses_without_debt() -> None:
    bucket = TokenBucket(rate=10.0, burst=2)
    assert [bucket.try_take(0.0) for _ in range(3)] == [True, True, False]
    assert bucket.tokens == 0.0  # a refusal does not go into debt
    assert bucket.try_take(0.1)  # one token after 0.1 s at 10/s
    assert not bucket.try_take(0.1)


datagram = st.one_of(
    st.builds(trap, st.integers(0, 2**32 - 1), st.sampled_from([PduType.TRAP_V2, PduType.INFORM])),
    st.binary(max_size=64),
    st.just(b"\x30\x03\x02\x01\x03"),  # an SNMPv3 header and nothing else
    st.binary(min_size=9000, max_size=9001),
)


@codec_settings
@given(
    st.lists(
        st.tuples(datagram, st.sampled_from([*sorted(KNOWN), "10.9.9.9"]), st.floats(0, 0.5)),
        max_size=120,
    ),
    st.floats(0.5, 50),
    st.integers(1, 20),
    st.floats(0.5, 100),
    st.integers(1, 40),
)
def test_outcomes_add_up_and_buckets_bound_decoding(
    traffic, source_rate, source_burst, global_rate, global_burst
) -> None:
    proc = processor(
        per_source_rate=source_rate,
        per_source_burst=source_burst,
        global_rate=global_rate,
        global_burst=global_burst,
    )
    now = 0.0
    passed: dict[str, int] = {}
    for data, source, gap in traffic:
        now += gap
        handled = proc.handle(data, (source, 1), now, 0.0)
        if handled.outcome not in ("oversize", "unknown_source", "rate_limited"):
            passed[source] = passed.get(source, 0) + 1
        if source not in KNOWN:
            assert handled.outcome in ("oversize", "unknown_source")
    stats = proc.stats
    assert stats.received == len(traffic) == stats.outcomes()
    assert stats.informs_answered <= stats.decoded
    for count in passed.values():
        assert count <= source_burst + source_rate * now + 1e-9
    assert sum(passed.values()) <= global_burst + global_rate * now + 1e-9


def test_options_are_checked_with_clear_errors(tmp_path) -> None:
    with pytest.raises(msgspec.ValidationError, match="per_source_rate"):
        msgspec.convert({"per_source_rate": 0}, TrapOptions)
    with pytest.raises(msgspec.ValidationError, match="unknown field"):
        msgspec.convert({"enabeld": True}, TrapOptions)
    assert TrapOptions().enabled is False and TrapOptions().listen == "0.0.0.0:162"
    assert parse_listen("[::1]:1162") == ("::1", 1162)
    for bad in ("printer.example:162", "0.0.0.0", "127.0.0.1:70000"):
        with pytest.raises(TrapConfigError, match=r"traps\.listen"):
            parse_listen(bad)
    secrets = tmp_path / "v3"
    secrets.write_text("auth=SHA:auth-pass-phrase\npriv=AES:priv-pass-phrase\n")
    secrets.chmod(0o644)
    with pytest.raises(TrapConfigError, match="chmod 600"):
        TrapV3User(user="u", file=str(secrets)).usm_user()
    secrets.chmod(0o600)
    user = TrapV3User(user="u", file=str(secrets)).usm_user()
    assert user.name == b"u" and user.security_level.name == "AUTH_PRIV"
    assert "pass-phrase" not in repr(user)
