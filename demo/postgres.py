"""A throwaway PostgreSQL server on loopback, started from the distribution's server binaries.

Used by the warehouse end-to-end test and the demo. `find_server_binaries()` says why PostgreSQL
is unavailable (the test then reports itself skipped with that reason); it is never faked.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

WAREHOUSE_SQL = Path(__file__).with_name("warehouse.sql")
# The erasure-requests table and the cohort model of the README's privacy example.
PRIVACY_SQL = Path(__file__).with_name("privacy.sql")


class PostgresUnavailableError(RuntimeError):
    """PostgreSQL server binaries are missing or the server cannot start here."""


@dataclass(frozen=True)
class PostgresServer:
    """Connection facts of a running local server."""

    host: str
    port: int
    user: str
    database: str
    bindir: Path

    def psql(self, sql: str, database: str | None = None) -> str:
        """Run SQL through psql and return its unaligned, tuples-only output."""
        result = subprocess.run(
            [
                str(self.bindir / "psql"),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-At",
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                self.user,
                "-d",
                database or self.database,
                "-c",
                sql,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        return result.stdout

    def load_file(self, path: Path) -> None:
        """Run an SQL file."""
        subprocess.run(
            [
                str(self.bindir / "psql"),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                self.user,
                "-d",
                self.database,
                "-f",
                str(path),
            ],
            check=True,
            capture_output=True,
            text=True,
        )

    def tap_config(self) -> dict[str, object]:
        """Settings for MeltanoLabs' tap-postgres."""
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": "",
            "database": self.database,
            "filter_schemas": ["analytics"],
        }


def find_server_binaries() -> Path:
    """The folder holding initdb, pg_ctl, postgres and psql, or raise with the reason."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.insert(0, str(Path(on_path).resolve().parent))
    for folder in candidates:
        path = Path(folder)
        if all((path / tool).exists() for tool in ("initdb", "pg_ctl", "postgres")):
            return path
    msg = (
        "PostgreSQL server binaries (initdb, pg_ctl) not found: `make test` installs them with "
        "apt-get (demo/install_postgres.sh); on other systems install the postgresql server"
    )
    raise PostgresUnavailableError(msg)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_as(user: str | None) -> list[str]:
    """initdb and postgres refuse to run as root: run them as an unprivileged user then."""
    if user is None:
        return []
    runuser = shutil.which("runuser") or shutil.which("setpriv")
    if runuser is None:
        msg = "running as root and neither runuser nor setpriv is available to drop privileges"
        raise PostgresUnavailableError(msg)
    if runuser.endswith("runuser"):
        return [runuser, "-u", user, "--"]
    entry = pwd.getpwnam(user)
    return [runuser, f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--clear-groups"]


def _unprivileged_user() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    msg = "running as root and no unprivileged user (postgres, nobody) exists to run the server"
    raise PostgresUnavailableError(msg)


@contextlib.contextmanager
def local_postgres(database: str = "warehouse") -> Iterator[PostgresServer]:
    """Start a fresh cluster on 127.0.0.1 with trust auth; stop it and remove it afterwards."""
    bindir = find_server_binaries()
    user = _unprivileged_user()
    prefix = _run_as(user)
    root = Path(tempfile.mkdtemp(prefix="amplitude-pg-"))
    datadir, sockdir = root / "data", root / "sock"
    sockdir.mkdir()
    if user is not None:
        entry = pwd.getpwnam(user)
        for path in (root, sockdir):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    port = _free_port()
    try:
        subprocess.run(
            [
                *prefix,
                str(bindir / "initdb"),
                "-D",
                str(datadir),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        options = f"-p {port} -k {sockdir} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            [
                *prefix,
                str(bindir / "pg_ctl"),
                "-D",
                str(datadir),
                "-o",
                options,
                "-l",
                str(root / "server.log"),
                "-w",
                "-t",
                "60",
                "start",
            ],
            check=True,
            capture_output=True,
            text=True,
        )
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(root, ignore_errors=True)
        msg = f"PostgreSQL could not start: {exc.stderr or exc.stdout}"
        raise PostgresUnavailableError(msg) from exc
    server = PostgresServer("127.0.0.1", port, "postgres", database, bindir)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                server.psql(f"CREATE DATABASE {database}", database="postgres")
                break
            except subprocess.CalledProcessError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield server
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(datadir), "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)
