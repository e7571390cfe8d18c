"""The scan's outcome step (printerhq/scan/outcome.py), sans-IO: property tests in the manner of
the DiscoverySweep's (tests/test_sweep.py), plus the rows of its table pinned one by one.

No network: the addresses below are only keys of the discovery memory, never sent to.
"""

from __future__ import annotations

import ipaddress
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from printerhq.adaptive import DiscoveryMemory
from printerhq.model import ScanStats
from printerhq.scan.outcome import Answer, Ledger, Outcome, Snmp, Verdict, decide, is_alive

ECHOES = [None, "reply", "timeout", "off", "unreachable", "error"]
NOW = 1_700_000_000.0
BOOLEANS = st.booleans()
ANY_SNMP = st.sampled_from(Snmp)


def answers(
    skipped: st.SearchStrategy[bool] = BOOLEANS,
    unresolved: st.SearchStrategy[bool] = BOOLEANS,
    snmp: st.SearchStrategy[Snmp] = ANY_SNMP,
) -> st.SearchStrategy[Answer]:
    """Any evidence; the first three fields can be pinned (no filtering, so no health-check
    failures for examples thrown away)."""
    return st.builds(
        Answer,
        skipped=skipped,
        unresolved=unresolved,
        snmp=snmp,
        answered_elsewhere=st.booleans(),
        echo=st.sampled_from(ECHOES),
        arp=st.sampled_from([None, True, False]),
        ews=st.booleans(),
        report_errors=st.booleans(),
    )


probed = answers(skipped=st.just(False), unresolved=st.just(False))  # an address was asked
# Addresses in three neighbouring /24 blocks (so blocks of the memory are shared), and IPv6
# ones (which the memory does not keep).
v4 = st.integers(0, 3 * 256 - 1).map(lambda i: str(ipaddress.IPv4Address(0x0A09_0000 + i)))
v6 = st.integers(1, 500).map(lambda i: str(ipaddress.IPv6Address(0x2001_0DB8 << 96 | i)))
scans = st.dictionaries(st.one_of(v4, v4, v6), answers(), max_size=60)


def fresh_memory() -> DiscoveryMemory:
    memory = DiscoveryMemory()
    memory.begin_scan(NOW)
    return memory


def address_of(address: str, answer: Answer) -> str | None:
    """The engine settles an unresolved name without an address (it has none)."""
    return None if answer.unresolved and not answer.skipped else address


def run_scan(
    items: list[tuple[str, Answer]], memory: DiscoveryMemory | None
) -> tuple[ScanStats, list[Outcome]]:
    """What the engine does per address: admitted, settled once, done."""
    ledger = Ledger(ScanStats(), memory)
    outcomes = []
    for address, answer in items:
        ledger.admitted()
        outcomes.append(ledger.settle(address_of(address, answer), answer))
        ledger.done()
    return ledger.stats, outcomes


def blank_bit(memory: DiscoveryMemory, address: str) -> bool:
    value = int(ipaddress.IPv4Address(address))
    block = memory.blocks.get(value >> 8)
    return block is not None and bool(block[3 + ((value & 0xFF) >> 3)] >> (value & 7) & 1)


def snapshot(memory: DiscoveryMemory) -> tuple[dict, dict]:
    return dict(memory.known), {k: bytes(v) for k, v in memory.blocks.items()}


# -- the ledger: one outcome per address, counters that add up, memory that agrees -----------


@settings(max_examples=300, deadline=None)
@given(scan=scans)
def test_every_address_gets_one_outcome_and_the_counters_add_up(scan):
    items = list(scan.items())
    stats, outcomes = run_scan(items, fresh_memory())
    n = len(items)
    verdicts = Counter(o.verdict for o in outcomes)
    assert len(outcomes) == n and sum(verdicts.values()) == n
    assert stats.addresses == stats.completed == n
    assert stats.skipped == verdicts[Verdict.SKIPPED]
    assert stats.responders == (
        verdicts[Verdict.AGENT] + verdicts[Verdict.PRINTER] + verdicts[Verdict.UNREADABLE]
    )
    assert stats.printers == verdicts[Verdict.PRINTER] + verdicts[Verdict.EWS]
    assert stats.alive == verdicts[Verdict.ALIVE] + verdicts[Verdict.EWS]
    assert stats.errors == sum(o.error for o in outcomes)
    # Each counter is a disjoint part of the addresses: nobody is both a responder and alive
    # only, skipped and anything else.
    assert stats.responders + stats.alive + stats.skipped <= n
    assert stats.skipped + stats.errors <= n
    # The traffic fields are the scan's, not the ledger's.
    assert (stats.packets_sent, stats.bytes_sent, stats.by_protocol) == (0, 0, {})


@settings(max_examples=300, deadline=None)
@given(scan=scans)
def test_the_memory_records_agree_with_the_outcomes(scan):
    memory = fresh_memory()
    items = list(scan.items())
    _, outcomes = run_scan(items, memory)
    for (address, answer), outcome in zip(items, outcomes, strict=True):
        if ":" in address:  # IPv6: never remembered
            continue
        if outcome.verdict is Verdict.SKIPPED or answer.unresolved:
            # Not probed (or no address): the memory learns nothing about it.
            assert memory.kind_of(address) is None and not blank_bit(memory, address)
        elif outcome.kind is None:
            assert memory.kind_of(address) is None and blank_bit(memory, address)
        else:
            assert memory.kind_of(address) == outcome.kind and not blank_bit(memory, address)
    assert len(memory.known) == sum(
        o.kind is not None and o.remember
        for (a, _), o in zip(items, outcomes, strict=True)
        if ":" not in a
    )


@settings(max_examples=200, deadline=None)
@given(scan=scans, data=st.data())
def test_order_does_not_matter(scan, data):
    items = list(scan.items())
    shuffled = data.draw(st.permutations(items))
    one, two = fresh_memory(), fresh_memory()
    stats_one, _ = run_scan(items, one)
    stats_two, _ = run_scan(shuffled, two)
    assert stats_one == stats_two
    one.end_scan()
    two.end_scan()
    assert snapshot(one) == snapshot(two)


@settings(max_examples=200, deadline=None)
@given(scan=scans)
def test_an_address_settled_twice_is_remembered_once(scan):
    # A target list may name an address twice: the memory ends the same as with one mention
    # (the counters count both: two addresses were admitted).
    items = list(scan.items())
    once, twice = fresh_memory(), fresh_memory()
    run_scan(items, once)
    stats, _ = run_scan(items + items, twice)
    assert snapshot(once) == snapshot(twice)
    assert stats.addresses == stats.completed == 2 * len(items)


@settings(max_examples=200, deadline=None)
@given(scan=scans)
def test_the_memory_does_not_change_the_counts(scan):
    items = list(scan.items())
    with_memory, outcomes = run_scan(items, fresh_memory())
    without, outcomes_without = run_scan(items, None)
    assert with_memory == without and outcomes == outcomes_without


# -- decide: the rules --------------------------------------------------------------------------


@given(answer=answers())
def test_decide_is_a_function_of_the_evidence(answer):
    assert decide(answer) == decide(Answer(*answer))


@given(answer=answers())
def test_skipped_and_unresolved_come_first(answer):
    outcome = decide(answer)
    if answer.skipped:
        assert outcome == Outcome(Verdict.SKIPPED, None, False, False)
    elif answer.unresolved:
        assert outcome == Outcome(Verdict.FAILED, None, False, True)
    else:
        assert outcome.remember


@given(answer=probed)
def test_an_snmp_answer_wins_over_echo_arp_and_web_page(answer):
    outcome = decide(answer)
    if answer.snmp in (Snmp.AGENT, Snmp.PRINTER, Snmp.UNREADABLE):
        assert outcome.responder and not outcome.alive
        assert outcome.kind == ("printer" if answer.snmp is Snmp.PRINTER else "snmp")
        assert outcome.error == (answer.report_errors or answer.snmp is Snmp.UNREADABLE)
    elif answer.snmp is Snmp.FAILED:
        assert outcome == Outcome(Verdict.FAILED, None, True, True)
    else:
        assert not outcome.responder


@given(answer=answers(skipped=st.just(False), unresolved=st.just(False), snmp=st.just(Snmp.SILENT)))
def test_without_snmp_alive_is_alive_and_the_web_page_needs_it(answer):
    outcome = decide(answer)
    alive = answer.arp is True or answer.echo == "reply" or answer.answered_elsewhere
    assert is_alive(answer) == alive
    assert outcome.alive == alive
    assert outcome.printer == (alive and answer.ews)  # ews without life is not believed
    assert outcome.kind == ("ews" if alive and answer.ews else "alive" if alive else None)
    icmp_error = answer.echo in ("unreachable", "error")
    if outcome.verdict is Verdict.EWS:
        assert not outcome.error  # the printer page is the report
    else:
        assert outcome.error == (icmp_error or answer.answered_elsewhere)
    assert (outcome.verdict is Verdict.ABSENT) == (not alive and not outcome.error)


@pytest.mark.parametrize(
    ("answer", "verdict", "kind", "error", "counts"),
    [
        (Answer(skipped=True), Verdict.SKIPPED, None, False, {"skipped": 1}),
        (Answer(unresolved=True), Verdict.FAILED, None, True, {"errors": 1}),
        (
            Answer(snmp=Snmp.PRINTER),
            Verdict.PRINTER,
            "printer",
            False,
            {"responders": 1, "printers": 1},
        ),
        (
            Answer(snmp=Snmp.PRINTER, report_errors=True, echo="reply"),
            Verdict.PRINTER,
            "printer",
            True,
            {"responders": 1, "printers": 1, "errors": 1},
        ),
        (Answer(snmp=Snmp.AGENT, arp=True), Verdict.AGENT, "snmp", False, {"responders": 1}),
        (
            Answer(snmp=Snmp.UNREADABLE),
            Verdict.UNREADABLE,
            "snmp",
            True,
            {"responders": 1, "errors": 1},
        ),
        (Answer(snmp=Snmp.FAILED, echo="reply"), Verdict.FAILED, None, True, {"errors": 1}),
        (Answer(echo="reply"), Verdict.ALIVE, "alive", False, {"alive": 1}),
        (Answer(arp=True), Verdict.ALIVE, "alive", False, {"alive": 1}),
        (Answer(answered_elsewhere=True), Verdict.ALIVE, "alive", True, {"alive": 1, "errors": 1}),
        (
            Answer(answered_elsewhere=True, ews=True),
            Verdict.EWS,
            "ews",
            False,
            {"alive": 1, "printers": 1},
        ),
        (Answer(echo="reply", ews=True), Verdict.EWS, "ews", False, {"alive": 1, "printers": 1}),
        (Answer(echo="unreachable"), Verdict.FAILED, None, True, {"errors": 1}),
        (Answer(echo="error", ews=True), Verdict.FAILED, None, True, {"errors": 1}),
        (Answer(echo="timeout"), Verdict.ABSENT, None, False, {}),
        (Answer(echo="off"), Verdict.ABSENT, None, False, {}),
        (Answer(arp=False), Verdict.ABSENT, None, False, {}),
        (Answer(), Verdict.ABSENT, None, False, {}),
    ],
)
def test_each_row_of_the_table(answer, verdict, kind, error, counts):
    outcome = decide(answer)
    assert (outcome.verdict, outcome.kind, outcome.error) == (verdict, kind, error)
    ledger = Ledger(ScanStats(), fresh_memory())
    ledger.settle("10.9.0.1", answer)
    stats = ledger.stats
    fields = ("skipped", "responders", "printers", "alive", "errors")
    assert {f: getattr(stats, f) for f in fields if getattr(stats, f)} == counts
    assert stats.completed == stats.addresses == 0  # counted by admitted() and done() alone


# -- the engine: every path ends in exactly one settle -----------------------------------------


@pytest.mark.parametrize("icmp", [True, False], ids=["icmp", "no-icmp"])
@pytest.mark.parametrize("batched", [True, False], ids=["sweep", "per-host"])
async def test_a_real_scan_settles_every_address_exactly_once(monkeypatch, batched, icmp):
    """Against the loopback simulator: printers, an agent answering from another address,
    blank addresses, a name that resolves and one that does not. The Ledger is the only
    place outcomes are recorded, and each address reaches it once."""
    import trio

    from printerhq.engine import Scanner, ScanOptions
    from printerhq.sim.server import serve_fleet
    from tests.helpers_engine import FIXTURES, LocalResolver, is_printer_recording

    hosts = [f"127.93.5.{i}" for i in range(1, 4)]
    # hosts[2] answers from another address: dropped, so it is not found as what it is.
    printers = {
        h for h, path in zip(hosts[:2], FIXTURES, strict=False) if is_printer_recording(path)
    }
    blanks = [f"127.93.5.{i}" for i in range(10, 30)]
    addresses = [hosts[0], hosts[2], "printer.lab.test", "no-such-host.lab.test", *blanks]
    settled: list[tuple[str | None, Outcome]] = []
    real_settle = Ledger.settle

    def spy(self: Ledger, address: str | None, answer: Answer) -> Outcome:
        outcome = real_settle(self, address, answer)
        settled.append((address, outcome))
        return outcome

    monkeypatch.setattr(Ledger, "settle", spy)
    memory = DiscoveryMemory()
    trio.socket.set_custom_hostname_resolver(LocalResolver({"printer.lab.test": hosts[1]}))
    try:
        async with serve_fleet(FIXTURES[:3], hosts, faults={hosts[2]: "other-address"}) as fleet:
            options = ScanOptions(
                port=fleet.port,
                timeout=0.3,
                retries=0,
                rate=20_000,
                collect=True,
                arp=False,
                icmp=icmp,
                batched_discovery=batched,
            )
            async with Scanner(options, memory=memory) as scanner:
                pinging = scanner._pinger is not None and scanner._pinger.mode != "off"
                async with scanner.scan(addresses) as reports:
                    found = {r.identity.address: r async for r in reports}
    finally:
        trio.socket.set_custom_hostname_resolver(None)

    stats = scanner.stats
    assert len(settled) == stats.addresses == stats.completed == len(addresses)
    by_address = dict(settled)
    assert len(by_address) == len(settled)  # no address settled twice
    assert set(by_address) == {*hosts, *blanks, None}  # None: the name that did not resolve
    verdicts = Counter(o.verdict for _, o in settled)
    assert stats.printers == verdicts[Verdict.PRINTER] + verdicts[Verdict.EWS] == len(printers)
    assert stats.errors == sum(o.error for _, o in settled) == 2  # dns, reply from elsewhere
    assert by_address[None].verdict is Verdict.FAILED
    assert by_address[hosts[2]] == Outcome(Verdict.ALIVE, "alive", True, True)
    assert "came from" in found[hosts[2]].errors[0]
    blank = Verdict.ALIVE if pinging else Verdict.ABSENT  # loopback answers every ping
    assert {by_address[b].verdict for b in blanks} == {blank}
    for address, outcome in settled:
        if address is not None:
            assert memory.kind_of(address) == outcome.kind
    assert set(found) == {*hosts, "no-such-host.lab.test"}  # reports: agents and errors only
