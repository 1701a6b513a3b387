"""Public article pages: where citations link. Restricted articles need sign-in (the admin web app issue)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from markdown_it import MarkdownIt
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from services.common.db import session_scope
from services.kb.models import Article, ArticleStatus, ArticleVersion

router = APIRouter(tags=["knowledge"])

# Raw HTML in article bodies is not rendered: Markdown only (no script injection from a synced source).
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


@router.get("/kb/articles/{article_id}", response_class=HTMLResponse)
def article_page(request: Request, article_id: int) -> HTMLResponse:
    """A published, public article rendered from its current version."""
    with session_scope(request.app.state.session_factory) as db_session:
        article = db_session.scalar(
            select(Article).where(Article.id == article_id).options(selectinload(Article.audience))
        )
        if article is None or article.status is not ArticleStatus.PUBLISHED:
            raise HTTPException(status_code=404, detail="No such article.")
        if article.audience:
            # Never reveal a restricted article (or its title) to an anonymous reader.
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
            "body_html": _markdown.render(version.body_markdown),
        }
    return request.app.state.templates.TemplateResponse(  # type: ignore[no-any-return]
        request, "article.html", context
    )
