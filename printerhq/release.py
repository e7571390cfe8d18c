"""Signed release manifests: what the server publishes and the agent verifies before it updates.

Sans-IO and shared by the server (``printerhq server publish-update``) and the agent
(``printerhq.agent.update``). A release is a wheel plus a small manifest (name, version, SHA-256
and size of the wheel); the manifest is signed with Ed25519 (RFC 8032) by the provider's
signing key, whose public half sits in each site's *local* agent configuration. The server only
stores and serves: a compromised server cannot make an agent install anything it did not sign.

The signature covers the manifest's exact bytes, prefixed with a domain-separation label, and
those bytes travel as they are (base64 inside the JSON envelope): the agent verifies first and
decodes second, so a newer server or manifest with fields an older agent does not know still
verifies (unknown fields are ignored; ``format`` changes only when the meaning of a known field
does, and an agent refuses a format it does not know).
"""

from __future__ import annotations

import base64
import binascii
import email.parser
import hashlib
import io
import re
import zipfile
from typing import Annotated

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

FORMAT = 1
MAX_WHEEL_BYTES = 64 << 20  # the printerhq wheel is ~0.25 MB; anything near this is not ours
MAX_MANIFEST_BYTES = 4096
MAX_METADATA_BYTES = 1 << 20
SIGNATURE_BYTES = 64  # RFC 8032 §5.1.6
PUBLIC_KEY_BYTES = 32
# Domain separation: a signature made for a release manifest is useless anywhere else.
SIGNING_CONTEXT = b"printerhq release manifest v1\n"

# PEP 440 versions are at most this long here (a path component on the agent, a URL segment).
VersionText = Annotated[
    str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z.+!_-]+$")
]
Sha256Hex = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]
WheelName = Annotated[
    str, msgspec.Meta(min_length=5, max_length=200, pattern=r"^[A-Za-z0-9_.+!-]+\.whl$")
]
ProjectName = Annotated[
    str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
]


class ReleaseError(ValueError):
    """A release refused. ``kind`` is one word for logs and reports: ``unsigned``, ``signature``
    (bad or foreign signature), ``manifest`` (malformed), ``tampered`` (wheel digest or size),
    ``downgrade``, ``current``, ``bad`` (a version that already failed here), ``incompatible``,
    ``wheel`` (a wheel the publisher cannot read)."""

    def __init__(self, kind: str, reason: str):
        super().__init__(f"{kind}: {reason}")
        self.kind = kind
        self.reason = reason


class Manifest(msgspec.Struct, frozen=True, kw_only=True):
    """One release. Unknown fields are ignored (see the module docstring)."""

    format: int = FORMAT
    name: ProjectName
    version: VersionText
    wheel: WheelName  # the wheel's file name: pip needs it to install
    sha256: Sha256Hex
    size: Annotated[int, msgspec.Meta(ge=1, le=MAX_WHEEL_BYTES)]
    created: Annotated[float, msgspec.Meta(ge=0)]
    requires_python: Annotated[str, msgspec.Meta(max_length=100)] = ""


class SignedManifest(msgspec.Struct, frozen=True, kw_only=True):
    """What ``GET /api/v1/updates/latest`` serves: the manifest's bytes and their signature."""

    manifest: bytes
    signature: bytes = b""


# -- keys ------------------------------------------------------------------------------------
def generate_key() -> tuple[bytes, str]:
    """A new signing key: (PKCS#8 PEM of the private key, base64 public key for agent configs)."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem, public_key_text(key.public_key())


def public_key_text(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def load_private_key(pem: bytes) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ReleaseError("key", f"not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ReleaseError("key", "the signing key must be Ed25519")
    return key


def parse_public_key(text: str) -> Ed25519PublicKey:
    """The base64 (or hex) public key from ``[updates] public_key``."""
    text = text.strip()
    raw: bytes | None = None
    if re.fullmatch(r"[0-9a-fA-F]{64}", text):
        raw = bytes.fromhex(text)
    else:
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raw = None
    if raw is None or len(raw) != PUBLIC_KEY_BYTES:
        raise ReleaseError("key", "public_key must be a 32-byte Ed25519 key in base64 or hex")
    return Ed25519PublicKey.from_public_bytes(raw)


# -- sign and verify ---------------------------------------------------------------------------
def encode_manifest(manifest: Manifest) -> bytes:
    return msgspec.json.encode(manifest)


def sign(manifest: Manifest, key: Ed25519PrivateKey) -> SignedManifest:
    data = encode_manifest(manifest)
    return SignedManifest(manifest=data, signature=key.sign(SIGNING_CONTEXT + data))


def encode_signed(signed: SignedManifest) -> bytes:
    return msgspec.json.encode(signed)


def decode_signed(data: bytes) -> SignedManifest:
    """The JSON envelope from the server; malformed is ``manifest``."""
    if len(data) > 2 * MAX_MANIFEST_BYTES:
        raise ReleaseError("manifest", f"envelope of {len(data)} bytes is too large")
    try:
        return msgspec.json.decode(data, type=SignedManifest)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ReleaseError("manifest", f"unreadable envelope: {exc}") from None


def verify(signed: SignedManifest, public_key: Ed25519PublicKey) -> Manifest:
    """The manifest, if and only if ``public_key`` signed exactly these bytes. Checked before
    anything in the manifest is parsed or believed."""
    if not signed.signature:
        raise ReleaseError("unsigned", "the release carries no signature")
    if len(signed.signature) != SIGNATURE_BYTES or len(signed.manifest) > MAX_MANIFEST_BYTES:
        raise ReleaseError("signature", "malformed signature or oversized manifest")
    try:
        public_key.verify(signed.signature, SIGNING_CONTEXT + signed.manifest)
    except InvalidSignature:
        raise ReleaseError(
            "signature", "the signature does not match the configured public key"
        ) from None
    try:
        manifest = msgspec.json.decode(signed.manifest, type=Manifest)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        # Signed but unreadable: a publisher bug or a format from the future.
        raise ReleaseError("manifest", f"signed manifest is invalid: {exc}") from None
    if manifest.format != FORMAT:
        raise ReleaseError(
            "manifest",
            f"manifest format {manifest.format} is not supported (this agent knows {FORMAT})",
        )
    try:
        Version(manifest.version)
    except InvalidVersion:
        raise ReleaseError("manifest", f"version {manifest.version!r} is not PEP 440") from None
    return manifest


def check_wheel(manifest: Manifest, data: bytes) -> None:
    """The downloaded wheel is the signed one, byte for byte."""
    if len(data) != manifest.size:
        raise ReleaseError(
            "tampered", f"wheel is {len(data)} bytes, the signed manifest says {manifest.size}"
        )
    digest = hashlib.sha256(data).hexdigest()
    if digest != manifest.sha256:
        raise ReleaseError(
            "tampered",
            f"wheel SHA-256 {digest[:16]}… does not match the signed {manifest.sha256[:16]}…",
        )


def judge(
    manifest: Manifest,
    running: str,
    *,
    name: str = "printerhq",
    bad: frozenset[str] | set[str] = frozenset(),
    python: str | None = None,
) -> None:
    """Raise unless ``manifest`` is a release this agent should install over ``running``:
    same project, strictly newer (PEP 440 ordering), never failed here, and for this Python."""
    if manifest.name != name:
        raise ReleaseError("incompatible", f"release is for {manifest.name!r}, not {name!r}")
    new, old = Version(manifest.version), Version(running)
    if new == old:
        raise ReleaseError("current", f"version {manifest.version} is already running")
    if new < old:
        raise ReleaseError(
            "downgrade", f"version {manifest.version} is older than the running {running}"
        )
    if manifest.version in bad:
        raise ReleaseError(
            "bad", f"version {manifest.version} failed its trial here before; never retried"
        )
    if manifest.requires_python and python is not None:
        try:
            ok = Version(python) in SpecifierSet(manifest.requires_python)
        except InvalidSpecifier:
            raise ReleaseError(
                "incompatible", f"unreadable Requires-Python {manifest.requires_python!r}"
            ) from None
        if not ok:
            raise ReleaseError(
                "incompatible",
                f"release requires Python {manifest.requires_python}, this is {python}",
            )


# -- wheels ----------------------------------------------------------------------------------
def wheel_metadata(data: bytes) -> tuple[str, str, str]:
    """(name, version, requires_python) from a wheel's ``*.dist-info/METADATA`` (PEP 427, core
    metadata), with every size bounded: a publisher must not sign what it cannot read."""
    if len(data) > MAX_WHEEL_BYTES:
        raise ReleaseError("wheel", f"wheel of {len(data)} bytes exceeds {MAX_WHEEL_BYTES}")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            entries = [
                i for i in zf.infolist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", i.filename)
            ]
            if len(entries) != 1:
                raise ReleaseError(
                    "wheel", "a wheel has exactly one top-level *.dist-info/METADATA"
                )
            if entries[0].file_size > MAX_METADATA_BYTES:
                raise ReleaseError("wheel", "METADATA is too large")
            text = zf.read(entries[0]).decode("utf-8")
    except (zipfile.BadZipFile, UnicodeDecodeError, EOFError) as exc:
        raise ReleaseError("wheel", f"not a readable wheel: {exc}") from None
    headers = email.parser.HeaderParser().parsestr(text)
    name, version = headers.get("Name", ""), headers.get("Version", "")
    requires = headers.get("Requires-Python", "") or ""
    try:
        normal = str(Version(version))
    except InvalidVersion:
        raise ReleaseError("wheel", f"version {version!r} is not PEP 440") from None
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", name or ""):
        raise ReleaseError("wheel", f"unusable project name {name!r}")
    return name, normal, requires


def make_manifest(wheel_filename: str, data: bytes, created: float) -> Manifest:
    """The manifest of a wheel: metadata, digest and size; validated like a received one."""
    name, version, requires = wheel_metadata(data)
    manifest = Manifest(
        name=name,
        version=version,
        wheel=wheel_filename,
        created=created,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        requires_python=requires,
    )
    try:  # the same constraints the agent applies when it decodes
        return msgspec.json.decode(encode_manifest(manifest), type=Manifest)
    except msgspec.ValidationError as exc:
        raise ReleaseError("wheel", str(exc)) from None
