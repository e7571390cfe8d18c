"""SNMPv3 credentials from command line, file and environment; secrets never in a repr."""

from __future__ import annotations

import argparse
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from printerhq.commands.snmp_credentials import (
    CredentialError,
    add_v3_arguments,
    parse_auth,
    parse_v3_options,
    resolve_v3_user,
    v3_user_from_args,
)
from printerhq.snmp.usm import AuthProtocol, PrivProtocol, SecurityLevel
from printerhq.snmp.v3credential import UsmCredential

SPELLINGS = [
    ("SHA-256", AuthProtocol.SHA256),
    ("sha256", AuthProtocol.SHA256),
    ("MD5", AuthProtocol.MD5),
    ("SHA", AuthProtocol.SHA),
    ("sha-1", AuthProtocol.SHA),
    ("SHA-224", AuthProtocol.SHA224),
    ("SHA_384", AuthProtocol.SHA384),
    ("SHA-512", AuthProtocol.SHA512),
]
PRIV_SPELLINGS = [
    ("DES", PrivProtocol.DES),
    ("AES", PrivProtocol.AES),
    ("aes-128", PrivProtocol.AES),
    ("AES-192", PrivProtocol.AES192),
    ("AES-256", PrivProtocol.AES256),
    ("AES-256-C", PrivProtocol.AES256_REEDER),
]


@pytest.mark.parametrize("text, protocol", SPELLINGS)
def test_auth_spellings(text, protocol) -> None:
    assert parse_auth(f"{text}:pass:with:colons").protocol is protocol
    assert parse_auth(f"{text}:pass:with:colons").passphrase == "pass:with:colons"


@pytest.mark.parametrize("text, protocol", PRIV_SPELLINGS)
def test_priv_spellings(text, protocol) -> None:
    user = parse_v3_options("u", "SHA:authpass1", f"{text}:privpass1")
    assert user.priv_protocol is protocol
    assert user.security_level is SecurityLevel.AUTH_PRIV


def test_security_level_inferred() -> None:
    assert parse_v3_options("u").security_level is SecurityLevel.NO_AUTH_NO_PRIV
    assert parse_v3_options("u", "SHA-256:authpass1").security_level is SecurityLevel.AUTH_NO_PRIV
    with pytest.raises(CredentialError, match="needs --auth"):
        parse_v3_options("u", None, "AES:privpass1")


@settings(deadline=None)
@given(
    st.sampled_from([s for s, _ in SPELLINGS]),
    st.sampled_from([s for s, _ in PRIV_SPELLINGS]),
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=8, max_size=30),
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=8, max_size=30),
)
def test_secrets_never_in_repr_or_errors(auth, priv, auth_pass, priv_pass) -> None:
    # A marker keeps generated secrets from colliding with ordinary words ("Credenti" is part
    # of "UsmCredential"), which would make the check meaningless rather than stricter.
    auth_pass, priv_pass = "\u2603a:" + auth_pass, "\u2603p:" + priv_pass
    user = parse_v3_options("operator", f"{auth}:{auth_pass}", f"{priv}:{priv_pass}")
    shown = [
        repr(user),
        str(user),
        repr(UsmCredential(user)),
        repr(parse_auth(f"{auth}:{auth_pass}")),
    ]
    for text in shown:
        assert auth_pass not in text and priv_pass not in text
    with pytest.raises(CredentialError) as caught:
        parse_v3_options("operator", f"NOPE:{auth_pass}")
    assert auth_pass not in str(caught.value)


def test_short_passphrase_rejected_without_echo() -> None:
    with pytest.raises(CredentialError) as caught:
        parse_auth("SHA:abc1234")
    assert "abc1234" not in str(caught.value)


def test_file_and_env_precedence(tmp_path) -> None:
    path = tmp_path / "v3.conf"
    path.write_text("# printer fleet\nuser=fileuser\nauth=SHA-512:file-auth-pass\n")
    path.chmod(0o600)
    env = {
        "PRINTERHQ_V3_USER": "envuser",
        "PRINTERHQ_V3_AUTH": "MD5:env-auth-pass",
        "PRINTERHQ_V3_PRIV": "DES:env-priv-pass",
    }
    user = resolve_v3_user(file=path, environ=env)
    assert user.name == b"fileuser" and user.auth_protocol is AuthProtocol.SHA512
    assert user.auth_passphrase == b"file-auth-pass"
    assert user.priv_protocol is PrivProtocol.DES  # only the environment gives priv
    user = resolve_v3_user("cliuser", "SHA-224:cli-auth-pass", file=path, environ=env)
    assert (user.name, user.auth_protocol) == (b"cliuser", AuthProtocol.SHA224)
    assert resolve_v3_user(environ={}) is None
    with pytest.raises(CredentialError):
        resolve_v3_user(None, "SHA:authpass1", environ={})


def test_world_readable_file_refused(tmp_path) -> None:
    path = tmp_path / "v3.conf"
    path.write_text("user=x\n")
    path.chmod(0o644)
    with pytest.raises(CredentialError, match="chmod 600"):
        resolve_v3_user(file=path, environ={})


def test_bad_file_line(tmp_path) -> None:
    path = tmp_path / "v3.conf"
    path.write_text("user=x\npassword=hunter2hunter2\n")
    path.chmod(0o600)
    with pytest.raises(CredentialError, match=":2:") as caught:
        resolve_v3_user(file=path, environ={})
    assert "hunter2" not in str(caught.value)


def test_argparse_namespace_does_not_show_secrets() -> None:
    parser = argparse.ArgumentParser()
    add_v3_arguments(parser)
    args = parser.parse_args(
        ["--v3-user", "ops", "--auth", "SHA-256:top-secret-auth", "--priv", "AES:top-secret-priv"]
    )
    assert "top-secret" not in repr(args)
    user = v3_user_from_args(args, environ={})
    assert user.auth_protocol is AuthProtocol.SHA256
    assert user.priv_passphrase == b"top-secret-priv"
    with pytest.raises(SystemExit):
        parser.parse_args(["--auth", "SHA-999:top-secret-auth"])


def test_environment_default_is_os_environ(monkeypatch) -> None:
    monkeypatch.setitem(os.environ, "PRINTERHQ_V3_USER", "from-env")
    monkeypatch.delitem(os.environ, "PRINTERHQ_V3_AUTH", raising=False)
    monkeypatch.delitem(os.environ, "PRINTERHQ_V3_PRIV", raising=False)
    assert resolve_v3_user().name == b"from-env"
