"""Byte-compile the source trees a benchmark runs, as installing a package does.

pip and Debian compile every module when they install a package; a process then loads the
bytecode. A checkout run with ``PYTHONDONTWRITEBYTECODE`` set (as on the shared benchmark
machine) never writes it, so every ``python -m printerhq`` would compile its ~100 modules from
source first (about 0.2 CPU s, a third of a small scan). The benchmarks compare installed
behaviour, so they compile each tree they run first (``compileall`` writes regardless of that
setting); ``__pycache__`` is ignored by git.
"""

from __future__ import annotations

import compileall
from pathlib import Path


def compile_tree(root: Path) -> None:
    """Write the bytecode of ``root/printerhq`` (quietly; a tree without it is left alone)."""
    package = root / "printerhq"
    if package.is_dir():
        compileall.compile_dir(str(package), quiet=1)
