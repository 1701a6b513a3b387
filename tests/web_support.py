"""Shared set-up for web app tests: a migrated embedded database, people with roles, signed-in clients."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import sessionmaker

from services.admin.app import create_app
from services.admin.auth import hash_password
from services.common.config import Settings
from services.common.db import build_engine, build_session_factory, session_scope
from services.common.migrate import build_alembic_config, upgrade
from services.directory.models import Employee, EmployeeRole, Group, Role
from tests.conftest import make_settings

PASSWORD = "correct horse battery"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class Person:
    """Someone to create before the test: e-mail, roles and directory groups."""

    email: str
    roles: tuple[Role, ...] = ()
    groups: tuple[str, ...] = ()


ADMIN = Person("ada.admin@example.com", (Role.ADMIN,))
EDITOR = Person("kim.editor@example.com", (Role.KNOWLEDGE_EDITOR,))
MANAGER = Person("mo.manager@example.com", (Role.MANAGER,))
EMPLOYEE = Person("eve.employee@example.com")
EVERYONE = (ADMIN, EDITOR, MANAGER, EMPLOYEE)


@dataclass
class WebSite:
    """A running app (TestClient) over a migrated database with ``people`` in it."""

    app: FastAPI
    client: TestClient
    settings: Settings
    sessions: sessionmaker[Any]


def add_people(sessions: sessionmaker[Any], people: Iterable[Person]) -> dict[str, int]:
    """Create ``people`` (password ``PASSWORD``); returns e-mail → employee id."""
    ids: dict[str, int] = {}
    with session_scope(sessions) as db_session:
        for person in people:
            employee = Employee(
                email=person.email,
                display_name=person.email.split("@")[0].replace(".", " ").title(),
                password_hash=hash_password(PASSWORD),
            )
            employee.role_grants.extend(EmployeeRole(role=role) for role in person.roles)
            for name in person.groups:
                group = db_session.query(Group).filter_by(name=name).one_or_none() or Group(name=name)
                employee.groups.append(group)
            db_session.add(employee)
            db_session.flush()
            ids[person.email] = employee.id
    return ids


@contextmanager
def web_site(
    tmp_path: Path, people: Iterable[Person] = EVERYONE, **settings_overrides: Any
) -> Iterator[WebSite]:
    """Migrate a fresh embedded database under ``tmp_path``, add ``people`` and serve the app."""
    settings = make_settings(tmp_path, **settings_overrides)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(build_alembic_config(database_url=settings.database.url))
    engine = build_engine(settings.database)
    sessions = build_session_factory(engine)
    add_people(sessions, people)
    app = create_app(settings)
    try:
        with TestClient(app, base_url="https://testserver") as client:
            yield WebSite(app, client, settings, sessions)
    finally:
        engine.dispose()


def csrf(client: TestClient, path: str) -> str:
    """The CSRF token of the form on ``path``."""
    match = CSRF_RE.search(client.get(path).text)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def sign_in(client: TestClient, email: str) -> None:
    """Sign ``email`` in with the shared password (clearing any previous session)."""
    client.cookies.clear()
    response = client.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf(client, "/login")}
    )
    assert response.status_code == 200 and "Sign out" in response.text, f"sign-in failed for {email}"
