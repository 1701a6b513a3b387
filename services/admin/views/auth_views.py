"""Sign-in and sign-out pages (local accounts); failed attempts are throttled and audited."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from threading import Lock
from urllib.parse import urlparse

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.admin.auth import authenticate, check_csrf, csrf_token, current_user, sign_in, sign_out
from services.audit import repo as audit
from services.common.db import session_scope

router = APIRouter(tags=["auth"])

MAX_FAILURES = 5
FAILURE_WINDOW_S = 15 * 60
_failures: defaultdict[str, deque[float]] = defaultdict(deque)
_lock = Lock()


def _throttled(key: str) -> bool:
    now = time.monotonic()
    with _lock:
        attempts = _failures[key]
        while attempts and attempts[0] < now - FAILURE_WINDOW_S:
            attempts.popleft()
        return len(attempts) >= MAX_FAILURES


def _record_failure(key: str) -> None:
    with _lock:
        _failures[key].append(time.monotonic())


def _safe_next(value: str | None) -> str:
    """Only local paths: never redirect a signed-in user to another site."""
    if not value:
        return "/"
    parsed = urlparse(value)
    return (
        value
        if not parsed.scheme and not parsed.netloc and value.startswith("/") and not value.startswith("//")
        else "/"
    )


def _page(
    request: Request, *, error: str | None = None, next_path: str = "/", status: int = 200
) -> HTMLResponse:
    context = {
        "csrf_token": csrf_token(request),
        "error": error,
        "next": next_path,
        "user": current_user(request),
    }
    return request.app.state.templates.TemplateResponse(  # type: ignore[no-any-return]
        request, "login.html", context, status_code=status
    )


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> HTMLResponse:  # noqa: A002 - the query name
    """The sign-in form."""
    return _page(request, next_path=_safe_next(next))


@router.post("/login", dependencies=[Depends(check_csrf)])
def login(
    request: Request,
    email: str = Form(..., max_length=320),
    password: str = Form(..., max_length=1000),
    next: str = Form("/"),  # noqa: A002 - the form field name
) -> Response:
    """Check the credentials; on success start a new session and go where the user was heading."""
    key = f"{email.strip().lower()}|{request.client.host if request.client else '-'}"
    next_path = _safe_next(next)
    if _throttled(key):
        return _page(
            request,
            error="Too many failed attempts. Wait 15 minutes and try again.",
            next_path=next_path,
            status=429,
        )
    with session_scope(request.app.state.session_factory) as db_session:
        employee = authenticate(db_session, email, password)
        audit.record(
            db_session,
            action="auth.login" if employee else "auth.login_failed",
            target_type="employee",
            target_id=employee.id if employee else email.strip().lower()[:100],
            actor_id=employee.id if employee else None,
            actor_label=employee.email if employee else "anonymous",
            details={},
        )
        if employee is not None:
            sign_in(request, employee)
    if employee is None:
        _record_failure(key)
        return _page(
            request,
            error="That e-mail and password don't match an active account.",
            next_path=next_path,
            status=401,
        )
    return RedirectResponse(next_path, status_code=303)


@router.post("/logout", dependencies=[Depends(check_csrf)])
def logout(request: Request) -> Response:
    """End the session."""
    sign_out(request)
    return RedirectResponse("/login", status_code=303)
