"""Loading generated resolved tickets (``services.articles.fixtures``) as built-in tickets, for the demo
and tests: the pipeline then reads them like any other resolved tickets."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.articles.fixtures import FixtureSet
from services.articles.types import TicketText
from services.common.db import session_scope, utcnow
from services.directory import repo as directory
from services.tickets.models import HandledBy, Ticket, TicketStatus, TicketSystemKind

FIXTURE_REQUESTER = "fixtures@deskpilot.local"


def load_fixture_tickets(session_factory: sessionmaker[Session], fixtures: FixtureSet) -> list[TicketText]:
    """Store each fixture ticket once (by its key) as a resolved built-in ticket; return them with the
    database ids (the pipeline links drafts to these rows)."""
    loaded: list[TicketText] = []
    with session_scope(session_factory) as db_session:
        requester = directory.get_or_create_employee(
            db_session=db_session, email=FIXTURE_REQUESTER, display_name="Fixture requester"
        )
        for ticket in fixtures.tickets:
            row = db_session.scalar(
                select(Ticket).where(
                    Ticket.system == TicketSystemKind.BUILTIN, Ticket.external_key == ticket.external_key
                )
            )
            if row is None:
                row = Ticket(
                    system=TicketSystemKind.BUILTIN,
                    external_key=ticket.external_key,
                    title=ticket.title,
                    description=ticket.description,
                    category=ticket.category,
                    status=TicketStatus.RESOLVED,
                    requester_id=requester.id,
                    handled_by=HandledBy.AGENT,
                    resolved_at=ticket.resolved_at or utcnow(),
                    resolution_text=ticket.resolution,
                )
                db_session.add(row)
                db_session.flush()
            loaded.append(replace(ticket, ticket_id=row.id))
    return loaded
