"""SNMPv3 USM as a client credential: ``Target(address, credentials=[UsmCredential(user)])``.

One :class:`UsmCredential` may be shared by every target of a scan. It keeps one sans-IO
:class:`~printerhq.snmp.usm.UsmSession` per agent address (a bounded LRU), so the engine-id is
discovered once per agent (RFC 3414 section 4) and stays cached across scans, and the keys are
localised once per engine-id (``usm`` caches them). The client hooks it uses (see
``SnmpClient._request_with``):

* ``prepare(client, target)`` discovers the engine-id if needed (one exchange, serialised per
  agent by a lock) and returns the per-agent :class:`BoundUsm` that encodes and decodes.
* An authenticated notInTimeWindow report re-synchronises the session and raises
  :class:`SnmpV3Resynchronised`: the client re-encodes with the new boots/time and retries once.
* ``explain_timeout``: an agent that cannot decrypt a request drops it (net-snmp does), so a
  wrong privacy passphrase looks like a dead host. After a timeout at authPriv one authNoPriv
  probe tells the two apart (:meth:`UsmSession.privacy_probe_request`).

Replies that fail *our* checks (bad HMAC, stale time, undecryptable) are dropped like any
unreadable datagram (a forged datagram must not end a request); reports *from the agent* end it
with :class:`SnmpV3Error`, whose ``usm_error`` is the specific
:class:`~printerhq.snmp.usm.UsmError` (``UnknownUserName``, ``WrongDigest`` ...).
"""

from __future__ import annotations

__all__ = [
    "UsmCredential",
    "BoundUsm",
    "SnmpV3Error",
    "SnmpV3Resynchronised",
    "credentials_in_order",
]

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import trio

from .ber import SnmpDecodeError
from .client import SnmpBadReply, SnmpResynchronised, SnmpTimeout
from .credentials import Community, Credential
from .message import Pdu, Version
from .usm import (
    SNMP_ENGINE_TIME,
    DecryptionError,
    NotInTimeWindow,
    SecurityLevel,
    UnknownEngineId,
    UsmError,
    UsmSession,
    UsmUser,
)

if TYPE_CHECKING:
    from .client import SnmpClient, Target

# Agents whose discovered state is kept per credential: enough for a /18 between scans.
DEFAULT_MAX_AGENTS = 16_384


class SnmpV3Error(SnmpBadReply):
    """The agent refused the request with a USM report (or, for a wrong privacy key, the
    privacy probe showed it). ``usm_error`` is the specific error."""

    def __init__(self, target: object, usm_error: UsmError) -> None:
        self.usm_error = usm_error
        super().__init__(f"{target}: SNMPv3 {usm_error}{_HINTS.get(type(usm_error).__name__, '')}")


class SnmpV3Resynchronised(SnmpResynchronised, SnmpV3Error):
    """An authenticated notInTimeWindow report: boots/time adopted, request to be retried."""


# How the two requests the credential sends on its own read in the audit trail (usm.py): the
# engine-id discovery is a noAuthNoPriv GET with no varbinds, the privacy probe an authNoPriv
# GET of snmpEngineTime.0. (The others read "snmpv3/<level>", as the credential's protocol.)
_DISCOVERY = ("snmpv3/noAuthNoPriv", "GET", ())
_PRIVACY_PROBE = ("snmpv3/authNoPriv", "GET", ((1, 3, 6, 1, 6, 3, 10, 2, 1, 3, 0),))

_HINTS = {
    "UnknownUserName": " (no such USM user on the agent)",
    "WrongDigest": " (authentication passphrase or protocol wrong)",
    "DecryptionError": " (privacy passphrase or protocol wrong)",
    "UnsupportedSecLevel": " (the user is not configured for this security level)",
    "NotInTimeWindow": " (engine boots/time out of the 150 s window)",
    "UnknownEngineId": " (engine-id unknown to the agent)",
}


class _Agent:
    """Per-agent state: the session and the lock that serialises its discovery."""

    __slots__ = ("session", "lock", "bound")

    def __init__(self, session: UsmSession, bound: BoundUsm) -> None:
        self.session = session
        self.lock = trio.Lock()
        self.bound = bound


class UsmCredential:
    """An SNMPv3 user for any number of targets. ``repr`` shows the user name and security
    level, never a secret."""

    version = Version.V3

    def __init__(
        self,
        user: UsmUser,
        *,
        context_name: bytes = b"",
        max_agents: int = DEFAULT_MAX_AGENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.user = user
        self.context_name = context_name
        self.max_agents = max_agents
        self._clock = clock
        self._agents: OrderedDict[tuple[str, int], _Agent] = OrderedDict()

    def __repr__(self) -> str:
        return f"UsmCredential({self.user!r})"

    @property
    def protocol(self) -> str:
        return f"snmpv3/{_LEVEL_NAMES[self.user.security_level]}"

    def session_for(self, target: Target) -> UsmSession:
        """The (possibly undiscovered) session for ``target``'s address and port."""
        return self._agent(target).session

    def _agent(self, target: Target) -> _Agent:
        key = (target.address, target.port)
        agent = self._agents.get(key)
        if agent is None:
            session = UsmSession(self.user, context_name=self.context_name, clock=self._clock)
            agent = _Agent(session, BoundUsm(self, session, str(target)))
            self._agents[key] = agent
            if len(self._agents) > self.max_agents:
                self._agents.popitem(last=False)
        else:
            self._agents.move_to_end(key)
        return agent

    def _forget(self, session: UsmSession) -> None:
        """Drop an agent's session: its next request discovers the engine-id afresh."""
        for key, agent in self._agents.items():
            if agent.session is session:
                del self._agents[key]
                return

    async def prepare(self, client: SnmpClient, target: Target) -> BoundUsm:
        """Discover the agent's engine-id once (RFC 3414 section 4); return its BoundUsm."""
        agent = self._agent(target)
        if not agent.session.discovered:
            async with agent.lock:
                if not agent.session.discovered:
                    await client.exchange(
                        target,
                        agent.session.discovery_request,
                        agent.bound.decode_discovery,
                        asking=(),  # a GET without varbinds (RFC 3414 section 4)
                        about=_DISCOVERY,
                    )
        return agent.bound

    # The Credential protocol's encode/decode: a UsmCredential works only through prepare(),
    # because the message depends on the agent.
    def encode(self, pdu: Pdu) -> bytes:
        raise RuntimeError("UsmCredential encodes per agent: use the client (prepare())")

    def decode(self, data: bytes) -> Pdu:
        raise RuntimeError("UsmCredential decodes per agent: use the client (prepare())")


_LEVEL_NAMES = {
    SecurityLevel.NO_AUTH_NO_PRIV: "noAuthNoPriv",
    SecurityLevel.AUTH_NO_PRIV: "authNoPriv",
    SecurityLevel.AUTH_PRIV: "authPriv",
}


class BoundUsm:
    """A :class:`UsmCredential` bound to one agent: the object the client encodes and decodes
    with (msgID = request-id, so the shared transport matches v3 replies like v2c ones)."""

    version = Version.V3

    def __init__(self, credential: UsmCredential, session: UsmSession, where: str) -> None:
        self.credential = credential
        self.session = session
        self.where = where

    def __repr__(self) -> str:
        return f"BoundUsm({self.credential.user!r}, agent={self.where})"

    @property
    def protocol(self) -> str:
        return self.credential.protocol

    def encode(self, pdu: Pdu) -> bytes:
        return self.session.encode_request(pdu)

    def decode(self, data: bytes) -> Pdu:
        try:
            return self.session.decode_response(data)
        except UsmError as exc:
            raise self._classify(exc) from None

    def decode_discovery(self, data: bytes) -> bytes:
        try:
            return self.session.handle_discovery(data)
        except UsmError as exc:
            raise self._classify(exc) from None

    def _classify(self, exc: UsmError) -> Exception:
        if not exc.from_agent:
            # Failed our own checks: forged, replayed or garbled. Drop it and keep waiting.
            return SnmpDecodeError(f"SNMPv3 reply rejected: {exc}", 0)
        if isinstance(exc, NotInTimeWindow) and exc.engine_boots is not None:
            return SnmpV3Resynchronised(self.where, exc)
        if isinstance(exc, UnknownEngineId):
            # Another SNMP engine answers at this address now (the device was replaced or
            # its engine-id regenerated): this request fails, the next one discovers anew
            # (RFC 3414 section 4) instead of failing the same way until a restart.
            self.credential._forget(self.session)
        return SnmpV3Error(self.where, exc)

    async def explain_timeout(
        self, client: SnmpClient, target: Target, timeout: SnmpTimeout
    ) -> Exception:
        """After an authPriv timeout, ask at authNoPriv: an authentic answer means the agent is
        up and the user's auth key right, so the privacy key is what it could not use."""
        session = self.session
        if session.user.security_level is not SecurityLevel.AUTH_PRIV or not session.discovered:
            return timeout
        try:
            error: DecryptionError = await client.exchange(
                target,
                session.privacy_probe_request,
                self._decode_probe,
                asking=(SNMP_ENGINE_TIME,),
                about=_PRIVACY_PROBE,
            )
        except (SnmpTimeout, SnmpBadReply):
            return timeout
        return SnmpV3Error(self.where, error)

    def _decode_probe(self, data: bytes) -> DecryptionError:
        try:
            return self.session.handle_privacy_probe(data)
        except UsmError as exc:
            raise self._classify(exc) from None


def credentials_in_order(
    user: UsmUser | None, communities: Iterable[str], versions: Iterable[Version]
) -> list[Credential]:
    """What a scan tries, in this order: the SNMPv3 user (if any), then each community in each
    version (``versions`` outer, so v2c with every community before v1)."""
    credentials: list[Credential] = [] if user is None else [UsmCredential(user)]
    names = list(communities)
    credentials += [Community(name.encode(), version) for version in versions for name in names]
    return credentials
