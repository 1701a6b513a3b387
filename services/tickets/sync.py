"""Ticket status coming back from the ITSM: by webhook (pushed) or by a periodic poll (pulled).

Either way one function applies a status change: the ticket row is updated only when the status really
changed, and only then is the requester told (a repeated webhook or poll tells nobody twice).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select

from connectors.errors import RemoteNotFoundError
from connectors.models import TicketStatusChange
from services.automations.runner import AutomationContext
from services.common.db import session_scope, utcnow
from services.common.errors import RetryableError
from services.tickets.models import Ticket, TicketStatus, TicketSystemKind

logger = logging.getLogger(__name__)

OPEN_STATUSES = (TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING)
_TOLD = {
    TicketStatus.OPEN: "is being worked on",
    TicketStatus.PENDING: "is waiting for something (check the ticket for a question to you)",
    TicketStatus.RESOLVED: "is resolved",
    TicketStatus.CLOSED: "is closed",
    TicketStatus.CANCELLED: "was cancelled",
}


def status_notice(external_key: str, title: str, status: TicketStatus, resolution: str | None) -> str:
    """What the requester is told when their ticket moves to ``status`` (by the ITSM or an agent)."""
    text = f"Your ticket {external_key} ({title}) {_TOLD.get(status, 'changed')}."
    if resolution and status in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
        text += f" Resolution: {resolution}"
    return text


def apply_status_change(ctx: AutomationContext, change: TicketStatusChange) -> bool:
    """Record ``change`` on our ticket row and tell the requester; False when nothing changed."""
    status = TicketStatus(change.status.value)
    with session_scope(ctx.session_factory) as db_session:
        ticket = db_session.scalar(
            select(Ticket).where(
                Ticket.system == TicketSystemKind(change.system), Ticket.external_key == change.external_key
            )
        )
        if ticket is None:
            logger.info(
                "status change for a ticket Deskpilot does not track", extra={"key": change.external_key}
            )
            return False
        ticket.last_synced_at = utcnow()
        if ticket.status is status:
            return False
        ticket.status = status
        ticket.vendor_status = change.vendor_status
        if status in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
            ticket.resolved_at = ticket.resolved_at or change.changed_at or utcnow()
            ticket.resolution_text = change.resolution or ticket.resolution_text
        requester_id, conversation_id = ticket.requester_id, ticket.conversation_id
        text = status_notice(ticket.external_key, ticket.title, status, change.resolution)
    ctx.notifier.tell_requester(employee_id=requester_id, conversation_id=conversation_id, text=text)
    return True


@dataclass(frozen=True)
class SyncReport:
    """What one poll did."""

    checked: int
    changed: int
    missing: int
    stopped_early: bool


def sync_open_tickets(ctx: AutomationContext, *, limit: int = 200) -> SyncReport:
    """Poll the ITSM for the least recently synced open tickets of the configured system."""
    system = TicketSystemKind(ctx.tickets.system)
    with session_scope(ctx.session_factory) as db_session:
        keys = db_session.scalars(
            select(Ticket.external_key)
            .where(Ticket.system == system, Ticket.status.in_(OPEN_STATUSES))
            .order_by(Ticket.last_synced_at.asc().nulls_first(), Ticket.id)
            .limit(limit)
        ).all()
    checked = changed = missing = 0
    for key in keys:
        try:
            remote = ctx.tickets.get_ticket(key)
        except RemoteNotFoundError:
            missing += 1
            logger.warning("tracked ticket no longer exists in the ITSM", extra={"key": key})
            continue
        except RetryableError:
            logger.warning("ITSM unavailable: ticket sync stops until the next run")
            return SyncReport(checked, changed, missing, stopped_early=True)
        checked += 1
        change = TicketStatusChange(
            system=remote.system,
            external_key=remote.external_key,
            status=remote.status,
            vendor_status=remote.vendor_status,
            resolution=remote.resolution,
            changed_at=remote.updated_at,
        )
        changed += apply_status_change(ctx, change)
    return SyncReport(checked, changed, missing, stopped_early=False)
