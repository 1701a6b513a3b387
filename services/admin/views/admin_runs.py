"""Automation run pages for IT admins: the filtered list, one run's story, and Retry for failed runs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.admin.auth import SignedInUser, check_csrf, csrf_token, require_roles
from services.automations.admin import (
    RetryRefusedError,
    RunFilters,
    automation_retry_flow,
    list_runs,
    load_run,
)
from services.automations.models import AutomationKind, AutomationState
from services.common.db import session_scope
from services.common.errors import NotFoundError
from services.common.listing import FilterError, Page, page_number, query_string
from services.directory.models import Role

router = APIRouter(tags=["admin"])
Admin = Annotated[SignedInUser, Depends(require_roles(Role.ADMIN))]
FILTER_KEYS = ("state", "kind", "from", "to", "requester")
_DONE = {
    "retried": "Retry sent. The state below is the run's state now.",
    "queued": "Retry queued, but the worker queue did not answer: the stalled-run sweep will send it.",
}


def _render(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    return request.app.state.templates.TemplateResponse(  # type: ignore[no-any-return]
        request, template, {"csrf_token": csrf_token(request), **context}, status_code=status_code
    )


@router.get("/admin/runs", response_class=HTMLResponse)
def run_list(request: Request, user: Admin) -> HTMLResponse:
    """Automation runs, filtered by state, kind, request date and requester, newest activity first."""
    raw = {key: request.query_params.get(key, "") for key in FILTER_KEYS}
    error = None
    try:
        filters = RunFilters.parse(raw)
    except FilterError as exc:
        filters, error = RunFilters(), str(exc)
    number = page_number(request.query_params.get("page"))
    with session_scope(request.app.state.session_factory) as db_session:
        page = list_runs(db_session, filters, page=number) if error is None else Page([], 0, 1)
    context = {
        "user": user,
        "filters": raw,
        "error": error,
        "page": page,
        "states": [s.value for s in AutomationState],
        "kinds": [k.value for k in AutomationKind],
        "previous_link": query_string(raw, page=number - 1) if number > 1 else None,
        "next_link": query_string(raw, page=number + 1) if number < page.pages else None,
    }
    return _render(request, "admin_runs.html", context, 400 if error else 200)


def _run_page(
    request: Request, user: SignedInUser, run_id: int, *, error: str | None = None, status_code: int = 200
) -> HTMLResponse:
    with session_scope(request.app.state.session_factory) as db_session:
        try:
            run = load_run(db_session, run_id)
        except NotFoundError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from exc
    done = _DONE.get(request.query_params.get("done", ""))
    context = {"user": user, "run": run, "done": done, "error": error}
    return _render(request, "admin_run.html", context, status_code)


@router.get("/admin/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, run_id: int, user: Admin) -> HTMLResponse:
    """One run: parameters (no secrets), attempts, error, ticket, and its history from the audit log."""
    return _run_page(request, user, run_id)


@router.post("/admin/runs/{run_id}/retry", dependencies=[Depends(check_csrf)])
def retry_run(request: Request, run_id: int, user: Admin) -> Response:
    """Send a failed run again through the normal dispatch (same idempotency key), then show it."""
    try:
        sent = automation_retry_flow(request.app.state.session_factory, run_id, actor_id=user.id)
    except NotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    except RetryRefusedError as exc:
        return _run_page(request, user, run_id, error=f"Not retried: {exc}", status_code=409)
    done = "retried" if sent else "queued"
    return RedirectResponse(f"/admin/runs/{run_id}?done={done}", status_code=303)
