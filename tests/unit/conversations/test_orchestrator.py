from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from connectors.fakes.embedder import HashingEmbedder
from connectors.folder.source import FolderKnowledgeSource
from knowledge.answer import AnswerPolicy
from knowledge.index import open_knowledge_index
from knowledge.ingest import ingest_source
from services.automations.models import AutomationKind, AutomationRun
from services.common.db import build_engine, build_session_factory, session_scope
from services.common.migrate import build_alembic_config, upgrade
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
from services.router.catalog import Catalog, IntentSpec, SlotKind, SlotSpec
from services.router.classifier import IntentClassifier, Thresholds, TrainedIntentClassifier
from services.router.intents import OUT_OF_SCOPE
from services.router.model_store import NoIntentModelError
from services.router.repo import sync_catalog
from services.router.routes import Route
from services.tickets.models import Ticket, TicketStatus, TicketSystemKind
from tests.conftest import make_settings
from tests.unit.knowledge.conftest import write_article

CATALOG = Catalog(
    intents=[
        IntentSpec(
            name="vpn_issue",
            route=Route.ANSWER,
            description="VPN problems",
            utterances=[
                "vpn keeps dropping",
                "globalprotect disconnects",
                "vpn is down",
                "vpn fails at the hotel",
                "my vpn connection drops",
                "cannot connect to vpn",
            ],
        ),
        IntentSpec(
            name="software_request",
            route=Route.AUTOMATION,
            automation_flow="software_access",
            description="Request software",
            slots=[
                SlotSpec(name="software", kind=SlotKind.SOFTWARE, required=True, prompt="Which software?")
            ],
            utterances=[
                "i need software",
                "install an app for me",
                "i need adobe acrobat",
                "install figma please",
                "can i get miro",
                "request a licence for visio",
            ],
        ),
        IntentSpec(
            name="ticket_status",
            route=Route.TICKET_STATUS,
            description="Ticket status",
            utterances=[
                "status of my ticket",
                "any update on my ticket",
                "what's happening with HD-12",
                "ticket status please",
                "where is my request",
                "is my ticket resolved",
            ],
        ),
        IntentSpec(
            name="talk_to_human",
            route=Route.HANDOFF,
            description="Talk to a person",
            utterances=[
                "talk to a human",
                "i want a person",
                "connect me to an agent",
                "real person please",
                "let me speak to it support",
                "human please",
            ],
        ),
        IntentSpec(
            name="greeting",
            route=Route.SMALLTALK,
            utterances=["hi", "hello", "hey there", "good morning", "hiya", "morning"],
        ),
    ],
    out_of_scope=[
        "when is payday",
        "book a flight to rome",
        "tell me a joke",
        "is the canteen open",
        "what's the weather",
        "how many vacation days do i have",
    ],
)


DEFAULT_THRESHOLDS = Thresholds(0.2, 0.0)


@dataclass
class Env:
    sessions: sessionmaker[Session]
    employee_id: int
    other_id: int
    make: Callable[..., Orchestrator]


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    settings = make_settings(tmp_path, knowledge={"bm25_path": tmp_path / "bm25"})
    upgrade(build_alembic_config(database_url=settings.database.url))
    engine = build_engine(settings.database)
    sessions = build_session_factory(engine)
    embedder = HashingEmbedder()
    index = open_knowledge_index(settings, embedder=embedder)
    folder = tmp_path / "kb"
    write_article(
        folder,
        "vpn.md",
        title="VPN keeps dropping",
        body="## Resolution\n\n1. Open GlobalProtect.\n2. Switch to TCP when the vpn keeps dropping.\n" * 3,
    )
    ingest_source(FolderKnowledgeSource("kb", folder), kind="folder", index=index, session_factory=sessions)
    with session_scope(sessions) as db_session:
        sync_catalog(db_session=db_session, catalog=CATALOG)
        ana = Employee(email="ana@example.test", display_name="Ana")
        bo = Employee(email="bo@example.test", display_name="Bo")
        db_session.add_all([ana, bo])
        db_session.flush()
        ids = (ana.id, bo.id)
    texts = [u for i in CATALOG.intents for u in i.utterances] + CATALOG.out_of_scope
    labels = [i.name for i in CATALOG.intents for _ in i.utterances] + [OUT_OF_SCOPE] * len(
        CATALOG.out_of_scope
    )

    def make(thresholds: Thresholds = DEFAULT_THRESHOLDS, trained: bool = True) -> Orchestrator:
        classifier, _ = TrainedIntentClassifier.train(
            texts, labels, embedder=embedder, version="t", thresholds=thresholds
        )

        def provide() -> IntentClassifier:
            if not trained:
                raise NoIntentModelError("not trained")
            return classifier

        return Orchestrator(
            session_factory=sessions,
            classifier=provide,
            retriever=index.retriever(),
            answer_policy=AnswerPolicy(min_relevance=0.2),
        )

    yield Env(sessions, ids[0], ids[1], make)
    engine.dispose()


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
