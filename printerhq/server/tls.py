"""TLS for the server: TLS 1.3 only, and a small self-signed certificate for trials.

Why ECDSA P-256: its certificate and signature are a fraction of RSA-2048's (a ~500-byte
certificate against ~1,200), which is most of a TLS 1.3 handshake's bytes (RFC 8446 §4.4.2), and
every TLS stack accepts it. The key stays in the data directory (mode 0600) so a restarted server
keeps its identity and agents that pinned it keep working.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import ssl
from pathlib import Path

CERT_NAME = "server-cert.pem"
KEY_NAME = "server-key.pem"
DEFAULT_NAMES = ("localhost", "127.0.0.1", "::1")
# Bind addresses that mean "every interface": no client connects to them by that name.
_WILDCARDS = {"", "0.0.0.0", "::", "*"}


def certificate_names(host: str | None) -> list[str]:
    """The names a self-signed certificate for a server bound to ``host`` must carry: the
    loopback names, and ``host`` itself (an IP address or a DNS name) unless it is a wildcard.

    Without ``host`` in the subjectAltName an agent that verifies with ``--ca-bundle`` fails
    with "IP address mismatch" (RFC 6125 section 6; RFC 5280 section 4.2.1.6)."""
    names = list(DEFAULT_NAMES)
    if host is not None and host.strip() not in _WILDCARDS:
        name = host.strip().strip("[]")
        try:
            name = str(ipaddress.ip_address(name))
        except ValueError:
            name = name.lower().rstrip(".")
        if name not in names:
            names.insert(0, name)
    return names


def _certificate_covers(cert_path: Path, names: list[str]) -> bool:
    """Whether the PEM certificate at ``cert_path`` names every one of ``names``."""
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return False
    present = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    present |= {dns.lower() for dns in san.get_values_for_type(x509.DNSName)}
    return all(name in present for name in names)


def ensure_self_signed(
    data_dir: str | os.PathLike[str], hostnames: list[str] | None = None
) -> tuple[Path, Path]:
    """Return ``(cert, key)`` paths in ``data_dir``, generating an ECDSA P-256 pair if absent.

    A certificate already there that lacks one of ``hostnames`` is issued again, with the same
    key, for the old names and the new (a server moved to ``--host ADDR`` must name ADDR); the
    caller logs the new fingerprint, since pins of the old certificate no longer match."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory = Path(data_dir)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    cert_path, key_path = directory / CERT_NAME, directory / KEY_NAME
    names = list(hostnames or DEFAULT_NAMES)
    key: ec.EllipticCurvePrivateKey | None = None
    if cert_path.exists() and key_path.exists():
        if _certificate_covers(cert_path, names):
            return cert_path, key_path
        loaded = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if isinstance(loaded, ec.EllipticCurvePrivateKey):
            key = loaded
        names += [n for n in _names_of(cert_path) if n not in names]
    if key is None:
        key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = []
    for name in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "printerhq " + names[0])])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def _names_of(cert_path: Path) -> list[str]:
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return []
    return [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] + list(
        san.get_values_for_type(x509.DNSName)
    )


def certificate_fingerprint(cert_pem_path: str | os.PathLike[str]) -> str:
    """SHA-256 of the DER certificate, hex: the value for the uplink's ``pin_sha256``."""
    der = ssl.PEM_cert_to_DER_cert(Path(cert_pem_path).read_text())
    return hashlib.sha256(der).hexdigest()


def server_ssl_context(
    certfile: str | os.PathLike[str], keyfile: str | os.PathLike[str]
) -> ssl.SSLContext:
    """TLS 1.3 only (RFC 8446): one round trip, encrypted certificate, session tickets on."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.options |= ssl.OP_NO_COMPRESSION
    context.set_alpn_protocols(["http/1.1"])
    # One session ticket per connection instead of OpenSSL's two: an agent resumes with the
    # latest one only, and each ticket costs ~250 bytes on the wire (RFC 8446 §4.6.1).
    context.num_tickets = 1
    context.load_cert_chain(certfile=str(certfile), keyfile=str(keyfile))
    return context
