"""One ingestion run per source at a time, across processes (a scheduled sync racing "Sync now", two CLIs).

On PostgreSQL a session-level advisory lock keyed by the source name, held on its own pooled connection
for the length of the run (committed at once, so it is never an idle transaction); elsewhere (SQLite, the
embedded default) an ``flock`` on a file beside the database, or a process-wide lock for in-memory
databases. A second run waits for the first and then finds its work done (unchanged documents skip).
"""

from __future__ import annotations

import fcntl
import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

_process_locks: dict[str, threading.Lock] = {}
_process_locks_guard = threading.Lock()


def _advisory_key(name: str) -> int:
    digest = hashlib.sha256(f"deskpilot-ingest:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def source_run_lock(session_factory: sessionmaker[Session], source_name: str) -> Iterator[None]:
    """Hold the run lock of ``source_name`` for the block."""
    engine = session_factory.kw.get("bind")
    if isinstance(engine, Engine) and engine.dialect.name == "postgresql":
        key = _advisory_key(source_name)
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            connection.commit()
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                connection.commit()
        return
    database = engine.url.database if isinstance(engine, Engine) else None
    if database and database != ":memory:":
        digest = hashlib.sha256(source_name.encode()).hexdigest()[:16]
        lock_path = Path(f"{database}.ingest-{digest}.lock")
        with lock_path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    with _process_locks_guard:
        lock = _process_locks.setdefault(source_name, threading.Lock())
    with lock:
        yield
