"""The network-level waste of issue 12, the parts that need no lab: what the kernel is told after
an ARP sweep, which addresses are ours, which reports are devices, and the names in a
self-signed certificate. (The lab measures the bytes: tests/test_bench_bytes.py.)"""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from hypothesis import given
from hypothesis import strategies as st

from printerhq.agent.cycle import wanted
from printerhq.arp import AttachedNetwork, neighbour_commands, own_addresses
from printerhq.model import DeviceReport, Identity
from printerhq.scan.outcome import is_device
from printerhq.server import tls

ETH0 = AttachedNetwork(
    "eth0",
    2,
    "02:00:00:00:00:01",
    ipaddress.IPv4Address("10.210.5.1"),
    ipaddress.IPv4Network("10.210.5.0/24"),
)
LO = AttachedNetwork(
    "lo",
    1,
    None,
    ipaddress.IPv4Address("127.0.0.1"),
    ipaddress.IPv4Network("127.0.0.0/8"),
    arp=False,
)


def test_the_kernel_learns_what_the_sweep_heard() -> None:
    lines = neighbour_commands({"10.210.5.10": "AA:BB:CC:00:00:10"}, [ETH0, LO])
    assert lines == ["neigh replace 10.210.5.10 lladdr aa:bb:cc:00:00:10 dev eth0 nud reachable"]


def test_pinned_entries_and_other_subnets_are_left_alone() -> None:
    live = {
        "10.210.5.10": "aa:bb:cc:00:00:10",
        "10.210.5.11": "aa:bb:cc:00:00:11",
        "10.210.6.12": "aa:bb:cc:00:00:12",  # not on an attached subnet
    }
    existing = [
        {"dst": "10.210.5.10", "dev": "eth0", "state": ["PERMANENT"]},
        {"dst": "10.210.5.11", "dev": "eth0", "state": ["STALE"]},
    ]
    lines = neighbour_commands(live, [ETH0], existing)
    assert lines == ["neigh replace 10.210.5.11 lladdr aa:bb:cc:00:00:11 dev eth0 nud reachable"]


def test_own_addresses_are_the_non_loopback_ones() -> None:
    assert own_addresses([ETH0, LO]) == {"10.210.5.1"}


def _report(**identity: object) -> DeviceReport:
    return DeviceReport(
        identity=Identity(address="10.210.5.77", **identity),  # type: ignore[arg-type]
        scanned_at=1.0,
        errors=["snmp: send failed: [Errno 113] No route to host"],
    )


def test_an_address_that_only_failed_is_not_a_device() -> None:
    # What `scan --arp off` makes of a blank address: the kernel's ARP failed, the send was
    # refused. It used to be uploaded and became a device named addr:10.x.y.z on the server.
    failed = _report()
    assert not is_device(failed)
    assert not wanted(failed)


def test_devices_with_problems_are_still_uploaded() -> None:
    assert wanted(_report(sys_descr="HP ETHERNET MULTI-ENVIRONMENT"))
    assert wanted(_report(is_printer=True))
    assert wanted(_report(mac="aa:bb:cc:00:00:10"))


@given(
    st.sampled_from(["vendor", "model", "serial", "mac", "sys_name", "sys_descr", "sys_object_id"])
)
def test_anything_the_device_said_makes_it_a_device(field: str) -> None:
    assert is_device(_report(**{field: "x"}))


def test_certificate_names_the_bind_address() -> None:
    assert tls.certificate_names("10.210.5.2")[0] == "10.210.5.2"
    assert tls.certificate_names("Printers.Example.")[0] == "printers.example"
    assert tls.certificate_names("[fd00::2]")[0] == "fd00::2"
    for wildcard in ("0.0.0.0", "::", ""):
        assert tls.certificate_names(wildcard) == list(tls.DEFAULT_NAMES)


def _sans(cert: Path) -> set[str]:
    loaded = x509.load_pem_x509_certificate(cert.read_bytes())
    san = loaded.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    ips = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    return ips | set(san.get_values_for_type(x509.DNSName))


def _handshake(cert: Path, key: Path, name: str) -> None:
    """A TLS 1.3 handshake in memory: the client verifies ``name`` against ``cert`` as an
    agent with ``ca_bundle`` does; raises ssl.SSLCertVerificationError on a mismatch."""
    bios = {side: (ssl.MemoryBIO(), ssl.MemoryBIO()) for side in ("client", "server")}
    server = tls.server_ssl_context(cert, key).wrap_bio(*bios["server"], server_side=True)
    client_context = ssl.create_default_context(cafile=str(cert))
    client = client_context.wrap_bio(*bios["client"], server_hostname=name)
    ends = (("client", client, "server"), ("server", server, "client"))
    for _ in range(10):
        done = 0
        for side, obj, peer in ends:
            try:
                obj.do_handshake()
                done += 1
            except ssl.SSLWantReadError:
                pass
            bios[peer][0].write(bios[side][1].read())  # our outgoing -> their incoming
        if done == 2:
            return
    raise AssertionError("handshake did not finish")


def test_self_signed_certificate_verifies_for_its_address(tmp_path: Path) -> None:
    cert, key = tls.ensure_self_signed(tmp_path, tls.certificate_names("10.210.5.2"))
    assert {"10.210.5.2", "localhost", "127.0.0.1", "::1"} <= _sans(cert)
    _handshake(cert, key, "10.210.5.2")
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        _handshake(cert, key, "10.210.5.3")


def test_an_existing_certificate_is_reissued_for_a_new_address(tmp_path: Path) -> None:
    cert, key = tls.ensure_self_signed(tmp_path)  # the old default: loopback names only
    key_before = key.read_bytes()
    assert "10.210.5.2" not in _sans(cert)
    cert, key = tls.ensure_self_signed(tmp_path, tls.certificate_names("10.210.5.2"))
    assert {"10.210.5.2", "localhost", "127.0.0.1", "::1"} <= _sans(cert)
    assert key.read_bytes() == key_before  # same key: the server keeps its identity
    again = cert.read_bytes()
    tls.ensure_self_signed(tmp_path, tls.certificate_names("10.210.5.2"))
    assert cert.read_bytes() == again  # covered: left as it is


async def test_closing_the_uplink_sends_no_close_handshake(tmp_path: Path) -> None:
    """Every batch is acknowledged before the uplink closes, so the close sends nothing more:
    no WebSocket Close frames and no TLS close_notify (TCP payload counted by a relay), only
    the TCP connection's end. Before: ~450 B and a 1 s wait ending in a reset."""
    import trio

    from printerhq.server.run import run_server
    from printerhq.uplink import TlsOptions, Uplink
    from tests.helpers_server import TcpProxy, make_report, new_token

    async with (
        run_server(tmp_path / "server", self_signed=True) as server,
        trio.open_nursery() as nursery,
    ):
        token = new_token()
        await server.store.add_agent("close", token)
        proxy = TcpProxy(server.port)
        await nursery.start(proxy.serve)
        async with Uplink(
            f"https://127.0.0.1:{proxy.port}",
            token,
            tmp_path / "spool",
            agent="close",
            transport="websocket",
            tls=TlsOptions(ca_bundle=str(server.certfile)),
        ) as uplink:
            await uplink.submit(make_report(1))
            assert await uplink.flush(30)
            await trio.sleep(0.2)  # late bytes of the exchange (none are expected) land first
            before = proxy.total_bytes
        with trio.move_on_after(5):  # the relay sees the connection end
            while proxy.connections and proxy._open_sockets:
                await trio.sleep(0.05)
        assert proxy.total_bytes == before
        nursery.cancel_scope.cancel()
