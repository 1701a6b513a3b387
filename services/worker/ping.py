"""A no-op task: readiness probes and the broker-overhead baseline in bench/ticket_automation."""

from __future__ import annotations

from celery import shared_task

from services.worker.queues import TaskName


@shared_task(name=TaskName.PING)
def ping(*, value: int = 0) -> int:
    """Return ``value`` (does nothing else)."""
    return value
