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


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    """Landing page of the web app."""
    state = request.app.state
    return state.templates.TemplateResponse(  # type: ignore[no-any-return]
        request, "index.html", {"profile": describe_profile(state.settings)}
    )
