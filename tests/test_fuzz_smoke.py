"""The fuzz harness in CI (docs/fuzzing.md): every target runs its seeds and a few thousand
mutants of them, every input the fuzzer once crashed on stays fixed, and, where atheris is
installed, the coverage-guided job itself runs a short pass.

A failure here prints the input; add it to REGRESSIONS with the fix.
"""

from __future__ import annotations

import json
import subprocess
import sys
from http.server import BaseHTTPRequestHandler

import pytest

from benchmarks.fuzz import seeds
from benchmarks.fuzz.mutate import mutants
from benchmarks.fuzz.targets import TARGETS
from printerhq.http import decode_body, probe_http
from tests.helpers_ews import BY_NAME
from tests.helpers_server import REPO
from tests.test_http_probe import serve

MUTANTS_PER_TARGET = 3000


def _run_all(name: str, inputs: list[bytes]) -> None:
    run = TARGETS[name].run
    for data in inputs:
        try:
            run(data)
        except Exception as exc:
            raise AssertionError(
                f"fuzz target {name!r} crashed ({type(exc).__name__}: {exc}) on input {data!r}"
            ) from exc


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_target_runs_its_seeds_and_mutants(name: str) -> None:
    target = TARGETS[name]
    seeds = target.seeds(True)
    assert seeds, f"{name}: no seed inputs"
    _run_all(name, seeds)
    _run_all(name, list(mutants(seeds, MUTANTS_PER_TARGET, seed=11, max_len=target.max_len)))


def test_snmp_and_ingest_seeds_come_from_every_recording() -> None:
    paths = seeds.recording_paths()
    assert len(paths) >= len(list(seeds.FIXTURES.glob("*.snmprec"))) >= 9
    if (seeds.REALDATA / "librenms").is_dir():
        assert any(seeds.REALDATA in p.parents for p in paths)
    # A v2c and a v1 collection of each: requests and replies, and the reports they made.
    assert len(seeds.snmp_messages()) > 10 * len(paths)
    assert len(seeds.device_reports()) >= len(paths)


# (target, minimal input, what it did before the fix). The input goes through the target exactly
# as the fuzzer sent it.
REGRESSIONS: list[tuple[str, bytes, str]] = [
    (
        "http",
        b"text/html; charset=uu\n\n\nx",
        "LookupError out of probe_http: 'uu' is a bytes-to-bytes codec",
    ),
    (
        "http",
        b"text/html; charset=base64\n\n\nx",
        "LookupError out of probe_http: 'base64' is a bytes-to-bytes codec",
    ),
]


@pytest.mark.parametrize(
    "name, data, before", REGRESSIONS, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(REGRESSIONS)]
)
def test_regression_inputs_stay_fixed(name: str, data: bytes, before: str) -> None:
    TARGETS[name].run(data)


@pytest.mark.parametrize("charset", ["uu", "base64", "zlib", "hex", "rot13", "idna"])
def test_body_in_a_charset_that_is_not_a_text_encoding_is_read_as_utf8(charset: str) -> None:
    assert decode_body("Drucker ü".encode(), f"text/html; charset={charset}") == "Drucker ü"
    assert decode_body(b"caf\xe9", "text/html; charset=latin-1") == "café"


async def test_probe_identifies_a_page_whose_charset_is_a_bytes_codec() -> None:
    sample = BY_NAME["hp"]
    data = sample.html.encode()

    def handle(h: BaseHTTPRequestHandler) -> None:
        h.send_response_only(200)
        h.send_header("Server", sample.server or "")
        h.send_header("Content-Type", "text/html; charset=uu")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    with serve(handle) as (port, _seen):
        found = await probe_http("127.0.0.1", port=port, timeout=10)
    assert found is not None and found.vendor == "HP" and found.model == sample.model


def test_coverage_guided_job_runs_a_short_pass() -> None:
    pytest.importorskip("atheris")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.fuzz",
            "--target",
            "icmp",
            "--target",
            "targets",
            "--inputs",
            "2000",
            "--seconds",
            "300",  # a bound for a very loaded machine: 2,000 inputs take seconds
            "--no-lines",
            "--json",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr + out.stdout
    results = json.loads(out.stdout)["targets"]
    assert [r["target"] for r in results] == ["icmp", "targets"]
    for result in results:
        assert result["inputs"] >= 2000 and not result["failed"], result
        assert result["crashes"] == [] and result["hangs"] == []
        assert result["edges"] > 0 and result["corpus"] > 0
