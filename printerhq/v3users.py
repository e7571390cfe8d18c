"""SNMPv3 users from settings, a file or the environment (no command-line parsing here:
:mod:`printerhq.commands.snmp_credentials` adds the ``--v3-*`` options on top).

SNMPv3 credentials from the command line, a file or the environment.

``printerhq scan TARGETS --v3-user NAME --auth SHA-256:PASSPHRASE --priv AES:PASSPHRASE``: the
security level follows from what is given (``--auth`` alone is authNoPriv, neither is
noAuthNoPriv, ``--priv`` needs ``--auth``: RFC 3414 section 1.4.3).

Arguments on a command line are visible to every local user (``ps``), so the same settings can
come from a file (``--v3-file PATH``; lines ``user=NAME``, ``auth=SHA-256:PASSPHRASE``,
``priv=AES:PASSPHRASE``, ``#`` comments; refused if other users can read it) or from the
environment (``PRINTERHQ_V3_USER``, ``PRINTERHQ_V3_AUTH``, ``PRINTERHQ_V3_PRIV``). Per setting the
command line wins over the file, and the file over the environment.

Secrets never reach a ``repr``: parsed values are :class:`ProtocolSecret` objects, so even an
``argparse.Namespace`` printed in a log shows ``SHA256:***``, and errors name the setting, not
its value.
"""

from __future__ import annotations

__all__ = [
    "ENV_AUTH",
    "ENV_PRIV",
    "ENV_USER",
    "CredentialError",
    "ProtocolSecret",
    "parse_auth",
    "parse_priv",
    "parse_v3_options",
    "read_v3_file",
    "resolve_v3_user",
]

import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .snmp.usm import AuthProtocol, PrivProtocol, UsmUser

ENV_USER = "PRINTERHQ_V3_USER"
ENV_AUTH = "PRINTERHQ_V3_AUTH"
ENV_PRIV = "PRINTERHQ_V3_PRIV"

# Spellings accepted, normalised to upper case without "-" or "_"; net-snmp's names first.
_AUTH_NAMES = {
    "MD5": AuthProtocol.MD5,
    "SHA": AuthProtocol.SHA,
    "SHA1": AuthProtocol.SHA,
    "SHA224": AuthProtocol.SHA224,
    "SHA256": AuthProtocol.SHA256,
    "SHA384": AuthProtocol.SHA384,
    "SHA512": AuthProtocol.SHA512,
}
_PRIV_NAMES = {
    "DES": PrivProtocol.DES,
    "AES": PrivProtocol.AES,
    "AES128": PrivProtocol.AES,
    "AES192": PrivProtocol.AES192,
    "AES256": PrivProtocol.AES256,
    # Cisco-style key extension (draft-reeder), net-snmp's "AES-192-C"/"AES-256-C".
    "AES192C": PrivProtocol.AES192_REEDER,
    "AES256C": PrivProtocol.AES256_REEDER,
    "AES192REEDER": PrivProtocol.AES192_REEDER,
    "AES256REEDER": PrivProtocol.AES256_REEDER,
}


class CredentialError(ValueError):
    """A v3 setting is malformed. The message never contains a passphrase."""


@dataclass(frozen=True, slots=True)
class ProtocolSecret:
    """``PROTOCOL:PASSPHRASE`` parsed; ``repr`` shows only the protocol."""

    protocol: AuthProtocol | PrivProtocol
    passphrase: str = field(repr=False)

    def __repr__(self) -> str:
        return f"{self.protocol.name}:***"

    __str__ = __repr__


def _split(
    text: str, what: str, names: Mapping[str, AuthProtocol | PrivProtocol]
) -> ProtocolSecret:
    protocol_text, colon, passphrase = text.partition(":")
    if not colon:
        raise CredentialError(
            f"{what} must be PROTOCOL:PASSPHRASE (e.g. "
            f"{'SHA-256' if what == 'auth' else 'AES'}:...)"
        )
    key = protocol_text.strip().upper().replace("-", "").replace("_", "")
    protocol = names.get(key)
    if protocol is None:
        choices = ", ".join(sorted(names))
        raise CredentialError(
            f"unknown {what} protocol {protocol_text.strip()!r}; one of {choices}"
        )
    if len(passphrase) < 8:
        # RFC 3414 section 11.2 recommends at least 8 characters; net-snmp refuses fewer.
        raise CredentialError(f"{what} passphrase must be at least 8 characters")
    return ProtocolSecret(protocol, passphrase)


def parse_auth(text: str) -> ProtocolSecret:
    """``"SHA-256:PASSPHRASE"`` (the passphrase may itself contain colons)."""
    return _split(text, "auth", _AUTH_NAMES)


def parse_priv(text: str) -> ProtocolSecret:
    """``"AES:PASSPHRASE"``; AES is AES-128 (RFC 3826)."""
    return _split(text, "priv", _PRIV_NAMES)


def _as_secret(
    value: str | ProtocolSecret | None, parse: Callable[[str], ProtocolSecret]
) -> ProtocolSecret | None:
    if value is None or isinstance(value, ProtocolSecret):
        return value
    return parse(value)


def parse_v3_options(
    user: str, auth: str | ProtocolSecret | None = None, priv: str | ProtocolSecret | None = None
) -> UsmUser:
    """Build the :class:`UsmUser`; the security level follows from ``auth``/``priv``."""
    if not user:
        raise CredentialError("an SNMPv3 user name is required (--v3-user)")
    auth_secret = _as_secret(auth, parse_auth)
    priv_secret = _as_secret(priv, parse_priv)
    if priv_secret is not None and auth_secret is None:
        raise CredentialError(
            "--priv needs --auth: SNMPv3 has no privacy without "
            "authentication (RFC 3414 section 1.4.3)"
        )
    try:
        return UsmUser(
            user,
            auth_secret.protocol if auth_secret else AuthProtocol.NONE,  # type: ignore[arg-type]
            auth_secret.passphrase if auth_secret else None,
            priv_secret.protocol if priv_secret else PrivProtocol.NONE,  # type: ignore[arg-type]
            priv_secret.passphrase if priv_secret else None,
        )
    except ValueError as exc:
        raise CredentialError(str(exc)) from None


def read_v3_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """``key=value`` lines (keys ``user``, ``auth``, ``priv``). Refuses a file other users can
    read or write, as ssh does for private keys."""
    file = Path(path)
    mode = file.stat().st_mode
    if mode & (stat.S_IROTH | stat.S_IWOTH | stat.S_IWGRP):
        raise CredentialError(
            f"{file} is readable or writable by other users; run: chmod 600 {file}"
        )
    settings: dict[str, str] = {}
    for number, line in enumerate(file.read_text().splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, equals, value = stripped.partition("=")
        key = key.strip().lower()
        if not equals or key not in ("user", "auth", "priv"):
            raise CredentialError(f"{file}:{number}: expected user=, auth= or priv=")
        if key in settings:
            raise CredentialError(f"{file}:{number}: {key} given twice")
        settings[key] = value.strip()
    return settings


def resolve_v3_user(
    user: str | None = None,
    auth: str | ProtocolSecret | None = None,
    priv: str | ProtocolSecret | None = None,
    *,
    file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> UsmUser | None:
    """Merge command line, file and environment (in that order of precedence); ``None`` when
    no SNMPv3 user is configured anywhere."""
    environ = os.environ if environ is None else environ
    from_file = read_v3_file(file) if file is not None else {}
    name = user or from_file.get("user") or environ.get(ENV_USER)
    auth = auth or from_file.get("auth") or environ.get(ENV_AUTH)
    priv = priv or from_file.get("priv") or environ.get(ENV_PRIV)
    if not name:
        if auth or priv:
            raise CredentialError("--auth/--priv given without an SNMPv3 user (--v3-user)")
        return None
    return parse_v3_options(name, auth, priv)
