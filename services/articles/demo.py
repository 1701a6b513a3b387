"""Drafts waiting for review in the demo: generated resolved tickets run through the real pipeline once."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from knowledge.chunk_source import resilient_retriever
from knowledge.index import KnowledgeIndex
from services.articles.fixture_loader import load_fixture_tickets
from services.articles.fixtures import generate_resolved_tickets
from services.articles.models import ArticleDraft
from services.articles.pipeline import GenerationReport, generate_drafts
from services.common.db import session_scope

DEMO_TICKET_SEED = 7


def ensure_demo_drafts(
    session_factory: sessionmaker[Session], index: KnowledgeIndex
) -> GenerationReport | None:
    """Draft articles from seeded resolved tickets (extractively) unless drafts exist; None when skipped."""
    with session_scope(session_factory) as db_session:
        if db_session.scalar(select(func.count()).select_from(ArticleDraft)):
            return None
    tickets = load_fixture_tickets(session_factory, generate_resolved_tickets(seed=DEMO_TICKET_SEED))
    return generate_drafts(
        session_factory,
        embedder=index.embedder,
        retriever=resilient_retriever(index, session_factory),
        llm=None,
        tickets=tickets,
    )
