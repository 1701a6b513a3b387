"""Sign-in and sign-out: local accounts (throttled, audited) and OpenID Connect single sign-on."""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict, deque
from threading import Lock
from typing import Any
from urllib.parse import urlparse

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.admin.auth import authenticate, check_csrf, csrf_token, current_user, sign_in, sign_out
from services.admin.oidc import (
    CALLBACK_PATH,
    PROVIDER_HTTP_ERRORS,
    TOKEN_ERRORS,
    OidcRefused,
    build_oidc_client,
    identity_from_claims,
    upsert_employee,
)
from services.audit import repo as audit
from services.common.config import Settings
from services.common.db import session_scope

router = APIRouter(tags=["auth"])
logger = logging.getLogger(__name__)

MAX_FAILURES = 5
FAILURE_WINDOW_S = 15 * 60


class LoginThrottle:
    """Failed sign-ins per e-mail and client address in a sliding window (one per app, in memory).

    Enough for one web process (the embedded default); with several, see :class:`RedisLoginThrottle`.
    """

    def __init__(self) -> None:
        self._failures: defaultdict[str, deque[float]] = defaultdict(deque)
        self._lock = Lock()

    def throttled(self, key: str) -> bool:
        """True when ``key`` failed ``MAX_FAILURES`` times within the window."""
        now = time.monotonic()
        with self._lock:
            attempts = self._failures[key]
            while attempts and attempts[0] < now - FAILURE_WINDOW_S:
                attempts.popleft()
            return len(attempts) >= MAX_FAILURES

    def record_failure(self, key: str) -> None:
        """Count one failed attempt for ``key``."""
        with self._lock:
            self._failures[key].append(time.monotonic())


class RedisLoginThrottle:
    """The same sliding window in Redis (a sorted set of failure times per key), shared by every web
    process: behind a load balancer an attacker's attempts land on all of them, and a per-process count
    would allow ``MAX_FAILURES`` per process. When Redis cannot be reached it counts in memory instead
    (sign-in keeps working; the outage is logged)."""

    def __init__(self, url: str, *, prefix: str = "deskpilot:login-failures:") -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)
        self._prefix = prefix
        self._fallback = LoginThrottle()

    def throttled(self, key: str) -> bool:
        """True when ``key`` failed ``MAX_FAILURES`` times within the window, in any process."""
        name = self._prefix + key
        try:
            pipe = self._redis.pipeline()
            pipe.zremrangebyscore(name, "-inf", time.time() - FAILURE_WINDOW_S)
            pipe.zcard(name)
            _, failures = pipe.execute()
        except self._errors:
            logger.warning("login throttle: Redis unavailable, counting in this process", exc_info=True)
            return self._fallback.throttled(key)
        return int(failures) >= MAX_FAILURES

    def record_failure(self, key: str) -> None:
        """Count one failed attempt for ``key``."""
        name, now = self._prefix + key, time.time()
        try:
            pipe = self._redis.pipeline()
            pipe.zadd(name, {f"{now:.6f}:{uuid.uuid4().hex[:8]}": now})
            pipe.expire(name, FAILURE_WINDOW_S)
            pipe.execute()
        except self._errors:
            logger.warning("login throttle: Redis unavailable, counting in this process", exc_info=True)
            self._fallback.record_failure(key)


def build_login_throttle(settings: Settings) -> LoginThrottle | RedisLoginThrottle:
    """Shared through Redis when it is configured (several web processes), in memory otherwise."""
    return RedisLoginThrottle(settings.redis.url) if settings.redis.url else LoginThrottle()


def _throttle(request: Request) -> LoginThrottle | RedisLoginThrottle:
    state = request.app.state
    if getattr(state, "login_throttle", None) is None:
        state.login_throttle = build_login_throttle(state.settings)
    return state.login_throttle  # type: ignore[no-any-return]


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
    web = request.app.state.settings.web
    context = {
        "csrf_token": csrf_token(request),
        "error": error,
        "next": next_path,
        "user": current_user(request),
        "local_accounts": web.local_accounts,
        "sso_name": web.oidc.display_name if web.oidc.enabled else None,
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
    if not request.app.state.settings.web.local_accounts:
        raise HTTPException(status_code=403, detail="Sign in with single sign-on.")
    key = f"{email.strip().lower()}|{request.client.host if request.client else '-'}"
    next_path = _safe_next(next)
    if _throttle(request).throttled(key):
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
        _throttle(request).record_failure(key)
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


def _oidc_client(request: Request) -> Any:
    state = request.app.state
    if getattr(state, "oidc_client", None) is None:
        if not state.settings.web.oidc.enabled:
            raise HTTPException(status_code=404, detail="Single sign-on is not configured.")
        state.oidc_client = build_oidc_client(state.settings.web.oidc)
    return state.oidc_client


@router.get("/login/oidc")
async def login_oidc(request: Request, next: str | None = None) -> Response:  # noqa: A002 - the query name
    """Send the browser to the identity provider (authorization code flow, PKCE, nonce)."""
    client = _oidc_client(request)
    request.session["oidc_next"] = _safe_next(next)
    redirect_uri = request.app.state.settings.web.public_url.rstrip("/") + CALLBACK_PATH
    try:
        return await client.authorize_redirect(request, redirect_uri)  # type: ignore[no-any-return]
    except (*PROVIDER_HTTP_ERRORS, *TOKEN_ERRORS) as exc:
        logger.warning("identity provider unreachable", extra={"error": type(exc).__name__})
        return _page(request, error="The identity provider can't be reached. Try again shortly.", status=502)


@router.get(CALLBACK_PATH)
async def oidc_callback(request: Request) -> Response:
    """Verify the provider's answer (state, code, ID token) and sign the person in."""
    client = _oidc_client(request)
    next_path = _safe_next(request.session.pop("oidc_next", None))
    try:
        token = await client.authorize_access_token(request)
        claims = token.get("userinfo") or await client.parse_id_token(token, nonce=None)
        identity = identity_from_claims(claims, request.app.state.settings.web.oidc)
    except (*PROVIDER_HTTP_ERRORS, *TOKEN_ERRORS) as exc:
        reason = str(getattr(exc, "error", None) or type(exc).__name__)
        _audit_sso_failure(request, reason)
        message = (
            "Sign-in was cancelled at your identity provider."
            if reason == "access_denied"
            else "Single sign-on failed: the identity provider's answer could not be verified. Try again."
        )
        return _page(request, error=message, next_path=next_path, status=400)
    except OidcRefused as exc:
        _audit_sso_failure(request, "refused")
        return _page(request, error=str(exc), next_path=next_path, status=403)
    with session_scope(request.app.state.session_factory) as db_session:
        try:
            employee = upsert_employee(db_session, identity, request.app.state.settings.web.oidc)
        except OidcRefused as exc:
            refused: str | None = str(exc)
        else:
            refused = None
            audit.record(
                db_session,
                action="auth.login",
                target_type="employee",
                target_id=employee.id,
                actor_id=employee.id,
                actor_label=employee.email,
                details={"method": "oidc", "roles": sorted(r.value for r in employee.roles)},
            )
            sign_in(request, employee)
    if refused is not None:
        _audit_sso_failure(request, "refused")
        return _page(request, error=refused, next_path=next_path, status=403)
    return RedirectResponse(next_path, status_code=303)


def _audit_sso_failure(request: Request, reason: str) -> None:
    with session_scope(request.app.state.session_factory) as db_session:
        audit.record(
            db_session,
            action="auth.login_failed",
            target_type="employee",
            target_id="oidc",
            actor_label="anonymous",
            details={"method": "oidc", "reason": reason[:100]},
        )
