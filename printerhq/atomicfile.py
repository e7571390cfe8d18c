"""Replace a file's contents all at once: readers, and a process killed at any instant, see the
old file or the new one, never half of either.

The data goes to a temporary file in the same directory (so the rename stays on one file
system), is fsync'd when ``sync`` (a power cut then keeps the new contents, not an empty file),
and is renamed over the target (``rename(2)`` is atomic on POSIX). The discovery memory, the
agent's state files and the update state all use this one function.
"""

from __future__ import annotations

__all__ = ["write_atomic"]

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes, *, sync: bool = True) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if sync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
