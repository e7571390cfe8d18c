"""The ``[traps]`` section: a receiver for SNMP traps and informs, off unless switched on.

::

    [traps]
    enabled = false               # nothing listens unless this is true
    listen = "0.0.0.0:162"        # IP literal and port; "[::]:162" for IPv6
    communities = []              # v1/v2c communities accepted; empty: any
    # engine_id = "80000000050102030405060708090a0b0c"   # hex; default: random at each start

    [[traps.v3]]                  # SNMPv3 users (as [[scan]] v3: passphrases from a mode-600 file)
    user = "trapuser"
    file = "/etc/printerhq/trap-v3"   # lines user=, auth=SHA:..., priv=AES:...

Port 162 is privileged: the process needs root or ``CAP_NET_BIND_SERVICE`` (systemd:
``AmbientCapabilities=CAP_NET_BIND_SERVICE``), or listen on a port above 1023 and have the
firewall redirect 162 to it. The bounds below stop a flood from costing more than they allow.
"""

from __future__ import annotations

__all__ = ["TrapConfigError", "TrapOptions", "TrapV3User", "parse_listen"]

import ipaddress
from typing import Annotated

import msgspec

from printerhq.snmp.usm import UsmUser
from printerhq.v3users import CredentialError, resolve_v3_user

_options = dict(forbid_unknown_fields=True, kw_only=True)


class TrapConfigError(ValueError):
    """A ``[traps]`` setting is unusable; the message names it."""


class TrapV3User(msgspec.Struct, **_options):
    user: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    file: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)] | None = None

    def usm_user(self) -> UsmUser:
        """The user with its secrets from ``file`` (noAuthNoPriv without one)."""
        try:
            user = resolve_v3_user(self.user, file=self.file, environ={})
        except (CredentialError, OSError) as exc:
            raise TrapConfigError(f"traps.v3 user {self.user!r}: {exc}") from None
        assert user is not None
        return user


class TrapOptions(msgspec.Struct, **_options):
    enabled: bool = False
    listen: Annotated[str, msgspec.Meta(max_length=256)] = "0.0.0.0:162"
    communities: Annotated[
        list[Annotated[str, msgspec.Meta(min_length=1, max_length=255)]],
        msgspec.Meta(max_length=16),
    ] = []
    v3: Annotated[list[TrapV3User], msgspec.Meta(max_length=64)] = []
    engine_id: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-fA-F]{10,64}$")] | None = None
    # Flood bounds. Per source first, so one noisy printer cannot use up the global budget.
    per_source_rate: Annotated[float, msgspec.Meta(gt=0, le=100_000)] = 10.0  # datagrams/s
    per_source_burst: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 50
    global_rate: Annotated[float, msgspec.Meta(gt=0, le=1_000_000)] = 500.0
    global_burst: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 1000
    max_sources: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 16_384  # bucket table size
    max_datagram: Annotated[int, msgspec.Meta(ge=484, le=65507)] = 8192  # RFC 3417: 484 minimum
    queue_depth: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 1024  # events; oldest dropped
    # One collection request per printer per this many seconds, however many traps it sends.
    collect_min_interval: Annotated[float, msgspec.Meta(ge=0, le=86_400)] = 30.0

    def listen_address(self) -> tuple[str, int]:
        return parse_listen(self.listen)

    def usm_users(self) -> list[UsmUser]:
        return [user.usm_user() for user in self.v3]

    def engine_id_bytes(self) -> bytes | None:
        if self.engine_id is None:
            return None
        if len(self.engine_id) % 2:
            raise TrapConfigError("traps.engine_id: an even number of hex digits is needed")
        return bytes.fromhex(self.engine_id)


def parse_listen(text: str) -> tuple[str, int]:
    """``"0.0.0.0:162"``, ``"[::1]:1162"`` -> (host, port). Only IP literals: a listen address
    is never resolved."""
    host, colon, port_text = text.strip().rpartition(":")
    if not colon or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise TrapConfigError(f"traps.listen: {text!r} is not ADDRESS:PORT (e.g. 0.0.0.0:162)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise TrapConfigError(f"traps.listen: {host!r} is not an IP address") from None
    return str(address), int(port_text)
