"""examples/embed_scanner.py: another trio application runs the scanner in its own nursery."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

from printerhq.sim.server import serve_fleet
from tests.helpers_engine import FIXTURES, ROOT, is_printer_recording

EXAMPLE = ROOT / "examples" / "embed_scanner.py"


def load_example():
    spec = importlib.util.spec_from_file_location("embed_scanner", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules["embed_scanner"] = module
    spec.loader.exec_module(module)
    return module


async def test_example_runs_in_the_applications_nursery():
    example = load_example()
    hosts = [f"127.96.0.{i + 1}" for i in range(len(FIXTURES))]
    expected = sorted(h for h, p in zip(hosts, FIXTURES, strict=True) if is_printer_recording(p))
    async with serve_fleet(FIXTURES, hosts) as fleet:
        inventory = await example.run_inventory("127.96.0.0/26", fleet.port, heartbeat=0.01)
    assert inventory.printers == expected
    assert set(inventory.devices) == set(hosts)
    assert inventory.heartbeats  # the application's own task ran alongside the scan


def test_example_as_a_program():
    hosts = [f"127.96.1.{i + 1}" for i in range(3)]
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "printerhq",
            "sim",
            *map(str, FIXTURES[:3]),
            "--addresses",
            ",".join(hosts),
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        ready = sim.stdout.readline()
        assert ready.startswith("sim: serving"), ready + sim.stderr.read()
        port = ready.rsplit("port", 1)[-1].strip()
        done = subprocess.run(
            [sys.executable, str(EXAMPLE), "127.96.1.0/29", "--port", port],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
    finally:
        sim.terminate()
        sim.wait(timeout=10)
    assert done.returncode == 0, done.stderr
    printers = [line.split("\t")[0] for line in done.stdout.splitlines()]
    assert printers == sorted(
        h for h, p in zip(hosts, FIXTURES[:3], strict=True) if is_printer_recording(p)
    )
    assert "3 agents" in done.stderr
