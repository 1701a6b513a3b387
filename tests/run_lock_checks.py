"""Shared check of `knowledge.run_lock.source_run_lock` (SQLite file lock, PostgreSQL advisory lock)."""

from __future__ import annotations

import threading
import time
from typing import Any

from sqlalchemy.orm import sessionmaker

from knowledge.run_lock import source_run_lock


def check_runs_of_one_source_are_serialised(sessions: sessionmaker[Any]) -> None:
    """Two holders of the same source take turns; another source is not held up."""
    events: list[str] = []
    inside = threading.Event()

    def first() -> None:
        with source_run_lock(sessions, "handbook"):
            inside.set()
            time.sleep(0.4)
            events.append("first out")

    def same_source() -> None:
        inside.wait()
        with source_run_lock(sessions, "handbook"):
            events.append("second in")

    def other_source() -> None:
        inside.wait()
        with source_run_lock(sessions, "confluence"):
            events.append("other in")

    threads = [threading.Thread(target=f) for f in (first, same_source, other_source)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    assert events.index("other in") < events.index("first out") < events.index("second in"), events
