"""The scan engine's public names, where users have always imported them from.

The engine itself is the package :mod:`printerhq.scan` (its docstring tells what a scan does,
and which module does what); this module only re-exports :class:`Scanner`, :class:`ScanOptions`
and the default pacing.
"""

from __future__ import annotations

__all__ = ["DEFAULT_BURST", "DEFAULT_RATE", "ScanOptions", "Scanner"]

from .scan import DEFAULT_BURST, DEFAULT_RATE, Scanner, ScanOptions
