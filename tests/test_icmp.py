"""ICMP echo: packet codec properties, and the Pinger on loopback only (127.0.0.0/8, ::1)."""

from __future__ import annotations

import ipaddress
import logging
import socket
import struct

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from printerhq.icmp import (
    ICMP_ECHO_REPLY,
    ICMPV6_ECHO_REPLY,
    EchoReply,
    EchoTemplate,
    Pinger,
    encode_echo_request,
    internet_checksum,
    parse_echo_reply,
)

u16 = st.integers(0, 0xFFFF)
payloads = st.binary(max_size=64)


def _can_open(family: int, kind: int, proto: int) -> bool:
    try:
        socket.socket(family, kind, proto).close()
        return True
    except OSError:
        return False


RAW_V4 = _can_open(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
RAW_V6 = _can_open(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
DGRAM_V4 = _can_open(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
needs_raw = pytest.mark.skipif(not RAW_V4, reason="no CAP_NET_RAW: raw ICMP sockets not permitted")


def ipv4_header(src: str, dst: str, payload_len: int, ihl_words: int = 5, proto: int = 1) -> bytes:
    options = b"\x01" * (ihl_words * 4 - 20)  # NOP options, to exercise IHL skipping
    header = (
        struct.pack(
            "!BBHHHBBH4s4s",
            0x40 | ihl_words,
            0,
            ihl_words * 4 + payload_len,
            0,
            0,
            64,
            proto,
            0,
            ipaddress.IPv4Address(src).packed,
            ipaddress.IPv4Address(dst).packed,
        )
        + options
    )
    return header[:10] + internet_checksum(header).to_bytes(2, "big") + header[12:]


def as_reply(request: bytes, v6: bool) -> bytes:
    """What a peer sends back: the request with the type changed (RFC 792, RFC 4443 4.2)."""
    kind = ICMPV6_ECHO_REPLY if v6 else ICMP_ECHO_REPLY
    body = bytes([kind]) + request[1:2] + b"\x00\x00" + request[4:]
    return body if v6 else body[:2] + internet_checksum(body).to_bytes(2, "big") + body[4:]


# ---------------------------------------------------------------------------- codec


def reference_checksum(data: bytes) -> int:
    # RFC 1071 section 4.1, written as the RFC's C loop for an independent model.
    total, i = 0, 0
    while len(data) - i > 1:
        total += (data[i] << 8) + data[i + 1]
        i += 2
    if len(data) - i == 1:
        total += data[i] << 8
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


@given(st.binary(max_size=300))
def test_checksum_matches_rfc1071_loop(data):
    assert internet_checksum(data) == reference_checksum(data)


@given(u16, u16, payloads)
def test_checksum_of_encoded_request_verifies_to_zero(ident, seq, payload):
    packet = encode_echo_request(ident, seq, payload)
    assert internet_checksum(packet) == 0
    assert packet[0] == 8 and packet[1] == 0 and len(packet) == 8 + len(payload)


@given(u16, u16, payloads, st.booleans(), st.integers(5, 15))
def test_reply_round_trip(ident, seq, payload, v6, ihl):
    reply = as_reply(encode_echo_request(ident, seq, payload, v6=v6), v6)
    parsed = parse_echo_reply(reply, raw=False, v6=v6)
    assert parsed == EchoReply("reply", ident, seq, 129 if v6 else 0, 0, payload)
    if not v6:  # a raw IPv4 socket also delivers the IP header, options included
        framed = ipv4_header("127.0.0.2", "127.0.0.1", len(reply), ihl) + reply
        assert parse_echo_reply(framed, raw=True, v6=False) == parsed


@given(u16, u16, st.booleans())
def test_requests_are_not_replies(ident, seq, v6):
    # A raw socket sees our own requests looped back on lo: they must not count as replies.
    assert parse_echo_reply(encode_echo_request(ident, seq, v6=v6), raw=False, v6=v6) is None


@given(u16, u16, st.integers(0, 15))
def test_destination_unreachable_quoting_our_request(ident, seq, code):
    request = encode_echo_request(ident, seq)
    quoted = ipv4_header("192.0.2.9", "127.0.0.77", len(request)) + request
    error = bytes([3, code, 0, 0, 0, 0, 0, 0]) + quoted
    error = error[:2] + internet_checksum(error).to_bytes(2, "big") + error[4:]
    framed = ipv4_header("127.0.0.1", "192.0.2.9", len(error)) + error
    parsed = parse_echo_reply(framed, raw=True, v6=False)
    assert parsed is not None
    assert (parsed.kind, parsed.ident, parsed.seq, parsed.icmp_code) == (
        "unreachable",
        ident,
        seq,
        code,
    )
    assert parsed.destination == ipaddress.IPv4Address("127.0.0.77")


@given(u16, u16)
def test_icmpv6_unreachable_quoting_our_request(ident, seq):
    request = encode_echo_request(ident, seq, v6=True)
    ip6 = struct.pack(
        "!IHBB16s16s",
        6 << 28,
        len(request),
        58,
        64,
        ipaddress.IPv6Address("::1").packed,
        ipaddress.IPv6Address("2001:db8::5").packed,
    )
    error = bytes([1, 3, 0, 0, 0, 0, 0, 0]) + ip6 + request
    parsed = parse_echo_reply(error, raw=True, v6=True)
    assert parsed is not None and parsed.kind == "unreachable"
    assert (parsed.ident, parsed.seq, parsed.destination) == (
        ident,
        seq,
        ipaddress.IPv6Address("2001:db8::5"),
    )


@given(u16, u16, payloads, st.integers(0, 200), st.integers(0, 7))
def test_corrupted_ipv4_reply_is_rejected(ident, seq, payload, where, bit):
    reply = bytearray(as_reply(encode_echo_request(ident, seq, payload), v6=False))
    reply[where % len(reply)] ^= 1 << bit
    framed = ipv4_header("127.0.0.2", "127.0.0.1", len(reply)) + bytes(reply)
    parsed = parse_echo_reply(framed, raw=True, v6=False)
    # A single flipped bit always breaks the one's-complement sum (RFC 1071).
    assert parsed is None


@settings(deadline=None)
@given(st.binary(max_size=120), st.booleans(), st.booleans())
def test_parser_never_raises(data, raw, v6):
    result = parse_echo_reply(data, raw=raw, v6=v6)
    assert result is None or isinstance(result, EchoReply)


def test_encode_rejects_out_of_range_fields():
    with pytest.raises(ValueError):
        encode_echo_request(0x10000, 0)
    with pytest.raises(ValueError):
        encode_echo_request(1, -1)


# ---------------------------------------------------------------------------- pinger on loopback


@needs_raw
async def test_raw_ping_loopback():
    async with Pinger() as pinger:
        assert pinger.mode == "raw"
        rtt = await pinger.ping("127.0.0.1")
        assert rtt is not None and rtt >= 0
        assert await pinger.ping(ipaddress.IPv4Address("127.9.8.7"), retries=1) is not None
        assert pinger.counters.packets_sent == 2
        assert pinger.counters.bytes_sent == 16  # minimal payload: 8-byte ICMP header only
        assert pinger.counters.replies_matched == 2


@pytest.mark.skipif(not RAW_V6 or not socket.has_ipv6, reason="no raw ICMPv6")
async def test_raw_ping_ipv6_loopback():
    async with Pinger() as pinger:
        if pinger.modes.get(6) == "off":
            pytest.skip("ICMPv6 socket unavailable")
        assert await pinger.ping("::1") is not None


@needs_raw
async def test_many_concurrent_pings_all_matched():
    targets = [f"127.{i // 250}.{(i * 7) % 250}.{i % 250 + 1}" for i in range(500)]
    assert len(set(targets)) == 500
    results: dict[str, float | None] = {}
    async with Pinger(max_in_flight=128) as pinger:

        async def one(address: str) -> None:
            results[address] = await pinger.ping(address, timeout=5.0)

        async with trio.open_nursery() as nursery:
            for address in targets:
                nursery.start_soon(one, address)
        assert pinger.counters.replies_matched == 500
    assert all(results[a] is not None for a in targets)


@needs_raw
async def test_two_pingers_do_not_steal_each_others_replies():
    # Raw sockets each receive every reply on the host; identifiers keep them apart.
    async with Pinger() as a, Pinger() as b:
        if a._ident == b._ident:
            pytest.skip("identifier collision (1 in 65536)")
        b._seq = a._seq  # same sequence numbers to the same addresses: only the identifier differs
        async with trio.open_nursery() as nursery:
            for i in range(50):
                nursery.start_soon(a.ping, f"127.0.1.{i + 1}")
                nursery.start_soon(b.ping, f"127.0.1.{i + 1}")
        assert a.counters.replies_matched == 50 and b.counters.replies_matched == 50


def _set_raw_filter(pinger: Pinger, block_all: bool) -> None:
    """Make loopback look silent to this pinger's IPv4 raw socket (Linux ICMP_FILTER).

    Every loopback address answers echo, so a silent host is made with the kernel's per-socket
    filter: the reply is really sent and really dropped before our socket, without touching any
    system setting.
    """
    sock = pinger._families[4].sock
    mask = 0xFFFFFFFF if block_all else 0xFFFFFFFF & ~((1 << 0) | (1 << 3) | (1 << 11) | (1 << 12))
    sock.setsockopt(255, 1, struct.pack("=I", mask))  # SOL_RAW, ICMP_FILTER


@needs_raw
async def test_timeout_and_retries_on_a_silent_host(autojump_clock):
    async with Pinger() as pinger:
        _set_raw_filter(pinger, block_all=True)
        start = trio.current_time()
        result = await pinger.probe("127.0.0.1", timeout=2.0, retries=2)
        assert result.status == "timeout" and result.rtt is None
        assert trio.current_time() - start == pytest.approx(6.0)  # 3 attempts x 2 s, virtual
        assert pinger.counters.packets_sent == 3 and pinger.counters.replies_matched == 0
        _set_raw_filter(pinger, block_all=False)
        assert await pinger.ping("127.0.0.1", timeout=2.0) is not None
        assert pinger.counters.replies_matched == 1


@needs_raw
async def test_retry_after_a_lost_reply(autojump_clock):
    async with Pinger() as pinger:
        _set_raw_filter(pinger, block_all=True)
        outcome = []

        async def probe():
            outcome.append(await pinger.probe("127.0.0.4", timeout=1.0, retries=2))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(probe)
            await trio.sleep(0.5)  # the first request is out and its reply was dropped
            _set_raw_filter(pinger, block_all=False)
        assert outcome[0].status == "reply" and outcome[0].rtt is not None
        assert pinger.counters.packets_sent == 2  # the second attempt answered; no third


def _unreachable(code: int, ident: int, seq: int, destination: str) -> bytes:
    """A destination-unreachable message quoting an echo request, as a router would send it."""
    request = encode_echo_request(ident, seq)
    body = (
        bytes([3, code, 0, 0, 0, 0, 0, 0])
        + ipv4_header("127.0.0.1", destination, len(request))
        + request
    )
    return body[:2] + internet_checksum(body).to_bytes(2, "big") + body[4:]


@needs_raw
async def test_unreachable_error_is_matched_only_with_our_identifier():
    # The pinger's socket passes only ICMP errors here (so the real echo reply is dropped); a
    # second raw socket plays the router and sends two errors to 127.0.0.1: one quoting a
    # foreign identifier (another pinger's), then one quoting ours.
    with trio.socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as router:
        async with Pinger() as pinger:
            pinger._families[4].sock.setsockopt(255, 1, struct.pack("=I", 0xFFFFFFFF & ~(1 << 3)))
            outcome = []

            async def probe():
                outcome.append(await pinger.probe("127.0.0.5", timeout=30.0))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(probe)
                for _ in range(1000):  # bounded wait for the request to be in flight
                    if pinger._families[4].pending:
                        break
                    await trio.sleep(0.01)
                ((_address, ident, seq),) = pinger._families[4].pending
                await router.sendto(
                    _unreachable(1, ident ^ 0x5A5A, seq, "127.0.0.5"), ("127.0.0.1", 0)
                )
                await router.sendto(_unreachable(3, ident, seq, "127.0.0.5"), ("127.0.0.1", 0))
            assert outcome[0].status == "unreachable"
            assert (
                outcome[0].detail == "ICMP type 3 code 3"
            )  # not code 1: the foreign one was ignored
            assert pinger.counters.errors_matched == 1


@needs_raw
async def test_in_flight_bound_is_respected(autojump_clock):
    async with Pinger(max_in_flight=3) as pinger:
        _set_raw_filter(pinger, block_all=True)
        async with trio.open_nursery() as nursery:
            for i in range(7):
                nursery.start_soon(pinger.ping, f"127.0.2.{i + 1}", 1.0)
            await trio.sleep(0.5)
            assert pinger.counters.packets_sent == 3  # the other four wait for a slot
            assert len(pinger._families[4].pending) == 3
        assert pinger.counters.packets_sent == 7
        assert not pinger._families[4].pending  # nothing left behind


@needs_raw
async def test_send_errors_are_results_not_exceptions():
    async with Pinger() as pinger:
        # The loopback broadcast address: the kernel refuses without SO_BROADCAST (EACCES),
        # which is also what keeps a scan of a /24 from pinging the whole segment via .255.
        result = await pinger.probe("127.255.255.255", timeout=5)
        assert result.status == "error" and result.detail
        for not_unicast in ("0.0.0.0", "::", "224.0.0.1"):
            assert (await pinger.probe(not_unicast)).status == "error"
        assert pinger.counters.packets_sent == 0
        assert await pinger.ping("127.0.0.1", timeout=5) is not None  # the socket still works


@needs_raw
async def test_ipv4_mapped_address_is_pinged_as_ipv4():
    async with Pinger() as pinger:
        assert await pinger.ping("::ffff:127.0.0.3", timeout=5) is not None
        assert pinger.counters.replies_matched == 1


@pytest.mark.skipif(
    not DGRAM_V4, reason="net.ipv4.ping_group_range does not allow datagram ICMP here"
)
async def test_datagram_mode_when_permitted():
    async with Pinger(mode="datagram") as pinger:
        assert pinger.mode == "datagram"
        assert await pinger.ping("127.0.0.1", timeout=5) is not None


@pytest.mark.skipif(
    DGRAM_V4, reason="datagram ICMP is permitted here, so it cannot be forced to fail"
)
async def test_forced_failure_turns_off_with_one_warning(caplog):
    caplog.set_level(logging.DEBUG, logger="printerhq.icmp")
    async with Pinger(mode=("datagram",)) as pinger:
        assert pinger.mode == "off"
        for address in ("127.0.0.1", "127.0.0.2", "::1"):
            assert await pinger.ping(address) is None
        assert pinger.counters.packets_sent == 0
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "off" in warnings[0].getMessage() and "ping_group_range" in warnings[0].getMessage()


async def test_mode_off_by_configuration_is_quiet(caplog, autojump_clock):
    caplog.set_level(logging.DEBUG, logger="printerhq.icmp")
    async with Pinger(mode="off") as pinger:
        start = trio.current_time()
        assert pinger.mode == "off"
        assert (await pinger.probe("127.0.0.1", timeout=30, retries=3)).status == "off"
        assert trio.current_time() == start  # returns at once: no timeout is waited out
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_unknown_mode_and_use_outside_context():
    with pytest.raises(ValueError):
        Pinger(mode="icmp-over-carrier-pigeon")
    with pytest.raises(RuntimeError):
        await Pinger().ping("127.0.0.1")


# -- the batched path: pre-encoded echoes and the reply sink ---------------------------------


@settings(deadline=None)
@given(u16, st.lists(u16, min_size=1, max_size=8), payloads, st.booleans())
def test_echo_template_renders_what_encode_echo_request_encodes(ident, seqs, payload, v6):
    template = EchoTemplate(ident, payload, v6)
    for seq in seqs:  # one template, many sequence numbers: nothing leaks between renders
        assert bytes(template.render(seq)) == encode_echo_request(ident, seq, payload, v6)


def test_echo_template_rejects_a_sequence_out_of_range():
    with pytest.raises(ValueError):
        EchoTemplate(1).render(0x10000)


async def test_send_echo_nowait_replies_reach_the_sink_and_probe_still_works():
    """Echoes sent without a task come back through the sink (peer and sequence as sent);
    a concurrent probe() keeps its own replies (the sink sees only unclaimed ones)."""
    async with Pinger() as pinger:
        if pinger.mode == "off":
            pytest.skip("ICMP off")
        seen: list[tuple[str, str, int]] = []
        arrived = trio.Event()
        wanted = {f"127.97.0.{i}" for i in range(1, 6)}

        def sink(peer, reply) -> None:
            if str(peer) in wanted:
                seen.append((str(peer), reply.kind, reply.seq))
                if len(seen) >= len(wanted):
                    arrived.set()

        pinger.add_sink(sink)
        sent: dict[str, int] = {}
        before = pinger.counters.packets_sent
        for address in sorted(wanted):
            seq = pinger.next_sequence()
            assert pinger.send_echo_nowait(address, 4, seq)
            sent[address] = seq
        assert pinger.counters.packets_sent - before == len(wanted)
        result = await pinger.probe("127.97.0.9", timeout=2.0)
        assert result.status == "reply"
        with trio.move_on_after(5):
            await arrived.wait()
        pinger.remove_sink(sink)
        assert sorted(seen) == sorted((a, "reply", s) for a, s in sent.items())
        assert all(peer != "127.97.0.9" for peer, _, _ in seen)  # probe() kept its reply
        assert pinger.send_echo_nowait("127.97.0.1", 4, 1)  # no sink: replies are dropped


async def test_send_echo_nowait_is_false_when_icmp_is_off():
    async with Pinger(mode="off") as pinger:
        assert pinger.send_echo_nowait("127.0.0.1", 4, 1) is False
