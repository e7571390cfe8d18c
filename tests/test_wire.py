"""The wire format: where it lives, what travels, what a server accepts (docs/wire.md)."""

from __future__ import annotations

import subprocess
import sys


def test_server_app_does_not_import_the_uplink_stack():
    """The wire format sits beside the model: importing the server pulls in neither the upload
    client nor its I/O libraries (a fresh interpreter, so other tests' imports do not count)."""
    code = ("import sys, printerhq.server.app, printerhq.server.run, printerhq.wire\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('httpx', 'trio_websocket')"
            " or m.startswith('printerhq.uplink'))\n"
            "print(','.join(bad))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
