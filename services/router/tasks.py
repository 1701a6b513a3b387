"""Celery tasks of the router domain: retraining the intent classifier."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from services.worker.base_task import DeskpilotTask
from services.worker.queues import TaskName


@shared_task(name=TaskName.TRAIN_INTENTS, base=DeskpilotTask)
def train_intents(*, job_id: int) -> dict[str, Any]:
    """Train and activate a new intent model for retrain job ``job_id`` (requested in the admin app)."""
    from services.router.retrain import get_intent_training_context, run_retrain_job

    return run_retrain_job(get_intent_training_context(), job_id=job_id)
