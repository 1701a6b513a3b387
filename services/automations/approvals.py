"""Manager approval of automation runs: the decision, reminders and expiry."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from services.audit import repo as audit
from services.automations.models import AutomationRun, AutomationState
from services.automations.notify import ApprovalButtons
from services.automations.runner import APPROVAL_REMINDER_AFTER, AutomationContext
from services.common.db import session_scope, utcnow
from services.directory.models import Employee

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Decision:
    """What pressing Approve/Deny did."""

    run_id: int
    state: AutomationState
    text: str
    changed: bool


def decide(
    ctx: AutomationContext,
    *,
    run_id: int,
    approver_id: int,
    approve: bool,
    clock: Callable[[], datetime] = utcnow,
) -> Decision:
    """Record the manager's decision once. Only the requester's manager may decide; a second press, or a
    press after expiry, changes nothing. On approval the caller enqueues the run again."""
    with session_scope(ctx.session_factory) as db_session:
        run = db_session.get(AutomationRun, run_id)
        if run is None:
            return Decision(run_id, AutomationState.FAILED, "That request no longer exists.", False)
        requester = db_session.get(Employee, run.requester_id)
        assert requester is not None
        if requester.manager_id != approver_id:
            return Decision(
                run_id, run.state, "Only the requester's manager can decide on this request.", False
            )
        if run.state is not AutomationState.AWAITING_APPROVAL:
            return Decision(run_id, run.state, f"This request was already {run.state.value}.", False)
        now = clock()
        if run.approval_expires_at is not None and _aware(run.approval_expires_at) < now:
            run.state = AutomationState.EXPIRED
            run.finished_at = now
            return Decision(run_id, run.state, "This request expired before a decision.", True)
        run.state = AutomationState.APPROVED if approve else AutomationState.DENIED
        run.approver_id = approver_id
        run.decided_at = now
        audit.record(
            db_session,
            action=f"automation.{run.state.value}",
            target_type="automation_run",
            target_id=run.id,
            actor_id=approver_id,
            actor_label=f"employee:{approver_id}",
        )
        if not approve:
            run.finished_at = now
        requester_id, conversation_id, reference = run.requester_id, run.conversation_id, f"AR-{run.id}"
        state = run.state
    if state is AutomationState.DENIED:
        ctx.notifier.tell_requester(
            employee_id=requester_id,
            conversation_id=conversation_id,
            text=f"Your manager declined request {reference}. Talk to them if you still need it.",
        )
    verb = "approved" if approve else "declined"
    return Decision(run_id, state, f"You {verb} request {reference}. Thanks!", True)


def sweep_approvals(ctx: AutomationContext, *, clock: Callable[[], datetime] = utcnow) -> dict[str, int]:
    """Expire runs past their approval deadline (telling the requester) and remind approvers once."""
    now = clock()
    expired: list[tuple[int, int, int | None]] = []
    reminders: list[tuple[int, int, str]] = []
    with session_scope(ctx.session_factory) as db_session:
        waiting = db_session.scalars(
            select(AutomationRun).where(AutomationRun.state == AutomationState.AWAITING_APPROVAL)
        ).all()
        for run in waiting:
            if run.approval_expires_at is not None and _aware(run.approval_expires_at) <= now:
                run.state = AutomationState.EXPIRED
                run.finished_at = now
                audit.record(
                    db_session, action="automation.expired", target_type="automation_run", target_id=run.id
                )
                expired.append((run.id, run.requester_id, run.conversation_id))
            elif (
                not (run.result or {}).get("reminded")
                and _aware(run.updated_at) + APPROVAL_REMINDER_AFTER <= now
            ):
                requester = db_session.get(Employee, run.requester_id)
                if requester is not None and requester.manager_id is not None:
                    run.result = {**(run.result or {}), "reminded": now.isoformat()}
                    reminders.append((run.id, requester.manager_id, requester.display_name))
    for run_id, requester_id, conversation_id in expired:
        ctx.notifier.tell_requester(
            employee_id=requester_id,
            conversation_id=conversation_id,
            text=f"Your request AR-{run_id} expired without your manager's decision. Ask again anytime.",
        )
    for run_id, manager_id, name in reminders:
        ctx.notifier.ask_approver(
            approver_id=manager_id,
            text=f"Reminder: {name} is still waiting for your decision on AR-{run_id}.",
            buttons=ApprovalButtons(run_id),
        )
    return {"expired": len(expired), "reminded": len(reminders)}


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
