"""Tickets mirrored from (or kept in) the ITSM, and their comments."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from services.common.db import Base, StrEnumType, TimestampMixin, utcnow
from services.directory.models import Employee


class TicketSystemKind(StrEnum):
    """Which system holds the ticket of record."""

    BUILTIN = "builtin"
    JIRA = "jira"
    SERVICENOW = "servicenow"
    ZENDESK = "zendesk"


class TicketStatus(StrEnum):
    """Vendor statuses normalised to one lifecycle (the raw one is kept in ``vendor_status``)."""

    NEW = "new"
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class TicketPriority(StrEnum):
    """Normalised priority."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class HandledBy(StrEnum):
    """Who resolved a ticket: an automation or a human agent (for MTTR comparisons)."""

    BOT = "bot"
    AGENT = "agent"


class Ticket(TimestampMixin, Base):
    """A ticket of record, identified by (system, external_key) and linked back to its conversation."""

    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("system", "external_key"),
        Index("ix_tickets_conversation_id", "conversation_id"),  # ROI: tickets after a conversation
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    system: Mapped[TicketSystemKind] = mapped_column(StrEnumType(TicketSystemKind))
    external_key: Mapped[str] = mapped_column(String(100))
    url: Mapped[str | None] = mapped_column(String(2000))
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str | None] = mapped_column(String(200), index=True)
    priority: Mapped[TicketPriority] = mapped_column(
        StrEnumType(TicketPriority), default=TicketPriority.NORMAL
    )
    status: Mapped[TicketStatus] = mapped_column(
        StrEnumType(TicketStatus), default=TicketStatus.NEW, index=True
    )
    vendor_status: Mapped[str | None] = mapped_column(String(100))
    requester_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="RESTRICT"), index=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id", ondelete="SET NULL"))
    handled_by: Mapped[HandledBy | None] = mapped_column(StrEnumType(HandledBy))
    opened_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    resolved_at: Mapped[datetime | None] = mapped_column(index=True)
    resolution_text: Mapped[str | None] = mapped_column(Text)
    last_synced_at: Mapped[datetime | None]

    requester: Mapped[Employee] = relationship(foreign_keys=[requester_id])
    assignee: Mapped[Employee | None] = relationship(foreign_keys=[assignee_id])
    comments: Mapped[list[TicketComment]] = relationship(
        back_populates="ticket", cascade="all, delete-orphan", order_by="TicketComment.id"
    )


class TicketComment(Base):
    """A comment on a ticket (public or internal); ``external_id`` mirrors the vendor's comment id."""

    __tablename__ = "ticket_comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))
    author_label: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    is_internal: Mapped[bool] = mapped_column(default=False)
    external_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="comments")
