"""A run of table columns walked with GETBULK, and the GETNEXT-predecessor trick."""

from __future__ import annotations

from dataclasses import dataclass, field

from printerhq.limits import MAX_TABLE_ROWS
from printerhq.mib.oids import OID, dotted
from printerhq.snmp.ber import Tag
from printerhq.snmp.message import Varbind

__all__ = ["MAX_TABLE_ROWS", "TableRun", "predecessor"]


@dataclass(slots=True)
class TableRun:
    """One contiguous run of columns ``first..last`` of a table, walked with GETBULK."""

    name: str
    entry: OID  # table entry OID, e.g. prtMarkerSuppliesEntry
    first: int  # first column wanted
    last: int  # last column wanted
    guess_rows: int  # rows expected before anything is seen (0: probe with one varbind)
    skip: frozenset[int] = frozenset()  # columns inside first..last the report does not use
    follows: TableRun | None = None  # a run of the same table: its rows are this run's rows
    rows_hint: int = 0  # rows to expect at least, once a probe has found the table
    cursor: OID = ()
    done: bool = False
    rows: dict[OID, dict[int, Varbind]] = field(default_factory=dict)
    column_counts: dict[int, int] = field(default_factory=dict)
    first_seen: int | None = None  # the first column the agent has (holes are common)
    current: int | None = None  # column of the last varbind taken
    row_count: int | None = None  # known once the walk leaves ``first_seen``
    # Why the agent's walk was not followed to its end (an OID that did not increase, more than
    # MAX_TABLE_ROWS rows): reported once as a FieldProblem; the rows read before it are kept.
    problem: str | None = None

    def __post_init__(self) -> None:
        self.cursor = self.entry + (self.first,)

    def ready(self) -> bool:
        """False while the run it follows is still walking (its rows are not known yet)."""
        return self.follows is None or self.follows.done or self.current is not None

    def _indexes(self) -> list[OID] | None:
        """Row indexes, once known: from our own first column, or from the run we follow."""
        if self.follows is not None and self.follows.done:
            return sorted(self.follows.rows)
        if self.row_count is not None and self.current is not None:
            return sorted(index for index, cells in self.rows.items() if self.first_seen in cells)
        return None

    def estimate(self) -> int:
        """Varbinds still expected (exact once the row count is known and no cells are missing)."""
        if self.done:
            return 0
        if self.current is None and self.follows is not None and self.follows.done:
            return max(1, len(self.follows.rows) * (self.last - self.first + 1))
        if self.current is None:
            # A single column only ends by running past it: one varbind more than the rows.
            return max(
                1,
                self.guess_rows * (self.last - self.first + 1)
                + (1 if self.first == self.last else 0),
            )
        taken = self.column_counts[self.current]
        if self.row_count is None:
            # a single column never reveals its row count: double what it has shown so far
            rows = (
                max(taken * 2, self.rows_hint)
                if self.first == self.last
                else max(taken + 1, self.rows_hint)
            )
            return max(1, rows - taken + (self.last - self.current) * rows)
        return max(1, self.row_count - taken + (self.last - self.current) * self.row_count)

    def remaining_cells(self, wanted_only: bool = True) -> list[OID] | None:
        """The exact OIDs still expected, once the rows are known (the first column ended, or
        the run this one follows is done); ``wanted_only=False`` includes skipped columns."""
        indexes = None if self.done else self._indexes()
        if indexes is None:
            return None
        start = self.current if self.current is not None else self.first
        return [
            self.entry + (column,) + index
            for column in range(start, self.last + 1)
            if not (wanted_only and column in self.skip)
            for index in indexes
            if self.entry + (column,) + index > self.cursor
        ]

    def take_exact(self, vb: Varbind) -> None:
        """Store a cell fetched by exact OID (GETNEXT of its predecessor)."""
        column = vb.oid[len(self.entry)]
        self.rows.setdefault(vb.oid[len(self.entry) + 1 :], {})[column] = vb
        self.column_counts[column] = self.column_counts.get(column, 0) + 1
        self.cursor = max(self.cursor, vb.oid)

    def take(self, vb: Varbind) -> bool:
        """Accept one returned varbind; False when it is not this run's (the run has left its
        columns: ``done``), or when the agent's walk is not followed (see :meth:`cut`)."""
        if self.done:
            return False
        oid = vb.oid
        entry = self.entry
        size = len(entry)
        # (is_under inlined: every walked cell passes here)
        if vb.tag == Tag.END_OF_MIB_VIEW or oid[:size] != entry or len(oid) <= size + 1:
            self.done = True
            return False
        if oid <= self.cursor:
            # RFC 3416 section 4.2.2: GETNEXT returns the *next* OID. An earlier or equal one is
            # an agent loop (or the rest of a reply after the run moved on, see cut).
            return self.cut(f"returned {dotted(oid)} after {dotted(self.cursor)}: not increasing")
        column = oid[size]
        if column < self.first or column > self.last:
            self.done = True
            return False
        if self.first_seen is None:
            self.first_seen = column
        if column != self.first_seen and self.row_count is None:
            self.row_count = self.column_counts.get(self.first_seen, 0)
        count = self.column_counts.get(column, 0) + 1
        if count > MAX_TABLE_ROWS:
            return self.cut(f"more than {MAX_TABLE_ROWS} rows: cut")
        self.column_counts[column] = count
        self.rows.setdefault(oid[size + 1 :], {})[column] = vb
        self.cursor = oid
        self.current = column
        if column == self.last and self.row_count is not None and count >= self.row_count:
            self.done = True  # the last cell of the last column: nothing left to ask
        return True

    def cut(self, reason: str) -> bool:
        """Stop following the agent's walk of the current column (endless, or looping): keep
        the rows read, and read the later columns of those rows exactly (GETNEXT of each cell's
        predecessor, :meth:`remaining_cells`), so one bad column does not cost the others.
        Returns False: the varbind is not taken."""
        if self.problem is None:
            self.problem = reason
        elif self.current is not None and self.cursor[: len(self.entry) + 1] == self.entry + (
            self.current + 1,
        ):
            return False  # already moved on: the rest of the same reply
        if self.current is None or self.current >= self.last:
            self.done = True  # no later column to read (the rows so far are kept)
            return False
        if self.row_count is None:
            self.row_count = self.column_counts.get(self.first_seen or self.current, 0)
        self.cursor = self.entry + (self.current + 1,)
        return False


def predecessor(oid: OID) -> OID:
    """An OID whose GETNEXT is ``oid`` when ``oid`` exists (fixed-length indexes)."""
    if oid[-1] == 0:
        return oid[:-1]
    return oid[:-1] + (oid[-1] - 1,)
