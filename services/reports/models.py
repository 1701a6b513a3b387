"""What the weekly manager digest sent: one row per (week, manager), claimed before the DM is posted."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import Base, StrEnumType, utcnow


class DeliveryState(StrEnum):
    """CLAIMED: a task is posting it now (or died doing so); SENT: Slack accepted the DM."""

    CLAIMED = "claimed"
    SENT = "sent"


class DigestDelivery(Base):
    """The digest of the week starting ``week_start`` (a Monday) for one manager.

    The unique (week, employee) pair is the idempotency key: a second delivery of the task, or a retry,
    finds the row and never posts again.
    """

    __tablename__ = "digest_deliveries"
    __table_args__ = (UniqueConstraint("week_start", "employee_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    week_start: Mapped[date] = mapped_column(Date)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"), index=True)
    state: Mapped[DeliveryState] = mapped_column(StrEnumType(DeliveryState))
    claimed_by: Mapped[str] = mapped_column(String(200))
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    slack_channel_id: Mapped[str | None] = mapped_column(String(32), default=None)
    slack_ts: Mapped[str | None] = mapped_column(String(32), default=None)
