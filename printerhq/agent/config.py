"""The agent's configuration file (TOML) as typed structs, and the remote part of it.

Decoded with msgspec (unknown keys refused, bounds as ``msgspec.Meta`` constraints); every error
is one line that names the key and the problem, e.g. ``scan[0].interval: '2x' is not a
duration; ...``. What msgspec cannot express (targets that parse, interval <= discovery
interval, a readable token file) is checked after decoding, with the same kind of message.

The remote document (``printerhq server set-config``) may carry only ``[[scan]]`` sections: what
the site decides — ``[server]``, ``[site]``, ``[agent]``, ``[updates]``, ``[traps]`` — stays in the
local file.
"""

from __future__ import annotations

import logging
import re
import socket
from pathlib import Path
from typing import Annotated, Any

import msgspec

from printerhq import release
from printerhq.agent.durations import Duration, parse_duration
from printerhq.autotargets import AutoTargetsError, chosen_subnets, describe, expand_auto, has_auto
from printerhq.engine import DEFAULT_RATE
from printerhq.interfaces import auto_decisions
from printerhq.targets import TargetError, TargetSpec, parse_targets
from printerhq.traps import TrapConfigError, TrapOptions

log = logging.getLogger("printerhq.agent")

MAX_CONFIG_BYTES = 256 << 10
MIN_INTERVAL = 1.0  # seconds: short enough for demos and tests, long enough not to spin

_Text = Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]
_Target = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
_Community = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
_options = dict(forbid_unknown_fields=True, kw_only=True)


class ConfigError(ValueError):
    """One line naming the key and the problem."""


class ServerSection(msgspec.Struct, **_options):
    url: Annotated[str, msgspec.Meta(pattern=r"^https?://[^\s/]+/?$", max_length=512)]
    token_file: _Text
    ca_bundle: _Text | None = None
    # 64 hex digits, or 32 pairs with colons (``printerhq serve`` prints the first, openssl the
    # second), as ``--pin-sha256`` accepts (printerhq.cmdline.options.fingerprint).
    pin_sha256: (
        Annotated[
            str,
            msgspec.Meta(pattern=r"^(?:[0-9a-fA-F]{64}|(?:[0-9a-fA-F]{2}:){31}[0-9a-fA-F]{2})$"),
        ]
        | None
    ) = None
    insecure: bool = False  # allow http:// (token and reports unencrypted)


class V3Section(msgspec.Struct, **_options):
    """An SNMPv3 USM user; its auth/priv passphrases come from ``file`` (user=/auth=/priv=
    lines, mode 600), never from this file."""

    user: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    file: _Text | None = None


class ScanSection(msgspec.Struct, **_options):
    targets: Annotated[list[_Target], msgspec.Meta(min_length=1, max_length=1024)]
    interval: Duration  # warm metrics of the printers already known
    discovery_interval: Duration = Duration(86400.0)  # the whole range, for new devices
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 161
    communities: Annotated[list[_Community], msgspec.Meta(max_length=16)] = []
    v3: V3Section | None = None
    timeout: Duration = Duration(1.0)
    retries: Annotated[int, msgspec.Meta(ge=0, le=10)] = 1
    rate: Annotated[float, msgspec.Meta(gt=0, le=1_000_000)] = DEFAULT_RATE
    # None: what `rate` needs (ScanOptions.in_flight), so the rate alone sets the pace.
    concurrency: Annotated[int, msgspec.Meta(ge=1, le=65536)] | None = None
    icmp: bool = True
    # targets = ["auto"]: also take attached subnets wider than a /16 (printerhq.autotargets).
    allow_wide: bool = False


class SiteSection(msgspec.Struct, **_options):
    """What the site allows; each is off unless switched on here (never remotely)."""

    remote_config: bool = False
    health_check: bool = False
    updates: bool = False
    audit: bool = False  # keep the audit trail in <state_dir>/audit (docs/audit.md)


class AuditSection(msgspec.Struct, **_options):
    """How much audit trail to keep ([site] audit = true switches it on; docs/audit.md)."""

    max_file_mb: Annotated[int, msgspec.Meta(ge=1, le=1024)] = 8
    files: Annotated[int, msgspec.Meta(ge=1, le=100)] = 4
    keep_uploads: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 20


class AgentSection(msgspec.Struct, **_options):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=128)] | None = None
    state_dir: _Text = "/var/lib/printerhq"
    jitter: Duration = Duration(30.0)  # the first cycle waits 0..jitter (seeded by the name)
    heartbeat: Duration = Duration(2.0)  # heartbeat.json rewrite period (and WATCHDOG=1), <= 5 s

    def agent_name(self) -> str:
        return self.name or socket.gethostname()


class UpdatesSection(msgspec.Struct, **_options):
    public_key: _Text | None = None  # ed25519, for signed updates ([site] updates = true)
    check_interval: Duration = Duration(6 * 3600.0)
    # Where the versioned environments live (docs/agent.md, "Updates"); default
    # <state_dir>/updates, the one place a hardened systemd unit may write.
    install_root: _Text | None = None
    trial_deadline: Duration = Duration(120.0)  # the new version must show a good cycle by then

    def root(self, state_dir: str) -> Path:
        return Path(self.install_root) if self.install_root else Path(state_dir) / "updates"


# The [traps] section is the receiver's own options (printerhq.traps, docs/traps.md).
TrapsSection = TrapOptions


class AgentConfig(msgspec.Struct, **_options):
    server: ServerSection
    scan: Annotated[list[ScanSection], msgspec.Meta(max_length=64)] = []
    site: SiteSection = msgspec.field(default_factory=SiteSection)
    agent: AgentSection = msgspec.field(default_factory=AgentSection)
    updates: UpdatesSection = msgspec.field(default_factory=UpdatesSection)
    traps: TrapsSection = msgspec.field(default_factory=TrapsSection)
    audit: AuditSection = msgspec.field(default_factory=AuditSection)


class RemoteConfig(msgspec.Struct, **_options):
    scan: Annotated[list[ScanSection], msgspec.Meta(min_length=1, max_length=64)]


LOCAL_ONLY = ("server", "site", "agent", "updates", "traps", "audit")


# -- decoding ----------------------------------------------------------------------------------
def _dec_hook(kind: type, value: Any) -> Any:
    if kind is Duration:
        return parse_duration(value)
    raise NotImplementedError(f"no decoder for {kind!r}")


_AT = re.compile(r"^(?P<msg>.*) - at `\$(?P<path>[^`]*)`$", re.S)
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<field>[^`]+)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<field>[^`]+)`$")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def readable(error: msgspec.ValidationError) -> str:
    """``scan[0].interval: <problem>`` from msgspec's ``<problem> - at `$.scan[0].interval```."""
    text = str(error)
    match = _AT.match(text)
    message, path = (match["msg"], match["path"].lstrip(".")) if match else (text, "")
    if unknown := _UNKNOWN.match(message):
        return f"{_join(path, unknown['field'])}: unknown key"
    if missing := _MISSING.match(message):
        return f"{_join(path, missing['field'])}: required key is missing"
    return f"{path}: {message}" if path else message


def _decode(data: bytes, kind: type) -> Any:
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"configuration larger than {MAX_CONFIG_BYTES} bytes")
    try:
        return msgspec.toml.decode(data, type=kind, dec_hook=_dec_hook)
    except msgspec.ValidationError as exc:
        raise ConfigError(readable(exc)) from None
    except msgspec.DecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}") from None


def _check_scans(scans: list[ScanSection], *, allow_files: bool = True) -> None:
    for i, section in enumerate(scans):
        key = f"scan[{i}]"
        # "auto" is chosen from the interfaces at each cycle (target_spec), not here: parsing
        # a configuration reads no interface and sends nothing.
        given = [t for t in section.targets if not has_auto([t])]
        try:
            spec = parse_targets(given, allow_files=allow_files)
        except TargetError as exc:
            raise ConfigError(f"{key}.targets: {exc}") from None
        if spec.unresolved:
            raise ConfigError(
                f"{key}.targets: hostnames are not supported here; give addresses or ranges"
            )
        if section.interval < MIN_INTERVAL:
            raise ConfigError(f"{key}.interval: must be at least {MIN_INTERVAL:g}s")
        if section.discovery_interval < section.interval:
            raise ConfigError(f"{key}.discovery_interval: must not be shorter than interval")
        if section.timeout <= 0 or section.timeout > 60:
            raise ConfigError(f"{key}.timeout: must be between 1ms and 60s")
        if (
            section.v3 is not None
            and section.v3.file is not None
            and not Path(section.v3.file).is_file()
        ):
            raise ConfigError(f"{key}.v3.file: {section.v3.file} is not a readable file")


def parse_config(data: bytes) -> AgentConfig:
    """The local configuration; ``ConfigError`` names the key and the problem."""
    config: AgentConfig = _decode(data, AgentConfig)
    _check_scans(config.scan)
    if not config.scan and not config.site.remote_config:
        raise ConfigError(
            "scan: at least one [[scan]] section is needed (or [site] "
            "remote_config = true and a configuration set on the server)"
        )
    if config.server.url.startswith("http://") and not config.server.insecure:
        raise ConfigError(
            "server.url: http:// sends the token unencrypted; use https:// "
            "(or insecure = true for a lab)"
        )
    if config.agent.heartbeat <= 0 or config.agent.heartbeat > 5:
        raise ConfigError("agent.heartbeat: must be more than 0s and at most 5s")
    _check_updates(config)
    _check_traps(config.traps)
    return config


MAX_TRIAL_DEADLINE = 3600.0


def _check_updates(config: AgentConfig) -> None:
    updates = config.updates
    if updates.public_key is not None:
        try:
            release.parse_public_key(updates.public_key)
        except release.ReleaseError as exc:
            raise ConfigError(f"updates.public_key: {exc.reason}") from None
    elif config.site.updates:
        raise ConfigError(
            "updates.public_key: required with [site] updates = true "
            "(printed by printerhq server gen-update-key)"
        )
    if updates.check_interval < MIN_INTERVAL:
        raise ConfigError(f"updates.check_interval: must be at least {MIN_INTERVAL:g}s")
    if not 1.0 <= updates.trial_deadline <= MAX_TRIAL_DEADLINE:
        raise ConfigError(f"updates.trial_deadline: must be between 1s and {MAX_TRIAL_DEADLINE:g}s")
    if updates.install_root is not None and not Path(updates.install_root).is_absolute():
        raise ConfigError(f"updates.install_root: {updates.install_root} is not an absolute path")


def _check_traps(traps: TrapOptions) -> None:
    """What the struct cannot say: the listen address parses, the engine id is whole octets.
    (The v3 secret files are read in ``load_config``.)"""
    try:
        traps.listen_address()
        traps.engine_id_bytes()
    except TrapConfigError as exc:
        raise ConfigError(str(exc)) from None


def load_config(path: str | Path) -> AgentConfig:
    """Read and check ``path`` (including that the token file is readable)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    config = parse_config(data)
    token_file = Path(config.server.token_file)
    try:
        if not token_file.read_text().strip():
            raise ConfigError(f"server.token_file: {token_file} is empty")
    except OSError as exc:
        raise ConfigError(
            f"server.token_file: cannot read {token_file}: {exc.strerror or exc}"
        ) from None
    if config.server.ca_bundle and not Path(config.server.ca_bundle).is_file():
        raise ConfigError(f"server.ca_bundle: {config.server.ca_bundle} is not a readable file")
    if config.traps.enabled:
        try:
            config.traps.usm_users()  # the v3 secret files: readable and well formed
        except TrapConfigError as exc:
            raise ConfigError(str(exc)) from None
    return config


def local_v3_files(config: AgentConfig) -> frozenset[str]:
    """The SNMPv3 secret files the site's own configuration names (its ``[[scan]]`` sections):
    the only ones a remote configuration may use."""
    return frozenset(s.v3.file for s in config.scan if s.v3 is not None and s.v3.file is not None)


def parse_remote(document: str | bytes, v3_files: frozenset[str] = frozenset()) -> RemoteConfig:
    """A remote document; a ``[server]``/``[site]``/... table in it is refused by name, and a
    ``v3.file`` that the local configuration does not name (``v3_files``) is refused: the
    server must not make the agent read a file of its choosing as credentials."""
    data = document.encode() if isinstance(document, str) else document
    try:
        top = msgspec.toml.decode(data) if len(data) <= MAX_CONFIG_BYTES else None
    except msgspec.DecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}") from None
    if isinstance(top, dict):
        for key in LOCAL_ONLY:
            if key in top:
                raise ConfigError(
                    f"{key}: the [{key}] settings are the site's own and cannot be "
                    f"set remotely (a remote configuration carries [[scan]] only)"
                )
    remote: RemoteConfig = _decode(data, RemoteConfig)
    # No @file targets: the server must not make the agent read its local files (a file's
    # first line would come back in the rejection reason).
    _check_scans(remote.scan, allow_files=False)
    for i, section in enumerate(remote.scan):
        v3_file = section.v3.file if section.v3 is not None else None
        if v3_file is not None and v3_file not in v3_files:
            raise ConfigError(
                f"scan[{i}].v3.file: a remote configuration may only use a v3 secret file "
                "that the local configuration names"
            )
    return remote


_last_auto: dict[tuple[str, ...], list[str]] = {}


def target_spec(section: ScanSection) -> TargetSpec:
    """The section's targets (checked when the configuration was loaded), ``auto`` replaced by
    the subnets attached now; a changed choice is logged with every interface's reason."""
    tokens = list(section.targets)
    if has_auto(tokens):
        try:
            decisions = auto_decisions(allow_wide=section.allow_wide)
        except AutoTargetsError as exc:
            log.warning("targets auto: %s; scanning the other targets only", exc)
            decisions = []
        subnets = chosen_subnets(decisions)
        key = tuple(tokens)
        if _last_auto.get(key) != subnets:
            _last_auto[key] = subnets
            log.info(
                "targets auto chose %s:\n  %s",
                ", ".join(subnets) or "nothing",
                "\n  ".join(describe(decisions)),
            )
        tokens = expand_auto(tokens, subnets)
    return parse_targets(tokens)
