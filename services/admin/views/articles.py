"""Article pages: where citations link. Restricted articles open only for members of their audience
groups (and knowledge editors); everyone else, signed in or not, gets 403 without the title."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from knowledge.acl import Viewer
from services.admin.auth import current_user
from services.admin.knowledge_access import render_markdown
from services.common.db import session_scope
from services.directory.models import Role
from services.kb.models import Article, ArticleStatus, ArticleVersion

router = APIRouter(tags=["knowledge"])

# Raw HTML in article bodies is not rendered: Markdown only (no script injection from a synced source).


@router.get("/kb/articles/{article_id}", response_class=HTMLResponse)
def article_page(request: Request, article_id: int) -> HTMLResponse:
    """A published, public article rendered from its current version."""
    with session_scope(request.app.state.session_factory) as db_session:
        article = db_session.scalar(
            select(Article).where(Article.id == article_id).options(selectinload(Article.audience))
        )
        if article is None or article.status is not ArticleStatus.PUBLISHED:
            raise HTTPException(status_code=404, detail="No such article.")
        user = current_user(request)
        audience = frozenset(group.name for group in article.audience)
        may_read = user is not None and (
            Viewer.of(user.groups).can_read(audience) or user.has_any((Role.ADMIN, Role.KNOWLEDGE_EDITOR))
        )
        if audience and not may_read:
            # Never reveal a restricted article (or its title) to someone outside its audience.
            raise HTTPException(status_code=403, detail="This article is restricted to some teams.")
        version = db_session.scalar(
            select(ArticleVersion).where(
                ArticleVersion.article_id == article.id, ArticleVersion.version == article.current_version
            )
        )
        if version is None:
            raise HTTPException(status_code=404, detail="No such article.")
        context = {
            "title": article.title,
            "category": article.category,
            "source_url": article.url,
            "updated": version.created_at,
            "body_html": render_markdown(_without_title(version.body_markdown, article.title)),
        }
    return request.app.state.templates.TemplateResponse(  # type: ignore[no-any-return]
        request, "article.html", context
    )


def _without_title(body: str, title: str) -> str:
    """The body without a leading ``# Title`` line repeating the page heading."""
    first, _, rest = body.lstrip().partition("\n")
    return rest if first.strip().lstrip("#").strip() == title.strip() and first.startswith("# ") else body
