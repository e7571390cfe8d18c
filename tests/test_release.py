"""Release manifests: signatures, digests, version rules, wheel metadata (printerhq.release)."""

from __future__ import annotations

import base64
import io
import zipfile

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from printerhq import release
from printerhq.release import ReleaseError

KEY = Ed25519PrivateKey.generate()
PUBLIC = KEY.public_key()
OTHER = Ed25519PrivateKey.generate()
WHEEL = b"PK\x03\x04 pretend wheel bytes " * 40


def manifest(version: str = "0.2.0", data: bytes = WHEEL, **kw) -> release.Manifest:
    import hashlib

    fields = dict(
        name="printerhq",
        version=version,
        wheel=f"printerhq-{version}-py3-none-any.whl",
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        created=1.7e9,
    )
    fields.update(kw)
    return release.Manifest(**fields)


SIGNED = release.sign(manifest(), KEY)


def kind(fn, *args, **kw) -> str:
    with pytest.raises(ReleaseError) as info:
        fn(*args, **kw)
    return info.value.kind


def test_round_trip_through_the_envelope() -> None:
    wire = release.encode_signed(SIGNED)
    assert release.verify(release.decode_signed(wire), PUBLIC) == manifest()


def test_unsigned_foreign_and_malformed_are_refused() -> None:
    assert (
        kind(release.verify, release.SignedManifest(manifest=SIGNED.manifest), PUBLIC) == "unsigned"
    )
    assert kind(release.verify, release.sign(manifest(), OTHER), PUBLIC) == "signature"
    assert (
        kind(
            release.verify,
            release.SignedManifest(manifest=SIGNED.manifest, signature=b"x" * 63),
            PUBLIC,
        )
        == "signature"
    )
    assert kind(release.decode_signed, b"{not json") == "manifest"
    assert kind(release.decode_signed, b"x" * 10_000) == "manifest"
    # Signed by the right key but not a manifest: refused after the signature, not trusted.
    junk = release.SignedManifest(
        manifest=b'{"version": 3}', signature=KEY.sign(release.SIGNING_CONTEXT + b'{"version": 3}')
    )
    assert kind(release.verify, junk, PUBLIC) == "manifest"


def test_signature_is_bound_to_the_context_label() -> None:
    """A signature over the bare manifest (no domain label) must not verify."""
    bare = release.SignedManifest(manifest=SIGNED.manifest, signature=KEY.sign(SIGNED.manifest))
    assert kind(release.verify, bare, PUBLIC) == "signature"


def test_unknown_fields_from_a_newer_publisher_still_verify() -> None:
    raw = msgspec.json.encode({**msgspec.to_builtins(manifest()), "channel": "stable"})
    signed = release.SignedManifest(manifest=raw, signature=KEY.sign(release.SIGNING_CONTEXT + raw))
    assert release.verify(signed, PUBLIC).version == "0.2.0"
    future = msgspec.json.encode({**msgspec.to_builtins(manifest()), "format": 2})
    signed = release.SignedManifest(
        manifest=future, signature=KEY.sign(release.SIGNING_CONTEXT + future)
    )
    assert kind(release.verify, signed, PUBLIC) == "manifest"


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_single_flipped_bit_is_refused(data) -> None:
    """Every bit of the manifest and of the signature matters (Ed25519 is strongly unforgeable)."""
    target = data.draw(st.sampled_from(["manifest", "signature"]))
    blob = bytearray(getattr(SIGNED, target))
    bit = data.draw(st.integers(0, len(blob) * 8 - 1))
    blob[bit // 8] ^= 1 << (bit % 8)
    flipped = msgspec.structs.replace(SIGNED, **{target: bytes(blob)})
    assert kind(release.verify, flipped, PUBLIC) == "signature"


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200), st.binary(max_size=80))
def test_arbitrary_envelopes_never_verify(manifest_bytes, signature) -> None:
    with pytest.raises(ReleaseError):
        release.verify(release.SignedManifest(manifest=manifest_bytes, signature=signature), PUBLIC)


def test_wheel_digest_and_size() -> None:
    m = manifest()
    release.check_wheel(m, WHEEL)
    flipped = bytearray(WHEEL)
    flipped[100] ^= 0x01
    assert kind(release.check_wheel, m, bytes(flipped)) == "tampered"
    assert kind(release.check_wheel, m, WHEEL + b"x") == "tampered"


def test_judge_versions() -> None:
    release.judge(manifest("0.2.0"), "0.1.0")
    release.judge(manifest("0.1.0.post1"), "0.1.0")
    assert kind(release.judge, manifest("0.1.0"), "0.1.0") == "current"
    assert kind(release.judge, manifest("0.0.9"), "0.1.0") == "downgrade"
    assert (
        kind(release.judge, manifest("0.2.0rc1"), "0.2.0") == "downgrade"
    )  # PEP 440, not text order
    assert kind(release.judge, manifest("0.10.0"), "0.9.0", bad={"0.10.0"}) == "bad"
    assert kind(release.judge, manifest(name="other"), "0.1.0") == "incompatible"
    assert (
        kind(release.judge, manifest(requires_python=">=3.99"), "0.1.0", python="3.11.2")
        == "incompatible"
    )
    release.judge(manifest(requires_python=">=3.11"), "0.1.0", python="3.11.2")


def test_manifest_constraints() -> None:
    for bad in (
        {"version": "../../etc"},
        {"version": "1" * 65},
        {"sha256": "AB" * 32},
        {"size": release.MAX_WHEEL_BYTES + 1},
        {"wheel": "x/../y.whl"},
    ):
        raw = msgspec.json.encode({**msgspec.to_builtins(manifest()), **bad})
        signed = release.SignedManifest(
            manifest=raw, signature=KEY.sign(release.SIGNING_CONTEXT + raw)
        )
        assert kind(release.verify, signed, PUBLIC) == "manifest", bad


def _wheel(metadata: str, extra: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("printerhq-0.3.0.dist-info/METADATA", metadata)
        for name, content in (extra or {}).items():
            zf.writestr(name, content)
    return buf.getvalue()


def test_wheel_metadata() -> None:
    data = _wheel(
        "Metadata-Version: 2.1\nName: printerhq\nVersion: 0.3.0\n"
        "Requires-Python: >=3.11\n\nREADME\n"
    )
    assert release.wheel_metadata(data) == ("printerhq", "0.3.0", ">=3.11")
    m = release.make_manifest("printerhq-0.3.0-py3-none-any.whl", data, created=1.0)
    assert (m.version, m.size, m.requires_python) == ("0.3.0", len(data), ">=3.11")
    assert kind(release.wheel_metadata, b"not a zip") == "wheel"
    assert (
        kind(release.wheel_metadata, _wheel("Name: printerhq\nVersion: not-a-version\n")) == "wheel"
    )
    two = _wheel(
        "Name: printerhq\nVersion: 1.0\n",
        {"other-1.0.dist-info/METADATA": b"Name: x\nVersion: 1\n"},
    )
    assert kind(release.wheel_metadata, two) == "wheel"
    assert kind(release.make_manifest, "../evil.whl", data, 1.0) == "wheel"


def test_keys() -> None:
    pem, public = release.generate_key()
    key = release.load_private_key(pem)
    assert release.public_key_text(key.public_key()) == public
    raw = base64.b64decode(public)
    assert release.public_key_text(release.parse_public_key(raw.hex())) == public
    for bad in ("", "abc", base64.b64encode(b"x" * 31).decode(), "zz" * 32):
        assert kind(release.parse_public_key, bad) == "key"
    assert kind(release.load_private_key, b"-----BEGIN NOTHING-----") == "key"


def test_gen_update_key_writes_0600_and_never_overwrites(tmp_path, capsys) -> None:
    from printerhq import cli

    path = tmp_path / "signing.key"
    assert cli.main(["server", "gen-update-key", "--out", str(path)]) == 0
    public = capsys.readouterr().out.strip()
    assert path.stat().st_mode & 0o777 == 0o600
    key = release.load_private_key(path.read_bytes())
    assert release.public_key_text(key.public_key()) == public
    before = path.read_bytes()
    assert cli.main(["server", "gen-update-key", "--out", str(path)]) == 1
    assert "cannot create" in capsys.readouterr().err
    assert path.read_bytes() == before


def test_publish_update_refuses_what_it_cannot_read(tmp_path, capsys) -> None:
    from printerhq import cli

    key = tmp_path / "signing.key"
    assert cli.main(["server", "gen-update-key", "--out", str(key)]) == 0
    junk = tmp_path / "printerhq-1.0-py3-none-any.whl"
    junk.write_bytes(b"not a zip")
    args = ["server", "publish-update", str(junk), "--key", str(key), "--data-dir", str(tmp_path)]
    assert cli.main(args) == 2  # no database in the data dir yet: nothing created
    assert "no database at" in capsys.readouterr().err
    assert cli.main(["server", "add-agent", "site-a", "--data-dir", str(tmp_path)]) == 0
    capsys.readouterr()
    assert cli.main(args) == 1
    assert "not a readable wheel" in capsys.readouterr().err
    args[2] = str(tmp_path / "missing.whl")
    with pytest.raises(SystemExit) as usage:  # found while the arguments are parsed
        cli.main(args)
    assert usage.value.code == 2
    err = capsys.readouterr().err
    assert "missing.whl" in err and len(err.strip().splitlines()) == 1
