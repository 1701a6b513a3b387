"""The built-in ticket store as a service desk works it: the queue, one ticket, and the agent's actions.

Each action is one short transaction with an audit entry. A status change is a conditional UPDATE from
the status the agent saw, so two agents pressing "Resolve" together change it once and only the winner
tells the requester, with the same notice as an ITSM webhook or poll (``sync.status_notice``). Public
comments reach the requester; internal notes never do.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, case, func, or_, select, update
from sqlalchemy.orm import Session, selectinload, sessionmaker

from services.audit import repo as audit
from services.automations.models import AutomationRun
from services.automations.notify import Notifier
from services.common.db import session_scope, utcnow
from services.common.errors import NotFoundError, PermanentError
from services.common.listing import FilterError, Page, enum_filter, escape_like
from services.directory.models import Employee, EmployeeRole, Role
from services.tickets.models import (
    HandledBy,
    Ticket,
    TicketComment,
    TicketPriority,
    TicketStatus,
    TicketSystemKind,
)
from services.tickets.sync import status_notice

logger = logging.getLogger(__name__)

TARGET_TYPE = "ticket"
MAX_COMMENT = 10_000
MAX_RESOLUTION = 5_000
STATUS_LABELS = {
    TicketStatus.NEW: "New",
    TicketStatus.OPEN: "In progress",
    TicketStatus.PENDING: "Waiting",
    TicketStatus.RESOLVED: "Resolved",
    TicketStatus.CLOSED: "Closed",
    TicketStatus.CANCELLED: "Cancelled",
}
ACTIVE = (TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING)
_TRANSITIONS: dict[TicketStatus, tuple[TicketStatus, ...]] = {
    TicketStatus.NEW: (TicketStatus.OPEN, TicketStatus.PENDING, TicketStatus.RESOLVED),
    TicketStatus.OPEN: (TicketStatus.PENDING, TicketStatus.RESOLVED),
    TicketStatus.PENDING: (TicketStatus.OPEN, TicketStatus.RESOLVED),
    TicketStatus.RESOLVED: (TicketStatus.OPEN,),  # reopen
    TicketStatus.CLOSED: (),
    TicketStatus.CANCELLED: (),
}
_SORTS = {
    "newest": (Ticket.opened_at.desc(), Ticket.id.desc()),
    "oldest": (Ticket.opened_at.asc(), Ticket.id.asc()),
    "updated": (Ticket.updated_at.desc(), Ticket.id.desc()),
    "priority": (
        case(
            (Ticket.priority == TicketPriority.URGENT, 0),
            (Ticket.priority == TicketPriority.HIGH, 1),
            (Ticket.priority == TicketPriority.NORMAL, 2),
            else_=3,
        ),
        Ticket.opened_at.asc(),
        Ticket.id.asc(),
    ),
}


class TicketConflictError(PermanentError):
    """The action does not fit the ticket's current state (the message says why)."""

    http_status = 409
    code = "ticket_conflict"


class TicketInputError(PermanentError):
    """The form is missing something the action needs."""


def status_label(status: TicketStatus) -> str:
    """How the agent view names ``status``."""
    return STATUS_LABELS[status]


def next_statuses(status: TicketStatus) -> tuple[TicketStatus, ...]:
    """Where an agent may move a ticket from ``status``."""
    return _TRANSITIONS[status]


@dataclass(frozen=True)
class TicketFilters:
    """What the queue is narrowed to: ``status`` is ``active``, ``any`` or a status; ``assignee`` is
    ``any``, ``me``, ``none`` or an employee id."""

    status: str = "active"
    priority: TicketPriority | None = None
    assignee: str = "any"
    text: str = ""
    sort: str = "newest"

    @classmethod
    def parse(cls, raw: Mapping[str, str]) -> TicketFilters:
        """Filters from query parameters; ``FilterError`` names a bad value."""
        status = raw.get("status") or "active"
        if status not in ("active", "any"):
            status = cast(TicketStatus, enum_filter(status, TicketStatus, "status")).value
        assignee = raw.get("assignee") or "any"
        if assignee not in ("any", "me", "none") and not assignee.isdigit():
            raise FilterError(f"Unknown assignee {assignee[:40]!r}.")
        sort = raw.get("sort") or "newest"
        if sort not in _SORTS:
            raise FilterError(f"Unknown sort order {sort[:40]!r}.")
        return cls(
            status=status,
            priority=enum_filter(raw.get("priority"), TicketPriority, "priority"),
            assignee=assignee,
            text=(raw.get("q") or "").strip()[:200],
            sort=sort,
        )

    def conditions(self, agent_id: int) -> list[ColumnElement[bool]]:
        """SQL conditions (the query joins the requester as ``Employee``)."""
        conditions: list[ColumnElement[bool]] = [Ticket.system == TicketSystemKind.BUILTIN]
        if self.status == "active":
            conditions.append(Ticket.status.in_(ACTIVE))
        elif self.status != "any":
            conditions.append(Ticket.status == TicketStatus(self.status))
        if self.priority is not None:
            conditions.append(Ticket.priority == self.priority)
        if self.assignee == "me":
            conditions.append(Ticket.assignee_id == agent_id)
        elif self.assignee == "none":
            conditions.append(Ticket.assignee_id.is_(None))
        elif self.assignee.isdigit():
            conditions.append(Ticket.assignee_id == int(self.assignee))
        if self.text:
            pattern = f"%{escape_like(self.text.lower())}%"
            searched = (
                Ticket.title,
                Ticket.description,
                Ticket.external_key,
                Employee.email,
                Employee.display_name,
            )
            conditions.append(or_(*(func.lower(column).like(pattern, escape="\\") for column in searched)))
        return conditions


@dataclass(frozen=True)
class TicketRow:
    """One line of the queue."""

    key: str
    title: str
    status: str
    status_label: str
    priority: str
    requester_name: str
    assignee_name: str | None
    opened_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class CommentView:
    """A comment as the agent sees it."""

    author: str
    body: str
    internal: bool
    at: datetime


@dataclass(frozen=True)
class TicketDetail:
    """Everything the ticket page shows."""

    key: str
    title: str
    description: str
    category: str | None
    priority: str
    status: str
    status_label: str
    requester_name: str
    requester_email: str
    assignee_id: int | None
    assignee_name: str | None
    conversation_id: int | None
    handled_by: str | None
    opened_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    resolution: str | None
    next_statuses: list[tuple[str, str]]
    comments: list[CommentView] = field(default_factory=list)
    runs: list[tuple[int, str, str]] = field(default_factory=list)
    history: list[audit.TrailEntry] = field(default_factory=list)

    @property
    def is_open_for_work(self) -> bool:
        """False once closed or cancelled (nothing more to do)."""
        return self.status not in (TicketStatus.CLOSED.value, TicketStatus.CANCELLED.value)


def list_tickets(db_session: Session, filters: TicketFilters, *, agent_id: int, page: int) -> Page[TicketRow]:
    """Built-in tickets matching ``filters``, one page of them."""
    conditions = filters.conditions(agent_id)
    joined = select(func.count(Ticket.id)).join(Employee, Employee.id == Ticket.requester_id)
    total = db_session.scalar(joined.where(*conditions)) or 0
    empty: Page[TicketRow] = Page([], total, page)
    tickets = db_session.scalars(
        select(Ticket)
        .join(Employee, Employee.id == Ticket.requester_id)
        .where(*conditions)
        .options(selectinload(Ticket.requester), selectinload(Ticket.assignee))
        .order_by(*_SORTS[filters.sort])
        .offset(empty.offset)
        .limit(empty.size)
    )
    rows = [
        TicketRow(
            key=t.external_key,
            title=t.title,
            status=t.status.value,
            status_label=status_label(t.status),
            priority=t.priority.value,
            requester_name=t.requester.display_name,
            assignee_name=t.assignee.display_name if t.assignee else None,
            opened_at=t.opened_at,
            updated_at=t.updated_at,
        )
        for t in tickets
    ]
    return Page(rows, total, page)


def list_agents(db_session: Session) -> list[tuple[int, str]]:
    """Active IT admins (the people tickets can be assigned to), by name."""
    return [
        (agent_id, name)
        for agent_id, name in db_session.execute(
            select(Employee.id, Employee.display_name)
            .join(EmployeeRole, EmployeeRole.employee_id == Employee.id)
            .where(EmployeeRole.role == Role.ADMIN, Employee.is_active.is_(True))
            .order_by(Employee.display_name, Employee.id)
        )
    ]


def _builtin_ticket(db_session: Session, key: str) -> Ticket:
    ticket = db_session.scalar(
        select(Ticket).where(Ticket.system == TicketSystemKind.BUILTIN, Ticket.external_key == key)
    )
    if ticket is None:
        raise NotFoundError(f"There is no ticket {key[:100]}.")
    return ticket


def load_ticket(db_session: Session, key: str) -> TicketDetail:
    """The ticket page's content (``NotFoundError`` when the built-in store has no such ticket)."""
    ticket = _builtin_ticket(db_session, key)
    authors = {c.author_id for c in ticket.comments if c.author_id is not None}
    names = (
        dict(
            db_session.execute(
                select(Employee.id, Employee.display_name).where(Employee.id.in_(authors))
            ).all()
        )
        if authors
        else {}
    )
    runs = db_session.execute(
        select(AutomationRun.id, AutomationRun.kind, AutomationRun.state)
        .where(AutomationRun.ticket_id == ticket.id)
        .order_by(AutomationRun.id)
    ).all()
    return TicketDetail(
        key=ticket.external_key,
        title=ticket.title,
        description=ticket.description,
        category=ticket.category,
        priority=ticket.priority.value,
        status=ticket.status.value,
        status_label=status_label(ticket.status),
        requester_name=ticket.requester.display_name,
        requester_email=ticket.requester.email,
        assignee_id=ticket.assignee_id,
        assignee_name=ticket.assignee.display_name if ticket.assignee else None,
        conversation_id=ticket.conversation_id,
        handled_by=ticket.handled_by.value if ticket.handled_by else None,
        opened_at=ticket.opened_at,
        updated_at=ticket.updated_at,
        resolved_at=ticket.resolved_at,
        resolution=ticket.resolution_text,
        next_statuses=[(s.value, status_label(s)) for s in next_statuses(ticket.status)],
        comments=[
            CommentView(
                author=names.get(c.author_id, c.author_label) if c.author_id else c.author_label,
                body=c.body,
                internal=c.is_internal,
                at=c.created_at,
            )
            for c in ticket.comments
        ],
        runs=[(run_id, kind.value, state.value) for run_id, kind, state in runs],
        history=audit.trail_of(db_session, target_type=TARGET_TYPE, target_id=ticket.id),
    )


def _audit(db_session: Session, ticket: Ticket, action: str, actor_id: int, **details: Any) -> None:
    audit.record(
        db_session,
        action=action,
        target_type=TARGET_TYPE,
        target_id=ticket.id,
        actor_id=actor_id,
        actor_label=f"employee:{actor_id}",
        details={"key": ticket.external_key, **details},
    )


def ticket_assign_flow(
    session_factory: sessionmaker[Session], key: str, *, assignee_id: int, actor_id: int
) -> bool:
    """Assign the ticket to ``assignee_id`` (an active IT admin); False when it already was."""
    with session_scope(session_factory) as db_session:
        ticket = _builtin_ticket(db_session, key)
        if ticket.status in (TicketStatus.CLOSED, TicketStatus.CANCELLED):
            raise TicketConflictError(
                f"{key} is {status_label(ticket.status).lower()}; it needs no assignee."
            )
        if assignee_id not in {agent_id for agent_id, _ in list_agents(db_session)}:
            raise TicketInputError("Tickets can only be assigned to an active IT admin.")
        if ticket.assignee_id == assignee_id:
            return False
        previous, ticket.assignee_id = ticket.assignee_id, assignee_id
        _audit(db_session, ticket, "ticket.assigned", actor_id, assignee_id=assignee_id, previous=previous)
    return True


def _status_values(target: TicketStatus, resolution: str | None, actor_id: int) -> dict[str, Any]:
    now = utcnow()
    values: dict[str, Any] = {"status": target, "vendor_status": target.value, "updated_at": now}
    if target is TicketStatus.RESOLVED:
        values.update(
            resolved_at=now,
            resolution_text=resolution,
            handled_by=HandledBy.AGENT,
            assignee_id=func.coalesce(Ticket.assignee_id, actor_id),
        )
    else:  # back to work (a reopen included): the ticket is no longer resolved
        values.update(resolved_at=None, resolution_text=None, handled_by=None)
    return values


def ticket_status_flow(
    session_factory: sessionmaker[Session],
    notifier: Notifier,
    key: str,
    *,
    seen: TicketStatus,
    target: TicketStatus,
    resolution: str | None,
    actor_id: int,
) -> bool:
    """Move the ticket from ``seen`` (what the agent saw) to ``target`` and tell the requester once.

    Returns whether the requester was told (False when delivery failed; the change stands).
    ``TicketConflictError`` when the move is not allowed or the ticket changed meanwhile;
    ``TicketInputError`` when resolving without a resolution.
    """
    resolution = (resolution or "").strip() or None
    if target is TicketStatus.RESOLVED and resolution is None:
        raise TicketInputError("Write the resolution before resolving: the requester reads it.")
    if resolution is not None and len(resolution) > MAX_RESOLUTION:
        raise TicketInputError(f"The resolution is too long (at most {MAX_RESOLUTION} characters).")
    if target not in next_statuses(seen):
        raise TicketConflictError(
            f"A ticket that is {status_label(seen)} cannot be set to {status_label(target)}."
        )
    with session_scope(session_factory) as db_session:
        ticket = _builtin_ticket(db_session, key)
        changed = cast(
            "CursorResult[Any]",
            db_session.execute(
                update(Ticket)
                .where(Ticket.id == ticket.id, Ticket.status == seen)
                .values(
                    **_status_values(
                        target, resolution if target is TicketStatus.RESOLVED else None, actor_id
                    )
                )
                .execution_options(synchronize_session=False)
            ),
        ).rowcount
        if not changed:
            db_session.refresh(ticket)
            raise TicketConflictError(
                f"{key} changed while you were looking: it is now {status_label(ticket.status)}. "
                "Reload the page and try again."
            )
        _audit(
            db_session, ticket, "ticket.status_changed", actor_id, **{"from": seen.value, "to": target.value}
        )
        requester_id, conversation_id, title = ticket.requester_id, ticket.conversation_id, ticket.title
    return _tell(notifier, requester_id, conversation_id, status_notice(key, title, target, resolution))


def ticket_comment_flow(
    session_factory: sessionmaker[Session],
    notifier: Notifier,
    key: str,
    *,
    body: str,
    public: bool,
    actor_id: int,
) -> bool:
    """Add the agent's comment; a public one is told to the requester. Returns whether someone was told."""
    body = body.strip()
    if not body:
        raise TicketInputError("Write the comment first.")
    if len(body) > MAX_COMMENT:
        raise TicketInputError(f"The comment is too long (at most {MAX_COMMENT} characters).")
    with session_scope(session_factory) as db_session:
        ticket = _builtin_ticket(db_session, key)
        author = db_session.get_one(Employee, actor_id)
        comment = TicketComment(
            ticket_id=ticket.id,
            author_id=actor_id,
            author_label=author.display_name,
            body=body,
            is_internal=not public,
        )
        db_session.add(comment)
        db_session.flush()
        comment.external_id = str(comment.id)
        ticket.updated_at = utcnow()
        _audit(db_session, ticket, "ticket.commented", actor_id, comment_id=comment.id, internal=not public)
        requester_id, conversation_id, title = ticket.requester_id, ticket.conversation_id, ticket.title
    if not public:
        return False
    return _tell(
        notifier, requester_id, conversation_id, f"IT replied on your ticket {key} ({title}): {body}"
    )


def _tell(notifier: Notifier, employee_id: int, conversation_id: int | None, text: str) -> bool:
    """Tell the requester; a delivery failure is logged and reported, never undoes the change."""
    try:
        notifier.tell_requester(employee_id=employee_id, conversation_id=conversation_id, text=text)
    except Exception:  # noqa: BLE001 - the agent is shown that the requester was not told
        logger.exception("requester not told about a ticket change", extra={"employee_id": employee_id})
        return False
    return True
