"""Writing the audit log (rows are only ever added, in the caller's transaction) and reading one object's
trail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.audit.models import AuditEntry
from services.common.logging import get_correlation_id
from services.directory.models import Employee

SYSTEM_ACTOR = "deskpilot"


def record(
    db_session: Session,
    *,
    action: str,
    target_type: str,
    target_id: str | int,
    actor_id: int | None = None,
    actor_label: str = SYSTEM_ACTOR,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add one audit entry (never put secrets or message text in ``details``)."""
    entry = AuditEntry(
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        actor_id=actor_id,
        actor_label=actor_label,
        details=details or {},
        correlation_id=get_correlation_id(),
    )
    db_session.add(entry)
    return entry


@dataclass(frozen=True)
class TrailEntry:
    """One audit entry as a page shows it: when, what, who (by name when known) and the details."""

    at: datetime
    action: str
    actor: str
    details: dict[str, Any]


def trail_of(
    db_session: Session, *, target_type: str, target_id: str | int, limit: int = 500
) -> list[TrailEntry]:
    """The audit trail of one object, oldest first (at most ``limit`` entries)."""
    entries = db_session.scalars(
        select(AuditEntry)
        .where(AuditEntry.target_type == target_type, AuditEntry.target_id == str(target_id))
        .order_by(AuditEntry.created_at, AuditEntry.id)
        .limit(limit)
    ).all()
    actor_ids = {e.actor_id for e in entries if e.actor_id is not None}
    names = (
        dict(
            db_session.execute(
                select(Employee.id, Employee.display_name).where(Employee.id.in_(actor_ids))
            ).all()
        )
        if actor_ids
        else {}
    )
    return [
        TrailEntry(
            at=e.created_at,
            action=e.action,
            actor=names.get(e.actor_id, e.actor_label) if e.actor_id is not None else e.actor_label,
            details=dict(e.details or {}),
        )
        for e in entries
    ]
