"""The employee web chat: the same orchestrator as Slack, for signed-in employees.

``GET /chat`` is the page; ``POST /chat/messages`` and ``POST /chat/actions`` take JSON with the CSRF
token in ``X-CSRF-Token`` and return the reply (text, citations with links, buttons). A conversation
belongs to the employee who started it: anyone else gets 404.
"""

from __future__ import annotations

import logging
import threading
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from services.admin.auth import SignedInUser, check_csrf, csrf_token, require_roles
from services.common.ids import new_reference_id
from services.conversations.models import Channel
from services.conversations.orchestrator import ButtonAction, Orchestrator, Reply

router = APIRouter(tags=["chat"])
logger = logging.getLogger(__name__)

Employee = Annotated[SignedInUser, Depends(require_roles())]
_lock = threading.Lock()


DatabaseId = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
"""An id the database can hold (64-bit): larger ones are a 422, not a driver OverflowError (500)."""


class ChatMessage(BaseModel):
    """An employee's message (``conversation_id`` continues a conversation)."""

    text: str = Field(min_length=1, max_length=4000)
    conversation_id: DatabaseId | None = None


class ChatAction(BaseModel):
    """A pressed button of an earlier reply."""

    conversation_id: DatabaseId
    action: ButtonAction
    value: str = Field(default="", max_length=200)


def orchestrator_for(request: Request) -> Orchestrator:
    """The app's orchestrator, built on first use (loads the models and indexes once)."""
    state = request.app.state
    with _lock:
        if getattr(state, "chat_orchestrator", None) is None:
            from knowledge.index import open_knowledge_index
            from services.conversations.runtime import build_orchestrator

            state.chat_orchestrator = build_orchestrator(
                state.settings,
                session_factory=state.session_factory,
                index=open_knowledge_index(state.settings),
            )
        return state.chat_orchestrator  # type: ignore[no-any-return]


def _as_json(request: Request, reply: Reply) -> dict[str, Any]:
    base = request.app.state.settings.web.public_url.rstrip("/")
    return {
        "conversation_id": reply.conversation_id,
        "message_id": reply.message_id,
        "text": reply.text,
        "route": reply.route.value,
        "notice": reply.notice,
        "citations": [
            {"number": c.number, "title": c.title, "url": c.url or f"{base}/kb/articles/{c.article_id}"}
            for c in reply.citations
        ],
        "buttons": [{"action": b.action.value, "label": b.label, "value": b.value} for b in reply.buttons],
    }


def _owns(request: Request, user: SignedInUser, conversation_id: int) -> bool:
    from services.common.db import session_scope
    from services.conversations import repo as conversations

    with session_scope(request.app.state.session_factory) as db_session:
        found = conversations.get_conversation(
            db_session=db_session, conversation_id=conversation_id, employee_id=user.id
        )
        return found is not None


def _dispatch(reply: Reply) -> None:
    if reply.automation_run_id is None:
        return
    from services.worker.dispatch import enqueue
    from services.worker.queues import TaskName

    try:
        enqueue(TaskName.RUN_AUTOMATION, run_id=reply.automation_run_id)
    except Exception:  # noqa: BLE001 - the run row is safe; the stalled-run sweep sends it later
        logger.exception("automation not dispatched", extra={"run_id": reply.automation_run_id})


def _apology() -> dict[str, Any]:
    reference = new_reference_id()
    logger.exception("web chat failed", extra={"reference": reference})
    return {
        "text": f"Sorry, something went wrong on my side. Reference: {reference}.",
        "citations": [],
        "buttons": [],
        "error": reference,
    }


@router.get("/chat", response_class=HTMLResponse)
def chat_page(request: Request, user: Employee) -> HTMLResponse:
    """The chat page."""
    context = {"user": user, "csrf_token": csrf_token(request)}
    return request.app.state.templates.TemplateResponse(request, "chat.html", context)  # type: ignore[no-any-return]


@router.post("/chat/messages", dependencies=[Depends(check_csrf)])
def chat_message(request: Request, message: ChatMessage, user: Employee) -> dict[str, Any]:
    """Answer one message."""
    if message.conversation_id is not None and not _owns(request, user, message.conversation_id):
        raise HTTPException(status_code=404, detail="No such conversation.")
    orchestrator = orchestrator_for(request)
    try:
        reply = orchestrator.handle_message(
            employee_id=user.id,
            channel=Channel.WEB,
            text=message.text,
            conversation_id=message.conversation_id,
        )
    except ValueError as exc:  # someone else's or an unknown conversation
        raise HTTPException(status_code=404, detail="No such conversation.") from exc
    except Exception:  # noqa: BLE001 - never silent: an apology with a reference
        return _apology()
    _dispatch(reply)
    return _as_json(request, reply)


@router.post("/chat/actions", dependencies=[Depends(check_csrf)])
def chat_action(request: Request, action: ChatAction, user: Employee) -> dict[str, Any]:
    """A button press (feedback, confirm, open a ticket, talk to a person, a clarification choice)."""
    orchestrator = orchestrator_for(request)
    try:
        reply = orchestrator.handle_action(
            employee_id=user.id,
            conversation_id=action.conversation_id,
            action=action.action,
            value=action.value,
        )
    except ValueError as exc:
        raise HTTPException(status_code=404, detail="No such conversation.") from exc
    except Exception:  # noqa: BLE001
        return _apology()
    _dispatch(reply)
    return _as_json(request, reply)
