"""UpdateManager at its network boundary: hostile or broken server answers (httpx MockTransport,
no sockets), each ending in a clear outcome, never a traceback, never an install."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from printerhq import __version__, release
from printerhq.agent.update import UpdateEvent, UpdateManager, UpdatePaths

KEY = Ed25519PrivateKey.generate()
PUBLIC = release.public_key_text(KEY.public_key())
WHEEL = b"wheel bytes " * 100
NEWER = "999.0.0"


def signed_latest(data: bytes = WHEEL, version: str = NEWER) -> bytes:
    manifest = release.Manifest(
        name="printerhq",
        version=version,
        wheel=f"printerhq-{version}-py3-none-any.whl",
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        created=1.0,
    )
    return release.encode_signed(release.sign(manifest, KEY))


def manager(tmp_path, handler) -> tuple[UpdateManager, list[UpdateEvent]]:
    events: list[UpdateEvent] = []

    async def report(event: UpdateEvent) -> None:
        events.append(event)

    http = httpx.AsyncClient(base_url="https://hq.example", transport=httpx.MockTransport(handler))
    m = UpdateManager(
        PUBLIC,
        UpdatePaths(tmp_path / "root"),
        http,
        restart_args=[],
        report=report,
        trial_command=lambda env, heartbeat: [str(env / "bin" / "printerhq"), "--version"],
    )
    return m, events


def routes(latest: bytes | None = None, status: int = 200, wheel: bytes = WHEEL):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/updates/latest":
            if latest is None:
                return httpx.Response(404, json={"error": "no release published"})
            return httpx.Response(status, content=latest)
        if request.url.path == f"/api/v1/updates/{NEWER}/wheel":
            return httpx.Response(200, content=wheel)
        return httpx.Response(404)

    return handler


async def test_nothing_published(tmp_path) -> None:
    m, events = manager(tmp_path, routes(None))
    assert (await m.check_and_apply()).kind == "nothing"
    assert events == []


@pytest.mark.parametrize(
    ("handler", "kind", "reason"),
    [
        (routes(b"x", status=500), "error", "answered 500"),
        (routes(b"{" * 100_000), "refused", "manifest: answer larger than"),
        (routes(b"[1, 2]"), "refused", "manifest: unreadable envelope"),
        (
            routes(signed_latest(), wheel=WHEEL + b"more"),
            "refused",
            "tampered: the wheel is larger",
        ),
        (routes(signed_latest(), wheel=WHEEL[:-1]), "refused", "tampered: wheel is"),
        (routes(signed_latest(version="0.0.0")), "refused", "downgrade"),
        (routes(signed_latest(version=__version__)), "current", ""),
    ],
)
async def test_hostile_answers_end_in_a_clear_outcome(tmp_path, handler, kind, reason) -> None:
    m, events = manager(tmp_path, handler)
    outcome = await m.check_and_apply()
    assert outcome.kind == kind and reason in outcome.reason, outcome
    assert not (tmp_path / "root" / "versions").exists()
    assert [e.outcome for e in events] == (["refused"] if kind == "refused" else [])
    await m.check_and_apply()
    assert len(events) == (1 if kind == "refused" else 0)  # reported once, not once per check


async def test_unreachable_server(tmp_path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    m, events = manager(tmp_path, handler)
    outcome = await m.check_and_apply()
    assert outcome.kind == "error" and "ConnectError" in outcome.reason
    assert events == []


def test_an_unusable_public_key_is_refused_at_construction(tmp_path) -> None:
    with pytest.raises(release.ReleaseError) as info:
        UpdateManager(
            "not a key",
            UpdatePaths(tmp_path),
            httpx.AsyncClient(),
            restart_args=[],
            trial_command=lambda env, heartbeat: [],
        )
    assert info.value.kind == "key"
