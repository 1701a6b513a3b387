"""The draft review pages: editors see drafts beside their source tickets and publish them at once."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from connectors.fakes.embedder import HashingEmbedder
from knowledge.index import open_knowledge_index
from services.admin.app import create_app
from services.admin.auth import hash_password
from services.articles.fixture_loader import load_fixture_tickets
from services.articles.fixtures import generate_resolved_tickets
from services.articles.models import ArticleDraft, DraftGenerator
from services.common.db import build_engine, build_session_factory, session_scope
from services.common.migrate import build_alembic_config, upgrade
from services.directory.models import Employee, EmployeeRole, Role
from services.tickets.models import Ticket
from tests.conftest import make_settings

PASSWORD = "correct horse battery"


@dataclass
class Site:
    client: TestClient
    draft_id: int
    ticket_key: str


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    settings = make_settings(tmp_path, knowledge={"bm25_path": tmp_path / "bm25"})
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(build_alembic_config(database_url=settings.database.url))
    engine = build_engine(settings.database)
    sessions = build_session_factory(engine)
    loaded = load_fixture_tickets(sessions, generate_resolved_tickets(seed=5, problems=2, noise=0))
    with session_scope(sessions) as db_session:
        for email, role in (
            ("kim.editor@example.com", Role.KNOWLEDGE_EDITOR),
            ("mo.manager@example.com", Role.MANAGER),
        ):
            person = Employee(email=email, display_name=email[:3], password_hash=hash_password(PASSWORD))
            person.role_grants.append(EmployeeRole(role=role))
            db_session.add(person)
        draft = ArticleDraft(
            title="Printer queue stuck",
            body_markdown="# Printer queue stuck\n\n## Resolution\n\n1. Restart the spooler.\n",
            generator=DraftGenerator.EXTRACTIVE,
            confidence=0.7,
            cluster_size=2,
            pii_report={"PERSON": 2},
            quality_flags=["dropped 1 step"],
        )
        draft.source_tickets = [db_session.get_one(Ticket, t.ticket_id) for t in loaded[:2]]
        db_session.add(draft)
        db_session.flush()
        draft_id, key = draft.id, loaded[0].external_key
    app = create_app(settings)
    with TestClient(app, base_url="https://testserver") as client:
        app.state.knowledge_index = open_knowledge_index(settings, embedder=HashingEmbedder())
        yield Site(client, draft_id, key)
    engine.dispose()


def _sign_in(client: TestClient, email: str) -> None:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert token
    client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)})


def _csrf(client: TestClient, path: str) -> str:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert token
    return token.group(1)


def test_editor_reviews_a_draft_beside_its_tickets_and_publishes_an_edited_version(site: Site) -> None:
    _sign_in(site.client, "kim.editor@example.com")
    queue = site.client.get("/admin/drafts")
    assert queue.status_code == 200 and f'href="/admin/drafts/{site.draft_id}"' in queue.text
    page = site.client.get(f"/admin/drafts/{site.draft_id}")
    assert site.ticket_key in page.text and "Restart the spooler" in page.text and "PERSON 2" in page.text
    csrf = _csrf(site.client, f"/admin/drafts/{site.draft_id}")
    edited = "# Printer queue stuck\n\n## Resolution\n\n1. Restart the Print Spooler.\n2. Clear the queue.\n"
    done = site.client.post(
        f"/admin/drafts/{site.draft_id}/decision",
        data={"csrf_token": csrf, "decision": "approve", "body_markdown": edited},
        follow_redirects=False,
    )
    assert done.status_code == 303
    after = site.client.get(f"/admin/drafts/{site.draft_id}")
    assert 'data-testid="draft-status">approved<' in after.text
    article = re.search(r'href="/kb/articles/(\d+)">published article', after.text)
    assert article
    published = site.client.get(f"/kb/articles/{article.group(1)}")
    assert published.status_code == 200 and "Clear the queue" in published.text


def test_review_needs_the_editor_role_a_csrf_token_and_a_reason_to_reject(site: Site) -> None:
    _sign_in(site.client, "mo.manager@example.com")
    assert site.client.get("/admin/drafts").status_code == 403
    site.client.cookies.clear()
    _sign_in(site.client, "kim.editor@example.com")
    no_token = site.client.post(
        f"/admin/drafts/{site.draft_id}/decision", data={"decision": "reject", "reason": "x"}
    )
    assert no_token.status_code == 403
    csrf = _csrf(site.client, "/admin/drafts")
    no_reason = site.client.post(
        f"/admin/drafts/{site.draft_id}/decision",
        data={"csrf_token": csrf, "decision": "reject", "reason": " "},
    )
    assert no_reason.status_code == 400 and "reason" in no_reason.text
