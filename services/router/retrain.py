"""Retraining the intent classifier as a background job requested from the admin app.

A request is an audit entry (``intents.retrain_requested``; its id is the job id). The task
(:func:`services.router.tasks.train_intents`) records ``started``, then ``succeeded`` with the new
version or ``failed`` with the reason, against that id; the page reads the job's state back from these
entries, in any process. A failed training activates nothing, so the previous model stays in service.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from connectors.interfaces import Embedder
from services.audit.models import AuditEntry
from services.audit.repo import record
from services.common.db import session_scope, utcnow
from services.router.editing import Actor, IntentEditError

logger = logging.getLogger(__name__)

JOB_TARGET = "intent_model_training"
STALE_AFTER = timedelta(hours=1)
"""A job with no outcome after this long was lost (its message expired or its worker died)."""


class RetrainEvent(StrEnum):
    """Audit actions of a retrain job."""

    REQUESTED = "intents.retrain_requested"
    STARTED = "intents.retrain_started"
    SUCCEEDED = "intents.retrain_succeeded"
    FAILED = "intents.retrain_failed"


class RetrainState(StrEnum):
    """Where a retrain job is."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    LOST = "lost"


@dataclass(frozen=True)
class RetrainStatus:
    """The latest retrain job: who asked when, its state and, when finished, its result or error."""

    job_id: int
    state: RetrainState
    requested_by: str
    requested_at: datetime
    finished_at: datetime | None
    result: dict[str, Any]

    @property
    def in_progress(self) -> bool:
        """Still queued or running."""
        return self.state in (RetrainState.QUEUED, RetrainState.RUNNING)


@dataclass(frozen=True)
class IntentTrainingContext:
    """What training needs in this process: the database, the embedder and where models go."""

    session_factory: sessionmaker[Session]
    embedder: Embedder
    model_dir: Path


_lock = threading.Lock()
_context: IntentTrainingContext | None = None


def configure_intent_training(context: IntentTrainingContext | None) -> None:
    """Use ``context`` for retrain jobs run in this process (the web app, tests; None forgets it)."""
    global _context
    with _lock:
        _context = context


def get_intent_training_context() -> IntentTrainingContext:
    """This process's training context, built from settings on first use (a worker, after the fork)."""
    global _context
    with _lock:
        if _context is None:
            from knowledge.embeddings import build_embedder
            from services.common.config import get_settings
            from services.common.db import build_engine, build_session_factory

            settings = get_settings()
            _context = IntentTrainingContext(
                session_factory=build_session_factory(build_engine(settings.database)),
                embedder=build_embedder(settings.knowledge.embedding),
                model_dir=settings.router.model_dir,
            )
        return _context


def latest_retrain_status(*, db_session: Session, now: datetime | None = None) -> RetrainStatus | None:
    """The state of the most recent retrain job, or None when none was ever requested."""
    request = db_session.scalar(
        select(AuditEntry)
        .where(AuditEntry.action == RetrainEvent.REQUESTED.value)
        .order_by(AuditEntry.id.desc())
        .limit(1)
    )
    if request is None:
        return None
    events = {
        entry.action: entry
        for entry in db_session.scalars(
            select(AuditEntry)
            .where(AuditEntry.target_type == JOB_TARGET, AuditEntry.target_id == str(request.id))
            .order_by(AuditEntry.id)
        )
    }
    finished = events.get(RetrainEvent.SUCCEEDED.value) or events.get(RetrainEvent.FAILED.value)
    if finished is not None:
        state = RetrainState.SUCCEEDED if finished.action == RetrainEvent.SUCCEEDED else RetrainState.FAILED
    elif (now or utcnow()) - request.created_at > STALE_AFTER:
        state = RetrainState.LOST
    else:
        state = RetrainState.RUNNING if RetrainEvent.STARTED.value in events else RetrainState.QUEUED
    return RetrainStatus(
        job_id=request.id,
        state=state,
        requested_by=request.actor_label,
        requested_at=request.created_at,
        finished_at=finished.created_at if finished else None,
        result=dict(finished.details) if finished else {},
    )


def request_retrain(*, db_session: Session, actor: Actor) -> int:
    """Record a retrain request and return its job id; refuses while another job is in progress."""
    current = latest_retrain_status(db_session=db_session)
    if current is not None and current.in_progress:
        raise IntentEditError(
            f"A retrain requested by {current.requested_by} is already {current.state.value}; "
            "wait for it to finish."
        )
    entry = record(
        db_session,
        action=RetrainEvent.REQUESTED.value,
        target_type=JOB_TARGET,
        target_id="new",
        actor_id=actor.id,
        actor_label=actor.label,
    )
    db_session.flush()
    return entry.id


def run_retrain_job(context: IntentTrainingContext, *, job_id: int) -> dict[str, Any]:
    """Train and activate a new model for job ``job_id``, recording the outcome (safe to run twice)."""
    from services.router.training import intents_train_flow

    with session_scope(context.session_factory) as db_session:
        request = db_session.get(AuditEntry, job_id)
        if request is None or request.action != RetrainEvent.REQUESTED.value:
            raise ValueError(f"no retrain request {job_id}")
        done = db_session.scalar(
            select(AuditEntry.id).where(
                AuditEntry.target_type == JOB_TARGET,
                AuditEntry.target_id == str(job_id),
                AuditEntry.action.in_([RetrainEvent.SUCCEEDED.value, RetrainEvent.FAILED.value]),
            )
        )
        if done is not None:
            return {"job_id": job_id, "skipped": "already finished"}
        requested_by = request.actor_id
        _record_job_event(db_session, job_id, RetrainEvent.STARTED, {})
    try:
        row, report = intents_train_flow(
            context.session_factory,
            embedder=context.embedder,
            model_dir=context.model_dir,
            trained_by_id=requested_by,
        )
    except Exception as exc:  # noqa: BLE001 - any failure is the job's outcome; the old model stays active
        logger.exception("intent retrain failed", extra={"job_id": job_id})
        details: dict[str, Any] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
        with session_scope(context.session_factory) as db_session:
            _record_job_event(db_session, job_id, RetrainEvent.FAILED, details)
        return {"job_id": job_id, **details}
    details = {
        "version": row.version,
        "utterances": report.utterances,
        "intents": report.intents,
        "seconds": report.seconds,
        "cross_validation": report.cross_validation,
    }
    with session_scope(context.session_factory) as db_session:
        _record_job_event(db_session, job_id, RetrainEvent.SUCCEEDED, details)
    return {"job_id": job_id, **details}


def _record_job_event(db_session: Session, job_id: int, event: RetrainEvent, details: dict[str, Any]) -> None:
    record(db_session, action=event.value, target_type=JOB_TARGET, target_id=job_id, details=details)
