"""FastAPI application factory for the web process (web shell, health, metrics; admin UI and Slack later)."""

from __future__ import annotations

import html
import logging
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.exc import DBAPIError
from starlette.middleware.sessions import SessionMiddleware

from services import __version__
from services.admin.auth import SESSION_COOKIE, SESSION_MAX_AGE_S, SignInRequired
from services.admin.middleware import RequestContextMiddleware
from services.admin.navigation import sections_for
from services.admin.views import (
    admin_articles,
    admin_conversations,
    admin_gaps,
    admin_home,
    admin_intents,
    admin_runs,
    admin_sources,
    admin_tickets,
    articles,
    auth_views,
    chat,
    drafts,
    health,
    home,
    reports,
    slack,
    ticket_webhooks,
)
from services.common.config import Environment, Settings, get_settings
from services.common.db import build_engine, build_session_factory, is_database_disconnect
from services.common.errors import DeskpilotError
from services.common.health import build_readiness_checks
from services.common.logging import get_correlation_id

HERE = Path(__file__).resolve().parent
MAX_DB_ID = 2**63 - 1  # BIGINT / SQLite INTEGER
logger = logging.getLogger(__name__)


def _load_demo_in_background(app: FastAPI, settings: Settings) -> threading.Thread:
    """Load the demo knowledge base in a daemon thread; progress goes to ``app.state.demo``."""
    from knowledge.demo import load_demo
    from knowledge.index import open_knowledge_index

    status: dict[str, object] = {"state": "loading", "documents": 0}
    app.state.demo = status

    def advance(count: int) -> None:
        status["documents"] = int(str(status["documents"])) + count

    def run() -> None:
        try:
            index = open_knowledge_index(settings)
            if app.state.knowledge_index is None:
                app.state.knowledge_index = index
            reports = load_demo(
                settings, index=index, session_factory=app.state.session_factory, progress=advance
            )
            from services.articles.demo import ensure_demo_drafts

            drafted = ensure_demo_drafts(app.state.session_factory, index)
            status.update(
                state="ready",
                sources=[r.as_dict() for r in reports],
                drafts=len(drafted.drafts_created) if drafted else 0,
            )
            logger.info("demo knowledge base ready", extra={"sources": status["sources"]})
        except Exception as exc:  # noqa: BLE001 - the web app stays up; the page shows the failure
            status.update(state="failed", error=f"{type(exc).__name__}: {exc}")
            logger.exception("loading the demo knowledge base failed")

    thread = threading.Thread(target=run, name="demo-loader", daemon=True)
    thread.start()
    return thread


def create_app(settings: Settings | None = None, *, load_demo: bool = False) -> FastAPI:
    """Build the web app for ``settings`` (read from the environment when omitted). No I/O until startup.

    ``load_demo`` loads the demo knowledge base in the background after startup, so the app answers
    ``/readyz`` at once while the articles are embedded (``make run``).
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = build_engine(settings.database)
        app.state.engine = engine
        app.state.session_factory = build_session_factory(engine)
        app.state.readiness_checks = build_readiness_checks(settings, engine)
        app.state.check_executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="readyz")
        app.state.slack_handler = app.state.slack_verifier = None
        from services.automations.context import build_automation_context, configure_automation_context
        from services.worker.celery_app import create_celery_app

        app.state.celery = create_celery_app(settings)
        configure_automation_context(build_automation_context(settings, app.state.session_factory))
        signing_secret = settings.slack.signing_secret
        if settings.slack.enabled and signing_secret is None:
            logger.error("Slack HTTP endpoints disabled: DESKPILOT_SLACK__SIGNING_SECRET is not set")
        elif settings.slack.enabled and signing_secret is not None:
            from slack_bolt.adapter.fastapi import SlackRequestHandler
            from slack_sdk.signature import SignatureVerifier

            from knowledge.index import open_knowledge_index
            from services.bot.runtime import build_slack_app

            index = open_knowledge_index(settings)
            slack_app = build_slack_app(
                settings, session_factory=app.state.session_factory, index=index, warm_up=True
            )
            app.state.slack_handler = SlackRequestHandler(slack_app)
            app.state.slack_verifier = SignatureVerifier(signing_secret.get_secret_value())
        logger.info(
            "web app started", extra={"database": engine.dialect.name, "slack": settings.slack.enabled}
        )
        if load_demo:
            _load_demo_in_background(app, settings)
        try:
            yield
        finally:
            app.state.check_executor.shutdown(wait=False, cancel_futures=True)
            engine.dispose()

    app = FastAPI(title="Deskpilot", version=__version__, lifespan=lifespan, docs_url="/api/docs")
    app.state.settings = settings
    app.state.demo = None
    app.state.chat_orchestrator = None  # built on the first chat message (tests may set one)
    app.state.knowledge_index = None  # opened on first use (publishing a draft)
    app.state.login_throttle = auth_views.build_login_throttle(settings)  # no I/O until used
    app.state.templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.state.templates.env.globals["sections_for"] = sections_for
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.web.secret_key.get_secret_value(),
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE_S,
        same_site="lax",
        https_only=settings.environment is Environment.PRODUCTION,
    )
    app.add_middleware(RequestContextMiddleware)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(health.router)
    app.include_router(home.router)
    app.include_router(articles.router)
    app.include_router(slack.router)
    app.include_router(ticket_webhooks.router)
    app.include_router(auth_views.router)
    app.include_router(admin_home.router)
    app.include_router(chat.router)
    app.include_router(drafts.router)
    app.include_router(reports.router)
    for admin_router in (
        admin_articles.router,
        admin_sources.router,
        admin_gaps.router,
        admin_intents.router,
        admin_conversations.router,
        admin_runs.router,
        admin_tickets.router,
    ):
        app.include_router(admin_router)

    @app.middleware("http")
    async def refuse_out_of_range_ids(request: Request, call_next: Any) -> Response:
        """A numeric path segment beyond the database's 64-bit ids names nothing: 404, not a driver
        OverflowError (500) from the lookup."""
        if any(
            part.isascii() and part.isdigit() and int(part) > MAX_DB_ID
            for part in request.url.path.split("/")
            if len(part) >= 19
        ):
            return JSONResponse({"error": "not_found", "message": "No such item."}, status_code=404)
        response: Response = await call_next(request)
        return response

    @app.exception_handler(SignInRequired)
    async def sign_in_required(_request: Request, exc: SignInRequired) -> RedirectResponse:
        return RedirectResponse(f"/login?next={quote(exc.next_path)}", status_code=303)

    @app.exception_handler(DeskpilotError)
    async def deskpilot_error_handler(_request: Request, exc: DeskpilotError) -> JSONResponse:
        return JSONResponse(
            {"error": exc.code, "message": str(exc), "correlation_id": get_correlation_id()},
            status_code=exc.http_status,
        )

    @app.exception_handler(DBAPIError)
    async def database_error_handler(request: Request, exc: DBAPIError) -> Response:
        return database_error_response(request, exc)

    return app


DATABASE_UNAVAILABLE = "The helpdesk can't reach its database right now. Please try again in a few minutes."


def database_error_response(request: Request, exc: DBAPIError) -> Response:
    """503 with ``Retry-After`` when the database connection is lost (a restart), else a logged 500;
    JSON with the correlation id, or a short page for a browser navigating."""
    reference = get_correlation_id()
    if is_database_disconnect(exc):
        logger.warning("database unreachable", extra={"path": request.url.path, "error": type(exc).__name__})
        status, code, message = 503, "database_unavailable", DATABASE_UNAVAILABLE
    else:
        logger.exception("database error", exc_info=exc, extra={"path": request.url.path})
        status, code, message = 500, "internal_error", "Something went wrong on our side."
    headers = {"Retry-After": "30"} if status == 503 else {}
    if "text/html" in request.headers.get("accept", ""):
        shown = html.escape(reference or "-")
        page = f"<!doctype html><title>Deskpilot</title><p>{message} Reference: {shown}.</p>"
        return HTMLResponse(page, status_code=status, headers=headers)
    return JSONResponse(
        {"error": code, "message": message, "correlation_id": reference}, status_code=status, headers=headers
    )
