"""The service desk's view of the built-in ticket store: the queue and one ticket with the agent's actions
(assign, set status, comment). IT admins only; every form posts a CSRF token and is audited.

When ticketing is an external ITSM, tickets are worked there: the pages say so and link out.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.admin.auth import SignedInUser, check_csrf, csrf_token, require_roles
from services.automations.context import get_automation_context
from services.common.db import session_scope
from services.common.errors import NotFoundError, PermanentError
from services.common.listing import FilterError, Page, page_number, query_string
from services.directory.models import Role
from services.tickets import agent
from services.tickets.models import TicketPriority, TicketStatus

router = APIRouter(tags=["admin"])
Admin = Annotated[SignedInUser, Depends(require_roles(Role.ADMIN))]
FILTER_KEYS = ("status", "priority", "assignee", "q", "sort")
_DONE = {
    "assigned": "Assigned.",
    "status": "Status changed; the requester was told.",
    "status-untold": "Status changed, but the requester could not be told (delivery failed).",
    "public": "Reply added; the requester was told.",
    "public-untold": "Reply added, but the requester could not be told (delivery failed).",
    "internal": "Internal note added (the requester does not see it).",
}


def _render(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    return request.app.state.templates.TemplateResponse(  # type: ignore[no-any-return]
        request, template, {"csrf_token": csrf_token(request), **context}, status_code=status_code
    )


def _external_itsm(request: Request) -> dict[str, str] | None:
    """The configured external ITSM (kind and link), or None on the built-in ticket store."""
    ticketing = request.app.state.settings.ticketing
    if ticketing.kind == "builtin":
        return None
    return {"kind": ticketing.kind, "url": str(ticketing.base_url or "")}


@router.get("/admin/tickets", response_class=HTMLResponse)
def ticket_queue(request: Request, user: Admin) -> HTMLResponse:
    """The ticket queue: active tickets by default, filtered by status, priority, assignee and text."""
    external = _external_itsm(request)
    raw = {key: request.query_params.get(key, "") for key in FILTER_KEYS}
    error = None
    try:
        filters = agent.TicketFilters.parse(raw)
    except FilterError as exc:
        filters, error = agent.TicketFilters(), str(exc)
    number = page_number(request.query_params.get("page"))
    with session_scope(request.app.state.session_factory) as db_session:
        page = (
            agent.list_tickets(db_session, filters, agent_id=user.id, page=number)
            if error is None and external is None
            else Page([], 0, 1)
        )
        agents = agent.list_agents(db_session)
    context = {
        "user": user,
        "external": external,
        "filters": {**raw, "status": filters.status, "assignee": filters.assignee, "sort": filters.sort},
        "error": error,
        "page": page,
        "agents": agents,
        "statuses": [(s.value, agent.status_label(s)) for s in TicketStatus],
        "priorities": [p.value for p in TicketPriority],
        "previous_link": query_string(raw, page=number - 1) if number > 1 else None,
        "next_link": query_string(raw, page=number + 1) if number < page.pages else None,
    }
    return _render(request, "admin_tickets.html", context, 400 if error else 200)


def _ticket_page(
    request: Request,
    user: SignedInUser,
    key: str,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    external = _external_itsm(request)
    if external is not None:
        context = {"user": user, "external": external, "ticket": None, "key": key}
        return _render(request, "admin_ticket.html", context, status_code)
    with session_scope(request.app.state.session_factory) as db_session:
        try:
            ticket = agent.load_ticket(db_session, key)
        except NotFoundError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from exc
        agents = agent.list_agents(db_session)
    context = {
        "user": user,
        "external": None,
        "ticket": ticket,
        "agents": agents,
        "done": _DONE.get(request.query_params.get("done", "")),
        "error": error,
        "form": form or {},
    }
    return _render(request, "admin_ticket.html", context, status_code)


@router.get("/admin/tickets/{key}", response_class=HTMLResponse)
def ticket_page(request: Request, key: str, user: Admin) -> HTMLResponse:
    """One ticket: description, requester, conversation, comments, history and the agent's actions."""
    return _ticket_page(request, user, key)


def _refused(
    request: Request, user: SignedInUser, key: str, exc: PermanentError, form: dict[str, str]
) -> Response:
    """Show the ticket again with the reason (never a 500), keeping what the agent typed."""
    if isinstance(exc, NotFoundError):
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    return _ticket_page(request, user, key, error=str(exc), form=form, status_code=exc.http_status)


def _guard_external(request: Request, user: SignedInUser, key: str) -> Response | None:
    if _external_itsm(request) is None:
        return None
    return _ticket_page(request, user, key, status_code=409)


@router.post("/admin/tickets/{key}/assign", dependencies=[Depends(check_csrf)])
def assign(
    request: Request, key: str, user: Admin, assignee: Annotated[str, Form(max_length=20)] = "me"
) -> Response:
    """Assign the ticket to an IT admin (``me`` by default)."""
    if (blocked := _guard_external(request, user, key)) is not None:
        return blocked
    try:
        if assignee != "me" and not assignee.isdigit():
            raise agent.TicketInputError("Choose who to assign the ticket to.")
        assignee_id = user.id if assignee == "me" else int(assignee)
        agent.ticket_assign_flow(
            request.app.state.session_factory, key, assignee_id=assignee_id, actor_id=user.id
        )
    except PermanentError as exc:
        return _refused(request, user, key, exc, {})
    return RedirectResponse(f"/admin/tickets/{key}?done=assigned", status_code=303)


@router.post("/admin/tickets/{key}/status", dependencies=[Depends(check_csrf)])
def set_status(
    request: Request,
    key: str,
    user: Admin,
    status: Annotated[str, Form(max_length=20)],
    seen: Annotated[str, Form(max_length=20)],
    resolution: Annotated[str, Form(max_length=agent.MAX_RESOLUTION * 2)] = "",
) -> Response:
    """Move the ticket (in progress, waiting, resolved with a resolution, reopened); tell the requester."""
    if (blocked := _guard_external(request, user, key)) is not None:
        return blocked
    try:
        target, seen_status = _status(status), _status(seen)
        told = agent.ticket_status_flow(
            request.app.state.session_factory,
            get_automation_context().notifier,
            key,
            seen=seen_status,
            target=target,
            resolution=resolution,
            actor_id=user.id,
        )
    except PermanentError as exc:
        return _refused(request, user, key, exc, {"resolution": resolution})
    return RedirectResponse(
        f"/admin/tickets/{key}?done={'status' if told else 'status-untold'}", status_code=303
    )


def _status(value: str) -> TicketStatus:
    try:
        return TicketStatus(value)
    except ValueError:
        raise agent.TicketInputError(f"Unknown status {value[:20]!r}.") from None


@router.post("/admin/tickets/{key}/comments", dependencies=[Depends(check_csrf)])
def add_comment(
    request: Request,
    key: str,
    user: Admin,
    body: Annotated[str, Form(max_length=agent.MAX_COMMENT * 2)] = "",
    visibility: Annotated[str, Form(pattern="^(public|internal)$")] = "internal",
) -> Response:
    """Add a public reply (told to the requester) or an internal note (never shown to them)."""
    if (blocked := _guard_external(request, user, key)) is not None:
        return blocked
    public = visibility == "public"
    try:
        told = agent.ticket_comment_flow(
            request.app.state.session_factory,
            get_automation_context().notifier,
            key,
            body=body,
            public=public,
            actor_id=user.id,
        )
    except PermanentError as exc:
        return _refused(request, user, key, exc, {"body": body, "visibility": visibility})
    done = "internal" if not public else "public" if told else "public-untold"
    return RedirectResponse(f"/admin/tickets/{key}?done={done}", status_code=303)
