"""Runs one automation (a persisted state machine), in three phases with no session held over a call.

1. Read the run. Stop if it is final or waiting for an approver; otherwise mark it RUNNING (attempts + 1).
2. With no session open, do the effect. Every effect is safe to repeat: a ticket is looked up by the
   run's idempotency key in the ITSM before one is created, a comment by the footer naming the run
   (``comment_marker``) before one is added; a group membership is checked before it is
   added; an unlock is a no-op on an unlocked account. A password reset cannot be looked up, so it is
   at most once: the run is marked as started before the call, and a run found started after a crash is
   failed with "please ask again" instead of resetting twice.
3. Write the outcome (state, result, the ticket of record) and tell the requester.

Retryable errors (ITSM or identity outages, 429) propagate so that the task retries with backoff; the
first one tells the requester, once per run, that the request is delayed and will be retried. On the
last attempt the run is FAILED and the requester told. Permanent errors fail the run at once. A ticket
create or comment add that got no answer may land later (the remote finishes what the client gave up
on): for a while after it the effect is only looked up, never written again (see ``_write_once``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, and_, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from connectors.errors import RateLimitedError, RemoteRejectedError
from connectors.interfaces import IdentityProvider, TicketSystem
from connectors.models import ExternalTicket, TicketDraft, TicketUrgency
from services.audit import repo as audit
from services.automations.models import AutomationKind, AutomationRun, AutomationState
from services.automations.notify import ApprovalButtons, Notifier
from services.common.config import AutomationsSettings
from services.common.db import session_scope, utcnow
from services.common.errors import PermanentError, RetryableError
from services.directory.models import Employee
from services.router.slots import load_software_catalog, match_software
from services.tickets.models import HandledBy, Ticket, TicketPriority, TicketStatus, TicketSystemKind
from services.worker.queues import LONGEST_TASK_S

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

APPROVAL_TTL = timedelta(days=3)
APPROVAL_REMINDER_AFTER = timedelta(days=1)
CLAIM_LEASE = timedelta(seconds=LONGEST_TASK_S + 60)
"""A RUNNING run whose holder has been silent this long is free to claim (the holder is dead)."""


@dataclass
class AutomationContext:
    """What the runner needs, built once per worker process."""

    session_factory: sessionmaker[Session]
    tickets: TicketSystem
    identity: IdentityProvider
    notifier: Notifier
    clock: Callable[[], datetime] = utcnow
    policy: AutomationsSettings = field(default_factory=AutomationsSettings)
    """Retries, and how long an unanswered ticket create is waited for."""


@dataclass(frozen=True)
class RunView:
    """A read-only copy of the run and its requester, taken in phase 1."""

    run_id: int
    kind: AutomationKind
    key: str
    params: dict[str, Any]
    state_before: AutomationState
    requester_id: int
    requester_email: str
    requester_name: str
    manager_id: int | None
    conversation_id: int | None
    result: dict[str, Any]

    @property
    def reference(self) -> str:
        return f"AR-{self.run_id}"


@dataclass
class Outcome:
    """What phase 2 decided."""

    state: AutomationState
    message: str
    result: dict[str, Any] = field(default_factory=dict)
    ticket: ExternalTicket | None = None
    ticket_draft: TicketDraft | None = None
    private_message: str | None = None


class RunFailedError(PermanentError):
    """A run ended FAILED (recorded and told)."""


class UnsettledWriteError(RetryableError):
    """An earlier ITSM write got no answer and may still land: look it up again later."""

    code = "ticket_write_unsettled"


class UnsettledCreateError(UnsettledWriteError):
    """An earlier ticket create got no answer and may still land."""

    code = "ticket_create_unsettled"


class UnsettledCommentError(UnsettledWriteError):
    """An earlier comment add got no answer and may still land."""

    code = "ticket_comment_unsettled"


def execute_run(
    ctx: AutomationContext, run_id: int, *, final_attempt: bool, claim: str = "inline"
) -> AutomationState:
    """Advance run ``run_id`` as far as it can go now; returns its state afterwards.

    ``claim`` names this delivery (the Celery task id: its retries and redeliveries share it)."""
    view = _start(ctx, run_id, claim)
    if view is None:
        with session_scope(ctx.session_factory) as db_session:
            run = db_session.get(AutomationRun, run_id)
            return run.state if run else AutomationState.FAILED
    try:
        outcome = _HANDLERS[view.kind](ctx, view)
    except RetryableError as exc:
        _record_error(ctx, run_id, exc)
        if not final_attempt:
            _tell_delayed(ctx, view, exc)
            raise
        outcome = Outcome(AutomationState.FAILED, _failure_text(view, "the system did not respond in time"))
    except PermanentError as exc:
        _record_error(ctx, run_id, exc)
        outcome = Outcome(AutomationState.FAILED, _failure_text(view, str(exc)[:200]))
    _finish(ctx, view, outcome)
    return outcome.state


# ---- phases ----------------------------------------------------------------------------------------


def _start(ctx: AutomationContext, run_id: int, claim: str) -> RunView | None:
    """Phase 1: claim the run atomically, or return None when there is nothing to do now.

    A run is claimable when it is PENDING or APPROVED, when ``claim`` already holds it (a retry or a
    redelivery of the same task), when the stalled-run sweep released it, or when its holder has been
    silent for longer than any task may run (the holder died). Two different deliveries of one run (a
    sweep re-send racing the original) can therefore never work on it at the same time.
    """
    now = ctx.clock()
    claimable = or_(
        AutomationRun.state.in_((AutomationState.PENDING, AutomationState.APPROVED)),
        and_(
            AutomationRun.state == AutomationState.RUNNING,
            or_(
                AutomationRun.claimed_by == claim,
                AutomationRun.claimed_by.is_(None),  # released by the stalled-run sweep
                AutomationRun.updated_at < now - CLAIM_LEASE,
            ),
        ),
    )
    with session_scope(ctx.session_factory) as db_session:
        before = db_session.execute(
            select(AutomationRun.state).where(AutomationRun.id == run_id)
        ).scalar_one_or_none()
        claimed = cast(
            "CursorResult[Any]",
            db_session.execute(
                update(AutomationRun)
                .where(AutomationRun.id == run_id, claimable)
                .values(
                    state=AutomationState.RUNNING,
                    attempts=AutomationRun.attempts + 1,
                    claimed_by=claim,
                    updated_at=now,
                    started_at=func.coalesce(AutomationRun.started_at, now),
                )
                .execution_options(synchronize_session=False)
            ),
        ).rowcount
        if not claimed or before is None:
            logger.info("automation run not claimable now", extra={"run_id": run_id, "state": str(before)})
            return None
        run = db_session.get(AutomationRun, run_id)
        assert run is not None
        db_session.refresh(run)
        requester = db_session.get(Employee, run.requester_id)
        assert requester is not None
        view = RunView(
            run_id=run.id,
            kind=run.kind,
            key=run.idempotency_key,
            params=dict(run.params or {}),
            state_before=before,
            requester_id=requester.id,
            requester_email=requester.email,
            requester_name=requester.display_name,
            manager_id=requester.manager_id,
            conversation_id=run.conversation_id,
            result=dict(run.result or {}),
        )
        audit.record(
            db_session,
            action="automation.started",
            target_type="automation_run",
            target_id=run.id,
            details={"kind": run.kind.value, "attempt": run.attempts, "from": before.value},
        )
    return view


def _mark(ctx: AutomationContext, run_id: int, **values: Any) -> None:
    """Merge ``values`` into the run's result now (None removes a key), in its own transaction."""
    with session_scope(ctx.session_factory) as db_session:
        run = db_session.get(AutomationRun, run_id)
        assert run is not None
        result = {**(run.result or {}), **values}
        run.result = {k: v for k, v in result.items() if v is not None}


def _finish(ctx: AutomationContext, view: RunView, outcome: Outcome) -> None:
    """Write the outcome and the notice to send. A secret is delivered now, in a DM, and never stored."""
    if outcome.private_message:
        try:
            ctx.notifier.tell_requester(
                employee_id=view.requester_id,
                conversation_id=view.conversation_id,
                text=outcome.private_message,
                private=True,
            )
        except Exception as exc:  # noqa: BLE001 - the secret cannot be kept for a retry
            logger.warning(
                "private notice not delivered", extra={"run_id": view.run_id, "error": type(exc).__name__}
            )
            outcome = Outcome(
                AutomationState.FAILED,
                "I reset your password but couldn't send you the details privately. Please ask me again.",
                result={"undelivered": True},
            )
    with session_scope(ctx.session_factory) as db_session:
        run = db_session.get(AutomationRun, view.run_id)
        assert run is not None
        if outcome.ticket is not None:
            ticket = _upsert_ticket(db_session, view, outcome)
            run.ticket_id = ticket.id
        run.state = outcome.state
        run.result = {**(run.result or {}), **outcome.result, "notice": outcome.message}
        if outcome.state is AutomationState.AWAITING_APPROVAL:
            run.approval_expires_at = ctx.clock() + APPROVAL_TTL
        if outcome.state.is_final:
            run.finished_at = ctx.clock()
        audit.record(
            db_session,
            action=f"automation.{outcome.state.value}",
            target_type="automation_run",
            target_id=run.id,
            details={
                "kind": run.kind.value,
                "ticket": outcome.ticket.external_key if outcome.ticket else None,
                **{k: v for k, v in outcome.result.items() if k in _AUDITED_RESULT_KEYS},
            },
        )


_AUDITED_RESULT_KEYS = frozenset(
    {"software", "group", "added_now", "fallback", "provider", "interrupted", "unlocked"}
)


def send_notice(ctx: AutomationContext, run_id: int) -> bool:
    """Tell the requester the run's current notice, once per state; False when there was nothing new."""
    with session_scope(ctx.session_factory) as db_session:
        run = db_session.get(AutomationRun, run_id)
        if run is None:
            return False
        result = dict(run.result or {})
        notice, state = result.get("notice"), run.state.value
        if not notice or result.get("notified") == state:
            return False
        requester_id, conversation_id = run.requester_id, run.conversation_id
    ctx.notifier.tell_requester(employee_id=requester_id, conversation_id=conversation_id, text=str(notice))
    _mark(ctx, run_id, notified=state)
    return True


def _record_error(ctx: AutomationContext, run_id: int, exc: Exception) -> None:
    with session_scope(ctx.session_factory) as db_session:
        run = db_session.get(AutomationRun, run_id)
        if run is not None:
            run.last_error = f"{type(exc).__name__}: {exc}"[:1000]
            audit.record(
                db_session,
                action="automation.attempt_failed",
                target_type="automation_run",
                target_id=run_id,
                details={"error": type(exc).__name__, "attempt": run.attempts},
            )
    logger.warning("automation attempt failed", extra={"run_id": run_id, "error": type(exc).__name__})


def _tell_delayed(ctx: AutomationContext, view: RunView, exc: RetryableError) -> None:
    """Tell the requester that an outage delays the run, at most once per run: the flag is set (atomically)
    before the notice is sent, so retries, redeliveries and crashes never repeat it."""
    with session_scope(ctx.session_factory) as db_session:
        claimed = cast(
            "CursorResult[Any]",
            db_session.execute(
                update(AutomationRun)
                .where(AutomationRun.id == view.run_id, AutomationRun.delay_notified_at.is_(None))
                .values(delay_notified_at=ctx.clock())
                .execution_options(synchronize_session=False)
            ),
        ).rowcount
        if not claimed:
            return
        audit.record(
            db_session,
            action="automation.delayed",
            target_type="automation_run",
            target_id=view.run_id,
            details={"error": type(exc).__name__},
        )
    try:
        ctx.notifier.tell_requester(
            employee_id=view.requester_id,
            conversation_id=view.conversation_id,
            text=_delay_text(ctx, view, exc),
        )
    except Exception as error:  # noqa: BLE001 - the run's retry matters more than this notice
        logger.warning(
            "delay notice not delivered", extra={"run_id": view.run_id, "error": type(error).__name__}
        )


_TICKET_KINDS = frozenset(
    {AutomationKind.CREATE_TICKET, AutomationKind.HARDWARE_REQUEST, AutomationKind.MFA_RESET}
)


def _delay_text(ctx: AutomationContext, view: RunView, exc: RetryableError) -> str:
    """The delay notice: which system is not responding, and that the run goes on."""
    system = getattr(exc, "system", None)
    if isinstance(exc, UnsettledWriteError) or system == ctx.tickets.system:
        what = "The ticket system"
    elif system == ctx.identity.system:
        what = "The account directory"
    else:
        what = "A system I need"
    if view.kind in _TICKET_KINDS:
        when = "your ticket is created"
    elif view.kind is AutomationKind.ADD_COMMENT:
        when = "your comment is on the ticket"
    else:
        when = "it's done"
    return (
        f"{what} isn't responding right now, so your request {view.reference} is delayed. "
        f"I'll keep trying and tell you here when {when}."
    )


def _upsert_ticket(db_session: Session, view: RunView, outcome: Outcome) -> Ticket:
    external = outcome.ticket
    assert external is not None
    system = TicketSystemKind(external.system)
    ticket = db_session.scalar(
        select(Ticket).where(Ticket.system == system, Ticket.external_key == external.external_key)
    )
    if ticket is None:
        draft = outcome.ticket_draft
        ticket = Ticket(
            system=system,
            external_key=external.external_key,
            idempotency_key=view.key,
            title=external.title,
            description=draft.description if draft else "",
            category=draft.category if draft else None,
            priority=TicketPriority(draft.urgency.value) if draft else TicketPriority.NORMAL,
            requester_id=view.requester_id,
            conversation_id=view.conversation_id,
        )
        db_session.add(ticket)
    ticket.url = external.url
    ticket.status = TicketStatus(external.status.value)
    ticket.vendor_status = external.vendor_status
    if external.status.value in ("resolved", "closed"):
        ticket.resolved_at = ticket.resolved_at or utcnow()
        ticket.resolution_text = external.resolution
        ticket.handled_by = HandledBy.BOT  # resolved by this automation, not by an agent
    db_session.flush()
    return ticket


# ---- effects ---------------------------------------------------------------------------------------


def _write_once(
    ctx: AutomationContext,
    view: RunView,
    *,
    look_up: Callable[[], _T | None],
    write: Callable[[], _T],
    unanswered_key: str,
    unsettled: type[UnsettledWriteError],
    what: str,
) -> _T:
    """The effect of a non-idempotent ITSM write, found by ``look_up``, else done by ``write`` (once).

    A write that got no answer (a timeout, a 5xx, a dropped connection) may have been applied, even after
    the client gave up. Its time is recorded in the run's result under ``unanswered_key``, and until
    ``create_settle_s`` later the effect is only looked up (``unsettled`` retries the run), never written
    again. A 429 was refused, not applied: it is not recorded."""
    found = look_up()
    if found is not None:
        return found
    unanswered = view.result.get(unanswered_key)
    if unanswered:
        left = ctx.policy.create_settle_s - (ctx.clock() - datetime.fromisoformat(unanswered)).total_seconds()
        if left > 0:
            raise unsettled(
                f"{ctx.tickets.system}: an unanswered {what} may still land; looked up again in {left:.1f} s",
                retry_after_s=left,
            )
    try:
        return write()
    except RateLimitedError:
        raise  # refused: not applied
    except RetryableError:
        _mark(ctx, view.run_id, **{unanswered_key: ctx.clock().isoformat()})
        raise


def _ensure_ticket(ctx: AutomationContext, view: RunView, draft: TicketDraft) -> ExternalTicket:
    """The run's ticket: found by its idempotency key, else created with it (exactly once, see
    ``_write_once``; an unanswered create is recorded as ``create_unanswered_at``)."""
    return _write_once(
        ctx,
        view,
        look_up=lambda: ctx.tickets.find_by_idempotency_key(view.key),
        write=lambda: ctx.tickets.create_ticket(draft, idempotency_key=view.key),
        unanswered_key="create_unanswered_at",
        unsettled=UnsettledCreateError,
        what="create",
    )


def _ticket_outcome(
    ctx: AutomationContext,
    view: RunView,
    draft: TicketDraft,
    message: Callable[[ExternalTicket], str],
    **result: Any,
) -> Outcome:
    """The run's ticket (found or created once), and the notice that names it."""
    ticket = _ensure_ticket(ctx, view, draft)
    return Outcome(
        AutomationState.SUCCEEDED,
        message(ticket),
        result={"ticket": ticket.external_key, **result},
        ticket=ticket,
        ticket_draft=draft,
    )


def _draft(view: RunView, title: str, description: str, *, category: str | None = None) -> TicketDraft:
    urgency = str(view.params.get("urgency") or "normal").lower()
    return TicketDraft(
        title=title[:255] or "Request from Deskpilot",
        description=f"{description}\n\nRequested through Deskpilot ({view.reference}).",
        requester_email=view.requester_email,
        requester_name=view.requester_name,
        urgency=TicketUrgency(urgency)
        if urgency in TicketUrgency.__members__.values()
        else TicketUrgency.NORMAL,
        category=category,
        labels=("deskpilot", view.kind.value),
    )


def _create_ticket(ctx: AutomationContext, view: RunView) -> Outcome:
    description = str(view.params.get("description") or view.params.get("title") or "").strip()
    title = str(view.params.get("title") or description.split("\n")[0][:120]).strip()
    draft = _draft(view, title, description, category=str(view.params.get("category") or "") or None)
    return _ticket_outcome(
        ctx,
        view,
        draft,
        lambda ticket: f"Your ticket {ticket.external_key} is open: {title}. {ticket.url or ''}".strip(),
    )


def _hardware_request(ctx: AutomationContext, view: RunView) -> Outcome:
    item = str(view.params.get("hardware_item") or "hardware").strip()
    draft = _draft(
        view, f"Hardware request: {item}", f"{view.requester_name} asks for: {item}.", category="hardware"
    )
    return _ticket_outcome(
        ctx,
        view,
        draft,
        lambda ticket: (
            f"Your hardware request is with IT as {ticket.external_key} ({item}). "
            "I'll tell you when it moves."
        ),
    )


def _fallback_ticket(ctx: AutomationContext, view: RunView, what: str, why: str) -> Outcome:
    """When the identity provider cannot do it, IT gets a ticket (the employee is told which)."""
    draft = _draft(view, f"{what} for {view.requester_name}", f"{what} requested. Not automated: {why}.")
    return _ticket_outcome(
        ctx,
        view,
        draft,
        lambda ticket: (
            f"I can't do that automatically here, so I've asked IT in ticket {ticket.external_key}."
        ),
        fallback=why[:200],
    )


def _password_reset(ctx: AutomationContext, view: RunView) -> Outcome:
    if view.result.get("reset_started"):
        # A previous attempt may have reset the password and died before telling: never reset twice.
        return Outcome(
            AutomationState.FAILED,
            "Something interrupted your password reset and I can't tell whether it went through. "
            "Please ask me again for a fresh link.",
            result={"interrupted": True},
        )
    user = ctx.identity.find_user(view.requester_email)
    if user is None:
        return Outcome(AutomationState.FAILED, "I couldn't find your account in the directory. IT can help.")
    _mark(ctx, view.run_id, reset_started=True)  # committed before the call: a crash now fails safe
    try:
        reset = ctx.identity.reset_password(user.user_id)
    except RemoteRejectedError as exc:
        _mark(ctx, view.run_id, reset_started=None)
        return _fallback_ticket(ctx, view, "Password reset", str(exc))
    except RetryableError:
        _mark(ctx, view.run_id, reset_started=None)  # refused (429/5xx): nothing was reset
        raise
    secret = (
        f"Here is your one-time password reset link: {reset.reset_url}"
        if reset.reset_url
        else f"Your temporary password is {reset.temporary_password} — you'll choose a new one at sign-in."
    )
    return Outcome(
        AutomationState.SUCCEEDED,
        "Your password reset is done; I've sent the details to you in a direct message.",
        result={"provider": ctx.identity.system},
        private_message=secret,
    )


def _account_unlock(ctx: AutomationContext, view: RunView) -> Outcome:
    user = ctx.identity.find_user(view.requester_email)
    if user is None:
        return Outcome(AutomationState.FAILED, "I couldn't find your account in the directory. IT can help.")
    try:
        ctx.identity.unlock(user.user_id)
    except RemoteRejectedError as exc:
        return _fallback_ticket(ctx, view, "Account unlock", str(exc))
    return Outcome(
        AutomationState.SUCCEEDED,
        "Your account is unlocked. Try signing in again.",
        result={"unlocked": True},
    )


def _access(ctx: AutomationContext, view: RunView) -> Outcome:
    """Software access: catalog → manager approval (when required) → group membership → resolved ticket."""
    wanted = str(view.params.get("software") or view.params.get("resource") or "").strip()
    match = match_software(wanted, load_software_catalog()) if wanted else None
    if match is None or not match.title.license_group:
        draft = _draft(view, f"Access request: {wanted or 'unspecified'}", f"Access requested to {wanted}.")
        return _ticket_outcome(
            ctx,
            view,
            draft,
            lambda ticket: f"I've passed your access request to IT as {ticket.external_key}.",
        )
    title, group = match.title, match.title.license_group
    needs_approval = title.approval == "manager" and view.state_before is not AutomationState.APPROVED
    if needs_approval:
        if view.manager_id is None:
            return _fallback_ticket(ctx, view, f"{title.name} access", "no line manager on record to approve")
        ctx.notifier.ask_approver(
            approver_id=view.manager_id,
            text=f"{view.requester_name} asks for {title.name} ({view.reference}). Approve?",
            buttons=ApprovalButtons(view.run_id),
        )
        return Outcome(
            AutomationState.AWAITING_APPROVAL,
            f"I've asked your manager to approve {title.name}. I'll tell you as soon as they decide.",
            result={"software": title.name, "group": title.license_group},
        )
    user = ctx.identity.find_user(view.requester_email)
    if user is None:
        return Outcome(AutomationState.FAILED, "I couldn't find your account in the directory. IT can help.")
    added = ctx.identity.add_to_group(user.user_id, group)
    draft = _draft(
        view,
        f"{title.name} access for {view.requester_name}",
        f"Granted by Deskpilot: {view.requester_email} added to {title.license_group}.",
        category="software",
    )
    ticket = _ensure_ticket(ctx, view, draft)
    ticket = ctx.tickets.resolve_ticket(ticket.external_key, f"Added to {title.license_group} by Deskpilot.")
    return Outcome(
        AutomationState.SUCCEEDED,
        f"{title.name} is yours: you're in {title.license_group} (ticket {ticket.external_key}, resolved). "
        "It can take a few minutes to appear.",
        result={"software": title.name, "group": title.license_group, "added_now": added},
        ticket=ticket,
        ticket_draft=draft,
    )


def _add_comment(ctx: AutomationContext, view: RunView) -> Outcome:
    key = str(view.params.get("ticket_number") or "").strip()
    comment = str(view.params.get("comment") or "").strip()
    if not key or not comment:
        return Outcome(AutomationState.FAILED, "I need a ticket number and a comment to add.")
    if view.result.get("comment_id"):
        return Outcome(AutomationState.SUCCEEDED, f"Your comment is on {key}.")
    marker = comment_marker(view.reference)
    added = _write_once(
        ctx,
        view,
        look_up=lambda: ctx.tickets.find_comment(key, marker),
        write=lambda: ctx.tickets.add_comment(key, f"{comment}\n\n{marker}", public=True),
        unanswered_key="comment_unanswered_at",
        unsettled=UnsettledCommentError,
        what="comment",
    )
    return Outcome(
        AutomationState.SUCCEEDED,
        f"I've added your comment to {key}.",
        result={"comment_id": added.external_id},
    )


def comment_marker(reference: str) -> str:
    """The footer that identifies run ``reference``'s comment on the ticket (found again after a lost
    answer)."""
    return f"(sent from Deskpilot, request {reference})"


def has_effect(kind: AutomationKind) -> bool:
    """True when runs of ``kind`` do something the runner can (re)execute (lookups only record)."""
    return kind in _HANDLERS


def _failure_text(view: RunView, why: str) -> str:
    return f"Sorry, I couldn't complete your request {view.reference}: {why}. IT can help if it's urgent."


_HANDLERS: dict[AutomationKind, Callable[[AutomationContext, RunView], Outcome]] = {
    AutomationKind.CREATE_TICKET: _create_ticket,
    AutomationKind.HARDWARE_REQUEST: _hardware_request,
    AutomationKind.PASSWORD_RESET: _password_reset,
    AutomationKind.ACCOUNT_UNLOCK: _account_unlock,
    AutomationKind.MFA_RESET: lambda ctx, view: _fallback_ticket(
        ctx, view, "MFA reset", "MFA resets need an IT agent to verify identity"
    ),
    AutomationKind.SOFTWARE_ACCESS: _access,
    AutomationKind.ACCESS_REQUEST: _access,
    AutomationKind.ADD_COMMENT: _add_comment,
}
