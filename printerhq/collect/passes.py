"""What the cold and the warm passes ask for (a part of :class:`.planner.Collection`, see
:mod:`.base`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from printerhq.mib import decode as dec
from printerhq.mib import standard as std
from printerhq.mib.oids import OID, dotted, is_under
from printerhq.mib.vendors import CounterTable, Scalar, counter_bucket, tidy_model
from printerhq.snmp.message import ErrorStatus, Varbind

from .base import CollectionBase, Steps
from .bounds import LEVEL
from .cost import MAX_REPETITIONS, Column, cell_size, choose_repetitions, exact_cost
from .messages import Request
from .runs import TableRun, predecessor
from .state import CachedCounter, CachedSupply, CachedTray


@dataclass(slots=True)
class Segment:
    """One warm repeater: from ``start``, the wanted ``rows`` of a column (or of a part of it)."""

    prefix: OID
    rows: list[OID]
    strict: bool  # a row not in ``known`` means the device changed (a new supply)
    start: OID
    known: frozenset[OID]


class PassesMixin(CollectionBase):
    """Cold pass (everything, static data cached) and warm pass (dynamic values only)."""

    # -- cold ---------------------------------------------------------------------------

    _ALERT_EVENTS = std.PRT_ALERT_ALL_EVENTS + (1,)
    _FIRST_COVER = std.PRT_COVER_ENTRY + (2, 1, 1)
    _FIRST_CONSOLE_LINE = std.PRT_CONSOLE_TEXT + (1, 1)
    _MODEL_FALLBACK = std.HR_DEVICE_DESCR + (1,)
    _FIRST_LIFE_COUNT = std.PRT_MARKER_ENTRY + (4, 1, 1)
    _SECOND_LIFE_COUNT = std.PRT_MARKER_ENTRY + (4, 1, 2)

    def _discovered(self) -> bool:
        """The identity is discovery's answer (:data:`~printerhq.mib.identify.DISCOVERY_OIDS`):
        what it lacks (sysUpTime, prtGeneralSerialNumber.1) the device lacks; asking again
        would only fetch the same noSuchObject."""
        return self.identity.sys_descr is not None or self.identity.sys_object_id is not None

    def _identity_candidates(self) -> dict[str, tuple[Scalar, ...]]:
        v = self.vendor
        serial = v.serial
        if serial and serial[0].oid == std.PRT_GENERAL_SERIAL + (1,):
            if self.identity.serial:
                serial = ()  # discovery already read the vendor's preferred serial
            elif self._discovered():
                serial = serial[1:]  # ... and found none: go straight to the next source
        return {"model": v.model, "serial": serial, "firmware": v.firmware}

    def _scalar_oids(self) -> list[OID]:
        """The cold GET: identity, status, marker row 1, probes, vendor counters, and the first
        candidate of each vendor identity field (later candidates only if that one is absent)."""
        v = self.vendor
        # Not sysContact: it names a person, and the allow-list refuses it (allowlist.py).
        oids: list[OID] = [
            std.SYS_LOCATION,
            std.IF_PHYS_ADDRESS + (1,),
            std.HR_DEVICE_STATUS + (1,),
            std.HR_PRINTER_STATUS + (1,),
            std.HR_PRINTER_ERROR_STATE + (1,),
            self._ALERT_EVENTS,
            self._FIRST_COVER,
            self._FIRST_CONSOLE_LINE,
        ]
        if not self._discovered():  # else discovery's GET just read these
            oids += [
                std.SYS_UPTIME,
                std.SYS_DESCR,
                std.SYS_OBJECT_ID,
                std.SYS_NAME,
                std.PRT_GENERAL_SERIAL + (1,),
            ]
        oids += [std.PRT_MARKER_ENTRY + (c, 1, 1) for c in (3, 4, 5, 6)]
        if self.bulk:
            # A second marker? (see _runs_after_scalars.) Not with SNMPv1: an absent object
            # fails a whole v1 GET (noSuchName), and it would cost a second GET every time.
            oids.append(self._SECOND_LIFE_COUNT)
        if not self.bulk or not (v.model or self._descr_fields().get("model")):
            # the model's last resort; otherwise asked only if the vendor's sources fail
            # (_later_identity), which costs no exchange of its own with GETBULK
            oids.append(self._MODEL_FALLBACK)
        for candidates in self._identity_candidates().values():
            if candidates:
                oids.append(candidates[0].oid)
        oids += [c.oid for c in v.counters]
        return list(dict.fromkeys(oids))  # without repeats, in order

    def _alerts_possible(self) -> bool:
        """False when the device says all is well: hrDeviceStatus running(2) and no
        hrPrinterDetectedErrorState flag. RFC 3805 section 2.2.13.2 ties warning and critical
        alerts to hrDeviceStatus warning(3) and down(5); what a running printer can still hold
        are informational binary-change entries (power up, cover closed), which we then skip."""
        status = self.values.get(std.HR_DEVICE_STATUS + (1,))
        if status is None or status.value != 2:
            return True
        flags = self._decoded(std.HR_PRINTER_ERROR_STATE + (1,), dec.error_flags, "status.errors")
        return bool(flags)

    def _resolve(self, candidates: Iterable[Scalar], field_name: str) -> str | None:
        for scalar in candidates:
            vb = self.values.get(scalar.oid)
            if vb is None:
                continue
            text = dec.decode_field(
                f"identity.{field_name}", scalar.decoder, vb.tag, vb.value, self.problems
            )
            if text and scalar.clean is not None:
                text = scalar.clean(text)
            if text:
                return text
        return None

    def _cold(self) -> Steps[None]:
        """One GET of the scalars (an absent object costs only its OID and a noSuchObject
        there, where a GETNEXT would return whatever follows it), then the tables. With GETBULK,
        what depends on the scalars (second-choice identity sources, covers, console, alerts,
        Ricoh's supply fallbacks) rides as non-repeaters in the exchanges that walk the tables."""
        scalars = self._scalar_oids()
        yield from self._get(scalars)
        runs = [
            TableRun("supplies", std.PRT_SUPPLY_ENTRY, 5, 9, guess_rows=2),
            # prtInputStatus (11) lies between the columns we use; never asked exactly.
            TableRun("inputs", std.PRT_INPUT_ENTRY, 8, 13, guess_rows=2, skip=frozenset({11})),
        ] + self._counter_runs()
        if not self.bulk:
            later = self._later_identity()
            if later:
                yield from self._get(later)
            yield from self._walk(runs + self._runs_after_scalars())
            relabel = self._check_labels()
            if relabel:
                yield from self._walk(relabel)
            yield from self._get(self._supply_fallbacks() + self._marker_units())
            self._build_cache()
            return
        stage = {"scalars": False, "fallbacks": False, "markers": False}

        def more(pending: list[OID]) -> tuple[list[OID], list[TableRun]]:
            singles: list[OID] = []
            new_runs: list[TableRun] = []
            if not stage["scalars"]:
                stage["scalars"] = True
                singles += self._later_identity()
                new_runs += self._runs_after_scalars()
            if not stage["fallbacks"] and self.runs["supplies"].done:
                stage["fallbacks"] = True
                singles += self._supply_fallbacks()
            markers = self.runs.get("markers")
            if not stage["markers"] and markers is not None and markers.done:
                stage["markers"] = True
                singles += self._marker_units()
            new_runs += self._check_labels()
            return singles, new_runs

        yield from self._walk(runs, (), more)
        self._build_cache()

    def _later_identity(self) -> list[OID]:
        """Second-choice identity sources, only for fields the first choice did not answer."""
        later = [
            scalar.oid
            for name, candidates in self._identity_candidates().items()
            if candidates and self._resolve(candidates[:1], name) is None
            for scalar in candidates[1:]
            if scalar.oid not in self.values
        ]
        if (
            self._MODEL_FALLBACK not in self.values
            and not self._descr_fields().get("model")
            and self._resolve(self.vendor.model, "model") is None
        ):
            later.append(self._MODEL_FALLBACK)
        return list(dict.fromkeys(later))

    def _descr_fields(self) -> dict[str, str]:
        """What the vendor reads from sysDescr (model, firmware, serial), when discovery has it."""
        descr = self.identity.sys_descr or self._text(std.SYS_DESCR, "identity.sys_descr")
        parse = self.vendor.parse_descr
        return parse(descr) if parse and descr else {}

    def _counter_runs(self) -> list[TableRun]:
        """Vendor counter tables. Not every model has its vendor's table, so each starts with
        a one-varbind probe (an absent table would otherwise cost a whole GETBULK of whatever
        follows it). Key and value columns share their rows: adjacent columns are one run;
        otherwise the value column waits for the key column and is then read exactly (one
        walk of unknown length, not two)."""
        runs: list[TableRun] = []
        for number, table in enumerate(self.vendor.counter_tables):
            entry, column = table.value_column[:-1], table.value_column[-1]
            known = self._cached_rows(table)
            if table.key_column is not None and known:
                # The names are cached: walk the values only; the names are read again only
                # if the rows are not the ones they were (_check_labels).
                self.label_reuse[number] = known
                runs.append(
                    TableRun(f"ctable{number}.value", entry, column, column, guess_rows=len(known))
                )
                continue
            if table.key_column is None:
                runs.append(
                    TableRun(
                        f"ctable{number}.value", entry, column, column, guess_rows=0, rows_hint=12
                    )
                )
                continue
            key_entry, key = table.key_column[:-1], table.key_column[-1]
            if key_entry == entry and abs(key - column) == 1:
                runs.append(
                    TableRun(
                        f"ctable{number}.value",
                        entry,
                        min(key, column),
                        max(key, column),
                        guess_rows=0,
                        rows_hint=12,
                    )
                )
                continue
            key_run = TableRun(
                f"ctable{number}.key", key_entry, key, key, guess_rows=0, rows_hint=12
            )
            runs += [
                key_run,
                TableRun(
                    f"ctable{number}.value", entry, column, column, guess_rows=12, follows=key_run
                ),
            ]
        return runs

    def _cached_rows(self, table: CounterTable) -> list[OID]:
        """The value column's rows at the last cold pass of this same device, if any."""
        cache = self.cache
        same_device = (
            cache.identity
            and cache.vendor == self.identity.vendor
            and not (self.identity.serial and cache.serial and self.identity.serial != cache.serial)
        )
        rows = cache.column_rows.get(dotted(table.value_column)) if same_device else None
        return [tuple(row) for row in rows] if rows else []

    def _check_labels(self) -> list[TableRun]:
        """Counter tables walked without their name column: when the rows changed, read the
        names after all (exactly, for the rows the value walk found)."""
        runs = []
        for number, known in list(self.label_reuse.items()):
            values_run = self.runs.get(f"ctable{number}.value")
            if values_run is None or not values_run.done:
                continue
            if sorted(values_run.rows) == sorted(known):
                continue
            del self.label_reuse[number]
            key = self.vendor.counter_tables[number].key_column
            assert key is not None
            runs.append(
                TableRun(
                    f"ctable{number}.key",
                    key[:-1],
                    key[-1],
                    key[-1],
                    guess_rows=0,
                    follows=values_run,
                )
            )
        return runs

    def _runs_after_scalars(self) -> list[TableRun]:
        """Covers, console and alerts: walked only when the scalars say there is something."""
        runs = []
        # Covers and console lines: walked only when row 1 answered (an absent table would
        # otherwise cost a GETNEXT answer from whatever object follows it); the walk starts
        # after row 1, which the scalars already read.
        if self._FIRST_COVER in self.values:
            covers = TableRun("covers", std.PRT_COVER_ENTRY, 2, 3, guess_rows=2)
            covers.take(self.values[self._FIRST_COVER])
            runs.append(covers)
        # prtMarkerLifeCount of every marker: a device with several markers may keep its life
        # count on any row (RFC 3805 prtMarkerTable), not only on 1.1. Rows 1.1 and 1.2 came
        # with the scalars; the column is walked only when there is a second marker, or when
        # the marker table answers without a life count on 1.1 (an exchange a single-marker
        # device never pays).
        first, second = self._FIRST_LIFE_COUNT, self._SECOND_LIFE_COUNT
        marker_table = any(std.PRT_MARKER_ENTRY + (c, 1, 1) in self.values for c in (3, 5, 6))
        if second in self.values or (first not in self.values and marker_table):
            markers = TableRun("markers", std.PRT_MARKER_ENTRY, 4, 4, guess_rows=2)
            for cell in (first, second):
                if cell in self.values:
                    markers.take(self.values[cell])
            runs.append(markers)
        if self._FIRST_CONSOLE_LINE in self.values:
            console = TableRun("console", std.PRT_CONSOLE_TEXT[:-1], 2, 2, guess_rows=2)
            console.take(self.values[self._FIRST_CONSOLE_LINE])
            runs.append(console)
        events = self._decoded(self._ALERT_EVENTS, dec.counter, "alerts.events")
        self.cache.alert_events = events
        # events 0: no alert was ever added. Without the counter (RFC 1759 agents), look only
        # when the status shows a problem.
        if (events is not None and events > 0) or (events is None and self._alerts_possible()):
            # prtAlertSeverityLevel .. prtAlertTime; training level (3) and location (6) unused
            runs.append(
                TableRun("alerts", std.PRT_ALERT_ENTRY, 2, 9, guess_rows=0, skip=frozenset({3, 6}))
            )
        return runs

    def _life_count_rows(self) -> list[OID]:
        """Marker rows (hrDeviceIndex, marker index) that hold a life count."""
        markers = self.runs.get("markers")
        if markers is not None:
            return sorted(index for index, row in markers.rows.items() if 4 in row)
        return [(1, 1)] if self._FIRST_LIFE_COUNT in self.values else []

    def _marker_units(self) -> list[OID]:
        """prtMarkerCounterUnit of the marker rows other than 1.1 (which came with the scalars)."""
        return [
            std.PRT_MARKER_ENTRY + (3,) + index
            for index in self._life_count_rows()
            if index != (1, 1)
        ]

    def _supply_fallbacks(self) -> list[OID]:
        quirks = self.vendor.supplies
        if quirks.fallback_level is None:
            return []
        wanted = []
        for index, row in self.runs["supplies"].rows.items():
            level = row.get(9)
            if level is None or level.value in (0, None):
                wanted.append(quirks.fallback_level + index[-1:])
            if quirks.fallback_name is not None and (row.get(6) is None or not row[6].value):
                wanted.append(quirks.fallback_name + index[-1:])
        return wanted

    def _build_cache(self) -> None:
        """Turn what the cold pass read into the static cache."""
        self.cache_built = True
        cache, v, ident = self.cache, self.vendor, self.identity
        cache.vendor = ident.vendor
        cache.scans_since_refresh = 0
        values = self.values

        first = self._resolve
        descr = ident.sys_descr or self._text(std.SYS_DESCR, "identity.sys_descr")
        parsed = v.parse_descr(descr) if (v.parse_descr and descr) else {}
        serial = first(v.serial, "serial") or ident.serial or parsed.get("serial")
        if serial is None and v.key == "generic":
            serial = self._text(std.PRT_GENERAL_SERIAL + (1,), "identity.serial")
        model = tidy_model(
            first(v.model, "model")
            or parsed.get("model")
            or self._text(std.HR_DEVICE_DESCR + (1,), "identity.model")
        )
        firmware = first(v.firmware, "firmware") or parsed.get("firmware")
        mac = self._decoded(std.IF_PHYS_ADDRESS + (1,), dec.mac_address, "identity.mac")
        colorants = self._decoded(std.PRT_MARKER_ENTRY + (6, 1, 1), dec.integer, "identity.colour")
        cache.serial = serial
        cache.serial_source, cache.serial_seen = self._serial_detector()
        cache.uptime_seen = std.SYS_UPTIME in values or ident.uptime_ticks is not None
        cache.identity = {
            "model": model,
            "serial": serial,
            "firmware": firmware,
            "mac": mac,
            "location": self._text(std.SYS_LOCATION, "identity.location"),
        }
        if ident.sys_descr is None:
            cache.identity["sys_descr"] = descr
            cache.identity["sys_name"] = self._text(std.SYS_NAME, "identity.sys_name")
            cache.identity["sys_object_id"] = self._decoded(
                std.SYS_OBJECT_ID, dec.object_id, "identity.sys_object_id"
            )
        cache.colorants = colorants
        cache.marker_unit = self._decoded(
            std.PRT_MARKER_ENTRY + (3, 1, 1), dec.integer, "counters.unit"
        )
        # Supplies
        quirks = v.supplies
        cache.supplies = []
        supplies = self.runs["supplies"].rows if "supplies" in self.runs else {}
        for index, row in sorted(supplies.items()):
            where = f"supplies[{dotted(index)}]"
            description = self._vb_decode(row.get(6), dec.multiline_text, where + ".description")
            if description is None and quirks.fallback_name is not None:
                description = self._text(quirks.fallback_name + index[-1:], where + ".description")
            cache.supplies.append(
                CachedSupply(
                    index=index,
                    type_code=self._vb_decode(row.get(5), dec.integer, where + ".kind"),
                    description=description,
                    unit_code=self._vb_decode(row.get(7), dec.integer, where + ".unit"),
                    capacity=self._vb_decode(row.get(8), LEVEL, where + ".capacity"),
                )
            )
        cache.trays = []
        inputs = self.runs["inputs"].rows if "inputs" in self.runs else {}
        for index, row in sorted(inputs.items()):
            where = f"trays[{dotted(index)}]"
            cache.trays.append(
                CachedTray(
                    index=index,
                    name=self._vb_decode(row.get(13), dec.text, where + ".name"),
                    media=self._vb_decode(row.get(12), dec.text, where + ".media"),
                    unit_code=self._vb_decode(row.get(8), dec.integer, where + ".unit"),
                    capacity=self._vb_decode(row.get(9), LEVEL, where + ".capacity"),
                )
            )
        covers = self.runs["covers"].rows if "covers" in self.runs else {}
        cache.covers = {
            dotted(index): self._vb_decode(row.get(2), dec.text, "covers.description")
            for index, row in sorted(covers.items())
        }
        cache.console_rows = sorted(self.runs["console"].rows) if "console" in self.runs else []
        cache.status_oids = [
            o
            for o in (
                std.HR_DEVICE_STATUS + (1,),
                std.HR_PRINTER_STATUS + (1,),
                std.HR_PRINTER_ERROR_STATE + (1,),
                self._ALERT_EVENTS,
            )
            if o in values
        ]
        alert_rows = self.runs["alerts"].rows if "alerts" in self.runs else {}
        cache.alerts = {
            dotted(index): self._alert(index, row) for index, row in sorted(alert_rows.items())
        }
        self.alert_keys = list(cache.alerts)
        # Counter layout: fixed vendor OIDs that answered, then table rows.
        layout: list[CachedCounter] = self._marker_layout()
        for counter in v.counters:
            if counter.oid in values:
                layout.append(
                    CachedCounter(
                        counter.name, counter.oid, counter.label, counter.unit, counter.skip_zero
                    )
                )
        cache.column_rows = {}
        for number, table in enumerate(v.counter_tables):
            used = self._table_layout(number, table)
            layout += used
            run = self.runs.get(f"ctable{number}.value")
            if used and run is not None:
                # every row of the value column: what a warm walk passes between the counters
                # we use, and what tells a later cold pass whether the cached names still fit
                column = table.value_column[-1]
                cache.column_rows[dotted(table.value_column)] = [
                    list(index) for index, row in sorted(run.rows.items()) if column in row
                ]
        cache.counters = layout

    def _marker_layout(self) -> list[CachedCounter]:
        """Life counts wherever the device keeps them, and marker 1.1's power-on count.

        The page total is the first marker row whose life count is not zero (the first row
        when all are); its label names the marker when that is not 1.1, and every other row
        with a life count is kept as an ``other`` counter labelled with its marker."""
        life: list[tuple[OID, Varbind]] = []
        for index in self._life_count_rows():
            vb = self.values.get(std.PRT_MARKER_ENTRY + (4,) + index)
            if "markers" in self.runs:
                vb = self.runs["markers"].rows[index][4]
            if vb is None or vb.is_exception:
                continue
            self.values[vb.oid] = vb  # the report reads values, the walk kept rows
            life.append((index, vb))
        total = next(
            (index for index, vb in life if isinstance(vb.value, int) and vb.value > 0),
            life[0][0] if life else None,
        )
        layout: list[CachedCounter] = []
        for index, vb in life:
            unit_code = self._decoded(
                std.PRT_MARKER_ENTRY + (3,) + index, dec.integer, "counters.unit"
            )
            unit = std.COUNTER_UNITS.get(unit_code or 0, "other")
            marker = dotted(index)
            if index == total:
                label = "Life time" if index == (1, 1) else f"Life time (marker {marker})"
                layout.insert(0, CachedCounter("total", vb.oid, label, unit))
            else:
                layout.append(CachedCounter("other", vb.oid, f"Life time, marker {marker}", unit))
        power_on = std.PRT_MARKER_ENTRY + (5, 1, 1)
        if power_on in self.values:
            unit = std.COUNTER_UNITS.get(self.cache.marker_unit or 0, "other")
            layout.append(CachedCounter("power_on", power_on, "Since power on", unit))
        return layout

    def _serial_detector(self) -> tuple[OID | None, str | None]:
        """The object a serial was read from and its text: discovery's prtGeneralSerialNumber.1,
        else the vendor's first source that answered. A repeat scan without discovery reads it
        again to tell the same device from a replacement."""
        general = std.PRT_GENERAL_SERIAL + (1,)
        if self.identity.serial:
            return general, self.identity.serial
        for source in [general] + [scalar.oid for scalar in self.vendor.serial]:
            vb = self.values.get(source)
            text = dec.decode_field("serial", dec.text, vb.tag, vb.value, []) if vb else None
            if text:
                return source, text
        return None, None

    def _table_layout(self, number: int, table: CounterTable) -> list[CachedCounter]:
        values_run = self.runs.get(f"ctable{number}.value")
        key_run = self.runs.get(f"ctable{number}.key", values_run)  # one run when adjacent
        if values_run is None:
            return []
        if number in self.label_reuse:  # same rows as last time: the cached names hold
            named = {c.oid: c for c in self.cache.counters if is_under(c.oid, table.value_column)}
            layout = []
            for _index, row in sorted(values_run.rows.items()):
                value_vb = row.get(table.value_column[-1])
                cached = named.get(value_vb.oid) if value_vb is not None else None
                if value_vb is not None and cached is not None:
                    layout.append(cached)
                    self.values[value_vb.oid] = value_vb
            return layout
        layout = []
        for index, row in sorted(values_run.rows.items()):
            value_vb = row.get(table.value_column[-1])
            if value_vb is None:
                continue
            if table.key_column is None:
                code = index[0] if index else None
                if code not in table.codes:
                    continue
                name, label = table.codes[code]
            else:
                key_vb = key_run.rows.get(index, {}).get(table.key_column[-1]) if key_run else None
                if key_vb is None:
                    continue
                if table.key_is_label:
                    text = self._vb_decode(key_vb, dec.text, "counters.label")
                    if not text:
                        continue
                    name, label = counter_bucket(text), text
                else:
                    code = self._vb_decode(key_vb, dec.integer, "counters.code")
                    if code not in table.codes:
                        continue
                    name, label = table.codes[code]
            layout.append(CachedCounter(name, value_vb.oid, label, "impressions"))
            self.values[value_vb.oid] = value_vb
        return layout

    # -- warm ---------------------------------------------------------------------------

    def _dynamic_plan(self) -> tuple[list[OID], list[Segment], int]:
        """(single instances, repeated columns, max-repetitions) for a warm scan.

        Only objects that answered in the cold pass are asked again. Each multi-row column
        (supply levels, tray levels, cover states, console lines, a vendor counter table, the
        rows of known alerts) is either walked as a GETBULK repeater or asked cell by cell,
        whichever costs fewer bytes with one shared max-repetitions
        (:func:`.cost.choose_repetitions`). The cold pass cached which rows a walk passes
        (``DeviceState.column_rows``), so a walk over rows we skip is priced honestly and a
        long column can be split into several repeaters that meet end to end. A
        column is ``strict`` when a row we do not know means the device changed (a new
        supply), lenient for counter tables whose rows we skip on purpose and for alerts.
        """
        cache = self.cache
        singles: list[OID] = list(self.detector_oids())  # first: a reply cut short keeps them
        if (
            self.identity.uptime_ticks is None
            and cache.uptime_seen
            and std.SYS_UPTIME not in singles
        ):
            singles.append(std.SYS_UPTIME)  # discovery did not just read it, the cold pass did
        singles += [oid for oid in cache.status_oids]
        groups: list[tuple[OID, list[OID], bool, list[OID]]] = []

        def column(
            prefix: OID, rows: list[OID], strict: bool = True, walk: list[OID] | None = None
        ) -> None:
            rows = sorted(rows)
            if rows:
                walk = walk if walk and set(rows) <= set(walk) else rows
                groups.append((prefix, rows, strict, walk))

        column(std.PRT_SUPPLY_ENTRY + (9,), [s.index for s in cache.supplies])
        column(std.PRT_INPUT_ENTRY + (10,), [t.index for t in cache.trays])
        column(
            std.PRT_COVER_ENTRY + (3,),
            [tuple(int(p) for p in key.split(".")) for key in cache.covers],
        )
        column(std.PRT_CONSOLE_TEXT, list(cache.console_rows))
        tables = [t.value_column for t in self.vendor.counter_tables]
        in_table: dict[OID, list[OID]] = {t: [] for t in tables}
        for counter in cache.counters:
            table = next((t for t in tables if is_under(counter.oid, t)), None)
            if table is None:
                singles.append(counter.oid)
            else:
                in_table[table].append(counter.oid[len(table) :])
        for table, rows in in_table.items():
            walk = [tuple(index) for index in cache.column_rows.get(dotted(table), [])]
            if rows and set(rows) <= set(walk):  # the rows a walk passes, first to last used
                walk = walk[walk.index(min(rows)) : walk.index(max(rows)) + 1]
            column(table, rows, strict=False, walk=walk)
        if cache.alerts and self._ALERT_EVENTS in cache.status_oids:
            # Known alert rows: still there? (new ones show in prtAlertAllEvents)
            column(
                std.PRT_ALERT_ENTRY + (2,),
                [tuple(int(p) for p in key.split(".")) for key in cache.alerts],
                strict=False,
            )
        if not self.bulk:
            return singles + [prefix + row for prefix, rows, _, _ in groups for row in rows], [], 0
        candidates = [
            Column(
                number,
                len(rows),
                len(walk),
                predecessor(prefix + rows[0]),
                exact_cost(prefix + row for row in rows),
                cell_size(prefix + rows[0]),
                splittable=True,
            )
            for number, (prefix, rows, _, walk) in enumerate(groups)
        ]
        reps, repeat = choose_repetitions(candidates, None, MAX_REPETITIONS)
        segments = []
        for candidate, (prefix, rows, strict, walk) in zip(candidates, groups, strict=True):
            if candidate.key not in repeat:
                singles.extend(prefix + row for row in rows)
                continue
            known = frozenset(rows)
            for start in range(0, len(walk), reps):
                part = walk[start : start + reps]
                segments.append(
                    Segment(
                        prefix,
                        [r for r in part if r in known],
                        strict,
                        predecessor(prefix + part[0]),
                        known,
                    )
                )
        return singles, segments, reps

    def _warm(self) -> Steps[bool]:
        """One GETBULK for everything dynamic; returns True when the device changed."""
        singles, columns, reps = self._dynamic_plan()
        alert_probe = alert_column = std.PRT_ALERT_ENTRY + (2,)
        # With prtAlertAllEvents we know whether alerts were added; without it we look at the
        # table only when the status says something is wrong (see _alerts_possible).
        events_known = self._ALERT_EVENTS in self.cache.status_oids
        # Probe in the same PDU when the last scan saw a problem; otherwise only if this one does.
        probe = (
            [alert_probe]
            if not events_known and (self.cache.alerts or self.cache.alerts_possible)
            else []
        )
        size = len(singles) + len(probe) + reps * len(columns)
        probe_vb: Varbind | None = None
        changed = False
        fetched = False
        if self.bulk and size <= self._limit():
            response = yield Request(
                "bulk",
                [predecessor(o) for o in singles] + probe + [segment.start for segment in columns],
                non_repeaters=len(singles) + len(probe),
                max_repetitions=reps,
            )
            if response.error_status == ErrorStatus.NO_ERROR:
                fetched = True
                vbs = response.varbinds
                wanted = set(singles)
                for vb in vbs[: len(singles)]:
                    if vb.oid in wanted and not vb.is_exception:
                        self.values[vb.oid] = vb
                if probe and len(vbs) > len(singles):
                    probe_vb = vbs[len(singles)]
                tail = vbs[len(singles) + len(probe) :]
                for number, segment in enumerate(columns):
                    prefix = segment.prefix
                    for vb in tail[number :: len(columns)]:
                        if not is_under(vb.oid, prefix) or vb.is_exception:
                            break
                        if vb.oid[len(prefix) :] not in segment.known:
                            if segment.strict:
                                changed = True  # a row appeared: the static data is stale
                                break
                            continue
                        self.values[vb.oid] = vb
                if len(vbs) < size:
                    self.cache.max_varbinds = max(1, len(vbs))  # cut short at the size limit
                if not self._confirm_detectors():
                    return True  # no discovery this scan, and the device is not the cached one
                # Whatever the answer did not reach (size limit, skipped rows): ask directly.
                missing = [o for o in singles[len(vbs) :] if not is_under(o, alert_column)]
                missing += [
                    s.prefix + row
                    for s in columns
                    for row in s.rows
                    if s.prefix + row not in self.values and s.prefix != alert_column
                ]
                if missing:
                    yield from self._get_by_next(missing)
            elif response.error_status == ErrorStatus.TOO_BIG:
                self.cache.max_varbinds = max(1, size // 2)
            else:
                self.errors.append(f"warm GETBULK failed: error-status {response.error_status}")
                return True
        if not fetched:
            yield from self._get_by_next(
                singles + [s.prefix + row for s in columns for row in s.rows]
            )
            if not self._confirm_detectors():
                return True
        # Alerts: a row never changes once raised (prtAlertIndex only grows), so a warm scan
        # walks the severity column to learn which rows exist and reads only the new ones.
        index_run = TableRun(
            "alert_index", std.PRT_ALERT_ENTRY, 2, 2, guess_rows=len(self.cache.alerts)
        )
        walk = True
        if events_known:
            events = self._decoded(self._ALERT_EVENTS, dec.counter, "alerts.events")
            walk = events is None or events != self.cache.alert_events
            if not walk:
                # Nothing added: the known rows that still answered are the table (rows are
                # removed when their condition clears; RFC 3805 section 2.2.13).
                for key in self.cache.alerts:
                    cell = alert_column + tuple(int(p) for p in key.split("."))
                    if cell in self.values:
                        index_run.take_exact(self.values[cell])
            self.cache.alert_events = events
        elif not probe and not self.cache.alerts and not self._alerts_possible():
            walk = False
        else:
            if probe_vb is None:
                response = yield (
                    Request("bulk", [alert_probe], non_repeaters=1, max_repetitions=0)
                    if self.bulk
                    else Request("next", [alert_probe])
                )
                probe_vb = (
                    response.varbinds[0]
                    if response.varbinds and not response.error_status
                    else None
                )
            walk = probe_vb is not None and index_run.take(probe_vb)
        if walk:
            yield from self._walk([index_run])
        self.alert_keys = [dotted(index) for index in sorted(index_run.rows)]
        new_rows = [
            index for index in sorted(index_run.rows) if dotted(index) not in self.cache.alerts
        ]
        if new_rows:
            yield from self._get(
                [
                    std.PRT_ALERT_ENTRY + (column,) + index
                    for index in new_rows
                    for column in (4, 5, 7, 8, 9)
                ]
            )
            for index in new_rows:
                row = {
                    column: self.values[std.PRT_ALERT_ENTRY + (column,) + index]
                    for column in (2, 4, 5, 7, 8, 9)
                    if std.PRT_ALERT_ENTRY + (column,) + index in self.values
                }
                self.cache.alerts[dotted(index)] = self._alert(index, row)
        if changed:
            return True
        uptime = self._decoded(std.SYS_UPTIME, dec.timeticks, "identity.uptime")
        if (
            uptime is not None
            and self.cache.uptime_ticks is not None
            and uptime < self.cache.uptime_ticks
        ):
            return True  # restarted: a cartridge or board may have changed
        # A level that rose means a swapped cartridge: re-read that supply's static columns.
        swapped = []
        for supply in self.cache.supplies:
            level_vb = self.values.get(std.PRT_SUPPLY_ENTRY + (9,) + supply.index)
            level = (
                level_vb.value if level_vb is not None and isinstance(level_vb.value, int) else None
            )
            if (
                level is not None
                and supply.last_level is not None
                and level > supply.last_level
                and level >= 0
            ):
                swapped.append(supply)
        if swapped:
            yield from self._get(
                [std.PRT_SUPPLY_ENTRY + (c,) + s.index for s in swapped for c in (6, 8)]
            )
            for supply in swapped:
                where = f"supplies[{dotted(supply.index)}]"
                description = self._text(
                    std.PRT_SUPPLY_ENTRY + (6,) + supply.index,
                    where + ".description",
                    dec.multiline_text,
                )
                capacity = self._decoded(
                    std.PRT_SUPPLY_ENTRY + (8,) + supply.index, LEVEL, where + ".capacity"
                )
                if description is not None:
                    supply.description = description
                if capacity is not None:
                    supply.capacity = capacity
        self.cache.scans_since_refresh += 1
        return False
