from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from services.automations.models import AutomationKind, AutomationRun
from services.common.db import session_scope
from services.conversations import strings
from services.conversations.models import (
    AnswerOutcome,
    Channel,
    Feedback,
    FeedbackRating,
    Message,
    MessageRole,
)
from services.conversations.orchestrator import ButtonAction, Orchestrator
from services.directory.models import Employee
from services.router.classifier import Thresholds
from services.router.routes import Route
from services.tickets.models import Ticket, TicketStatus, TicketSystemKind
from tests.unit.conversations.harness import build_world


@dataclass
class Env:
    sessions: sessionmaker[Session]
    employee_id: int
    other_id: int
    make: Callable[..., Orchestrator]


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    world = build_world(tmp_path)
    with session_scope(world.sessions) as db_session:
        ana = Employee(email="ana@example.test", display_name="Ana")
        bo = Employee(email="bo@example.test", display_name="Bo")
        db_session.add_all([ana, bo])
        db_session.flush()
        ids = (ana.id, bo.id)
    yield Env(world.sessions, ids[0], ids[1], world.orchestrator)
    world.engine.dispose()


def _count(env: Env, model: type) -> int:
    with session_scope(env.sessions) as db_session:
        return int(db_session.scalar(select(func.count()).select_from(model)) or 0)


def test_orchestrator_answers_with_citations_and_records_the_turn(env: Env) -> None:
    reply = env.make().handle_message(
        employee_id=env.employee_id, channel=Channel.WEB, text="my vpn keeps dropping"
    )
    assert reply.route is Route.ANSWER and reply.outcome is AnswerOutcome.ANSWERED
    assert reply.intent == "vpn_issue" and reply.citations[0].title == "VPN keeps dropping"
    assert [b.action for b in reply.buttons][:2] == [
        ButtonAction.FEEDBACK_HELPFUL,
        ButtonAction.FEEDBACK_NOT_HELPFUL,
    ]
    with session_scope(env.sessions) as db_session:
        employee_turn, assistant_turn = db_session.scalars(select(Message).order_by(Message.id)).all()
        assert employee_turn.role is MessageRole.EMPLOYEE and employee_turn.intent == "vpn_issue"
        assert (
            employee_turn.confidence is not None and employee_turn.intent_ranking[0]["intent"] == "vpn_issue"
        )
        assert assistant_turn.route is Route.ANSWER and assistant_turn.latency_ms is not None
        assert assistant_turn.citations[0]["title"] == "VPN keeps dropping"


def test_orchestrator_fills_slots_over_turns_and_acts_only_after_confirmation(env: Env) -> None:
    bot = env.make()
    first = bot.handle_message(employee_id=env.employee_id, channel=Channel.SLACK, text="i need software")
    assert first.text == "Which software?" and first.state["pending"]["awaiting"] == "software"
    unclear = bot.handle_message(
        employee_id=env.employee_id,
        channel=Channel.SLACK,
        text="the blue one",
        conversation_id=first.conversation_id,
    )
    assert unclear.text.startswith("Sorry, I didn't catch that")
    second = bot.handle_message(
        employee_id=env.employee_id,
        channel=Channel.SLACK,
        text="figma",
        conversation_id=first.conversation_id,
    )
    assert "request Figma for you" in second.text
    assert [b.action for b in second.buttons] == [ButtonAction.CONFIRM, ButtonAction.CANCEL]
    assert _count(env, AutomationRun) == 0  # nothing happens before the button
    done = bot.handle_action(
        employee_id=env.employee_id, conversation_id=first.conversation_id, action=ButtonAction.CONFIRM
    )
    assert done.text.startswith("Your request is in (reference AR-")
    again = bot.handle_action(
        employee_id=env.employee_id, conversation_id=first.conversation_id, action=ButtonAction.CONFIRM
    )
    assert again.text == strings.NOTHING_PENDING
    with session_scope(env.sessions) as db_session:
        run = db_session.scalars(select(AutomationRun)).one()
        assert run.kind is AutomationKind.SOFTWARE_ACCESS and run.params == {"software": "Figma"}
        assert run.requester_id == env.employee_id


def test_orchestrator_slot_in_first_message_goes_straight_to_confirmation_and_cancel_works(env: Env) -> None:
    bot = env.make()
    reply = bot.handle_message(employee_id=env.employee_id, channel=Channel.WEB, text="i need adobe acrobat")
    assert "Adobe Acrobat Pro" in reply.text and reply.state["pending"]["confirm"] is True
    cancelled = bot.handle_message(
        employee_id=env.employee_id, channel=Channel.WEB, text="cancel", conversation_id=reply.conversation_id
    )
    assert cancelled.text == strings.CANCELLED and "pending" not in cancelled.state
    assert _count(env, AutomationRun) == 0


def test_orchestrator_out_of_scope_and_smalltalk(env: Env) -> None:
    bot = env.make()
    oos = bot.handle_message(
        employee_id=env.employee_id, channel=Channel.WEB, text="book a flight to rome please"
    )
    assert oos.route is Route.OUT_OF_SCOPE and oos.text == strings.OUT_OF_SCOPE
    hello = bot.handle_message(employee_id=env.employee_id, channel=Channel.WEB, text="hello")
    assert hello.route is Route.SMALLTALK and hello.text == strings.GREETING


def test_orchestrator_ambiguous_message_asks_and_the_choice_routes(env: Env) -> None:
    bot = env.make(thresholds=Thresholds(0.0, 0.99))
    reply = bot.handle_message(employee_id=env.employee_id, channel=Channel.WEB, text="vpn software")
    assert reply.route is Route.CLARIFY and reply.text == strings.CLARIFY
    choices = [b for b in reply.buttons if b.action is ButtonAction.CHOOSE_INTENT]
    assert len(choices) == 2
    vpn = next(b for b in choices if b.value == "vpn_issue")
    chosen = bot.handle_action(
        employee_id=env.employee_id,
        conversation_id=reply.conversation_id,
        action=ButtonAction.CHOOSE_INTENT,
        value=vpn.value,
    )
    assert chosen.route is Route.ANSWER and "clarify" not in chosen.state


def test_orchestrator_replayed_event_is_answered_once(env: Env) -> None:
    bot = env.make()
    first = bot.handle_message(
        employee_id=env.employee_id, channel=Channel.SLACK, text="hello", idempotency_key="slack:T1:Ev9"
    )
    second = bot.handle_message(
        employee_id=env.employee_id, channel=Channel.SLACK, text="hello", idempotency_key="slack:T1:Ev9"
    )
    assert second.replayed and second.message_id == first.message_id and second.text == first.text
    assert _count(env, Message) == 2


def test_orchestrator_ticket_status_shows_only_the_askers_tickets(env: Env) -> None:
    with session_scope(env.sessions) as db_session:
        db_session.add_all(
            [
                Ticket(
                    system=TicketSystemKind.BUILTIN,
                    external_key="HD-12",
                    title="Monitor flickers",
                    requester_id=env.employee_id,
                    status=TicketStatus.OPEN,
                ),
                Ticket(
                    system=TicketSystemKind.BUILTIN,
                    external_key="HD-13",
                    title="Secret other ticket",
                    requester_id=env.other_id,
                    status=TicketStatus.OPEN,
                ),
            ]
        )
    bot = env.make()
    mine = bot.handle_message(employee_id=env.employee_id, channel=Channel.WEB, text="status of my ticket")
    assert mine.route is Route.TICKET_STATUS and "HD-12 · Monitor flickers · open" in mine.text
    assert "HD-13" not in mine.text
    other = bot.handle_message(
        employee_id=env.employee_id, channel=Channel.WEB, text="ticket status HD-13 please"
    )
    assert "couldn't find ticket HD-13" in other.text


def test_orchestrator_feedback_and_handoff(env: Env) -> None:
    bot = env.make()
    answer = bot.handle_message(
        employee_id=env.employee_id, channel=Channel.WEB, text="my vpn keeps dropping"
    )
    down = next(b for b in answer.buttons if b.action is ButtonAction.FEEDBACK_NOT_HELPFUL)
    sorry = bot.handle_action(
        employee_id=env.employee_id,
        conversation_id=answer.conversation_id,
        action=down.action,
        value=down.value,
    )
    assert sorry.text == strings.FEEDBACK_SORRY
    with session_scope(env.sessions) as db_session:
        assert db_session.scalars(select(Feedback)).one().rating is FeedbackRating.NOT_HELPFUL
    human = bot.handle_message(
        employee_id=env.employee_id,
        channel=Channel.WEB,
        text="talk to a human",
        conversation_id=answer.conversation_id,
    )
    assert human.route is Route.HANDOFF and f"C-{answer.conversation_id}" in human.text
    with pytest.raises(ValueError):
        bot.handle_action(
            employee_id=env.other_id, conversation_id=answer.conversation_id, action=ButtonAction.CONFIRM
        )


def test_orchestrator_without_a_trained_model_still_answers_from_the_knowledge_base(env: Env) -> None:
    reply = env.make(trained=False).handle_message(
        employee_id=env.employee_id, channel=Channel.WEB, text="vpn keeps dropping"
    )
    assert reply.route is Route.ANSWER and reply.notice == strings.NO_INTENT_MODEL
