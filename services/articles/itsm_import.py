"""Mirror resolved tickets of the ITSM into our ``tickets`` table, so that the article pipeline (which reads
only that table) also learns from tickets that never went through Deskpilot.

Each feed batch is upserted by ``(system, external_key)`` in a session of its own, opened after the batch
arrived (no session is held across ITSM I/O): an error mid-feed keeps the batches already stored, and a
re-run stores nothing twice. A row Deskpilot still tracks as open is left to the status sync
(``services.tickets.sync``), which also tells the requester: marking it resolved here would make the
sync skip it and the requester never hear of the resolution.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from connectors.interfaces import ResolvedTicketFeed
from connectors.models import ResolvedTicket
from services.common.db import session_scope, utcnow
from services.directory import repo as directory
from services.tickets.models import Ticket, TicketComment, TicketStatus, TicketSystemKind
from services.tickets.sync import OPEN_STATUSES

logger = logging.getLogger(__name__)

IMPORT_WINDOW = timedelta(days=90)
IMPORT_REQUESTER = "itsm-import@deskpilot.local"
"""The requester of imported tickets whose requester is not in the directory (or has no known e-mail)."""
_DONE = (TicketStatus.RESOLVED, TicketStatus.CLOSED)
_MAX_TITLE = 500  # tickets.title is VARCHAR(500)
_MAX_CATEGORY = 200  # tickets.category is VARCHAR(200)


def import_resolved_tickets(
    session_factory: sessionmaker[Session], feed: ResolvedTicketFeed, *, since: datetime
) -> int:
    """Upsert every ticket ``feed`` reports resolved since ``since``; returns how many rows were inserted or
    changed. A row already resolved or closed with the same resolution text, or still open, is left as it
    is."""
    changed = 0
    for batch in feed.resolved_since(since):
        with session_scope(session_factory) as db_session:
            changed += sum(_upsert(db_session, ticket) for ticket in batch)
    logger.info("resolved tickets imported", extra={"changed": changed})
    return changed


def _upsert(db_session: Session, ticket: ResolvedTicket) -> bool:
    """Insert or update the row of ``ticket``; False when the row is left as it is."""
    system = TicketSystemKind(ticket.system)
    row = db_session.scalar(
        select(Ticket).where(Ticket.system == system, Ticket.external_key == ticket.external_key)
    )
    if row is not None and row.status in _DONE and row.resolution_text == ticket.resolution:
        return False
    if row is not None and row.status in OPEN_STATUSES:
        return False  # the status sync resolves it, and tells the requester
    if row is None:
        row = Ticket(
            system=system, external_key=ticket.external_key, requester_id=_requester_id(db_session, ticket)
        )
        db_session.add(row)
    row.url = ticket.url or row.url
    row.title = (ticket.title.strip() or ticket.external_key)[:_MAX_TITLE]
    row.description = ticket.description
    row.category = ticket.category[:_MAX_CATEGORY] if ticket.category else row.category
    status = TicketStatus(ticket.status.value)
    if row.status is not status:
        row.vendor_status = None  # described the old status
    row.status = status
    row.resolution_text = ticket.resolution
    row.resolved_at = ticket.resolved_at
    row.last_synced_at = utcnow()
    # The people involved, so that the article pipeline scrubs their names (it reads comment authors).
    known = {comment.author_label for comment in row.comments}
    for role, name in (("requester", ticket.requester_name), ("resolved by", ticket.assignee_name)):
        if name and name not in known:
            row.comments.append(TicketComment(author_label=name[:200], body=f"({role})", is_internal=True))
    db_session.flush()
    return True


def _requester_id(db_session: Session, ticket: ResolvedTicket) -> int:
    """The employee with the requester's e-mail, else the import placeholder (created when missing)."""
    if ticket.requester_email:
        employee = directory.get_employee_by_email(db_session=db_session, email=ticket.requester_email)
        if employee is not None:
            return employee.id
    placeholder = directory.get_or_create_employee(
        db_session=db_session, email=IMPORT_REQUESTER, display_name="ITSM import"
    )
    return placeholder.id


def import_from_itsm(
    session_factory: sessionmaker[Session], tickets: object, *, since: datetime | None = None
) -> int:
    """Import recent resolved tickets when the configured ticket system offers a feed (0 otherwise)."""
    if not isinstance(tickets, ResolvedTicketFeed):
        return 0
    return import_resolved_tickets(session_factory, tickets, since=since or utcnow() - IMPORT_WINDOW)
