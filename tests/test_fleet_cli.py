"""``printerhq fleet`` against a real server process over TLS on loopback."""

from __future__ import annotations

import argparse
import json
import socket
import ssl

import httpx
import pytest

from printerhq import wire
from printerhq.commands import fleet

from .helpers_server import ServerProcess, make_report


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = ServerProcess(tmp_path_factory.mktemp("fleet") / "server")
    process.start()
    try:
        process.agent_token = process.admin("add-agent", "site-a").split()[-1]
        process.viewer_token = process.admin("add-viewer", "reader").split()[-1]
        context = ssl.create_default_context(cafile=str(process.certfile))
        # Two scans of three printers, a hostile sysDescr on one of them.
        for batch, scans in (("b-1", range(0, 3)), ("b-2", range(13, 16))):
            reports = [make_report(i, serials=13) for i in scans]
            body = wire.compress_body(
                wire.encode(wire.Batch(batch_id=batch, agent="site-a", reports=reports))
            )
            r = httpx.post(
                process.url + "/api/v1/ingest",
                content=body,
                verify=context,
                headers={
                    "authorization": f"Bearer {process.agent_token}",
                    "content-encoding": "deflate",
                },
            )
            assert r.status_code == 200, r.text
        yield process
    finally:
        process.stop()


def run_fleet(capsys, *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    fleet.register(parser.add_subparsers())
    args = parser.parse_args(["fleet", *argv])
    code = args.func(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def base(server, token: str | None = None) -> list[str]:
    args = ["--server", server.url, "--ca-bundle", str(server.certfile)]
    return args + ([f"--token={token}"] if token else [])


def test_prints_the_fleet_table_and_details(server, capsys):
    code, out, err = run_fleet(capsys, *base(server, server.viewer_token))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["address", "vendor", "model", "serial"]
    for serial in ("PHQ00000", "PHQ00001", "PHQ00002"):
        assert serial in out
    # The latest report of each device (scan 13 for PHQ00000), with its supply bar and counters.
    assert "10013" in out.replace(",", "") and "Black Cartridge HP 89A" in out


def test_json_device_and_history(server, capsys):
    code, out, _ = run_fleet(capsys, *base(server, server.viewer_token), "--json")
    assert code == 0
    entries = json.loads(out)
    assert len(entries) == 3
    first = entries[0]
    assert first["latest"]["report"]["identity"]["serial"] == first["serial"]
    code, out, _ = run_fleet(
        capsys, *base(server, server.viewer_token), "--device", str(first["id"]), "--history"
    )
    assert code == 0
    assert out.count("PHQ") >= 1 and f"history of device {first['id']}" in out
    history = out.split("history of device", 1)[1].splitlines()
    header = history[1].split()
    assert header[:3] == ["scanned", "(UTC)", "total"] and "mono" in header
    assert len(history) == 4  # title, header, two scans


def test_the_fleet_in_one_request_per_page(server, capsys, monkeypatch):
    """Issue 14: the devices come with their latest reading, a page per request, never one
    request per device; the output is what it was."""
    code, before, _ = run_fleet(capsys, *base(server, server.viewer_token), "--json")
    requests: list[dict] = []
    original = fleet.FleetClient._get_with_headers

    async def counted(self, path, params=None):
        requests.append({"path": path, **(params or {})})
        return await original(self, path, params)

    async def no_single_device(self, device_id):
        raise AssertionError("a request per device")

    monkeypatch.setattr(fleet.FleetClient, "_get_with_headers", counted)
    monkeypatch.setattr(fleet.FleetClient, "latest", no_single_device)
    monkeypatch.setattr(fleet, "PAGE_SIZE", 2)
    code, after, err = run_fleet(capsys, *base(server, server.viewer_token), "--json")
    assert code == 0, err
    assert [(r["path"], r["offset"], r["limit"]) for r in requests] == [
        ("/api/v1/devices", 0, 2),
        ("/api/v1/devices", 2, 2),
    ]
    summary = {"summary_updated_at", "urgency", "problem", "status", "lowest_percent"}

    def stable(entries):  # summaries may be refreshed between the two runs
        return [{k: v for k, v in e.items() if k not in summary} for e in entries]

    assert stable(json.loads(after)) == stable(json.loads(before))


def test_token_from_file_and_environment(server, capsys, tmp_path, monkeypatch):
    token_file = tmp_path / "viewer-token"
    token_file.write_text(server.viewer_token + "\n")
    code, _out, err = run_fleet(capsys, *base(server), "--token-file", str(token_file))
    assert code == 0, err
    monkeypatch.setenv(fleet.TOKEN_ENV, server.viewer_token)
    code, _out, err = run_fleet(capsys, *base(server))
    assert code == 0, err
    monkeypatch.delenv(fleet.TOKEN_ENV)
    code, _out, err = run_fleet(capsys, *base(server))
    assert code == 1 and "viewer token is needed" in err


def test_bad_tokens_are_explained(server, capsys):
    code, _, err = run_fleet(capsys, *base(server, "not-a-token"))
    assert code == 1 and "401" in err and "add-viewer" in err
    code, _, err = run_fleet(capsys, *base(server, server.agent_token))
    assert code == 1 and "403" in err and "not a viewer token" in err
    assert server.agent_token not in err


def test_unverified_certificate_and_pins(server, capsys):
    code, _, err = run_fleet(capsys, "--server", server.url, f"--token={server.viewer_token}")
    assert code == 1 and "could not be verified" in err and "--ca-bundle" in err
    from printerhq.server.tls import certificate_fingerprint

    pin = certificate_fingerprint(server.certfile)
    code, out, err = run_fleet(
        capsys, "--server", server.url, f"--token={server.viewer_token}", "--pin-sha256", pin
    )
    assert code == 0 and "PHQ00001" in out, err
    code, _, err = run_fleet(
        capsys, "--server", server.url, f"--token={server.viewer_token}", "--pin-sha256", "00" * 32
    )
    assert code == 1 and "does not match" in err and "token was not sent" in err


def test_dead_server_and_plain_http(capsys):
    with socket.socket() as s:  # a port nobody listens on: bound, never listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        code, _, err = run_fleet(capsys, "--server", f"https://127.0.0.1:{port}", "--token", "t")
    assert code == 1 and "cannot reach" in err
    code, _, err = run_fleet(capsys, "--server", f"http://127.0.0.1:{port}", "--token", "t")
    assert code == 1 and "https://" in err


def _period() -> tuple[str, str]:
    """Days around the fixture's readings (make_report: RECENT + i seconds)."""
    import datetime

    from .helpers_server import RECENT

    day = datetime.datetime.fromtimestamp(RECENT, datetime.UTC).date()
    return (day - datetime.timedelta(days=1)).isoformat(), (
        day + datetime.timedelta(days=1)
    ).isoformat()


def test_meter_reads_in_every_format_equal_the_api(server, capsys):
    import csv
    import io

    start, end = _period()
    period = ["--meter-reads", "--from", start, "--to", end]
    code, out, err = run_fleet(capsys, *base(server, server.viewer_token), *period, "--json")
    assert code == 0, err
    api = httpx.get(
        server.url + "/api/v1/meter-reads",
        params={"from": start, "to": end},
        headers={"authorization": f"Bearer {server.viewer_token}"},
        verify=ssl.create_default_context(cafile=str(server.certfile)),
    ).json()
    assert json.loads(out) == api and len(api["devices"]) == 3
    code, out, _ = run_fleet(capsys, *base(server, server.viewer_token), *period, "--format=csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == 6  # three devices, total and mono
    for row in rows:
        [device] = [d for d in api["devices"] if str(d["device_id"]) == row["device_id"]]
        bucket = device["counters"][row["counter"]]
        assert (int(row["start"]), int(row["end"]), int(row["pages"])) == (
            bucket["start"],
            bucket["end"],
            bucket["pages"],
        )
    code, out, _ = run_fleet(capsys, *base(server, server.viewer_token), *period)
    assert code == 0 and out.splitlines()[0].split()[:3] == ["DEVICE", "SITE", "ADDRESS"]
    assert len(out.splitlines()) == 7


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--meter-reads", "--from", "2026-01-01"], "to is required"),
        (["--meter-reads", "--from", "2026-02-01", "--to", "2026-01-01"], "after from"),
        (["--from", "2026-01-01", "--to", "2026-02-01"], "go with --meter-reads"),
        (["--meter-reads", "--from", "2026-01-01", "--to", "2026-02-01", "--history"], "every"),
    ],
)
def test_meter_reads_arguments_are_checked(server, capsys, extra, words):
    code, _, err = run_fleet(capsys, *base(server, server.viewer_token), *extra)
    assert code == 2 and words in err


def test_meter_reads_site_refused_by_the_server_is_explained(server, capsys):
    start, end = _period()
    code, _, err = run_fleet(
        capsys,
        *base(server, server.viewer_token),
        *["--meter-reads", "--from", start, "--to", end, "--site", " x"],
    )
    assert code == 1 and "refused the request" in err and "site name" in err
