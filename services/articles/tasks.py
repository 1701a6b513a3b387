"""Celery tasks of the articles domain: the nightly draft generation."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from celery import shared_task

from services.worker.base_task import DeskpilotTask
from services.worker.queues import TaskName


@shared_task(name=TaskName.GENERATE_ARTICLES, base=DeskpilotTask)
def generate_articles() -> dict[str, Any]:
    """Beat (nightly): draft articles from newly resolved tickets into the review queue."""
    from connectors.registry import build_llm
    from knowledge.chunk_source import resilient_retriever
    from knowledge.index import open_knowledge_index
    from services.articles.itsm_import import import_from_itsm
    from services.articles.pipeline import generate_drafts
    from services.automations.context import get_automation_context
    from services.common.config import get_settings

    settings = get_settings()
    ctx = get_automation_context()
    imported = import_from_itsm(ctx.session_factory, ctx.tickets)
    index = open_knowledge_index(settings)
    report = generate_drafts(
        ctx.session_factory,
        embedder=index.embedder,
        retriever=resilient_retriever(index, ctx.session_factory),
        llm=build_llm(settings.llm, prices=settings.metrics.llm_prices),
    )
    summary = {k: v for k, v in asdict(report).items() if k != "covered"}
    return summary | {"covered": len(report.covered), "imported": imported}
