"""The built-in ITSM: Deskpilot's own ``tickets`` table as a ``TicketSystem`` (the embedded default).

Tickets are keyed ``HD-<id>``. The idempotency key lives in the unique ``tickets.idempotency_key``
column, so a replayed or concurrent create finds the first ticket instead of inserting a second row.
Every method opens its own short session; none is held across calls (nor across the feed's batches).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from connectors.errors import RemoteNotFoundError, RemoteRejectedError
from connectors.http import connector_error
from connectors.models import (
    ExternalComment,
    ExternalTicket,
    ExternalTicketStatus,
    ResolvedTicket,
    TicketDraft,
    TicketStatusChange,
)
from services.common.db import session_scope, utcnow
from services.directory.models import Employee
from services.tickets.models import Ticket, TicketComment, TicketPriority, TicketStatus, TicketSystemKind

logger = logging.getLogger(__name__)

SYSTEM = TicketSystemKind.BUILTIN.value
KEY_PREFIX = "HD-"
COMMENT_AUTHOR = "Deskpilot"
_MAX_IDEMPOTENCY_KEY = 200  # tickets.idempotency_key is VARCHAR(200)
_MAX_CATEGORY = 200  # tickets.category is VARCHAR(200)
_TERMINAL = (TicketStatus.RESOLVED, TicketStatus.CLOSED, TicketStatus.CANCELLED)
"""Statuses ``resolve_ticket`` leaves alone."""
_DONE = (TicketStatus.RESOLVED, TicketStatus.CLOSED)


class BuiltinTicketSystem:
    """``TicketSystem`` (and ``ResolvedTicketFeed``) over our own database; ``public_url`` is the web app's
    base URL for ticket links."""

    def __init__(self, session_factory: sessionmaker[Session], *, public_url: str) -> None:
        self._sessions = session_factory
        self._public_url = public_url.rstrip("/")

    @property
    def system(self) -> str:
        """Always ``builtin``."""
        return SYSTEM

    def create_ticket(self, draft: TicketDraft, *, idempotency_key: str) -> ExternalTicket:
        """Insert a NEW ticket for the requester (``RemoteRejectedError`` when not in the directory).

        A create that loses the race on ``idempotency_key`` (replay, or a concurrent worker) returns the
        ticket that won instead of a second one.
        """
        key = _checked_idempotency_key(idempotency_key)
        try:
            with session_scope(self._sessions) as session:
                requester_id = session.scalar(
                    select(Employee.id).where(
                        func.lower(Employee.email) == draft.requester_email.strip().lower()
                    )
                )
                if requester_id is None:
                    raise connector_error(
                        RemoteRejectedError, SYSTEM, "the requester is not in the directory"
                    )
                ticket = Ticket(
                    system=TicketSystemKind.BUILTIN,
                    external_key=f"pending:{uuid.uuid4().hex}",  # NOT NULL and unique until the id exists
                    idempotency_key=key,
                    title=draft.title,
                    description=draft.description,
                    category=draft.category[:_MAX_CATEGORY] if draft.category else None,
                    priority=TicketPriority(draft.urgency.value),
                    status=TicketStatus.NEW,
                    requester_id=requester_id,
                )
                session.add(ticket)
                session.flush()
                ticket.external_key = f"{KEY_PREFIX}{ticket.id}"
                ticket.url = self._url(ticket.external_key)
                session.flush()
                created = self._to_external(ticket)
        except IntegrityError:
            existing = self.find_by_idempotency_key(key)
            if existing is None:  # another constraint failed (e.g. the requester was just deleted)
                raise
            return existing
        logger.info("ticket created", extra={"system": SYSTEM, "external_key": created.external_key})
        return created

    def find_by_idempotency_key(self, idempotency_key: str) -> ExternalTicket | None:
        """The built-in ticket created with this key, or None."""
        with session_scope(self._sessions) as session:
            ticket = session.scalar(
                select(Ticket).where(
                    Ticket.system == TicketSystemKind.BUILTIN, Ticket.idempotency_key == idempotency_key
                )
            )
            return None if ticket is None else self._to_external(ticket)

    def get_ticket(self, external_key: str) -> ExternalTicket:
        """The ticket's current state (``RemoteNotFoundError`` when there is none)."""
        with session_scope(self._sessions) as session:
            return self._to_external(_load(session, external_key))

    def add_comment(self, external_key: str, body: str, *, public: bool = True) -> ExternalComment:
        """Store a comment by Deskpilot (internal unless ``public``); its id is the ``external_id``."""
        with session_scope(self._sessions) as session:
            ticket = _load(session, external_key)
            comment = TicketComment(
                ticket_id=ticket.id, author_label=COMMENT_AUTHOR, body=body, is_internal=not public
            )
            session.add(comment)
            session.flush()
            comment.external_id = str(comment.id)
            ticket.updated_at = utcnow()
            return _to_comment(comment)

    def find_comment(self, external_key: str, marker: str) -> ExternalComment | None:
        """The ticket's newest comment whose body contains ``marker`` (``RemoteNotFoundError`` when there is
        no such ticket)."""
        _check_marker(marker)
        with session_scope(self._sessions) as session:
            ticket = _load(session, external_key)
            candidates = session.scalars(
                select(TicketComment)
                .where(
                    TicketComment.ticket_id == ticket.id, TicketComment.body.contains(marker, autoescape=True)
                )
                .order_by(TicketComment.id.desc())
            )
            # LIKE ignores case on SQLite: the exact match is confirmed here.
            comment = next((c for c in candidates if marker in c.body), None)
            return None if comment is None else _to_comment(comment)

    def resolve_ticket(self, external_key: str, resolution: str) -> ExternalTicket:
        """Mark the ticket RESOLVED with ``resolution``; a resolved, closed or cancelled ticket is returned
        unchanged (one conditional UPDATE, so concurrent calls resolve it once)."""
        with session_scope(self._sessions) as session:
            ticket = _load(session, external_key)
            now = utcnow()
            session.execute(
                update(Ticket)
                .where(Ticket.id == ticket.id, Ticket.status.not_in(_TERMINAL))
                .values(
                    status=TicketStatus.RESOLVED, resolved_at=now, resolution_text=resolution, updated_at=now
                )
                .execution_options(synchronize_session=False)
            )
            session.refresh(ticket)
            return self._to_external(ticket)

    def parse_status_webhook(self, payload: bytes, headers: dict[str, str]) -> TicketStatusChange | None:
        """The built-in system sends no webhooks: always ``RemoteRejectedError``."""
        raise connector_error(
            RemoteRejectedError, SYSTEM, "the built-in ticket system has no status webhooks"
        )

    def resolved_since(self, since: datetime, *, limit: int = 500) -> Iterator[list[ResolvedTicket]]:
        """Built-in tickets resolved or closed with ``resolved_at`` at or after ``since``, oldest first.

        Pages by (``resolved_at``, id) in one short session each. The resolution is ``resolution_text``,
        else the newest public comment. (The article pipeline reads these rows directly.)
        """
        if since.utcoffset() is None:
            raise ValueError("since must be timezone-aware")
        if limit < 1:
            raise ValueError("limit must be at least 1")
        return self._resolved_pages(since, limit)

    def _resolved_pages(self, since: datetime, limit: int) -> Iterator[list[ResolvedTicket]]:
        query = (
            select(Ticket)
            .options(
                selectinload(Ticket.requester), selectinload(Ticket.assignee), selectinload(Ticket.comments)
            )
            .where(
                Ticket.system == TicketSystemKind.BUILTIN,
                Ticket.status.in_(_DONE),
                Ticket.resolved_at >= since,
            )
            .order_by(Ticket.resolved_at, Ticket.id)
            .limit(limit)
        )
        page = query
        while True:
            with session_scope(self._sessions) as session:
                rows = session.scalars(page).all()
                batch = [self._to_resolved(ticket) for ticket in rows]
            if batch:
                yield batch
            if len(rows) < limit:
                return
            last_at, last_id = rows[-1].resolved_at, rows[-1].id
            page = query.where(
                or_(Ticket.resolved_at > last_at, and_(Ticket.resolved_at == last_at, Ticket.id > last_id))
            )

    def _to_resolved(self, ticket: Ticket) -> ResolvedTicket:
        assert ticket.resolved_at is not None  # selected by it
        public = [c.body for c in ticket.comments if not c.is_internal and c.body.strip()]
        return ResolvedTicket(
            system=SYSTEM,
            external_key=ticket.external_key,
            url=ticket.url or self._url(ticket.external_key),
            title=ticket.title,
            description=ticket.description,
            resolution=ticket.resolution_text or (public[-1] if public else ""),
            category=ticket.category,
            requester_email=ticket.requester.email,
            requester_name=ticket.requester.display_name,
            assignee_name=ticket.assignee.display_name if ticket.assignee else None,
            resolved_at=ticket.resolved_at,
            updated_at=ticket.updated_at,
            status=ExternalTicketStatus(ticket.status.value),
        )

    def _url(self, external_key: str) -> str:
        return f"{self._public_url}/tickets/{external_key}"

    def _to_external(self, ticket: Ticket) -> ExternalTicket:
        return ExternalTicket(
            system=SYSTEM,
            external_key=ticket.external_key,
            url=ticket.url or self._url(ticket.external_key),
            title=ticket.title,
            status=ExternalTicketStatus(ticket.status.value),
            vendor_status=ticket.status.value,
            idempotency_key=ticket.idempotency_key,
            resolution=ticket.resolution_text,
            updated_at=ticket.updated_at,
        )


def _load(session: Session, external_key: str) -> Ticket:
    ticket = session.scalar(
        select(Ticket).where(Ticket.system == TicketSystemKind.BUILTIN, Ticket.external_key == external_key)
    )
    if ticket is None:
        raise connector_error(RemoteNotFoundError, SYSTEM, f"no ticket {external_key[:100]!r}")
    return ticket


def _to_comment(comment: TicketComment) -> ExternalComment:
    return ExternalComment(
        external_id=comment.external_id or str(comment.id),
        body=comment.body,
        author=comment.author_label,
        public=not comment.is_internal,
        created_at=comment.created_at,
    )


def _check_marker(marker: str) -> None:
    if not marker.strip():
        raise ValueError("marker must not be blank")


def _checked_idempotency_key(key: str) -> str:
    if not key or len(key) > _MAX_IDEMPOTENCY_KEY:
        raise connector_error(
            RemoteRejectedError,
            SYSTEM,
            f"an idempotency key must have 1 to {_MAX_IDEMPOTENCY_KEY} characters",
        )
    return key
