"""The public API: what ``printerhq`` exports is what docs/engine.md lists, and it imports."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

import printerhq
import printerhq.lowlevel

ROOT = Path(__file__).resolve().parents[1]
ENGINE_DOC = ROOT / "docs" / "engine.md"


def _documented(heading: str, prefix: str) -> set[str]:
    """The names in the first column of the tables under ``### heading`` (up to the next
    heading), each written `` `prefix.NAME...` ``."""
    text = ENGINE_DOC.read_text(encoding="utf-8")
    section = text.split(f"\n### {heading}\n", 1)[1]
    section = re.split(r"\n#{2,3} ", section, maxsplit=1)[0]
    names = set()
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        first_column = line.split(" | ")[0]
        names |= set(re.findall(rf"`{re.escape(prefix)}\.(\w+)", first_column))
    return names


def test_all_is_what_the_docs_list() -> None:
    assert set(printerhq.__all__) == _documented("Public API", "printerhq")
    assert len(printerhq.__all__) == len(set(printerhq.__all__))


def test_lowlevel_all_is_what_the_docs_list() -> None:
    assert set(printerhq.lowlevel.__all__) == _documented("Low-level API", "printerhq.lowlevel")


@pytest.mark.parametrize("name", printerhq.__all__)
def test_every_public_name_imports(name: str) -> None:
    value = getattr(printerhq, name)
    assert value is not None
    if name != "__version__":  # the same object as in its home module, not a copy
        home = importlib.import_module(printerhq._HOMES[name])
        assert getattr(home, name) is value


def test_from_import_star_and_dir() -> None:
    namespace: dict[str, object] = {}
    exec("from printerhq import *", namespace)
    assert set(printerhq.__all__) <= set(namespace)
    assert set(printerhq.__all__) <= set(dir(printerhq))
    assert set(printerhq._HOMES) | {"__version__"} == set(printerhq.__all__)


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Scaner'"):
        printerhq.Scaner  # noqa: B018


def test_lowlevel_names_import() -> None:
    for name in printerhq.lowlevel.__all__:
        assert getattr(printerhq.lowlevel, name) is not None


def test_import_printerhq_stays_cheap() -> None:
    """``import printerhq`` loads no engine, no trio, no SNMP stack: the names come on use."""
    loaded = "sorted(m for m in sys.modules if m.startswith(('printerhq.', 'trio', 'httpx')))"
    code = f"import sys, printerhq; print({loaded})"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert out.strip() == "[]"


def test_the_package_is_typed() -> None:
    assert (Path(printerhq.__file__).parent / "py.typed").is_file()
    assert 'printerhq = ["py.typed"]' in (ROOT / "pyproject.toml").read_text()
