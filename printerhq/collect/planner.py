"""The sans-IO collection state machine: driving, planning, and requests with splitting.

:class:`Collection` is assembled from three parts that share its state: this module (how requests
are issued, split on tooBig and re-asked on failure), :mod:`.passes` (what the cold and warm passes
ask for) and :mod:`.report` (turning the answers into a DeviceReport). :mod:`.base` declares what
the parts share.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import msgspec

from printerhq.mib import decode as dec
from printerhq.mib import standard as std
from printerhq.mib.oids import OID, dotted, is_under
from printerhq.mib.vendors import Vendor, vendor_named
from printerhq.model import FieldProblem, Identity
from printerhq.snmp.ber import Tag
from printerhq.snmp.errors import missing_index, without_missing
from printerhq.snmp.message import ErrorStatus, Varbind
from printerhq.traffic import SnmpCost

from .base import MoreWork, Steps
from .cost import EXCHANGE_COST, MAX_REPETITIONS, Column, cell_size, choose_repetitions, exact_cost
from .messages import Request, Response, screened
from .passes import PassesMixin
from .report import ReportMixin
from .runs import TableRun, predecessor
from .state import DeviceCache, DeviceState

MAX_REQUESTS = 64  # bound on one collection's exchanges
# Varbinds one exchange may ask for (request varbinds, or non-repeaters plus repeaters times
# max-repetitions) until the device shows a smaller limit. Real plans stay far below: at most 23
# request varbinds and 65 answered over every fixture and recording we have, cold and warm.
# Without it an endless table's exact cells (4 columns x 256 rows) went out as one datagram
# too large to send (EMSGSIZE) and the device lost its whole report.
MAX_PDU_VARBINDS = 256
# The least a GET's tooBig teaches about the device's limit. tooBig is about octets, not
# varbinds: one huge value (a 60 KB sysDescr) must not make every later request carry a single
# varbind (the collection then ran out of MAX_REQUESTS). Eight ordinary varbinds fit the
# 484-octet message every agent accepts (RFC 3417 section 3.2); a GET still halves its own
# chunk down to one varbind when needed.
MIN_LEARNED_VARBINDS = 8
# Exchanges kept back from MAX_REQUESTS for what follows a walk (the exact cells of the rows
# walked, the rest of the pass): a walk still going when only these are left is cut (a table
# walked one row per GETNEXT, as SNMPv1 does, reaches MAX_REQUESTS long before MAX_TABLE_ROWS).
_AFTER_WALK_RESERVE = 8
# sysUpTime counts hundredths of a second (RFC 3418 sysUpTime, TimeTicks). Between two scans it
# may advance by the wall-clock time elapsed, give or take clock drift and NTP steps; far more
# than that means the answer comes from another device (or the clock jumped): not trusted.
_UPTIME_RATE_SLACK = 1.1
_UPTIME_TICKS_SLACK = 60 * 100


class DeviceChanged(Exception):
    """A collection without discovery (:meth:`Collection.known`) found that the device may not
    be the one cached: restarted, replaced, silent, or erring. Run discovery instead."""


class Collection(PassesMixin, ReportMixin):
    """The sans-IO collection of one device.

    Drive it with ``for request in collection.requests(): collection.feed(response)`` — or
    simply ``request = collection.next_request()`` / ``collection.feed(response)`` until
    ``next_request()`` returns None — then call :meth:`report`.
    """

    def __init__(
        self,
        identity: Identity,
        cache: DeviceCache | DeviceState | None = None,
        *,
        refresh_every: int = 96,
        now: float | None = None,
        bulk: bool = True,
        confirm: bool = False,
    ) -> None:
        self.identity = identity
        # confirm: the identity is the cached one (no discovery this scan); the first exchange
        # carries the change detectors and the collection stops (``stale``) if they disagree.
        self.confirming = confirm
        self.confirmed = not confirm
        self.stale: str | None = None
        self.bulk = bulk  # False for SNMPv1 agents: GETNEXT instead of GETBULK
        self.vendor: Vendor = vendor_named(identity.vendor)
        if isinstance(cache, DeviceCache):
            cache = cache.state_for(identity.address)
        self.cache: DeviceState = cache if cache is not None else DeviceState()
        self.refresh_every = refresh_every
        self.scanned_at = time.time() if now is None else now
        self.problems: list[FieldProblem] = []
        self.errors: list[str] = []
        self.values: dict[OID, Varbind] = {}  # every instance value received
        self.runs: dict[str, TableRun] = {}
        self.label_reuse: dict[int, list[OID]] = {}  # counter tables read without their names
        self.alert_keys: list[str] | None = None  # alerts present now (dotted row indexes)
        self.cost = SnmpCost()
        self.screened = 0  # reply varbinds outside the allow-list, emptied (messages.screened)
        self._steps = self._plan()
        self._pending: Request | None = None
        self._response: Response | None = None
        self._exchanges = 0
        self.cache_built = False  # the cold pass turned what it read into the cache
        self.cold = self._needs_cold()

    @classmethod
    def known(
        cls,
        address: str,
        cache: DeviceCache | DeviceState,
        *,
        refresh_every: int = 96,
        now: float | None = None,
        bulk: bool = True,
    ) -> Collection | None:
        """A warm collection of a device known from earlier scans, *without* discovery.

        The identity is the one discovery gave at the last full scan; the single warm request
        also carries the change detectors (:meth:`detector_oids`: sysUpTime.0 and the object
        the serial came from). When they show a restart (sysUpTime went back or ran ahead of
        the clock) or another device (serial or sysObjectID differ), or the first exchange
        fails, the collection stops with :attr:`stale` set and must not be reported: the
        caller runs discovery and a normal collection instead. None when the cache cannot
        support it (unknown, cold, not a printer, no sysUpTime, or a cold refresh is due).
        """
        state = (
            cache.known(address)
            if isinstance(cache, DeviceCache)
            else (cache if cache.can_skip_discovery() else None)
        )
        if state is None or state.discovery is None or state.scans_since_refresh >= refresh_every:
            return None
        identity = msgspec.structs.replace(state.discovery, address=address, uptime_ticks=None)
        return cls(identity, cache, refresh_every=refresh_every, now=now, bulk=bulk, confirm=True)

    def detector_oids(self) -> list[OID]:
        """What a collection without discovery asks besides the dynamic values: sysUpTime.0
        (a restart) and the serial's source object, or sysObjectID.0 for devices without a
        serial (another device). Empty for an ordinary collection (discovery read them)."""
        if not self.confirming:
            return []
        oids = [std.SYS_UPTIME] if self.cache.uptime_seen else []
        if self.cache.serial_source is not None:
            oids.append(self.cache.serial_source)
        elif self.identity.sys_object_id:
            oids.append(std.SYS_OBJECT_ID)
        return oids

    def _detect_change(self) -> str | None:
        """Why the answer to the first exchange does not fit the cached device, if it does not."""
        cache, values = self.cache, self.values
        quiet: list[FieldProblem] = []  # a bad value here is a change, not a report problem
        vb = values.get(std.SYS_UPTIME)
        uptime = dec.decode_field("uptime", dec.timeticks, vb.tag, vb.value, quiet) if vb else None
        last = cache.uptime_ticks
        if uptime is None and cache.uptime_seen:
            return "sysUpTime did not answer"
        if uptime is not None and last is not None and uptime < last:
            return "restarted: sysUpTime went back"
        if uptime is not None and last is not None and cache.collected_at is not None:
            elapsed = self.scanned_at - cache.collected_at
            if (
                elapsed < 0
                or uptime - last > elapsed * 100 * _UPTIME_RATE_SLACK + _UPTIME_TICKS_SLACK
            ):
                return "sysUpTime ran ahead of the clock: another device?"
        source = cache.serial_source
        if source is not None:
            vb = values.get(source)
            text = dec.decode_field("serial", dec.text, vb.tag, vb.value, quiet) if vb else None
            if text != cache.serial_seen:
                return "another device: the serial changed"
        elif self.identity.sys_object_id:
            vb = values.get(std.SYS_OBJECT_ID)
            if (
                vb is None
                or not isinstance(vb.value, tuple)
                or dotted(vb.value) != self.identity.sys_object_id
            ):
                return "another device: sysObjectID changed"
        return None

    def _confirm_detectors(self) -> bool:
        """False (and ``stale`` set) when the detectors disagree; checked once."""
        if self.confirmed:
            return True
        reason = self._detect_change()
        if reason is not None:
            self.stale = reason
            return False
        self.confirmed = True
        return True

    # -- driving ------------------------------------------------------------------------

    def next_request(self) -> Request | None:
        if self._pending is not None:
            raise RuntimeError("feed() the response to the previous request first")
        if self._exchanges >= MAX_REQUESTS:
            if not self.errors or self.errors[-1] != f"stopped after {MAX_REQUESTS} requests":
                self.errors.append(f"stopped after {MAX_REQUESTS} requests")
            if self.cold and not self.cache_built and self.stale is None:
                # A cold pass the budget ended: keep what it read (the report is built from
                # the cache), as a cut walk keeps its rows.
                self._build_cache()
            return None
        try:
            request = (
                self._steps.send(self._response)
                if self._response is not None
                else next(self._steps)
            )
        except StopIteration:
            return None
        self._response = None
        self._pending = request
        self._exchanges += 1
        return request

    def feed(self, response: Response) -> None:
        if self._pending is None:
            raise RuntimeError("no request outstanding")
        self._pending = None
        # Every driver feeds through here: no varbind outside the allow-list gets further.
        self._response, dropped = screened(response)
        self.screened += dropped

    def fail(self, reason: str) -> None:
        """The outstanding request got no answer (timeout): finish with what we have."""
        self.errors.append(reason)
        if not self.confirmed:
            self.stale = reason  # no answer with the remembered credential: not trusted
        self._pending = None
        self._steps.close()  # a closed generator stops at once: next_request() returns None

    # -- planning -----------------------------------------------------------------------

    def _needs_cold(self) -> bool:
        cache = self.cache
        if not cache.identity or cache.vendor != self.identity.vendor:
            return True
        if cache.scans_since_refresh >= self.refresh_every:
            return True
        if self.identity.serial and cache.serial and self.identity.serial != cache.serial:
            return True
        up = self.identity.uptime_ticks
        return up is not None and cache.uptime_ticks is not None and up < cache.uptime_ticks

    def _plan(self) -> Steps[None]:
        # A generator: each ``yield`` hands out one request and receives its response.
        if self.confirming:
            changed = yield from self._warm()
            if not changed:
                return
            if not self.confirmed:  # a restart, another device, or an error: stop here
                if self.stale is None:
                    self.stale = self.errors[-1] if self.errors else "device changed"
                return
            # The same device, but its layout changed (a new supply row): a cold pass, as
            # after any warm pass that finds that.
            self.cold = True
            yield from self._cold()
            return
        if not self._needs_cold():
            changed = yield from self._warm()
            if not changed:
                return
            self.cold = True
        self.cold = True
        yield from self._cold()

    # -- requests with splitting --------------------------------------------------------

    def _limit(self) -> int:
        return self.cache.max_varbinds or MAX_PDU_VARBINDS

    def _get(self, oids: list[OID]) -> Steps[None]:
        """GET in as few PDUs as the device allows; results land in ``self.values``."""
        pending = [oids[i : i + self._limit()] for i in range(0, len(oids), self._limit())]
        while pending:
            chunk = pending.pop(0)
            if not chunk:
                continue
            response = yield Request("get", chunk)
            if response.error_status == ErrorStatus.TOO_BIG and len(chunk) > 1:  # halve, remember
                half = len(chunk) // 2
                self.cache.max_varbinds = max(half, MIN_LEARNED_VARBINDS)
                pending[:0] = [chunk[:half], chunk[half:]]
                continue
            rest = without_missing(chunk, response.error_status, response.error_index)
            if rest is not None:
                # noSuchName (SNMPv1, RFC 1157 section 4.1.2): drop the named OID, ask the rest.
                if rest:
                    pending.insert(0, rest)
                continue
            if response.error_status:
                # Whole-PDU failure (genErr): some agents' GET is broken where GETNEXT works.
                yield from self._get_by_next(chunk)
                continue
            for vb in response.varbinds:
                if not vb.is_exception and vb.tag != Tag.NULL:
                    self.values[vb.oid] = vb

    def _get_by_next(self, oids: list[OID]) -> Steps[None]:
        """GETNEXT each OID's predecessor (a GETBULK of non-repeaters): same bytes as GET."""
        pending = [oids]
        while pending:
            chunk = pending.pop(0)
            asked = [predecessor(o) for o in chunk]
            response = yield (
                Request("bulk", asked, non_repeaters=len(chunk), max_repetitions=0)
                if self.bulk
                else Request("next", asked)
            )
            rest = without_missing(chunk, response.error_status, response.error_index)
            if rest is not None:
                if rest:
                    pending.insert(0, rest)
                continue
            if response.error_status == ErrorStatus.TOO_BIG and len(chunk) > 1:
                half = len(chunk) // 2
                self.cache.max_varbinds = max(half, MIN_LEARNED_VARBINDS)
                pending[:0] = [chunk[:half], chunk[half:]]
                continue
            if response.error_status:
                self.errors.append(f"GETNEXT failed: error-status {response.error_status}")
                continue
            wanted = set(chunk)
            for vb in response.varbinds:
                if vb.oid in wanted and not vb.is_exception:
                    self.values[vb.oid] = vb
            answered = len(response.varbinds)
            if 0 < answered < len(chunk):
                # A GETBULK answer cut short at the agent's size limit (RFC 3416 4.2.3).
                self.cache.max_varbinds = answered
                pending.insert(0, chunk[answered:])
            elif answered == 0 and len(chunk) > 1:
                half = len(chunk) // 2
                pending[:0] = [chunk[:half], chunk[half:]]

    def _walk(
        self, runs: list[TableRun], singles: Iterable[OID] = (), more: MoreWork | None = None
    ) -> Steps[None]:
        """Walk table runs with GETBULK and fetch ``singles`` (exact instances) on the way.

        Each exchange packs, as non-repeaters, the pending singles, probes of tables that may
        be absent, and the cells of runs whose rows are known that are cheaper asked exactly;
        as repeaters, the runs of unknown length (grouped by expected size) and the known runs
        that are cheaper walked (:func:`.cost.choose_repetitions`). ``more(pending)`` is called
        before every exchange and may add singles and runs that depend on what has been read.
        """
        for run in runs:
            self.runs[run.name] = run
        if not self.bulk:
            if singles:
                yield from self._get(list(dict.fromkeys(singles)))
            yield from self._walk_by_next(runs)
            return
        pending: list[OID] = list(dict.fromkeys(singles))
        active = [r for r in runs if not r.done]
        while True:
            self._cut_if_over_budget(active)
            if more is not None:
                new_singles, new_runs = more(pending)
                pending += [
                    o
                    for o in dict.fromkeys(new_singles)
                    if o not in self.values and o not in pending
                ]
                for run in new_runs:
                    self.runs[run.name] = run
                    active.append(run)
            for run in active:
                follows = run.follows
                if (
                    follows is not None
                    and follows.done
                    and not follows.rows
                    and run.current is None
                ):
                    run.done = True  # the table it shares rows with is empty
            known: dict[str, list[OID]] = {}
            for run in active:
                if run.done or not run.ready():
                    continue
                cells = run.remaining_cells()
                if cells is not None:
                    if not cells:
                        run.done = True
                    else:
                        known[run.name] = cells
            active = [r for r in active if not r.done]
            ready = [r for r in active if r.ready()]
            if not pending and not ready:
                for r in active:  # waiting on a run that can no longer finish
                    r.done = True
                return
            # Each run's estimate once per exchange (nothing changes it before the reply).
            estimates = {r.name: r.estimate() for r in ready if r.name not in known}
            unknown = sorted(
                (r for r in ready if r.name in estimates), key=lambda r: -estimates[r.name]
            )
            probes = [r for r in unknown if estimates[r.name] == 1]
            bulk = [r for r in unknown if estimates[r.name] > 1]
            group: list[TableRun] = []
            max_rep = 0
            if bulk:
                max_rep = min(estimates[bulk[0].name], MAX_REPETITIONS)
                # A run joins when its overshoot costs less than a separate exchange.
                group = [
                    r
                    for r in bulk
                    if (max_rep - estimates[r.name]) * cell_size(r.cursor) <= EXCHANGE_COST
                ]
            candidates: list[Column[str]] = []
            for run in ready:
                cells = known.get(run.name)
                if cells is None:
                    continue
                walked = run.remaining_cells(wanted_only=False) or cells
                candidates.append(
                    Column(
                        run.name,
                        len(cells),
                        walked.index(cells[-1]) + 1,
                        run.cursor,
                        exact_cost(cells),
                        cell_size(cells[0]),
                    )
                )
            reps, repeat = choose_repetitions(
                candidates, max_rep if group else None, MAX_REPETITIONS
            )
            tails: list[TableRun] = []
            walking = bool(group or repeat)
            for column in candidates:
                run = self.runs[column.key]
                if column.key in repeat:
                    group.append(run)
                elif walking and column.exact_cost > EXCHANGE_COST + column.solo_cost():
                    continue  # cheaper walked on its own later than asked cell by cell now
                else:
                    tails.append(run)
            if group:
                max_rep = max(max_rep, reps)
            limit = self._limit()
            asked = list(pending)

            def non_repeaters() -> int:  # called only in this iteration: no late binding
                tail_cells = sum(len(known[r.name]) for r in tails)  # noqa: B023
                return len(asked) + len(probes) + tail_cells  # noqa: B023

            while group and non_repeaters() + len(group) * max_rep > limit and len(group) > 1:
                group.pop()
            while (
                tails
                and non_repeaters() + len(group) * max_rep > limit
                and (len(tails) > 1 or group)
            ):
                tails.pop()
            while (
                probes
                and non_repeaters() + len(group) * max_rep > limit
                and (len(probes) > 1 or group)
            ):
                probes.pop()
            if asked and non_repeaters() + len(group) * max_rep > limit:
                asked = asked[: max(1, limit - non_repeaters() + len(asked) - len(group))]
            if group:
                max_rep = max(1, min(max_rep, (limit - non_repeaters()) // len(group)))
            tail_oids = [predecessor(cell) for r in tails for cell in known[r.name]]
            nonrep = non_repeaters()
            response = yield Request(
                "bulk",
                [predecessor(o) for o in asked]
                + [r.cursor for r in probes]
                + tail_oids
                + [r.cursor for r in group],
                nonrep,
                max_rep if group else 0,
            )
            members = probes + tails + group
            if response.error_status == ErrorStatus.TOO_BIG:
                total = nonrep + len(group) * max_rep
                self.cache.max_varbinds = max(1, total // 2)
                if total <= 1:
                    for r in members:
                        r.done = True
                    pending = [o for o in pending if o not in asked]
                    self.errors.append("tooBig on a single varbind")
                continue
            if response.error_status or not response.varbinds:
                if asked:  # ask the singles on their own (GET, then GETNEXT fallbacks)
                    pending = [o for o in pending if o not in asked]
                    yield from self._get(asked)
                    continue
                for r in members:
                    r.done = True
                continue
            vbs = response.varbinds
            if len(vbs) < nonrep:
                self.cache.max_varbinds = max(1, len(vbs))  # cut short at the size limit
            cursors = [r.cursor for r in members]  # a cut walk moves its cursor: progress too
            progressed = False
            for oid, vb in zip(asked, vbs, strict=False):
                if vb.oid == oid and not vb.is_exception and vb.tag != Tag.NULL:
                    self.values[oid] = vb
            answered = set(asked[: len(vbs)])
            if answered:
                progressed = True
                pending = [o for o in pending if o not in answered]
            vbs = vbs[len(asked) :]
            for run, vb in zip(probes, vbs[: len(probes)], strict=False):
                if run.take(vb):
                    progressed = True
                    self.values[vb.oid] = vb
                if run.current is None:
                    run.done = True
            position = len(probes)
            for run in tails:
                cells = known[run.name]
                got = vbs[position : position + len(cells)]
                position += len(cells)
                wanted = set(cells)
                for vb in got:
                    if vb.oid in wanted and not vb.is_exception:
                        run.take_exact(vb)
                        self.values[vb.oid] = vb
                if len(got) == len(cells):
                    run.done = True  # everything asked for: missing cells are holes
                    progressed = True
            for offset, vb in enumerate(vbs[position:]):
                if group and group[offset % len(group)].take(vb):
                    progressed = True
                    self.values[vb.oid] = vb
                elif group and self._adopt(vb):
                    self.values[vb.oid] = vb
            if not progressed and cursors == [r.cursor for r in members]:
                for r in members:
                    r.done = True

    def _cut_if_over_budget(self, runs: list[TableRun]) -> None:
        """Cut the walks still going when the exchanges left are only the reserve: their rows so
        far are kept and their later columns read exactly (:meth:`.runs.TableRun.cut`)."""
        if self._exchanges < MAX_REQUESTS - _AFTER_WALK_RESERVE:
            return
        for run in runs:
            if not run.done and run.remaining_cells() is None:
                run.cut(f"still going after {self._exchanges} requests: cut")
                if run.current is None:
                    run.done = True  # nothing read: nothing to keep

    def _adopt(self, vb: Varbind) -> bool:
        """A walk that ran past its own columns into those of a run that has not started
        walking (a counter table's value column after its key column): keep the cells, so
        that run later asks only for what is still missing."""
        if vb.is_exception:
            return False
        for run in self.runs.values():
            entry = run.entry
            if (
                run.done
                or run.current is not None
                or len(vb.oid) <= len(entry) + 1
                or not is_under(vb.oid, entry)
                or vb.oid <= run.cursor
            ):
                continue
            if run.first <= vb.oid[len(entry)] <= run.last and run.follows is not None:
                run.take_exact(vb)
                return True
        return False

    def _walk_by_next(self, runs: list[TableRun]) -> Steps[None]:
        """SNMPv1: GETNEXT rounds carrying every unfinished run's cursor until each run's first
        column has ended (its rows are known); then one GET for all the remaining cells."""
        active = [r for r in runs if not r.done]
        while active:
            self._cut_if_over_budget(active)
            active = [r for r in active if not r.done]
            known = [r for r in active if r.remaining_cells() is not None]
            if known:
                cells = [cell for r in known for cell in r.remaining_cells() or []]
                # GETNEXT of each cell's predecessor, not GET: an SNMPv1 GET fails whole at the
                # first missing cell (RFC 1157 section 4.1.2), one more exchange per hole.
                yield from self._get_by_next(cells)
                for run in known:
                    for cell in run.remaining_cells() or []:
                        if cell in self.values:
                            run.take_exact(self.values[cell])
                    run.done = True
                active = [r for r in active if not r.done]
                continue
            active = active[: self._limit()]
            response = yield Request("next", [r.cursor for r in active])
            ended = missing_index(response.error_status, response.error_index, len(active))
            if ended is not None:
                active[ended].done = True  # that run reached the end
            elif response.error_status or len(response.varbinds) != len(active):
                for r in active:
                    r.done = True
            else:
                for run, vb in zip(active, response.varbinds, strict=True):  # lengths checked above
                    if run.take(vb):
                        self.values[vb.oid] = vb
                    elif run.problem is None:
                        run.done = True  # left its columns (take() does so too)
            active = [r for r in active if not r.done]
