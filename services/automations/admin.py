"""Automation runs as IT admins see them: a filtered list, one run's story, and a safe retry.

A retry puts a FAILED run back to PENDING (APPROVED when a manager had approved it) and sends it through
the normal dispatch. The run keeps its idempotency key, so an effect that already happened (a ticket
created, a group joined) is found instead of repeated. Runs whose effect may have happened and cannot be
looked up (a password reset that started) are never retried: the employee asks again instead.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from services.audit import repo as audit
from services.automations.models import AutomationKind, AutomationRun, AutomationState
from services.automations.runner import has_effect
from services.common.db import session_scope, utcnow
from services.common.errors import NotFoundError, PermanentError
from services.common.listing import (
    FilterError,
    Page,
    date_filter,
    enum_filter,
    escape_like,
    start_of_day,
)
from services.directory.models import Employee
from services.tickets.models import Ticket, TicketSystemKind
from services.worker.dispatch import enqueue
from services.worker.queues import TaskName

logger = logging.getLogger(__name__)

TARGET_TYPE = "automation_run"
ERROR_PREVIEW = 120
_SECRET_KEY_PARTS = ("password", "secret", "token", "credential", "link", "url", "otp")
"""Parameter or result keys never shown (runs should hold no secrets; this is the second fence)."""
_PASSWORD_RESET_MARKS = ("reset_started", "interrupted", "undelivered")
"""Result keys saying a password reset may have happened: retrying could reset it twice."""
_REFUSALS = {
    AutomationState.SUCCEEDED: "It already succeeded: running it again would do nothing new.",
    AutomationState.RUNNING: "It is running now; wait for it to finish.",
    AutomationState.PENDING: "It is already queued to run.",
    AutomationState.APPROVED: "It is approved and queued to run.",
    AutomationState.AWAITING_APPROVAL: "It is waiting for the manager's decision.",
    AutomationState.DENIED: "The manager denied it; the employee must ask again.",
    AutomationState.EXPIRED: "The approval expired; the employee must ask again.",
    AutomationState.CANCELLED: "It was cancelled; the employee must ask again.",
}


class RetryRefusedError(PermanentError):
    """The run cannot be retried (the message says why)."""

    http_status = 409
    code = "retry_refused"


@dataclass(frozen=True)
class RunFilters:
    """What the run list is narrowed to (every filter runs in SQL)."""

    state: AutomationState | None = None
    kind: AutomationKind | None = None
    created_from: date | None = None
    created_to: date | None = None
    requester: str = ""

    @classmethod
    def parse(cls, raw: Mapping[str, str]) -> RunFilters:
        """Filters from query parameters; ``FilterError`` names a bad value."""
        filters = cls(
            state=enum_filter(raw.get("state"), AutomationState, "state"),
            kind=enum_filter(raw.get("kind"), AutomationKind, "kind"),
            created_from=date_filter(raw.get("from"), "From"),
            created_to=date_filter(raw.get("to"), "To"),
            requester=(raw.get("requester") or "").strip()[:200],
        )
        if filters.created_from and filters.created_to and filters.created_from > filters.created_to:
            raise FilterError("From must not be after To.")
        return filters


@dataclass(frozen=True)
class RunRow:
    """One line of the run list."""

    id: int
    kind: str
    state: str
    attempts: int
    requester_name: str
    requester_email: str
    error_preview: str | None
    ticket_key: str | None
    ticket_builtin: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class RunDetail:
    """Everything the run page shows (no secrets)."""

    id: int
    kind: str
    state: str
    attempts: int
    idempotency_key: str
    requester_name: str
    requester_email: str
    approver_name: str | None
    conversation_id: int | None
    ticket_key: str | None
    ticket_status: str | None
    ticket_builtin: bool
    ticket_url: str | None
    params: dict[str, Any]
    result: dict[str, Any]
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    approval_expires_at: datetime | None
    history: list[audit.TrailEntry] = field(default_factory=list)
    retry_refusal: str | None = None

    @property
    def reference(self) -> str:
        """The reference the employee was given."""
        return f"AR-{self.id}"


def _conditions(filters: RunFilters) -> list[ColumnElement[bool]]:
    """SQL conditions for ``filters`` (the query joins the requester as ``Employee``)."""
    conditions: list[ColumnElement[bool]] = []
    if filters.state is not None:
        conditions.append(AutomationRun.state == filters.state)
    if filters.kind is not None:
        conditions.append(AutomationRun.kind == filters.kind)
    if filters.created_from is not None:
        conditions.append(AutomationRun.created_at >= start_of_day(filters.created_from))
    if filters.created_to is not None:
        conditions.append(AutomationRun.created_at < start_of_day(filters.created_to) + timedelta(days=1))
    if filters.requester:
        pattern = f"%{escape_like(filters.requester.lower())}%"
        conditions.append(
            or_(
                func.lower(Employee.email).like(pattern, escape="\\"),
                func.lower(Employee.display_name).like(pattern, escape="\\"),
            )
        )
    return conditions


def list_runs(db_session: Session, filters: RunFilters, *, page: int) -> Page[RunRow]:
    """The runs matching ``filters``, most recently updated first, one page of them."""
    conditions = _conditions(filters)
    total = db_session.scalar(
        select(func.count(AutomationRun.id))
        .join(Employee, Employee.id == AutomationRun.requester_id)
        .where(*conditions)
    )
    empty: Page[RunRow] = Page([], total or 0, page)
    query = (
        select(AutomationRun, Employee.display_name, Employee.email, Ticket.external_key, Ticket.system)
        .join(Employee, Employee.id == AutomationRun.requester_id)
        .outerjoin(Ticket, Ticket.id == AutomationRun.ticket_id)
        .where(*conditions)
        .order_by(AutomationRun.updated_at.desc(), AutomationRun.id.desc())
        .offset(empty.offset)
        .limit(empty.size)
    )
    rows = [
        RunRow(
            id=run.id,
            kind=run.kind.value,
            state=run.state.value,
            attempts=run.attempts,
            requester_name=name,
            requester_email=email,
            error_preview=_preview(run.last_error),
            ticket_key=key,
            ticket_builtin=system is TicketSystemKind.BUILTIN,
            created_at=run.created_at,
            updated_at=run.updated_at,
        )
        for run, name, email, key, system in db_session.execute(query)
    ]
    return Page(rows, empty.total, page)


def _preview(error: str | None) -> str | None:
    if not error:
        return None
    first_line = error.strip().splitlines()[0] if error.strip() else error
    return first_line if len(first_line) <= ERROR_PREVIEW else first_line[: ERROR_PREVIEW - 1] + "…"


def _shown(values: Mapping[str, Any] | None) -> dict[str, Any]:
    return {
        key: value
        for key, value in (values or {}).items()
        if not any(part in key.lower() for part in _SECRET_KEY_PARTS)
    }


def retry_refusal(run: AutomationRun) -> str | None:
    """Why ``run`` cannot be retried, or None when a retry is safe."""
    if run.state is not AutomationState.FAILED:
        return _REFUSALS.get(run.state, f"Only failed runs can be retried (this one is {run.state.value}).")
    if not has_effect(run.kind):
        return "This kind of run only records a lookup; there is nothing to run again."
    result = run.result or {}
    if run.kind is AutomationKind.PASSWORD_RESET and any(result.get(k) for k in _PASSWORD_RESET_MARKS):
        return (
            "A password reset runs at most once, and this one may have gone through. "
            "Ask the employee to request a new reset."
        )
    return None


def load_run(db_session: Session, run_id: int) -> RunDetail:
    """The run page's content (``NotFoundError`` when there is no such run)."""
    run = db_session.get(AutomationRun, run_id)
    if run is None:
        raise NotFoundError(f"There is no automation run {run_id}.")
    ticket = db_session.get(Ticket, run.ticket_id) if run.ticket_id else None
    return RunDetail(
        id=run.id,
        kind=run.kind.value,
        state=run.state.value,
        attempts=run.attempts,
        idempotency_key=run.idempotency_key,
        requester_name=run.requester.display_name,
        requester_email=run.requester.email,
        approver_name=run.approver.display_name if run.approver else None,
        conversation_id=run.conversation_id,
        ticket_key=ticket.external_key if ticket else None,
        ticket_status=ticket.status.value if ticket else None,
        ticket_builtin=ticket is not None and ticket.system is TicketSystemKind.BUILTIN,
        ticket_url=ticket.url if ticket else None,
        params=_shown(run.params),
        result=_shown(run.result),
        last_error=run.last_error,
        created_at=run.created_at,
        updated_at=run.updated_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        approval_expires_at=run.approval_expires_at,
        history=audit.trail_of(db_session, target_type=TARGET_TYPE, target_id=run.id),
        retry_refusal=retry_refusal(run),
    )


def automation_retry_flow(session_factory: sessionmaker[Session], run_id: int, *, actor_id: int) -> bool:
    """Put failed run ``run_id`` back in the queue and send it; False when the send must wait for the sweep.

    ``RetryRefusedError`` says why a run cannot be retried; ``NotFoundError`` when it does not exist.
    """
    with session_scope(session_factory) as db_session:
        run = db_session.get(AutomationRun, run_id)
        if run is None:
            raise NotFoundError(f"There is no automation run {run_id}.")
        refusal = retry_refusal(run)
        if refusal is not None:
            raise RetryRefusedError(refusal)
        # A manager's approval stands: an approved run that failed later is not asked for again.
        restart = AutomationState.APPROVED if run.decided_at and run.approver_id else AutomationState.PENDING
        previous_error = run.last_error
        changed = cast(
            "CursorResult[Any]",
            db_session.execute(
                update(AutomationRun)
                .where(AutomationRun.id == run_id, AutomationRun.state == AutomationState.FAILED)
                .values(
                    state=restart,
                    claimed_by=None,
                    finished_at=None,
                    last_error=None,
                    delay_notified_at=None,  # the requester was told it failed: a new delay is told again
                    updated_at=utcnow(),
                )
                .execution_options(synchronize_session=False)
            ),
        ).rowcount
        if not changed:  # someone else retried it a moment ago
            raise RetryRefusedError("The run changed while you were looking at it; reload the page.")
        audit.record(
            db_session,
            action="automation.retry_requested",
            target_type=TARGET_TYPE,
            target_id=run_id,
            actor_id=actor_id,
            actor_label=f"employee:{actor_id}",
            details={"kind": run.kind.value, "to": restart.value, "previous_error": _preview(previous_error)},
        )
    try:
        enqueue(TaskName.RUN_AUTOMATION, task_id=f"retry:{run_id}:{uuid.uuid4().hex}", run_id=run_id)
    except Exception:  # noqa: BLE001 - the run is PENDING: the stalled-run sweep sends it again
        logger.exception("retry not sent; the stalled-run sweep will send it", extra={"run_id": run_id})
        return False
    return True
