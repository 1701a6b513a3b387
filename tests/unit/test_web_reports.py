"""The manager ROI page and its CSV export over a small generated history (SQLite)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.admin.app import create_app
from services.admin.auth import hash_password
from services.common.db import build_engine, build_session_factory, session_scope
from services.common.migrate import build_alembic_config, upgrade
from services.directory.models import Employee, EmployeeRole, Role
from services.reports.history import generate_history
from tests.conftest import make_settings

PASSWORD = "correct horse battery"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(tmp_path)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(build_alembic_config(database_url=settings.database.url))
    engine = build_engine(settings.database)
    sessions = build_session_factory(engine)
    generate_history(sessions, conversations=400, tickets=200, weeks=4)
    with session_scope(sessions) as db_session:
        for email, role in (("mo.boss@example.com", Role.MANAGER), ("eve.staff@example.com", None)):
            person = Employee(email=email, display_name=email[:3], password_hash=hash_password(PASSWORD))
            if role is not None:
                person.role_grants.append(EmployeeRole(role=role))
            db_session.add(person)
    engine.dispose()
    with TestClient(create_app(settings), base_url="https://testserver") as test_client:
        yield test_client


def _sign_in(client: TestClient, email: str) -> None:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert token
    client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)})


def test_manager_sees_the_report_with_definitions_and_sources_and_downloads_csv(client: TestClient) -> None:
    _sign_in(client, "mo.boss@example.com")
    page = client.get("/reports/roi")
    assert page.status_code == 200
    conversations = re.search(r'data-testid="conversations">(\d+)<', page.text)
    assert conversations and int(conversations.group(1)) > 0
    assert "How these figures are defined" in page.text and "Sources of the cost assumptions" in page.text
    assert "<svg" in page.text and "By department" in page.text
    csv = client.get("/reports/roi.csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv.headers["content-disposition"] and len(csv.text.splitlines()) > 10
    assert client.get("/reports/roi?start=2026-05-01&end=2026-01-01").status_code == 400


def test_employees_are_refused_the_manager_pages(client: TestClient) -> None:
    _sign_in(client, "eve.staff@example.com")
    assert client.get("/reports/roi").status_code == 403
    assert client.get("/reports/roi.csv").status_code == 403
