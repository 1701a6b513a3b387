"""The demo knowledge base: Northwind Labs' IT handbook (in this repo) plus Microsoft 365 support articles."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from connectors.folder.source import FolderKnowledgeSource
from connectors.jsonl.source import JsonLinesKnowledgeSource
from knowledge.index import KnowledgeIndex
from knowledge.ingest import IngestReport, ProgressCallback, ingest_source
from services.common.config import Settings
from services.common.db import session_scope
from services.directory.demo import seed_demo_directory

logger = logging.getLogger(__name__)

DEMO_IT_FOLDER = Path(__file__).resolve().parent / "demo" / "it"
IT_SOURCE = "it-handbook"
MS_OFFICE_SOURCE = "microsoft-365-support"


def ms_office_articles_path(settings: Settings) -> Path:
    """Where the ms-office-support-kb articles are expected."""
    return settings.demo.datasets_dir / "ms-office-support-kb" / "articles.jsonl"


def load_demo(
    settings: Settings,
    *,
    index: KnowledgeIndex,
    session_factory: sessionmaker[Session],
    progress: ProgressCallback | None = None,
) -> list[IngestReport]:
    """Seed the demo people, ingest the demo sources (incremental: a second run takes seconds), and train the
    intent classifier from the shipped catalog when no model is active yet."""
    with session_scope(session_factory) as db_session:
        seed_demo_directory(db_session)
    reports = [
        ingest_source(
            FolderKnowledgeSource(IT_SOURCE, DEMO_IT_FOLDER),
            kind="folder",
            index=index,
            session_factory=session_factory,
            config={"path": str(DEMO_IT_FOLDER)},
            trigger="demo",
            progress=progress,
        )
    ]
    articles = ms_office_articles_path(settings)
    if settings.demo.ms_office_articles and articles.exists():
        reports.append(
            ingest_source(
                JsonLinesKnowledgeSource(MS_OFFICE_SOURCE, articles, limit=settings.demo.ms_office_articles),
                kind="jsonl",
                index=index,
                session_factory=session_factory,
                config={"path": str(articles), "limit": settings.demo.ms_office_articles},
                trigger="demo",
                progress=progress,
            )
        )
    elif settings.demo.ms_office_articles:
        logger.warning("demo: %s not found; loading the IT handbook only", articles)
    from services.router.training import ensure_intent_model

    trained = ensure_intent_model(
        session_factory, embedder=index.embedder, model_dir=settings.router.model_dir
    )
    if trained is not None:
        logger.info("demo: intent model trained", extra={"version": trained.version})
    return reports
