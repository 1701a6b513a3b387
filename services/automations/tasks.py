"""Celery tasks of the automations domain. Arguments are ids only; every task is safe to run twice."""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta
from typing import Any

from celery import shared_task
from sqlalchemy import select, update

from services.automations.approvals import sweep_approvals
from services.automations.context import get_automation_context
from services.automations.models import AutomationRun, AutomationState
from services.automations.runner import AutomationContext, execute_run, send_notice
from services.common.db import is_database_disconnect, session_scope, utcnow
from services.common.errors import RetryableError
from services.worker.base_task import DeskpilotTask
from services.worker.dispatch import enqueue
from services.worker.queues import TaskName

logger = logging.getLogger(__name__)

MAX_RETRIES = 12
"""The default of ``DESKPILOT_AUTOMATIONS__MAX_RETRIES`` (the tasks read the context's policy)."""
STALLED_AFTER = timedelta(minutes=10)
NOTICE_WINDOW = timedelta(days=1)


def retry_delay_s(
    retries: int, retry_after_s: float | None, *, base_s: float = 2.0, max_s: float = 300.0
) -> float:
    """Exponential backoff with full jitter (up to 2, 4, 8 ... s, capped at 300 s by default), never
    sooner than Retry-After."""
    backoff = random.uniform(0, min(max_s, base_s * 2.0**retries))
    return max(backoff, retry_after_s or 0.0)


def policy_retry(
    task: DeskpilotTask, ctx: AutomationContext, exc: Exception, retry_after_s: float | None
) -> Any:
    """``task.retry`` with the context's retry policy (its backoff and its retry budget)."""
    policy = ctx.policy
    countdown = retry_delay_s(
        task.request.retries, retry_after_s, base_s=policy.retry_base_s, max_s=policy.retry_max_s
    )
    return task.retry(exc=exc, countdown=countdown, max_retries=policy.max_retries)


@shared_task(name=TaskName.RUN_AUTOMATION, bind=True, base=DeskpilotTask, max_retries=MAX_RETRIES)
def run_automation(self: DeskpilotTask, *, run_id: int) -> str:
    """Advance an automation run; retry only retryable failures and lost database connections (a
    PostgreSQL restart: the run resumes within seconds instead of waiting for the stalled-run sweep);
    then queue the requester's notice."""
    ctx = get_automation_context()
    final = self.request.retries >= ctx.policy.max_retries
    try:
        state = execute_run(ctx, run_id, final_attempt=final, claim=str(self.request.id))
    except RetryableError as exc:
        raise policy_retry(self, ctx, exc, exc.retry_after_s) from exc
    except Exception as exc:
        if not is_database_disconnect(exc):
            raise
        raise policy_retry(self, ctx, exc, None) from exc
    enqueue(TaskName.NOTIFY_REQUESTER, task_id=f"notify:{run_id}:{state.value}", run_id=run_id)
    return state.value


@shared_task(name=TaskName.NOTIFY_REQUESTER, bind=True, base=DeskpilotTask, max_retries=MAX_RETRIES)
def notify_requester(self: DeskpilotTask, *, run_id: int) -> bool:
    """Post the run's notice to the requester (a Slack outage retries only this message)."""
    ctx = get_automation_context()
    try:
        return send_notice(ctx, run_id)
    except Exception as exc:
        raise policy_retry(self, ctx, exc, None) from exc


@shared_task(name=TaskName.SWEEP_APPROVALS, base=DeskpilotTask)
def sweep_approval_deadlines() -> dict[str, int]:
    """Beat: expire overdue approvals and remind approvers."""
    return sweep_approvals(get_automation_context())


@shared_task(name=TaskName.SWEEP_STALLED, base=DeskpilotTask)
def sweep_stalled_runs(*, older_than_s: float | None = None) -> int:
    """Beat: enqueue again runs left PENDING, APPROVED or RUNNING (a lost message, a killed worker), and
    notices never delivered. RUNNING runs silent past the cutoff have their claim released (their holder
    is dead: the default cutoff, 10 minutes, exceeds any task's time limit). Safe because every effect
    is idempotent; returns how many were re-sent."""
    ctx = get_automation_context()
    cutoff = utcnow() - (timedelta(seconds=older_than_s) if older_than_s is not None else STALLED_AFTER)
    stalled = (AutomationState.PENDING, AutomationState.APPROVED, AutomationState.RUNNING)
    with session_scope(ctx.session_factory) as db_session:
        run_ids = db_session.scalars(
            select(AutomationRun.id).where(
                AutomationRun.state.in_(stalled), AutomationRun.updated_at <= cutoff
            )
        ).all()
        # Silent longer than the cutoff (which must exceed any task's time limit): the holder is dead.
        db_session.execute(
            update(AutomationRun)
            .where(AutomationRun.id.in_(run_ids), AutomationRun.state == AutomationState.RUNNING)
            .values(claimed_by=None)
            .execution_options(synchronize_session=False)
        )
    for run_id in run_ids:
        enqueue(TaskName.RUN_AUTOMATION, run_id=run_id)
    unsent = _untold_runs(ctx, cutoff)
    for run_id in unsent:
        enqueue(TaskName.NOTIFY_REQUESTER, run_id=run_id)
    if run_ids or unsent:
        logger.info(
            "stalled automation runs sent again", extra={"runs": len(run_ids), "notices": len(unsent)}
        )
    return len(run_ids) + len(unsent)


def _untold_runs(ctx: AutomationContext, cutoff: datetime) -> list[int]:
    """Runs of the last day whose current notice was never delivered (its message was lost)."""
    since = utcnow() - NOTICE_WINDOW
    told_states = (*(s for s in AutomationState if s.is_final), AutomationState.AWAITING_APPROVAL)
    with session_scope(ctx.session_factory) as db_session:
        runs = db_session.execute(
            select(AutomationRun.id, AutomationRun.state, AutomationRun.result).where(
                AutomationRun.state.in_(told_states),
                AutomationRun.updated_at <= cutoff,
                AutomationRun.updated_at >= since,
            )
        ).all()
    return [
        run_id
        for run_id, state, result in runs
        if (result or {}).get("notice") and (result or {}).get("notified") != state.value
    ]
