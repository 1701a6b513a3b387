from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from services import models
from services.common.config import DatabaseSettings
from services.common.db import build_engine, build_session_factory, session_scope


@pytest.fixture
def session() -> Iterator[Session]:
    engine = build_engine(DatabaseSettings(url="sqlite://"))
    models.Base.metadata.create_all(engine)
    with Session(engine) as db_session:
        yield db_session
    engine.dispose()


def _employee(email: str = "ana@example.test") -> models.Employee:
    return models.Employee(email=email, display_name="Ana")


def test_employee_roles_include_implicit_employee_and_groups(session: Session) -> None:
    manager = _employee("boss@example.test")
    vpn = models.Group(name="vpn-users")
    ana = _employee()
    ana.manager = manager
    ana.groups.append(vpn)
    ana.role_grants.append(models.EmployeeRole(role=models.Role.MANAGER))
    session.add_all([manager, ana])
    session.commit()
    loaded = session.scalars(select(models.Employee).where(models.Employee.email == "ana@example.test")).one()
    assert loaded.roles == {models.Role.EMPLOYEE, models.Role.MANAGER}
    assert loaded.group_names == {"vpn-users"}
    assert loaded.manager is not None and loaded.manager.email == "boss@example.test"
    assert [r.email for r in manager.reports] == ["ana@example.test"]


def test_utc_datetime_round_trips_timezone_aware_on_sqlite(session: Session) -> None:
    ana = _employee()
    session.add(ana)
    session.flush()
    conversation = models.Conversation(
        employee_id=ana.id,
        channel=models.Channel.WEB,
        started_at=datetime(2026, 11, 23, 12, 0, tzinfo=timezone(timedelta(hours=2))),
    )
    session.add(conversation)
    session.commit()
    session.expire_all()
    stored = session.get(models.Conversation, conversation.id)
    assert stored is not None
    assert stored.started_at == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert stored.started_at.tzinfo is UTC


def test_utc_datetime_rejects_naive_values(session: Session) -> None:
    ana = _employee()
    ana.last_login_at = datetime(2026, 1, 1)  # naive: ambiguous, refused
    session.add(ana)
    with pytest.raises(StatementError, match="naive datetime"):
        session.flush()


def test_str_enum_column_refuses_unknown_values_and_returns_enum(session: Session) -> None:
    ana = _employee()
    session.add(ana)
    session.flush()
    run = models.AutomationRun(kind="password_reset", idempotency_key="auto:pr:1", requester_id=ana.id)
    session.add(run)
    session.commit()
    session.expire_all()
    loaded = session.get(models.AutomationRun, run.id)
    assert loaded is not None
    assert loaded.kind is models.AutomationKind.PASSWORD_RESET
    assert loaded.state is models.AutomationState.PENDING
    assert session.execute(text("SELECT kind FROM automation_runs")).scalar_one() == "password_reset"
    session.add(models.AutomationRun(kind="format_disk", idempotency_key="auto:x:1", requester_id=ana.id))
    with pytest.raises(StatementError, match="format_disk"):
        session.flush()


def test_automation_run_idempotency_key_is_unique(session: Session) -> None:
    ana = _employee()
    session.add(ana)
    session.flush()
    for _ in range(2):
        session.add(
            models.AutomationRun(
                kind=models.AutomationKind.CREATE_TICKET, idempotency_key="k1", requester_id=ana.id
            )
        )
    with pytest.raises(IntegrityError):
        session.flush()


def test_automation_state_finality() -> None:
    assert models.AutomationState.SUCCEEDED.is_final
    assert models.AutomationState.DENIED.is_final
    assert not models.AutomationState.AWAITING_APPROVAL.is_final


def test_article_versions_audience_and_chunks_cascade(session: Session) -> None:
    finance = models.Group(name="finance")
    article = models.Article(title="Expense tool access", status=models.ArticleStatus.PUBLISHED)
    article.audience.append(finance)
    article.versions.append(
        models.ArticleVersion(
            version=1, title="Expense tool access", body_markdown="# Steps", content_hash="a" * 64
        )
    )
    article.chunks.append(models.Chunk(id="kb:1:0", ordinal=0, text="Steps", content_hash="b" * 64))
    session.add(article)
    session.commit()
    session.delete(article)
    session.commit()
    assert session.scalar(select(models.Chunk).limit(1)) is None
    assert session.scalar(select(models.ArticleVersion).limit(1)) is None
    assert session.scalars(select(models.Group)).one().name == "finance"


def test_session_scope_commits_on_success_and_rolls_back_on_error() -> None:
    engine = create_engine("sqlite://")
    models.Base.metadata.create_all(engine)
    factory = build_session_factory(engine)
    with session_scope(factory) as db_session:
        db_session.add(_employee("kept@example.test"))
    with pytest.raises(RuntimeError), session_scope(factory) as db_session:
        db_session.add(_employee("dropped@example.test"))
        db_session.flush()
        raise RuntimeError("flow failed")
    with session_scope(factory) as db_session:
        emails = db_session.scalars(select(models.Employee.email)).all()
    assert emails == ["kept@example.test"]
