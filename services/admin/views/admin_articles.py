"""Article management for admins and knowledge editors: search and filter, read with index status, edit in
Markdown with a server-rendered preview, versions with diffs, audiences, publish / unpublish / archive.

Every state change is a POST with the CSRF token, audited, and reaches the indexes before the redirect.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from knowledge.acl import Viewer
from services.admin.auth import SignedInUser, check_csrf, csrf_token, require_roles
from services.admin.flash import flash, pop_flash
from services.admin.knowledge_access import knowledge_index, render_markdown
from services.common.db import session_scope
from services.common.errors import DeskpilotError, NotFoundError, PermanentError
from services.directory.models import Employee, Role
from services.kb import catalog, editing
from services.kb.editing import ArticleAction, ArticleEdit, ArticleEditError, StaleVersionError
from services.kb.models import Article, ArticleOrigin, ArticleStatus, Chunk, KnowledgeSource

router = APIRouter(tags=["admin"])
Editor = Annotated[SignedInUser, Depends(require_roles(Role.ADMIN, Role.KNOWLEDGE_EDITOR))]
PER_PAGE = 25

Text = Annotated[str, Form(max_length=editing.MAX_BODY)]
Short = Annotated[str, Form(max_length=editing.MAX_TITLE)]


def _page(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    base = {"csrf_token": csrf_token(request), "notice": pop_flash(request)}
    return request.app.state.templates.TemplateResponse(  # type: ignore[no-any-return]
        request, template, {**base, **context}, status_code=status_code
    )


def _enum_or_none(enum: type[ArticleStatus] | type[ArticleOrigin], value: str | None) -> Any:
    try:
        return enum(value) if value else None
    except ValueError:
        return None


@router.get("/admin/articles", response_class=HTMLResponse)
def article_list(
    request: Request,
    user: Editor,
    q: Annotated[str, Query(max_length=200)] = "",
    status: str | None = None,
    source: str | None = None,
    origin: str | None = None,
    audience: str | None = None,
    sort: Annotated[str, Query(pattern="^(updated|title)$")] = "updated",
    page: Annotated[int, Query(ge=1)] = 1,
) -> HTMLResponse:
    """Articles matching the search and filters, a page at a time, with status and index counts."""
    filters = catalog.ArticleFilter(
        text=q,
        status=_enum_or_none(ArticleStatus, status),
        source=source or None,
        origin=_enum_or_none(ArticleOrigin, origin),
        audience=audience or None,
    )
    with session_scope(request.app.state.session_factory) as db_session:
        found = catalog.search_articles(
            db_session=db_session, filters=filters, page=page, per_page=PER_PAGE, sort=sort
        )
        choices = catalog.filter_choices(db_session=db_session)
    query = {
        "q": q,
        "status": status or "",
        "source": source or "",
        "origin": origin or "",
        "audience": audience or "",
        "sort": sort,
    }
    context = {
        "user": user,
        "found": found,
        "filters": filters,
        "query": query,
        "choices": choices,
        "statuses": [s.value for s in ArticleStatus],
        "origins": [o.value for o in ArticleOrigin],
    }
    return _page(request, "admin_articles.html", context)


def _edit_context(
    user: SignedInUser,
    db_session: Session,
    *,
    article: dict[str, Any] | None,
    form: dict[str, Any],
    error: str | None = None,
    preview_html: str | None = None,
) -> dict[str, Any]:
    groups = catalog.all_group_names(db_session=db_session)
    return {
        "user": user,
        "article": article,
        "form": form,
        "groups": sorted(set(groups) | set(form["audience"])),
        "error": error,
        "preview_html": preview_html,
    }


def _article_summary(db_session: Session, article: Article) -> dict[str, Any]:
    source = db_session.get(KnowledgeSource, article.source_id) if article.source_id else None
    return {
        "id": article.id,
        "title": article.title,
        "status": article.status.value,
        "current_version": article.current_version,
        "source": {"id": source.id, "name": source.name, "kind": source.kind} if source else None,
    }


@router.get("/admin/articles/new", response_class=HTMLResponse)
def new_article_form(request: Request, user: Editor) -> HTMLResponse:
    """An empty editor for a local article."""
    form = {
        "title": "",
        "body_markdown": "",
        "category": "",
        "audience": [],
        "change_note": "",
        "base_version": 0,
    }
    with session_scope(request.app.state.session_factory) as db_session:
        context = _edit_context(user, db_session, article=None, form=form)
    return _page(request, "admin_article_edit.html", context)


def _form_values(
    title: str,
    body_markdown: str,
    category: str,
    groups: list[str],
    new_groups: str,
    change_note: str,
    base_version: int,
) -> dict[str, Any]:
    """The submitted form as the template shows it again (audience parsed leniently)."""
    try:
        audience = list(editing.parse_group_names(groups, new_groups))
    except ArticleEditError:
        audience = sorted(set(groups))
    return {
        "title": title,
        "body_markdown": body_markdown,
        "category": category,
        "audience": audience,
        "new_groups": new_groups,
        "change_note": change_note,
        "base_version": base_version,
    }


def _validated(form: dict[str, Any], groups: list[str], new_groups: str) -> ArticleEdit:
    return editing.build_article_edit(
        title=form["title"],
        body_markdown=form["body_markdown"],
        category=form["category"],
        audience=editing.parse_group_names(groups, new_groups),
        change_note=form["change_note"],
    )


@router.post("/admin/articles", dependencies=[Depends(check_csrf)], response_model=None)
def create_article(
    request: Request,
    user: Editor,
    title: Short = "",
    body_markdown: Text = "",
    category: Annotated[str, Form(max_length=200)] = "",
    groups: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies defaults per request
    new_groups: Annotated[str, Form(max_length=5000)] = "",
    change_note: Annotated[str, Form(max_length=editing.MAX_NOTE)] = "",
    action: Annotated[str, Form(pattern="^(preview|draft|publish)$")] = "draft",
) -> Response:
    """Create a local article (draft or published now), or show the preview without saving."""
    sessions = request.app.state.session_factory
    form = _form_values(title, body_markdown, category, groups, new_groups, change_note, 0)
    error: str | None = None
    preview = render_markdown(body_markdown) if action == "preview" else None
    if action != "preview":
        try:
            outcome = editing.create_article(
                sessions,
                knowledge_index(request),
                edit=_validated(form, groups, new_groups),
                author_id=user.id,
                publish=action == "publish",
            )
        except PermanentError as exc:
            error = str(exc)
        else:
            if outcome.index_error:
                flash(request, f"Saved as a draft, not published: {outcome.index_error}", level="error")
            else:
                done = "published" if action == "publish" else "saved as a draft"
                flash(request, f"Article {done} (version 1).")
            return RedirectResponse(f"/admin/articles/{outcome.article_id}", status_code=303)
    with session_scope(sessions) as db_session:
        context = _edit_context(user, db_session, article=None, form=form, error=error, preview_html=preview)
    return _page(request, "admin_article_edit.html", context, status_code=400 if error else 200)


@router.post("/admin/articles/preview", dependencies=[Depends(check_csrf)], response_class=HTMLResponse)
def preview_markdown(_user: Editor, body_markdown: Text = "") -> HTMLResponse:
    """The Markdown rendered exactly as the article page will show it (an HTML fragment)."""
    html = render_markdown(body_markdown) if body_markdown.strip() else "<p><em>Nothing to preview.</em></p>"
    return HTMLResponse(html)


def _load_article(db_session: Session, article_id: int) -> Article:
    article = db_session.get(Article, article_id)
    if article is None:
        raise HTTPException(status_code=404, detail="No such article.")
    return article


def _vectors_present(request: Request, chunk_ids: list[str], audience: list[str]) -> int | str:
    """How many of the chunks the vector index holds now, or why that could not be checked."""
    if not chunk_ids:
        return 0
    try:
        return len(knowledge_index(request).vectors.get(chunk_ids, viewer=Viewer.of(audience)))
    except Exception as exc:  # noqa: BLE001 - the page must open even when the index is unreachable
        return f"could not check the vector index ({type(exc).__name__})"


@router.get("/admin/articles/{article_id}", response_class=HTMLResponse)
def article_page(
    request: Request, article_id: int, user: Editor, version: Annotated[int | None, Query(ge=1)] = None
) -> HTMLResponse:
    """An article: metadata, audience, index status, actions and its current (or a chosen) version."""
    with session_scope(request.app.state.session_factory) as db_session:
        article = _load_article(db_session, article_id)
        shown = version or article.current_version
        body = catalog.get_version(db_session=db_session, article_id=article_id, version=shown)
        if body is None:
            raise HTTPException(status_code=404, detail=f"No version {shown} of this article.")
        author = db_session.get(Employee, body.author_id) if body.author_id else None
        audience = catalog.audience_by_article(db_session=db_session, article_ids=[article_id]).get(
            article_id, []
        )
        status = catalog.index_status_by_article(db_session=db_session, article_ids=[article_id]).get(
            article_id, catalog.IndexStatus(0, 0)
        )
        chunk_ids = list(db_session.scalars(select(Chunk.id).where(Chunk.article_id == article_id)))
        summary = _article_summary(db_session, article)
        details = {
            **summary,
            "external_id": article.external_id,
            "url": article.url,
            "category": article.category,
            "origin": article.origin.value,
            "created_at": article.created_at,
            "updated_at": article.updated_at,
            "published_at": article.published_at,
            "archived_at": article.archived_at,
        }
        shown_version = {
            "version": body.version,
            "title": body.title,
            "note": body.change_note,
            "author": author.display_name if author else None,
            "created_at": body.created_at,
            "html": render_markdown(body.body_markdown),
        }
    published = details["status"] == ArticleStatus.PUBLISHED.value
    vectors = _vectors_present(request, chunk_ids, audience) if published else None
    context = {
        "user": user,
        "article": details,
        "shown": shown_version,
        "audience": audience,
        "index": status,
        "vectors": vectors,
        "actions": _actions_for(ArticleStatus(details["status"])),
    }
    return _page(request, "admin_article.html", context)


def _actions_for(status: ArticleStatus) -> list[tuple[str, str]]:
    """(action, button label) offered in each state."""
    if status is ArticleStatus.PUBLISHED:
        return [("reindex", "Re-index now"), ("unpublish", "Unpublish"), ("archive", "Archive")]
    if status is ArticleStatus.DRAFT:
        return [("publish", "Publish"), ("archive", "Archive")]
    return [("publish", "Publish again"), ("unpublish", "Restore as draft")]


@router.post("/admin/articles/{article_id}/status", dependencies=[Depends(check_csrf)])
def change_status(
    request: Request,
    article_id: int,
    user: Editor,
    action: Annotated[ArticleAction, Form()],
) -> RedirectResponse:
    """Publish, unpublish, archive or re-index now; the outcome is shown on the article page."""
    try:
        outcome = editing.change_article_status(
            request.app.state.session_factory,
            knowledge_index(request),
            article_id=article_id,
            actor_id=user.id,
            action=action,
        )
    except NotFoundError as exc:
        raise HTTPException(status_code=404, detail="No such article.") from exc
    except DeskpilotError as exc:
        flash(request, f"Not done: {exc}", level="error")
    else:
        done = {
            ArticleAction.PUBLISH: f"Published: {outcome.chunks} passages indexed.",
            ArticleAction.REINDEX: f"Re-indexed: {outcome.chunks} passages.",
            ArticleAction.UNPUBLISH: f"Unpublished: {outcome.chunks} passages removed from the index.",
            ArticleAction.ARCHIVE: f"Archived: {outcome.chunks} passages removed from the index.",
        }
        flash(request, done[action])
    return RedirectResponse(f"/admin/articles/{article_id}", status_code=303)


@router.get("/admin/articles/{article_id}/edit", response_class=HTMLResponse)
def edit_form(
    request: Request, article_id: int, user: Editor, from_version: Annotated[int | None, Query(ge=1)] = None
) -> HTMLResponse:
    """The editor, filled with the current version (or an older one, to restore it)."""
    with session_scope(request.app.state.session_factory) as db_session:
        article = _load_article(db_session, article_id)
        source = from_version or article.current_version
        version = catalog.get_version(db_session=db_session, article_id=article_id, version=source)
        if version is None:
            raise HTTPException(status_code=404, detail=f"No version {source} of this article.")
        audience = catalog.audience_by_article(db_session=db_session, article_ids=[article_id]).get(
            article_id, []
        )
        form = {
            "title": version.title,
            "body_markdown": version.body_markdown,
            "category": article.category or "",
            "audience": audience,
            "new_groups": "",
            "change_note": f"restored version {source}" if from_version else "",
            "base_version": article.current_version,
        }
        context = _edit_context(user, db_session, article=_article_summary(db_session, article), form=form)
    return _page(request, "admin_article_edit.html", context)


@router.post("/admin/articles/{article_id}/edit", dependencies=[Depends(check_csrf)], response_model=None)
def save_edit(
    request: Request,
    article_id: int,
    user: Editor,
    base_version: Annotated[int, Form(ge=1)],
    title: Short = "",
    body_markdown: Text = "",
    category: Annotated[str, Form(max_length=200)] = "",
    groups: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies defaults per request
    new_groups: Annotated[str, Form(max_length=5000)] = "",
    change_note: Annotated[str, Form(max_length=editing.MAX_NOTE)] = "",
    action: Annotated[str, Form(pattern="^(preview|save)$")] = "save",
) -> Response:
    """Save a new version (refused when someone saved since the form was opened), or preview it."""
    sessions = request.app.state.session_factory
    form = _form_values(title, body_markdown, category, groups, new_groups, change_note, base_version)
    error: str | None = None
    status_code = 200
    preview = render_markdown(body_markdown) if action == "preview" else None
    if action == "save":
        try:
            outcome = editing.save_article_edit(
                sessions,
                knowledge_index(request),
                article_id=article_id,
                base_version=base_version,
                edit=_validated(form, groups, new_groups),
                author_id=user.id,
            )
        except NotFoundError as exc:
            raise HTTPException(status_code=404, detail="No such article.") from exc
        except StaleVersionError as exc:
            error, status_code = _stale_message(exc, base_version), 409
            form["base_version"] = exc.current_version  # saving again now replaces that version, knowingly
            form["stale_from"] = base_version
        except DeskpilotError as exc:
            error, status_code = str(exc), 400
        else:
            level = "error" if outcome.index_error else "ok"
            flash(request, _saved_message(outcome), level=level)
            return RedirectResponse(f"/admin/articles/{article_id}", status_code=303)
    with session_scope(sessions) as db_session:
        article = _load_article(db_session, article_id)
        context = _edit_context(
            user,
            db_session,
            article=_article_summary(db_session, article),
            form=form,
            error=error,
            preview_html=preview,
        )
    return _page(request, "admin_article_edit.html", context, status_code=status_code)


def _stale_message(exc: StaleVersionError, base_version: int) -> str:
    when = f" at {exc.saved_at:%Y-%m-%d %H:%M} UTC" if exc.saved_at else ""
    return (
        f"Not saved: someone saved version {exc.current_version}{when} "
        f"after you opened version {base_version}. "
        "Your text is kept below. Compare the versions, then save again to replace "
        f"version {exc.current_version} with your text."
    )


def _saved_message(outcome: editing.SaveOutcome) -> str:
    saved = f"Saved version {outcome.version}" if outcome.version else "Saved the category and audience"
    if outcome.index_error:
        return f"{saved}, but indexing failed: {outcome.index_error}. Use “Re-index now”."
    if outcome.indexed_chunks is None:
        return f"{saved} (not published, so not indexed)."
    return f"{saved}; {outcome.indexed_chunks} passages re-indexed."


@router.get("/admin/articles/{article_id}/versions", response_class=HTMLResponse)
def version_list(request: Request, article_id: int, user: Editor) -> HTMLResponse:
    """Every version with author, date and note; pick two to compare."""
    with session_scope(request.app.state.session_factory) as db_session:
        article = _load_article(db_session, article_id)
        versions = catalog.list_versions(db_session=db_session, article_id=article_id)
        context = {"user": user, "article": _article_summary(db_session, article), "versions": versions}
    return _page(request, "admin_article_versions.html", context)


@router.get("/admin/articles/{article_id}/diff", response_class=HTMLResponse)
def version_diff(
    request: Request,
    article_id: int,
    user: Editor,
    from_version: Annotated[int, Query(alias="from", ge=1)],
    to_version: Annotated[int, Query(alias="to", ge=1)],
) -> HTMLResponse:
    """What changed between two versions (older on the left), line by line."""
    with session_scope(request.app.state.session_factory) as db_session:
        article = _load_article(db_session, article_id)
        old = catalog.get_version(db_session=db_session, article_id=article_id, version=from_version)
        new = catalog.get_version(db_session=db_session, article_id=article_id, version=to_version)
        if old is None or new is None:
            raise HTTPException(status_code=404, detail="No such version of this article.")
        diff = editing.diff_versions(old, new)
        versions = catalog.list_versions(db_session=db_session, article_id=article_id)
        context = {
            "user": user,
            "article": _article_summary(db_session, article),
            "diff": diff,
            "versions": versions,
        }
    return _page(request, "admin_article_diff.html", context)
