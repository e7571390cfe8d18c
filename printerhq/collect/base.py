"""The shape that the three parts of :class:`.planner.Collection` share.

``Collection`` is one object assembled from three modules: :mod:`.planner` (how requests are
issued, split on tooBig and re-asked on failure), :mod:`.passes` (what the cold and warm passes
ask for) and :mod:`.report` (turning the answers into a DeviceReport). Each part uses state and
methods that another part defines. :class:`CollectionBase` declares them, so that each part is
type-checked on its own and the type checker holds ``Collection`` to the declarations. It adds
nothing at run time: the attributes are set in ``Collection.__init__`` and the methods are
defined by the parts.

A *step* (:data:`Steps`) is a generator that yields a :class:`.Request` and is sent the
:class:`.Response`; ``yield from`` chains the steps of a pass (PEP 380).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Generator, Iterable
from typing import TYPE_CHECKING, TypeAlias, TypeVar

from printerhq.mib.decode import Decoder
from printerhq.mib.oids import OID
from printerhq.mib.vendors import Vendor
from printerhq.model import Alert, FieldProblem, Identity
from printerhq.snmp.message import Varbind
from printerhq.traffic import SnmpCost

from .messages import Request, Response
from .runs import TableRun
from .state import DeviceState

T = TypeVar("T")
Steps: TypeAlias = Generator[Request, Response, T]
"""Exchanges that end with a value of type ``T`` (``None`` for most)."""
MoreWork: TypeAlias = Callable[[list[OID]], tuple[list[OID], list[TableRun]]]
"""Called before each walk exchange with the pending singles: more singles and runs to add."""


class CollectionBase:
    """State and cross-part methods of a :class:`.planner.Collection` (declarations only)."""

    # Set in Collection.__init__.
    identity: Identity  # discovery's answer (or the cached one when ``confirming``)
    confirming: bool  # no discovery this scan: the first exchange checks the detectors
    confirmed: bool
    stale: str | None  # why the device is not the cached one (no report then)
    bulk: bool  # False for SNMPv1 agents: GETNEXT instead of GETBULK
    vendor: Vendor
    cache: DeviceState
    refresh_every: int
    scanned_at: float
    problems: list[FieldProblem]
    errors: list[str]
    values: dict[OID, Varbind]  # every instance value received
    runs: dict[str, TableRun]
    label_reuse: dict[int, list[OID]]  # counter tables read without their names
    alert_keys: list[str] | None  # alerts present now (dotted row indexes)
    cost: SnmpCost
    cold: bool
    cache_built: bool

    if TYPE_CHECKING:
        # -- defined in .planner: requests with splitting ---------------------------------

        @abstractmethod
        def _limit(self) -> int: ...

        @abstractmethod
        def _get(self, oids: list[OID]) -> Steps[None]: ...

        @abstractmethod
        def _get_by_next(self, oids: list[OID]) -> Steps[None]: ...

        @abstractmethod
        def _walk(
            self, runs: list[TableRun], singles: Iterable[OID] = (), more: MoreWork | None = None
        ) -> Steps[None]: ...

        @abstractmethod
        def detector_oids(self) -> list[OID]: ...

        @abstractmethod
        def _confirm_detectors(self) -> bool: ...

        # -- defined in .passes ----------------------------------------------------------

        @abstractmethod
        def _discovered(self) -> bool: ...

        @abstractmethod
        def _alerts_possible(self) -> bool: ...

        # -- defined in .report ----------------------------------------------------------

        @abstractmethod
        def _vb_decode(self, vb: Varbind | None, decoder: Decoder[T], where: str) -> T | None: ...

        @abstractmethod
        def _decoded(self, oid: OID, decoder: Decoder[T], where: str) -> T | None: ...

        @abstractmethod
        def _text(self, oid: OID, where: str, decoder: Decoder[str] = ...) -> str | None: ...

        @abstractmethod
        def _alert(self, index: OID, row: dict[int, Varbind]) -> Alert: ...
