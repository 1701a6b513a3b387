"""Knowledge gaps: questions Deskpilot could not answer well, ranked, with the closest article today and a
"Draft an article" action that queues a draft for review. Admins and knowledge editors."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from knowledge.index import KnowledgeIndex
from services.admin.auth import SignedInUser, check_csrf, csrf_token, require_roles
from services.articles.gap_review import (
    WINDOWS_DAYS,
    GapGoneError,
    gap_draft_flow,
    parse_question_ids,
    ranked_gaps,
)
from services.directory.models import Role

router = APIRouter(tags=["admin"])
Editor = Annotated[SignedInUser, Depends(require_roles(Role.ADMIN, Role.KNOWLEDGE_EDITOR))]
DEFAULT_DAYS = 30


def _knowledge_index(request: Request) -> KnowledgeIndex:
    """The process's knowledge index, opened on first use (shared with the draft pages)."""
    state = request.app.state
    if getattr(state, "knowledge_index", None) is None:
        from knowledge.index import open_knowledge_index

        state.knowledge_index = open_knowledge_index(state.settings)
    return state.knowledge_index  # type: ignore[no-any-return]


def _days(raw: str | None) -> int:
    if not raw:
        return DEFAULT_DAYS
    if not raw.isdigit() or int(raw) not in WINDOWS_DAYS:
        raise HTTPException(
            status_code=400, detail=f"Choose a window of {', '.join(map(str, WINDOWS_DAYS))} days."
        )
    return int(raw)


@router.get("/admin/gaps", response_class=HTMLResponse)
def gap_list(request: Request, user: Editor) -> HTMLResponse:
    """Recurring unanswered or thumbs-down questions, most asked first."""
    days = _days(request.query_params.get("days"))
    settings = request.app.state.settings
    gaps = ranked_gaps(request.app.state.session_factory, _knowledge_index(request), days=days)
    context = {
        "user": user,
        "csrf_token": csrf_token(request),
        "gaps": gaps,
        "days": days,
        "windows": WINDOWS_DAYS,
        "threshold": settings.knowledge.min_relevance,
        "error": request.query_params.get("gone") and "That gap is not in the list any more.",
    }
    return request.app.state.templates.TemplateResponse(request, "admin_gaps.html", context)  # type: ignore[no-any-return]


@router.post("/admin/gaps/draft", dependencies=[Depends(check_csrf)])
def draft_gap(
    request: Request,
    user: Editor,
    questions: Annotated[str, Form(max_length=20_000)],
    days: Annotated[str, Form(max_length=3)] = str(DEFAULT_DAYS),
) -> Response:
    """Queue a draft for the gap (or open the one already in review) and go to it."""
    window = _days(days)
    try:
        draft_id, _created = gap_draft_flow(
            request.app.state.session_factory,
            _knowledge_index(request),
            question_ids=parse_question_ids(questions),
            days=window,
            actor_id=user.id,
        )
    except GapGoneError:
        return RedirectResponse(f"/admin/gaps?days={window}&gone=1", status_code=303)
    return RedirectResponse(f"/admin/drafts/{draft_id}", status_code=303)
