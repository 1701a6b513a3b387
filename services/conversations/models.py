"""Conversations, their messages (with intent, route, latency and citations) and feedback."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from services.common.db import Base, StrEnumType, utcnow
from services.directory.models import Employee
from services.router.routes import Route


class Channel(StrEnum):
    """Where a conversation happens."""

    SLACK = "slack"
    WEB = "web"
    CLI = "cli"
    API = "api"


class ConversationStatus(StrEnum):
    """Lifecycle of a conversation."""

    OPEN = "open"
    RESOLVED = "resolved"
    HANDED_OFF = "handed_off"
    CLOSED = "closed"


class MessageRole(StrEnum):
    """Who wrote a message."""

    EMPLOYEE = "employee"
    ASSISTANT = "assistant"
    AGENT = "agent"
    SYSTEM = "system"


class AnswerOutcome(StrEnum):
    """What an assistant turn achieved; NO_ANSWER turns are knowledge gaps."""

    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    CLARIFY = "clarify"
    AUTOMATION = "automation"
    HANDOFF = "handoff"
    SMALLTALK = "smalltalk"
    OUT_OF_SCOPE = "out_of_scope"
    ERROR = "error"


class FeedbackRating(StrEnum):
    """An employee's verdict on an assistant turn."""

    HELPFUL = "helpful"
    NOT_HELPFUL = "not_helpful"


class Conversation(Base):
    """A thread of messages between one employee and Deskpilot (a Slack thread, a web chat session...).

    ``state`` carries follow-up state between turns (pending clarification, slots being filled).
    """

    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("slack_team_id", "slack_channel_id", "slack_thread_ts"),
        Index("ix_conversations_employee_id_started_at", "employee_id", "started_at"),  # ROI deflection
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"), index=True)
    channel: Mapped[Channel] = mapped_column(StrEnumType(Channel))
    status: Mapped[ConversationStatus] = mapped_column(
        StrEnumType(ConversationStatus), default=ConversationStatus.OPEN
    )
    slack_team_id: Mapped[str | None] = mapped_column(String(32))
    slack_channel_id: Mapped[str | None] = mapped_column(String(32))
    slack_thread_ts: Mapped[str | None] = mapped_column(String(32))
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    started_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]

    employee: Mapped[Employee] = relationship()
    messages: Mapped[list[Message]] = relationship(
        back_populates="conversation", cascade="all, delete-orphan", order_by="Message.id"
    )


class Message(Base):
    """One turn. Employee turns carry the classification; assistant turns carry outcome and citations.

    ``idempotency_key`` (e.g. the Slack event key) makes a redelivered event a no-op.
    ``citations`` is a list of ``{chunk_id, article_id, title, url, score}``.
    """

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_intent_created_at", "intent", "created_at"),
        Index("ix_messages_outcome_created_at", "outcome", "created_at"),  # unanswered questions
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[MessageRole] = mapped_column(StrEnumType(MessageRole))
    text: Mapped[str] = mapped_column(Text)
    intent: Mapped[str | None] = mapped_column(String(100))
    confidence: Mapped[float | None]
    intent_ranking: Mapped[list[Any]] = mapped_column(default=list)
    route: Mapped[Route | None] = mapped_column(StrEnumType(Route))
    outcome: Mapped[AnswerOutcome | None] = mapped_column(StrEnumType(AnswerOutcome))
    latency_ms: Mapped[int | None]
    citations: Mapped[list[Any]] = mapped_column(default=list)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    slack_ts: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    conversation: Mapped[Conversation] = relationship(back_populates="messages")
    feedback: Mapped[list[Feedback]] = relationship(back_populates="message", cascade="all, delete-orphan")


class Feedback(Base):
    """An employee's rating of an assistant message; one per employee per message (latest wins)."""

    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("message_id", "employee_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"), index=True)
    rating: Mapped[FeedbackRating] = mapped_column(StrEnumType(FeedbackRating))
    reason: Mapped[str | None] = mapped_column(String(64))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    message: Mapped[Message] = relationship(back_populates="feedback")


class Handoff(Base):
    """A conversation handed to the IT team: the post in the IT channel, and who claimed it."""

    __tablename__ = "handoffs"
    __table_args__ = (UniqueConstraint("it_channel_id", "it_thread_ts"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), unique=True
    )
    it_channel_id: Mapped[str] = mapped_column(String(32))
    it_thread_ts: Mapped[str] = mapped_column(String(32))
    agent_slack_user_id: Mapped[str | None] = mapped_column(String(32))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
