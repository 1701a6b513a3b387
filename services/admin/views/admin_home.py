"""The IT admin overview: what needs attention (drafts to review, failed automations, sources, gaps)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select

from services.admin.auth import SignedInUser, csrf_token, require_roles
from services.articles.models import ArticleDraft, DraftStatus
from services.automations.models import AutomationRun, AutomationState
from services.common.db import session_scope, utcnow
from services.conversations.models import AnswerOutcome, Message
from services.directory.models import Role
from services.kb.models import KnowledgeSource

router = APIRouter(tags=["admin"])

AdminUser = Annotated[SignedInUser, Depends(require_roles(Role.ADMIN, Role.KNOWLEDGE_EDITOR))]


@router.get("/admin", response_class=HTMLResponse)
def admin_home(request: Request, user: AdminUser) -> HTMLResponse:
    """Counts that need an admin's attention, from the database."""
    week_ago = utcnow() - timedelta(days=7)
    with session_scope(request.app.state.session_factory) as db_session:
        pending_drafts = db_session.scalar(
            select(func.count())
            .select_from(ArticleDraft)
            .where(ArticleDraft.status == DraftStatus.PENDING_REVIEW)
        )
        failed_runs = db_session.scalar(
            select(func.count())
            .select_from(AutomationRun)
            .where(AutomationRun.state == AutomationState.FAILED, AutomationRun.updated_at >= week_ago)
        )
        unanswered = db_session.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.outcome == AnswerOutcome.NO_ANSWER, Message.created_at >= week_ago)
        )
        sources = [
            {"name": s.name, "kind": s.kind, "last_sync_at": s.last_sync_at}
            for s in db_session.scalars(select(KnowledgeSource).order_by(KnowledgeSource.name))
        ]
    context = {
        "user": user,
        "csrf_token": csrf_token(request),
        "pending_drafts": pending_drafts or 0,
        "failed_runs": failed_runs or 0,
        "unanswered": unanswered or 0,
        "sources": sources,
    }
    return request.app.state.templates.TemplateResponse(request, "admin_home.html", context)  # type: ignore[no-any-return]
