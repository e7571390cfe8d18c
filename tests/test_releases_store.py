"""Releases and update reports in the store, on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import io
import zipfile

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from printerhq import release
from printerhq.server import releases

from .helpers_pg import postgres_cluster, postgres_url  # noqa: F401 - fixtures

KEY = Ed25519PrivateKey.generate()


def _wheel(version: str) -> tuple[release.SignedManifest, release.Manifest, bytes]:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(
            f"printerhq-{version}.dist-info/METADATA", f"Name: printerhq\nVersion: {version}\n"
        )
        zf.writestr("printerhq/__init__.py", b"\x00\xff" * 100)  # bytes that are not text
    data = buf.getvalue()
    manifest = release.make_manifest(f"printerhq-{version}-py3-none-any.whl", data, created=1.0)
    return release.sign(manifest, KEY), manifest, data


async def test_latest_is_the_highest_version_and_wheels_round_trip(store):
    assert await releases.latest(store) is None
    published = {v: _wheel(v) for v in ("0.9.0", "0.10.0", "0.10.0rc1")}
    for version in ("0.10.0", "0.10.0rc1", "0.9.0"):  # publication order is not version order
        await releases.publish(store, *published[version])
    latest = await releases.latest(store)
    assert latest == published["0.10.0"][0]
    assert release.verify(latest, KEY.public_key()).version == "0.10.0"
    assert await releases.wheel(store, "0.9.0") == published["0.9.0"][2]
    assert await releases.wheel(store, "1.0") is None
    with pytest.raises(release.ReleaseError, match="already published"):
        await releases.publish(store, *published["0.9.0"])


async def test_update_reports(store):
    await store.add_agent("site-a", "t" * 43)
    agent = await store.agent_for_token("t" * 43)
    assert agent is not None
    await releases.add_report(
        store,
        agent,
        releases.UpdateReport(version="0.2.0", outcome="refused", kind="downgrade", reason="older"),
    )
    await releases.add_report(
        store, agent, releases.UpdateReport(version="0.3.0", outcome="installed")
    )
    reports = await releases.list_reports(store)
    assert [(r["agent"], r["version"], r["outcome"], r["reason"]) for r in reports] == [
        ("site-a", "0.3.0", "installed", ""),
        ("site-a", "0.2.0", "refused", "downgrade: older"),
    ]
