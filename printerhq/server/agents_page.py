"""Dashboard pages ``/agents`` (each agent: site, software version, last heartbeat, last cycle's
statistics — what ``printerhq server agents`` shows) and ``/sites`` (devices grouped by site).

Everything an agent says about itself (its version, its error samples) and every site name is
shown through :func:`e`, like device strings.
"""

from __future__ import annotations

import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from printerhq.server import fleet_queries
from printerhq.server import summary as summ
from printerhq.server.agent_control import AgentControl
from printerhq.server.dashboard import (
    e,
    nav,
    page,
    redirect,
    when,
)
from printerhq.server.pages import viewer_session
from printerhq.server.store import DEVICE_FROM, SITE_OF_AGENT, Store
from printerhq.words import plain

SILENT_AFTER = 24 * 3600  # a device seen within a day counts as "seen today"
_HEALTH_CLASS = {"ok": "ok", "stale": "alert", "revoked": "muted", "never_seen": "muted"}


def _bytes(n: object) -> str:
    value = float(n) if isinstance(n, (int, float)) else 0.0
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return ""


def agentspage(agents: list[dict[str, Any]], *, now: float, logged_in: bool) -> Response:
    rows = []
    for a in agents:
        cycle = a.get("last_cycle") or {}
        wire = cycle.get("scan_bytes", 0) + cycle.get("upload_bytes", 0)
        stats = (
            f'<td class="num">{e(cycle.get("addresses", 0))}</td>'
            f'<td class="num">{e(cycle.get("printers", 0))}</td>'
            f'<td class="num">{e(_bytes(wire))}</td>'
            f'<td class="num{" alert" if cycle.get("errors") else ""}">'
            f"{e(cycle.get('errors', 0))}</td>"
            f"<td>{when(cycle.get('time'), now)}</td>"
            if cycle
            else '<td colspan="5" class="muted">no cycle reported yet</td>'
        )
        health = str(a.get("health") or "")
        rows.append(
            f'<tr class="agent"><td>{e(a["name"])}</td><td>{e(a.get("site"))}</td>'
            f'<td class="{_HEALTH_CLASS.get(health, "")}">{e(plain(health))}</td>'
            f"<td>{e(a.get('version') or '')}</td><td>{e(plain(a.get('state') or ''))}</td>"
            f"<td>{when(a.get('heartbeat_at'), now)}</td>{stats}</tr>"
        )
    if not rows:
        rows.append(
            '<tr><td colspan="11" class="muted">No agents yet: '
            "<code>printerhq server add-agent NAME --site SITE</code>.</td></tr>"
        )
    body = (
        '<p class="muted">Each agent, its site, the software it runs and what its last scan cycle '
        "did (bytes on the wire: scanning and upload together).</p>"
        '<table id="agents"><thead><tr><th>Agent</th><th>Site</th><th>Health</th>'
        "<th>Version</th><th>State</th><th>Last heartbeat</th><th>Addresses</th>"
        "<th>Printers</th><th>Bytes on the wire</th><th>Errors</th><th>Last cycle</th>"
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )
    return page("printerhq agents", body, nav=nav(logged_in))


@dataclass
class Site:
    name: str
    devices: int = 0
    seen_today: int = 0
    trouble: int = 0
    agents: int = 0


def sitespage(sites: list[Site], *, logged_in: bool) -> Response:
    rows = []
    for s in sites:
        link = "/?" + urllib.parse.urlencode({"site": s.name})
        rows.append(
            f'<tr class="site"><td><a href="{e(link)}">{e(s.name)}</a></td>'
            f'<td class="num">{s.agents}</td><td class="num">{s.devices}</td>'
            f'<td class="num">{s.seen_today}</td>'
            f'<td class="num{" alert" if s.trouble else ""}">{s.trouble}</td></tr>'
        )
    if not rows:
        rows.append('<tr><td colspan="5" class="muted">No sites yet.</td></tr>')
    body = (
        '<p class="muted">Devices by site (the site of the agent that last reported each). '
        "Trouble: an error such as a jam or an open door, a supply running out within "
        f"{summ.SOON_DAYS} days, or no reading for {summ.UNSEEN_HOURS} hours (as the fleet "
        "page's status).</p>"
        '<table id="sites"><thead><tr><th>Site</th><th>Agents</th><th>Devices</th>'
        "<th>Seen today</th><th>Printers with trouble</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
    return page("printerhq sites", body, nav=nav(logged_in))


_SITE_COUNTS = f"""
SELECT {SITE_OF_AGENT}, COUNT(*), SUM(CASE WHEN d.last_seen >= ? THEN 1 ELSE 0 END)
{DEVICE_FROM} GROUP BY {SITE_OF_AGENT}"""
_SITE_AGENTS = f"""
SELECT {SITE_OF_AGENT}, COUNT(*) FROM agents a
WHERE a.role = 'agent' AND a.revoked_at IS NULL GROUP BY {SITE_OF_AGENT}"""


async def gather_sites(store: Store, now: float) -> list[Site]:
    """Sites with their counts and their printers with trouble (one grouped query each for
    devices, agents and trouble)."""

    def work(conn: Any) -> tuple[list[Any], list[Any]]:
        counts = store.execute(conn, _SITE_COUNTS, (now - SILENT_AFTER,)).fetchall()
        agents = store.execute(conn, _SITE_AGENTS).fetchall()
        return counts, agents

    counts, agents = await store.run(work)
    sites: dict[str, Site] = {}

    def site(name: object) -> Site:
        key = "" if name is None else str(name)  # a device no agent reported (none today)
        return sites.setdefault(key, Site(key))

    for name, devices, seen in counts:
        site(name).devices, site(name).seen_today = int(devices), int(seen or 0)
    for name, n in agents:
        site(name).agents = int(n)
    for name, n in (await fleet_queries.trouble_by_site(store, now)).items():
        site(name).trouble = n
    return sorted(sites.values(), key=lambda s: s.name)


def routes(store: Store, *, open_read: bool = False) -> list[Route]:
    control = AgentControl(store)

    async def agents(request: Request) -> Response:
        session = await viewer_session(store, request)
        if not (session or open_read):
            return redirect("/login")
        return agentspage(await control.overview(), now=time.time(), logged_in=session)

    async def sites(request: Request) -> Response:
        session = await viewer_session(store, request)
        if not (session or open_read):
            return redirect("/login")
        found = await gather_sites(store, time.time())
        return sitespage(found, logged_in=session)

    return [
        Route("/agents", agents, methods=["GET"]),
        Route("/sites", sites, methods=["GET"]),
    ]
