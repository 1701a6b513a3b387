"""Builds the orchestrator from Settings for a process (CLI, web app, Slack bot)."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from connectors.registry import build_llm
from knowledge.answer import AnswerPolicy
from knowledge.chunk_source import resilient_retriever
from knowledge.index import KnowledgeIndex
from services.common.config import Settings
from services.conversations.orchestrator import Orchestrator
from services.router.model_store import ActiveIntentModel


def build_orchestrator(
    settings: Settings, *, session_factory: sessionmaker[Session], index: KnowledgeIndex
) -> Orchestrator:
    """The orchestrator over this index, the active intent model (hot-swapped) and the configured LLM.

    Its retriever reads chunk texts from the database while the vector store is unreachable.
    """
    model = ActiveIntentModel(session_factory, embedder=index.embedder)
    return Orchestrator(
        session_factory=session_factory,
        classifier=model.get,
        retriever=resilient_retriever(index, session_factory),
        llm=build_llm(settings.llm, prices=settings.metrics.llm_prices),
        answer_policy=AnswerPolicy.from_settings(settings),
    )
