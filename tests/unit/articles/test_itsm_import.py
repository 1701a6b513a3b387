"""Resolved ServiceNow incidents mirrored into our ``tickets`` table (against the incident emulator), and the
article pipeline reading them from there."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from connectors.fakes.embedder import HashingEmbedder
from connectors.servicenow.tickets import ServiceNowTicketSystem
from services.articles.itsm_import import IMPORT_REQUESTER, import_resolved_tickets
from services.articles.models import ArticleDraft
from services.articles.pipeline import generate_drafts, resolved_tickets
from services.common.db import build_engine, build_session_factory, session_scope
from services.common.migrate import build_alembic_config, upgrade
from services.directory.models import Employee
from services.tickets.models import Ticket, TicketStatus, TicketSystemKind
from tests.conftest import make_settings
from tests.emulators.harness import serve_emulator
from tests.emulators.servicenow_incident import DEFAULT_USERS, build_app

USER = "deskpilot.integration"
PASSWORD = "sn-password-9c4a"
ADA, BETH = DEFAULT_USERS[0], DEFAULT_USERS[2]  # Beth is in ServiceNow, not in our directory
NOW = datetime.now(UTC).replace(microsecond=0)
SINCE = NOW - timedelta(days=7)


@dataclass
class World:
    """A migrated database with Ada in the directory, and a ServiceNow instance with its adapter."""

    sessions: sessionmaker[Session]
    servicenow: ServiceNowTicketSystem
    base_url: str
    ada_id: int

    def incident(self, state: str, resolved_at: datetime | None, **fields: Any) -> str:
        """An incident entered in ServiceNow itself; returns its number."""
        record: dict[str, Any] = {"state": state, **fields}
        if resolved_at is not None:
            record["resolved_at"] = record["sys_updated_on"] = f"{resolved_at:%Y-%m-%d %H:%M:%S}"
            record.setdefault("close_code", "Solution provided")
        reply = httpx.post(f"{self.base_url}/_incident", json=record, timeout=5)
        reply.raise_for_status()
        number: str = reply.json()["number"]
        return number

    def patch(self, number: str, changes: dict[str, str]) -> None:
        """An agent editing the incident in ServiceNow."""
        auth = (USER, PASSWORD)
        found = httpx.get(
            f"{self.base_url}/api/now/table/incident",
            params={"sysparm_query": f"number={number}", "sysparm_fields": "sys_id"},
            auth=auth,
            timeout=5,
        )
        sys_id = found.json()["result"][0]["sys_id"]
        httpx.patch(
            f"{self.base_url}/api/now/table/incident/{sys_id}", json=changes, auth=auth, timeout=5
        ).raise_for_status()

    def import_(self) -> int:
        return import_resolved_tickets(self.sessions, self.servicenow, since=SINCE)

    def rows(self) -> dict[str, Ticket]:
        with session_scope(self.sessions) as db_session:
            tickets = db_session.scalars(select(Ticket).where(Ticket.system == TicketSystemKind.SERVICENOW))
            return {t.external_key: t for t in tickets}

    def requester_email(self, external_key: str) -> str:
        with session_scope(self.sessions) as db_session:
            email = db_session.scalar(
                select(Employee.email)
                .join(Ticket, Ticket.requester_id == Employee.id)
                .where(Ticket.external_key == external_key)
            )
            assert email is not None
            return email


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    settings = make_settings(tmp_path)
    upgrade(build_alembic_config(database_url=settings.database.url))
    engine = build_engine(settings.database)
    sessions = build_session_factory(engine)
    with session_scope(sessions) as db_session:
        ada = Employee(email="ada@example.com", display_name="Ada Lovelace")
        db_session.add(ada)
        db_session.flush()
        ada_id = ada.id
    with serve_emulator(*build_app(user=USER, secret=PASSWORD)) as emulator:
        servicenow = ServiceNowTicketSystem(emulator.base_url, USER, PASSWORD)
        yield World(sessions, servicenow, emulator.base_url, ada_id)
        servicenow.close()
    engine.dispose()


def seed_three(world: World) -> list[str]:
    """Three incidents resolved in the window (plus one open and one resolved long before)."""
    world.incident("6", SINCE - timedelta(days=3), short_description="Old", close_notes="Long ago.")
    world.incident("2", None, short_description="Still open")
    return [
        world.incident(
            "6",
            NOW - timedelta(days=2),
            short_description="VPN drops every hour",
            description="Since Monday the VPN disconnects every hour.",
            close_notes="Updated the VPN client to 5.1.",
            category="network",
            caller_id=ADA.sys_id,
            assigned_to=BETH.sys_id,
        ),
        world.incident(
            "7",
            NOW - timedelta(days=1),
            short_description="Laptop dock does not charge",
            description="The USB-C dock stopped charging the laptop.",
            close_notes="Replaced the dock.",
            category="hardware",
            caller_id=BETH.sys_id,
        ),
        world.incident(
            "6", NOW - timedelta(hours=5), short_description="Printer jam", close_notes="Cleared it."
        ),
    ]


def test_import_twice_stores_each_resolved_incident_once(world: World) -> None:
    vpn, dock, printer = seed_three(world)

    first = world.import_()
    second = world.import_()

    assert (first, second) == (3, 0)
    rows = world.rows()
    assert sorted(rows) == sorted([vpn, dock, printer])
    row = rows[vpn]
    assert (row.title, row.description, row.category) == (
        "VPN drops every hour",
        "Since Monday the VPN disconnects every hour.",
        "Network",
    )
    assert (row.status, row.resolution_text, row.resolved_at) == (
        TicketStatus.RESOLVED,
        "Updated the VPN client to 5.1.",
        NOW - timedelta(days=2),
    )
    assert row.url is not None and row.url.startswith(f"{world.base_url}/incident.do?sys_id=")
    assert rows[dock].status is TicketStatus.CLOSED
    assert row.requester_id == world.ada_id  # matched by e-mail, case-insensitively
    assert world.requester_email(dock) == world.requester_email(printer) == IMPORT_REQUESTER
    with session_scope(world.sessions) as db_session:
        assert db_session.scalar(select(func.count()).select_from(Employee)) == 2  # Ada and the placeholder


def test_import_updates_a_changed_resolution_only(world: World) -> None:
    vpn, dock, _ = seed_three(world)
    world.import_()
    world.patch(vpn, {"close_notes": "Updated the VPN client to 5.2 and reset the tunnel."})
    world.patch(dock, {"short_description": "Dock (edited)"})  # same resolution: left as it is

    changed = world.import_()

    assert changed == 1
    rows = world.rows()
    assert rows[vpn].resolution_text == "Updated the VPN client to 5.2 and reset the tunnel."
    assert rows[dock].title == "Laptop dock does not charge"
    assert len(rows) == 3


def test_import_leaves_tickets_deskpilot_tracks_as_open_to_the_status_sync(world: World) -> None:
    number = world.incident("6", NOW - timedelta(hours=1), short_description="Mine", close_notes="Done.")
    with session_scope(world.sessions) as db_session:
        db_session.add(
            Ticket(
                system=TicketSystemKind.SERVICENOW,
                external_key=number,
                title="Mine",
                status=TicketStatus.OPEN,
                requester_id=world.ada_id,
            )
        )

    assert world.import_() == 0
    assert world.rows()[number].status is TicketStatus.OPEN  # the sync resolves it and tells Ada


def test_pipeline_sees_imported_tickets(world: World) -> None:
    keys = seed_three(world)
    world.import_()

    seen = resolved_tickets(world.sessions)
    report = generate_drafts(
        world.sessions, embedder=HashingEmbedder(), retriever=None, llm=None, min_cluster_size=1
    )

    by_key = {t.external_key: t for t in seen}
    assert sorted(by_key) == sorted(keys)
    assert by_key[keys[0]].resolution == "Updated the VPN client to 5.1."
    assert "Ada Lovelace" in by_key[keys[0]].people  # the requester's name is scrubbed from drafts
    assert report.tickets_considered == 3 and report.drafts_created
    with session_scope(world.sessions) as db_session:
        drafts = db_session.scalars(select(ArticleDraft)).all()
        sources = {t.external_key for draft in drafts for t in draft.source_tickets}
    assert sources == set(keys)
