"""Sending tasks: always with ``expires``, the caller's correlation id and an ``enqueued_at`` stamp."""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import current_app

from services.common.logging import get_correlation_id
from services.worker.observability import CORRELATION_HEADER, ENQUEUED_AT_HEADER
from services.worker.queues import TASK_EXPIRES_S, TaskName

logger = logging.getLogger(__name__)


def enqueue(
    name: TaskName, *, task_id: str | None = None, countdown: float | None = None, **kwargs: Any
) -> None:
    """Send task ``name`` with keyword arguments (JSON primitives only).

    On the embedded default the task runs now, in this process (eager); its failures are logged and
    recorded by the task itself, never raised into the caller.
    """
    task = current_app.tasks[name]
    task.apply_async(
        kwargs=kwargs,
        task_id=task_id,
        countdown=countdown,
        expires=TASK_EXPIRES_S[name],
        headers={CORRELATION_HEADER: get_correlation_id(), ENQUEUED_AT_HEADER: time.time()},
    )
