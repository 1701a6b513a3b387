"""Intent pages: the catalog with utterance counts and model versions, one intent's description, route
and training examples, retraining (a background job) and a test box showing the ranking and the route.

Admins and knowledge editors only; every form posts the CSRF token; every change is audited.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from connectors.interfaces import Embedder
from services.admin.auth import SignedInUser, check_csrf, csrf_token, require_roles
from services.admin.navigation import EDITORS
from services.common.db import session_scope
from services.common.errors import NotFoundError
from services.router import editing
from services.router.editing import Actor, IntentEditError
from services.router.model_store import ActiveIntentModel, NoIntentModelError
from services.router.policy import decide_route
from services.router.retrain import (
    IntentTrainingContext,
    configure_intent_training,
    latest_retrain_status,
    request_retrain,
)
from services.router.routes import Route

router = APIRouter(tags=["admin"])
Editor = Annotated[SignedInUser, Depends(require_roles(*EDITORS))]
MAX_TEST_MESSAGE = 1000
NOTICES = {
    "saved": "Intent saved.",
    "added": "Example added. Retrain to teach it to the classifier.",
    "removed": "Example removed. Retrain to teach it to the classifier.",
    "retrain": "Retrain requested.",
}
ROUTE_LABELS = {
    Route.ANSWER.value: "Answer from the knowledge base",
    Route.AUTOMATION.value: "Run an automation",
    Route.TICKET_STATUS.value: "Report ticket status",
    Route.HANDOFF.value: "Hand off to IT staff",
    Route.SMALLTALK.value: "Small talk",
    Route.CLARIFY.value: "Ask which intent was meant",
    Route.OUT_OF_SCOPE.value: "Decline: out of scope",
}
_lock = threading.Lock()


def _intent_embedder(request: Request) -> Embedder:
    """The embedder the intent models use (tests set ``app.state.intent_embedder``)."""
    state = request.app.state
    with _lock:
        if getattr(state, "intent_embedder", None) is None:
            index = getattr(state, "knowledge_index", None)
            if index is not None:
                state.intent_embedder = index.embedder
            else:
                from knowledge.embeddings import build_embedder

                state.intent_embedder = build_embedder(state.settings.knowledge.embedding)
        return state.intent_embedder  # type: ignore[no-any-return]


def _intent_model(request: Request) -> ActiveIntentModel:
    """The active model for the test box; checks the active version on every use (admin traffic is low)."""
    state = request.app.state
    embedder = _intent_embedder(request)
    with _lock:
        if getattr(state, "intent_model", None) is None:
            state.intent_model = ActiveIntentModel(state.session_factory, embedder=embedder, refresh_s=0.0)
        return state.intent_model  # type: ignore[no-any-return]


def _actor(user: SignedInUser) -> Actor:
    return Actor(user.id, user.email)


def try_message(request: Request, message: str) -> dict[str, Any]:
    """What the active model and the routing policy make of ``message`` (for the test box)."""
    try:
        prediction = _intent_model(request).get().predict(message)
    except NoIntentModelError:
        return {"error": "No model is trained yet: retrain first."}
    except ValueError as exc:  # e.g. the model was trained with another embedder
        return {"error": f"The active model cannot be loaded: {exc}"}
    with session_scope(request.app.state.session_factory) as db_session:
        decision = decide_route(prediction, editing.intent_routes(db_session=db_session))
    return {
        "message": message,
        "intent": prediction.intent,
        "confidence": prediction.confidence,
        "out_of_scope": prediction.out_of_scope,
        "ambiguous": prediction.ambiguous,
        "ranking": prediction.ranking[:5],
        "route": decision.route.value,
        "reason": decision.reason,
        "model_version": prediction.model_version,
    }


def _test_box(request: Request, message: str | None) -> dict[str, Any] | None:
    text = (message or "").strip()[:MAX_TEST_MESSAGE]
    return try_message(request, text) if text else None


def _common(request: Request, user: SignedInUser, message: str | None, done: str | None) -> dict[str, Any]:
    with session_scope(request.app.state.session_factory) as db_session:
        versions = editing.recent_model_versions(db_session=db_session)
        status = latest_retrain_status(db_session=db_session)
    return {
        "user": user,
        "csrf_token": csrf_token(request),
        "versions": versions,
        "active": next((v for v in versions if v.is_active), None),
        "retrain": status,
        "notice": NOTICES.get(done or ""),
        "test": _test_box(request, message),
        "test_message": (message or "")[:MAX_TEST_MESSAGE],
        "route_labels": ROUTE_LABELS,
    }


def _render(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    return request.app.state.templates.TemplateResponse(  # type: ignore[no-any-return]
        request, template, context, status_code=status_code
    )


def _list_page(
    request: Request, user: SignedInUser, *, message: str | None, done: str | None, error: str | None = None
) -> HTMLResponse:
    context = _common(request, user, message, done)
    active = context["active"]
    with session_scope(request.app.state.session_factory) as db_session:
        context["intents"] = editing.list_intent_summaries(db_session=db_session)
        context["untrained"] = editing.edits_since(
            db_session=db_session, since=active.trained_at if active else None
        )
    context["error"] = error
    return _render(request, "admin_intents.html", context, 409 if error else 200)


def _intent_page(
    request: Request,
    user: SignedInUser,
    intent_id: int,
    *,
    message: str | None = None,
    done: str | None = None,
    error: str | None = None,
    draft: str = "",
) -> HTMLResponse:
    context = _common(request, user, message, done)
    with session_scope(request.app.state.session_factory) as db_session:
        try:
            intent = editing.get_intent_with_utterances(db_session=db_session, intent_id=intent_id)
        except NotFoundError as exc:
            raise HTTPException(status_code=404, detail="No such intent.") from exc
        context["intent"] = {
            "id": intent.id,
            "name": intent.name,
            "description": intent.description,
            "route": intent.route.value,
            "automation_flow": intent.automation_flow,
            "enabled": intent.enabled,
            "routes": [r.value for r in editing.routes_an_intent_may_take(intent)],
            "utterances": [
                {"id": u.id, "text": u.text, "source": u.source.value, "created_at": u.created_at}
                for u in intent.utterances
            ],
        }
    context.update(error=error, draft=draft)
    return _render(request, "admin_intent.html", context, 400 if error else 200)


@router.get("/admin/intents", response_class=HTMLResponse)
def intents_list(
    request: Request, user: Editor, message: str | None = None, done: str | None = None
) -> HTMLResponse:
    """Every intent with its route and examples, the model versions, retraining and the test box."""
    return _list_page(request, user, message=message, done=done)


@router.get("/admin/intents/{intent_id}", response_class=HTMLResponse)
def intent_page(
    request: Request, intent_id: int, user: Editor, message: str | None = None, done: str | None = None
) -> HTMLResponse:
    """One intent: edit its description and route, add and remove examples, test a message."""
    return _intent_page(request, user, intent_id, message=message, done=done)


@router.post("/admin/intents/retrain", dependencies=[Depends(check_csrf)])
def retrain(request: Request, user: Editor, intent_id: Annotated[int | None, Form()] = None) -> Response:
    """Queue a retrain (run now, in this process, on the embedded default) and go back to the page."""
    from services.worker.dispatch import enqueue
    from services.worker.queues import TaskName

    state = request.app.state
    try:
        with session_scope(state.session_factory) as db_session:
            job_id = request_retrain(db_session=db_session, actor=_actor(user))
    except IntentEditError as exc:
        if intent_id is not None:
            return _intent_page(request, user, intent_id, error=str(exc))
        return _list_page(request, user, message=None, done=None, error=str(exc))
    configure_intent_training(
        IntentTrainingContext(
            state.session_factory, _intent_embedder(request), state.settings.router.model_dir
        )
    )
    enqueue(TaskName.TRAIN_INTENTS, task_id=f"train-intents:{job_id}", job_id=job_id)
    back = f"/admin/intents/{intent_id}" if intent_id is not None else "/admin/intents"
    return RedirectResponse(f"{back}?done=retrain", status_code=303)


@router.post("/admin/intents/{intent_id}", dependencies=[Depends(check_csrf)])
def intent_save(
    request: Request,
    intent_id: int,
    user: Editor,
    route: Annotated[str, Form(max_length=32)],
    description: Annotated[str, Form(max_length=5000)] = "",
    enabled: Annotated[bool, Form()] = False,
) -> Response:
    """Save the description, route and enabled flag."""
    try:
        with session_scope(request.app.state.session_factory) as db_session:
            editing.update_intent(
                db_session=db_session,
                intent_id=intent_id,
                description=description,
                route=route,
                enabled=enabled,
                actor=_actor(user),
            )
    except NotFoundError as exc:
        raise HTTPException(status_code=404, detail="No such intent.") from exc
    except IntentEditError as exc:
        return _intent_page(request, user, intent_id, error=str(exc))
    return RedirectResponse(f"/admin/intents/{intent_id}?done=saved", status_code=303)


@router.post("/admin/intents/{intent_id}/utterances", dependencies=[Depends(check_csrf)])
def utterance_add(
    request: Request, intent_id: int, user: Editor, text: Annotated[str, Form(max_length=20_000)] = ""
) -> Response:
    """Add a training example (form errors re-show the page with the text kept)."""
    try:
        with session_scope(request.app.state.session_factory) as db_session:
            editing.add_utterance(db_session=db_session, intent_id=intent_id, text=text, actor=_actor(user))
    except NotFoundError as exc:
        raise HTTPException(status_code=404, detail="No such intent.") from exc
    except IntentEditError as exc:
        return _intent_page(request, user, intent_id, error=str(exc), draft=text[:1000])
    return RedirectResponse(f"/admin/intents/{intent_id}?done=added", status_code=303)


@router.post(
    "/admin/intents/{intent_id}/utterances/{utterance_id}/delete", dependencies=[Depends(check_csrf)]
)
def utterance_remove(request: Request, intent_id: int, utterance_id: int, user: Editor) -> Response:
    """Remove a training example."""
    try:
        with session_scope(request.app.state.session_factory) as db_session:
            editing.remove_utterance(
                db_session=db_session, intent_id=intent_id, utterance_id=utterance_id, actor=_actor(user)
            )
    except NotFoundError as exc:
        raise HTTPException(status_code=404, detail="No such example.") from exc
    except IntentEditError as exc:
        return _intent_page(request, user, intent_id, error=str(exc))
    return RedirectResponse(f"/admin/intents/{intent_id}?done=removed", status_code=303)
