"""The base class of every Deskpilot task: correlation id bound to logs, one start and one finish line.

Metrics and the correlation id of runs through Celery come from the signal hooks of
:mod:`services.worker.observability`; binding here too covers a task called directly (``task(...)``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import Task

from services.common.logging import bind_correlation_id
from services.worker.observability import queue_wait_seconds, task_correlation_id

logger = logging.getLogger("deskpilot.tasks")


class DeskpilotTask(Task):  # type: ignore[misc]  # celery is untyped
    """Binds the sender's correlation id (``deskpilot_correlation_id`` header); logs queue wait, outcome."""

    abstract = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        request = self.request
        with bind_correlation_id(task_correlation_id(request)):
            started = time.time()
            wait_s = queue_wait_seconds(request, now=started)
            wait_ms = round(wait_s * 1000, 1) if wait_s is not None else None
            logger.info(
                "task started",
                extra={
                    "task": self.name,
                    "task_id": request.id,
                    "retries": request.retries,
                    "queue_wait_ms": wait_ms,
                },
            )
            outcome = "failed"
            try:
                result = super().__call__(*args, **kwargs)
                outcome = "succeeded"
                return result
            finally:
                logger.info(
                    "task finished",
                    extra={
                        "task": self.name,
                        "task_id": request.id,
                        "outcome": outcome,
                        "elapsed_ms": round((time.time() - started) * 1000, 1),
                    },
                )
