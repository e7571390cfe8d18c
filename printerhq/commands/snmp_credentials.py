"""The ``--v3-user/--auth/--priv/--v3-file`` options of the CLI, over :mod:`printerhq.v3users`."""

from __future__ import annotations

__all__ = [
    "ENV_AUTH",
    "ENV_PRIV",
    "ENV_USER",
    "CredentialError",
    "ProtocolSecret",
    "add_v3_arguments",
    "parse_auth",
    "parse_priv",
    "parse_v3_options",
    "read_v3_file",
    "resolve_v3_user",
    "v3_user_from_args",
]

import argparse
from collections.abc import Callable, Mapping

from ..cmdline import options
from ..snmp.usm import UsmUser
from ..v3users import (
    ENV_AUTH,
    ENV_PRIV,
    ENV_USER,
    CredentialError,
    ProtocolSecret,
    parse_auth,
    parse_priv,
    parse_v3_options,
    read_v3_file,
    resolve_v3_user,
)


def _argparse_type(parse: Callable[[str], ProtocolSecret]) -> Callable[[str], ProtocolSecret]:
    def convert(text: str) -> ProtocolSecret:
        try:
            return parse(text)
        except CredentialError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = parse.__name__.removeprefix("parse_")
    return convert


def add_v3_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--v3-user``, ``--auth``, ``--priv`` and ``--v3-file`` to a command's parser."""
    group = parser.add_argument_group(
        "SNMPv3",
        "USM credentials; also from --v3-file or $PRINTERHQ_V3_USER/_AUTH/_PRIV "
        "(which keep passphrases out of process lists)",
    )
    group.add_argument("--v3-user", metavar="NAME", help="SNMPv3 USM user name")
    group.add_argument(
        "--auth",
        metavar="PROTO:PASSPHRASE",
        type=_argparse_type(parse_auth),
        help="MD5, SHA, SHA-224, SHA-256, SHA-384 or SHA-512 (authNoPriv alone)",
    )
    group.add_argument(
        "--priv",
        metavar="PROTO:PASSPHRASE",
        type=_argparse_type(parse_priv),
        help="DES, AES, AES-192 or AES-256 (-C suffix: Cisco key extension); "
        "needs --auth (authPriv)",
    )
    group.add_argument(
        "--v3-file",
        type=options.existing_file,
        metavar="PATH",
        help="file of user=/auth=/priv= lines, mode 600",
    )


def v3_user_from_args(
    args: argparse.Namespace, environ: Mapping[str, str] | None = None
) -> UsmUser | None:
    """The :class:`UsmUser` the parsed arguments (plus file and environment) describe."""
    return resolve_v3_user(
        getattr(args, "v3_user", None),
        getattr(args, "auth", None),
        getattr(args, "priv", None),
        file=getattr(args, "v3_file", None),
        environ=environ,
    )
