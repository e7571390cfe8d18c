"""A period of the audit trail, summarised: devices touched, OIDs asked (grouped by MIB, each
named), bytes per protocol, uploads, and any gap in the trail. Sans-IO: events in, a
:class:`Summary` out, rendered as a table or JSON by ``printerhq audit``."""

from __future__ import annotations

__all__ = ["Summary", "render_table", "summarise"]

import ipaddress
import textwrap
from collections import Counter, defaultdict
from collections.abc import Iterable

import msgspec

from ..mib.names import name_of
from ..mib.oids import oid as parse_oid
from .record import Event, Gap, Request, Start, Upload, parse_time


class DeviceTouched(msgspec.Struct, kw_only=True):
    address: str
    requests: int
    protocols: list[str]


class ProtocolTraffic(msgspec.Struct, kw_only=True):
    protocol: str
    requests: int
    bytes: int  # handed to the socket
    unmeasured: int = 0  # requests whose bytes a library wrote (HTTP)


class OidAsked(msgspec.Struct, kw_only=True):
    oid: str
    name: str
    requests: int  # requests that carried it


class MibGroup(msgspec.Struct, kw_only=True):
    mib: str
    oids: list[OidAsked]


class UploadLine(msgspec.Struct, kw_only=True):
    time: str
    kind: str
    id: str
    via: str
    bytes: int
    sent: int
    sha256: str
    devices: int
    kept: bool


class UploadTotals(msgspec.Struct, kw_only=True):
    count: int = 0
    batches: int = 0
    control: int = 0
    bytes: int = 0  # messages as the server decodes them
    sent: int = 0  # on the connection (compressed)
    devices: list[str] = []  # addresses named by full reports
    fields: list[str] = []  # every field path any report carried


class Summary(msgspec.Struct, kw_only=True):
    since: str | None
    until: str | None
    first: str | None  # the first and last event in the period
    last: str | None
    requests: int
    devices: list[DeviceTouched]
    protocols: list[ProtocolTraffic]
    mibs: list[MibGroup]
    http_paths: dict[str, int]
    uploads: UploadTotals
    upload_list: list[UploadLine]
    gaps: list[Gap]
    lost: int
    unreadable_lines: int
    starts: int


def _address_key(address: str) -> tuple[int, int, str]:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return (9, 0, address)
    return (parsed.version, int(parsed), address)


def _in(time: str, since: float | None, until: float | None) -> bool:
    moment = parse_time(time)
    if moment is None:
        return False
    return (since is None or moment >= since) and (until is None or moment < until)


def summarise(
    events: Iterable[Event],
    since: float | None = None,
    until: float | None = None,
    *,
    unreadable: int = 0,
    since_text: str | None = None,
    until_text: str | None = None,
) -> Summary:
    per_device: dict[str, Counter[str]] = defaultdict(Counter)
    traffic: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    oids: Counter[str] = Counter()
    paths: Counter[str] = Counter()
    uploads = UploadTotals()
    upload_list: list[UploadLine] = []
    devices_uploaded: set[str] = set()
    fields: set[str] = set()
    gaps: list[Gap] = []
    first = last = None
    requests = starts = 0
    for event in events:
        if not _in(event.time, since, until):
            continue
        first = first or event.time
        last = event.time
        if isinstance(event, Request):
            requests += 1
            per_device[event.address][event.protocol] += 1
            counts = traffic[event.protocol]
            counts[0] += 1
            if event.size is None:
                counts[2] += 1
            else:
                counts[1] += event.size
            if event.protocol.startswith("snmp"):
                oids.update(set(event.items))
            elif event.protocol in ("http", "https"):
                paths.update(event.items)
        elif isinstance(event, Upload):
            uploads.count += 1
            uploads.bytes += event.size
            uploads.sent += event.sent
            if event.kind == "batch":
                uploads.batches += 1
            else:
                uploads.control += 1
            for content in event.devices:
                if content.device:
                    devices_uploaded.add(content.device)
                fields.update(content.fields)
            upload_list.append(
                UploadLine(
                    time=event.time,
                    kind=event.kind,
                    id=event.id,
                    via=event.via,
                    bytes=event.size,
                    sent=event.sent,
                    sha256=event.sha256,
                    devices=len(event.devices),
                    kept=event.kept,
                )
            )
        elif isinstance(event, Gap):
            gaps.append(event)
        elif isinstance(event, Start):
            starts += 1
    by_mib: dict[str, list[OidAsked]] = defaultdict(list)
    for dotted, count in oids.items():
        try:
            mib, name = name_of(parse_oid(dotted))
        except ValueError:
            mib, name = "other", dotted
        by_mib[mib].append(OidAsked(oid=dotted, name=name, requests=count))
    uploads.devices = sorted(devices_uploaded, key=_address_key)
    uploads.fields = sorted(fields)
    return Summary(
        since=since_text,
        until=until_text,
        first=first,
        last=last,
        requests=requests,
        devices=[
            DeviceTouched(address=address, requests=sum(counts.values()), protocols=sorted(counts))
            for address, counts in sorted(per_device.items(), key=lambda kv: _address_key(kv[0]))
        ],
        protocols=[
            ProtocolTraffic(protocol=p, requests=c[0], bytes=c[1], unmeasured=c[2])
            for p, c in sorted(traffic.items())
        ],
        mibs=[
            MibGroup(mib=mib, oids=sorted(items, key=lambda o: parse_oid(o.oid)))
            for mib, items in sorted(by_mib.items())
        ],
        http_paths=dict(sorted(paths.items())),
        uploads=uploads,
        upload_list=upload_list,
        gaps=gaps,
        lost=sum(g.lost for g in gaps),
        unreadable_lines=unreadable,
        starts=starts,
    )


def render_table(summary: Summary, *, max_oids_per_mib: int = 40) -> str:
    """The summary for a person (``printerhq audit``)."""
    out: list[str] = []
    period = f"{summary.since or 'the beginning'} to {summary.until or 'now'}"
    out.append(f"Audit trail, {period}")
    if summary.first is None:
        out.append("  no events in this period")
    else:
        out.append(f"  events from {summary.first} to {summary.last}")
    if summary.gaps or summary.unreadable_lines:
        out.append("")
        out.append("GAPS IN THE TRAIL")
        for gap in summary.gaps:
            out.append(f"  {gap.lost} event(s) lost from {gap.since} to {gap.time}: {gap.error}")
        if summary.unreadable_lines:
            out.append(f"  {summary.unreadable_lines} unreadable line(s) skipped")
    out.append("")
    out.append(f"Requests: {summary.requests} to {len(summary.devices)} device(s)")
    out.append(f"  {'protocol':<10} {'requests':>9} {'bytes':>12}")
    for p in summary.protocols:
        extra = f"  (+{p.unmeasured} not measured)" if p.unmeasured else ""
        out.append(f"  {p.protocol:<10} {p.requests:>9} {p.bytes:>12}{extra}")
    out.append("")
    out.append("Devices touched")
    for device in summary.devices:
        out.append(
            f"  {device.address:<40} {device.requests:>7} request(s)  {', '.join(device.protocols)}"
        )
    out.append("")
    out.append("OIDs asked, by MIB (requests carrying each)")
    for group in summary.mibs:
        out.append(f"  {group.mib}")
        for item in group.oids[:max_oids_per_mib]:
            name = "(not in the catalogue)" if item.name == item.oid else item.name
            out.append(f"    {name:<44} {item.oid:<40} {item.requests:>6}")
        hidden = len(group.oids) - max_oids_per_mib
        if hidden > 0:
            out.append(f"    ... and {hidden} more (--format json lists all)")
    if summary.http_paths:
        out.append("")
        out.append("HTTP paths asked")
        for path, count in summary.http_paths.items():
            out.append(f"  {path:<44} {count:>6}")
    u = summary.uploads
    out.append("")
    out.append(
        f"Uploads: {u.count} ({u.batches} batch(es), {u.control} control), "
        f"{u.bytes} bytes of messages, {u.sent} bytes sent"
    )
    wrap = textwrap.TextWrapper(width=100, initial_indent="  ", subsequent_indent="    ")
    out.extend(wrap.wrap(f"devices reported ({len(u.devices)}): {', '.join(u.devices)}"))
    if u.fields:
        out.extend(wrap.wrap(f"fields carried: {', '.join(u.fields)}"))
    for line in summary.upload_list:
        if line.kind != "batch":
            continue
        out.append(
            f"  {line.time}  {line.id:<40} {line.via:<9} {line.bytes:>8} B  "
            f"{line.devices:>4} report(s)  sha256 {line.sha256[:16]}…"
            + ("  (kept)" if line.kept else "")
        )
    return "\n".join(out) + "\n"
