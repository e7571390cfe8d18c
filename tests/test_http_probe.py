"""The EWS probe: identify_ews (sans-IO, property tests) and probe_http against real HTTP and
HTTPS servers on loopback (self-signed certificate made with `cryptography`)."""

from __future__ import annotations

import datetime
import gzip
import ipaddress
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from printerhq.http import PROBE_PATHS, HttpProbeStats, identify_ews, page_title, probe_http
from tests.helpers_ews import BY_NAME, NOT_PRINTERS, SAMPLES, EwsSample

# -- identify_ews ----------------------------------------------------------------------------------


def _headers(sample: EwsSample) -> dict[str, str]:
    headers = {"Server": sample.server} if sample.server else {}
    headers.update(sample.extra_headers)
    return headers


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.name)
def test_identifies_samples(sample: EwsSample) -> None:
    found = identify_ews(200, _headers(sample), sample.html)
    assert found is not None
    assert found.vendor == sample.vendor
    if sample.model:
        assert found.model == sample.model
    if sample.serial:
        assert found.serial == sample.serial


@pytest.mark.parametrize("server,page", NOT_PRINTERS)
def test_ordinary_web_servers_are_not_printers(server: str | None, page: str) -> None:
    assert identify_ews(200, {"Server": server} if server else {}, page) is None


def test_header_forms_and_case() -> None:
    sample = BY_NAME["kyocera"]
    for headers in (
        {"SERVER": sample.server},
        [(b"server", sample.server.encode())],  # type: ignore[union-attr]
        httpx.Headers({"server": sample.server or ""}),
    ):
        found = identify_ews(200, headers, "")
        assert found is not None and found.vendor == "Kyocera" and found.confidence == "high"


text_or_bytes = st.one_of(st.text(max_size=200), st.binary(max_size=200))
header_pairs = st.lists(st.tuples(text_or_bytes, text_or_bytes), max_size=8)
fragments = st.sampled_from(
    [
        "<title>",
        "</title>",
        "<td>",
        "</td>",
        "Serial Number",
        ":",
        "Model",
        "\n",
        "HP LaserJet ",
        "Brother ",
        "<",
        ">",
        "&amp;",
        "&#x0;",
        "\x00",
        "Command Center RX",
        "Web Image Monitor",
    ]
)
bodies = st.one_of(
    st.text(max_size=2000),
    st.binary(max_size=2000),
    st.lists(st.one_of(fragments, st.text(max_size=20)), max_size=60).map("".join),
)


@settings(deadline=None)
@given(
    st.one_of(st.none(), st.integers(-1000, 1000)),
    st.one_of(
        header_pairs,
        st.dictionaries(st.text(max_size=30), st.text(max_size=200), max_size=6),
        st.none(),
    ),
    st.one_of(bodies, st.none()),
)
def test_identify_never_raises(status, headers, body) -> None:  # type: ignore[no-untyped-def]
    found = identify_ews(status, headers, body)
    if found is not None:
        assert found.vendor and found.confidence in ("high", "medium", "low")
        assert found.title is None or len(found.title) <= 200


@settings(deadline=None)
@given(
    st.from_regex(r"[A-Z0-9]{6,14}", fullmatch=True),
    st.from_regex(r"[A-Z]{2}-[A-Z0-9]{3,8}", fullmatch=True),
    st.sampled_from(["Serial Number", "Serial No.", "Serial", "S/N"]),
    st.sampled_from(["<td>{l}</td><td>{v}</td>", "<p>{l}: {v}</p>", "<dt>{l}</dt>\n<dd>{v}</dd>"]),
)
def test_labelled_serial_and_model_are_read(
    serial: str, model: str, label: str, layout: str
) -> None:
    rows = layout.format(l="Model Name", v=model) + layout.format(l=label, v=serial)
    page = f"<html><head><title>Remote UI</title></head><body>{rows}</body></html>"
    found = identify_ews(200, {"Server": "CANON HTTP Server"}, page)
    assert found is not None
    assert (found.vendor, found.model, found.serial) == ("Canon", model, serial)


@settings(deadline=None)
@given(st.text(max_size=300))
def test_title_is_clean(inner: str) -> None:
    title = page_title(f"<html><TITLE lang=x>{inner}</TITLE>")
    if title is not None:
        assert title == title.strip() and "  " not in title and len(title) <= 200
        assert all(ch.isprintable() for ch in title)


# -- real servers on loopback ---------------------------------------------------------------------

Handler = Callable[[BaseHTTPRequestHandler], None]


@contextmanager
def serve(
    handle: Handler, *, address: str = "127.0.0.1", tls: ssl.SSLContext | None = None
) -> Iterator[tuple[int, list[str]]]:
    """A threaded HTTP(S) server on ``address``, port 0; yields (port, paths requested)."""
    seen: list[str] = []

    class H(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            handle(self)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((address, 0), H)
    server.daemon_threads = True
    server.block_on_close = False
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def page(
    sample: EwsSample,
    body: bytes | None = None,
    status: int = 200,
    extra: dict[str, str] | None = None,
) -> Handler:
    def handle(h: BaseHTTPRequestHandler) -> None:
        data = sample.html.encode() if body is None else body
        h.send_response_only(status)
        for name, value in {**_headers(sample), **(extra or {})}.items():
            h.send_header(name, value)
        h.send_header("Content-Type", "text/html; charset=utf-8")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        try:
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the probe stopped reading at its byte cap

    return handle


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "printer.invalid")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _server_tls(self_signed: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*self_signed)
    return context


@pytest.mark.parametrize("name", ["hp", "canon", "kyocera", "brother", "xerox", "sharp", "konica"])
async def test_probe_over_http(name: str) -> None:
    sample = BY_NAME[name]
    with serve(page(sample)) as (port, seen):
        found = await probe_http("127.0.0.1", port=port, timeout=5)
    assert found is not None and seen == ["/"]
    assert (found.vendor, found.status) == (sample.vendor, 200)
    assert found.url == f"http://127.0.0.1:{port}/"
    if sample.model:
        assert found.model == sample.model
    if sample.serial:
        assert found.serial == sample.serial


async def test_probe_over_https_with_self_signed_certificate(self_signed) -> None:  # type: ignore[no-untyped-def]
    sample = BY_NAME["xerox"]
    with serve(page(sample), tls=_server_tls(self_signed)) as (port, _seen):
        # A verifying client refuses this certificate: the probe's acceptance is deliberate.
        async with httpx.AsyncClient(trust_env=False) as strict:
            with pytest.raises(httpx.ConnectError):
                await strict.get(f"https://127.0.0.1:{port}/")
        found = await probe_http("127.0.0.1", port=port, https_first=True, timeout=5)
        assert found is not None and found.url == f"https://127.0.0.1:{port}/"
        assert (found.vendor, found.serial) == ("Xerox", sample.serial)
        # HTTP first: plain HTTP to a TLS port fails, then HTTPS on the same port succeeds.
        stats = HttpProbeStats()
        again = await probe_http("127.0.0.1", port=port, timeout=5, stats=stats)
        assert again is not None and again.vendor == "Xerox"
        assert stats.errors == 1 and stats.requests == 2


async def test_oversized_body_is_truncated() -> None:
    sample = BY_NAME["canon"]
    filler = b"<!-- " + b"x" * 150_000 + b" -->"
    head, tail = sample.html.encode().split(b"<table>", 1)
    huge = head + filler + b"<table>" + tail  # serial and model lie beyond the cap
    with serve(page(sample, body=huge)) as (port, _):
        stats = HttpProbeStats()
        found = await probe_http("127.0.0.1", port=port, max_bytes=64_000, timeout=10, stats=stats)
    assert found is not None and found.vendor == "Canon" and found.title
    assert found.serial is None and found.model is None
    assert stats.truncated == 1
    assert stats.body_bytes < 64_000 + 262_144  # the cap plus at most one read chunk
    with serve(page(sample, body=huge)) as (port, _):  # the same page, read in full
        whole = await probe_http("127.0.0.1", port=port, max_bytes=200_000, timeout=10)
    assert whole is not None and whole.serial == sample.serial


async def test_gzip_bomb_stays_within_the_cap() -> None:
    sample = BY_NAME["kyocera"]
    bomb = gzip.compress(sample.html.encode() + b" " * 50_000_000, compresslevel=9)
    with serve(page(sample, body=bomb, extra={"Content-Encoding": "gzip"})) as (port, _):
        stats = HttpProbeStats()
        found = await probe_http("127.0.0.1", port=port, max_bytes=10_000, timeout=10, stats=stats)
    assert found is not None and found.serial == sample.serial
    assert stats.truncated == 1


async def test_redirect_loop_is_bounded() -> None:
    hp = BY_NAME["hp"]

    def loop(h: BaseHTTPRequestHandler) -> None:
        h.send_response_only(302)
        h.send_header("Server", hp.server or "")
        h.send_header("Location", h.path + "x")
        h.send_header("Content-Length", "0")
        h.end_headers()

    with serve(loop) as (port, seen):
        stats = HttpProbeStats()
        found = await probe_http("127.0.0.1", port=port, max_redirects=3, timeout=5, stats=stats)
    assert seen == ["/", "/x", "/xx", "/xxx"]  # max_redirects + 1 requests, then it stops
    assert stats.redirects == 3
    # The last redirect's Server header still names the printer.
    assert found is not None and found.vendor == "HP" and found.status == 302


async def test_redirect_to_another_host_is_not_followed() -> None:
    sample = BY_NAME["brother"]
    with serve(page(sample), address="127.0.0.2") as (other_port, other_seen):

        def away(h: BaseHTTPRequestHandler) -> None:
            h.send_response_only(301)
            h.send_header("Location", f"http://127.0.0.2:{other_port}/")
            h.send_header("Content-Length", "0")
            h.end_headers()

        with serve(away) as (port, seen):
            found = await probe_http("127.0.0.1", port=port, timeout=5)

        # Same host, other port and path: followed.
        def same(h: BaseHTTPRequestHandler) -> None:
            h.send_response_only(302)
            h.send_header("Location", f"http://127.0.0.2:{other_port}/start.htm")
            h.send_header("Content-Length", "0")
            h.end_headers()

        with serve(same, address="127.0.0.2") as (port2, _):
            followed = await probe_http("127.0.0.2", port=port2, timeout=5)
    assert seen == ["/"] and other_seen == ["/start.htm"]
    assert found is None
    assert followed is not None and followed.vendor == "Brother"


async def test_slow_server_times_out() -> None:
    release = threading.Event()

    def stall(h: BaseHTTPRequestHandler) -> None:
        release.wait(10)  # bounded: released by the test as soon as the probe gave up

    try:
        with serve(stall) as (port, seen):
            found = await probe_http("127.0.0.1", port=port, timeout=0.5)
            assert found is None and seen == ["/"]
    finally:
        release.set()


async def test_nothing_listening() -> None:
    with serve(page(BY_NAME["hp"])) as (port, _):
        pass  # the port is closed again
    stats = HttpProbeStats()
    assert await probe_http("127.0.0.1", port=port, timeout=2, stats=stats) is None
    assert stats.errors == 2  # http and https both refused


async def test_not_a_printer() -> None:
    server, body = NOT_PRINTERS[0]

    def handle(h: BaseHTTPRequestHandler) -> None:
        data = body.encode()
        h.send_response_only(200)
        h.send_header("Server", server or "")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    with serve(handle) as (port, seen):
        assert await probe_http("127.0.0.1", port=port, timeout=5) is None
    assert seen == ["/"]  # https on the same port failed without a request


def test_the_probe_asks_only_the_documented_paths() -> None:
    """PROBE_PATHS is what docs/security.md promises: one `GET /` and nothing else."""
    assert PROBE_PATHS == ("/",)
    security = (Path(__file__).resolve().parents[1] / "docs" / "security.md").read_text()
    for path in PROBE_PATHS:
        assert f"`GET {path}`" in security


async def test_a_page_that_is_not_a_printer_costs_only_the_documented_paths() -> None:
    """Nothing found on the first path: the probe does not go looking elsewhere."""

    def handle(h: BaseHTTPRequestHandler) -> None:
        h.send_response_only(404)
        h.send_header("Content-Length", "0")
        h.end_headers()

    with serve(handle) as (port, seen):
        assert await probe_http("127.0.0.1", port=port, timeout=5) is None
    assert seen and set(seen) <= set(PROBE_PATHS)
