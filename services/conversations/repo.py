"""Conversation queries. Functions take a keyword-only ``db_session`` and never commit."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from services.common.db import utcnow
from services.conversations.models import AnswerOutcome, Channel, Conversation, Message, MessageRole
from services.router.routes import Route


def create_conversation(*, db_session: Session, employee_id: int, channel: Channel) -> Conversation:
    """A new open conversation."""
    conversation = Conversation(employee_id=employee_id, channel=channel)
    db_session.add(conversation)
    db_session.flush()
    return conversation


def add_message(
    *,
    db_session: Session,
    conversation: Conversation,
    role: MessageRole,
    text: str,
    route: Route | None = None,
    outcome: AnswerOutcome | None = None,
    latency_ms: int | None = None,
    citations: list[dict[str, Any]] | None = None,
    details: dict[str, Any] | None = None,
) -> Message:
    """Append a message and touch the conversation's activity time."""
    message = Message(
        conversation_id=conversation.id,
        role=role,
        text=text,
        route=route,
        outcome=outcome,
        latency_ms=latency_ms,
        citations=citations or [],
        details=details or {},
    )
    db_session.add(message)
    conversation.last_activity_at = utcnow()
    db_session.flush()
    return message
