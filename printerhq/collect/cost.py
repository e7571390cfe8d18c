"""A small byte-cost model for packing one GETBULK: which columns repeat, which cells are exact.

A GETBULK (RFC 3416 section 4.2.3) carries two kinds of request varbinds:

* **non-repeaters**: each is one GETNEXT; asking a known cell exactly (as GETNEXT of its
  predecessor, see :func:`.runs.predecessor`) costs its OID in the request *and* in the reply —
  the same bytes as a GET.
* **repeaters**: each costs one OID in the request and returns ``max-repetitions`` cells. Every
  repeater shares the one ``max-repetitions``, so a column with fewer rows than that overshoots:
  the cells past its end (the next column, the next table) are pure waste. So are rows we do not
  want that lie between the first and last wanted rows (a counter table's unused rows).

The cell we want comes back either way, so both choices are compared on their *extra* bytes
only: ``exact`` = one request varbind per wanted cell; ``repeat(R)`` = one request varbind plus
``R - wanted`` unwanted cells in the reply. :func:`choose_repetitions` tries each useful ``R``.
Sizes are from the real BER encoding of the OIDs (X.690 8.19), so the model knows that an
enterprise OID costs more than a Printer-MIB one; reply values are estimated.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from printerhq.mib.oids import OID
from printerhq.snmp.ber import encode_oid

from .runs import predecessor

VALUE_ESTIMATE = 5  # tag, length, ~3 content octets: a level, a status, a mid-sized counter
MAX_REPETITIONS = 60  # cap per GETBULK: keeps one response well under a 1,500-byte MTU mostly
EXCHANGE_COST = 120  # IPv4+UDP (2 x 28) + SNMP message and PDU headers (~2 x 30) per round trip

K = TypeVar("K", bound=Hashable)


def oid_size(oid: OID) -> int:
    """Octets of the OID's TLV (lengths below 128 take one octet): X.690 8.19, the first two
    arcs in one sub-identifier, each sub-identifier in base-128 groups of seven bits."""
    if max(oid[2:], default=0) < 0x80 and oid[0] * 40 + oid[1] < 0x80:
        return 2 + len(oid) - 1  # every sub-identifier one octet: all of the Printer MIB
    return 2 + len(encode_oid(oid))


def request_varbind_size(oid: OID) -> int:
    """One request varbind: SEQUENCE header, the OID, a NULL value (RFC 3416 section 3)."""
    return 2 + oid_size(oid) + 2


def cell_size(oid: OID, value: int = VALUE_ESTIMATE) -> int:
    """One reply varbind: SEQUENCE header, the OID, the value."""
    return 2 + oid_size(oid) + value


@dataclass(slots=True)
class Column(Generic[K]):
    """A candidate repeater: ``wanted`` cells among the first ``traverse`` a walk returns."""

    key: K  # what the caller knows the column by
    wanted: int
    traverse: int  # cells a walk from ``start`` returns up to the last wanted one (>= wanted)
    start: OID  # the repeater's request OID
    exact_cost: int  # request bytes to ask each wanted cell exactly instead
    cell: int  # bytes of one returned cell of this column (for overshoot and unwanted rows)
    splittable: bool = False  # may be walked as several repeaters (the rows' OIDs are known)

    def segments(self, reps: int) -> int:
        """Repeaters needed to cover the column with ``reps`` repetitions (0: cannot)."""
        if reps <= 0:
            return 0
        count = -(-self.traverse // reps)
        return count if count == 1 or (self.splittable and count <= MAX_SEGMENTS) else 0

    def repeat_cost(self, reps: int) -> int | None:
        """Extra bytes as repeater(s) with ``reps`` repetitions; None if that cannot reach all.

        A column longer than ``reps`` whose rows are known is split into segments, each a
        repeater starting where the previous one ends: one request OID per segment, and only
        the last overshoots.
        """
        count = self.segments(reps)
        if not count:
            return None
        return count * request_varbind_size(self.start) + (count * reps - self.wanted) * self.cell

    def solo_cost(self) -> int:
        """Extra bytes as one repeater of its own, just long enough (``repeat_cost(traverse)``)."""
        return request_varbind_size(self.start) + (self.traverse - self.wanted) * self.cell


MAX_SEGMENTS = 4


def exact_cost(oids: Iterable[OID]) -> int:
    # request_varbind_size inlined (SEQUENCE header + OID + NULL): asked for every cell
    return sum(4 + oid_size(predecessor(o)) for o in oids)


def choose_repetitions(
    columns: Sequence[Column[K]], fixed: int | None = None, cap: int = 60
) -> tuple[int, set[K]]:
    """The ``max-repetitions`` and the columns to repeat that cost the fewest extra bytes.

    ``fixed``: a max-repetitions already chosen (other repeaters of unknown length need it);
    otherwise each column's length, or an even share of it for a splittable column, is tried
    (up to ``cap``), and 0 (everything exact).
    """
    if fixed is not None:
        candidates = [fixed]
    else:
        tried = {0}
        for column in columns:
            for count in range(1, (MAX_SEGMENTS if column.splittable else 1) + 1):
                tried.add(-(-column.traverse // count))
        candidates = sorted(r for r in tried if r <= cap)
    best: tuple[int, int, set[K]] | None = None
    for reps in candidates:
        total, chosen = 0, set[K]()
        for column in columns:
            repeat = column.repeat_cost(reps) if reps else None
            if repeat is not None and repeat < column.exact_cost:
                total += repeat
                chosen.add(column.key)
            else:
                total += column.exact_cost
        if best is None or total < best[0]:
            best = (total, reps, chosen)
    assert best is not None
    _, reps, chosen = best
    return (reps if chosen or fixed is not None else 0), chosen
