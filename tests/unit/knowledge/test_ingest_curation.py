"""Curation survives re-syncs: local edits and an unpublish/archive win while the source is unchanged."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from connectors.folder.source import FolderKnowledgeSource
from knowledge.acl import Viewer
from knowledge.ingest import IngestReport, ingest_source
from services.common.db import session_scope
from services.directory.models import Employee
from services.kb.editing import ArticleAction, build_article_edit, change_article_status, save_article_edit
from services.kb.models import Article, ArticleStatus, ArticleVersion
from tests.unit.knowledge.conftest import KnowledgeEnv, write_article

BODY = "## Resolution\n\n1. Open GlobalProtect and reconnect to vpn.northwind.example.\n" * 2


def _sync(env: KnowledgeEnv, folder: Path) -> IngestReport:
    return ingest_source(
        FolderKnowledgeSource("handbook", folder),
        kind="folder",
        index=env.index,
        session_factory=env.session_factory,
    )


def _setup(env: KnowledgeEnv, folder: Path) -> tuple[int, int]:
    write_article(folder, "vpn.md", title="VPN keeps dropping", body=BODY)
    _sync(env, folder)
    with session_scope(env.session_factory) as db_session:
        editor = Employee(email="kim@example.com", display_name="Kim")
        db_session.add(editor)
        db_session.flush()
        article_id = db_session.scalars(select(Article.id)).one()
        return article_id, editor.id


def _top_text(env: KnowledgeEnv, query: str) -> str:
    hits = env.index.retriever().retrieve(query, viewer=Viewer(), k=1).chunks
    return hits[0].chunk.text if hits else ""


def _state(env: KnowledgeEnv, article_id: int) -> tuple[ArticleStatus, int, list[str]]:
    with session_scope(env.session_factory) as db_session:
        article = db_session.get_one(Article, article_id)
        notes = db_session.scalars(
            select(ArticleVersion.change_note)
            .where(ArticleVersion.article_id == article_id)
            .order_by(ArticleVersion.version)
        ).all()
        return article.status, article.current_version, [n or "" for n in notes]


def test_a_local_edit_survives_a_resync_until_the_source_changes(
    knowledge_env: KnowledgeEnv, tmp_path: Path
) -> None:
    folder = tmp_path / "kb"
    article_id, editor_id = _setup(knowledge_env, folder)
    edited = BODY + "\n2. If it still drops, switch the portal protocol to TCP (local tip).\n"
    edit = build_article_edit(
        title="VPN keeps dropping", body_markdown=edited, category="", audience=(), change_note="local tip"
    )
    save_article_edit(
        knowledge_env.session_factory,
        knowledge_env.index,
        article_id=article_id,
        base_version=1,
        edit=edit,
        author_id=editor_id,
    )
    again = _sync(knowledge_env, folder)
    assert (again.unchanged, again.changed) == (1, 0)
    assert _state(knowledge_env, article_id)[1] == 2
    assert "local tip" in _top_text(knowledge_env, "switch the portal protocol to TCP")

    write_article(folder, "vpn.md", title="VPN keeps dropping", body=BODY + "\nUpdated upstream: use MFA.\n")
    changed = _sync(knowledge_env, folder)
    assert changed.changed == 1
    status, version, notes = _state(knowledge_env, article_id)
    assert (status, version) == (ArticleStatus.PUBLISHED, 3)
    assert notes[-1] == "synced from handbook (replacing local edits)"
    assert "local tip" not in _top_text(knowledge_env, "switch the portal protocol to TCP")


def test_an_archived_article_stays_out_of_service_across_resyncs(
    knowledge_env: KnowledgeEnv, tmp_path: Path
) -> None:
    folder = tmp_path / "kb"
    article_id, editor_id = _setup(knowledge_env, folder)
    change_article_status(
        knowledge_env.session_factory,
        knowledge_env.index,
        article_id=article_id,
        actor_id=editor_id,
        action=ArticleAction.ARCHIVE,
    )
    assert "GlobalProtect" not in _top_text(knowledge_env, "GlobalProtect reconnect")
    assert _sync(knowledge_env, folder).unchanged == 1
    assert _state(knowledge_env, article_id)[0] is ArticleStatus.ARCHIVED

    write_article(folder, "vpn.md", title="VPN keeps dropping", body=BODY + "\nNew upstream step.\n")
    _sync(knowledge_env, folder)
    status, version, notes = _state(knowledge_env, article_id)
    assert (status, version) == (ArticleStatus.ARCHIVED, 2)
    assert notes[-1] == "synced from handbook (while out of service)"
    assert "GlobalProtect" not in _top_text(knowledge_env, "GlobalProtect reconnect")
    assert _sync(knowledge_env, folder).unchanged == 1
