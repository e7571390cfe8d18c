"""A sans-IO SNMPv1/v2c command responder over one :class:`Recording`.

Bytes in, bytes (or nothing) out: the trio server in :mod:`printerhq.sim.server` only moves
datagrams. Behaviour follows the RFCs a real printer agent follows:

* SNMPv1 (RFC 1157 section 4.1, RFC 3584 section 4.1): any missing variable fails the whole
  request with ``noSuchName`` and the request's own varbinds; GETNEXT past the end is
  ``noSuchName``; Counter64 values do not exist for v1 (RFC 3584 section 4.2.2.1: GET answers
  ``noSuchName``, GETNEXT skips them). GETBULK does not exist (the decoder already refuses it).
* SNMPv2c (RFC 3416 section 4.2): exceptions (noSuchObject, noSuchInstance, endOfMibView) go
  into the varbinds, error-status stays ``noError``.
* Size (RFC 3416 sections 4.2.1 and 4.2.3): a GET/GETNEXT/SET response over ``max_size`` becomes
  ``tooBig`` with an empty varbind list (v2c) or the request's varbinds (v1, RFC 1157 4.1.2);
  a GETBULK response is cut short at a varbind boundary instead. If even the tooBig reply does
  not fit, nothing is sent (RFC 3416 4.2.1: snmpSilentDrops).
* SET is refused: ``notWritable`` (v2c) / ``noSuchName`` (v1, RFC 3584 section 4.4 mapping).
* Undecodable messages, unknown communities, versions the recording does not speak, and PDUs a
  responder never receives (Response, Trap, Report) are dropped silently, as agents do.
"""

from __future__ import annotations

__all__ = ["DEFAULT_COMMUNITIES", "Agent", "LogEntry"]

from collections.abc import Iterable, MutableSequence
from typing import NamedTuple

from printerhq.snmp.ber import SnmpDecodeError, Tag
from printerhq.snmp.message import (
    MAX_MESSAGE_SIZE,
    MAX_VARBINDS,
    ErrorStatus,
    Message,
    Pdu,
    PduType,
    Varbind,
    Version,
    decode_message,
    encode_message,
    encode_varbind,
)

from .recording import Recording

DEFAULT_COMMUNITIES = frozenset((b"public",))


class LogEntry(NamedTuple):
    """One request the agent accepted: who asked, which PDU type, which OIDs."""

    address: str
    pdu_type: PduType
    oids: list[tuple[int, ...]]


class Agent:
    """Answers SNMP requests from one recording.

    ``versions`` defaults to the recording's own (a fixture may declare itself v1-only).
    ``request_log`` is any list-like object (e.g. a bounded deque shared by a fleet) that gets one
    :class:`LogEntry` per accepted request; by default a fresh list.
    """

    def __init__(
        self,
        recording: Recording,
        communities: Iterable[bytes] = DEFAULT_COMMUNITIES,
        versions: Iterable[int] | None = None,
        *,
        max_size: int = MAX_MESSAGE_SIZE,
        request_log: MutableSequence[LogEntry] | None = None,
    ) -> None:
        self.recording = recording
        self.communities = frozenset(
            c.encode() if isinstance(c, str) else bytes(c) for c in communities
        )
        self.versions = frozenset(
            int(v) for v in (recording.versions if versions is None else versions)
        )
        self.max_size = min(max_size, MAX_MESSAGE_SIZE)
        self.request_log: MutableSequence[LogEntry] = [] if request_log is None else request_log

    # -- public --------------------------------------------------------------------------

    def respond(self, request: bytes, address: str = "") -> bytes | None:
        """The encoded reply to ``request``, or None to drop it."""
        message = self.accept(request, address)
        if message is None:
            return None
        return self.reply_bytes(message)

    def accept(self, request: bytes, address: str = "") -> Message | None:
        """Decode and authorise a request (community, version, PDU type) and log it.

        Returns None for anything an agent silently drops."""
        try:
            message = decode_message(request)
        except (SnmpDecodeError, ValueError):
            return None
        if message.version not in self.versions or message.community not in self.communities:
            return None
        if message.pdu.type not in (PduType.GET, PduType.GET_NEXT, PduType.GET_BULK, PduType.SET):
            return None
        self.request_log.append(
            LogEntry(address, message.pdu.type, [vb.oid for vb in message.pdu.varbinds])
        )
        return message

    def reply(self, message: Message) -> Message:
        """The Response message for an accepted request, before any size limit."""
        pdu = message.pdu
        answer = self._answer_v1(pdu) if message.version == Version.V1 else self._answer_v2c(pdu)
        return Message(message.version, message.community, answer)

    def reply_bytes(self, message: Message) -> bytes | None:
        """Encode the reply within ``max_size`` (tooBig / GETBULK truncation, see module doc)."""
        reply = self.reply(message)
        encoded = encode_message(reply)
        if len(encoded) <= self.max_size:
            return encoded
        if message.pdu.type == PduType.GET_BULK:
            return self._truncated(reply)
        # RFC 3416 4.2.1 (v2c): tooBig, error-index 0, empty list; RFC 1157 4.1.2 (v1): the
        # request's own varbinds.
        varbinds = list(message.pdu.varbinds) if message.version == Version.V1 else []
        too_big = Message(
            message.version,
            message.community,
            Pdu(PduType.RESPONSE, message.pdu.request_id, ErrorStatus.TOO_BIG, 0, varbinds),
        )
        encoded = encode_message(too_big)
        return encoded if len(encoded) <= self.max_size else None

    # -- internals -----------------------------------------------------------------------

    def _answer_v2c(self, pdu: Pdu) -> Pdu:
        oids = [vb.oid for vb in pdu.varbinds]
        rec = self.recording
        if pdu.type == PduType.GET:
            varbinds = [rec.get(oid) for oid in oids]
        elif pdu.type == PduType.GET_NEXT:
            varbinds = [rec.get_next(oid) for oid in oids]
        elif pdu.type == PduType.GET_BULK:
            varbinds = self._bulk(oids, pdu.non_repeaters, pdu.max_repetitions)
        else:  # SET: the simulator is read-only (RFC 3416 4.2.5: notWritable).
            if not oids:
                return Pdu(PduType.RESPONSE, pdu.request_id, ErrorStatus.NO_ERROR, 0, [])
            return Pdu(
                PduType.RESPONSE, pdu.request_id, ErrorStatus.NOT_WRITABLE, 1, list(pdu.varbinds)
            )
        return Pdu(PduType.RESPONSE, pdu.request_id, ErrorStatus.NO_ERROR, 0, varbinds)

    def _bulk(
        self, oids: list[tuple[int, ...]], non_repeaters: int, max_repetitions: int
    ) -> list[Varbind]:
        # Bound the work: no reply can carry more than MAX_VARBINDS varbinds (RFC 3416 4.2.3
        # lets an agent return fewer).
        repeaters = max(len(oids) - max(min(non_repeaters, len(oids)), 0), 1)
        cap = max(MAX_VARBINDS // repeaters, 1)
        return self.recording.get_bulk(oids, non_repeaters, min(max_repetitions, cap))

    def _answer_v1(self, pdu: Pdu) -> Pdu:
        rec = self.recording
        results: list[Varbind] = []
        for index, requested in enumerate(pdu.varbinds, start=1):
            if pdu.type == PduType.SET:
                return self._v1_error(pdu, index)
            if pdu.type == PduType.GET:
                found = rec.get(requested.oid)
                if found.is_exception or found.tag == Tag.COUNTER64:
                    return self._v1_error(pdu, index)
            else:
                found = rec.get_next(requested.oid)
                # RFC 3584 4.2.2.1: skip Counter64 objects for v1 GETNEXT.
                while found.tag == Tag.COUNTER64:
                    found = rec.get_next(found.oid)
                if found.is_exception:
                    return self._v1_error(pdu, index)
            results.append(found)
        return Pdu(PduType.RESPONSE, pdu.request_id, ErrorStatus.NO_ERROR, 0, results)

    @staticmethod
    def _v1_error(pdu: Pdu, index: int) -> Pdu:
        # RFC 1157 4.1.2-4.1.3: the response repeats the request's varbinds.
        return Pdu(
            PduType.RESPONSE, pdu.request_id, ErrorStatus.NO_SUCH_NAME, index, list(pdu.varbinds)
        )

    def _truncated(self, reply: Message) -> bytes | None:
        """Drop varbinds from the end until the message fits (RFC 3416 4.2.3 reason (1))."""
        varbinds = reply.pdu.varbinds
        empty = Message(
            reply.version,
            reply.community,
            Pdu(PduType.RESPONSE, reply.pdu.request_id, ErrorStatus.NO_ERROR, 0, []),
        )
        base = len(encode_message(empty))
        # Each extra length octet of the three enclosing SEQUENCEs costs at most 3 bytes each;
        # budget 12 bytes, then correct with exact encodings below.
        budget = self.max_size - base - 12
        total = 0
        keep = 0
        for varbind in varbinds:
            total += len(encode_varbind(varbind))
            if total > budget:
                break
            keep += 1
        while True:
            candidate = Message(
                reply.version,
                reply.community,
                Pdu(
                    PduType.RESPONSE, reply.pdu.request_id, ErrorStatus.NO_ERROR, 0, varbinds[:keep]
                ),
            )
            encoded = encode_message(candidate)
            if len(encoded) <= self.max_size:
                return encoded
            if keep == 0:
                return None
            keep -= 1
