"""Knowledge source pages for IT admins: list, configure, test the connection, sync now, read the runs.

Tokens stay in the environment (``DESKPILOT_SOURCES__<NAME>__TOKEN``): these pages say whether one is
set and never show, accept or store it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from connectors.registry import KNOWLEDGE_SOURCE_FIELDS, KNOWLEDGE_SOURCE_KINDS, REMOTE_SOURCE_KINDS
from services.admin.auth import SignedInUser, check_csrf, csrf_token, require_roles
from services.admin.flash import flash, pop_flash
from services.admin.knowledge_access import knowledge_index
from services.common.db import session_scope
from services.common.errors import DeskpilotError, NotFoundError
from services.directory.models import Role
from services.kb import sources
from services.kb.models import KnowledgeSource, RunStatus
from services.worker.dispatch import enqueue
from services.worker.queues import TaskName

router = APIRouter(tags=["admin"])
Admin = Annotated[SignedInUser, Depends(require_roles(Role.ADMIN))]
Field = Annotated[str, Form(max_length=2000)]

FIELD_LABELS = {
    "path": ("Path on the server", "A folder of Markdown/HTML/text files, or a .jsonl file."),
    "url": ("Site address", "e.g. https://acme.atlassian.net"),
    "username": ("Account", "The e-mail or user name the token belongs to."),
    "spaces": ("Space keys", "Comma-separated; empty for every space the account can read."),
    "knowledge_bases": ("Knowledge base sys_ids", "Comma-separated; empty for every knowledge base."),
    "locale": ("Locale", "The Help Center locale, e.g. en-us."),
    "limit": ("Limit", "Read only the first N articles; empty for all."),
}
KIND_LABELS = {
    "folder": "Folder on the server",
    "jsonl": "JSON Lines file",
    "confluence": "Confluence Cloud",
    "servicenow": "ServiceNow Knowledge",
    "zendesk": "Zendesk Guide",
}


def _page(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    base = {"csrf_token": csrf_token(request), "notice": pop_flash(request)}
    return request.app.state.templates.TemplateResponse(  # type: ignore[no-any-return]
        request, template, {**base, **context}, status_code=status_code
    )


@router.get("/admin/sources", response_class=HTMLResponse)
def source_list(request: Request, user: Admin) -> HTMLResponse:
    """Every knowledge source with its schedule, last sync and article count."""
    with session_scope(request.app.state.session_factory) as db_session:
        rows = sources.list_sources(db_session=db_session)
    return _page(request, "admin_sources.html", {"user": user, "sources": rows, "kind_labels": KIND_LABELS})


def _form_context(
    request: Request,
    user: SignedInUser,
    *,
    kind: str,
    values: dict[str, Any],
    source: dict[str, Any] | None,
    errors: dict[str, str] | None = None,
) -> dict[str, Any]:
    name = str(values.get("name") or "")
    return {
        "user": user,
        "kind": kind,
        "kind_label": KIND_LABELS.get(kind, kind),
        "fields": [(f, *FIELD_LABELS[f]) for f in KNOWLEDGE_SOURCE_FIELDS.get(kind, ())],
        "values": values,
        "source": source,
        "errors": errors or {},
        "needs_token": kind in REMOTE_SOURCE_KINDS,
        "token_variable": sources.token_variable(name) if name else "DESKPILOT_SOURCES__<NAME>__TOKEN",
        "token_set": bool(name) and sources.token_configured(request.app.state.settings, name),
    }


@router.get("/admin/sources/new", response_class=HTMLResponse)
def new_source_form(request: Request, user: Admin, kind: str | None = None) -> HTMLResponse:
    """Choose a kind, then fill in its settings."""
    if kind not in KNOWLEDGE_SOURCE_KINDS:
        context = {"user": user, "kinds": [(k, KIND_LABELS.get(k, k)) for k in KNOWLEDGE_SOURCE_KINDS]}
        return _page(request, "admin_source_kind.html", context)
    values = {"name": "", "enabled": True, "sync_interval_minutes": "", "locale": "en-us"}
    context = _form_context(request, user, kind=kind, values=values, source=None)
    return _page(request, "admin_source_form.html", context)


@router.post("/admin/sources", dependencies=[Depends(check_csrf)], response_model=None)
def create_source(
    request: Request,
    user: Admin,
    kind: Annotated[str, Form(max_length=32)] = "",
    name: Annotated[str, Form(max_length=100)] = "",
    path: Field = "",
    url: Field = "",
    username: Field = "",
    spaces: Field = "",
    knowledge_bases: Field = "",
    locale: Annotated[str, Form(max_length=20)] = "",
    limit: Annotated[str, Form(max_length=12)] = "",
    enabled: Annotated[str, Form(max_length=5)] = "",
    sync_interval_minutes: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    """Create a source from the form, or show the form again with what is wrong."""
    form = {
        "kind": kind,
        "name": name,
        "path": path,
        "url": url,
        "username": username,
        "spaces": spaces,
        "knowledge_bases": knowledge_bases,
        "locale": locale,
        "limit": limit,
        "enabled": enabled,
        "sync_interval_minutes": sync_interval_minutes,
    }
    parsed = sources.parse_source_form(form, existing=None)
    if parsed.source is not None:
        try:
            source_id = sources.save_source(
                request.app.state.session_factory, source_id=None, data=parsed.source, actor_id=user.id
            )
        except DeskpilotError as exc:
            parsed.errors["name"] = str(exc)
        else:
            flash(request, f"Source {parsed.source.name} saved. Test the connection, then sync it.")
            return RedirectResponse(f"/admin/sources/{source_id}", status_code=303)
    if "kind" in parsed.errors:
        context = {
            "user": user,
            "kinds": [(k, KIND_LABELS.get(k, k)) for k in KNOWLEDGE_SOURCE_KINDS],
            "error": parsed.errors["kind"],
        }
        return _page(request, "admin_source_kind.html", context, status_code=400)
    values = {**form, "enabled": form["enabled"] in ("on", "true", "1")}
    context = _form_context(request, user, kind=kind, values=values, source=None, errors=parsed.errors)
    return _page(request, "admin_source_form.html", context, status_code=400)


def _load(request: Request, source_id: int) -> dict[str, Any]:
    with session_scope(request.app.state.session_factory) as db_session:
        row = db_session.get(KnowledgeSource, source_id)
        if row is None:
            raise HTTPException(status_code=404, detail="No such source.")
        return {
            "id": row.id,
            "name": row.name,
            "kind": row.kind,
            "config": sources.public_config(row.config or {}),
            "enabled": row.enabled,
            "sync_interval_minutes": row.sync_interval_minutes,
            "last_sync_at": row.last_sync_at,
            "last_status": row.last_status.value if row.last_status else None,
            "last_error": row.last_error,
            "configurable": sources.is_configurable(row.kind),
            "articles": sources.article_count(db_session=db_session, source_id=row.id),
        }


@router.get("/admin/sources/{source_id}", response_class=HTMLResponse)
def source_page(request: Request, source_id: int, user: Admin) -> HTMLResponse:
    """A source's settings (no secrets), token presence, actions and recent runs with their errors."""
    source = _load(request, source_id)
    with session_scope(request.app.state.session_factory) as db_session:
        runs = [
            {
                "id": r.id,
                "trigger": r.trigger,
                "status": r.status.value,
                "started_at": r.started_at,
                "finished_at": r.finished_at,
                "documents": r.documents,
                "chunks": r.chunks,
                "skipped": r.skipped,
                "removed": r.removed,
                "errors": [e for e in (r.errors or []) if isinstance(e, dict)],
            }
            for r in sources.recent_runs(db_session=db_session, source_id=source_id)
        ]
    settings = request.app.state.settings
    context = {
        "user": user,
        "source": source,
        "runs": runs,
        "kind_label": KIND_LABELS.get(source["kind"], source["kind"]),
        "needs_token": source["kind"] in REMOTE_SOURCE_KINDS,
        "token_variable": sources.token_variable(source["name"]),
        "token_set": sources.token_configured(settings, source["name"]),
        "running": any(r["status"] == RunStatus.RUNNING.value for r in runs[:1]),
    }
    return _page(request, "admin_source.html", context)


@router.get("/admin/sources/{source_id}/edit", response_class=HTMLResponse)
def edit_source_form(request: Request, source_id: int, user: Admin) -> HTMLResponse:
    """The source's settings in a form (name and kind are fixed)."""
    source = _load(request, source_id)
    if not source["configurable"]:
        raise HTTPException(status_code=400, detail="Deskpilot manages this source itself.")
    config = source["config"]
    values: dict[str, Any] = {
        "name": source["name"],
        "enabled": source["enabled"],
        "sync_interval_minutes": source["sync_interval_minutes"] or "",
        **{k: ", ".join(v) if isinstance(v, list) else ("" if v is None else v) for k, v in config.items()},
    }
    context = _form_context(request, user, kind=source["kind"], values=values, source=source)
    return _page(request, "admin_source_form.html", context)


@router.post("/admin/sources/{source_id}/edit", dependencies=[Depends(check_csrf)], response_model=None)
def save_source_edit(
    request: Request,
    source_id: int,
    user: Admin,
    path: Field = "",
    url: Field = "",
    username: Field = "",
    spaces: Field = "",
    knowledge_bases: Field = "",
    locale: Annotated[str, Form(max_length=20)] = "",
    limit: Annotated[str, Form(max_length=12)] = "",
    enabled: Annotated[str, Form(max_length=5)] = "",
    sync_interval_minutes: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    """Save the source's settings, or show the form again with what is wrong."""
    source = _load(request, source_id)
    if not source["configurable"]:
        raise HTTPException(status_code=400, detail="Deskpilot manages this source itself.")
    form = {
        "path": path,
        "url": url,
        "username": username,
        "spaces": spaces,
        "knowledge_bases": knowledge_bases,
        "locale": locale,
        "limit": limit,
        "enabled": enabled,
        "sync_interval_minutes": sync_interval_minutes,
    }
    with session_scope(request.app.state.session_factory) as db_session:
        row = db_session.get_one(KnowledgeSource, source_id)
        parsed = sources.parse_source_form(form, existing=row)
    if parsed.source is not None:
        sources.save_source(
            request.app.state.session_factory, source_id=source_id, data=parsed.source, actor_id=user.id
        )
        flash(request, "Settings saved.")
        return RedirectResponse(f"/admin/sources/{source_id}", status_code=303)
    values = {**form, "name": source["name"], "enabled": form["enabled"] in ("on", "true", "1")}
    context = _form_context(
        request, user, kind=source["kind"], values=values, source=source, errors=parsed.errors
    )
    return _page(request, "admin_source_form.html", context, status_code=400)


@router.post("/admin/sources/{source_id}/test", dependencies=[Depends(check_csrf)])
def test_connection(request: Request, source_id: int, user: Admin) -> RedirectResponse:
    """Reach the source once with its settings and token; the result is shown on the source page."""
    try:
        result = sources.check_source_connection(
            request.app.state.settings,
            request.app.state.session_factory,
            source_id=source_id,
            actor_id=user.id,
        )
    except NotFoundError as exc:
        raise HTTPException(status_code=404, detail="No such source.") from exc
    took = f" ({result.seconds:.1f} s)"
    if result.ok:
        flash(request, f"Connection OK{took}: {result.message}")
    else:
        flash(request, f"Connection failed{took}: {result.message}", level="error")
    return RedirectResponse(f"/admin/sources/{source_id}", status_code=303)


@router.post("/admin/sources/{source_id}/sync", dependencies=[Depends(check_csrf)])
def sync_now(
    request: Request,
    source_id: int,
    user: Admin,
    changes_only: Annotated[str, Form(max_length=5)] = "",
) -> RedirectResponse:
    """Ingest the source now: in this process on the embedded default (with this app's index), else on a
    worker; the run appears at the top of the source's runs."""
    settings = request.app.state.settings
    if not settings.celery.eager(settings.redis):
        with session_scope(request.app.state.session_factory) as db_session:
            if db_session.get(KnowledgeSource, source_id) is None:
                raise HTTPException(status_code=404, detail="No such source.")
        enqueue(
            TaskName.SYNC_SOURCE,
            source_id=source_id,
            actor_id=user.id,
            changes_only=changes_only in ("on", "true", "1"),
        )
        flash(request, "Sync queued on a worker: its run appears below when it starts.")
        return RedirectResponse(f"/admin/sources/{source_id}", status_code=303)
    try:
        outcome = sources.sync_source_now(
            request.app.state.settings,
            request.app.state.session_factory,
            knowledge_index(request),
            source_id=source_id,
            actor_id=user.id,
            changes_only=changes_only in ("on", "true", "1"),
        )
    except NotFoundError as exc:
        raise HTTPException(status_code=404, detail="No such source.") from exc
    except DeskpilotError as exc:
        flash(request, f"Not synced: {exc}", level="error")
    else:
        level = "error" if outcome.status is RunStatus.FAILED else "ok"
        flash(request, f"Sync {outcome.status.value}: {outcome.message}", level=level)
    return RedirectResponse(f"/admin/sources/{source_id}", status_code=303)
