"""BuiltinIdentityProvider on a real, migrated SQLite database."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from connectors.errors import RemoteNotFoundError, RemoteRejectedError
from connectors.interfaces import IdentityProvider
from connectors.models import DirectoryUser
from services.common.db import build_engine, build_session_factory, session_scope
from services.common.migrate import build_alembic_config, upgrade
from services.directory import identity
from services.directory.identity import BuiltinIdentityProvider
from services.directory.models import Employee, Group, employee_groups
from tests.conftest import make_settings

VPN, EVERYONE = "VPN users", "Everyone"


@dataclass
class Db:
    """The migrated database with Ada (in Everyone), Bob (deactivated) and two groups."""

    engine: Engine
    sessions: sessionmaker[Session]
    ada: str
    bob: str

    def memberships(self, group_name: str) -> list[int]:
        """Employee ids in the group, one per row of ``employee_groups``."""
        with session_scope(self.sessions) as session:
            return list(
                session.scalars(
                    select(employee_groups.c.employee_id)
                    .join(Group, Group.id == employee_groups.c.group_id)
                    .where(Group.name == group_name)
                )
            )


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Db]:
    settings = make_settings(tmp_path)
    upgrade(build_alembic_config(database_url=settings.database.url))
    engine = build_engine(settings.database)
    sessions = build_session_factory(engine)
    with session_scope(sessions) as session:
        everyone = Group(name=EVERYONE)
        ada = Employee(email="ada@example.com", display_name="Ada Lovelace", groups=[everyone])
        bob = Employee(email="bob@example.com", display_name="Bob Kahn", is_active=False)
        session.add_all([ada, bob, Group(name=VPN)])
        session.flush()
        ids = str(ada.id), str(bob.id)
    yield Db(engine, sessions, *ids)
    engine.dispose()


@pytest.fixture
def provider(db: Db) -> BuiltinIdentityProvider:
    return BuiltinIdentityProvider(db.sessions)


def test_satisfies_identity_provider_protocol(provider: BuiltinIdentityProvider) -> None:
    assert isinstance(provider, IdentityProvider)
    assert provider.system == "builtin"


@pytest.mark.parametrize("email", ["ada@example.com", "  ADA@Example.COM "])
def test_find_user_matches_email_case_insensitively(
    db: Db, provider: BuiltinIdentityProvider, email: str
) -> None:
    assert provider.find_user(email) == DirectoryUser(
        user_id=db.ada, email="ada@example.com", display_name="Ada Lovelace", active=True, locked=False
    )


@pytest.mark.parametrize("email", ["nobody@example.com", "bob@example.com", "", "  ", "ada"])
def test_find_user_unknown_deactivated_or_not_an_email_returns_none(
    provider: BuiltinIdentityProvider, email: str
) -> None:
    assert provider.find_user(email) is None


def test_find_user_by_id_returns_none(db: Db, provider: BuiltinIdentityProvider) -> None:
    assert provider.find_user(db.ada) is None  # an id is not an e-mail


def test_is_member_reads_membership(db: Db, provider: BuiltinIdentityProvider) -> None:
    assert provider.is_member(db.ada, EVERYONE) is True
    assert provider.is_member(db.ada, VPN) is False


def test_add_to_group_twice_adds_one_membership(db: Db, provider: BuiltinIdentityProvider) -> None:
    assert provider.add_to_group(db.ada, VPN) is True
    assert provider.add_to_group(db.ada, VPN) is False

    assert db.memberships(VPN) == [int(db.ada)]
    assert provider.is_member(db.ada, VPN) is True
    assert db.memberships(EVERYONE) == [int(db.ada)]


def test_add_existing_member_returns_false(db: Db, provider: BuiltinIdentityProvider) -> None:
    assert provider.add_to_group(db.ada, EVERYONE) is False
    assert db.memberships(EVERYONE) == [int(db.ada)]


def test_concurrent_adds_create_one_membership(db: Db, provider: BuiltinIdentityProvider) -> None:
    workers = 8
    barrier = threading.Barrier(workers)

    def add(_: int) -> bool:
        barrier.wait(timeout=10)
        return provider.add_to_group(db.ada, VPN)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(add, range(workers)))

    assert sorted(results) == [False] * (workers - 1) + [True]
    assert db.memberships(VPN) == [int(db.ada)]


def test_add_losing_the_race_after_its_check_returns_false(
    db: Db, provider: BuiltinIdentityProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_is_member = identity._is_member

    def other_worker_adds_after_check(session: Session, employee_id: int, group_id: int) -> bool:
        found = real_is_member(session, employee_id, group_id)
        if not found:  # another worker inserts between this check and our insert
            with session_scope(db.sessions) as other:
                other.execute(employee_groups.insert().values(employee_id=employee_id, group_id=group_id))
        return found

    monkeypatch.setattr(identity, "_is_member", other_worker_adds_after_check)

    assert provider.add_to_group(db.ada, VPN) is False
    assert db.memberships(VPN) == [int(db.ada)]


def test_unknown_group_raises_not_found_and_creates_nothing(
    db: Db, provider: BuiltinIdentityProvider
) -> None:
    with pytest.raises(RemoteNotFoundError) as raised:
        provider.add_to_group(db.ada, "No such group")
    with pytest.raises(RemoteNotFoundError):
        provider.is_member(db.ada, "No such group")

    assert raised.value.system == "builtin"
    with session_scope(db.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Group)) == 2
        assert session.scalar(select(func.count()).select_from(employee_groups)) == 1


def test_unknown_user_raises_not_found(provider: BuiltinIdentityProvider) -> None:
    with pytest.raises(RemoteNotFoundError):
        provider.is_member("999999", VPN)
    with pytest.raises(RemoteNotFoundError):
        provider.add_to_group("999999", VPN)


@pytest.mark.parametrize("user_id", ["", "ada", "0", "-1", "1 ", "../groups"])
def test_malformed_user_id_is_rejected(provider: BuiltinIdentityProvider, user_id: str) -> None:
    with pytest.raises(RemoteRejectedError, match="not an employee id"):
        provider.add_to_group(user_id, VPN)


def test_deactivated_employee_is_not_added(db: Db, provider: BuiltinIdentityProvider) -> None:
    with pytest.raises(RemoteRejectedError, match="deactivated"):
        provider.add_to_group(db.bob, VPN)

    assert db.memberships(VPN) == []


@pytest.mark.parametrize("operation", ["reset_password", "unlock"])
def test_password_operations_are_not_supported(
    db: Db, provider: BuiltinIdentityProvider, operation: str
) -> None:
    call: Callable[[str], object] = getattr(provider, operation)

    with pytest.raises(RemoteRejectedError, match="DESKPILOT_IDENTITY__KIND=okta or graph") as raised:
        call(db.ada)

    assert "has no passwords" in str(raised.value)
    assert raised.value.system == "builtin"


@pytest.mark.parametrize("operation", ["reset_password", "unlock"])
def test_password_operations_for_unknown_user_raise_not_found(
    provider: BuiltinIdentityProvider, operation: str
) -> None:
    call: Callable[[str], object] = getattr(provider, operation)

    with pytest.raises(RemoteNotFoundError):
        call("999999")
