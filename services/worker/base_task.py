"""The base class of every Deskpilot task: correlation id bound to logs, one start and one finish line."""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import Task

from services.common.logging import bind_correlation_id

logger = logging.getLogger("deskpilot.tasks")


class DeskpilotTask(Task):  # type: ignore[misc]  # celery is untyped
    """Binds the sender's correlation id (header ``correlation_id``) and logs queue wait and outcome."""

    abstract = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        request = self.request
        correlation_id = getattr(request, "correlation_id", None) or request.id
        enqueued_at = getattr(request, "enqueued_at", None)
        with bind_correlation_id(str(correlation_id) if correlation_id else None):
            started = time.time()
            wait_ms = round((started - float(enqueued_at)) * 1000, 1) if enqueued_at else None
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
