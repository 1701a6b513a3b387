"""Fixtures for knowledge tests: a migrated SQLite database and indexes under tmp_path, hashing embedder."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from connectors.fakes.embedder import HashingEmbedder
from connectors.folder.source import FolderKnowledgeSource
from knowledge.index import KnowledgeIndex, open_knowledge_index
from knowledge.ingest import ingest_source
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


VPN = """## Symptoms

GlobalProtect VPN disconnects every few minutes on hotel Wi-Fi or a home router.

## Resolution

1. Open GlobalProtect and choose Settings.
2. Change the portal to vpn.northwind.example and reconnect.
3. If the VPN still disconnects, restart the laptop and use a wired connection.
"""
PAYROLL = (
    "## Approvals\n\nPayroll approval code NWL-PAY-7781 is needed for NetSuite payroll at month end. " * 2
)


@pytest.fixture
def kb(knowledge_env: KnowledgeEnv, tmp_path: Path) -> KnowledgeEnv:
    """``knowledge_env`` with a public VPN article and a payroll article restricted to ``finance``."""
    folder = tmp_path / "kb"
    write_article(folder, "vpn.md", title="VPN keeps disconnecting", body=VPN)
    write_article(
        folder, "payroll.md", title="Payroll approvals in NetSuite", body=PAYROLL, audience=["finance"]
    )
    ingest_source(
        FolderKnowledgeSource("handbook", folder),
        kind="folder",
        index=knowledge_env.index,
        session_factory=knowledge_env.session_factory,
    )
    return knowledge_env
