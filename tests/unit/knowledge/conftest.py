"""Fixtures for knowledge tests: a migrated SQLite database and indexes under tmp_path, hashing embedder."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from connectors.fakes.embedder import HashingEmbedder
from knowledge.index import KnowledgeIndex, open_knowledge_index
from services.common.config import Settings
from services.common.db import build_engine, build_session_factory
from services.common.migrate import build_alembic_config, upgrade
from tests.conftest import make_settings


@dataclass
class KnowledgeEnv:
    """Everything an ingestion or retrieval test needs."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    index: KnowledgeIndex
    embedder: HashingEmbedder


@pytest.fixture
def knowledge_env(tmp_path: Path) -> Iterator[KnowledgeEnv]:
    settings = make_settings(tmp_path, knowledge={"bm25_path": tmp_path / "var" / "bm25"})
    upgrade(build_alembic_config(database_url=settings.database.url))
    engine = build_engine(settings.database)
    embedder = HashingEmbedder()
    index = open_knowledge_index(settings, embedder=embedder)
    yield KnowledgeEnv(settings, engine, build_session_factory(engine), index, embedder)
    engine.dispose()


def write_article(
    folder: Path, name: str, *, title: str, body: str, audience: list[str] | None = None
) -> Path:
    """Write a Markdown article with front matter into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    audience_yaml = "[" + ", ".join(audience or []) + "]"
    path.write_text(
        f"---\ntitle: {title}\naudience: {audience_yaml}\ncategory: IT\n---\n{body}\n", encoding="utf-8"
    )
    return path
