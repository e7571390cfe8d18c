"""Alert rules, sans-IO: the thresholds file, and which conditions hold for a fleet right now.

:func:`evaluate` is pure: device and agent states, the thresholds and the time go in, the set of
conditions that hold comes out. The store (``alerts_store.py``) diffs that set against the open
alerts: a condition not open yet opens an alert, an open alert whose condition no longer holds
closes. Hysteresis lives here, so that a level that wobbles around a threshold does not open and
close an alert every scan: a condition that is already open is held until it is clearly over
(a supply alert closes only ``supply_close_margin`` points above its threshold).

Every alert is named by ``(subject, rule, item)``: the subject is ``device:ID`` or
``agent:ID``, the item the supply index, error flag or alert code the rule is about ("" when
the rule has one per subject). The database keeps at most one open alert per name.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Literal, cast

import msgspec

from printerhq import words
from printerhq.mib import alerts as mib_alerts
from printerhq.model import DeviceReport

Severity = Literal["critical", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("critical", "warning", "info")  # most urgent first
MAX_CONFIG_BYTES = 256 * 1024
MAX_WEBHOOKS = 32
MAX_SITES = 10_000
MAX_URL = 2048

# Rules and the words a person reads for them (page, CLI, webhook payload's "title").
RULES = {
    "supply_low": "supply low",
    "supply_runs_out": "supply runs out soon",
    "printer_error": "printer error",
    "printer_alert": "printer alert",
    "cover_open": "cover open",
    "device_down": "device down",
    "device_unseen": "device not seen",
    "agent_silent": "agent heartbeat missing",
}

# Rules about what a report shows (held by ``error_close_minutes``).
ERROR_RULES = frozenset({"printer_error", "device_down", "cover_open", "printer_alert"})
# hrPrinterDetectedErrorState flags (RFC 2790, RFC 3805 section 2.2.13.2) by severity: the
# printer cannot print (critical) or will soon need someone (warning). A flag not listed here
# (a later RFC's, a vendor's) is a warning: it is an error the device raised, never nothing.
CRITICAL_ERRORS = frozenset(
    {
        "jammed",
        "doorOpen",
        "offline",
        "noToner",
        "noPaper",
        "inputTrayMissing",
        "outputTrayMissing",
        "markerSupplyMissing",
        "outputFull",
        "serviceRequested",
    }
)
INFO_ERRORS = frozenset({"overduePreventMaint"})
_OPEN_COVERS = frozenset({"open", "interlock_open", "coverOpen", "interlockOpen"})

NonNegative = Annotated[float, msgspec.Meta(ge=0.0, le=1e6)]
Percent = Annotated[float, msgspec.Meta(ge=0.0, le=100.0)]
SiteName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class Thresholds(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """One site's thresholds (``[defaults]`` and each ``[site."NAME"]``). 0 turns a rule off."""

    supply_below_percent: Percent = 10.0
    supply_close_margin: Percent = 5.0  # a supply alert closes this many points above
    supply_days_left: NonNegative = 7.0  # runs out within this many days (forecast)
    supply_days_margin: NonNegative = 3.0  # ... closes when the forecast is this much longer
    device_unseen_hours: NonNegative = 24.0
    agent_heartbeat_minutes: NonNegative = 30.0
    printer_errors: bool = True  # hrPrinterDetectedErrorState flags, device down, covers open
    printer_alerts: bool = True  # the printer's own alert table (prtAlertTable)
    error_close_minutes: NonNegative = 30  # an error state closes when gone for this long


class SiteThresholds(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """A site's overrides: a field left out takes the ``[defaults]`` value."""

    supply_below_percent: Percent | None = None
    supply_close_margin: Percent | None = None
    supply_days_left: NonNegative | None = None
    supply_days_margin: NonNegative | None = None
    device_unseen_hours: NonNegative | None = None
    agent_heartbeat_minutes: NonNegative | None = None
    printer_errors: bool | None = None
    printer_alerts: bool | None = None
    error_close_minutes: NonNegative | None = None


class Webhook(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    url: Annotated[str, msgspec.Meta(min_length=8, max_length=MAX_URL, pattern=r"^https?://\S+$")]
    # The signing secret is read from this file when a delivery is made (never from the command
    # line or the database): every server instance needs the file at the same path.
    secret_file: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]
    sites: Annotated[list[SiteName], msgspec.Meta(max_length=MAX_SITES)] | None = None  # all
    min_severity: Severity = "info"


class AlertsConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    defaults: Thresholds = Thresholds()
    site: Annotated[dict[SiteName, SiteThresholds], msgspec.Meta(max_length=MAX_SITES)] = {}
    webhook: Annotated[list[Webhook], msgspec.Meta(max_length=MAX_WEBHOOKS)] = []

    def for_site(self, site: str | None) -> Thresholds:
        override = self.site.get(site) if site is not None else None
        if override is None:
            return self.defaults
        changes = {
            f: getattr(override, f)
            for f in override.__struct_fields__
            if getattr(override, f) is not None
        }
        return msgspec.structs.replace(self.defaults, **changes)


class ConfigError(ValueError):
    pass


def parse_config(text: str) -> AlertsConfig:
    """The thresholds file (TOML), validated; :class:`ConfigError` names the field at fault."""
    if len(text.encode()) > MAX_CONFIG_BYTES:
        raise ConfigError(f"the alerts file is larger than {MAX_CONFIG_BYTES} bytes")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}") from None
    sites = raw.get("site")
    if isinstance(sites, dict):
        # Checked one by one first: msgspec names a dict's entries "site[...]", not which site.
        for name, table in sites.items():
            try:
                msgspec.convert(table, SiteThresholds)
            except msgspec.ValidationError as exc:
                where = f'site."{name[:64]}"'
                raise ConfigError(str(exc).replace("$", where)) from None
    try:
        config = msgspec.convert(raw, AlertsConfig)
    except msgspec.ValidationError as exc:
        # msgspec names the path: "Expected `float` <= 100.0 - at `$.defaults.supply_...`"
        raise ConfigError(str(exc).replace("$.", "")) from None
    for hook in config.webhook:
        if hook.min_severity not in SEVERITIES:  # pragma: no cover - Literal checks it
            raise ConfigError(f"unknown severity {hook.min_severity!r}")
    return config


# --------------------------------------------------------------------------------------------
# States in, conditions out
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeviceState:
    id: int
    site: str | None
    label: str  # what a person knows it by: address, model, serial
    last_seen: float
    report: DeviceReport | None
    days_left: Mapping[int, float | None] = field(default_factory=dict)  # supply index -> days
    # Earlier reports of the last minutes, for the hysteresis of error states: the store reads
    # them only for devices with an open error alert (ERROR_RULES).
    recent: Sequence[DeviceReport] = ()


@dataclass(frozen=True)
class AgentState:
    id: int
    name: str
    site: str | None
    heartbeat_at: float | None  # the latest of its stream heartbeat and its last upload


Key = tuple[str, str, str]  # (subject, rule, item)


@dataclass(frozen=True)
class Condition:
    subject: str
    rule: str
    item: str
    severity: Severity
    site: str | None
    label: str
    message: str

    @property
    def key(self) -> Key:
        return (self.subject, self.rule, self.item)


def _hours(seconds: float) -> str:
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


def _error_severity(flag: str) -> Severity:
    if flag in CRITICAL_ERRORS:
        return "critical"
    return "info" if flag in INFO_ERRORS else "warning"


def _supply_conditions(
    d: DeviceState, t: Thresholds, is_open: frozenset[Key]
) -> Iterable[Condition]:
    subject = f"device:{d.id}"
    for s in d.report.supplies if d.report else []:
        # Receptacles (waste toner) fill up: their percentage is not "what is left".
        if not s.consumed:
            continue
        item = str(s.index)
        name = s.description or f"supply {s.index}"
        percent = s.percent
        if t.supply_below_percent > 0 and percent is not None and math.isfinite(percent):
            held = (subject, "supply_low", item) in is_open
            band = percent < t.supply_below_percent + t.supply_close_margin
            if percent <= t.supply_below_percent or (held and band):
                yield Condition(
                    subject,
                    "supply_low",
                    item,
                    "critical" if percent <= 0 else "warning",
                    d.site,
                    d.label,
                    f"{name} at {percent:.0f}% (alert at {t.supply_below_percent:g}%)",
                )
        days = d.days_left.get(s.index)
        if t.supply_days_left > 0 and days is not None and math.isfinite(days):
            held = (subject, "supply_runs_out", item) in is_open
            band = days < t.supply_days_left + t.supply_days_margin
            if days <= t.supply_days_left or (held and band):
                yield Condition(
                    subject,
                    "supply_runs_out",
                    item,
                    "warning",
                    d.site,
                    d.label,
                    f"{name} runs out in about {max(days, 0.0):.0f} days "
                    f"(alert within {t.supply_days_left:g} days)",
                )


def _report_conditions(
    d: DeviceState, report: DeviceReport | None, t: Thresholds
) -> Iterable[Condition]:
    """The error states one report shows (printer errors, device down, covers, alert rows)."""
    subject = f"device:{d.id}"
    status = report.status if report else None
    if t.printer_errors and status is not None:
        for flag in dict.fromkeys(status.errors):  # once each, in the device's order
            yield Condition(
                subject,
                "printer_error",
                flag,
                _error_severity(flag),
                d.site,
                d.label,
                words.detected_error(flag),
            )
        if status.device == "down":
            yield Condition(subject, "device_down", "", "critical", d.site, d.label, "device down")
        for cover in status.covers:
            if cover.status in _OPEN_COVERS:
                yield Condition(
                    subject,
                    "cover_open",
                    str(cover.index),
                    "critical",
                    d.site,
                    d.label,
                    f"{cover.description or 'cover'} {words.cover_status(cover.status)}",
                )
    if t.printer_alerts and report is not None:
        for alert in report.alerts:
            # One alert per code (or code name): the table may list the same jam twice.
            item = str(alert.code) if alert.code is not None else (alert.code_name or "")
            if not item:
                item = f"row {alert.index}"
            # The code in a few words ("jam", "toner low"), and the printer's own text beside.
            text = mib_alerts.trap_meaning(mib_alerts.PRINTER_V2_ALERT, alert) or "printer alert"
            said = (alert.description or "").strip()
            if said and said.lower() != text.lower():
                text = f"{text}: {said}"
            yield Condition(
                subject,
                "printer_alert",
                item,
                cast(Severity, words.alert_level(alert.severity)),
                d.site,
                d.label,
                text,
            )


def _device_conditions(
    d: DeviceState, t: Thresholds, now: float, is_open: frozenset[Key]
) -> Iterable[Condition]:
    subject = f"device:{d.id}"
    yield from _supply_conditions(d, t, is_open)
    shown = set()
    for c in _report_conditions(d, d.report, t):
        shown.add(c.key)
        yield c
    # Hysteresis for error states: an open one is held while any report of the last
    # error_close_minutes still shows it, so a flag that comes and goes between scans (low
    # paper on a tray being filled) does not open and close an alert each time.
    window = now - t.error_close_minutes * 60
    for report in d.recent:
        if report.scanned_at < window:
            continue
        for c in _report_conditions(d, report, t):
            if c.key in is_open and c.key not in shown:
                shown.add(c.key)
                yield c
    if t.device_unseen_hours > 0:
        silent = now - d.last_seen
        if silent > t.device_unseen_hours * 3600:
            yield Condition(
                subject,
                "device_unseen",
                "",
                "warning",
                d.site,
                d.label,
                f"not seen for {_hours(silent)} (alert after {t.device_unseen_hours:g} h)",
            )


def _agent_condition(a: AgentState, t: Thresholds, now: float) -> Condition | None:
    if t.agent_heartbeat_minutes <= 0 or a.heartbeat_at is None:
        return None  # never seen: not yet installed, nothing went missing
    silent = now - a.heartbeat_at
    if silent <= t.agent_heartbeat_minutes * 60:
        return None
    return Condition(
        f"agent:{a.id}",
        "agent_silent",
        "",
        "critical",  # a silent agent is a whole site unwatched
        a.site,
        a.name,
        f"no heartbeat for {_hours(silent)} (alert after {t.agent_heartbeat_minutes:g} min)",
    )


def evaluate(
    devices: Iterable[DeviceState],
    agents: Iterable[AgentState],
    config: AlertsConfig,
    now: float,
    open_keys: Iterable[Key] = (),
) -> dict[Key, Condition]:
    """The conditions that hold, by key. ``open_keys``: the alerts open now (their conditions
    are held through the hysteresis band instead of closing at the threshold)."""
    is_open = frozenset(open_keys)
    out: dict[Key, Condition] = {}
    for d in devices:
        t = config.for_site(d.site)
        for c in _device_conditions(d, t, now, is_open):
            out.setdefault(c.key, c)
    for a in agents:
        silent = _agent_condition(a, config.for_site(a.site), now)
        if silent is not None:
            out.setdefault(silent.key, silent)
    return out


def severity_rank(severity: str) -> int:
    """0 for critical, 1 warning, 2 info (and 3 for anything else): the page's sort order."""
    return {"critical": 0, "warning": 1, "info": 2}.get(severity, 3)


def rule_words(rule: str) -> str:
    return RULES.get(rule, words.plain(rule))
