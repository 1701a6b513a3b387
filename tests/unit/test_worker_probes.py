"""Heartbeat files and ``deskpilot probe``: the liveness/readiness checks of Celery workers and beat."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from celery.beat import PersistentScheduler
from typer.testing import CliRunner

from services.cli import app as cli_app
from services.worker.celery_app import create_celery_app
from services.worker.probes import (
    BEAT_MAX_LOOP_S,
    ProbeKind,
    check,
    heartbeat_scheduler,
    probe_files,
    run_probe,
    start_socket_mode_heartbeat,
    touch,
    worker_heartbeat_step,
)
from tests.conftest import make_settings

runner = CliRunner()


def _age(path: Path, seconds: float) -> None:
    stamp = time.time() - seconds
    os.utime(path, (stamp, stamp))


def test_check_fails_without_a_heartbeat_and_passes_with_a_fresh_one(tmp_path: Path) -> None:
    files = probe_files(tmp_path, ProbeKind.WORKER)
    missing = check(files, max_age_s=60)
    assert not missing.ok and "no heartbeat yet" in missing.reason
    touch(files.alive)
    fresh = check(files, max_age_s=60)
    assert fresh.ok, fresh.reason
    assert files.alive == tmp_path / "probes" / "worker.alive"


def test_check_fails_when_the_heartbeat_is_older_than_max_age(tmp_path: Path) -> None:
    files = probe_files(tmp_path, ProbeKind.WORKER)
    touch(files.alive)
    _age(files.alive, 90)
    stale = check(files, max_age_s=60)
    assert not stale.ok and "90s old" in stale.reason
    assert check(files, max_age_s=120).ok


def test_readiness_needs_the_ready_marker_too(tmp_path: Path) -> None:
    files = probe_files(tmp_path, ProbeKind.WORKER)
    touch(files.alive)
    unready = check(files, max_age_s=60, ready=True)
    assert not unready.ok and "not consuming" in unready.reason
    touch(files.ready)
    assert check(files, max_age_s=60, ready=True).ok


def test_run_probe_defaults_differ_per_process_and_beat_needs_no_ready_marker(tmp_path: Path) -> None:
    beat = probe_files(tmp_path, ProbeKind.BEAT)
    touch(beat.alive)
    _age(beat.alive, 100)
    assert run_probe(tmp_path, ProbeKind.BEAT, max_age_s=None, ready=True).ok  # beat default: 120 s
    worker = probe_files(tmp_path, ProbeKind.WORKER)
    touch(worker.alive)
    touch(worker.ready)
    _age(worker.alive, 100)
    assert not run_probe(tmp_path, ProbeKind.WORKER, max_age_s=None, ready=False).ok  # worker default: 60 s
    assert run_probe(tmp_path, ProbeKind.WORKER, max_age_s=200, ready=True).ok


class _FakeTimer:
    def __init__(self) -> None:
        self.calls: list[tuple[float, Any, tuple[Any, ...]]] = []
        self.cancelled = False

    def call_repeatedly(self, interval: float, fun: Any, args: tuple[Any, ...], priority: int = 0) -> Any:
        self.calls.append((interval, fun, args))
        return self

    def cancel(self) -> None:
        self.cancelled = True


class _FakeConsumer:
    def __init__(self) -> None:
        self.timer = _FakeTimer()


def test_worker_step_clears_stale_files_stamps_from_the_consumer_timer_and_cleans_up(tmp_path: Path) -> None:
    files = probe_files(tmp_path, ProbeKind.WORKER)
    touch(files.alive)
    touch(files.ready)  # left by a previous container in the same emptyDir
    consumer = _FakeConsumer()
    step = worker_heartbeat_step(files, interval_s=7)(consumer)
    assert not files.alive.exists() and not files.ready.exists()

    step.start(consumer)
    assert check(files, max_age_s=5, ready=True).ok
    [(interval, fun, args)] = consumer.timer.calls
    assert interval == 7
    _age(files.alive, 300)
    fun(*args)  # what the consumer's timer runs every interval
    assert check(files, max_age_s=5).ok

    step.stop(consumer)  # consumer stopped (broker connection lost): alive but not ready
    assert consumer.timer.cancelled
    assert check(files, max_age_s=5).ok
    assert not check(files, max_age_s=5, ready=True).ok
    step.shutdown(consumer)
    assert not files.alive.exists()


def test_beat_scheduler_stamps_on_every_tick_and_sleeps_at_most_the_loop_limit(tmp_path: Path) -> None:
    celery = Celery("probe-test", broker="memory://")
    files = probe_files(tmp_path, ProbeKind.BEAT)
    touch(files.alive)
    _age(files.alive, 1000)  # stale stamp of a previous container
    scheduler_cls = heartbeat_scheduler(files, PersistentScheduler)
    assert issubclass(scheduler_cls, PersistentScheduler)
    scheduler = scheduler_cls(app=celery, schedule_filename=str(tmp_path / "schedule"), max_interval=300)
    assert not files.alive.exists()
    assert scheduler.max_interval == BEAT_MAX_LOOP_S

    interval = scheduler.tick()
    assert 0 <= interval <= BEAT_MAX_LOOP_S
    assert check(files, max_age_s=5).ok
    scheduler.close()
    assert not files.alive.exists()


def test_create_celery_app_installs_both_probes_once(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    celery = create_celery_app(settings)
    steps = [step for step in celery.steps["consumer"] if step.__name__ == "HeartbeatFileStep"]
    assert len(steps) == 1
    scheduler = celery.conf.beat_scheduler
    assert isinstance(scheduler, type) and issubclass(scheduler, PersistentScheduler)
    assert scheduler.__name__ == "HeartbeatPersistentScheduler"
    instance = scheduler(app=celery, schedule_filename=str(tmp_path / "schedule"))
    instance.tick()
    assert check(probe_files(settings.data_dir, ProbeKind.BEAT), max_age_s=5).ok
    instance.close()


def test_cli_probe_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESKPILOT_DATA_DIR", str(tmp_path))
    missing = runner.invoke(cli_app, ["probe", "worker"])
    assert missing.exit_code == 1
    assert "worker: FAIL: no heartbeat yet" in missing.output

    files = probe_files(tmp_path, ProbeKind.WORKER)
    touch(files.alive)
    assert runner.invoke(cli_app, ["probe", "worker"]).exit_code == 0
    assert runner.invoke(cli_app, ["probe", "worker", "--ready"]).exit_code == 1
    touch(files.ready)
    ready = runner.invoke(cli_app, ["probe", "worker", "--ready"])
    assert ready.exit_code == 0 and "worker: ok" in ready.output
    _age(files.alive, 30)
    assert runner.invoke(cli_app, ["probe", "worker", "--max-age", "10"]).exit_code == 1

    assert runner.invoke(cli_app, ["probe", "beat"]).exit_code == 1
    assert runner.invoke(cli_app, ["probe", "scheduler"]).exit_code == 2


def test_a_real_worker_is_alive_and_ready_while_it_consumes_and_clean_after(tmp_path: Path) -> None:
    from celery.contrib.testing.worker import start_worker

    settings = make_settings(tmp_path, celery={"broker_url": "memory://", "always_eager": False})
    celery = create_celery_app(settings)
    files = probe_files(settings.data_dir, ProbeKind.WORKER)
    with start_worker(celery, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        deadline = time.monotonic() + 10
        while not files.ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert check(files, max_age_s=30, ready=True).ok
    assert not files.alive.exists() and not files.ready.exists()


class _FlakyConnection:
    def __init__(self) -> None:
        self.connected = True

    def is_connected(self) -> bool:
        return self.connected


def _wait_for(condition: Any, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return bool(condition())


def test_socket_mode_heartbeat_follows_the_connection(tmp_path: Path) -> None:
    files = probe_files(tmp_path, ProbeKind.SLACK)
    touch(files.ready)  # stale marker of a previous container
    _age(files.ready, 1000)
    client = _FlakyConnection()
    stop = start_socket_mode_heartbeat(client, tmp_path, interval_s=0.02)
    try:
        assert _wait_for(lambda: run_probe(tmp_path, ProbeKind.SLACK, max_age_s=5, ready=True).ok)
        client.connected = False  # reconnecting: still alive for a while, not ready
        assert _wait_for(lambda: not files.ready.exists())
        assert run_probe(tmp_path, ProbeKind.SLACK, max_age_s=5, ready=False).ok
        client.connected = True
        assert _wait_for(lambda: files.ready.exists())
    finally:
        stop.set()
    assert _wait_for(lambda: not files.alive.exists())
