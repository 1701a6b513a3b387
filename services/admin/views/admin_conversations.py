"""Conversation pages for admins: a filtered, paginated list and one transcript with intent, confidence,
route, latency, citations, feedback, handoff, tickets and automation runs. Read only."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse

from services.admin.auth import SignedInUser, csrf_token, require_roles
from services.admin.navigation import ADMINS
from services.common.db import session_scope
from services.conversations.browse import (
    ConversationFilters,
    conversation_transcript,
    known_intents,
    search_conversations,
)
from services.conversations.models import AnswerOutcome, Channel, FeedbackRating
from services.router.routes import Route

router = APIRouter(tags=["admin"])
Admin = Annotated[SignedInUser, Depends(require_roles(*ADMINS))]
E = TypeVar("E", bound=StrEnum)


def _choice(enum: type[E], value: str | None) -> E | None:
    """The enum member named by a filter value; empty or unknown means no filter."""
    return next((member for member in enum if member.value == value), None)


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _filters(request: Request) -> tuple[ConversationFilters, dict[str, str]]:
    """Filters from the query string, and the cleaned values to refill the form and page links."""
    query = request.query_params
    filters = ConversationFilters(
        date_from=_day(query.get("from")),
        date_to=_day(query.get("to")),
        channel=_choice(Channel, query.get("channel")),
        intent=(query.get("intent") or "").strip()[:100] or None,
        route=_choice(Route, query.get("route")),
        outcome=_choice(AnswerOutcome, query.get("outcome")),
        rating=_choice(FeedbackRating, query.get("rating")),
        text=(query.get("q") or "").strip()[:200] or None,
    )
    values = {
        "from": filters.date_from.isoformat() if filters.date_from else "",
        "to": filters.date_to.isoformat() if filters.date_to else "",
        "channel": filters.channel.value if filters.channel else "",
        "intent": filters.intent or "",
        "route": filters.route.value if filters.route else "",
        "outcome": filters.outcome.value if filters.outcome else "",
        "rating": filters.rating.value if filters.rating else "",
        "q": filters.text or "",
    }
    return filters, values


def _page_link(values: dict[str, str], page: int) -> str:
    return "/admin/conversations?" + urlencode({**{k: v for k, v in values.items() if v}, "page": page})


@router.get("/admin/conversations", response_class=HTMLResponse)
def conversations_list(request: Request, user: Admin, page: int = 1) -> HTMLResponse:
    """Conversations, newest first, narrowed by date, channel, intent, route, outcome, rating and text."""
    filters, values = _filters(request)
    with session_scope(request.app.state.session_factory) as db_session:
        result = search_conversations(db_session=db_session, filters=filters, page=page)
        intents = known_intents(db_session=db_session)
    context: dict[str, Any] = {
        "user": user,
        "csrf_token": csrf_token(request),
        "result": result,
        "values": values,
        "choices": {
            "channel": [c.value for c in Channel],
            "route": [r.value for r in Route],
            "outcome": [o.value for o in AnswerOutcome],
            "rating": [r.value for r in FeedbackRating],
            "intent": intents,
        },
        "previous": _page_link(values, result.page - 1) if result.page > 1 else None,
        "next": _page_link(values, result.page + 1) if result.page < result.pages else None,
    }
    return request.app.state.templates.TemplateResponse(request, "admin_conversations.html", context)  # type: ignore[no-any-return]


@router.get("/admin/conversations/{conversation_id}", response_class=HTMLResponse)
def conversation_page(request: Request, conversation_id: int, user: Admin) -> HTMLResponse:
    """One conversation's transcript with what Deskpilot decided at each turn and how it went."""
    base = request.app.state.settings.web.public_url.rstrip("/")
    with session_scope(request.app.state.session_factory) as db_session:
        transcript = conversation_transcript(db_session=db_session, conversation_id=conversation_id)
        if transcript is None:
            raise HTTPException(status_code=404, detail="No such conversation.")
        context: dict[str, Any] = {
            "user": user,
            "csrf_token": csrf_token(request),
            "t": transcript,
            "citation_url": lambda c: c.get("url") or f"{base}/kb/articles/{c.get('article_id')}",
        }
        return request.app.state.templates.TemplateResponse(request, "admin_conversation.html", context)  # type: ignore[no-any-return]
