"""Browsing conversations in the admin app: filtered, paginated list and one transcript.

Every filter is applied in SQL (``EXISTS`` over messages and feedback), so the page costs two queries
whatever the volume: one for the page of conversations, one for their per-conversation figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, exists, func, select
from sqlalchemy.orm import Session, selectinload

from services.automations.models import AutomationRun
from services.conversations.models import (
    AnswerOutcome,
    Channel,
    Conversation,
    ConversationStatus,
    Feedback,
    FeedbackRating,
    Handoff,
    Message,
    MessageRole,
)
from services.directory.models import Employee
from services.router.routes import Route
from services.tickets.models import Ticket

PAGE_SIZE = 25


@dataclass(frozen=True)
class ConversationFilters:
    """What the list is narrowed to; None means any."""

    date_from: date | None = None
    date_to: date | None = None
    channel: Channel | None = None
    intent: str | None = None
    route: Route | None = None
    outcome: AnswerOutcome | None = None
    rating: FeedbackRating | None = None
    text: str | None = None


@dataclass(frozen=True)
class ConversationRow:
    """One line of the list."""

    id: int
    started_at: datetime
    employee: str
    channel: Channel
    status: ConversationStatus
    first_message: str
    messages: int
    intents: list[str]
    routes: list[str]
    outcomes: list[str]
    max_latency_ms: int | None
    helpful: int
    not_helpful: int


@dataclass(frozen=True)
class ConversationPage:
    """A page of the list and how many conversations match in all."""

    rows: list[ConversationRow]
    total: int
    page: int
    pages: int


@dataclass
class Transcript:
    """A conversation with everything an admin checks: turns, feedback, handoff, tickets, automations."""

    conversation: Conversation
    employee: Employee
    messages: list[Message]
    handoff: Handoff | None
    tickets: list[Ticket]
    runs: list[AutomationRun]
    feedback: dict[int, list[Feedback]] = field(default_factory=dict)


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


def _filtered(filters: ConversationFilters) -> Select[Any]:
    """Ids of the conversations matching ``filters``."""
    query = select(Conversation.id)
    if filters.date_from is not None:
        query = query.where(Conversation.started_at >= datetime.combine(filters.date_from, time(), UTC))
    if filters.date_to is not None:
        end = datetime.combine(filters.date_to + timedelta(days=1), time(), UTC)
        query = query.where(Conversation.started_at < end)
    if filters.channel is not None:
        query = query.where(Conversation.channel == filters.channel)
    message_conditions = {
        "intent": Message.intent == filters.intent if filters.intent else None,
        "route": Message.route == filters.route if filters.route else None,
        "outcome": Message.outcome == filters.outcome if filters.outcome else None,
        "text": func.lower(Message.text).like(_like_pattern(filters.text), escape="\\")
        if filters.text
        else None,
    }
    for condition in message_conditions.values():
        if condition is not None:
            query = query.where(exists().where(Message.conversation_id == Conversation.id, condition))
    if filters.rating is not None:
        query = query.where(
            exists()
            .where(Message.conversation_id == Conversation.id)
            .where(Feedback.message_id == Message.id, Feedback.rating == filters.rating)
        )
    return query


def search_conversations(
    *, db_session: Session, filters: ConversationFilters, page: int = 1, page_size: int = PAGE_SIZE
) -> ConversationPage:
    """The ``page``-th page (newest first) of conversations matching ``filters``."""
    matching = _filtered(filters).subquery()
    total = db_session.scalar(select(func.count()).select_from(matching)) or 0
    pages = max(1, -(-total // page_size))
    page = min(max(1, page), pages)
    conversations = db_session.execute(
        select(Conversation, Employee.display_name)
        .join(Employee, Employee.id == Conversation.employee_id)
        .where(Conversation.id.in_(select(matching.c.id)))
        .order_by(Conversation.started_at.desc(), Conversation.id.desc())
        .offset((page - 1) * page_size)
        .limit(page_size)
    ).all()
    figures = _figures(db_session, [c.id for c, _ in conversations])
    rows = [
        ConversationRow(
            id=c.id,
            started_at=c.started_at,
            employee=name,
            channel=c.channel,
            status=c.status,
            **figures.get(c.id, _empty_figures()),
        )
        for c, name in conversations
    ]
    return ConversationPage(rows, total, page, pages)


def _empty_figures() -> dict[str, Any]:
    return {
        "first_message": "",
        "messages": 0,
        "intents": [],
        "routes": [],
        "outcomes": [],
        "max_latency_ms": None,
        "helpful": 0,
        "not_helpful": 0,
    }


def _figures(db_session: Session, ids: list[int]) -> dict[int, dict[str, Any]]:
    """Per conversation: first employee message, message count, intents, routes, outcomes, latency, votes."""
    figures: dict[int, dict[str, Any]] = {i: _empty_figures() for i in ids}
    if not ids:
        return figures
    messages = db_session.execute(
        select(
            Message.conversation_id,
            Message.role,
            Message.text,
            Message.intent,
            Message.route,
            Message.outcome,
            Message.latency_ms,
        )
        .where(Message.conversation_id.in_(ids))
        .order_by(Message.id)
    ).all()
    for conversation_id, role, text, intent, route, outcome, latency in messages:
        row = figures[conversation_id]
        row["messages"] += 1
        if role is MessageRole.EMPLOYEE and not row["first_message"]:
            row["first_message"] = text[:140]
        for key, value in (("intents", intent), ("routes", route), ("outcomes", outcome)):
            if value is not None and str(value) not in row[key]:
                row[key].append(str(value))
        if latency is not None:
            row["max_latency_ms"] = max(row["max_latency_ms"] or 0, latency)
    votes = db_session.execute(
        select(Message.conversation_id, Feedback.rating, func.count())
        .join(Feedback, Feedback.message_id == Message.id)
        .where(Message.conversation_id.in_(ids))
        .group_by(Message.conversation_id, Feedback.rating)
    ).all()
    for conversation_id, rating, count in votes:
        key = "helpful" if rating is FeedbackRating.HELPFUL else "not_helpful"
        figures[conversation_id][key] = int(count)
    return figures


def known_intents(*, db_session: Session) -> list[str]:
    """Intent names seen on messages (for the filter's choices)."""
    return list(
        db_session.scalars(
            select(Message.intent).where(Message.intent.is_not(None)).distinct().order_by(Message.intent)
        )
    )


def conversation_transcript(*, db_session: Session, conversation_id: int) -> Transcript | None:
    """Everything about one conversation, or None when it does not exist."""
    conversation = db_session.scalar(
        select(Conversation)
        .where(Conversation.id == conversation_id)
        .options(
            selectinload(Conversation.employee),
            selectinload(Conversation.messages).selectinload(Message.feedback),
        )
    )
    if conversation is None:
        return None
    handoff = db_session.scalar(select(Handoff).where(Handoff.conversation_id == conversation_id))
    tickets = list(
        db_session.scalars(
            select(Ticket).where(Ticket.conversation_id == conversation_id).order_by(Ticket.id)
        )
    )
    runs = list(
        db_session.scalars(
            select(AutomationRun)
            .where(AutomationRun.conversation_id == conversation_id)
            .order_by(AutomationRun.id)
        )
    )
    return Transcript(
        conversation=conversation,
        employee=conversation.employee,
        messages=list(conversation.messages),
        handoff=handoff,
        tickets=tickets,
        runs=runs,
        feedback={m.id: list(m.feedback) for m in conversation.messages if m.feedback},
    )
