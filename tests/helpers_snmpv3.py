"""A real net-snmp ``snmpd`` on loopback with one USM user per auth/priv pair, for interop tests
and the v3 benchmark. Everything lives in a temporary directory; the port is picked free."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from printerhq.snmp.usm import AuthProtocol, PrivProtocol, UsmUser

# net-snmp spellings for each protocol.
NETSNMP_AUTH = {
    AuthProtocol.MD5: "MD5",
    AuthProtocol.SHA: "SHA",
    AuthProtocol.SHA224: "SHA-224",
    AuthProtocol.SHA256: "SHA-256",
    AuthProtocol.SHA384: "SHA-384",
    AuthProtocol.SHA512: "SHA-512",
}
NETSNMP_PRIV = {
    PrivProtocol.DES: "DES",
    PrivProtocol.AES: "AES",
    PrivProtocol.AES192: "AES-192",
    PrivProtocol.AES256: "AES-256",
}
AUTH_PASS = "auth-pass-phrase"
PRIV_PASS = "priv-pass-phrase"
COMMUNITY = "v2c-public"


def user_name(auth: AuthProtocol, priv: PrivProtocol) -> str:
    return f"u_{auth.name.lower()}_{priv.name.lower()}"


def make_user(
    auth: AuthProtocol,
    priv: PrivProtocol,
    *,
    auth_pass: str = AUTH_PASS,
    priv_pass: str = PRIV_PASS,
    name: str | None = None,
) -> UsmUser:
    return UsmUser(
        name or user_name(auth, priv),
        auth,
        auth_pass if auth is not AuthProtocol.NONE else None,
        priv,
        priv_pass if priv is not PrivProtocol.NONE else None,
    )


ALL_PAIRS = [(auth, priv) for auth in NETSNMP_AUTH for priv in (PrivProtocol.NONE, *NETSNMP_PRIV)]
NOAUTH_USER = "u_none_none"


def snmpd_available() -> bool:
    return shutil.which("snmpd") is not None and shutil.which("snmpget") is not None


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Snmpd:
    port: int
    directory: Path
    process: subprocess.Popen

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    @property
    def peer(self) -> str:
        return f"udp:127.0.0.1:{self.port}"

    def netsnmp_args(
        self,
        auth: AuthProtocol,
        priv: PrivProtocol,
        *,
        name: str | None = None,
        auth_pass: str = AUTH_PASS,
        priv_pass: str = PRIV_PASS,
    ) -> list[str]:
        """Command-line flags for net-snmp tools acting as this user."""
        args = ["-v3", "-u", name or user_name(auth, priv), "-r", "0", "-t", "3"]
        if auth is AuthProtocol.NONE:
            return args + ["-l", "noAuthNoPriv"]
        args += ["-a", NETSNMP_AUTH[auth], "-A", auth_pass]
        if priv is PrivProtocol.NONE:
            return args + ["-l", "authNoPriv"]
        return args + ["-l", "authPriv", "-x", NETSNMP_PRIV[priv], "-X", priv_pass]

    def run_tool(self, tool: str, args: list[str]) -> str:
        env = {
            **os.environ,
            "SNMP_PERSISTENT_DIR": str(self.directory / "client"),
            "SNMPCONFPATH": str(self.directory / "client"),
            "MIBS": "",
        }
        done = subprocess.run(
            [tool, *args], capture_output=True, text=True, timeout=30, env=env, check=False
        )
        if done.returncode:
            raise RuntimeError(f"{tool} failed: {done.stderr.strip()}")
        return done.stdout

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def start_snmpd(directory: Path) -> Snmpd:
    """Start snmpd on a free loopback port with users for every pair in ALL_PAIRS."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "persist").mkdir(exist_ok=True)
    (directory / "client").mkdir(exist_ok=True)
    lines = [
        f"rocommunity {COMMUNITY} 127.0.0.1",
        "sysLocation printerhq interop lab",
        "sysContact nobody@example.invalid",
        f"createUser {NOAUTH_USER}",
        f"rouser {NOAUTH_USER} noauth",
    ]
    for auth, priv in ALL_PAIRS:
        name = user_name(auth, priv)
        line = f"createUser {name} {NETSNMP_AUTH[auth]} {AUTH_PASS}"
        if priv is not PrivProtocol.NONE:
            line += f" {NETSNMP_PRIV[priv]} {PRIV_PASS}"
        lines += [line, f"rouser {name} noauth"]
    server = launch_snmpd(directory, lines)
    if server is None:
        raise RuntimeError(f"snmpd did not start: {(directory / 'snmpd.log').read_text()[-2000:]}")
    return server


def launch_snmpd(directory: Path, lines: list[str], port: int | None = None) -> Snmpd | None:
    """snmpd with ``lines`` as its snmpd.conf on 127.0.0.1 (``port``, or a free one), answering
    ``COMMUNITY``; five tries, then None. ``directory/persist`` must exist."""
    config = directory / "snmpd.conf"
    config.write_text("\n".join(lines) + "\n")
    env = {**os.environ, "SNMP_PERSISTENT_DIR": str(directory / "persist"), "MIBS": ""}
    for _attempt in range(5):
        chosen = port or _free_udp_port()
        with open(directory / "snmpd.log", "w") as log:  # the child keeps its own descriptor
            process = subprocess.Popen(
                [
                    "snmpd",
                    "-f",
                    "-C",
                    "-c",
                    str(config),
                    "-Lf",
                    str(directory / "snmpd.log"),
                    "-p",
                    str(directory / "snmpd.pid"),
                    f"udp:127.0.0.1:{chosen}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        server = Snmpd(chosen, directory, process)
        if _wait_ready(server):
            return server
        server.stop()
    return None


def _wait_ready(server: Snmpd, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        done = subprocess.run(
            [
                "snmpget",
                "-v2c",
                "-c",
                COMMUNITY,
                "-r",
                "0",
                "-t",
                "0.5",
                server.peer,
                "1.3.6.1.2.1.1.5.0",
            ],
            capture_output=True,
            timeout=10,
            check=False,
        )
        if done.returncode == 0:
            return True
        time.sleep(0.1)
    return False
