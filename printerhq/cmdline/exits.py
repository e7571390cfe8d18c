"""Exit codes of every ``printerhq`` command, and the one place that maps what ends a command
to one of them (docs/cli.md has the table per command).

* ``OK`` 0: done.
* ``FAILURE`` 1: the command could not do its job (a server that refused, a port in use, a
  database that does not answer, a certificate that does not load).
* ``USAGE`` 2: the arguments are wrong; nothing was done. argparse uses 2 for its own errors.
* ``REPORTS_WAITING`` 3: an upload left reports in the spool (the server was unreachable or
  did not acknowledge in time); they are safe on disk and go on the next run.
* ``INTERRUPTED`` 130: stopped by Ctrl-C (SIGINT), 128 + 2 as shells report it.

A foreseeable error (``OSError`` of a path or a socket, ``ssl.SSLError``, :class:`CommandError`)
is one line on stderr and ``FAILURE``; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = [
    "FAILURE",
    "INTERRUPTED",
    "OK",
    "REPORTS_WAITING",
    "USAGE",
    "CommandError",
    "describe",
    "leaves",
    "run_command",
]

import sys
from collections.abc import Callable, Iterator
from typing import Any

from printerhq.terminal import safe

OK = 0
FAILURE = 1
USAGE = 2
REPORTS_WAITING = 3
INTERRUPTED = 130


class CommandError(Exception):
    """A failure worth one line to the user, and the exit code it means."""

    def __init__(self, message: str, code: int = FAILURE) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def leaves(exc: BaseException) -> Iterator[BaseException]:
    """The exceptions inside (possibly nested) exception groups; ``exc`` itself if none.

    trio raises what its nursery tasks raised as a group: Ctrl-C during a scan arrives as a
    KeyboardInterrupt inside one, next to the Cancelled-turned-nothing of its siblings.
    """
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from leaves(inner)
    else:
        yield exc


def describe(exc: BaseException) -> str | None:
    """One line for a foreseeable error, or None when it is a bug (keep the traceback)."""
    if isinstance(exc, CommandError):
        return exc.message
    if isinstance(exc, OSError):
        # ssl.SSLError is an OSError whose strerror is None and whose str() says it all.
        if exc.strerror and exc.filename is not None:
            return f"{exc.filename}: {exc.strerror}"
        return exc.strerror or str(exc) or type(exc).__name__
    return None


def run_command(func: Callable[[Any], int | None], args: Any, prog: str) -> int:
    """Run a parsed command and return its exit code.

    Ctrl-C anywhere (also inside an exception group) is ``INTERRUPTED`` with one line, no
    traceback. Foreseeable errors are one line each and ``FAILURE`` (or a
    :class:`CommandError`'s code). Anything else propagates: a traceback is a bug to report.
    """
    try:
        return int(func(args) or OK)
    except SystemExit:
        raise
    except BaseException as exc:
        found = list(leaves(exc))
        if any(isinstance(leaf, KeyboardInterrupt) for leaf in found):
            # The user asked to stop; what the other tasks raised on the way out follows from it.
            print(f"\n{prog}: interrupted", file=sys.stderr)
            return INTERRUPTED
        if any(isinstance(leaf, BrokenPipeError) for leaf in found):
            # `printerhq scan ... | head`: the reader left; not an error worth a traceback.
            sys.stderr.close()
            return 128 + 13  # as a shell reports death by SIGPIPE
        lines = [describe(leaf) for leaf in found]
        if not all(lines):
            raise
        for line in dict.fromkeys(lines):  # one line per distinct message, in order
            print(safe(f"{prog}: {line}"), file=sys.stderr)  # may quote a server or device
        codes = {leaf.code if isinstance(leaf, CommandError) else FAILURE for leaf in found}
        return codes.pop() if len(codes) == 1 else FAILURE
