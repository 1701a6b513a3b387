"""Celery observability: task metrics, the sender's correlation id in task logs, a metrics port.

Wired once by :func:`install_observability` (called from ``create_celery_app``) through Celery signals,
so every task is covered whatever its base class, on a worker and on the embedded (eager) default:

- ``before_task_publish`` stamps ``enqueued_at`` and the current correlation id on any message
  that lacks them (beat's sends and plain ``apply_async`` calls; ``enqueue`` already sets both).
- ``task_prerun`` binds the correlation id of the request that enqueued the task to the logging context
  (the task id when there is none, e.g. beat), records the queue wait and starts the run timer;
  ``task_postrun`` records the outcome (success / retry / failure) and run time and restores the context.
  Celery's own "Task ... succeeded" and failure lines fall in between, so they carry the id too.
- ``worker_init`` / ``beat_init`` serve ``/metrics`` on ``DESKPILOT_METRICS__PORT`` when it is set.

The prefork pool runs tasks in child processes, whose metrics the parent cannot see. The documented
answer (prometheus_client, "Multiprocess Mode") is used: with ``PROMETHEUS_MULTIPROC_DIR`` set in the
worker's environment, every process writes its values to files there; the parent wipes the directory at
start (before the pool forks), serves the sum of all files, and marks each exited child dead. Without
it a prefork worker serves only its parent's metrics, which hold no task, and says so in its log.
"""

from __future__ import annotations

import logging
import threading
import time
from contextvars import Token
from datetime import datetime
from pathlib import Path
from typing import Any

from celery import Celery, signals

from services.common.config import Settings
from services.common.logging import reset_correlation_id, set_correlation_id
from services.common.metrics import (
    TASK_DURATION,
    TASK_OUTCOMES,
    TASK_QUEUE_WAIT,
    clear_multiprocess_dir,
    mark_metrics_process_dead,
    multiprocess_mode_enabled,
    start_metrics_server,
)

logger = logging.getLogger("deskpilot.tasks")

CORRELATION_HEADER = "deskpilot_correlation_id"
"""Not ``correlation_id``: Celery sets that message property to the task id, and on a worker the
property wins over a header of the same name (the sender's id would be lost)."""
ENQUEUED_AT_HEADER = "enqueued_at"
EAGER_QUEUE = "eager"
_CONF_PORT = "deskpilot_metrics_port"
_CONF_MULTIPROC_DIR = "deskpilot_metrics_multiproc_dir"

_OUTCOMES = {"SUCCESS": "success", "RETRY": "retry", "FAILURE": "failure"}

_runs_lock = threading.Lock()
_runs: dict[str, list[tuple[Token[str | None], float]]] = {}
"""Per running task id: the logging-context token to restore and the start time (a stack, for eager
tasks that enqueue a task with the same id while they run)."""


def request_header(request: Any, name: str) -> Any:
    """A custom header of a task request: an attribute on a worker, inside ``request.headers`` when eager."""
    value = getattr(request, name, None)
    if value is None:
        value = (getattr(request, "headers", None) or {}).get(name)
    return value


def task_correlation_id(request: Any) -> str | None:
    """The correlation id a task runs under: the sender's, else the task id (beat sends carry none)."""
    value = request_header(request, CORRELATION_HEADER) or getattr(request, "id", None)
    return str(value) if value else None


def queue_wait_seconds(request: Any, *, now: float) -> float | None:
    """Seconds between the send (or the ETA of a delayed send or retry) and ``now``; None if not stamped."""
    enqueued_at = request_header(request, ENQUEUED_AT_HEADER)
    if enqueued_at is None:
        return None
    ready_at = float(enqueued_at)
    eta = getattr(request, "eta", None)
    if eta:
        eta_dt = eta if isinstance(eta, datetime) else datetime.fromisoformat(str(eta))
        ready_at = max(ready_at, eta_dt.timestamp())
    return max(0.0, now - ready_at)


def task_queue_label(request: Any) -> str:
    """The queue label of a run: the routing key it was delivered with, or ``eager`` when run in-process."""
    delivery = getattr(request, "delivery_info", None) or {}
    if getattr(request, "is_eager", False) or delivery.get("is_eager"):
        return EAGER_QUEUE
    return str(delivery.get("routing_key") or "unknown")


def _on_before_task_publish(headers: dict[str, Any] | None = None, **_: Any) -> None:
    if headers is None:
        return
    from services.common.logging import get_correlation_id

    if headers.get(ENQUEUED_AT_HEADER) is None:
        headers[ENQUEUED_AT_HEADER] = time.time()
    if headers.get(CORRELATION_HEADER) is None:
        headers[CORRELATION_HEADER] = get_correlation_id()


def _on_task_prerun(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    if task is None or task_id is None:
        return
    request = task.request
    token = set_correlation_id(task_correlation_id(request))
    wait = queue_wait_seconds(request, now=time.time())
    if wait is not None:
        TASK_QUEUE_WAIT.labels(task=task.name, queue=task_queue_label(request)).observe(wait)
    with _runs_lock:
        _runs.setdefault(task_id, []).append((token, time.perf_counter()))


def _on_task_postrun(
    task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any
) -> None:
    if task is None or task_id is None:
        return
    with _runs_lock:
        stack = _runs.get(task_id)
        run = stack.pop() if stack else None
        if stack == []:
            del _runs[task_id]
    outcome = _OUTCOMES.get(str(state), str(state or "unknown").lower())
    TASK_OUTCOMES.labels(task=task.name, outcome=outcome).inc()
    if run is not None:
        token, started = run
        TASK_DURATION.labels(task=task.name).observe(time.perf_counter() - started)
        reset_correlation_id(token)


def _conf_dir(app: Any) -> Path | None:
    value = app.conf.get(_CONF_MULTIPROC_DIR)
    return Path(value) if value else None


def _on_worker_init(sender: Any = None, **_: Any) -> None:
    app = getattr(sender, "app", None)
    port = app.conf.get(_CONF_PORT) if app is not None else None
    if app is None or not port:
        return
    multiproc_dir = _conf_dir(app)
    if multiproc_dir is not None and multiprocess_mode_enabled():
        clear_multiprocess_dir(multiproc_dir)  # before the pool forks: no child has written yet
    elif "prefork" in str(getattr(sender, "pool_cls", "prefork")).lower():
        logger.warning(
            "PROMETHEUS_MULTIPROC_DIR is not set: task metrics recorded in prefork pool processes "
            "are not served on the metrics port"
        )
    start_metrics_server(int(port), multiproc_dir=multiproc_dir)


def _on_worker_process_shutdown(pid: int | None = None, **_: Any) -> None:
    # Sent in the parent as a pool child exits: drop that child's live-gauge files.
    if pid is not None:
        from celery import current_app

        mark_metrics_process_dead(pid, _conf_dir(current_app))


def _on_beat_init(sender: Any = None, **_: Any) -> None:
    app = getattr(sender, "app", None)
    port = app.conf.get(_CONF_PORT) if app is not None else None
    if app is not None and port:
        start_metrics_server(int(port), multiproc_dir=_conf_dir(app))


_HANDLERS: tuple[tuple[Any, Any], ...] = (
    (signals.before_task_publish, _on_before_task_publish),
    (signals.task_prerun, _on_task_prerun),
    (signals.task_postrun, _on_task_postrun),
    (signals.worker_init, _on_worker_init),
    (signals.worker_process_shutdown, _on_worker_process_shutdown),
    (signals.beat_init, _on_beat_init),
)


def install_observability(app: Celery, settings: Settings) -> None:
    """Connect the signal handlers (once per process) and keep the metrics port on ``app``'s config."""
    app.conf.update(
        {
            _CONF_PORT: settings.metrics.port,
            _CONF_MULTIPROC_DIR: str(settings.prometheus_multiproc_dir)
            if settings.prometheus_multiproc_dir
            else None,
        }
    )
    for signal, handler in _HANDLERS:
        signal.connect(handler, weak=False, dispatch_uid=f"deskpilot.{handler.__name__}")
