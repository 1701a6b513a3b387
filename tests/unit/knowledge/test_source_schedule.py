"""Scheduled source syncs: the beat sweep finds sources whose interval elapsed and syncs them on Celery."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

import knowledge.index
from connectors.fakes.embedder import HashingEmbedder
from services.automations.context import build_automation_context, configure_automation_context
from services.common.config import Settings, get_settings
from services.common.db import session_scope, utcnow
from services.kb.models import IngestionRun, KnowledgeSource, RunStatus
from services.kb.sources import due_source_ids
from services.worker.celery_app import create_celery_app
from services.worker.dispatch import enqueue
from services.worker.queues import TaskName
from tests.unit.knowledge.conftest import KnowledgeEnv, write_article


@pytest.fixture
def eager(knowledge_env: KnowledgeEnv, monkeypatch: pytest.MonkeyPatch) -> Iterator[KnowledgeEnv]:
    settings = knowledge_env.settings
    monkeypatch.setenv("DESKPILOT_DATABASE__URL", settings.database.url)
    monkeypatch.setenv("DESKPILOT_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("DESKPILOT_CHROMA__PATH", str(settings.chroma.path))
    monkeypatch.setenv("DESKPILOT_KNOWLEDGE__BM25_PATH", str(settings.knowledge.bm25_path))
    get_settings.cache_clear()
    original = knowledge.index.open_knowledge_index

    def with_fake_embedder(chosen: Settings, **_: object) -> knowledge.index.KnowledgeIndex:
        return original(chosen, embedder=HashingEmbedder())

    monkeypatch.setattr(knowledge.index, "open_knowledge_index", with_fake_embedder)
    create_celery_app(settings)  # no broker: eager
    configure_automation_context(build_automation_context(settings, knowledge_env.session_factory))
    yield knowledge_env
    configure_automation_context(None)
    get_settings.cache_clear()


def _source(env: KnowledgeEnv, name: str, folder: Path, **fields: object) -> int:
    with session_scope(env.session_factory) as db_session:
        row = KnowledgeSource(name=name, kind="folder", config={"path": str(folder)}, **fields)
        db_session.add(row)
        db_session.flush()
        return row.id


def test_due_sources_are_the_enabled_ones_whose_interval_elapsed(
    knowledge_env: KnowledgeEnv, tmp_path: Path
) -> None:
    now = utcnow()
    never = _source(knowledge_env, "never", tmp_path, sync_interval_minutes=60)
    stale = _source(
        knowledge_env, "stale", tmp_path, sync_interval_minutes=60, last_sync_at=now - timedelta(hours=2)
    )
    _source(
        knowledge_env, "fresh", tmp_path, sync_interval_minutes=60, last_sync_at=now - timedelta(minutes=5)
    )
    _source(knowledge_env, "manual", tmp_path, sync_interval_minutes=None)
    _source(knowledge_env, "off", tmp_path, sync_interval_minutes=60, enabled=False)
    with session_scope(knowledge_env.session_factory) as db_session:
        db_session.add(
            KnowledgeSource(name="generated", kind="generated", config={}, sync_interval_minutes=1)
        )
        db_session.flush()
        assert sorted(due_source_ids(db_session=db_session, now=now)) == sorted([never, stale])


def test_the_beat_sweep_syncs_due_sources_once_and_records_a_scheduled_run(
    eager: KnowledgeEnv, tmp_path: Path
) -> None:
    folder = tmp_path / "kb"
    write_article(
        folder, "vpn.md", title="VPN keeps dropping", body="## Fix\n\nReconnect GlobalProtect.\n" * 3
    )
    source_id = _source(eager, "handbook", folder, sync_interval_minutes=60)
    enqueue(TaskName.SYNC_DUE_SOURCES)
    enqueue(TaskName.SYNC_DUE_SOURCES)  # the interval has not elapsed again: nothing more
    with session_scope(eager.session_factory) as db_session:
        runs = db_session.scalars(select(IngestionRun).where(IngestionRun.source_id == source_id)).all()
        assert [(r.trigger, r.status, r.documents) for r in runs] == [("schedule", RunStatus.SUCCEEDED, 1)]
        assert db_session.get_one(KnowledgeSource, source_id).last_sync_at is not None
