"""Sign-in, roles, CSRF and sessions of the web app (local accounts on the embedded default)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.admin.app import create_app
from services.admin.auth import hash_password
from services.audit.models import AuditEntry
from services.common.db import build_engine, build_session_factory, session_scope
from services.common.migrate import build_alembic_config, upgrade
from services.directory.models import Employee, EmployeeRole, Group, Role
from services.kb.models import Article, ArticleOrigin, ArticleStatus, ArticleVersion, KnowledgeSource
from tests.conftest import make_settings

PASSWORD = "correct horse battery"


@dataclass
class Web:
    client: TestClient
    article_id: int
    sessions: sessionmaker[Session]


@pytest.fixture
def app_client(tmp_path: Path) -> Iterator[Web]:
    settings = make_settings(tmp_path)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(build_alembic_config(database_url=settings.database.url))
    engine = build_engine(settings.database)
    sessions = build_session_factory(engine)
    with session_scope(sessions) as db_session:
        finance = Group(name="finance")
        for email, role in [
            ("ada.admin@example.com", Role.ADMIN),
            ("mo.manager@example.com", Role.MANAGER),
            ("eve.employee@example.com", None),
            ("fin.member@example.com", None),
        ]:
            person = Employee(
                email=email, display_name=email.split("@")[0], password_hash=hash_password(PASSWORD)
            )
            if role is not None:
                person.role_grants.append(EmployeeRole(role=role))
            if email.startswith("fin."):
                person.groups.append(finance)
            db_session.add(person)
        source = KnowledgeSource(name="kb", kind="folder", config={})
        db_session.add(source)
        db_session.flush()
        restricted = Article(
            source_id=source.id,
            external_id="payroll.md",
            title="Payroll export secrets",
            origin=ArticleOrigin.IMPORTED,
            current_version=1,
            status=ArticleStatus.PUBLISHED,
        )
        restricted.audience = [finance]
        restricted.versions.append(
            ArticleVersion(
                version=1,
                title="Payroll export secrets",
                body_markdown="# Payroll\n\nSteps.",
                content_hash="h",
            )
        )
        db_session.add(restricted)
        db_session.flush()
        article_id = restricted.id
    engine.dispose()
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        yield Web(client, article_id, sessions)


def _csrf(client: TestClient, path: str = "/login") -> str:
    page = client.get(path)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


def _sign_in(client: TestClient, email: str, password: str = PASSWORD, *, next_path: str = "/") -> Any:
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": _csrf(client), "next": next_path},
        follow_redirects=False,
    )


def test_admin_pages_need_sign_in_and_the_admin_role(app_client: Web) -> None:
    client = app_client.client
    anonymous = client.get("/admin", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login?next=/admin"

    assert _sign_in(client, "mo.manager@example.com", next_path="/admin").status_code == 303
    assert client.get("/admin").status_code == 403
    client.cookies.clear()
    assert _sign_in(client, "eve.employee@example.com").status_code == 303
    assert client.get("/admin").status_code == 403
    client.cookies.clear()
    signed_in = _sign_in(client, "ADA.admin@example.com", next_path="/admin")
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/admin"
    page = client.get("/admin")
    assert (
        page.status_code == 200 and 'data-testid="pending-drafts">0<' in page.text and "Sign out" in page.text
    )


def test_session_cookie_is_http_only_and_same_site_and_rotates_on_sign_in(
    app_client: Web,
) -> None:
    client = app_client.client
    client.get("/login")
    before = client.cookies.get("deskpilot_session")
    response = _sign_in(client, "ada.admin@example.com")
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert client.cookies.get("deskpilot_session") != before


def test_forms_without_a_valid_csrf_token_are_refused(app_client: Web) -> None:
    client = app_client.client
    no_token = client.post("/login", data={"email": "ada.admin@example.com", "password": PASSWORD})
    assert no_token.status_code == 403
    forged = client.post(
        "/login", data={"email": "ada.admin@example.com", "password": PASSWORD, "csrf_token": "x" * 43}
    )
    assert forged.status_code == 403
    _sign_in(client, "ada.admin@example.com")
    assert client.post("/logout", data={}).status_code == 403
    assert client.get("/admin").status_code == 200  # still signed in
    token = _csrf(client, "/admin")
    assert client.post("/logout", data={"csrf_token": token}, follow_redirects=False).status_code == 303
    assert client.get("/admin", follow_redirects=False).status_code == 303


def test_wrong_passwords_are_refused_audited_and_throttled(app_client: Web) -> None:
    client, state = app_client.client, app_client
    statuses = [_sign_in(client, "eve.employee@example.com", "wrong password!").status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    assert _sign_in(client, "eve.employee@example.com").status_code == 429
    with session_scope(state.sessions) as db_session:
        failed = db_session.scalars(select(AuditEntry).where(AuditEntry.action == "auth.login_failed")).all()
        assert len(failed) == 5


def test_sign_in_never_redirects_to_another_site(app_client: Web) -> None:
    client = app_client.client
    for target in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
        client.cookies.clear()
        response = _sign_in(client, "ada.admin@example.com", next_path=target)
        assert response.headers["location"] == "/"


def test_restricted_article_opens_only_for_its_audience(app_client: Web) -> None:
    client, state = app_client.client, app_client
    path = f"/kb/articles/{state.article_id}"
    anonymous = client.get(path)
    assert anonymous.status_code == 403 and "Payroll" not in anonymous.text
    _sign_in(client, "eve.employee@example.com")
    assert client.get(path).status_code == 403
    client.cookies.clear()
    _sign_in(client, "fin.member@example.com")
    member = client.get(path)
    assert member.status_code == 200 and "Payroll export secrets" in member.text
