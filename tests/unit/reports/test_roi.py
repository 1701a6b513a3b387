"""ROI report on SQLite: a hand-made history whose every figure is computed by hand in the comments,
and a generated history checked against a plain-Python recomputation.

The hand-made world, period Monday 2026-11-02 to Monday 2026-11-16 (ISO weeks 45 and 46):

====  ===========  ======  =================  ===================================================
conv  employee     week    intent             what happens
====  ===========  ======  =================  ===================================================
C8    alice        (Oct)   printer_issue      before the period; its linked ticket T5 is in it
C1    alice (Fin)  45 Mon  password_reset     automation R1 succeeds; bot ticket T1 (2 min) -> deflected
C2    alice (Fin)  45 Tue  vpn_issue          alice opens T2 71 h later -> not deflected
C3    bob (Sales)  45 Wed  vpn_issue          bob opens T3 73 h later -> deflected; 2nd turn unanswered
C9    dave (Fin)   45 Thu  email_issue        rated helpful, linked ticket T8 -> deflected (feedback)
C4    bob (Sales)  46 Mon  how_to_question    "hi" first; unanswered, rated not helpful, linked T4
C5    carol (-)    46 Tue  greeting           small talk only: not a support conversation
C6    carol (-)    46 Wed  talk_to_human      handed off, no ticket -> never deflected
C7    dave (Fin)   46 Thu  how_to_question    unanswered, no ticket -> deflected; run R4 awaits approval
====  ===========  ======  =================  ===================================================

Tickets resolved by agents: T2 6 h, T3 10 h, T4 4 h, T5 2 h, T8 1 h; by the bot: T1 120 s; carol's T6
(open) and T7 (cancelled) come on Sunday of week 46, 87 h after C6. Runs: R1 succeeded, R2 failed (no
conversation), R4 awaiting approval, and a ticket sync (not counted).
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from services.automations.models import AutomationKind, AutomationRun, AutomationState
from services.common.db import build_engine, build_session_factory, session_scope
from services.common.migrate import build_alembic_config, upgrade
from services.conversations.models import (
    AnswerOutcome,
    Channel,
    Conversation,
    Feedback,
    FeedbackRating,
    Message,
    MessageRole,
)
from services.directory.models import Employee
from services.kb.models import Article, ArticleOrigin, ArticleStatus
from services.reports.history import generate_history
from services.reports.roi import RoiAssumptions, RoiBreakdownRow, RoiReport, build_roi_report, to_csv
from services.router.routes import Route
from services.tickets.models import HandledBy, Ticket, TicketStatus, TicketSystemKind
from tests.conftest import make_settings

START = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday (ISO week 45)
END = START + timedelta(days=14)
H = timedelta(hours=1)
_keys = count(1)


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    settings = make_settings(tmp_path)
    upgrade(build_alembic_config(database_url=settings.database.url))
    engine = build_engine(settings.database)
    try:
        yield build_session_factory(engine)
    finally:
        engine.dispose()


# ---- the hand-made world ----------------------------------------------------------------------------


def _conversation(
    db: Session,
    employee: Employee,
    started: datetime,
    turns: list[tuple[str, str | None, Route, AnswerOutcome]],
    citations: dict[int, list[int]] | None = None,
) -> tuple[Conversation, list[Message]]:
    """A conversation of employee/assistant turns ``(text, intent, route, outcome)``, 1 min apart."""
    conversation = Conversation(employee_id=employee.id, channel=Channel.WEB, started_at=started)
    db.add(conversation)
    db.flush()
    replies = []
    for n, (text, intent, route, outcome) in enumerate(turns):
        at = started + timedelta(minutes=n)
        db.add(
            Message(
                conversation_id=conversation.id,
                role=MessageRole.EMPLOYEE,
                text=text,
                intent=intent,
                route=route,
                created_at=at,
            )
        )
        cited = (citations or {}).get(n, [])
        reply = Message(
            conversation_id=conversation.id,
            role=MessageRole.ASSISTANT,
            text="...",
            route=route,
            outcome=outcome,
            latency_ms=900,
            citations=[{"chunk_id": f"{a}:{i}", "article_id": a, "title": "t"} for i, a in enumerate(cited)],
            created_at=at + timedelta(seconds=2),
        )
        db.add(reply)
        replies.append(reply)
    db.flush()
    return conversation, replies


def _ticket(
    db: Session,
    requester: Employee,
    opened: datetime,
    *,
    conversation: Conversation | None = None,
    resolved_after: timedelta | None = None,
    by: HandledBy = HandledBy.AGENT,
    status: TicketStatus | None = None,
) -> Ticket:
    key = next(_keys)
    ticket = Ticket(
        system=TicketSystemKind.BUILTIN,
        external_key=f"T-{key}",
        title=f"ticket {key}",
        requester_id=requester.id,
        conversation_id=conversation.id if conversation else None,
        opened_at=opened,
        created_at=opened,
        status=status or (TicketStatus.RESOLVED if resolved_after else TicketStatus.OPEN),
        resolved_at=opened + resolved_after if resolved_after else None,
        handled_by=by if resolved_after else None,
    )
    db.add(ticket)
    return ticket


def _run(
    db: Session,
    requester: Employee,
    at: datetime,
    kind: AutomationKind,
    state: AutomationState,
    conversation: Conversation | None = None,
) -> None:
    db.add(
        AutomationRun(
            kind=kind,
            state=state,
            idempotency_key=f"run-{next(_keys)}",
            requester_id=requester.id,
            conversation_id=conversation.id if conversation else None,
            created_at=at,
            updated_at=at,
        )
    )


def _rate(db: Session, reply: Message, employee: Employee, rating: FeedbackRating) -> None:
    db.add(
        Feedback(
            message_id=reply.id,
            employee_id=employee.id,
            rating=rating,
            created_at=reply.created_at + timedelta(minutes=1),
        )
    )


def _article(db: Session, title: str, origin: ArticleOrigin, created: datetime) -> Article:
    article = Article(
        title=title, origin=origin, status=ArticleStatus.PUBLISHED, created_at=created, updated_at=created
    )
    db.add(article)
    db.flush()
    return article


@pytest.fixture
def world(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """The hand-made history of the module docstring."""
    with session_scope(sessions) as db:
        people = {
            name: Employee(email=f"{name}@example.test", display_name=name.title(), department=department)
            for name, department in (
                ("alice", "Finance"),
                ("bob", "Sales"),
                ("carol", None),
                ("dave", "Finance"),
            )
        }
        db.add_all(people.values())
        db.flush()
        alice, bob, carol, dave = (people[n] for n in ("alice", "bob", "carol", "dave"))
        a1 = _article(db, "Generated in the period", ArticleOrigin.GENERATED, START + 2 * H)
        a2 = _article(db, "Generated before", ArticleOrigin.GENERATED, START - timedelta(days=30))
        a3 = _article(db, "Imported", ArticleOrigin.IMPORTED, START - timedelta(days=300))

        answer, automation = Route.ANSWER, Route.AUTOMATION
        # C8 comes first so that its id lies below the period's conversations.
        c8, c8_replies = _conversation(
            db,
            alice,
            START - timedelta(days=3),
            [("printer jammed", "printer_issue", answer, AnswerOutcome.ANSWERED)],
            {0: [a1.id]},  # a citation outside the period: not counted
        )
        c1, _ = _conversation(
            db,
            alice,
            START + 9 * H,
            [("reset my password", "password_reset", automation, AnswerOutcome.AUTOMATION)],
        )
        c2, _ = _conversation(
            db,
            alice,
            START + timedelta(days=1, hours=10),
            [("vpn drops", "vpn_issue", answer, AnswerOutcome.ANSWERED)],
            {0: [a2.id, a2.id]},  # the same article twice in one answer counts once
        )
        c3, _ = _conversation(
            db,
            bob,
            START + timedelta(days=2, hours=10),
            [
                ("vpn is slow", "vpn_issue", answer, AnswerOutcome.ANSWERED),
                ("what's the vpn server address", "vpn_issue", answer, AnswerOutcome.NO_ANSWER),
            ],
            {0: [a1.id, a3.id]},
        )
        c9, c9_replies = _conversation(
            db,
            dave,
            START + timedelta(days=3, hours=10),
            [("outlook will not sync", "email_issue", answer, AnswerOutcome.ANSWERED)],
            {0: [a1.id]},
        )
        week2 = START + timedelta(days=7)
        c4, c4_replies = _conversation(
            db,
            bob,
            week2 + 9 * H,
            [
                ("hi", "greeting", Route.SMALLTALK, AnswerOutcome.SMALLTALK),
                ("How do I share a calendar?", "how_to_question", answer, AnswerOutcome.NO_ANSWER),
            ],
        )
        _conversation(
            db,
            carol,
            week2 + timedelta(days=1, hours=9),
            [("hello", "greeting", Route.SMALLTALK, AnswerOutcome.SMALLTALK)],
        )
        c6, _ = _conversation(
            db,
            carol,
            week2 + timedelta(days=2, hours=9),
            [("i need a human", "talk_to_human", Route.HANDOFF, AnswerOutcome.HANDOFF)],
        )
        c7, _ = _conversation(
            db,
            dave,
            week2 + timedelta(days=3, hours=9),
            [("how do i share a calendar?", "how_to_question", answer, AnswerOutcome.NO_ANSWER)],
        )

        _rate(db, c9_replies[0], dave, FeedbackRating.HELPFUL)
        _rate(db, c4_replies[1], bob, FeedbackRating.NOT_HELPFUL)
        _rate(db, c8_replies[0], alice, FeedbackRating.HELPFUL)  # a conversation outside the period

        _ticket(
            db,
            alice,
            c1.started_at + timedelta(seconds=10),
            conversation=c1,
            resolved_after=timedelta(seconds=120),
            by=HandledBy.BOT,
        )  # T1
        _ticket(db, alice, c2.started_at + 71 * H, resolved_after=6 * H)  # T2: within 72 h of C2
        _ticket(db, bob, c3.started_at + 73 * H, resolved_after=10 * H)  # T3: 1 h too late for C3
        _ticket(db, bob, c4.started_at + timedelta(minutes=5), conversation=c4, resolved_after=4 * H)  # T4
        _ticket(db, alice, START + 8 * H, conversation=c8, resolved_after=2 * H)  # T5
        _ticket(db, carol, week2 + timedelta(days=6))  # T6: open, 87 h after C6
        _ticket(db, carol, week2 + timedelta(days=6, hours=1), status=TicketStatus.CANCELLED)  # T7
        _ticket(db, dave, c9.started_at + H, conversation=c9, resolved_after=H)  # T8

        _run(
            db,
            alice,
            c1.started_at + timedelta(seconds=5),
            AutomationKind.PASSWORD_RESET,
            AutomationState.SUCCEEDED,
            c1,
        )  # R1
        _run(db, bob, week2 + 10 * H, AutomationKind.SOFTWARE_ACCESS, AutomationState.FAILED)
        _run(db, alice, week2 + 11 * H, AutomationKind.TICKET_SYNC, AutomationState.SUCCEEDED)  # excluded
        _run(
            db, dave, c7.started_at + H, AutomationKind.ACCESS_REQUEST, AutomationState.AWAITING_APPROVAL, c7
        )  # R4
    return sessions


def _report(sessions: sessionmaker[Session], end: datetime = END, **assumptions: Any) -> RoiReport:
    with sessions() as db:
        return build_roi_report(db, start=START, end=end, assumptions=RoiAssumptions(**assumptions))


def _row(rows: list[RoiBreakdownRow], key: str | None) -> RoiBreakdownRow:
    return next(row for row in rows if row.key == key)


# ---- the hand-made figures --------------------------------------------------------------------------


def test_totals_are_the_hand_computed_figures(world: sessionmaker[Session]) -> None:
    totals = _report(world).totals

    assert totals.conversations == 8  # C1-C7 and C9 (C8 started before the period)
    assert totals.support_conversations == 7  # all but C5 (small talk only)
    assert totals.deflected == 4  # C1, C3, C7, C9
    assert totals.deflection_rate == round(4 / 7, 4)
    assert (totals.automations_run, totals.automations_succeeded, totals.automations_failed) == (3, 1, 1)
    assert totals.automations_finished == 2  # R4 still awaits approval; the ticket sync is not counted
    assert totals.automation_success_rate == 0.5
    assert totals.tickets == 8  # T1-T8
    assert (totals.tickets_resolved_by_bot, totals.tickets_resolved_by_agent) == (1, 5)
    assert totals.mttr_bot_hours_median == totals.mttr_bot_hours_mean == round(120 / 3600, 3)
    assert totals.mttr_agent_hours_median == 4.0  # 1, 2, 4, 6, 10 h
    assert totals.mttr_agent_hours_mean == 4.6
    assert totals.agent_hours_saved == round((2 + 10 + 6 + 8) / 60, 2)  # password, vpn, how-to, email
    assert totals.money_saved == 4 * (22.0 - 2.0)
    assert (totals.rated_answers, totals.helpful_answers, totals.satisfaction) == (2, 1, 0.5)


def test_a_ticket_71_h_after_the_conversation_cancels_the_deflection_and_73_h_does_not(
    world: sessionmaker[Session],
) -> None:
    by_intent = _report(world).by_intent
    vpn = _row(by_intent, "vpn_issue")  # C2 (ticket at 71 h) and C3 (ticket at 73 h)
    assert (vpn.conversations, vpn.deflected) == (2, 1)
    assert _report(world, deflection_window_hours=74).totals.deflected == 3  # C3's ticket now counts
    assert _report(world, deflection_window_hours=70).totals.deflected == 5  # C2's no longer does


def test_each_deflection_rule_can_be_switched(world: sessionmaker[Session]) -> None:
    assert _report(world, deflect_on_helpful_feedback=False).totals.deflected == 3  # C9 had a ticket
    assert _report(world, ignore_bot_resolved_tickets=False).totals.deflected == 3  # C1 had a bot ticket
    assert _report(world, handoff_is_not_deflected=False).totals.deflected == 5  # C6 had no ticket
    assert _report(world, deflect_on_no_ticket=False).totals.deflected == 1  # C9, by its rating only
    assert _report(world, non_support_intents=[]).totals.support_conversations == 8


def test_hours_and_money_saved_follow_the_assumptions(world: sessionmaker[Session]) -> None:
    totals = _report(
        world,
        handle_minutes={"vpn_issue": 30, "password_reset": 3},
        default_handle_minutes=12,
        cost_per_ticket_l1=25,
        cost_per_self_service=1.5,
    ).totals
    assert totals.agent_hours_saved == round((3 + 30 + 12 + 12) / 60, 2)  # how-to and email: default
    assert totals.money_saved == 4 * 23.5


def test_week_breakdown_fills_empty_weeks(world: sessionmaker[Session]) -> None:
    weeks = _report(world, end=END + timedelta(days=7)).by_week

    assert [w.key for w in weeks] == ["2026-W45", "2026-W46", "2026-W47"]
    w45, w46, w47 = weeks
    assert w45.week_start == START.date()
    assert (w45.conversations, w45.support_conversations, w45.deflected) == (4, 4, 3)  # C1, C2, C3, C9
    assert w45.tickets == 5  # T1, T2 (Fri), T3 (Sat), T5, T8
    assert (w45.mttr_agent_hours_median, w45.mttr_agent_hours_mean) == (4.0, 4.75)  # 1, 2, 6, 10 h
    assert w45.mttr_bot_hours_median == round(120 / 3600, 3)
    assert (w45.automations_run, w45.automations_succeeded, w45.satisfaction) == (1, 1, 1.0)
    assert (w46.conversations, w46.support_conversations, w46.deflected) == (4, 3, 1)  # C4-C7
    assert (w46.tickets, w46.mttr_agent_hours_median, w46.mttr_bot_hours_median) == (3, 4.0, None)
    assert (w46.automations_run, w46.automation_success_rate, w46.satisfaction) == (2, 0.0, 0.0)
    assert (w47.conversations, w47.tickets, w47.deflection_rate) == (0, 0, None)


def test_department_breakdown(world: sessionmaker[Session]) -> None:
    departments = _report(world).by_department

    assert [d.key for d in departments] == ["Finance", "Sales", None]
    finance, sales, none = departments
    assert (finance.conversations, finance.deflected, finance.tickets) == (
        4,
        3,
        4,
    )  # C1 C2 C7 C9; T1 T2 T5 T8
    assert (finance.automations_run, finance.money_saved) == (2, 60.0)  # R1, R4
    assert (sales.conversations, sales.deflected, sales.tickets, sales.automations_failed) == (2, 1, 2, 1)
    assert (none.conversations, none.support_conversations, none.deflected, none.tickets) == (2, 1, 0, 2)


def test_intent_breakdown_attributes_tickets_and_runs_to_their_conversation(
    world: sessionmaker[Session],
) -> None:
    by_intent = _report(world).by_intent

    assert [row.key for row in by_intent][-1] is None
    how_to = _row(by_intent, "how_to_question")  # C4 starts with "hi": its intent is still how-to
    assert (how_to.conversations, how_to.deflected, how_to.tickets, how_to.automations_run) == (2, 1, 1, 1)
    assert _row(by_intent, "greeting").support_conversations == 0
    reset = _row(by_intent, "password_reset")
    assert (reset.deflected, reset.automations_succeeded, reset.tickets_resolved_by_bot) == (1, 1, 1)
    printer = _row(by_intent, "printer_issue")  # T5, linked to C8 which started before the period
    assert (printer.conversations, printer.tickets, printer.mttr_agent_hours_median) == (0, 1, 2.0)
    assert _row(by_intent, "talk_to_human").deflected == 0
    unlinked = _row(by_intent, None)
    assert (unlinked.tickets, unlinked.automations_run) == (4, 1)  # T2, T3, T6, T7; R2


def test_top_unanswered_groups_the_exact_lower_case_text(world: sessionmaker[Session]) -> None:
    top = _report(world).top_unanswered

    assert [(q.text, q.count) for q in top] == [
        ("how do i share a calendar?", 2),  # C4 (after its "hi") and C7
        ("what's the vpn server address", 1),
    ]


def test_generated_articles_and_their_citations(world: sessionmaker[Session]) -> None:
    usage = _report(world).generated_articles

    assert usage.created == 1  # the other generated article predates the period
    assert usage.citations == 3  # (C2, a2), (C3, a1), (C9, a1); not the imported one, not C8's
    assert usage.articles_cited == 2


def test_csv_has_a_section_per_breakdown(world: sessionmaker[Session]) -> None:
    report = _report(world)
    rows = list(csv.reader(io.StringIO(to_csv(report))))
    sections = {row[0][2:]: n for n, row in enumerate(rows) if row and row[0].startswith("# ")}

    assert list(sections) == [
        "period",
        "totals",
        "by_week",
        "by_department",
        "by_intent",
        "top_unanswered",
        "generated_articles",
        "assumptions",
        "definitions",
        "sources",
    ]
    week_header = rows[sections["by_week"] + 1]
    assert week_header[:3] == ["iso_week", "week_start", "conversations"]
    assert rows[sections["by_week"] + 2][:3] == ["2026-W45", "2026-11-02", "4"]
    assert rows[sections["by_department"] + 4][0] == "(none)"
    assert rows[sections["top_unanswered"] + 2] == ["how do i share a calendar?", "2"]
    assert rows[sections["generated_articles"] + 2] == ["1", "3", "2"]
    totals = dict(zip(rows[sections["totals"] + 1], rows[sections["totals"] + 2], strict=True))
    assert (totals["deflected"], totals["money_saved"]) == ("4", "80.0")


def test_definitions_and_sources_describe_the_assumptions() -> None:
    assumptions = RoiAssumptions(deflection_window_hours=48)
    definitions = assumptions.definitions()

    assert "48 h" in definitions["deflection"]
    assert "greeting" in definitions["deflection"]
    assert any("MetricNet" in source for source in assumptions.sources)
    assert assumptions.saving_per_deflection == 20.0
    assert assumptions.minutes_for("password_reset") == 2
    assert assumptions.minutes_for("unknown") == assumptions.default_handle_minutes


def test_rejects_naive_or_empty_periods(sessions: sessionmaker[Session]) -> None:
    with sessions() as db:
        with pytest.raises(ValueError, match="timezone-aware"):
            build_roi_report(db, start=START.replace(tzinfo=None), end=END)
        with pytest.raises(ValueError, match="after start"):
            build_roi_report(db, start=END, end=START)
        empty = build_roi_report(db, start=START, end=END)
    assert empty.totals.conversations == 0
    assert [w.conversations for w in empty.by_week] == [0, 0]
    assert empty.top_unanswered == [] and empty.by_intent == []


# ---- a generated history, recomputed in plain Python ---------------------------------------------------


@dataclass
class _Expected:
    deflected: int
    deflected_by_intent: dict[str | None, int]
    agent_median: float | None
    agent_mean: float | None
    rated: int
    helpful: int


def _recompute(db: Session, start: datetime, end: datetime, a: RoiAssumptions) -> _Expected:
    """The report's definitions, row by row (what the SQL must agree with)."""
    window = timedelta(hours=a.deflection_window_hours)
    tickets = [t for t in db.scalars(select(Ticket)) if t.handled_by is not HandledBy.BOT]
    conversations = db.scalars(
        select(Conversation)
        .where(Conversation.started_at >= start, Conversation.started_at < end)
        .options(selectinload(Conversation.messages).selectinload(Message.feedback))
    )
    deflected: dict[str | None, int] = defaultdict(int)
    rated = helpful = 0
    for conversation in conversations:
        classified = [m for m in conversation.messages if m.role is MessageRole.EMPLOYEE and m.intent]
        support = [m for m in classified if m.intent not in a.non_support_intents]
        first = support[0] if support else classified[0] if classified else None
        ratings = [f.rating for m in conversation.messages for f in m.feedback]
        rated += len(ratings)
        helpful += ratings.count(FeedbackRating.HELPFUL)
        handed_off = any(m.outcome is AnswerOutcome.HANDOFF for m in conversation.messages)
        ticketed = any(
            t.conversation_id == conversation.id
            or (
                t.conversation_id is None
                and t.requester_id == conversation.employee_id
                and conversation.started_at <= t.opened_at <= conversation.started_at + window
            )
            for t in tickets
        )
        if support and not handed_off and (FeedbackRating.HELPFUL in ratings or not ticketed):
            deflected[first.intent if first else None] += 1
    hours = [
        (t.resolved_at - t.opened_at).total_seconds() / 3600
        for t in db.scalars(select(Ticket).where(Ticket.opened_at >= start, Ticket.opened_at < end))
        if t.handled_by is HandledBy.AGENT and t.resolved_at and t.status is not TicketStatus.CANCELLED
    ]
    return _Expected(
        deflected=sum(deflected.values()),
        deflected_by_intent=dict(deflected),
        agent_median=round(statistics.median(hours), 3) if hours else None,
        agent_mean=round(statistics.fmean(hours), 3) if hours else None,
        rated=rated,
        helpful=helpful,
    )


def test_generated_history_agrees_with_a_plain_python_recomputation(sessions: sessionmaker[Session]) -> None:
    history = generate_history(sessions, conversations=600, tickets=300, weeks=4, seed=5, end=END)
    assumptions = RoiAssumptions()

    with sessions() as db:
        report = build_roi_report(db, start=history.start, end=history.end, assumptions=assumptions)
        expected = _recompute(db, history.start, history.end, assumptions)

    assert (history.conversations, history.tickets) == (600, 300)
    assert report.totals.conversations == 600
    assert report.totals.tickets == 300
    assert 0 < report.totals.deflected == expected.deflected
    assert {r.key: r.deflected for r in report.by_intent if r.deflected} == expected.deflected_by_intent
    assert (report.totals.mttr_agent_hours_median, report.totals.mttr_agent_hours_mean) == (
        expected.agent_median,
        expected.agent_mean,
    )
    assert (report.totals.rated_answers, report.totals.helpful_answers) == (expected.rated, expected.helpful)
    assert sum(w.conversations for w in report.by_week) == 600
    assert sum(d.tickets for d in report.by_department) == 300
    assert report.top_unanswered and report.top_unanswered[0].count >= report.top_unanswered[-1].count
    assert report.generated_articles.created == history.generated_articles
