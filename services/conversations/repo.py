"""Conversation queries. Functions take a keyword-only ``db_session`` and never commit."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.db import utcnow
from services.conversations.models import AnswerOutcome, Channel, Conversation, Handoff, Message, MessageRole
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
    intent: str | None = None,
    confidence: float | None = None,
    intent_ranking: list[Any] | None = None,
    idempotency_key: str | None = None,
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
        intent=intent,
        confidence=confidence,
        intent_ranking=intent_ranking or [],
        idempotency_key=idempotency_key,
    )
    db_session.add(message)
    conversation.last_activity_at = utcnow()
    db_session.flush()
    return message


def get_conversation(*, db_session: Session, conversation_id: int, employee_id: int) -> Conversation | None:
    """The employee's conversation with this id (None when it is someone else's or missing)."""
    conversation = db_session.get(Conversation, conversation_id)
    return conversation if conversation is not None and conversation.employee_id == employee_id else None


def find_message_by_key(*, db_session: Session, idempotency_key: str) -> Message | None:
    """The message recorded for an idempotency key (a redelivered event)."""
    return db_session.scalar(select(Message).where(Message.idempotency_key == idempotency_key))


def reply_after(*, db_session: Session, message: Message) -> Message | None:
    """The assistant message that answered ``message``."""
    return db_session.scalar(
        select(Message)
        .where(
            Message.conversation_id == message.conversation_id,
            Message.id > message.id,
            Message.role == MessageRole.ASSISTANT,
        )
        .order_by(Message.id)
        .limit(1)
    )


def recent_turns(*, db_session: Session, conversation_id: int, limit: int = 6) -> list[tuple[str, str]]:
    """The last ``limit`` (role, text) pairs of a conversation, oldest first."""
    rows = db_session.execute(
        select(Message.role, Message.text)
        .where(Message.conversation_id == conversation_id)
        .order_by(Message.id.desc())
        .limit(limit)
    ).all()
    return [(role.value, text) for role, text in reversed(rows)]


def get_conversation_any(*, db_session: Session, conversation_id: int) -> Conversation | None:
    """A conversation by id, whoever it belongs to (for the orchestrator's own bookkeeping)."""
    return db_session.get(Conversation, conversation_id)


def get_or_create_slack_conversation(
    *, db_session: Session, employee_id: int, team_id: str, channel_id: str, thread_ts: str
) -> Conversation:
    """The conversation of a Slack thread (one per thread), created on its first message."""
    conversation = db_session.scalar(
        select(Conversation).where(
            Conversation.slack_team_id == team_id,
            Conversation.slack_channel_id == channel_id,
            Conversation.slack_thread_ts == thread_ts,
        )
    )
    if conversation is None:
        conversation = Conversation(
            employee_id=employee_id,
            channel=Channel.SLACK,
            slack_team_id=team_id,
            slack_channel_id=channel_id,
            slack_thread_ts=thread_ts,
        )
        db_session.add(conversation)
        db_session.flush()
    return conversation


def create_handoff(
    *, db_session: Session, conversation_id: int, it_channel_id: str, it_thread_ts: str
) -> Handoff:
    """Record that a conversation was posted to the IT channel."""
    handoff = Handoff(conversation_id=conversation_id, it_channel_id=it_channel_id, it_thread_ts=it_thread_ts)
    db_session.add(handoff)
    db_session.flush()
    return handoff


def handoff_for_conversation(*, db_session: Session, conversation_id: int) -> Handoff | None:
    """The open handoff of a conversation, if any."""
    return db_session.scalar(
        select(Handoff).where(Handoff.conversation_id == conversation_id, Handoff.closed_at.is_(None))
    )


def handoff_for_it_thread(*, db_session: Session, it_channel_id: str, it_thread_ts: str) -> Handoff | None:
    """The open handoff whose IT-channel thread this is."""
    return db_session.scalar(
        select(Handoff).where(
            Handoff.it_channel_id == it_channel_id,
            Handoff.it_thread_ts == it_thread_ts,
            Handoff.closed_at.is_(None),
        )
    )


def slack_thread_is_known(*, db_session: Session, team_id: str, channel_id: str, thread_ts: str) -> bool:
    """True when a conversation lives in this Slack thread (so replies there are meant for Deskpilot)."""
    return (
        db_session.scalar(
            select(Conversation.id).where(
                Conversation.slack_team_id == team_id,
                Conversation.slack_channel_id == channel_id,
                Conversation.slack_thread_ts == thread_ts,
            )
        )
        is not None
    )
