"""Target lists: syntax, errors, lazy iteration, exclusions, hostname resolution.

No packets: resolution uses names from /etc/hosts or trio's custom-resolver hook (an unknown name
would otherwise go to the configured DNS server, which is not loopback).
"""

from __future__ import annotations

import ipaddress
import itertools
import socket
import tracemalloc

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from printerhq.targets import (
    DEFAULT_MAX_IPV6,
    TargetError,
    TargetSpec,
    load_target_file,
    parse_targets,
    resolve,
)

V4 = ipaddress.IPv4Address
V6 = ipaddress.IPv6Address


def addrs(spec: TargetSpec) -> list[str]:
    return [str(a) for a in spec.addresses()]


# ---------------------------------------------------------------------------- syntax


def test_single_cidr_range_and_shorthand():
    assert addrs(parse_targets("10.0.0.7")) == ["10.0.0.7"]
    assert addrs(parse_targets("10.0.0.0/30")) == ["10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.3"]
    assert addrs(parse_targets("10.0.0.254-10.0.1.1")) == [
        "10.0.0.254",
        "10.0.0.255",
        "10.0.1.0",
        "10.0.1.1",
    ]
    assert addrs(parse_targets("10.0.0.1-3")) == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    assert (
        parse_targets("10.0.0.1-3.254").count()
        == parse_targets("10.0.0.1-10.0.3.254").count()
        == 3 * 256 + 254
    )


def test_host_bits_set_means_the_network_as_in_nmap():
    assert addrs(parse_targets("192.168.1.77/30")) == addrs(parse_targets("192.168.1.76-79"))


def test_separators_and_comments():
    text = """
    # office printers
    10.0.0.1, 10.0.0.2 10.0.0.3,,10.0.0.4   # trailing comment 10.0.0.99
    10.0.0.5\t10.0.0.6
    """
    assert addrs(parse_targets(text)) == [f"10.0.0.{i}" for i in range(1, 7)]


def test_iterable_of_tokens_like_argv():
    assert addrs(parse_targets(["10.0.0.1", "10.0.0.3-4", "!10.0.0.4"])) == ["10.0.0.1", "10.0.0.3"]


def test_exclusions_apply_regardless_of_order():
    a = parse_targets("!10.0.3.0/24 10.0.0.0/22")
    b = parse_targets("10.0.0.0/22 !10.0.3.0/24")
    assert addrs(a) == addrs(b)
    assert a.count() == 768
    assert V4("10.0.3.5") not in a and V4("10.0.2.255") in a


def test_overlaps_are_deduplicated_and_sorted():
    spec = parse_targets("10.0.0.5-9 10.0.0.0/29 10.0.0.8 10.0.0.1")
    assert addrs(spec) == [f"10.0.0.{i}" for i in range(0, 10)]
    assert spec.count() == 10


def test_ipv6_prefix_range_and_order_after_ipv4():
    spec = parse_targets("2001:db8::/126 10.0.0.1 ::1 2001:db8::10-2001:db8::11")
    assert addrs(spec) == [
        "10.0.0.1",
        "::1",
        "2001:db8::",
        "2001:db8::1",
        "2001:db8::2",
        "2001:db8::3",
        "2001:db8::10",
        "2001:db8::11",
    ]


def test_ipv6_size_limit_default_and_configurable():
    assert parse_targets("2001:db8::/112").count() == DEFAULT_MAX_IPV6
    with pytest.raises(TargetError) as info:
        parse_targets("10.0.0.1 2001:db8::/64")
    assert info.value.position == 2 and "limit" in info.value.reason
    assert parse_targets("2001:db8::/104", max_ipv6=2**24).count() == 2**24
    with pytest.raises(TargetError):
        parse_targets("2001:db8::1-2001:db8::1:1")  # 65,537 addresses: one over the limit


def test_hostnames_are_kept_for_resolution():
    spec = parse_targets("printer-3.example, 10.0.0.1 !old-printer.example. HP_Lobby")
    assert [(h.name, h.exclude, h.position) for h in spec.hostnames] == [
        ("printer-3.example", False, 1),
        ("old-printer.example", True, 3),
        ("hp_lobby", False, 4),
    ]
    assert spec.unresolved and spec.count() == 1


@pytest.mark.parametrize(
    "text, token, position, words",
    [
        ("10.0.0.1 10.0.0.2 10.0.0.300", "10.0.0.300", 3, "IPv4"),
        ("10.0.0.1-0", "10.0.0.1-0", 1, "before"),
        ("10.0.0.1-256", "10.0.0.1-256", 1, "0-255"),
        ("10.0.0.0/33", "10.0.0.0/33", 1, "network"),
        ("10.0.0.1-::5", "10.0.0.1-::5", 1, "mixes"),
        ("a, !", "!", 2, "followed"),
        ("bad..name", "bad..name", 1, "label"),
        ("-lead.example", "-lead.example", 1, "label"),
        ("10.0.0.1-printer", "10.0.0.1-printer", 1, "address"),
        ("fe80::1%eth0", "fe80::1%eth0", 1, "zone"),
        ("imprimante.exämple", "imprimante.exämple", 1, "ASCII"),
        ("10.0.0.1 @x", "@x", 2, "not allowed"),
        ("::ffff:10.0.0.1", "::ffff:10.0.0.1", 1, "IPv4-mapped"),
        ("::fffe:0-::1:0:0:1", "::fffe:0-::1:0:0:1", 1, "IPv4-mapped"),
    ],
)
def test_malformed_token_is_named_with_its_position(text, token, position, words):
    with pytest.raises(TargetError) as info:
        parse_targets(text, allow_files=False)
    err = info.value
    assert (err.token, err.position) == (token, position)
    assert words in err.reason
    assert str(err).startswith(f"bad target {token!r} (token {position})")


# ---------------------------------------------------------------------------- files


def test_target_file_and_nested_include(tmp_path):
    (tmp_path / "more.txt").write_text("10.0.1.1\n!10.0.0.2\n")
    main = tmp_path / "targets.txt"
    main.write_text("# site A\n10.0.0.1-3\n@more.txt  # relative to this file\n")
    spec = load_target_file(main)
    assert addrs(spec) == ["10.0.0.1", "10.0.0.3", "10.0.1.1"]
    # the same through an @ token on the command line
    assert addrs(parse_targets(f"@{main} 10.0.2.1")) == [
        "10.0.0.1",
        "10.0.0.3",
        "10.0.1.1",
        "10.0.2.1",
    ]


def test_file_errors_name_file_and_line(tmp_path):
    f = tmp_path / "t.txt"
    f.write_text("10.0.0.1\n\n10.0.0.2 10.0.0.999\n")
    with pytest.raises(TargetError) as info:
        load_target_file(f)
    assert info.value.token == "10.0.0.999" and info.value.position == 3
    assert "t.txt line 3" in str(info.value)


def test_missing_and_self_including_files(tmp_path):
    with pytest.raises(TargetError, match="cannot read"):
        load_target_file(tmp_path / "absent.txt")
    with pytest.raises(TargetError, match="cannot read"):
        parse_targets("@absent.txt", base_dir=tmp_path)
    loop = tmp_path / "loop.txt"
    loop.write_text("10.0.0.1 @loop.txt\n")
    with pytest.raises(TargetError, match="includes itself"):
        load_target_file(loop)


# ---------------------------------------------------------------------------- laziness


def test_slash_8_iterates_in_bounded_memory():
    spec = parse_targets("10.0.0.0/8 !10.128.0.0/9")
    assert spec.count() == 2**23
    tracemalloc.start()
    try:
        it = spec.addresses()
        first = [next(it) for _ in range(1000)]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert first[0] == V4("10.0.0.0") and first[-1] == V4("10.0.3.231")
    # 1000 IPv4Address objects kept in `first` cost ~100 KB; a materialised /9 would be ~800 MB.
    assert peak < 1_000_000


def test_membership_without_iteration():
    spec = parse_targets("10.0.0.0/8 !10.1.0.0/16 2001:db8::/120")
    assert "10.2.3.4" in spec and "10.1.3.4" not in spec and "11.0.0.0" not in spec
    assert "2001:db8::ff" in spec and "2001:db8::100" not in spec and "nonsense" not in spec


# ---------------------------------------------------------------------------- properties

small_v4 = st.integers(min_value=0, max_value=300).map(lambda n: V4(int(V4("10.0.0.0")) + n))
small_v6 = st.integers(min_value=0, max_value=300).map(lambda n: V6(int(V6("2001:db8::")) + n))


@st.composite
def token_and_set(draw):
    """A random token over a small address space, and the set of addresses it denotes."""
    kind = draw(st.sampled_from(["addr", "range", "short", "cidr", "addr6", "cidr6"]))
    if kind in ("addr", "addr6"):
        a = draw(small_v4 if kind == "addr" else small_v6)
        return str(a), {a}
    if kind == "range":
        a, b = sorted([draw(small_v4), draw(small_v4)])
        return f"{a}-{b}", {V4(i) for i in range(int(a), int(b) + 1)}
    if kind == "short":
        a = draw(small_v4)
        last = draw(st.integers(int(str(a).split(".")[-1]), 255))
        return f"{a}-{last}", {V4(i) for i in range(int(a), (int(a) & ~0xFF) + last + 1)}
    prefix = draw(st.integers(24, 32) if kind == "cidr" else st.integers(120, 128))
    net = ipaddress.ip_network(
        f"{draw(small_v4 if kind == 'cidr' else small_v6)}/{prefix}", strict=False
    )
    return f"{net}", set(net)


@settings(deadline=None, max_examples=150)
@given(st.lists(st.tuples(st.booleans(), token_and_set()), max_size=8))
def test_spec_equals_set_model(tokens):
    text = " ".join(("!" if excl else "") + tok for excl, (tok, _) in tokens)
    included = set().union(*[s for excl, (_, s) in tokens if not excl])
    excluded = set().union(*[s for excl, (_, s) in tokens if excl])
    expected = sorted(included - excluded, key=lambda a: (a.version, int(a)))
    spec = parse_targets(text)
    got = list(spec.addresses())
    assert got == expected  # ascending, deduplicated, exclusions as set difference
    assert spec.count() == len(got)
    for a, b in itertools.pairwise(got):
        assert (a.version, int(a)) < (b.version, int(b))
    for a in list(included)[:20]:
        assert (a in spec) == (a in set(expected))


@settings(deadline=None, max_examples=300)
@given(
    st.text(alphabet=st.sampled_from("0123456789abcdefx.:/-!@#%, \n_xn"), max_size=40)
    | st.text(max_size=30)
)
def test_parse_raises_only_target_error(text):
    try:
        spec = parse_targets(text, allow_files=False)
    except TargetError as err:
        assert err.token and err.position >= 1
        return
    # Whatever parses is usable: counting never iterates, so it is cheap even for a huge prefix.
    assert spec.count() >= 0


# ---------------------------------------------------------------------------- resolution


class FakeNetworkResolver(trio.abc.HostnameResolver):
    """trio's resolver hook, so unknown names never reach the (non-loopback) DNS server."""

    def __init__(self, table: dict[str, list[str]], hang: set[str] = frozenset()):
        self.table, self.hang, self.asked = table, hang, []

    async def getaddrinfo(self, host, port, family=0, type=0, proto=0, flags=0):
        name = host.decode() if isinstance(host, bytes) else host
        self.asked.append(name)
        if name in self.hang:
            await trio.sleep_forever()
        if name not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        out = []
        for a in self.table[name]:
            ip = ipaddress.ip_address(a)
            if family not in (0, socket.AF_UNSPEC) and family != (
                socket.AF_INET if ip.version == 4 else socket.AF_INET6
            ):
                continue
            fam = socket.AF_INET if ip.version == 4 else socket.AF_INET6
            out.append(
                (fam, socket.SOCK_DGRAM, 17, "", (a, 0) if ip.version == 4 else (a, 0, 0, 0))
            )
        return out

    async def getnameinfo(self, sockaddr, flags):
        raise NotImplementedError


@pytest.fixture
async def fake_resolver():
    def install(table, hang=frozenset()):
        resolver = FakeNetworkResolver(table, hang)
        trio.socket.set_custom_hostname_resolver(resolver)
        return resolver

    yield install
    trio.socket.set_custom_hostname_resolver(None)


async def test_resolve_localhost_from_etc_hosts():
    spec = parse_targets("localhost 127.0.0.9")
    resolved, errors = await resolve(spec, family=socket.AF_INET)
    assert errors == []
    assert not resolved.unresolved
    assert V4("127.0.0.1") in resolved and V4("127.0.0.9") in resolved


async def test_resolve_records_failures_and_applies_exclusions(fake_resolver):
    fake_resolver({"printer-a.lan": ["127.0.0.5", "::1"], "old.lan": ["127.0.0.6"]})
    spec = parse_targets("printer-a.lan missing.lan 127.0.0.6-7 !old.lan !gone.lan")
    resolved, errors = await resolve(spec)
    assert addrs(resolved) == ["127.0.0.5", "127.0.0.7", "::1"]
    assert [name for name, _ in errors] == ["!gone.lan", "missing.lan"]
    assert all("not known" in why for _, why in errors)


async def test_resolve_family_filter(fake_resolver):
    fake_resolver({"dual.lan": ["127.0.0.5", "::1"], "v6only.lan": ["::1"]})
    resolved, errors = await resolve(parse_targets("dual.lan v6only.lan"), family=socket.AF_INET)
    assert addrs(resolved) == ["127.0.0.5"]
    assert errors and errors[0][0] == "v6only.lan"


async def test_resolve_timeout_is_per_name(fake_resolver, autojump_clock):
    resolver = fake_resolver({"fast.lan": ["127.0.0.8"]}, hang={"slow.lan"})
    start = trio.current_time()
    resolved, errors = await resolve(parse_targets("slow.lan fast.lan"), timeout=5)
    assert addrs(resolved) == ["127.0.0.8"]
    assert errors == [("slow.lan", "lookup timed out after 5 s")]
    assert trio.current_time() - start == pytest.approx(5)  # virtual time (MockClock)
    assert sorted(resolver.asked) == ["fast.lan", "slow.lan"]


async def test_resolve_bounds_concurrency(fake_resolver, autojump_clock):
    names = [f"h{i}.lan" for i in range(10)]
    fake_resolver({}, hang=set(names))
    start = trio.current_time()
    _, errors = await resolve(parse_targets(" ".join(names)), max_concurrent=2, timeout=1)
    assert len(errors) == 10
    # Two at a time, each waiting its full timeout: five rounds of virtual seconds.
    assert trio.current_time() - start == pytest.approx(5)
