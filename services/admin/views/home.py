"""The web shell's landing page: what this instance runs on, without secrets."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from services.common.config import Settings

router = APIRouter(tags=["web"])


def describe_profile(settings: Settings) -> list[tuple[str, str]]:
    """Human-readable summary of the configured adapters (never a secret, never a full URL)."""
    db = "SQLite (embedded)" if settings.database.is_sqlite else "PostgreSQL"
    vectors = f"Chroma server at {settings.chroma.host}" if settings.chroma.host else "Chroma (embedded)"
    broker = "in-process (eager)" if settings.celery.eager(settings.redis) else "Celery workers on Redis"
    llm = (
        f"OpenAI-compatible endpoint, model {settings.llm.model}"
        if settings.llm.enabled
        else "none: extractive"
    )
    slack = "connected" if settings.slack.enabled else "not configured: web chat only"
    return [
        ("Environment", settings.environment.value),
        ("Database", db),
        ("Vector index", vectors),
        ("Background work", broker),
        ("Answers", llm),
        ("Ticketing", settings.ticketing.kind),
        ("Slack", slack),
    ]


def knowledge_status(request: Request) -> str:
    """One line on the knowledge base: article and chunk counts, and demo loading progress."""
    from sqlalchemy import func, select
    from sqlalchemy.exc import SQLAlchemyError

    from services.common.db import session_scope
    from services.kb.models import Article, ArticleStatus, Chunk

    try:
        with session_scope(request.app.state.session_factory) as db_session:
            articles = db_session.scalar(
                select(func.count()).select_from(Article).where(Article.status == ArticleStatus.PUBLISHED)
            )
            chunks = db_session.scalar(
                select(func.count()).select_from(Chunk).where(Chunk.indexed_at.is_not(None))
            )
    except SQLAlchemyError:
        return "unavailable: the database is not reachable or not migrated (see /readyz)"
    line = f"{articles} published articles, {chunks} indexed passages"
    demo = request.app.state.demo
    if demo and demo.get("state") == "loading":
        line += f" (loading the demo knowledge base: {demo.get('documents', 0)} documents read so far)"
    elif demo and demo.get("state") == "failed":
        line += f" (loading the demo knowledge base failed: {demo.get('error')})"
    return line


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    """Landing page of the web app."""
    state = request.app.state
    profile = [*describe_profile(state.settings), ("Knowledge base", knowledge_status(request))]
    from services.admin.auth import csrf_token, current_user

    context = {"profile": profile, "user": current_user(request), "csrf_token": csrf_token(request)}
    return state.templates.TemplateResponse(request, "index.html", context)  # type: ignore[no-any-return]
