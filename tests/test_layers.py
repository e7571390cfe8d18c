"""The house of modules has no import that runs upward (docs/architecture.md).

Every module under ``printerhq/`` is parsed with :mod:`ast` (nothing is imported), every import
in it is resolved to a module of the package or to an outside distribution, and each edge is
checked against the layer map below: protocol cores -> trio shell -> applications, and
applications only as far as they are allowed. Imports inside functions and under
``TYPE_CHECKING`` count too: a lazy import is still a dependency.

To add a module or package, add its dotted name to ``LAYERS`` (the longest prefix wins); a
module that matches no entry fails :func:`test_every_module_has_a_layer`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "printerhq"

# Layers, lowest first. A module may import its own layer and the layers listed in ALLOWED.
CORE = "core"  # sans-IO protocol cores and the data model: bytes and structs in, out
SHELL = "shell"  # the trio shell: sockets, timers, rate limits, the scan engine, the uplink
API = "api"  # printerhq/__init__.py: the public names, re-exported from core and shell
RENDER = "render"  # text rendering of reports, for the CLI
SIM = "sim"  # the printer simulator (an application)
SERVER = "server"  # the central server (an application)
AGENT = "agent"  # the agent service (an application)
COMMANDS = "commands"  # the CLI's subcommands: wire the rest together
CMDLINE = "cmdline"  # exit codes, argument types: what the CLI and the server's commands share
CLI = "cli"  # the `printerhq` entry point

# Dotted module name (or package prefix) -> layer. The longest matching prefix decides.
LAYERS: dict[str, str] = {
    "printerhq": API,
    "printerhq.lowlevel": API,
    "printerhq.__main__": CLI,
    "printerhq.cli": CLI,
    # Protocol cores.
    "printerhq.model": CORE,
    "printerhq.limits": CORE,  # bounds every boundary enforces
    "printerhq.terminal": CORE,  # the one sanitiser of text shown on a terminal or logged
    "printerhq.words": CORE,  # plain words for states and units (every view)
    "printerhq.traffic": CORE,
    "printerhq.wire": CORE,  # the wire format beside the model
    "printerhq.control": CORE,  # the agent stream's control messages beside the wire format
    "printerhq.delta": CORE,  # delta readings: diff/apply, the delta_batch kind
    "printerhq.targets": CORE,
    "printerhq.allowlist": CORE,  # the hand-written privacy allow-list: data, imports nothing
    "printerhq.autotargets": CORE,  # targets = ["auto"]: the attached subnets, chosen sans-IO
    "printerhq.release": CORE,  # signed release manifests (server and agent)
    "printerhq.mib": CORE,
    "printerhq.audit": SHELL,  # the audit trail's writer and reader (files) ...
    "printerhq.audit.record": CORE,  # ... its events, an upload's contents and the summary
    "printerhq.audit.contents": CORE,
    "printerhq.audit.summary": CORE,
    "printerhq.snmp": CORE,  # BER, messages, v3, USM, credentials' encode/decode
    "printerhq.collect": SHELL,  # the package re-exports the drivers ...
    "printerhq.collect.base": CORE,
    "printerhq.collect.bounds": CORE,
    "printerhq.collect.cost": CORE,  # ... the planning itself is sans-IO
    "printerhq.collect.messages": CORE,
    "printerhq.collect.passes": CORE,
    "printerhq.collect.planner": CORE,
    "printerhq.collect.report": CORE,
    "printerhq.collect.runs": CORE,
    "printerhq.collect.state": CORE,
    # The trio shell.
    "printerhq.snmp.client": SHELL,
    "printerhq.snmp.transport": SHELL,
    "printerhq.snmp.v3credential": SHELL,
    "printerhq.sockets": SHELL,
    "printerhq.atomicfile": SHELL,
    "printerhq.ratelimit": SHELL,
    "printerhq.tokenbucket": CORE,
    "printerhq.icmp": SHELL,
    "printerhq.arp": SHELL,
    "printerhq.interfaces": SHELL,  # reads this machine's interfaces (ip -j addr): no traffic
    "printerhq.http": SHELL,
    "printerhq.sweep": SHELL,
    "printerhq.adaptive": SHELL,
    "printerhq.engine": SHELL,
    "printerhq.scan": SHELL,  # the engine as a package
    "printerhq.uplink": SHELL,
    "printerhq.traps": SHELL,  # the trap receiver (its options read v3 secrets from files)
    "printerhq.v3users": SHELL,  # SNMPv3 users from settings, files, environment
    # Applications.
    "printerhq.render": RENDER,
    "printerhq.sim": SIM,
    "printerhq.server": SERVER,
    "printerhq.server.charts": SERVER,  # sans-IO SVG charts for the dashboard (rows in, markup out)
    "printerhq.server.alert_rules": SERVER,  # sans-IO: states + thresholds + now -> conditions
    "printerhq.server.alerts_store": SERVER,
    "printerhq.server.alerts_worker": SERVER,
    "printerhq.server.alerts_page": SERVER,
    "printerhq.server.alerts_command": SERVER,
    "printerhq.server.webhooks": SERVER,
    "printerhq.server.forecast": CORE,  # sans-IO: level history in, forecast out
    "printerhq.server.fleet_page": SERVER,  # the dashboard's fleet page
    "printerhq.server.fleet_queries": SERVER,  # the fleet's SQL: summaries, pages
    "printerhq.server.summary": SERVER,  # a device's summary: urgency, status words, runs out
    "printerhq.server.summary_refresh": SERVER,  # the background task that keeps them fresh
    "printerhq.server.device_query": SERVER,  # the fleet list's parameters, parsed and bounded
    "printerhq.server.meter_reads": SERVER,  # sans-IO: the billing rule over counter readings
    "printerhq.server.meter_reads_query": SERVER,  # its SQL, chunk by chunk of devices
    "printerhq.server.meter_reads_page": SERVER,  # /api/v1/meter-reads, /meter-reads(.csv)
    "printerhq.server.agents_page": SERVER,  # /agents and /sites
    "printerhq.server.pages": SERVER,  # the viewer session the extra pages share
    "printerhq.server.fleet_metrics": SERVER,  # /metrics: the fleet, gathered at scrape time
    "printerhq.server.retention": CORE,  # the retention plan is sans-IO: rows in, a plan out
    "printerhq.server.prune_command": SERVER,  # `printerhq server prune`
    "printerhq.agent": AGENT,
    "printerhq.commands": COMMANDS,
    "printerhq.cmdline": CMDLINE,  # .exits (exit codes), .options (argument types)
}

# Which other layers each layer may import (its own is always allowed).
ALLOWED: dict[str, frozenset[str]] = {
    CORE: frozenset(),
    SHELL: frozenset({CORE}),
    API: frozenset({CORE, SHELL}),
    RENDER: frozenset({CORE}),
    SIM: frozenset({CORE}),
    CMDLINE: frozenset({CORE}),
    SERVER: frozenset({CORE, CMDLINE}),
    AGENT: frozenset({CORE, SHELL, API}),
    COMMANDS: frozenset({CORE, SHELL, API, RENDER, SIM, SERVER, AGENT, CMDLINE}),
    CLI: frozenset({COMMANDS, API, CMDLINE}),
}

# Outside distributions a layer must not import, and why.
_APP_LIBRARIES = frozenset({"argparse", "hypercorn", "starlette", "psycopg"})
FORBIDDEN_LIBRARIES: dict[str, frozenset[str]] = {
    # No I/O stack in the cores: no HTTP client or server, no command-line parsing.
    CORE: _APP_LIBRARIES | {"httpx", "trio_websocket"},
    SHELL: _APP_LIBRARIES,
    API: _APP_LIBRARIES,
    # The server does not carry the agent's upload client.
    SERVER: frozenset({"httpx", "trio_websocket"}),
    # Argument types and exit codes: no I/O stack, no application library.
    CMDLINE: _APP_LIBRARIES - {"argparse"} | {"httpx", "trio_websocket", "trio"},
}
# The probers stand alone: each imports, outside itself, only the shared low-level helpers (so
# the SNMP client does not pull in the data model, nor the pinger the SNMP package).
_PROBER_HELPERS = ("printerhq.traffic", "printerhq.sockets")
SELF_CONTAINED: dict[str, tuple[str, ...]] = {
    # The SNMP client enforces the allow-list itself (it refuses requests outside it).
    "printerhq.snmp": (*_PROBER_HELPERS, "printerhq.allowlist"),
    "printerhq.allowlist": (),
    "printerhq.icmp": _PROBER_HELPERS,
    "printerhq.arp": _PROBER_HELPERS,
    "printerhq.http": _PROBER_HELPERS,
    "printerhq.ratelimit": ("printerhq.tokenbucket",),
    "printerhq.tokenbucket": (),
    "printerhq.traffic": (),
    "printerhq.sockets": (),
}

# Imports against the map that other work removes; each names that work. Delete an entry when
# its import is gone (test_known_exceptions_still_exist says when).
KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {}

# Outside libraries one module may import although its layer may not, and why. The server
# carries no upload client, but its webhooks are outgoing HTTP POSTs (issue 14).
LIBRARY_EXCEPTIONS: dict[tuple[str, str], str] = {
    ("printerhq.server.webhooks", "httpx"): "webhook deliveries (docs/alerts.md)",
    ("printerhq.server.alerts_worker", "httpx"): "the webhook deliverer's client",
}

# Only the tests and the benchmarks use pysnmp (tests/pysnmp_bridge.py): not a runtime dependency.
NOWHERE = frozenset({"pysnmp", "pyasn1"})


@dataclass(frozen=True)
class Edge:
    source: str
    target: str  # a printerhq module, or the top-level name of an outside distribution
    line: int
    private: str | None = None  # a _name imported from another module: its privates are its own

    def __str__(self) -> str:
        path = self.source.replace(".", "/")
        return f"{path}.py:{self.line}: {self.source} imports {self.target}"


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules(root: Path = PACKAGE_DIR) -> dict[str, Path]:
    """Dotted name -> file of every module in the package at ``root``."""
    return {_module_name(root, path): path for path in sorted(root.rglob("*.py"))}


def _resolve(name: str, known: dict[str, Path]) -> str:
    """The longest prefix of ``name`` that is a module of the package (``name`` itself
    when it is one): ``printerhq.snmp.ber.Tag`` -> ``printerhq.snmp.ber``."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in known:
            return candidate
        parts.pop()
    return name


def imports_of(module: str, path: Path, known: dict[str, Path]) -> Iterator[Edge]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Edge(module, _target(alias.name, known), node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            if stem == "__future__":
                continue
            for alias in node.names:
                # `from pkg import mod` imports the module pkg.mod; `from mod import name`, mod.
                target = _target(f"{stem}.{alias.name}", known)
                private = (
                    alias.name
                    if alias.name.startswith("_") and not alias.name.startswith("__")
                    else None
                )
                yield Edge(module, target, node.lineno, private)


def with_packages(edge: Edge) -> Iterator[Edge]:
    """The edge, and one to each package whose ``__init__`` the import runs on the way (those
    the importing module is not itself inside): importing ``printerhq.uplink.wire`` runs
    ``printerhq/uplink/__init__.py`` and whatever that imports."""
    yield edge
    if not edge.target.startswith("printerhq."):
        return
    parts = edge.target.split(".")[:-1]
    while len(parts) > 1:
        package = ".".join(parts)
        if not (edge.source == package or edge.source.startswith(package + ".")):
            yield Edge(edge.source, package, edge.line)
        parts.pop()


def _target(name: str, known: dict[str, Path]) -> str:
    if name == "printerhq" or name.startswith("printerhq."):
        return _resolve(name, known)
    return name.split(".")[0]


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    while parts:
        layer = LAYERS.get(".".join(parts))
        if layer is not None:
            return layer
        parts.pop()
    return None


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


def _self_contained(module: str) -> str | None:
    return next((fence for fence in SELF_CONTAINED if _within(module, (fence,))), None)


def violations(modules: dict[str, Path]) -> list[str]:
    found = []
    for module, path in modules.items():
        source_layer = layer_of(module)
        assert source_layer is not None, f"{module} has no layer in LAYERS"
        edges = (e for direct in imports_of(module, path, modules) for e in with_packages(direct))
        for edge in edges:
            if (edge.source, edge.target) in KNOWN_EXCEPTIONS:
                continue
            if edge.private is not None and edge.target.startswith("printerhq"):
                found.append(f"{edge}: {edge.private} is private to {edge.target}")
            fence = _self_contained(edge.source)
            if (
                fence is not None
                and edge.target.startswith("printerhq")
                and not _within(edge.target, (fence, *SELF_CONTAINED[fence]))
            ):
                found.append(
                    f"{edge}: {fence} imports only {', '.join(SELF_CONTAINED[fence])}"
                    " outside itself"
                )
            if edge.target.startswith("printerhq"):
                target_layer = layer_of(edge.target)
                if target_layer is None:
                    found.append(f"{edge} (which has no layer)")
                elif target_layer != source_layer and target_layer not in ALLOWED[source_layer]:
                    found.append(f"{edge}: {source_layer} may not import {target_layer}")
                elif edge.target.startswith("printerhq.commands") and source_layer not in (
                    COMMANDS,
                    CLI,
                ):
                    found.append(f"{edge}: only the CLI imports printerhq.commands")
                elif (
                    source_layer == SERVER
                    and edge.target.startswith("printerhq.uplink")
                    and layer_of(edge.target) != CORE
                ):
                    found.append(f"{edge}: the server may not import the upload client")
            elif (edge.source, edge.target) in LIBRARY_EXCEPTIONS:
                continue
            elif edge.target in FORBIDDEN_LIBRARIES.get(source_layer, frozenset()):
                found.append(f"{edge}: {source_layer} may not import {edge.target}")
            elif edge.target in NOWHERE:
                found.append(f"{edge}: only tests and benchmarks may import {edge.target}")
    return found


def test_every_module_has_a_layer() -> None:
    missing = [module for module in _modules() if layer_of(module) is None]
    assert not missing, f"add these modules to LAYERS in {__file__}: {missing}"


def test_no_import_runs_upward() -> None:
    modules = _modules()
    assert len(modules) > 50  # the walk found the package
    problems = violations(modules)
    assert not problems, "imports against the layering:\n" + "\n".join(problems)


def test_known_exceptions_still_exist() -> None:
    modules = _modules()
    edges = {
        (e.source, e.target)
        for module, path in modules.items()
        for direct in imports_of(module, path, modules)
        for e in with_packages(direct)
    }
    stale = [pair for pair in KNOWN_EXCEPTIONS if pair not in edges]
    assert not stale, f"these imports are gone: delete them from KNOWN_EXCEPTIONS: {stale}"


# -- the checker itself: each rule catches what it should ------------------------------------


def _package(tmp_path: Path, files: dict[str, str]) -> dict[str, Path]:
    """A throwaway copy of a few printerhq module names, to feed to :func:`violations`."""
    root = tmp_path / "printerhq"
    for name, text in {"__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.relative_to(root).parents:
            (root / parent / "__init__.py").touch()
        path.write_text(text)
    return _modules(root)


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        # A codec module reaching up into the shell, relatively and absolutely.
        (
            {"snmp/ber.py": "from .client import SnmpClient\n", "snmp/client.py": ""},
            "core may not import shell",
        ),
        (
            {"model.py": "def f():\n    from printerhq.engine import Scanner\n", "engine.py": ""},
            "core may not import shell",
        ),
        # The shell importing an application.
        (
            {"icmp.py": "from printerhq.commands import scan\n", "commands/scan.py": ""},
            "shell may not import commands",
        ),
        # The server importing the CLI, or the upload client.
        (
            {
                "server/__main__.py": "from printerhq.commands import serve\n",
                "commands/serve.py": "",
            },
            "server may not import commands",
        ),
        (
            {"server/app.py": "from printerhq.uplink import client\n", "uplink/client.py": ""},
            "server may not import shell",
        ),
        ({"server/app.py": "import httpx\n"}, "server may not import httpx"),
        # ... also through a package __init__ that imports the client.
        (
            {
                "server/store.py": "from printerhq.uplink import wire\n",
                "uplink/wire.py": "",
                "uplink/__init__.py": "from .client import Uplink\n",
                "uplink/client.py": "",
            },
            "server may not import shell",
        ),
        # Outside libraries.
        ({"snmp/usm.py": "import argparse\n"}, "core may not import argparse"),
        ({"sim/agent.py": "from pysnmp.proto import api\n"}, "only tests and benchmarks"),
        # One prober importing another, or the data model.
        (
            {"icmp.py": "from .snmp.transport import grow_buffers\n", "snmp/transport.py": ""},
            "printerhq.icmp imports only",
        ),
        (
            {"snmp/client.py": "from ..model import SnmpCost\n", "model.py": ""},
            "printerhq.snmp imports only",
        ),
        # Another module's private helpers, even in the same layer.
        (
            {"snmp/v3.py": "from .message import _header\n", "snmp/message.py": ""},
            "_header is private to printerhq.snmp.message",
        ),
    ],
)
def test_the_checker_catches(tmp_path: Path, files: dict[str, str], expected: str) -> None:
    problems = violations(_package(tmp_path, files))
    assert any(expected in problem for problem in problems), problems


def test_the_checker_allows_downward_imports(tmp_path: Path) -> None:
    files = {
        "snmp/ber.py": "",
        "snmp/client.py": "from .ber import Tag\nfrom ..traffic import SnmpCost\n",
        "traffic.py": "import msgspec\n",
        "model.py": "from .traffic import SnmpCost\n",
        "server/app.py": "from printerhq.wire import decode\nfrom printerhq import model\n",
        "wire.py": "from printerhq.model import DeviceReport\n",
        "uplink/client.py": "from printerhq import wire\nimport httpx\n",
        "commands/scan.py": "from printerhq.engine import Scanner\nimport argparse\n",
        "engine.py": "",
        "cli.py": "from printerhq.commands import scan\n",
    }
    assert violations(_package(tmp_path, files)) == []
