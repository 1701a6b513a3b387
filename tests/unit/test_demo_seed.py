"""`deskpilot demo-seed` (run by `make run`): printed sign-ins that work, history generated once."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from services.admin.auth import verify_password
from services.cli import app
from services.common.db import build_engine, build_session_factory, session_scope
from services.common.migrate import build_alembic_config, upgrade
from services.conversations.models import Conversation
from services.directory.models import Employee, Role
from services.tickets.models import Ticket
from tests.conftest import make_settings

runner = CliRunner()
LOGIN_LINE = re.compile(r"^\s+(\w+)\s+(\S+@\S+)\s+password: (\S+)$", re.MULTILINE)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    settings = make_settings(tmp_path)
    settings.data_dir.mkdir(parents=True)
    upgrade(build_alembic_config(database_url=settings.database.url))
    monkeypatch.setenv("DESKPILOT_DATABASE__URL", settings.database.url)
    monkeypatch.setenv("DESKPILOT_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("DESKPILOT_WEB__PUBLIC_URL", "http://127.0.0.1:8000")
    return settings.data_dir


def _counts(data_dir: Path) -> tuple[int, int]:
    engine = build_engine(make_settings(data_dir.parent).database)
    with session_scope(build_session_factory(engine)) as db_session:
        counts = (
            db_session.scalar(select(func.count()).select_from(Conversation)) or 0,
            db_session.scalar(select(func.count()).select_from(Ticket)) or 0,
        )
    engine.dispose()
    return counts


def test_demo_seed_prints_working_logins_for_each_role_and_generates_history_once(data_dir: Path) -> None:
    first = runner.invoke(app, ["demo-seed", "--conversations", "300", "--tickets", "150", "--weeks", "12"])
    assert first.exit_code == 0, first.output
    assert "demo history: 300 conversations, 150 tickets" in first.output
    assert "Sign in at http://127.0.0.1:8000/login" in first.output
    logins = {email: (role, password) for role, email, password in LOGIN_LINE.findall(first.output)}
    assert {role for role, _ in logins.values()} == {r.value for r in Role}
    saved = data_dir / "demo-logins.txt"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    engine = build_engine(make_settings(data_dir.parent).database)
    with session_scope(build_session_factory(engine)) as db_session:
        for email, (role, password) in logins.items():
            person = db_session.scalar(select(Employee).where(Employee.email == email))
            assert person is not None and verify_password(person.password_hash, password)
            assert Role(role) in person.roles
    engine.dispose()
    assert _counts(data_dir) == (300, 150)

    again = runner.invoke(app, ["demo-seed", "--conversations", "300", "--tickets", "150"])
    assert again.exit_code == 0 and "already present (kept)" in again.output
    assert {e: p for _, e, p in LOGIN_LINE.findall(again.output)} == {e: p for e, (_, p) in logins.items()}
    assert _counts(data_dir) == (300, 150)


def test_demo_seed_refuses_production(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESKPILOT_ENVIRONMENT", "production")
    monkeypatch.setenv("DESKPILOT_WEB__SECRET_KEY", "s" * 40)
    monkeypatch.setenv("DESKPILOT_DATABASE__URL", "postgresql+psycopg://127.0.0.1:1/none")
    refused = runner.invoke(app, ["demo-seed"])
    assert refused.exit_code == 1 and "never created in production" in refused.output


def test_the_demo_review_queue_is_filled_once_from_seeded_tickets(tmp_path: Path) -> None:
    """With the real MiniLM embedder (the clustering threshold is calibrated for it)."""
    from knowledge.embeddings import LocalMiniLMEmbedder
    from knowledge.index import open_knowledge_index
    from services.articles.demo import ensure_demo_drafts
    from services.articles.models import ArticleDraft, DraftStatus

    settings = make_settings(tmp_path, knowledge={"bm25_path": tmp_path / "bm25"})
    settings.data_dir.mkdir(parents=True)
    upgrade(build_alembic_config(database_url=settings.database.url))
    engine = build_engine(settings.database)
    sessions = build_session_factory(engine)
    index = open_knowledge_index(settings, embedder=LocalMiniLMEmbedder())
    report = ensure_demo_drafts(sessions, index)
    assert report is not None and report.drafts_created
    with session_scope(sessions) as db_session:
        pending = db_session.scalars(
            select(ArticleDraft).where(ArticleDraft.status == DraftStatus.PENDING_REVIEW)
        ).all()
        assert {d.id for d in pending} == set(report.drafts_created)
    assert ensure_demo_drafts(sessions, index) is None
    engine.dispose()
