"""Tokens for the command line: from the option, a file, or the environment.

A file or an environment variable keeps a token out of process lists (``ps`` shows arguments);
the option exists for trials. The token itself is never printed.
"""

from __future__ import annotations

import os
from pathlib import Path


def read_token(token: str | None, token_file: Path | None, env_name: str) -> str:
    """The first of ``--token-file``, ``--token`` and ``$env_name`` that is set, or "".

    Raises ValueError (without the token in the message) when the file cannot be read.
    """
    if token_file:
        try:
            return token_file.read_text().strip()
        except OSError as error:
            raise ValueError(f"cannot read --token-file: {error.strerror}") from None
    return (token or os.environ.get(env_name, "")).strip()
