"""Sign-in accounts and generated history for the demo company (``make run``; never in production).

The demo people with a role (admin, knowledge editor, manager) and one employee get a local password,
generated once per installation and kept in ``<data_dir>/demo-logins.txt`` (mode 0600) so that ``make run``
can print it every time. History (12 weeks of conversations, tickets and automation runs) is generated
once: a database that already holds conversations is left alone.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from services.admin.auth import hash_password, verify_password
from services.common.config import Environment, Settings
from services.common.db import session_scope
from services.conversations.models import Conversation
from services.directory.demo import DEMO_PEOPLE, seed_demo_directory
from services.directory.models import Employee, Role
from services.reports.history import HistorySummary, generate_history

LOGINS_FILE = "demo-logins.txt"
DEMO_EMPLOYEE = "sam.sales@northwind.example"


@dataclass(frozen=True)
class DemoLogin:
    """One demo account: who, which role, and the password to sign in with."""

    email: str
    role: str
    password: str


def _accounts() -> list[tuple[str, str]]:
    accounts = [(p.email, p.roles[0].value) for p in DEMO_PEOPLE if p.roles]
    return [*accounts, (DEMO_EMPLOYEE, Role.EMPLOYEE.value)]


def _read_saved(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    saved: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) == 3 and "@" in parts[0]:
            saved[parts[0]] = parts[2]
    return saved


def ensure_demo_logins(settings: Settings, session_factory: sessionmaker[Session]) -> list[DemoLogin]:
    """Give the demo accounts passwords (kept from an earlier run when still valid) and save them."""
    if settings.environment is Environment.PRODUCTION:
        raise RuntimeError("demo accounts are never created in production")
    path = settings.data_dir / LOGINS_FILE
    saved = _read_saved(path)
    logins: list[DemoLogin] = []
    with session_scope(session_factory) as db_session:
        seed_demo_directory(db_session)
        for email, role in _accounts():
            employee = db_session.scalar(select(Employee).where(Employee.email == email))
            if employee is None:
                raise RuntimeError(f"demo person {email} is missing")
            password = saved.get(email)
            if password is None or not verify_password(employee.password_hash, password):
                password = secrets.token_urlsafe(12)
                employee.password_hash = hash_password(password)
            logins.append(DemoLogin(email, role, password))
    _save(path, logins)
    return logins


def _save(path: Path, logins: list[DemoLogin]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# Deskpilot demo sign-ins (local accounts; e-mail, role, password). Not for production.\n"]
    lines += [f"{login.email} {login.role} {login.password}\n" for login in logins]
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.writelines(lines)
    path.chmod(0o600)


def ensure_demo_history(
    session_factory: sessionmaker[Session], *, conversations: int, tickets: int, weeks: int = 12
) -> HistorySummary | None:
    """Generate history when the database has no conversations yet; None when it already has some."""
    with session_scope(session_factory) as db_session:
        if db_session.scalar(select(func.count()).select_from(Conversation)):
            return None
    return generate_history(session_factory, conversations=conversations, tickets=tickets, weeks=weeks)
