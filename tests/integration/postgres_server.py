"""A PostgreSQL server of the test's own (initdb + pg_ctl), to stop and start again without touching the
shared test server: ``with own_postgres_server() as server: ... server.stop("immediate"); server.start()``.

It listens on 127.0.0.1 on a free port, trusts local connections (user ``postgres``) and keeps its data
across restarts (same folder, same port). PostgreSQL refuses to run as root: as root, every command
runs as the ``postgres`` OS user (``runuser``) in a folder it owns, outside pytest's private ``tmp_path``.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import psycopg

from tests.emulators.harness import free_port
from tests.integration.conftest import _require
from tests.services_probe import Probe

StopMode = Literal["smart", "fast", "immediate"]


def postgres_bindir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding initdb and pg_ctl, or what PATH gives."""

    def version(folder: str) -> tuple[int, ...]:
        return tuple(int(part) for part in Path(folder).parent.name.split(".") if part.isdigit())

    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    for folder in candidates:
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("pg_ctl") else None


@dataclass
class PostgresServer:
    """One private cluster: ``start``, ``stop`` (fast, or immediate as a crash), ``create_database``."""

    bindir: Path
    folder: Path
    port: int
    run_as: str | None
    """The OS user running initdb and pg_ctl (``postgres`` when the tests run as root)."""

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    @property
    def log_path(self) -> Path:
        return self.folder / "postgres.log"

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL of ``database`` on this server."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout_s: float = 60) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.run_as is not None:
            command = ["runuser", "-u", self.run_as, "--", *command]
        result = subprocess.run(
            command, cwd=self.folder, capture_output=True, text=True, timeout=timeout_s, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args[:2])} exited {result.returncode}:\n{result.stdout}\n{result.stderr}\n"
                f"{self.log_tail()}"
            )

    def init(self) -> None:
        """initdb: trust authentication, user ``postgres``, UTF-8, no fsync (a test cluster)."""
        self._run(
            "initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust", "--encoding=UTF8",
            "--no-locale", "--no-sync",
        )  # fmt: skip

    def start(self, *, timeout_s: float = 60) -> None:
        """Start the server and wait until it accepts connections (after crash recovery, if any)."""
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c fsync=off "
            "-c full_page_writes=off -c max_connections=100"
        )
        self._run(
            "pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_path), "-o", options, "-w",
            "-t", str(int(timeout_s)), "start", timeout_s=timeout_s + 10,
        )  # fmt: skip

    def stop(self, mode: StopMode = "fast") -> None:
        """``pg_ctl stop -m mode``: ``fast`` ends sessions cleanly, ``immediate`` kills every process as a
        crash would (the next start replays the WAL)."""
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "-t", "60", "stop", timeout_s=70)

    def answers(self) -> bool:
        """True when a connection to database ``postgres`` succeeds."""
        try:
            with psycopg.connect(self.url().replace("+psycopg", ""), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def create_database(self, prefix: str = "deskpilot") -> str:
        """A new empty database; its SQLAlchemy URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.url().replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def log_tail(self, lines: int = 30) -> str:
        """The end of the server log, for failure messages."""
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def own_postgres_server() -> Iterator[PostgresServer]:
    """A fresh cluster started on a free port; stopped (immediate) and deleted afterwards.

    A missing PostgreSQL installation skips the test, or fails it under ``CI=true``."""
    bindir = postgres_bindir()
    if bindir is None:
        _require(Probe(False, "initdb/pg_ctl not found (apt-get install postgresql)"))
        raise AssertionError("unreachable")
    run_as: str | None = None
    folder = Path(tempfile.mkdtemp(prefix="deskpilot-pg-"))
    if os.geteuid() == 0:
        run_as = "postgres"
        try:
            account = pwd.getpwnam(run_as)
        except KeyError:
            shutil.rmtree(folder)
            _require(Probe(False, "running as root and there is no 'postgres' OS user to run PostgreSQL"))
            raise
        os.chown(folder, account.pw_uid, account.pw_gid)
    server = PostgresServer(bindir, folder, free_port(), run_as)
    try:
        server.init()
        server.start()
        deadline = time.monotonic() + 30
        while not server.answers():
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not answer on port {server.port}\n{server.log_tail()}")
            time.sleep(0.1)
        yield server
    finally:
        with suppress(RuntimeError, subprocess.TimeoutExpired):
            server.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)
