"""BuiltinTicketSystem on a real, migrated SQLite database."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from connectors.errors import RemoteNotFoundError, RemoteRejectedError
from connectors.interfaces import ResolvedTicketFeed, TicketSystem
from connectors.models import ExternalTicket, ExternalTicketStatus, TicketDraft, TicketUrgency
from services.common.db import build_engine, build_session_factory, session_scope
from services.common.migrate import build_alembic_config, upgrade
from services.directory.models import Employee
from services.tickets.builtin import BuiltinTicketSystem
from services.tickets.models import Ticket, TicketComment, TicketPriority, TicketStatus, TicketSystemKind
from tests.conftest import make_settings

PUBLIC_URL = "https://desk.example.com/"
DRAFT = TicketDraft(
    title="VPN drops every hour",
    description="Since Monday the VPN disconnects every hour.",
    requester_email="Ada@Example.com",  # stored lower-case: matched case-insensitively
    requester_name="Ada Lovelace",
    urgency=TicketUrgency.HIGH,
    category="network",
    labels=("vpn",),
)


@dataclass
class Db:
    """The migrated database and the id of the seeded requester."""

    engine: Engine
    sessions: sessionmaker[Session]
    ada_id: int

    def tickets_with_key(self, key: str) -> int:
        with session_scope(self.sessions) as session:
            return session.scalar(select(func.count()).where(Ticket.idempotency_key == key)) or 0

    def ticket(self, external_key: str) -> Ticket:
        with session_scope(self.sessions) as session:
            return session.scalars(select(Ticket).where(Ticket.external_key == external_key)).one()

    def set_status(self, external_key: str, status: TicketStatus) -> None:
        with session_scope(self.sessions) as session:
            session.scalars(select(Ticket).where(Ticket.external_key == external_key)).one().status = status


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Db]:
    settings = make_settings(tmp_path)
    upgrade(build_alembic_config(database_url=settings.database.url))
    engine = build_engine(settings.database)
    sessions = build_session_factory(engine)
    with session_scope(sessions) as session:
        ada = Employee(email="ada@example.com", display_name="Ada Lovelace")
        session.add(ada)
        session.flush()
        ada_id = ada.id
    yield Db(engine, sessions, ada_id)
    engine.dispose()


@pytest.fixture
def system(db: Db) -> BuiltinTicketSystem:
    return BuiltinTicketSystem(db.sessions, public_url=PUBLIC_URL)


def new_key() -> str:
    return f"slack:T0001:Ev{uuid.uuid4().hex[:16].upper()}"


def test_satisfies_ticket_system_protocol(system: BuiltinTicketSystem) -> None:
    assert isinstance(system, TicketSystem)
    assert system.system == "builtin"


def test_create_then_find_by_key_returns_same_ticket(db: Db, system: BuiltinTicketSystem) -> None:
    key = new_key()

    created = system.create_ticket(DRAFT, idempotency_key=key)
    found = system.find_by_idempotency_key(key)

    assert found == created
    row = db.ticket(created.external_key)
    assert created.external_key == f"HD-{row.id}"
    assert created.url == f"https://desk.example.com/tickets/HD-{row.id}"
    assert created.status is ExternalTicketStatus.NEW and created.vendor_status == "new"
    assert (created.system, created.title, created.idempotency_key) == ("builtin", DRAFT.title, key)
    assert created.updated_at is not None and created.updated_at.utcoffset() is not None
    assert row.system is TicketSystemKind.BUILTIN and row.url == created.url
    assert row.idempotency_key == key and row.requester_id == db.ada_id
    assert (row.priority, row.category, row.status) == (TicketPriority.HIGH, "network", TicketStatus.NEW)
    assert row.description == DRAFT.description


def test_find_unknown_key_returns_none(system: BuiltinTicketSystem) -> None:
    system.create_ticket(DRAFT, idempotency_key=new_key())

    assert system.find_by_idempotency_key(new_key()) is None


def test_tickets_get_distinct_keys(system: BuiltinTicketSystem) -> None:
    first = system.create_ticket(DRAFT, idempotency_key=new_key())
    second = system.create_ticket(DRAFT, idempotency_key=new_key())

    assert first.external_key != second.external_key


def test_create_replayed_with_same_key_returns_first_ticket(db: Db, system: BuiltinTicketSystem) -> None:
    key = new_key()

    first = system.create_ticket(DRAFT, idempotency_key=key)
    replayed = BuiltinTicketSystem(db.sessions, public_url=PUBLIC_URL).create_ticket(
        DRAFT.model_copy(update={"title": "A retried task"}), idempotency_key=key
    )

    assert replayed == first
    assert db.tickets_with_key(key) == 1


def test_create_from_eight_threads_at_once_leaves_one_ticket(db: Db, system: BuiltinTicketSystem) -> None:
    key, workers = new_key(), 8
    barrier = threading.Barrier(workers)

    def create(_: int) -> ExternalTicket:
        barrier.wait(timeout=10)
        return system.create_ticket(DRAFT, idempotency_key=key)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(create, range(workers)))

    assert {result.external_key for result in results} == {results[0].external_key}
    assert db.tickets_with_key(key) == 1
    with session_scope(db.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 1


def test_unknown_requester_is_rejected_and_nothing_stored(db: Db, system: BuiltinTicketSystem) -> None:
    key = new_key()
    draft = DRAFT.model_copy(update={"requester_email": "nobody@example.com"})

    with pytest.raises(RemoteRejectedError, match="not in the directory") as raised:
        system.create_ticket(draft, idempotency_key=key)

    assert raised.value.system == "builtin"
    assert db.tickets_with_key(key) == 0


@pytest.mark.parametrize("key", ["", "k" * 201])
def test_unusable_idempotency_key_is_rejected(system: BuiltinTicketSystem, key: str) -> None:
    with pytest.raises(RemoteRejectedError, match="idempotency key"):
        system.create_ticket(DRAFT, idempotency_key=key)


def test_get_ticket_returns_current_state(db: Db, system: BuiltinTicketSystem) -> None:
    created = system.create_ticket(DRAFT, idempotency_key=new_key())
    db.set_status(created.external_key, TicketStatus.OPEN)

    ticket = system.get_ticket(created.external_key)

    assert ticket.external_key == created.external_key and ticket.url == created.url
    assert ticket.status is ExternalTicketStatus.OPEN and ticket.vendor_status == "open"
    assert ticket.updated_at is not None and ticket.updated_at.utcoffset() is not None


def test_get_missing_ticket_raises_not_found(system: BuiltinTicketSystem) -> None:
    with pytest.raises(RemoteNotFoundError) as raised:
        system.get_ticket("HD-999")

    assert raised.value.system == "builtin"


def test_get_ignores_tickets_of_other_systems(db: Db, system: BuiltinTicketSystem) -> None:
    with session_scope(db.sessions) as session:
        session.add(
            Ticket(
                system=TicketSystemKind.JIRA, external_key="HD-7", title="Mirrored", requester_id=db.ada_id
            )
        )

    with pytest.raises(RemoteNotFoundError):
        system.get_ticket("HD-7")


def test_add_public_and_internal_comments(db: Db, system: BuiltinTicketSystem) -> None:
    created = system.create_ticket(DRAFT, idempotency_key=new_key())

    public = system.add_comment(created.external_key, "We are looking into it.", public=True)
    internal = system.add_comment(created.external_key, "Checked the gateway logs.", public=False)

    assert (public.public, internal.public) == (True, False)
    assert (public.body, internal.body) == ("We are looking into it.", "Checked the gateway logs.")
    assert public.external_id != internal.external_id
    assert public.created_at is not None and public.created_at.utcoffset() is not None
    with session_scope(db.sessions) as session:
        stored = session.scalars(select(TicketComment).order_by(TicketComment.id)).all()
        assert [(c.external_id, c.body, c.is_internal) for c in stored] == [
            (str(stored[0].id), "We are looking into it.", False),
            (str(stored[1].id), "Checked the gateway logs.", True),
        ]
        assert [str(c.id) for c in stored] == [public.external_id, internal.external_id]
        assert {c.ticket_id for c in stored} == {db.ticket(created.external_key).id}


def test_add_comment_to_missing_ticket_raises_not_found(system: BuiltinTicketSystem) -> None:
    with pytest.raises(RemoteNotFoundError):
        system.add_comment("HD-999", "Hello")


def test_find_comment_returns_the_newest_exact_match_on_that_ticket(system: BuiltinTicketSystem) -> None:
    marker = "(sent from Deskpilot, request AR-7)"
    created = system.create_ticket(DRAFT, idempotency_key=new_key())
    other = system.create_ticket(DRAFT, idempotency_key=new_key())
    system.add_comment(created.external_key, f"First.\n\n{marker}")
    newest = system.add_comment(created.external_key, f"Second.\n\n{marker}", public=False)
    system.add_comment(other.external_key, f"Elsewhere.\n\n{marker.replace('7', '9')}")

    found = system.find_comment(created.external_key, marker)

    assert found is not None and found == newest and not found.public
    assert system.find_comment(other.external_key, marker) is None
    assert system.find_comment(created.external_key, marker.upper()) is None  # LIKE ignores case on SQLite
    assert system.find_comment(created.external_key, "(sent from Deskpilot, request AR-_)") is None
    assert system.find_comment(created.external_key, "request AR-%") is None  # wildcards are literal
    with pytest.raises(ValueError, match="blank"):
        system.find_comment(created.external_key, " ")


def test_find_comment_on_missing_ticket_raises_not_found(system: BuiltinTicketSystem) -> None:
    with pytest.raises(RemoteNotFoundError):
        system.find_comment("HD-999", "(sent from Deskpilot, request AR-7)")


def test_resolve_twice_resolves_once(db: Db, system: BuiltinTicketSystem) -> None:
    created = system.create_ticket(DRAFT, idempotency_key=new_key())
    db.set_status(created.external_key, TicketStatus.OPEN)

    resolved = system.resolve_ticket(created.external_key, "Password reset by Deskpilot automation.")
    first_resolved_at = db.ticket(created.external_key).resolved_at
    again = system.resolve_ticket(created.external_key, "A second, different resolution.")

    assert resolved.status is ExternalTicketStatus.RESOLVED
    assert resolved.resolution == "Password reset by Deskpilot automation."
    assert again == resolved
    row = db.ticket(created.external_key)
    assert first_resolved_at is not None and row.resolved_at == first_resolved_at
    assert row.status is TicketStatus.RESOLVED
    assert row.resolution_text == "Password reset by Deskpilot automation."


def test_resolve_leaves_closed_ticket_unchanged(db: Db, system: BuiltinTicketSystem) -> None:
    created = system.create_ticket(DRAFT, idempotency_key=new_key())
    db.set_status(created.external_key, TicketStatus.CLOSED)

    ticket = system.resolve_ticket(created.external_key, "Done.")

    assert ticket.status is ExternalTicketStatus.CLOSED and ticket.resolution is None
    assert db.ticket(created.external_key).resolved_at is None


def test_resolve_missing_ticket_raises_not_found(system: BuiltinTicketSystem) -> None:
    with pytest.raises(RemoteNotFoundError):
        system.resolve_ticket("HD-999", "Done.")


def test_status_webhook_is_rejected(system: BuiltinTicketSystem) -> None:
    with pytest.raises(RemoteRejectedError, match="no status webhooks") as raised:
        system.parse_status_webhook(b'{"status": "resolved"}', {"Content-Type": "application/json"})

    assert raised.value.system == "builtin"


# ---- resolved-ticket feed -------------------------------------------------------------------------

SINCE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def add_ticket(
    db: Db,
    status: TicketStatus,
    resolved_at: datetime | None,
    *,
    system: TicketSystemKind = TicketSystemKind.BUILTIN,
    **fields: Any,
) -> str:
    """A ticket row as the web app or a sync leaves it; returns its key."""
    with session_scope(db.sessions) as session:
        ticket = Ticket(
            system=system,
            external_key=f"pending:{uuid.uuid4().hex}",
            title=f"Ticket {status.value}",
            requester_id=db.ada_id,
            status=status,
            resolved_at=resolved_at,
            **fields,
        )
        session.add(ticket)
        session.flush()
        ticket.external_key = f"HD-{ticket.id}"
        return ticket.external_key


def test_feed_pages_resolved_and_closed_builtin_tickets_since_oldest_first(
    db: Db, system: BuiltinTicketSystem
) -> None:
    add_ticket(db, TicketStatus.RESOLVED, SINCE - timedelta(minutes=1))
    hours = (3, 2, 1, 4, 2)  # two resolved at the same time, split across pages
    keys = [
        add_ticket(db, TicketStatus.CLOSED if n % 2 else TicketStatus.RESOLVED, SINCE + timedelta(hours=h))
        for n, h in enumerate(hours)
    ]
    add_ticket(db, TicketStatus.OPEN, None)
    add_ticket(db, TicketStatus.CANCELLED, SINCE + timedelta(hours=1))
    add_ticket(db, TicketStatus.RESOLVED, SINCE + timedelta(hours=1), system=TicketSystemKind.JIRA)
    assert isinstance(system, ResolvedTicketFeed)

    batches = list(system.resolved_since(SINCE, limit=2))

    by_time = [key for _, key in sorted(zip(hours, keys, strict=True), key=lambda pair: pair[0])]
    assert [[t.external_key for t in batch] for batch in batches] == [by_time[:2], by_time[2:4], by_time[4:]]
    tickets = [t for batch in batches for t in batch]
    assert [t.resolved_at for t in tickets] == [SINCE + timedelta(hours=h) for h in sorted(hours)]
    assert {t.system for t in tickets} == {"builtin"}


def test_feed_maps_people_and_takes_resolution_text_else_last_public_comment(
    db: Db, system: BuiltinTicketSystem
) -> None:
    with session_scope(db.sessions) as session:
        grace = Employee(email="grace@example.com", display_name="Grace Hopper")
        session.add(grace)
        session.flush()
        grace_id = grace.id
    noted = add_ticket(
        db,
        TicketStatus.RESOLVED,
        SINCE + timedelta(hours=1),
        description="The dock does not charge.",
        category="hardware",
        assignee_id=grace_id,
        resolution_text="Replaced the dock.",
    )
    commented = add_ticket(db, TicketStatus.CLOSED, SINCE + timedelta(hours=2))
    system.add_comment(commented, "Swapped the USB-C cable.", public=True)
    system.add_comment(commented, "Cable from stock room B.", public=False)

    (batch,) = list(system.resolved_since(SINCE))

    first, second = batch
    assert (first.external_key, second.external_key) == (noted, commented)
    assert first.url == f"https://desk.example.com/tickets/{noted}"
    assert (first.description, first.category, first.resolution) == (
        "The dock does not charge.",
        "hardware",
        "Replaced the dock.",
    )
    assert (first.requester_email, first.requester_name, first.assignee_name) == (
        "ada@example.com",
        "Ada Lovelace",
        "Grace Hopper",
    )
    assert first.status is ExternalTicketStatus.RESOLVED
    assert (second.resolution, second.assignee_name, second.status) == (
        "Swapped the USB-C cable.",
        None,
        ExternalTicketStatus.CLOSED,
    )


def test_feed_sees_tickets_resolved_through_the_system(system: BuiltinTicketSystem) -> None:
    since = datetime.now(UTC) - timedelta(minutes=1)
    created = system.create_ticket(DRAFT, idempotency_key=new_key())
    system.create_ticket(DRAFT, idempotency_key=new_key())  # still open
    system.resolve_ticket(created.external_key, "Password reset by Deskpilot automation.")

    tickets = [t for batch in system.resolved_since(since) for t in batch]

    assert [(t.external_key, t.resolution, t.category) for t in tickets] == [
        (created.external_key, "Password reset by Deskpilot automation.", "network")
    ]
    assert since <= tickets[0].resolved_at <= datetime.now(UTC)


def test_feed_refuses_naive_since_and_bad_limit(system: BuiltinTicketSystem) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        system.resolved_since(SINCE.replace(tzinfo=None))
    with pytest.raises(ValueError, match="limit"):
        system.resolved_since(SINCE, limit=0)

    assert list(system.resolved_since(SINCE)) == []
