"""Automation runs: persisted state machines for actions taken on an employee's behalf."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from services.common.db import Base, StrEnumType, TimestampMixin
from services.directory.models import Employee


class AutomationKind(StrEnum):
    """What the automation does."""

    PASSWORD_RESET = "password_reset"
    ACCOUNT_UNLOCK = "account_unlock"
    MFA_RESET = "mfa_reset"
    SOFTWARE_ACCESS = "software_access"
    ACCESS_REQUEST = "access_request"
    HARDWARE_REQUEST = "hardware_request"
    CREATE_TICKET = "create_ticket"
    TICKET_STATUS = "ticket_status"
    ADD_COMMENT = "add_comment"
    TICKET_SYNC = "ticket_sync"


class AutomationState(StrEnum):
    """States of a run. SUCCEEDED, FAILED, DENIED, EXPIRED and CANCELLED are final."""

    PENDING = "pending"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DENIED = "denied"
    EXPIRED = "expired"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        """True when no further transition is allowed."""
        return self in _FINAL_STATES


_FINAL_STATES = frozenset(
    {
        AutomationState.SUCCEEDED,
        AutomationState.FAILED,
        AutomationState.DENIED,
        AutomationState.EXPIRED,
        AutomationState.CANCELLED,
    }
)


class AutomationRun(TimestampMixin, Base):
    """One requested action. The row is written before any effect; ``idempotency_key`` makes replays no-ops.

    ``params`` holds the filled slots (never secrets); ``result`` what the effect returned.
    """

    __tablename__ = "automation_runs"
    __table_args__ = (Index("ix_automation_runs_created_at", "created_at"),)  # report periods

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[AutomationKind] = mapped_column(StrEnumType(AutomationKind), index=True)
    state: Mapped[AutomationState] = mapped_column(
        StrEnumType(AutomationState), default=AutomationState.PENDING, index=True
    )
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="RESTRICT"), index=True)
    approver_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id", ondelete="SET NULL"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    attempts: Mapped[int] = mapped_column(default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    """The task delivery working on the run (its retries and redeliveries share it); see runner._start."""
    last_error: Mapped[str | None] = mapped_column(Text)
    approval_expires_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    delay_notified_at: Mapped[datetime | None]
    """When the requester was told that an outage delays the run (set once, before the notice is sent)."""

    requester: Mapped[Employee] = relationship(foreign_keys=[requester_id])
    approver: Mapped[Employee | None] = relationship(foreign_keys=[approver_id])
