"""Embedded-web-server (EWS) probe: is there a printer behind this HTTP server, and which?

For printers whose SNMP agent is off (or answers another community), the first page of the
built-in web server usually names the vendor (``Server`` header, page title) and often the model
and serial number. Two parts:

* :func:`identify_ews` — sans-IO: status, headers and (already truncated) body text in,
  :class:`EwsIdentity` or None out. It never raises on hostile input and does linear work only.
* :func:`probe_http` — the trio shell: one GET of ``/`` over HTTP then HTTPS (or the other way
  round), with a total deadline, a byte cap on the body, at most ``max_redirects`` redirects and
  those only to the same host. Uses httpx (runs on trio through anyio; DESIGN.md).

Certificates: printers ship self-signed certificates for their EWS, so this probe, and only this
probe, accepts any certificate (see :func:`probe_client`). It sends nothing secret (a bare GET
without cookies or credentials) and trusts nothing it reads beyond labelling a device. The uplink
(``printerhq/uplink``) verifies certificates and never uses this client.

Signature confidence: "high" = a vendor-specific server string or header cited by at least one
public fingerprint database; "medium" = a product/page name documented by public tools but that
could appear on other devices (rebranded or OEM hardware); "low" = a generic marker, seen in a
single public source or not verified against a real device.
"""

from __future__ import annotations

__all__ = [
    "EwsIdentity",
    "HttpProbeStats",
    "identify_ews",
    "page_title",
    "probe_client",
    "probe_http",
    "PROBE_PATHS",
    "SIGNATURES",
]

import codecs
import html
import re
import ssl
import warnings
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import trio

from .traffic import AuditSink, Traffic

Confidence = Literal["high", "medium", "low"]
Field = Literal["server", "title", "body", "header"]

MAX_TEXT = 256_000  # identify_ews looks at no more than this many characters of body text
MAX_TITLE = 200
_REDIRECTS = frozenset((301, 302, 303, 307, 308))


@dataclass(frozen=True, slots=True)
class EwsIdentity:
    """What an EWS page says about its device. ``evidence`` names the signature that matched."""

    vendor: str
    model: str | None
    serial: str | None
    title: str | None
    server: str | None
    confidence: Confidence
    evidence: str
    status: int | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Signature:
    vendor: str
    field: Field
    pattern: re.Pattern[str]
    confidence: Confidence
    header: str | None = None  # for field == "header": the header name (lower case)

    def describe(self) -> str:
        where = f"header {self.header}" if self.field == "header" else self.field
        return f"{where} ~ /{self.pattern.pattern}/"


def _sig(
    vendor: str, field: Field, pattern: str, confidence: Confidence, header: str | None = None
) -> Signature:
    return Signature(vendor, field, re.compile(pattern, re.IGNORECASE), confidence, header)


# Ordered: the first match wins, so specific server strings and headers come before titles, and
# titles before body text. Patterns are simple (no nested quantifiers) to keep matching linear.
# Sources (public fingerprint data, found with code search; read for the markers, nothing
# copied). Confidence is ours, judged from how specific the marker is and how many sources agree:
#   [nessus-html]  Tenable os_fingerprint_html.nasl (plugin 35779): server/title/body per device.
#   [nessus-print] Tenable/Greenbone dont_print_on_printers.nasl: printer web-server banners.
#   [gb-canon]     Greenbone Canon printer detection: Server (KS_HTTP|CANON HTTP Server|Catwalk).
#   [gb-sharp]     Greenbone Sharp printer detection: "Extend-sharp-setting-status" header,
#                  "Server: Rapid Logic" as a precondition only.
#   [whatweb]      WhatWeb plugins hp-printer.rb, HP-laserjet-printer.rb, Kyocera-Printer.rb,
#                  and its Epson plugin (Server EPSON-HTTP, titles "EpsonNet Config/WebAssist").
#   [intrigue]     intrigue-ident checks/hp.rb: "server: HP-ChaiSOE/1.0".
#   [shodan]       public Shodan query lists (awesome-shodan-queries and its translations):
#                  "Server: debut" (Brother), "Server: EPSON-HTTP", "Server: CANON HTTP Server",
#                  "Printer Type: Lexmark", title "SyncThru Web Service" (Samsung).
#   [ghdb]         Exploit-DB GHDB dork intext:"Oki Data Corporation".
#   [tools]        open-source printer inventory scripts: one maps EWS names to vendors (Web
#                  Image Monitor: Ricoh, TopAccess: Toshiba, CentreWare: Xerox, Command Center
#                  RX: Kyocera), a C scanner maps "HP LaserJet"/"HP Officejet" pages to HP.
#   [brief]        named in our issue, not confirmed by the sources above: lower confidence.
SIGNATURES: tuple[Signature, ...] = (
    # -- vendor-specific server strings and headers
    _sig("HP", "server", r"^HP HTTP Server", "high"),  # [whatweb] [shodan]
    _sig("HP", "server", r"HP-ChaiSOE|hp-chai", "high"),  # [whatweb] [intrigue]
    _sig("Canon", "server", r"^(CANON HTTP Server|KS_HTTP|Catwalk)", "high"),  # [gb-canon]
    _sig("Kyocera", "server", r"^KM-MFP-http|^KM-httpd", "high"),  # [whatweb] [nessus-html]
    _sig("Epson", "server", r"^EPSON-HTTP|^EPSON_Linux", "high"),  # [whatweb] [shodan]
    _sig("Xerox", "server", r"^Xerox_MicroServer", "high"),  # [nessus-print]
    _sig("Sharp", "header", r".", "high", header="extend-sharp-setting-status"),  # [gb-sharp]
    _sig("Lexmark", "server", r"^Lexmark", "medium"),  # [shodan]
    # [shodan]: debut is Brother's own server, also on Brother machines that are not printers
    _sig("Brother", "server", r"^debut/", "medium"),
    # -- names of the vendors' EWS products, in the page title
    _sig("Kyocera", "title", r"Command Center RX|Kyocera Command Center", "high"),  # [nessus-html]
    _sig("Konica Minolta", "title", r"PageScope Web Connection", "high"),  # [nessus-html]
    _sig("Epson", "title", r"EpsonNet (Config|WebAssist)", "high"),  # [whatweb]
    _sig(
        "HP",
        "title",  # [tools] [brief]
        r"\bHP (Color )?(LaserJet|OfficeJet|PageWide|DesignJet|DeskJet|Laser MFP)",
        "medium",
    ),
    _sig("Samsung", "title", r"SyncThru", "medium"),  # [shodan]; ex-Samsung HP Laser MFPs too
    _sig("Ricoh", "title", r"Web Image Monitor", "medium"),  # [tools]; also Savin, Lanier
    _sig("Xerox", "title", r"CentreWare", "medium"),  # [tools]
    _sig("Toshiba", "title", r"TopAccess", "medium"),  # [tools]
    _sig("Canon", "title", r"Remote UI", "medium"),  # [brief]: Canon's name for its EWS
    _sig("Brother", "title", r"^Brother\b", "medium"),  # [brief]
    _sig("Lexmark", "title", r"^Lexmark\b", "medium"),  # [brief]
    _sig("Xerox", "title", r"\bXerox\b", "low"),  # [brief]
    _sig("Sharp", "title", r"\bSharp\b", "low"),  # [brief]
    _sig("OKI", "title", r"^OKI\b", "low"),  # [brief]
    _sig("Zebra", "title", r"\bZebra\b", "low"),  # [brief], unverified
    # -- body text
    _sig("Lexmark", "body", r"Printer Type: Lexmark", "medium"),  # [shodan]
    _sig("OKI", "body", r"Oki Data Corporation|OKI Electric", "low"),  # [ghdb]
    _sig("Zebra", "body", r"Zebra Technologies", "low"),  # [brief], unverified
    # Generic embedded servers, last and low: they count only when nothing better matched.
    # Tenable treats both as HP printers [nessus-print]; Greenbone uses Rapid Logic only as a
    # precondition for Sharp [gb-sharp]; Virata-EmWeb is the server of HP JetDirect cards.
    _sig("Sharp", "server", r"^Rapid Logic", "low"),
    _sig("HP", "server", r"^Virata-EmWeb", "low"),
)

# Label/value pairs on status pages: "<td>Serial Number</td><td>X</td>" or "Model: X".
_MODEL_LABELS = (
    "product name",
    "model name",
    "printer model",
    "device model",
    "machine model",
    "copier model",
    "model",
    "device name",
    "printer name",
)
_SERIAL_LABELS = (
    "serial number",
    "serial no.",
    "serial no",
    "serial",
    "s/n",
    "device serial number",
    "printer serial number",
)
_SERIAL_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{3,31}")
_TAG = re.compile(r"<[^<>]{0,4000}>|[\r\n]+")
_SPACE = re.compile(r"\s+")

# Model patterns per vendor, tried on the server header then the title (first group = model).
_MODEL_PATTERNS: dict[str, tuple[re.Pattern[str], ...]] = {
    "HP": (
        re.compile(r"^HP HTTP Server; (HP [^;]{2,60}?)(?: series)? - "),
        re.compile(
            r"\b(HP (?:Color )?(?:LaserJet|OfficeJet|PageWide|DesignJet|DeskJet|Laser)"
            r"(?: [A-Za-z0-9+-]{1,20}){0,5})"
        ),
    ),
    "Brother": (re.compile(r"^Brother ([A-Z]{2,4}-[A-Z0-9-]{3,20})"),),
    "Epson": (re.compile(r"EpsonNet \w+ - ([A-Z]{1,4}-?[A-Z0-9-]{2,20})"),),
    "Konica Minolta": (
        re.compile(r"PageScope Web Connection for ((?:bizhub|magicolor) [A-Za-z0-9 -]{1,30})"),
    ),
    "Lexmark": (re.compile(r"^(Lexmark [A-Z]{1,3}[0-9]{2,4}[a-z]{0,4})"),),
    "Sharp": (re.compile(r"\b(MX-[A-Z0-9]{3,10})"),),
}
_HP_SERIAL = re.compile(r"Serial Number: ([A-Za-z0-9]{4,32})")


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("latin-1")
    return "" if value is None else str(value)


def _normalise_headers(headers: Any) -> list[tuple[str, str]]:
    """Mapping, httpx.Headers or iterable of pairs -> [(lower-case name, value)]."""
    if headers is None:
        return []
    items: Iterable[Any]
    if hasattr(headers, "multi_items"):
        items = headers.multi_items()
    elif isinstance(headers, Mapping):
        items = headers.items()
    else:
        items = headers
    pairs = []
    for item in items:
        if isinstance(item, (tuple, list)) and len(item) == 2:
            pairs.append((_text(item[0]).strip().lower(), _text(item[1]).strip()))
    return pairs


def _clean(text: str, limit: int) -> str:
    """Unescape entities, turn control characters into spaces, collapse runs of spaces."""
    text = "".join(ch if ch.isprintable() else " " for ch in html.unescape(text[: 8 * limit]))
    return _SPACE.sub(" ", text).strip()[:limit].strip()


def page_title(body_text: str) -> str | None:
    """The text of the first ``<title>`` element, unescaped and whitespace-collapsed."""
    lower = body_text.lower()
    start = lower.find("<title")
    if start < 0:
        return None
    open_end = lower.find(">", start)
    if open_end < 0:
        return None
    close = lower.find("</title", open_end)
    raw = body_text[open_end + 1 : close if close >= 0 else open_end + 1 + 4 * MAX_TITLE]
    title = _clean(raw[: 4 * MAX_TITLE], MAX_TITLE)
    return title or None


def _lines(body_text: str) -> list[str]:
    """Visible text fragments: one per text node between tags."""
    out = []
    for part in _TAG.split(body_text):
        cleaned = _clean(part, 200)
        if cleaned:
            out.append(cleaned)
    return out


def _labelled(lines: list[str], labels: tuple[str, ...]) -> str | None:
    """Value for the first line that is one of ``labels``: after a colon, else the next line."""
    ordered = sorted(labels, key=len, reverse=True)
    for i, line in enumerate(lines):
        lower = line.lower()
        for label in ordered:
            if not lower.startswith(label):
                continue
            rest = line[len(label) :]
            if rest and rest[0] not in " :\uff1a\t":
                continue  # "Models" or "Serialize" is not the label
            value = rest.strip().lstrip(":\uff1a").strip()
            if not value and i + 1 < len(lines):
                value = lines[i + 1]
            if value:
                return value
            break
    return None


def _model_from(vendor: str, server: str, title: str | None, lines: list[str]) -> str | None:
    value = _labelled(lines, _MODEL_LABELS)
    if value and 2 <= len(value) <= 64:
        return value
    for pattern in _MODEL_PATTERNS.get(vendor, ()):
        for source in (server, title or ""):
            match = pattern.search(source)
            if match:
                return match.group(1).strip()
    return None


def _serial_from(vendor: str, server: str, lines: list[str]) -> str | None:
    value = _labelled(lines, _SERIAL_LABELS)
    if value and _SERIAL_VALUE.fullmatch(value):
        return value
    if vendor == "HP":
        match = _HP_SERIAL.search(server)
        if match:
            return match.group(1)
    return None


def identify_ews(
    status: int | None, headers: Any, body_text: str | bytes | None
) -> EwsIdentity | None:
    """Identify a printer from its web server's first page, or return None.

    ``headers``: a mapping, ``httpx.Headers`` or (name, value) pairs (str or bytes);
    ``body_text``: the page (decoded text; bytes are decoded as UTF-8 with replacement). Only
    the first :data:`MAX_TEXT` characters are examined. Never raises on odd input.
    """
    if isinstance(body_text, (bytes, bytearray, memoryview)):
        body = bytes(body_text[: MAX_TEXT * 4]).decode("utf-8", "replace")[:MAX_TEXT]
    else:
        body = _text(body_text)[:MAX_TEXT]
    pairs = _normalise_headers(headers)
    server = next((_clean(value, 300) for name, value in pairs if name == "server"), "")
    title = page_title(body)
    for sig in SIGNATURES:
        if sig.field == "server":
            hit = bool(server) and sig.pattern.search(server) is not None
        elif sig.field == "header":
            hit = any(
                name == sig.header and sig.pattern.search(value or " ") for name, value in pairs
            )
        elif sig.field == "title":
            hit = title is not None and sig.pattern.search(title) is not None
        else:
            hit = sig.pattern.search(body) is not None
        if hit:
            lines = _lines(body)
            return EwsIdentity(
                vendor=sig.vendor,
                model=_model_from(sig.vendor, server, title, lines),
                serial=_serial_from(sig.vendor, server, lines),
                title=title,
                server=server or None,
                confidence=sig.confidence,
                evidence=sig.describe(),
                status=status if isinstance(status, int) else None,
            )
    return None


# -- the trio shell -----------------------------------------------------------------------------


@dataclass
class HttpProbeStats(Traffic):
    """Counts across probes: requests sent (``packets_sent``), responses received
    (``packets_received``), body bytes read (``bytes_received``, capped), redirects followed.
    Request bytes are not counted (``bytes_sent`` stays 0): httpx writes them."""

    redirects: int = 0
    truncated: int = 0
    errors: int = 0

    @property
    def requests(self) -> int:
        """Requests sent (the name before the counters became one :class:`Traffic` type)."""
        return self.packets_sent

    @property
    def body_bytes(self) -> int:
        """Body bytes read (the name before the counters became one :class:`Traffic` type)."""
        return self.bytes_received


def _insecure_context() -> ssl.SSLContext:
    """TLS context for the EWS probe ONLY: any certificate, old protocol versions.

    Printers ship self-signed (often expired, often SHA-1, sometimes TLS 1.0-only) certificates
    for their web pages; verifying would hide exactly the devices we look for. This is safe here
    because the probe sends no credentials or data and only labels a device. Uploads to the
    central server (printerhq/uplink) verify certificates and must never use this context.
    """
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with warnings.catch_warnings():  # TLSv1 is deprecated, and still what old EWSs speak
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):  # a build without these: keep the defaults
        pass
    return context


def probe_client(timeout: float = 3.0, max_connections: int = 100) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` configured for EWS probing (share one per scan).

    No certificate verification (see :func:`_insecure_context`), no redirects followed by httpx
    (:func:`probe_http` follows them itself, same host only), no proxies or .netrc from the
    environment (a LAN printer must not be fetched through a proxy), no keep-alive pool growth.
    """
    return httpx.AsyncClient(
        verify=_insecure_context(),
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=0),
        headers={
            "User-Agent": "printerhq-probe/1",
            "Accept": "text/html,*/*;q=0.5",
            "Accept-Encoding": "identity",
        },
    )


def _charset(content_type: str) -> str:
    match = re.search(r"charset=[\"']?([A-Za-z0-9_.:-]{1,40})", content_type)
    if match:
        try:
            return codecs.lookup(match.group(1)).name
        except LookupError:
            pass
    return "utf-8"


def decode_body(body: bytes, content_type: str) -> str:
    """The page as text, in the Content-Type's charset when that names a text encoding; a
    device may name any codec Python knows, also bytes-to-bytes ones (``uu``, ``base64``) that
    cannot decode to text: UTF-8 then, as for a missing charset."""
    try:
        return body.decode(_charset(content_type), "replace")
    except (LookupError, UnicodeError, ValueError):
        return body.decode("utf-8", "replace")


async def _read_capped(response: httpx.Response, max_bytes: int, stats: HttpProbeStats) -> bytes:
    """At most ``max_bytes`` of body, decompressed within the same cap if the server ignored
    our ``Accept-Encoding: identity`` (a decompression bomb stops at the cap)."""
    encoding = response.headers.get("content-encoding", "").strip().lower()
    decoder = None
    if encoding in ("gzip", "x-gzip"):
        decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        decoder = zlib.decompressobj()
    out = bytearray()
    async for chunk in response.aiter_raw():
        stats.bytes_received += len(chunk)
        room = max_bytes - len(out)
        if decoder is not None:
            try:
                chunk = decoder.decompress(chunk, room)
            except zlib.error:
                break
        out += chunk[:room]
        if len(out) >= max_bytes:
            stats.truncated += 1
            break
    return bytes(out)


def _same_host_redirect(url: httpx.URL, location: str) -> httpx.URL | None:
    try:
        target = url.join(location)
    except (httpx.InvalidURL, ValueError, TypeError):
        return None
    if target.scheme not in ("http", "https") or target.host.lower() != url.host.lower():
        return None
    return target


async def _fetch(
    client: httpx.AsyncClient,
    url: httpx.URL,
    max_bytes: int,
    max_redirects: int,
    stats: HttpProbeStats,
    audit: AuditSink | None = None,
) -> EwsIdentity | None:
    """GET ``url``, following same-host redirects; identify the last page fetched."""
    for hop in range(max_redirects + 1):
        stats.packets_sent += 1
        if audit is not None:  # logged before the request: httpx writes the bytes itself
            path = url.raw_path.decode("ascii", "replace")  # percent-encoded: ASCII
            audit.request(url.scheme, url.host, url.port or 0, "GET", (path,), None)
        async with client.stream("GET", url) as response:
            stats.packets_received += 1
            location = response.headers.get("location")
            if response.status_code in _REDIRECTS and location and hop < max_redirects:
                following = _same_host_redirect(url, location)
                if following is not None:
                    stats.redirects += 1
                    url = following
                    continue
            body = await _read_capped(response, max_bytes, stats)
            text = decode_body(body, response.headers.get("content-type", ""))
            found = identify_ews(response.status_code, response.headers, text)
        if found is None:
            return None
        return EwsIdentity(
            found.vendor,
            found.model,
            found.serial,
            found.title,
            found.server,
            found.confidence,
            found.evidence,
            found.status,
            str(url),
        )
    # Unreachable: the last allowed hop never continues. When redirects run out (a loop, or a
    # chain longer than allowed) the last redirect response itself is identified above: its
    # Server header often names the vendor.
    return None


# The only paths the probe ever asks for itself, as docs/security.md lists them (a test holds the
# two together). A redirect is followed only to the same host, at most ``max_redirects`` times:
# that path is the device's own choice, not ours.
PROBE_PATHS: tuple[str, ...] = ("/",)


async def probe_http(
    address: str,
    *,
    port: int | None = None,
    https_first: bool = False,
    timeout: float = 3.0,
    max_bytes: int = 64_000,
    max_redirects: int = 2,
    client: httpx.AsyncClient | None = None,
    stats: HttpProbeStats | None = None,
    audit: AuditSink | None = None,
) -> EwsIdentity | None:
    """Fetch ``/`` from a device's web server and identify it (None: no printer page found).

    Tries HTTP (port 80, or ``port``) then HTTPS (443, or ``port``), or HTTPS first; stops at
    the first identified page. ``timeout`` bounds the whole probe, all attempts together;
    ``max_bytes`` caps each body read; ``max_redirects`` bounds redirects, which are followed
    only to the same host. ``client``: share one from :func:`probe_client` across a scan.
    """
    if timeout <= 0 or max_bytes < 1 or max_redirects < 0:
        raise ValueError("timeout > 0, max_bytes >= 1 and max_redirects >= 0 required")
    stats = stats if stats is not None else HttpProbeStats()
    host = f"[{address}]" if ":" in address else address
    schemes = ("https", "http") if https_first else ("http", "https")
    owned = client is None
    http_client = probe_client(timeout) if client is None else client
    try:
        with trio.move_on_after(timeout):
            for scheme in schemes:
                chosen = port if port is not None else (443 if scheme == "https" else 80)
                for path in PROBE_PATHS:
                    url = httpx.URL(f"{scheme}://{host}:{chosen}{path}")
                    try:
                        found = await _fetch(
                            http_client, url, max_bytes, max_redirects, stats, audit
                        )
                    except (httpx.HTTPError, OSError, ssl.SSLError, UnicodeError, ValueError):
                        stats.errors += 1
                        continue
                    if found is not None:
                        return found
        return None
    finally:
        if owned:
            await http_client.aclose()
