"""Liveness and readiness of the Celery worker and beat, which have no HTTP endpoint.

Each process stamps heartbeat files under ``<data_dir>/probes/`` from inside its own loop, and
``deskpilot probe worker|beat`` (a Kubernetes exec probe) fails when the stamp is too old:

- worker: a consumer bootstep touches ``worker.alive`` every :data:`WORKER_HEARTBEAT_S` seconds from the
  consumer's event-loop timer (the loop that fetches tasks, so a wedged loop goes stale) and keeps
  ``worker.ready`` while it consumes from the broker (removed when the consumer stops, e.g. when the
  broker connection is lost, and at shutdown).
- beat: the scheduler touches ``beat.alive`` on every tick; ticks are at most :data:`BEAT_MAX_LOOP_S`
  apart, whatever the schedule.
- slack (Socket Mode bot): a daemon thread stamps ``slack.alive`` and keeps ``slack.ready`` while the
  Socket Mode client reports a live connection (so a bot that cannot reconnect gets restarted).

Stale files of a previous container (an ``emptyDir`` outlives container restarts) are removed at start.
Celery is imported only by :func:`install_probes`, so the probe command itself starts quickly.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

WORKER_HEARTBEAT_S = 10.0
"""How often a worker touches its liveness file."""
BEAT_MAX_LOOP_S = 30.0
"""The longest beat sleeps between ticks (Celery's default is 300 s)."""
SLACK_HEARTBEAT_S = 10.0
"""How often the Socket Mode bot checks its connection and stamps its files."""
DEFAULT_MAX_AGE_S = {"worker": 60.0, "beat": 120.0, "slack": 120.0}
"""``deskpilot probe`` fails when the heartbeat is older than this (several missed beats)."""


class ProbeKind(StrEnum):
    """The processes that report liveness through heartbeat files."""

    WORKER = "worker"
    BEAT = "beat"
    SLACK = "slack"


@dataclass(frozen=True)
class ProbeFiles:
    """The heartbeat (liveness) and ready-marker (readiness) files of one process."""

    alive: Path
    ready: Path

    def clear(self) -> None:
        """Remove both files (a fresh start must not inherit a previous container's stamps)."""
        for path in (self.alive, self.ready):
            path.unlink(missing_ok=True)


def probe_files(data_dir: Path, kind: ProbeKind) -> ProbeFiles:
    """Where ``kind`` keeps its heartbeat files: ``<data_dir>/probes/<kind>.alive|.ready``."""
    folder = data_dir / "probes"
    return ProbeFiles(alive=folder / f"{kind.value}.alive", ready=folder / f"{kind.value}.ready")


def touch(path: Path) -> None:
    """Stamp ``path`` with the current time (written atomically; the mtime is what probes read)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(f"{time.time():.3f} pid={os.getpid()}\n", encoding="utf-8")
    os.replace(tmp, path)


@dataclass(frozen=True)
class ProbeResult:
    """The outcome of one probe: ``ok`` and a one-line reason for the log of the kubelet."""

    ok: bool
    reason: str


def check(
    files: ProbeFiles, *, max_age_s: float, ready: bool = False, now: float | None = None
) -> ProbeResult:
    """Liveness: the heartbeat is at most ``max_age_s`` old; with ``ready`` the marker must exist too."""
    current = time.time() if now is None else now
    try:
        age = current - files.alive.stat().st_mtime
    except FileNotFoundError:
        return ProbeResult(False, f"no heartbeat yet at {files.alive}")
    if age > max_age_s:
        return ProbeResult(False, f"heartbeat is {age:.0f}s old (limit {max_age_s:.0f}s): {files.alive}")
    if ready and not files.ready.exists():
        return ProbeResult(False, f"not consuming (no {files.ready})")
    return ProbeResult(True, f"heartbeat {max(age, 0.0):.0f}s old")


def run_probe(data_dir: Path, kind: ProbeKind, *, max_age_s: float | None, ready: bool) -> ProbeResult:
    """The check behind ``deskpilot probe``; beat has no separate readiness (alive means ready)."""
    limit = DEFAULT_MAX_AGE_S[kind.value] if max_age_s is None else max_age_s
    return check(probe_files(data_dir, kind), max_age_s=limit, ready=ready and kind is not ProbeKind.BEAT)


def start_socket_mode_heartbeat(
    client: Any, data_dir: Path, *, interval_s: float = SLACK_HEARTBEAT_S
) -> threading.Event:
    """Stamp the Slack bot's files while ``client.is_connected()``; set the returned event to stop."""
    files = probe_files(data_dir, ProbeKind.SLACK)
    files.clear()
    stop = threading.Event()

    def beat() -> None:
        while not stop.is_set():
            try:
                connected = bool(client.is_connected())
            except Exception:  # a client between connections may raise: that is "not connected"
                connected = False
            if connected:
                touch(files.alive)
                touch(files.ready)
            else:
                files.ready.unlink(missing_ok=True)
            stop.wait(interval_s)
        files.clear()

    threading.Thread(target=beat, name="deskpilot-slack-heartbeat", daemon=True).start()
    return stop


def worker_heartbeat_step(files: ProbeFiles, *, interval_s: float = WORKER_HEARTBEAT_S) -> type[Any]:
    """A Celery consumer bootstep that keeps ``files`` fresh while the worker consumes."""
    from celery import bootsteps
    from celery.worker.consumer.tasks import Tasks

    class HeartbeatFileStep(bootsteps.StartStopStep):  # type: ignore[misc]  # celery is untyped
        """Runs after the consumer started consuming; stamps from the consumer's own timer."""

        requires = (Tasks,)

        def __init__(self, parent: Any, **kwargs: Any) -> None:
            super().__init__(parent, **kwargs)
            self._timer_entry: Any = None
            files.clear()

        def start(self, parent: Any) -> None:
            touch(files.alive)
            touch(files.ready)
            self._timer_entry = parent.timer.call_repeatedly(interval_s, touch, (files.alive,), priority=10)

        def stop(self, parent: Any) -> None:
            if self._timer_entry is not None:
                self._timer_entry.cancel()
                self._timer_entry = None
            files.ready.unlink(missing_ok=True)

        def shutdown(self, parent: Any) -> None:
            self.stop(parent)
            files.clear()

    return HeartbeatFileStep


def heartbeat_scheduler(files: ProbeFiles, base: Any, *, max_loop_s: float = BEAT_MAX_LOOP_S) -> type[Any]:
    """A beat scheduler class (subclass of ``base``) that stamps ``files.alive`` on every tick."""

    class HeartbeatScheduler(base):  # type: ignore[misc]  # celery is untyped
        """``base`` plus a heartbeat per tick; sleeps at most ``max_loop_s`` so the stamp stays fresh."""

        deskpilot_heartbeat = True
        max_interval: float  # set by the base class's __init__

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            files.clear()
            super().__init__(*args, **kwargs)
            self.max_interval = min(float(self.max_interval), max_loop_s)

        def tick(self, *args: Any, **kwargs: Any) -> float:
            interval = float(super().tick(*args, **kwargs))
            touch(files.alive)
            return interval

        def close(self) -> None:
            with contextlib.suppress(Exception):
                super().close()
            files.clear()

    HeartbeatScheduler.__name__ = HeartbeatScheduler.__qualname__ = f"Heartbeat{base.__name__}"
    return HeartbeatScheduler


def install_probes(app: Any, data_dir: Path) -> None:
    """Wire the heartbeat files into a Celery app: the worker's consumer step and beat's scheduler.

    Harmless in processes that only enqueue (web app, Slack bot): nothing runs until a worker or beat starts.
    """
    from celery.beat import PersistentScheduler
    from celery.utils.imports import symbol_by_name

    app.steps["consumer"].add(worker_heartbeat_step(probe_files(data_dir, ProbeKind.WORKER)))
    base = symbol_by_name(app.conf.beat_scheduler)
    wrapped = getattr(base, "deskpilot_heartbeat", False)
    if isinstance(base, type) and issubclass(base, PersistentScheduler) and not wrapped:
        app.conf.beat_scheduler = heartbeat_scheduler(probe_files(data_dir, ProbeKind.BEAT), base)
