"""The conversation orchestrator: message -> classify -> route -> reply, for every channel.

Slack, the web chat and ``deskpilot ask`` all call :meth:`Orchestrator.handle_message` and
:meth:`Orchestrator.handle_action` and render the :class:`Reply` they get: text, citations, buttons and
the conversation's follow-up state. Nothing here knows about Slack or HTTP.

Per turn, sessions are short: one to read the conversation, none during classification, retrieval or
the LLM call, one to record the turn (employee message with intent, confidence, ranking and route;
assistant message with outcome, citations, latency) and the new follow-up state. Automations never run
from a message alone: slots are filled over several turns if needed, then the employee must press the
confirmation button; only then is an automation run recorded (the workers of the automation issue carry
it out).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from connectors.interfaces import LLM
from knowledge.acl import Viewer
from knowledge.answer import SEARCH_DEGRADED_NOTICE, AnswerPolicy, answer_question
from knowledge.citations import Citation
from knowledge.retrieve import HybridRetriever
from services.automations.models import AutomationKind, AutomationRun
from services.common.db import session_scope, utcnow
from services.common.ids import automation_key
from services.common.metrics import observe_answer_turn
from services.conversations import repo, strings
from services.conversations.models import (
    AnswerOutcome,
    Channel,
    ConversationStatus,
    Feedback,
    FeedbackRating,
    Message,
    MessageRole,
)
from services.directory.models import Employee
from services.router.catalog import SlotSpec
from services.router.classifier import IntentClassifier
from services.router.intents import IntentPrediction
from services.router.model_store import NoIntentModelError
from services.router.models import Intent
from services.router.policy import decide_route
from services.router.routes import Route
from services.router.slots import extract_slot
from services.tickets.models import Ticket, TicketStatus

logger = logging.getLogger(__name__)

CANCEL_WORDS = {"cancel", "stop", "never mind", "nevermind", "forget it", "no", "abort"}
OPEN_TICKET_STATUSES = {TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING}
SMALLTALK_REPLIES = {
    "greeting": strings.GREETING,
    "thanks": strings.THANKS,
    "goodbye": strings.GOODBYE,
    "bot_capabilities": strings.CAPABILITIES,
}


class ButtonAction(StrEnum):
    """What a button does when pressed (channels map these to their own action ids)."""

    CHOOSE_INTENT = "choose_intent"
    CONFIRM = "confirm"
    CANCEL = "cancel"
    OPEN_TICKET = "open_ticket"
    TALK_TO_HUMAN = "talk_to_human"
    FEEDBACK_HELPFUL = "feedback_helpful"
    FEEDBACK_NOT_HELPFUL = "feedback_not_helpful"


@dataclass(frozen=True)
class Button:
    """A choice offered with a reply; ``value`` comes back in :meth:`Orchestrator.handle_action`."""

    action: ButtonAction
    label: str
    value: str = ""


@dataclass
class Reply:
    """What to show the employee, whatever the channel."""

    text: str
    route: Route
    outcome: AnswerOutcome
    conversation_id: int
    message_id: int
    intent: str | None = None
    confidence: float | None = None
    citations: list[Citation] = field(default_factory=list)
    buttons: list[Button] = field(default_factory=list)
    notice: str | None = None
    latency_ms: float = 0.0
    state: dict[str, Any] = field(default_factory=dict)
    answer_mode: str | None = None
    replayed: bool = False
    automation_run_id: int | None = None
    """A run this reply just recorded: the channel dispatches it once the reply is delivered."""


@dataclass
class _Draft:
    """A reply before it is recorded."""

    text: str
    route: Route
    outcome: AnswerOutcome
    citations: list[Citation] = field(default_factory=list)
    buttons: list[Button] = field(default_factory=list)
    notice: str | None = None
    state: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _IntentInfo:
    name: str
    description: str
    route: Route
    flow: str | None
    slots: tuple[SlotSpec, ...]


class Orchestrator:
    """Routes each message; see the module docstring for the guarantees."""

    def __init__(
        self,
        *,
        session_factory: sessionmaker[Session],
        classifier: Callable[[], IntentClassifier],
        retriever: HybridRetriever,
        llm: LLM | None = None,
        answer_policy: AnswerPolicy | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = session_factory
        self._classifier = classifier
        self._retriever = retriever
        self._llm = llm
        self._policy = answer_policy or AnswerPolicy()
        self._clock = clock

    # ---- entry points -------------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Load the intent model, the embedder and both indexes now instead of on the first question."""
        try:
            self._classifier().predict("warm up")
        except NoIntentModelError:
            pass  # the first answer says so; nothing to load
        self._retriever.retrieve("warm up", viewer=Viewer.of(()), k=1)

    def handle_message(
        self,
        *,
        employee_id: int,
        channel: Channel,
        text: str,
        conversation_id: int | None = None,
        idempotency_key: str | None = None,
    ) -> Reply:
        """Answer one employee message (a replay of the same ``idempotency_key`` returns the first reply)."""
        started = time.perf_counter()
        with session_scope(self._sessions) as db_session:
            if idempotency_key:
                replay = self._replay(db_session, idempotency_key)
                if replay is not None:
                    return replay
            employee = db_session.get(Employee, employee_id)
            if employee is None:
                raise ValueError(f"unknown employee {employee_id}")
            conversation = (
                repo.get_conversation(
                    db_session=db_session, conversation_id=conversation_id, employee_id=employee_id
                )
                if conversation_id
                else None
            ) or repo.create_conversation(db_session=db_session, employee_id=employee_id, channel=channel)
            conversation_id = conversation.id
            state = dict(conversation.state or {})
            viewer = Viewer.of(employee.group_names)
            history = repo.recent_turns(db_session=db_session, conversation_id=conversation.id)
            intents = self._intents(db_session)

        prediction: IntentPrediction | None = None
        if state.get("pending") and not state["pending"].get("confirm"):
            draft = self._continue_slot_filling(text, state, intents)
        elif state.get("pending") and _is_cancel(text):
            draft = _Draft(strings.CANCELLED, Route.AUTOMATION, AnswerOutcome.AUTOMATION)
        else:
            state.pop("pending", None)
            state.pop("clarify", None)
            prediction, draft = self._classify_and_route(text, state, intents, viewer, history, employee_id)
        latency_ms = (time.perf_counter() - started) * 1000
        reply = self._record(
            conversation_id=conversation_id,
            employee_text=text,
            prediction=prediction,
            draft=draft,
            latency_ms=latency_ms,
            idempotency_key=idempotency_key,
        )
        if not reply.replayed:
            observe_answer_turn(
                channel=channel.value,
                route=reply.route.value,
                outcome=reply.outcome.value,
                seconds=time.perf_counter() - started,
            )
        return reply

    def handle_action(
        self, *, employee_id: int, conversation_id: int, action: ButtonAction, value: str = ""
    ) -> Reply:
        """React to a pressed button (clarification choice, confirmation, feedback, ticket, handoff)."""
        started = time.perf_counter()
        with session_scope(self._sessions) as db_session:
            conversation = repo.get_conversation(
                db_session=db_session, conversation_id=conversation_id, employee_id=employee_id
            )
            if conversation is None:
                raise ValueError("no such conversation for this employee")
            state = dict(conversation.state or {})
            employee = db_session.get(Employee, employee_id)
            assert employee is not None
            viewer = Viewer.of(employee.group_names)
            history = repo.recent_turns(db_session=db_session, conversation_id=conversation_id)
            intents = self._intents(db_session)
            last_question = next(
                (t for role, t in reversed(history) if role == MessageRole.EMPLOYEE.value), ""
            )

        if action is ButtonAction.CHOOSE_INTENT and value in intents:
            original = str(state.pop("clarify", {}).get("text") or last_question)
            draft = self._route(intents[value], original, state, viewer, history, employee_id)
        elif action is ButtonAction.CONFIRM:
            draft = self._confirm(employee_id, conversation_id, state)
        elif action is ButtonAction.CANCEL:
            state.pop("pending", None)
            draft = _Draft(strings.CANCELLED, Route.AUTOMATION, AnswerOutcome.AUTOMATION)
        elif action is ButtonAction.OPEN_TICKET and "open_ticket" in intents:
            state.pop("pending", None)
            draft = self._start_automation(
                intents["open_ticket"], last_question, state, prefill={"description": last_question}
            )
        elif action is ButtonAction.TALK_TO_HUMAN:
            draft = self._handoff(conversation_id)
        elif action in (ButtonAction.FEEDBACK_HELPFUL, ButtonAction.FEEDBACK_NOT_HELPFUL):
            draft = self._feedback(employee_id, conversation_id, int(value), action)
        else:
            draft = _Draft(strings.SMALLTALK_FALLBACK, Route.SMALLTALK, AnswerOutcome.SMALLTALK, state=state)
        if not draft.state:
            draft.state = state
        return self._record(
            conversation_id=conversation_id,
            employee_text=f"[button] {action.value}{f': {value}' if value else ''}",
            prediction=None,
            draft=draft,
            latency_ms=(time.perf_counter() - started) * 1000,
            idempotency_key=None,
        )

    # ---- routing ------------------------------------------------------------------------------------

    def _classify_and_route(
        self,
        text: str,
        state: dict[str, Any],
        intents: dict[str, _IntentInfo],
        viewer: Viewer,
        history: list[tuple[str, str]],
        employee_id: int,
    ) -> tuple[IntentPrediction | None, _Draft]:
        try:
            prediction = self._classifier().predict(text)
        except NoIntentModelError:
            draft = self._answer(text, viewer, history)
            degraded = SEARCH_DEGRADED_NOTICE if draft.details.get("search_degraded") else None
            draft.notice = " ".join(n for n in (strings.NO_INTENT_MODEL, degraded) if n)
            return None, draft
        decision = decide_route(prediction, {name: info.route for name, info in intents.items()})
        if decision.route is Route.OUT_OF_SCOPE:
            return prediction, _Draft(
                strings.OUT_OF_SCOPE,
                Route.OUT_OF_SCOPE,
                AnswerOutcome.OUT_OF_SCOPE,
                buttons=[Button(ButtonAction.TALK_TO_HUMAN, strings.BUTTON_TALK_TO_HUMAN)],
                state=state,
            )
        if decision.route is Route.CLARIFY:
            options = [s.intent for s in prediction.top_two if s.intent in intents]
            state["clarify"] = {"text": text, "options": options}
            buttons = [Button(ButtonAction.CHOOSE_INTENT, _describe(intents, name), name) for name in options]
            buttons.append(Button(ButtonAction.TALK_TO_HUMAN, strings.CLARIFY_NONE_OF_THESE))
            return prediction, _Draft(
                strings.CLARIFY, Route.CLARIFY, AnswerOutcome.CLARIFY, buttons=buttons, state=state
            )
        info = intents.get(decision.intent or "")
        if info is None:  # the model knows an intent that was since disabled or removed
            return prediction, self._answer(text, viewer, history)
        return prediction, self._route(info, text, state, viewer, history, employee_id)

    def _route(
        self,
        info: _IntentInfo,
        text: str,
        state: dict[str, Any],
        viewer: Viewer,
        history: list[tuple[str, str]],
        employee_id: int,
    ) -> _Draft:
        if info.route is Route.AUTOMATION:
            return self._start_automation(info, text, state)
        if info.route is Route.TICKET_STATUS:
            return self._ticket_status(text, state, employee_id)
        if info.route is Route.HANDOFF:
            return _Draft(
                "", Route.HANDOFF, AnswerOutcome.HANDOFF, state={**state, "handoff_requested": True}
            )
        if info.route is Route.SMALLTALK:
            return _Draft(
                SMALLTALK_REPLIES.get(info.name, strings.SMALLTALK_FALLBACK),
                Route.SMALLTALK,
                AnswerOutcome.SMALLTALK,
                state=state,
            )
        draft = self._answer(text, viewer, history)
        draft.state = state
        return draft

    def _answer(self, text: str, viewer: Viewer, history: list[tuple[str, str]]) -> _Draft:
        answer = answer_question(
            text,
            viewer=viewer,
            retriever=self._retriever,
            llm=self._llm,
            policy=self._policy,
            history=history,
        )
        buttons = [Button(ButtonAction.OPEN_TICKET, strings.BUTTON_OPEN_TICKET)]
        if answer.answered:
            buttons = [
                Button(ButtonAction.FEEDBACK_HELPFUL, strings.BUTTON_HELPFUL),
                Button(ButtonAction.FEEDBACK_NOT_HELPFUL, strings.BUTTON_NOT_HELPFUL),
                *buttons,
            ]
        return _Draft(
            answer.text,
            Route.ANSWER,
            AnswerOutcome.ANSWERED if answer.answered else AnswerOutcome.NO_ANSWER,
            citations=answer.citations,
            buttons=buttons,
            notice=answer.notice,
            details={
                "mode": answer.mode.value,
                "answer_confidence": round(answer.confidence, 4),
                "related": [c.as_dict() for c in answer.related],
                "llm_tokens": answer.llm_tokens,
                **({"search_degraded": True} if answer.search_degraded else {}),
            },
        )

    # ---- automations --------------------------------------------------------------------------------

    def _start_automation(
        self, info: _IntentInfo, text: str, state: dict[str, Any], prefill: dict[str, str] | None = None
    ) -> _Draft:
        now = self._clock()
        slots = {spec.name: value for spec in info.slots if (value := extract_slot(spec, text, now=now))}
        slots.update(prefill or {})
        state["pending"] = {
            "intent": info.name,
            "flow": info.flow,
            "slots": slots,
            "nonce": uuid.uuid4().hex[:12],
        }
        return self._next_step(info, state)

    def _continue_slot_filling(
        self, text: str, state: dict[str, Any], intents: dict[str, _IntentInfo]
    ) -> _Draft:
        pending = state["pending"]
        info = intents.get(pending["intent"])
        if info is None or _is_cancel(text):
            state.pop("pending", None)
            return _Draft(strings.CANCELLED, Route.AUTOMATION, AnswerOutcome.AUTOMATION, state=state)
        awaiting = next((s for s in info.slots if s.name == pending.get("awaiting")), None)
        if awaiting is not None:
            value = extract_slot(awaiting, text, now=self._clock())
            if value is None:
                prompt = awaiting.prompt or strings.ASK_SLOT_DEFAULT.format(slot=_slot_label(awaiting))
                return _Draft(
                    strings.SLOT_NOT_UNDERSTOOD.format(prompt=prompt),
                    Route.AUTOMATION,
                    AnswerOutcome.AUTOMATION,
                    buttons=[Button(ButtonAction.CANCEL, strings.BUTTON_CANCEL)],
                    state=state,
                )
            pending["slots"][awaiting.name] = value
        return self._next_step(info, state)

    def _next_step(self, info: _IntentInfo, state: dict[str, Any]) -> _Draft:
        pending = state["pending"]
        missing = next((s for s in info.slots if s.required and s.name not in pending["slots"]), None)
        if missing is not None:
            pending["awaiting"] = missing.name
            prompt = missing.prompt or strings.ASK_SLOT_DEFAULT.format(slot=_slot_label(missing))
            return _Draft(
                prompt,
                Route.AUTOMATION,
                AnswerOutcome.AUTOMATION,
                buttons=[Button(ButtonAction.CANCEL, strings.BUTTON_CANCEL)],
                state=state,
            )
        pending["awaiting"] = None
        pending["confirm"] = True
        summary = _summary(info, pending["slots"])
        return _Draft(
            strings.CONFIRM_AUTOMATION.format(summary=summary),
            Route.AUTOMATION,
            AnswerOutcome.AUTOMATION,
            buttons=[
                Button(ButtonAction.CONFIRM, strings.BUTTON_CONFIRM),
                Button(ButtonAction.CANCEL, strings.BUTTON_CANCEL),
            ],
            state=state,
        )

    def _confirm(self, employee_id: int, conversation_id: int, state: dict[str, Any]) -> _Draft:
        pending = state.get("pending")
        if not pending or not pending.get("confirm"):
            return _Draft(strings.NOTHING_PENDING, Route.AUTOMATION, AnswerOutcome.AUTOMATION, state=state)
        key = automation_key(str(pending["flow"]), f"c{conversation_id}", str(pending["nonce"]))
        reference, run_id = self._record_automation(
            AutomationKind(pending["flow"]), dict(pending["slots"]), key, employee_id, conversation_id
        )
        state.pop("pending", None)
        return _Draft(
            strings.AUTOMATION_QUEUED.format(reference=reference),
            Route.AUTOMATION,
            AnswerOutcome.AUTOMATION,
            state=state,
            details={"automation_reference": reference, "automation_run_id": run_id},
        )

    def _record_automation(
        self, kind: AutomationKind, params: dict[str, Any], key: str, employee_id: int, conversation_id: int
    ) -> tuple[str, int | None]:
        """Write the automation run once per ``key`` (a repeat finds the first).

        Returns its reference and, when this call created it, its id (to dispatch)."""
        try:
            with session_scope(self._sessions) as db_session:
                run = AutomationRun(
                    kind=kind,
                    idempotency_key=key,
                    requester_id=employee_id,
                    conversation_id=conversation_id,
                    params=params,
                )
                db_session.add(run)
                db_session.flush()
                return f"AR-{run.id}", run.id
        except IntegrityError:  # the same request was already recorded
            with session_scope(self._sessions) as db_session:
                existing = db_session.scalar(
                    select(AutomationRun).where(AutomationRun.idempotency_key == key)
                )
                return (f"AR-{existing.id}" if existing else "pending"), None

    def submit_ticket_form(
        self,
        *,
        employee_id: int,
        conversation_id: int,
        title: str,
        description: str,
        urgency: str,
        form_key: str,
    ) -> Reply:
        """A ticket form the employee filled in and submitted (the submission is itself the confirmation)."""
        started = time.perf_counter()
        with session_scope(self._sessions) as db_session:
            conversation = repo.get_conversation(
                db_session=db_session, conversation_id=conversation_id, employee_id=employee_id
            )
            if conversation is None:
                raise ValueError("no such conversation for this employee")
            state = dict(conversation.state or {})
        reference, run_id = self._record_automation(
            AutomationKind.CREATE_TICKET,
            {"title": title, "description": description, "urgency": urgency},
            automation_key("create_ticket", form_key),
            employee_id,
            conversation_id,
        )
        draft = _Draft(
            strings.AUTOMATION_QUEUED.format(reference=reference),
            Route.AUTOMATION,
            AnswerOutcome.AUTOMATION,
            state=state,
            details={"automation_reference": reference, "automation_run_id": run_id},
        )
        return self._record(
            conversation_id=conversation_id,
            employee_text=f"[ticket form] {title}",
            prediction=None,
            draft=draft,
            latency_ms=(time.perf_counter() - started) * 1000,
            idempotency_key=None,
        )

    def last_question(self, *, employee_id: int, conversation_id: int) -> str:
        """The employee's last message in the conversation (to prefill a ticket form)."""
        with session_scope(self._sessions) as db_session:
            if repo.get_conversation(
                db_session=db_session, conversation_id=conversation_id, employee_id=employee_id
            ):
                turns = repo.recent_turns(db_session=db_session, conversation_id=conversation_id, limit=10)
            else:
                turns = []
        return next(
            (t for role, t in reversed(turns) if role == MessageRole.EMPLOYEE.value and t[:1] != "["), ""
        )

    # ---- other routes -------------------------------------------------------------------------------

    def _ticket_status(self, text: str, state: dict[str, Any], employee_id: int) -> _Draft:
        """The employee's open tickets and requests, or the one they named (only their own), from the
        local rows (kept current by webhooks and the poll): no ITSM call, so an ITSM outage cannot break
        it; a request that an outage delays says so."""
        from services.router.slots import extract_ticket_number

        key = extract_ticket_number(text)
        with session_scope(self._sessions) as db_session:
            query = select(Ticket).where(Ticket.requester_id == employee_id).order_by(Ticket.opened_at.desc())
            if key:
                query = query.where(Ticket.external_key == key)
            else:
                query = query.where(Ticket.status.in_(OPEN_TICKET_STATUSES))
            lines = [
                strings.TICKET_STATUS_LINE.format(
                    key=t.external_key, title=t.title, status=t.status.value, opened=f"{t.opened_at:%Y-%m-%d}"
                )
                for t in db_session.scalars(query.limit(10))
            ]
            if not key:
                runs = db_session.scalars(
                    select(AutomationRun)
                    .where(AutomationRun.requester_id == employee_id)
                    .order_by(AutomationRun.created_at.desc())
                    .limit(10)
                )
                lines += [
                    strings.REQUEST_STATUS_LINE.format(
                        reference=f"AR-{run.id}",
                        kind=run.kind.value.replace("_", " "),
                        details=", ".join(str(v) for v in run.params.values())[:80],
                        state=strings.request_state(
                            run.state.value, delayed=run.delay_notified_at is not None
                        ),
                        opened=f"{run.created_at:%Y-%m-%d}",
                    )
                    for run in runs
                    if not run.state.is_final
                ]
        if not lines:
            text_out = strings.TICKET_STATUS_NOT_FOUND.format(key=key) if key else strings.TICKET_STATUS_NONE
        else:
            text_out = "\n".join(lines)
        return _Draft(text_out, Route.TICKET_STATUS, AnswerOutcome.AUTOMATION, state=state)

    def _handoff(self, conversation_id: int) -> _Draft:
        with session_scope(self._sessions) as db_session:
            conversation = repo.get_conversation_any(db_session=db_session, conversation_id=conversation_id)
            if conversation is not None:
                conversation.status = ConversationStatus.HANDED_OFF
        return _Draft(
            strings.HANDOFF.format(reference=f"C-{conversation_id}"), Route.HANDOFF, AnswerOutcome.HANDOFF
        )

    def _feedback(
        self, employee_id: int, conversation_id: int, message_id: int, action: ButtonAction
    ) -> _Draft:
        helpful = action is ButtonAction.FEEDBACK_HELPFUL
        with session_scope(self._sessions) as db_session:
            message = db_session.get(Message, message_id)
            if message is None or message.conversation_id != conversation_id:
                raise ValueError("feedback for a message outside this conversation")
            existing = db_session.scalar(
                select(Feedback).where(Feedback.message_id == message_id, Feedback.employee_id == employee_id)
            )
            rating = FeedbackRating.HELPFUL if helpful else FeedbackRating.NOT_HELPFUL
            if existing is None:
                db_session.add(Feedback(message_id=message_id, employee_id=employee_id, rating=rating))
            else:
                existing.rating = rating
        if helpful:
            return _Draft(strings.FEEDBACK_THANKS, Route.ANSWER, AnswerOutcome.ANSWERED)
        return _Draft(
            strings.FEEDBACK_SORRY,
            Route.ANSWER,
            AnswerOutcome.NO_ANSWER,
            buttons=[Button(ButtonAction.OPEN_TICKET, strings.BUTTON_OPEN_TICKET)],
        )

    # ---- persistence --------------------------------------------------------------------------------

    def _intents(self, db_session: Session) -> dict[str, _IntentInfo]:
        return {
            intent.name: _IntentInfo(
                intent.name,
                intent.description,
                intent.route,
                intent.automation_flow,
                tuple(SlotSpec.model_validate(slot) for slot in intent.slots),
            )
            for intent in db_session.scalars(select(Intent).where(Intent.enabled.is_(True)))
        }

    def _replay(self, db_session: Session, idempotency_key: str) -> Reply | None:
        message = repo.find_message_by_key(db_session=db_session, idempotency_key=idempotency_key)
        if message is None:
            return None
        answer = repo.reply_after(db_session=db_session, message=message)
        if answer is None:
            return None
        return Reply(
            text=answer.text,
            route=answer.route or Route.ANSWER,
            outcome=answer.outcome or AnswerOutcome.ANSWERED,
            conversation_id=answer.conversation_id,
            message_id=answer.id,
            intent=message.intent,
            confidence=message.confidence,
            buttons=[
                Button(ButtonAction(b["action"]), b["label"], b["value"])
                for b in answer.details.get("buttons", [])
            ],
            replayed=True,
        )

    def _record(
        self,
        *,
        conversation_id: int,
        employee_text: str,
        prediction: IntentPrediction | None,
        draft: _Draft,
        latency_ms: float,
        idempotency_key: str | None,
    ) -> Reply:
        if draft.route is Route.HANDOFF and not draft.text:
            draft.text = strings.HANDOFF.format(reference=f"C-{conversation_id}")
        with session_scope(self._sessions) as db_session:
            conversation = repo.get_conversation_any(db_session=db_session, conversation_id=conversation_id)
            assert conversation is not None
            repo.add_message(
                db_session=db_session,
                conversation=conversation,
                role=MessageRole.EMPLOYEE,
                text=employee_text,
                route=draft.route,
                intent=prediction.intent if prediction else None,
                confidence=prediction.confidence if prediction else None,
                intent_ranking=prediction.ranking_as_list() if prediction else None,
                idempotency_key=idempotency_key,
                details={"model_version": prediction.model_version} if prediction else None,
            )
            reply = repo.add_message(
                db_session=db_session,
                conversation=conversation,
                role=MessageRole.ASSISTANT,
                text=draft.text,
                route=draft.route,
                outcome=draft.outcome,
                latency_ms=round(latency_ms),
                citations=[c.as_dict() for c in draft.citations],
                details={
                    **draft.details,
                    "notice": draft.notice,
                    "buttons": [
                        {"action": b.action.value, "label": b.label, "value": b.value} for b in draft.buttons
                    ],
                },
            )
            if draft.route is Route.HANDOFF:
                conversation.status = ConversationStatus.HANDED_OFF
            conversation.state = {k: v for k, v in draft.state.items() if not k.startswith("_")}
            message_id = reply.id
        buttons = [
            Button(b.action, b.label, str(message_id)) if b.action.value.startswith("feedback") else b
            for b in draft.buttons
        ]
        return Reply(
            text=draft.text,
            route=draft.route,
            outcome=draft.outcome,
            conversation_id=conversation_id,
            message_id=message_id,
            intent=prediction.intent if prediction else None,
            confidence=prediction.confidence if prediction else None,
            citations=draft.citations,
            buttons=buttons,
            notice=draft.notice,
            latency_ms=latency_ms,
            state=conversation.state,
            answer_mode=draft.details.get("mode"),
            automation_run_id=draft.details.get("automation_run_id"),
        )


def _is_cancel(text: str) -> bool:
    return text.strip().lower().strip(".!") in CANCEL_WORDS


def _slot_label(spec: SlotSpec) -> str:
    return strings.SLOT_LABELS.get(spec.name, spec.name.replace("_", " "))


def _describe(intents: dict[str, _IntentInfo], name: str) -> str:
    """Button label for an intent: its description, else its name in words."""
    description = intents[name].description if name in intents else ""
    return (description or name.replace("_", " ").capitalize())[:75]


def _summary(info: _IntentInfo, slots: dict[str, str]) -> str:
    template = strings.AUTOMATION_SUMMARIES.get(info.flow or "", "go ahead with {intent}")
    values = {"system": "Okta", "intent": info.name.replace("_", " "), **slots}
    try:
        return template.format(**values)
    except KeyError:
        return info.name.replace("_", " ")
