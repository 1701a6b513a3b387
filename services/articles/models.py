"""Article drafts generated from resolved tickets (or knowledge gaps), awaiting admin review."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, ForeignKey, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from services.common.db import Base, StrEnumType, TimestampMixin
from services.tickets.models import Ticket


class DraftStatus(StrEnum):
    """Review state of a draft."""

    PENDING_REVIEW = "pending_review"
    APPROVED = "approved"
    MERGED = "merged"
    REJECTED = "rejected"


class DraftGenerator(StrEnum):
    """How the draft was written: by the LLM (grounded, checked) or extractively."""

    LLM = "llm"
    EXTRACTIVE = "extractive"


draft_source_tickets = Table(
    "draft_source_tickets",
    Base.metadata,
    Column("draft_id", ForeignKey("article_drafts.id", ondelete="CASCADE"), primary_key=True),
    Column("ticket_id", ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True),
)


class ArticleDraft(TimestampMixin, Base):
    """A proposed article with its evidence: source tickets, cluster size, confidence, PII scrub report."""

    __tablename__ = "article_drafts"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    body_markdown: Mapped[str] = mapped_column(Text)
    status: Mapped[DraftStatus] = mapped_column(
        StrEnumType(DraftStatus), default=DraftStatus.PENDING_REVIEW, index=True
    )
    generator: Mapped[DraftGenerator] = mapped_column(StrEnumType(DraftGenerator))
    confidence: Mapped[float] = mapped_column(default=0.0)
    cluster_size: Mapped[int] = mapped_column(default=0)
    pii_report: Mapped[dict[str, Any]] = mapped_column(default=dict)
    quality_flags: Mapped[list[Any]] = mapped_column(default=list)
    covering_article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id", ondelete="SET NULL"))
    published_article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id", ondelete="SET NULL"))
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))
    reviewed_at: Mapped[datetime | None]
    rejection_reason: Mapped[str | None] = mapped_column(Text)

    source_tickets: Mapped[list[Ticket]] = relationship(secondary=draft_source_tickets)
