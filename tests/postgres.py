"""A real PostgreSQL server for the test session.

Import the fixture into a test module (`from tests.postgres import postgres_url`); the server
starts on first use and stops when the session ends. It needs the server binaries
(`initdb`, `pg_ctl`, `postgres`) from Debian's `postgresql` package, found on PATH or
under /usr/lib/postgresql/*/bin. PostgreSQL refuses to run as root, so under root (CI)
the binaries run as the `postgres` system user through `runuser`, which that package
creates. The server listens on 127.0.0.1 at a free port, with a socket folder and data
folder in one temporary folder that is removed afterwards; its one user (`mlw`) logs in
with a random password (scram-sha-256), which tests pass to mlw as ${MLW_TEST_PGPASSWORD}.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PASSWORD_ENV = "MLW_TEST_PGPASSWORD"
USER = "mlw"
DATABASE = "mlwtest"
START_TIMEOUT_S = 30
INSTALL_HINT = ("Install Debian's `postgresql` package (apt-get install -y postgresql), which provides "
                "initdb/pg_ctl under /usr/lib/postgresql/<version>/bin and the `postgres` system user.")


@dataclass(frozen=True)
class PostgresServer:
    """Where the test server listens. str() is the URL as a config would write it (${VAR} password)."""

    host: str
    port: int
    user: str
    password: str
    database: str

    @property
    def url(self) -> str:
        """The URL for mlw.yaml: the password stays an ${MLW_TEST_PGPASSWORD} reference."""
        return f"postgresql://{self.user}:${{{PASSWORD_ENV}}}@{self.host}:{self.port}/{self.database}"

    @property
    def real_url(self) -> str:
        """The URL with the password in it, for the test's own SQLAlchemy setup code."""
        return f"postgresql+psycopg://{self.user}:{self.password}@{self.host}:{self.port}/{self.database}"

    @property
    def env(self) -> dict[str, str]:
        return {PASSWORD_ENV: self.password}

    def __str__(self) -> str:
        return self.url


def find_binaries() -> Path:
    """The folder holding initdb and pg_ctl: PATH first, then the newest Debian install."""
    on_path = shutil.which("initdb")
    if on_path and (Path(on_path).parent / "pg_ctl").exists():
        return Path(on_path).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    for initdb in reversed(candidates):
        if (Path(initdb).parent / "pg_ctl").exists():
            return Path(initdb).parent
    pytest.fail(f"The PostgreSQL tests need a PostgreSQL server, but initdb/pg_ctl are neither on PATH nor "
                f"under /usr/lib/postgresql/*/bin. {INSTALL_HINT}", pytrace=False)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Runner:
    """Runs PostgreSQL binaries, as the `postgres` user when this process is root."""

    def __init__(self, bin_dir: Path, cwd: Path) -> None:
        self.bin_dir, self.cwd = bin_dir, cwd
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            try:
                import pwd

                pwd.getpwnam("postgres")
            except KeyError:
                pytest.fail(f"Tests run as root, and PostgreSQL refuses to run as root, but there is no "
                            f"`postgres` system user to run it as. {INSTALL_HINT}", pytrace=False)
            if runuser is None:
                pytest.fail("Tests run as root, so PostgreSQL must run as the `postgres` user, but `runuser` "
                            "(util-linux) is not installed.", pytrace=False)
            self.prefix = [runuser, "-u", "postgres", "--"]

    def own(self, path: Path) -> None:
        """Hand the server's files to the user it runs as."""
        if self.prefix:
            import pwd

            entry = pwd.getpwnam("postgres")
            for root, dirs, files in os.walk(path):
                os.chown(root, entry.pw_uid, entry.pw_gid)
                for name in files:
                    os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)

    def __call__(self, tool: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        command = [*self.prefix, str(self.bin_dir / tool), *args]
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        env.pop("PGDATA", None)
        return subprocess.run(command, cwd=self.cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _wait_ready(server: PostgresServer, log: Path) -> None:
    """Connect until the server answers (bounded), and create the test database."""
    import psycopg

    deadline = time.monotonic() + START_TIMEOUT_S
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(host=server.host, port=server.port, user=server.user, password=server.password,
                                 dbname="postgres", connect_timeout=3, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{server.database}"')
            return
        except psycopg.OperationalError as exc:
            last = exc
            time.sleep(0.2)
    pytest.fail(f"PostgreSQL did not accept connections on {server.host}:{server.port} within "
                f"{START_TIMEOUT_S} s ({last}).\nServer log:\n{_tail(log)}", pytrace=False)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[PostgresServer]:
    """A running PostgreSQL server with an empty database `mlwtest` owned by user `mlw`."""
    bin_dir = find_binaries()
    base = Path(tempfile.mkdtemp(prefix="mlw-pg-"))
    data, sockets, log, pwfile = base / "data", base / "sock", base / "server.log", base / "pwfile"
    run = _Runner(bin_dir, base)
    server = PostgresServer("127.0.0.1", free_port(), USER, secrets.token_hex(16), DATABASE)
    started = False
    try:
        sockets.mkdir()
        pwfile.write_text(server.password + "\n")
        os.chmod(base, 0o700)
        run.own(base)
        done = run("initdb", "-D", str(data), "-U", USER, "--auth=scram-sha-256", f"--pwfile={pwfile}",
                   "-E", "UTF8", "--no-locale", "--no-sync")
        if done.returncode != 0:
            pytest.fail(f"initdb failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}", pytrace=False)
        pwfile.unlink()
        for attempt in range(3):
            options = f"-p {server.port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
            done = run("pg_ctl", "-D", str(data), "-l", str(log), "-w", "-t", str(START_TIMEOUT_S),
                       "-o", options, "start", timeout=START_TIMEOUT_S + 10)
            if done.returncode == 0:
                started = True
                break
            # Most likely another process took the port between free_port() and the start.
            server = PostgresServer(server.host, free_port(), USER, server.password, DATABASE)
        if not started:
            pytest.fail(f"pg_ctl start failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}\n"
                        f"Server log:\n{_tail(log)}", pytrace=False)
        _wait_ready(server, log)
        yield server
    finally:
        if started:
            stopped = run("pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop", timeout=60)
            if stopped.returncode != 0:
                run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop", timeout=60)
        shutil.rmtree(base, ignore_errors=True)
