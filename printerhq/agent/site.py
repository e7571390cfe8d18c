"""The two settings of the agent's configuration file the health check needs.

The health check reads only ``[site] health_check`` (may it act?) and ``[agent] state_dir``
(where the pidfile and heartbeat are), so that a configuration the agent would refuse for
another reason (an unreadable token file, say) does not also blind its watchdog. The keys,
defaults and types are those of :mod:`printerhq.agent.config`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

MAX_CONFIG_BYTES = 256 << 10
DEFAULT_STATE_DIR = Path("/var/lib/printerhq")


class SiteConfigError(ValueError):
    """One line naming the file or key and the problem."""


@dataclass(frozen=True)
class SiteSettings:
    health_check: bool  # [site] health_check: the site allows restarts (default off)
    state_dir: Path  # [agent] state_dir


def read_site_settings(config_path: str | Path) -> SiteSettings:
    path = Path(config_path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SiteConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise SiteConfigError(f"{path}: larger than {MAX_CONFIG_BYTES} bytes")
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SiteConfigError(f"{path}: not valid TOML: {exc}") from None
    site = _table(document, "site")
    agent = _table(document, "agent")
    allowed = site.get("health_check", False)
    if not isinstance(allowed, bool):
        raise SiteConfigError(f"site.health_check: expected true or false, got {allowed!r}")
    state_dir = agent.get("state_dir", str(DEFAULT_STATE_DIR))
    if not isinstance(state_dir, str) or not state_dir or len(state_dir) > 4096:
        raise SiteConfigError(f"agent.state_dir: expected a directory path, got {state_dir!r}")
    return SiteSettings(health_check=allowed, state_dir=Path(state_dir))


def site_allows_health_check(config_path: str | Path) -> bool:
    """``[site] health_check`` of the agent configuration at ``config_path`` (default false)."""
    return read_site_settings(config_path).health_check


def _table(document: dict[str, object], key: str) -> dict[str, object]:
    value = document.get(key, {})
    if not isinstance(value, dict):
        raise SiteConfigError(f"{key}: expected a [{key}] table")
    return value
