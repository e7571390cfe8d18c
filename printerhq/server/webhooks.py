"""Webhook delivery: signed JSON POSTs from the outbox, retried with exponential backoff.

Signature (docs/alerts.md "Verifying a delivery"), Stripe's scheme: the header
``X-Printerhq-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``. The
timestamp is inside the MAC, so a receiver that refuses old timestamps refuses replays.

Delivery is at least once: a row is claimed in the database for a lease (one instance sends it),
marked delivered on a 2xx answer, and due again after ``backoff(attempts)`` otherwise, until
``MAX_ATTEMPTS``. An instance that dies mid-request leaves its claim to expire, and another sends
the row again: receivers drop repeats by the payload's ``id``.

The one module of the server that makes outgoing HTTP requests (httpx, the project's HTTP
client; tests/test_layers.py names the exception).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import trio

from printerhq.server import alert_rules as rules
from printerhq.server.alerts_store import AlertStore, Claimed

log = logging.getLogger("printerhq.server.webhooks")

SIGNATURE_HEADER = "X-Printerhq-Signature"
BASE_DELAY = 10.0  # seconds before the first retry; doubled after each failed attempt
MAX_DELAY = 3600.0
MAX_ATTEMPTS = 8  # about 21 minutes of retries, then the row is kept as failed
LEASE = 60.0  # a claim outlives the request timeout, so two instances never send at once
TIMEOUT = 10.0
BATCH = 20  # rows claimed at a time
MAX_SECRET_BYTES = 4096
MIN_SECRET_BYTES = 16


class SecretError(ValueError):
    pass


def backoff(attempts: int) -> float | None:
    """Seconds from a failed attempt (``attempts`` made so far, 1 or more) to the next one;
    ``None`` after the last: 10, 20, 40, ... 3600 s."""
    if attempts >= MAX_ATTEMPTS:
        return None
    return min(BASE_DELAY * 2.0 ** (attempts - 1), MAX_DELAY)


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    """The ``X-Printerhq-Signature`` value of ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: bytes, body: bytes, header: str, now: float, tolerance: float = 300) -> bool:
    """What a receiver does (docs/alerts.md has the same in a few lines)."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


def read_secret(path: str) -> bytes:
    """A webhook's secret from its file: surrounding whitespace dropped, 16 to 4096 bytes."""
    try:
        with Path(path).open("rb") as f:
            data = f.read(MAX_SECRET_BYTES + 1).strip()
    except OSError as exc:
        raise SecretError(f"cannot read the secret file {path}: {exc.strerror}") from None
    if not MIN_SECRET_BYTES <= len(data) <= MAX_SECRET_BYTES:
        raise SecretError(
            f"the secret in {path} must be {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes"
        )
    return data


class Deliverer:
    """Sends what the outbox holds. ``now``: the wall clock shared by instances (tests pass
    ``trio.current_time`` with a MockClock)."""

    def __init__(
        self,
        alerts: AlertStore,
        client: httpx.AsyncClient,
        *,
        now: Callable[[], float] = time.time,
    ):
        self.alerts = alerts
        self.client = client
        self.now = now
        self.owner = secrets.token_hex(8)  # this instance's name on its claims
        self._wake = trio.Event()

    def poke(self) -> None:
        """Something was queued: look at the outbox now rather than at the next poll."""
        self._wake.set()

    async def run_once(self) -> int:
        """Claim the due rows and send each once; the number of attempts made."""
        claimed = await self.alerts.claim(self.owner, self.now(), LEASE, BATCH)
        if not claimed:
            return 0
        hooks = {hook.url: hook for hook in (await self.alerts.config()).webhook}
        for claim in claimed:
            await self._send(claim, hooks.get(claim.url))
        return len(claimed)

    async def _send(self, claim: Claimed, hook: rules.Webhook | None) -> None:
        if hook is None:
            error = "the webhook is no longer configured"
            await self.alerts.retry_later(claim, self.owner, None, self.now(), error)
            return
        try:
            secret = read_secret(hook.secret_file)
            stamp = int(self.now())
            response = await self.client.post(
                claim.url,
                content=claim.body,
                headers={
                    "content-type": "application/json",
                    SIGNATURE_HEADER: sign(secret, claim.body, stamp),
                    "X-Printerhq-Event": f"alert.{claim.event}",
                    "X-Printerhq-Delivery": str(claim.id),
                },
                timeout=TIMEOUT,
                follow_redirects=False,
            )
            ok, error = 200 <= response.status_code < 300, f"HTTP {response.status_code}"
        except SecretError as exc:
            ok, error = False, str(exc)
        except (httpx.HTTPError, OSError) as exc:
            ok, error = False, type(exc).__name__  # no URL or secret in the stored error
        now = self.now()
        if ok:
            await self.alerts.delivered(claim, self.owner, now)
            return
        delay = backoff(claim.attempts)
        next_at = None if delay is None else now + delay
        log.warning(
            "webhook delivery %d, attempt %d failed: %s%s",
            claim.id,
            claim.attempts,
            error,
            "" if next_at is not None else "; giving up",
        )
        await self.alerts.retry_later(claim, self.owner, next_at, now, error)

    async def run(self, poll: float = 5.0) -> None:
        """Deliver until cancelled: at once when poked, else every ``poll`` seconds."""
        while True:
            try:
                sent = await self.run_once()
            except Exception:
                log.exception("webhook delivery failed; trying again later")
                sent = 0
            if sent >= BATCH:
                continue  # more may be due
            with trio.move_on_after(poll):
                await self._wake.wait()
            self._wake = trio.Event()
