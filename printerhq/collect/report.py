"""Turning a collection's answers and the device cache into a DeviceReport (a part of
:class:`.planner.Collection`, see :mod:`.base`)."""

from __future__ import annotations

import msgspec

from printerhq.mib import decode as dec
from printerhq.mib import standard as std
from printerhq.mib.oids import OID, dotted
from printerhq.model import (
    Alert,
    Counter,
    Cover,
    DeviceReport,
    FieldProblem,
    InputTray,
    Status,
    Supply,
)
from printerhq.snmp.ber import Tag
from printerhq.snmp.message import Varbind

from .base import CollectionBase, T
from .bounds import COUNT, INTEGER32, LEVEL, fit_report

COUNTER32_MODULUS = 1 << 32
# Report fields filled from each walked table run (:mod:`.runs`), for FieldProblem paths.
_TABLE_FIELDS = {
    "supplies": "supplies",
    "inputs": "status.trays",
    "covers": "status.covers",
    "console": "status.console",
    "alerts": "alerts",
    "alert_index": "alerts",
    "markers": "counters",  # prtMarkerLifeCount of every marker row
}


class ReportMixin(CollectionBase):
    """Value helpers and the report builders."""

    # -- value helpers ------------------------------------------------------------------

    def _vb_decode(self, vb: Varbind | None, decoder: dec.Decoder[T], where: str) -> T | None:
        if vb is None:
            return None
        return dec.decode_field(where, decoder, vb.tag, vb.value, self.problems)

    def _decoded(self, oid: OID, decoder: dec.Decoder[T], where: str) -> T | None:
        vb = self.values.get(oid)  # _vb_decode inlined: asked for every field of every report
        if vb is None:
            return None
        return dec.decode_field(where, decoder, vb.tag, vb.value, self.problems)

    def _text(self, oid: OID, where: str, decoder: dec.Decoder[str] = dec.text) -> str | None:
        return self._decoded(oid, decoder, where)

    # -- the report ---------------------------------------------------------------------

    def report(self) -> DeviceReport:
        """The DeviceReport from cache (static) and this collection's values (dynamic)."""
        if self.stale is not None:
            # Collection.known found another device (or none): its answers are not this
            # cache's; the caller runs discovery instead.
            raise RuntimeError(f"no report from a stale collection: {self.stale}")
        cache, ident = self.cache, self.identity
        cache.alerts_possible = self._alerts_possible()
        cache.collected_at = self.scanned_at
        if ident.is_printer and self._discovered():
            # what a later scan may reuse instead of discovery (Collection.known)
            cache.discovery = msgspec.structs.replace(ident, uptime_ticks=None)
        uptime = self._decoded(std.SYS_UPTIME, dec.timeticks, "identity.uptime")
        if uptime is None:
            uptime = ident.uptime_ticks
        if uptime is not None:
            cache.uptime_ticks = uptime
        static = cache.identity
        supplies = self._supplies()
        colour = None
        if cache.colorants is not None and cache.colorants > 0:
            colour = cache.colorants > 1
        elif supplies:
            colour = any(s.colour in ("cyan", "magenta", "yellow") for s in supplies)
        identity = msgspec.structs.replace(
            ident,
            model=static.get("model") or ident.model,
            serial=static.get("serial") or ident.serial,
            firmware=static.get("firmware") or ident.firmware,
            mac=static.get("mac") or ident.mac,
            location=static.get("location") or ident.location,
            sys_descr=ident.sys_descr or static.get("sys_descr"),
            sys_name=ident.sys_name or static.get("sys_name"),
            sys_object_id=ident.sys_object_id or static.get("sys_object_id"),
            uptime_ticks=uptime,
            colour=colour,
        )
        if self.cold:
            cache.walk_problems = {}
        for run in self.runs.values():
            if run.problem is not None:
                name = run.name.partition(".")[0]
                table = "counters" if name.startswith("ctable") else _TABLE_FIELDS.get(name, name)
                cache.walk_problems.setdefault(table, f"walk: {run.problem}")
        self.problems += [
            FieldProblem(field=table, reason=reason)
            for table, reason in cache.walk_problems.items()
        ]
        report = DeviceReport(
            identity=identity,
            scanned_at=self.scanned_at,
            counters=self._counters(),
            supplies=supplies,
            status=self._status(),
            alerts=self._alerts(),
            invalid=self.problems,
            errors=self.errors,
            cost=self.cost,
            collection="cold" if self.cold else "warm",
        )
        return fit_report(report)

    def _supplies(self) -> list[Supply]:
        quirks = self.vendor.supplies
        result = []
        for cached in self.cache.supplies:
            where = f"supplies[{dotted(cached.index)}]"
            receptacle = std.is_receptacle(cached.type_code, cached.description)
            level = self._decoded(
                std.PRT_SUPPLY_ENTRY + (9,) + cached.index, LEVEL, where + ".level"
            )
            if (level is None or level == 0) and quirks.fallback_level is not None:
                fallback = self._decoded(
                    quirks.fallback_level + cached.index[-1:], LEVEL, where + ".level"
                )
                if fallback is not None:
                    level = fallback
            number, capacity, percent, state, problem = dec.supply_level(
                level,
                cached.capacity,
                coarse_steps=quirks.coarse_steps,
                empty_code=quirks.empty_code,
                receptacle=receptacle,
            )
            if problem:
                self.problems.append(FieldProblem(field=where, reason=problem))
            if level is not None:
                cached.last_level = level
            code = cached.type_code
            text, part, serial = dec.split_description(cached.description)
            description = text or f"Supply {cached.index[-1]}"
            result.append(
                Supply(
                    index=cached.index[-1],
                    description=description,
                    kind=std.SUPPLY_KINDS.get(code or 0, "other"),
                    supply_type=std.SUPPLY_TYPE_NAMES.get(code) if code is not None else None,
                    colour=dec.colour_of(cached.description),
                    unit=std.UNIT_NAMES.get(cached.unit_code)
                    if cached.unit_code is not None
                    else None,
                    level=number,
                    capacity=capacity,
                    percent=percent,
                    state=state,
                    consumed=not receptacle,
                    part_number=part or dec.part_number(text),
                    serial=serial,
                )
            )
        return result

    def _counters(self) -> list[Counter]:
        result = []
        for cached in self.cache.counters:
            vb = self.values.get(cached.oid)
            if vb is None:
                continue
            key = dotted(cached.oid)
            value = self._vb_decode(vb, COUNT, f"counters[{key}]")
            if value is None:
                continue
            if cached.skip_zero and value == 0:
                continue
            last = self.cache.counter_last.get(key)
            wraps = last[1] if last else 0
            if (
                vb.tag == Tag.COUNTER32
                and last is not None
                and value < last[0]
                and last[0] - value > COUNTER32_MODULUS // 2
            ):
                wraps += 1  # Counter32 wrapped (RFC 2578 section 7.1.6), not a reset
            self.cache.counter_last[key] = [value, wraps]
            result.append(
                Counter(
                    name=cached.name,
                    value=value + wraps * COUNTER32_MODULUS,
                    unit=cached.unit,
                    label=cached.label,
                    source=key,
                )
            )
        return result

    def _status(self) -> Status:
        cache = self.cache
        errors = (
            self._decoded(std.HR_PRINTER_ERROR_STATE + (1,), dec.error_flags, "status.errors") or []
        )
        console = []
        for row in cache.console_rows:
            line = self._text(std.PRT_CONSOLE_TEXT + row, "status.console")
            if line:
                console.append(line)
        covers = []
        for key, description in cache.covers.items():
            index = tuple(int(p) for p in key.split("."))
            covers.append(
                Cover(
                    index=index[-1],
                    description=description,
                    status=self._decoded(
                        std.PRT_COVER_ENTRY + (3,) + index,
                        dec.enum(std.PRT_COVER_STATUS_NAMES),
                        "status.covers",
                    ),
                )
            )
        trays = []
        for tray in cache.trays:
            where = f"trays[{dotted(tray.index)}]"
            level = self._decoded(std.PRT_INPUT_ENTRY + (10,) + tray.index, LEVEL, where + ".level")
            number, capacity, percent, state, problem = dec.supply_level(level, tray.capacity)
            if problem:
                self.problems.append(FieldProblem(field=where, reason=problem))
            trays.append(
                InputTray(
                    index=tray.index[-1],
                    name=tray.name,
                    media=tray.media,
                    capacity=capacity,
                    level=number,
                    percent=percent,
                    state=state,
                    unit=std.UNIT_NAMES.get(tray.unit_code) if tray.unit_code is not None else None,
                )
            )
        return Status(
            device=self._decoded(
                std.HR_DEVICE_STATUS + (1,), dec.enum(std.HR_DEVICE_STATUS_NAMES), "status.device"
            ),
            printer=self._decoded(
                std.HR_PRINTER_STATUS + (1,),
                dec.enum(std.HR_PRINTER_STATUS_NAMES),
                "status.printer",
            ),
            errors=errors,
            console=console,
            covers=covers,
            trays=trays,
        )

    def _alerts(self) -> list[Alert]:
        keys = self.alert_keys if self.alert_keys is not None else list(self.cache.alerts)
        # forget alerts that are gone from the table
        self.cache.alerts = {
            key: self.cache.alerts[key] for key in keys if key in self.cache.alerts
        }
        self.cache.alert_rows = len(self.cache.alerts)
        return list(self.cache.alerts.values())

    def _alert(self, index: OID, row: dict[int, Varbind]) -> Alert:
        where = f"alerts[{dotted(index)}]"
        code = self._vb_decode(row.get(7), INTEGER32, where + ".code")
        group = self._vb_decode(row.get(4), INTEGER32, where + ".group")
        return Alert(
            index=index[-1],
            severity=self._vb_decode(
                row.get(2), dec.enum(std.ALERT_SEVERITY_NAMES), where + ".severity"
            ),
            group=std.ALERT_GROUP_NAMES.get(group, f"code {group}") if group is not None else None,
            group_index=self._vb_decode(row.get(5), INTEGER32, where + ".group_index"),
            code=code,
            code_name=std.ALERT_CODE_NAMES.get(code) if code is not None else None,
            description=self._vb_decode(row.get(8), dec.text, where + ".description"),
            time_ticks=self._vb_decode(row.get(9), dec.timeticks, where + ".time"),
        )
