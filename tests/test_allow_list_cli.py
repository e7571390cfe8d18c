"""``printerhq allow-list`` prints exactly the list the client enforces and the privacy test
checks (printerhq.allowlist), each entry with its MIB."""

from __future__ import annotations

import json

from printerhq.allowlist import ALLOW_LIST, FORBIDDEN
from printerhq.cli import main


def test_json_is_the_enforced_list(capsys):
    assert main(["allow-list", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [e["oid"] for e in document["allowed"]] == [e.dotted for e in ALLOW_LIST]
    assert [e["oid"] for e in document["never_requested"]] == [e.dotted for e in FORBIDDEN]
    for printed, entry in zip(document["allowed"], ALLOW_LIST, strict=True):
        assert printed == {
            "oid": entry.dotted,
            "mib": entry.mib,
            "object": entry.name,
            "why": entry.why,
        }


def test_table_names_each_entry_and_its_mib(capsys):
    assert main(["allow-list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for entry in (*ALLOW_LIST, *FORBIDDEN):
        line = next(line for line in lines if line.split()[:1] == [entry.dotted])
        assert entry.mib in line and entry.name in line and entry.why in line
    assert any("sysContact" in line for line in lines[lines.index("") :])
