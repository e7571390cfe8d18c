"""Remote configuration on the agent: judge a pushed document, keep the last good one.

The server pushes ``(version, TOML text)``. With ``[site] remote_config = false`` the push is
ignored, and the agent says so once per version. Otherwise the document is validated exactly as
the local file is (:func:`printerhq.agent.config.parse_remote`); a valid one is saved as
last-good in ``<state_dir>/remote-config.json`` (atomic; it survives a restart) and used from the
next cycle; an invalid one is rejected with the reason, and the agent keeps what it runs.

``remote-config.json``: ``{"version": 3, "document": "[[scan]]\\n...", "applied_at": 1764...}``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import msgspec

from printerhq.agent.config import ConfigError, RemoteConfig, parse_remote
from printerhq.agent.logs import event
from printerhq.atomicfile import write_atomic
from printerhq.control import MAX_REASON, ConfigPush, ConfigResult

log = logging.getLogger("printerhq.agent")

LAST_GOOD = "remote-config.json"


class _Saved(msgspec.Struct, forbid_unknown_fields=True):
    version: int
    document: str
    applied_at: float


class RemoteConfigKeeper:
    def __init__(self, state_dir: Path, allowed: bool, v3_files: frozenset[str] = frozenset()):
        self.path = state_dir / LAST_GOOD
        self.allowed = allowed
        self.v3_files = v3_files  # the v3 secret files the local configuration names
        self.version = 0  # the remote configuration in use (0: the local file's [[scan]])
        self.current: RemoteConfig | None = None
        self._fresh: RemoteConfig | None = None  # accepted, not yet picked up by a cycle
        self._answered: set[int] = set()

    def load_last_good(self) -> RemoteConfig | None:
        """The saved configuration, when the site allows remote configuration and it is valid."""
        if not self.allowed or not self.path.exists():
            return None
        try:
            saved = msgspec.json.decode(self.path.read_bytes(), type=_Saved)
            remote = parse_remote(saved.document, self.v3_files)
        except (OSError, msgspec.DecodeError, msgspec.ValidationError, ConfigError) as exc:
            event(
                log,
                "remote_config_unreadable",
                logging.WARNING,
                path=str(self.path),
                error=str(exc),
            )
            return None
        self.version, self.current = saved.version, remote
        event(log, "remote_config_loaded", version=saved.version)
        return remote

    def offer(self, push: ConfigPush) -> ConfigResult | None:
        """Judge a push; the answer for the server, or None when there is nothing to say."""
        if not self.allowed:
            if push.version in self._answered:
                return None
            self._answered.add(push.version)
            event(
                log,
                "remote_config_ignored",
                version=push.version,
                reason="[site] remote_config = false",
            )
            return ConfigResult(
                version=push.version,
                outcome="ignored",
                reason="remote configuration is off at this site ([site] remote_config = false)",
            )
        if push.version == self.version:
            return ConfigResult(version=push.version, outcome="applied")
        try:
            remote = parse_remote(push.document, self.v3_files)
        except ConfigError as exc:
            reason = str(exc)[:MAX_REASON]
            event(
                log, "remote_config_rejected", logging.WARNING, version=push.version, reason=reason
            )
            return ConfigResult(version=push.version, outcome="rejected", reason=reason)
        saved = _Saved(version=push.version, document=push.document, applied_at=time.time())
        write_atomic(self.path, msgspec.json.encode(saved))
        self.version, self.current, self._fresh = push.version, remote, remote
        event(log, "remote_config_accepted", version=push.version, sections=len(remote.scan))
        return ConfigResult(version=push.version, outcome="applied")

    def take_fresh(self) -> RemoteConfig | None:
        """A configuration accepted since the last call (the cycle loop switches to it)."""
        fresh, self._fresh = self._fresh, None
        return fresh
