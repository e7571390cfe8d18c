"""SNMPv3 (USM) in front of a simulated agent, sans-IO: bytes in, bytes (or nothing) out.

The responder is the authoritative engine for every request (RFC 3412 section 6.4), so it does
what :class:`~printerhq.snmp.trap_usm.NotificationReceiverUsm` does for informs: answer
discovery with its engine-id, boots and time (RFC 3414 section 4), check each request's HMAC and
time window against its own clock (section 3.2 step 7.a, a usmStatsNotInTimeWindows report
otherwise), decrypt, and answer at the request's security level. The PDU itself is answered by
the :class:`~.agent.Agent` with SNMPv2c semantics (RFC 3584 section 4.3: SNMPv3 carries v2 PDUs).

Clock faults (:data:`CLOCK_FAULTS`) make the engine's snmpEngineBoots/Time absurd:

``engine-boots-max``       snmpEngineBoots is 2**31-1 and snmpEngineTime 2**31-1: an engine at
                           the end of its life (RFC 3414 section 2.2.2: it answers every request
                           with notInTimeWindow, for ever)
``engine-clock-backwards`` every message the engine sends carries boots and time lower than the
                           last (a clock that runs back, or replayed answers), and the engine
                           takes any request's boots/time: its answers are authentic but stale
                           (RFC 3414 section 3.2 step 7.b: the manager must refuse them)
"""

from __future__ import annotations

__all__ = ["CLOCK_FAULTS", "V3Responder"]

import time
from collections.abc import Callable, Iterable

from printerhq.snmp.ber import SnmpDecodeError
from printerhq.snmp.message import Message, PduType, Version
from printerhq.snmp.trap_usm import NotificationReceiverUsm, usm_error_reply
from printerhq.snmp.usm import UsmError, UsmUser
from printerhq.snmp.v3 import ScopedPdu, V3Message

from .agent import Agent, LogEntry

CLOCK_FAULTS = frozenset(("engine-boots-max", "engine-clock-backwards"))
_MAX_BOOTS = 2**31 - 1
_REQUESTS = (PduType.GET, PduType.GET_NEXT, PduType.GET_BULK)


class _EngineUsm(NotificationReceiverUsm):
    """Our engine, with the clock a fault mode gives it."""

    def __init__(
        self,
        users: Iterable[UsmUser],
        engine_id: bytes | None,
        fault: str | None,
        clock: Callable[[], float],
    ) -> None:
        super().__init__(users, engine_id=engine_id, clock=clock)
        self.fault = fault
        self.messages = 0
        if fault == "engine-boots-max":
            self.engine_boots = _MAX_BOOTS

    @property
    def engine_time(self) -> int:
        if self.fault == "engine-boots-max":
            return _MAX_BOOTS
        if self.fault == "engine-clock-backwards":
            return max(0, 10_000_000 - 1_000 * self.messages)
        return super().engine_time

    def _check_our_window(self, message: V3Message, user: UsmUser) -> None:
        if self.fault != "engine-clock-backwards":  # that engine takes every request
            super()._check_our_window(message, user)

    def tick(self) -> None:
        """One more message: a clock that runs backwards loses a boot and 1,000 s each time."""
        self.messages += 1
        if self.fault == "engine-clock-backwards":
            self.engine_boots = max(1, 1_000 - self.messages)


class V3Responder:
    """SNMPv3 for one simulated device: ``users`` (USM, RFC 3414), the device's ``agent``."""

    def __init__(
        self,
        agent: Agent,
        users: Iterable[UsmUser],
        *,
        engine_id: bytes | None = None,
        fault: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if fault is not None and fault not in CLOCK_FAULTS:
            fault = None  # other fault modes act on the reply's bytes, not on the engine
        self.agent = agent
        self.usm = _EngineUsm(users, engine_id, fault, clock)

    def respond(self, request: bytes, address: str = "") -> bytes | None:
        """The encoded reply to ``request`` (a Response or a Report), or None to drop it."""
        usm = self.usm
        usm.tick()
        try:
            opened = usm.open(request)
        except UsmError as exc:
            return usm_error_reply(exc)  # a report when RFC 3414 asks for one, else dropped
        except (SnmpDecodeError, ValueError):
            return None
        if isinstance(opened, bytes):
            return opened  # discovery
        message, user, level, scoped = opened
        pdu = scoped.pdu
        if message.security.engine_id != usm.engine_id:
            return usm.unknown_engine_report(message, pdu.request_id)
        if pdu.type not in _REQUESTS:
            return None  # SET is not simulated over v3; other PDUs are never requests
        self.agent.request_log.append(
            LogEntry(address, pdu.type, [varbind.oid for varbind in pdu.varbinds])
        )
        answer = self.agent.reply(Message(Version.V2C, b"", pdu)).pdu
        return usm.encode_reply(
            message.msg_id,
            user,
            level,
            ScopedPdu(scoped.context_engine_id, scoped.context_name, answer),
        )
