"""SNMP errors that need no I/O: the client's base exception, the allow-list refusal, and what
to ask next after an error-status (pure helpers over the request's items).

RFC 1157 section 4.1.2: an SNMPv1 agent answers a GET (or GETNEXT) that names an object it does
not have with ``noSuchName`` and the 1-based position of that object in ``error-index``, and
returns no values at all. The manager drops that object and asks again for the rest. (SNMPv2c
and v3 agents answer per varbind with noSuchObject/noSuchInstance/endOfMibView instead, RFC 3416
section 4.2.1, so this only ever happens with SNMPv1 or with agents that mix the two.)
"""

from __future__ import annotations

__all__ = ["SnmpError", "SnmpRefused", "missing_index", "without_missing"]

from collections.abc import Sequence
from typing import TypeVar

from .message import ErrorStatus

T = TypeVar("T")


class SnmpError(Exception):
    """Any SNMP failure for one target; the message names the target, never the credential."""


class SnmpRefused(SnmpError):
    """A request the client would not send: it names an OID outside the privacy allow-list
    (:mod:`printerhq.allowlist`). Raised before anything is encoded or reaches a socket; a
    bug in whoever asked, never the device's doing, so the message says which OID and where."""

    def __init__(self, where: str, oid: tuple[int, ...], why: str) -> None:
        self.oid = oid  # empty when the request itself is refused (a SET)
        if oid:
            super().__init__(f"{where}: refused to ask for {'.'.join(map(str, oid))}: {why}")
        else:
            super().__init__(f"{where}: refused: {why}")


def missing_index(error_status: int, error_index: int, asked: int) -> int | None:
    """The 0-based position, among ``asked`` items, of the object a noSuchName answer names;
    None when the answer is not a noSuchName naming one of them (another error-status, or an
    error-index of 0 or out of range: nothing to drop)."""
    if error_status == ErrorStatus.NO_SUCH_NAME and 1 <= error_index <= asked:
        return error_index - 1
    return None


def without_missing(asked: Sequence[T], error_status: int, error_index: int) -> list[T] | None:
    """The items to ask again after a noSuchName answer: ``asked`` without the one it names
    (empty when that was the only one); None when the answer is not such a noSuchName."""
    index = missing_index(error_status, error_index, len(asked))
    if index is None:
        return None
    return [*asked[:index], *asked[index + 1 :]]
