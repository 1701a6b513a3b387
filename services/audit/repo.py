"""Writing the audit log (rows are only ever added, in the caller's transaction)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from services.audit.models import AuditEntry
from services.common.logging import get_correlation_id

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
