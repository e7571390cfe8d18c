"""A private PostgreSQL server for tests: ``initdb`` + ``pg_ctl`` in a temporary directory.

PostgreSQL refuses to run as root, so as root the cluster runs as the ``postgres`` system user
(``runuser``). It listens on 127.0.0.1 on a free port, with its Unix socket inside the temporary
directory; nothing else on the machine is touched. Tests using ``postgres_url`` are skipped with
the reason when the binaries are absent (CI: ``apt-get install -y postgresql``).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid

import pytest


def _pg_bin() -> str | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(candidate, "initdb")):
            return candidate
    found = shutil.which("initdb")
    return os.path.dirname(found) if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresCluster:
    def __init__(self) -> None:
        bin_dir = _pg_bin()
        if bin_dir is None:
            pytest.skip(
                "PostgreSQL not installed (apt-get install -y postgresql); PostgreSQL tests skipped"
            )
        self.bin = bin_dir
        self.root = tempfile.mkdtemp(prefix="phq-pg-")
        os.chmod(self.root, 0o755)
        self.data = os.path.join(self.root, "data")
        self.port = _free_port()
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            if shutil.which("runuser") is None:
                pytest.skip(
                    "running as root without runuser: cannot start PostgreSQL as a non-root user"
                )
            try:
                import pwd

                pw = pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("no 'postgres' system user to run PostgreSQL as")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
            self.prefix = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        subprocess.run(
            self.prefix + list(args),
            check=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=120,
        )

    def start(self) -> None:
        self._run(
            f"{self.bin}/initdb",
            "-D",
            self.data,
            "-A",
            "trust",
            "-U",
            "phq",
            "--no-sync",
            "-E",
            "UTF8",
        )
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=200"
        )
        self._run(
            f"{self.bin}/pg_ctl",
            "-D",
            self.data,
            "-o",
            options,
            "-l",
            os.path.join(self.root, "log"),
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self) -> None:
        try:
            self._run(f"{self.bin}/pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        except Exception:
            pass
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://phq@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database on the cluster; returns its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@pytest.fixture(scope="session")
def postgres_cluster():
    cluster = PostgresCluster()
    try:
        cluster.start()
    except (subprocess.CalledProcessError, OSError) as exc:
        cluster.stop()
        out = getattr(exc, "stdout", b"") or b""
        pytest.skip(
            f"could not start a private PostgreSQL: {exc} {out.decode(errors='replace')[-500:]}"
        )
    yield cluster
    cluster.stop()


@pytest.fixture
def postgres_url(postgres_cluster) -> str:
    """URL of a fresh, empty database on the private test cluster."""
    return postgres_cluster.create_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    """``(data_dir, database URL or None)``: each test that takes it runs on SQLite and on a real
    PostgreSQL server."""
    if request.param == "sqlite":
        return tmp_path, None
    return tmp_path, request.getfixturevalue("postgres_url")


@pytest.fixture
async def store(database):
    """An open store on each backend (see ``database``)."""
    from printerhq.server.store import Store

    opened = await Store.open(*database)
    yield opened
    await opened.aclose()
