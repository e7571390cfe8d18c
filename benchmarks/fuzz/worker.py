"""One fuzz target in one process (started by ``python -m benchmarks.fuzz``).

    python -m benchmarks.fuzz.worker fuzz NAME WORKDIR [libFuzzer flags ...]
    python -m benchmarks.fuzz.worker replay NAME DIR ...

``fuzz``: atheris (libFuzzer) with printerhq's modules instrumented for edge coverage; the seeds
are written to WORKDIR/seeds, new inputs go to WORKDIR/corpus, crashes and hangs to
WORKDIR/crash-* and WORKDIR/timeout-*; the slowest input so far is kept in WORKDIR/slowest.json.
atheris.Fuzz() ends the process itself (libFuzzer's exit).

``replay``: runs every file of the DIRs through the target once, under a line tracer, and prints
JSON: the lines of the target's modules executed, out of their executable lines (coverage.py
is not a dependency; ``co_lines`` gives the executable lines).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import sys
import time
import types
from pathlib import Path


def _fuzz(name: str, workdir: Path, flags: list[str]) -> None:
    import atheris  # type: ignore[import-untyped]

    with atheris.instrument_imports(include=["printerhq"]):
        from benchmarks.fuzz.targets import TARGETS
    target = TARGETS[name]
    seed_dir, corpus = workdir / "seeds", workdir / "corpus"
    seed_dir.mkdir(exist_ok=True)
    corpus.mkdir(exist_ok=True)
    for seed in target.seeds(True):
        (seed_dir / hashlib.sha1(seed).hexdigest()).write_bytes(seed)
    words = target.dictionary()
    if words:
        lines = ['"' + "".join(f"\\x{b:02x}" for b in word) + '"' for word in words]
        (workdir / "dict").write_text("\n".join(lines) + "\n")
        flags = [*flags, f"-dict={workdir / 'dict'}"]
    run = target.run
    slowest = 0.0
    slowest_file = workdir / "slowest.json"

    def one_input(data: bytes) -> None:
        nonlocal slowest
        started = time.perf_counter()
        run(data)
        elapsed = time.perf_counter() - started
        if elapsed > slowest:
            slowest = elapsed
            slowest_file.write_text(json.dumps({"seconds": elapsed, "size": len(data)}))

    argv = [
        sys.argv[0],
        *flags,
        f"-max_len={target.max_len}",
        f"-artifact_prefix={workdir}/",
        str(corpus),
        str(seed_dir),
    ]
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


def _executable_lines(module: types.ModuleType) -> set[int]:
    lines: set[int] = set()
    source = getattr(module, "__file__", None)
    if source is None:
        return lines
    # Function bodies only: module and class bodies ran at import, before the tracer.
    pending = [compile(Path(source).read_text(), source, "exec")]
    while pending:
        current = pending.pop()
        if current.co_flags & inspect.CO_NEWLOCALS:
            lines.update(line for _s, _e, line in current.co_lines() if line is not None)
        pending.extend(c for c in current.co_consts if isinstance(c, types.CodeType))
    return lines


def _replay(name: str, dirs: list[Path]) -> None:
    import importlib

    from benchmarks.fuzz.targets import TARGETS

    target = TARGETS[name]
    modules = [importlib.import_module(m) for m in target.modules]
    files = {str(Path(m.__file__ or "")): m.__name__ for m in modules}
    hit: dict[str, set[int]] = {f: set() for f in files}

    def tracer(frame: types.FrameType, event: str, arg: object) -> object:
        lines = hit.get(frame.f_code.co_filename)
        if lines is None:
            return None

        def local(frame: types.FrameType, event: str, arg: object) -> object:
            if event == "line":
                lines.add(frame.f_lineno)
            return local

        lines.add(frame.f_lineno)
        return local

    inputs = [p for d in dirs if d.is_dir() for p in sorted(d.iterdir()) if p.is_file()]
    sys.settrace(tracer)  # type: ignore[arg-type]
    try:
        for path in inputs:
            try:
                target.run(path.read_bytes())
            except Exception:  # a crash input: its lines count too, the fuzz run reported it
                pass
    finally:
        sys.settrace(None)
    report = {}
    for module in modules:
        executable = _executable_lines(module)
        report[module.__name__] = [
            len(hit[str(Path(module.__file__ or ""))] & executable),
            len(executable),
        ]
    print(json.dumps({"inputs": len(inputs), "lines": report}))


def main(argv: list[str]) -> None:
    command, name, *rest = argv
    if command == "fuzz":
        _fuzz(name, Path(rest[0]), rest[1:])
    elif command == "replay":
        _replay(name, [Path(d) for d in rest])
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
