"""The draft review queue: drafts with their source tickets side by side; approve (optionally edited),
merge into an article, or reject with a reason. Admins and knowledge editors only; every form has CSRF."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from services.admin.auth import SignedInUser, check_csrf, csrf_token, require_roles
from services.admin.knowledge_access import knowledge_index, render_markdown
from services.articles import review
from services.articles.models import ArticleDraft, DraftStatus
from services.common.db import session_scope
from services.common.errors import PermanentError
from services.directory.models import Role

router = APIRouter(tags=["admin"])
Editor = Annotated[SignedInUser, Depends(require_roles(Role.ADMIN, Role.KNOWLEDGE_EDITOR))]


@router.get("/admin/drafts", response_class=HTMLResponse)
def draft_queue(request: Request, user: Editor) -> HTMLResponse:
    """Drafts waiting for review, most confident first."""
    with session_scope(request.app.state.session_factory) as db_session:
        drafts = [
            {
                "id": d.id,
                "title": d.title,
                "generator": d.generator.value,
                "confidence": d.confidence,
                "cluster_size": d.cluster_size,
                "flags": d.quality_flags,
            }
            for d in db_session.scalars(
                select(ArticleDraft)
                .where(ArticleDraft.status == DraftStatus.PENDING_REVIEW)
                .order_by(ArticleDraft.confidence.desc(), ArticleDraft.id)
            )
        ]
    context = {"user": user, "csrf_token": csrf_token(request), "drafts": drafts}
    return request.app.state.templates.TemplateResponse(request, "drafts.html", context)  # type: ignore[no-any-return]


@router.get("/admin/drafts/{draft_id}", response_class=HTMLResponse)
def draft_page(request: Request, draft_id: int, user: Editor) -> HTMLResponse:
    """One draft, rendered, beside the (scrubbed on drafting, raw here for IT staff) source tickets."""
    with session_scope(request.app.state.session_factory) as db_session:
        draft = db_session.scalar(
            select(ArticleDraft)
            .where(ArticleDraft.id == draft_id)
            .options(selectinload(ArticleDraft.source_tickets))
        )
        if draft is None:
            raise HTTPException(status_code=404, detail="No such draft.")
        context = {
            "user": user,
            "csrf_token": csrf_token(request),
            "draft": {
                "id": draft.id,
                "title": draft.title,
                "status": draft.status.value,
                "generator": draft.generator.value,
                "confidence": draft.confidence,
                "cluster_size": draft.cluster_size,
                "flags": draft.quality_flags,
                "pii": draft.pii_report,
                "body_markdown": draft.body_markdown,
                "body_html": render_markdown(draft.body_markdown),
                "rejection_reason": draft.rejection_reason,
                "published_article_id": draft.published_article_id,
            },
            "tickets": [
                {
                    "key": t.external_key,
                    "title": t.title,
                    "description": t.description,
                    "resolution": t.resolution_text,
                }
                for t in draft.source_tickets
            ],
        }
    return request.app.state.templates.TemplateResponse(request, "draft.html", context)  # type: ignore[no-any-return]


@router.post("/admin/drafts/{draft_id}/decision", dependencies=[Depends(check_csrf)])
def decide(
    request: Request,
    draft_id: int,
    user: Editor,
    decision: Annotated[str, Form(pattern="^(approve|reject|merge)$")],
    body_markdown: Annotated[str | None, Form(max_length=200_000)] = None,
    reason: Annotated[str | None, Form(max_length=2000)] = None,
    article_id: Annotated[int | None, Form()] = None,
) -> Response:
    """Record the reviewer's decision, then show the draft again."""
    sessions = request.app.state.session_factory
    try:
        if decision == "approve":
            review.approve(
                sessions,
                knowledge_index(request),
                draft_id=draft_id,
                reviewer_id=user.id,
                edited_body=body_markdown,
            )
        elif decision == "reject":
            review.reject(sessions, draft_id=draft_id, reviewer_id=user.id, reason=reason or "")
        else:
            if article_id is None:
                raise review.ReviewError("choose the article to merge into")
            review.merge(sessions, draft_id=draft_id, reviewer_id=user.id, article_id=article_id)
    except PermanentError as exc:
        raise HTTPException(
            status_code=exc.http_status if exc.http_status < 500 else 400, detail=str(exc)
        ) from exc
    return RedirectResponse(f"/admin/drafts/{draft_id}", status_code=303)
