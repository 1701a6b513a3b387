"""Celery tasks: outcome, run time and queue wait metrics, and the enqueuing request's correlation id
on every log line of the task; eagerly (the embedded default) and on a real worker (in-memory broker)."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest
from celery import Celery

from services.common.logging import bind_correlation_id, build_log_handler, get_correlation_id
from services.worker.base_task import DeskpilotTask
from services.worker.celery_app import create_celery_app
from services.worker.dispatch import enqueue
from services.worker.observability import queue_wait_seconds, task_queue_label
from services.worker.queues import TASK_EXPIRES_S, Queue, TaskName
from tests.conftest import make_settings
from tests.emulators.harness import free_port
from tests.unit.observability.samples import delta, sample

ECHO = cast(TaskName, "tests.observability.echo")
task_logger = logging.getLogger("tests.observability.task")
SEEN_IDS: list[str | None] = []
"""The correlation id each run of the echo task saw (kwargs are serialised, so a module-level list)."""


@dataclass
class Captured:
    """JSON log lines written while the fixture is active."""

    stream: io.StringIO

    def lines(self, logger_prefix: str = "") -> list[dict[str, Any]]:
        """Parsed lines whose logger starts with ``logger_prefix``."""
        parsed = [json.loads(line) for line in self.stream.getvalue().splitlines() if line.strip()]
        return [line for line in parsed if str(line.get("logger", "")).startswith(logger_prefix)]


@pytest.fixture
def logs() -> Iterator[Captured]:
    stream = io.StringIO()
    handler = build_log_handler(json_format=True, stream=stream)
    root = logging.getLogger()
    # Other tests may leave a level on a parent logger ("deskpilot"); pin the ones read here to INFO.
    watched = [root, logging.getLogger("deskpilot.tasks"), task_logger]
    previous = [logger.level for logger in watched]
    root.addHandler(handler)
    for logger in watched:
        logger.setLevel(logging.INFO)
    yield Captured(stream)
    root.removeHandler(handler)
    for logger, level in zip(watched, previous, strict=True):
        logger.setLevel(level)


def _echo(self: Any, *, mode: str = "ok") -> str:
    task_logger.info("echo ran", extra={"mode": mode})
    SEEN_IDS.append(get_correlation_id())
    if mode == "fail":
        raise ValueError("boom")
    if mode == "retry_once" and self.request.retries == 0:
        raise self.retry(countdown=0, max_retries=1)
    return mode


def _register_echo(app: Celery, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setitem(TASK_EXPIRES_S, ECHO, 60)
    return app.task(name=ECHO, bind=True, base=DeskpilotTask)(_echo)


@pytest.fixture
def eager_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Celery:
    app = create_celery_app(make_settings(tmp_path))  # no broker: eager
    assert app.conf.task_always_eager
    _register_echo(app, monkeypatch)
    return app


def test_eager_task_logs_carry_the_enqueuing_correlation_id(eager_app: Celery, logs: Captured) -> None:
    with bind_correlation_id("req-7f3a"):
        enqueue(ECHO, mode="ok")
        assert get_correlation_id() == "req-7f3a"  # restored after the task
    assert get_correlation_id() is None
    task_lines = logs.lines("tests.observability") + logs.lines("deskpilot.tasks")
    assert {line["message"] for line in task_lines} >= {"echo ran", "task started", "task finished"}
    assert {line["correlation_id"] for line in task_lines} == {"req-7f3a"}


def test_eager_task_without_a_sender_id_logs_under_its_task_id(eager_app: Celery, logs: Captured) -> None:
    eager_app.tasks[ECHO].apply_async(kwargs={"mode": "ok"}, task_id="task-0042")
    assert {line["correlation_id"] for line in logs.lines("tests.observability")} == {"task-0042"}


def test_eager_task_records_outcome_run_time_and_queue_wait(eager_app: Celery) -> None:
    with (
        delta("deskpilot_task_outcomes_total", task=ECHO, outcome="success") as succeeded,
        delta("deskpilot_task_duration_seconds_count", task=ECHO) as timed,
        delta("deskpilot_task_queue_wait_seconds_count", task=ECHO, queue="eager") as waited,
        delta("deskpilot_task_queue_wait_seconds_sum", task=ECHO, queue="eager") as wait_sum,
    ):
        eager_app.tasks[ECHO].apply_async(
            kwargs={"mode": "ok"},
            headers={"deskpilot_correlation_id": "req-1", "enqueued_at": time.time() - 5},
        )
    assert succeeded() == 1 and timed() == 1 and waited() == 1
    assert 5 <= wait_sum() < 60


def test_eager_failure_and_retry_are_counted_by_outcome(eager_app: Celery) -> None:
    with (
        delta("deskpilot_task_outcomes_total", task=ECHO, outcome="failure") as failed,
        delta("deskpilot_task_outcomes_total", task=ECHO, outcome="retry") as retried,
        delta("deskpilot_task_outcomes_total", task=ECHO, outcome="success") as succeeded,
    ):
        enqueue(ECHO, mode="fail")
        assert failed() == 1
        enqueue(ECHO, mode="retry_once")
    assert retried() == 1 and succeeded() == 1


def test_queue_wait_starts_at_the_eta_of_a_delayed_send() -> None:
    now = time.time()
    eta = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now - 2))
    request = SimpleNamespace(enqueued_at=now - 60, eta=eta, headers=None)
    wait = queue_wait_seconds(request, now=now)
    assert wait is not None and 1 <= wait <= 3.5
    assert queue_wait_seconds(SimpleNamespace(headers={}), now=now) is None
    delivered = SimpleNamespace(is_eager=False, delivery_info={"routing_key": "deskpilot.notifications"})
    assert task_queue_label(delivered) == "deskpilot.notifications"


def test_worker_run_records_metrics_serves_them_and_logs_the_sender_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, logs: Captured
) -> None:
    from celery.contrib.testing.worker import start_worker

    port = free_port()
    settings = make_settings(
        tmp_path, celery={"broker_url": "memory://", "always_eager": False}, metrics={"port": port}
    )
    app = create_celery_app(settings)
    _register_echo(app, monkeypatch)
    SEEN_IDS.clear()
    labels = {"task": ECHO, "queue": Queue.AUTOMATIONS.value}
    before = sample("deskpilot_task_queue_wait_seconds_count", **labels)

    with start_worker(app, pool="solo", perform_ping_check=False, loglevel="INFO"):
        with bind_correlation_id("req-worker-1"):
            enqueue(ECHO, mode="ok")
        deadline = time.monotonic() + 10
        while sample("deskpilot_task_queue_wait_seconds_count", **labels) == before:
            assert time.monotonic() < deadline, "the worker never ran the task"
            time.sleep(0.05)
        time.sleep(0.2)  # the postrun hook runs just after the task returns
        scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text

    assert SEEN_IDS == ["req-worker-1"]
    assert sample("deskpilot_task_queue_wait_seconds_count", **labels) == before + 1
    assert f'deskpilot_task_outcomes_total{{outcome="success",task="{ECHO}"}}' in scraped
    assert {line["correlation_id"] for line in logs.lines("tests.observability")} == {"req-worker-1"}
