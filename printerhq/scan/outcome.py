"""What happened to one address, decided and recorded in one place. Sans-IO: no trio, no I/O.

Every path of a scan ends an address with an :class:`Answer`, the evidence it gathered (what
SNMP, the ICMP echo, ARP and the HTTP probe said, or that adaptive discovery skipped it, or that
its name did not resolve). :func:`decide` turns that evidence into an :class:`Outcome`: one
:class:`Verdict`, the kind the discovery memory records, and whether it counts as an error. A
:class:`Ledger` records outcomes in the scan's :class:`~printerhq.model.ScanStats` and in the
:class:`~printerhq.adaptive.DiscoveryMemory`; it is the only code that changes either during a
scan.

The rules, in order (the first that applies wins):

=====================================  ===========  ==========  =====  ======================
evidence                               verdict      memory      error  counted in ScanStats
=====================================  ===========  ==========  =====  ======================
not probed (adaptive backoff)          SKIPPED      (nothing)   no     ``skipped``
name did not resolve                   FAILED       (nothing)   yes    ``errors``
SNMP identified a printer              PRINTER      printer     [1]_   ``responders, printers``
SNMP identified another agent          AGENT        snmp        [1]_   ``responders``
SNMP answered unreadably               UNREADABLE   snmp        yes    ``responders, errors``
SNMP failed (no route, error-status)   FAILED       silent      yes    ``errors``
alive [2]_, its web page a printer     EWS          ews         no     ``alive, printers``
alive [2]_                             ALIVE        alive       [3]_   ``alive``
an ICMP error, nothing alive           FAILED       silent      yes    ``errors``
nothing at all                         ABSENT       silent      no     (``completed`` only)
=====================================  ===========  ==========  =====  ======================

.. [1] when the report carries errors (a collection that went partly wrong).
.. [2] answered ARP, or the echo, or an SNMP reply came from another address (dropped).
.. [3] when an ICMP error came, or the SNMP reply came from another address.

An error is when the address gets a report with ``errors``, with one exception kept as it
always was: a web printer found on an address whose SNMP reply came from elsewhere is reported
with that text in ``errors`` but counted as a printer, not as an error. Silent, ping-only and
ARP-only addresses give no report. ``addresses`` and ``completed`` are counted apart
(:meth:`Ledger.admitted`, :meth:`Ledger.done`): when an address enters the scan and when its
slot is free again.
"""

from __future__ import annotations

__all__ = [
    "Answer",
    "Ledger",
    "Outcome",
    "Snmp",
    "Verdict",
    "decide",
    "is_alive",
    "is_device",
]

import enum
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from ..model import DeviceReport

from ..adaptive import DiscoveryMemory, Kind
from ..model import ScanStats

# PingResult.status values that are no ICMP error (icmp.py): an echo reply, silence, no pinger.
_NOT_ICMP_ERRORS = frozenset((None, "reply", "timeout", "off"))


class Snmp(enum.Enum):
    """What SNMP discovery (or the known-printer shortcut) got from an address."""

    SILENT = "silent"  # no acceptable reply (timeout), or not asked
    AGENT = "agent"  # identified, not a printer
    PRINTER = "printer"  # identified printer (by discovery, or one warm collection)
    UNREADABLE = "unreadable"  # it answered, but nothing could be decoded (SnmpBadReply)
    FAILED = "failed"  # the send failed (no route), or an error-status ended discovery


class Verdict(enum.Enum):
    """The one outcome of an address in a scan (mutually exclusive)."""

    SKIPPED = "skipped"
    ABSENT = "absent"
    ALIVE = "alive"
    EWS = "ews"
    AGENT = "agent"
    PRINTER = "printer"
    UNREADABLE = "unreadable"
    FAILED = "failed"


class Answer(NamedTuple):
    """The evidence about one address. The defaults are a silent address."""

    skipped: bool = False  # adaptive discovery did not probe it (blank space in backoff)
    unresolved: bool = False  # a hostname that did not resolve (no address to remember)
    snmp: Snmp = Snmp.SILENT
    answered_elsewhere: bool = False  # an SNMP reply with our request-id came from elsewhere
    echo: str | None = None  # PingResult.status; None: no ping (or cancelled by SNMP)
    arp: bool | None = None  # True: answered ARP; False: silent on its own segment
    ews: bool = False  # the HTTP probe found a printer's web page (only asked when alive)
    report_errors: bool = False  # the SNMP report carries errors (collection)


class Outcome(NamedTuple):
    verdict: Verdict
    kind: Kind | None  # what the discovery memory records (None: silent)
    remember: bool  # False: the memory records nothing (skipped; no address to record)
    error: bool  # counted in ScanStats.errors; exactly when the report has errors

    @property
    def responder(self) -> bool:
        return self.verdict in _RESPONDER_VERDICTS

    @property
    def printer(self) -> bool:
        return self.verdict in _PRINTER_VERDICTS

    @property
    def alive(self) -> bool:
        return self.verdict in _ALIVE_VERDICTS


_RESPONDER_VERDICTS = frozenset((Verdict.AGENT, Verdict.PRINTER, Verdict.UNREADABLE))
_PRINTER_VERDICTS = frozenset((Verdict.PRINTER, Verdict.EWS))
_ALIVE_VERDICTS = frozenset((Verdict.ALIVE, Verdict.EWS))


def is_alive(answer: Answer) -> bool:
    """Alive without a usable SNMP answer: what earns an address the HTTP probe."""
    return answer.arp is True or answer.answered_elsewhere or answer.echo == "reply"


# Every outcome there is, made once (a sweep settles tens of thousands of addresses a second).
_SKIPPED = Outcome(Verdict.SKIPPED, None, False, False)
_UNRESOLVED = Outcome(Verdict.FAILED, None, False, True)
_PRINTER = (
    Outcome(Verdict.PRINTER, "printer", True, False),
    Outcome(Verdict.PRINTER, "printer", True, True),
)
_AGENT = (Outcome(Verdict.AGENT, "snmp", True, False), Outcome(Verdict.AGENT, "snmp", True, True))
_UNREADABLE = Outcome(Verdict.UNREADABLE, "snmp", True, True)
_FAILED = Outcome(Verdict.FAILED, None, True, True)
_EWS = Outcome(Verdict.EWS, "ews", True, False)
_ALIVE = (Outcome(Verdict.ALIVE, "alive", True, False), Outcome(Verdict.ALIVE, "alive", True, True))
_ABSENT = Outcome(Verdict.ABSENT, None, True, False)


def decide(answer: Answer) -> Outcome:
    """The outcome of an address (the table in the module docstring)."""
    if answer.skipped:
        return _SKIPPED
    if answer.unresolved:
        return _UNRESOLVED
    snmp = answer.snmp
    if snmp is not Snmp.SILENT:
        if snmp is Snmp.PRINTER:
            return _PRINTER[answer.report_errors]
        if snmp is Snmp.AGENT:
            return _AGENT[answer.report_errors]
        return _UNREADABLE if snmp is Snmp.UNREADABLE else _FAILED
    # No usable SNMP answer.
    error = answer.echo not in _NOT_ICMP_ERRORS or answer.answered_elsewhere
    if is_alive(answer):
        return _EWS if answer.ews else _ALIVE[error]
    return _FAILED if error else _ABSENT


class Ledger:
    """Records outcomes in a scan's stats and discovery memory (either may be shared with the
    application: the Scanner's ``stats``, the memory in ``state_dir``)."""

    __slots__ = ("memory", "stats")

    def __init__(self, stats: ScanStats, memory: DiscoveryMemory | None = None) -> None:
        self.stats = stats
        self.memory = memory

    def admitted(self) -> None:
        """An address entered the scan."""
        self.stats.addresses += 1

    def done(self) -> None:
        """An address is finished (settled, or its task ended anyhow): progress."""
        self.stats.completed += 1

    def blank(self, count: int) -> None:
        """``count`` addresses silent on everything, with no memory to tell: what
        ``settle(None, Answer())`` and ``done()`` record for each, at once."""
        self.stats.completed += count

    def settle(self, address: str | None, answer: Answer) -> Outcome:
        """Decide the outcome of ``address`` (None: a name that never resolved) and record it."""
        outcome = decide(answer)
        verdict = outcome.verdict
        if outcome is not _ABSENT:  # the common case: nothing to count
            stats = self.stats
            if verdict is Verdict.SKIPPED:
                stats.skipped += 1
            if outcome.responder:
                stats.responders += 1
            if outcome.printer:
                stats.printers += 1
            if outcome.alive:
                stats.alive += 1
            if outcome.error:
                stats.errors += 1
        if outcome.remember and self.memory is not None and address is not None:
            self.memory.record(address, outcome.kind)
        return outcome


def is_device(report: DeviceReport) -> bool:
    """Whether ``report`` describes a device that exists, so it may go to the server.

    A printer, or anything that answered with something of its own (an SNMP agent's
    identity, a MAC address, a name, the protocol it spoke). A report that holds only the
    address and our errors — a send the kernel refused because ARP failed (``--arp off`` on a
    blank address), an ICMP error, a name that did not resolve, an unreadable reply — is a
    problem of the scan, not a device: the server keys devices by serial, MAC or address, and
    such reports became one junk device per blank address. They stay in the scan's output and
    in the agent's cycle status (``errors``, ``error_samples``)."""
    identity = report.identity
    if identity.is_printer or report.protocol is not None:
        return True
    return any(
        value is not None
        for value in (
            identity.vendor,
            identity.model,
            identity.serial,
            identity.mac,
            identity.sys_name,
            identity.sys_descr,
            identity.sys_object_id,
        )
    )
