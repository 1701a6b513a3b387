"""Reproducible helpdesk history for demos and benchmarks: people, conversations, feedback, tickets, runs.

``generate_history`` invents ``weeks`` of activity at a plausible company (the demo directory plus one
generated employee per ten conversations, across departments) and inserts it in bulk with Core
``insert()`` executemany batches. Intents, routes and employee wording come from the intent catalog;
rates and durations are drawn from simple distributions chosen to look like a real service desk
(tunable constants below):

- 2-4 messages per conversation: the main question and Deskpilot's reply, sometimes a greeting before, a
  "thanks" turn after, or an agent's message after a handoff; some questions are "knowledge gaps" the
  assistant usually cannot answer;
- feedback on about a quarter of the answers, mostly helpful;
- automation runs for automation intents (mostly succeeding; approvals denied or expired now and then);
- tickets: linked to handoffs, explicit ticket requests, failed automations and unanswered questions,
  opened through the portal by the same employee hours later (sometimes beyond 72 h), resolved by the
  bot in minutes or by agents in hours to days (log-normal), the rest filed directly in the ITSM;
- imported knowledge articles plus a few generated ones, cited by answers once they exist.

The same ``seed`` and ``end`` always give the same rows, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import hashlib
import math
import random
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Any

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.orm import Session, sessionmaker

from services.automations.models import AutomationKind, AutomationRun, AutomationState
from services.common.db import session_scope, utcnow
from services.conversations.models import (
    AnswerOutcome,
    Channel,
    Conversation,
    ConversationStatus,
    Feedback,
    FeedbackRating,
    Message,
    MessageRole,
)
from services.directory.demo import seed_demo_directory
from services.directory.models import Employee
from services.kb.models import Article, ArticleOrigin, ArticleStatus, ArticleVersion
from services.router.catalog import IntentSpec, load_catalog
from services.router.routes import Route
from services.tickets.models import HandledBy, Ticket, TicketPriority, TicketStatus, TicketSystemKind

BATCH = 5000
DOMAIN = "northwind.example"

DEPARTMENTS: tuple[tuple[str, int], ...] = (
    ("Engineering", 30),
    ("Sales", 18),
    ("Customer Success", 12),
    ("Marketing", 8),
    ("Operations", 8),
    ("Finance", 7),
    ("Product", 6),
    ("People", 5),
    ("IT", 4),
    ("Legal", 2),
)
FIRST_NAMES = (
    "Alex Amira Ben Carla Chen Dana Elif Farah Gabriel Hana Ines Jonas Kai Lena Marco Nadia Omar Priya "
    "Quentin Rosa Sven Tariq Uma Vera Wei Xavier Yara Zoe"
).split()
LAST_NAMES = (
    "Adams Berg Costa Diaz Evans Fischer Garcia Haddad Ito Jensen Kowalski Lopez Moreau Nakamura Okoro "
    "Patel Quinn Rossi Schmidt Tanaka Uddin Varga Wang Yilmaz Zimmer"
).split()

INTENT_WEIGHTS: dict[str, float] = {
    "password_reset": 14,
    "account_unlock": 6,
    "mfa_reset": 4,
    "software_request": 7,
    "access_request": 6,
    "hardware_request": 3,
    "open_ticket": 6,
    "add_ticket_comment": 1,
    "ticket_status": 4,
    "talk_to_human": 3,
    "report_security_incident": 0.5,
    "vpn_issue": 5,
    "wifi_issue": 4,
    "email_issue": 4,
    "printer_issue": 3,
    "meeting_av_issue": 2,
    "laptop_issue": 4,
    "software_install_issue": 3,
    "mobile_device_issue": 2,
    "file_storage_issue": 3,
    "onboarding": 2,
    "offboarding": 1,
    "how_to_question": 8,
    "bot_capabilities": 1,
    "feedback_complaint": 0.5,
}
SMALLTALK_OPENERS = ("hi", "hello", "Hi!", "hey there", "good morning")
THANKS = ("thanks!", "thank you", "Thanks, that worked", "great, thanks")
OUT_OF_SCOPE_SHARE = 0.03
GREETING_SHARE = 0.12
FEEDBACK_SHARE = 0.25
GAP_QUESTIONS_PER_INTENT = 3
APPROVAL_KINDS = {
    AutomationKind.SOFTWARE_ACCESS,
    AutomationKind.ACCESS_REQUEST,
    AutomationKind.HARDWARE_REQUEST,
}
IDENTITY_KINDS = {AutomationKind.PASSWORD_RESET, AutomationKind.ACCOUNT_UNLOCK, AutomationKind.MFA_RESET}
AGENT_HOURS_MEDIAN: dict[str, float] = {
    "password_reset": 1.5,
    "account_unlock": 1.5,
    "mfa_reset": 3,
    "access_request": 16,
    "software_request": 24,
    "hardware_request": 72,
    "laptop_issue": 30,
    "onboarding": 24,
    "offboarding": 24,
}
CATEGORIES: dict[str, str] = {
    "password_reset": "Accounts & Access",
    "account_unlock": "Accounts & Access",
    "mfa_reset": "Accounts & Access",
    "access_request": "Accounts & Access",
    "software_request": "Software",
    "software_install_issue": "Software",
    "hardware_request": "Hardware",
    "laptop_issue": "Hardware",
    "printer_issue": "Hardware",
    "mobile_device_issue": "Hardware",
    "vpn_issue": "Network",
    "wifi_issue": "Network",
    "email_issue": "Email & Collaboration",
    "meeting_av_issue": "Email & Collaboration",
    "file_storage_issue": "Email & Collaboration",
    "report_security_incident": "Security",
}
# Business-hours profile of when people ask (UTC, a single-timezone company).
HOUR_WEIGHTS = (0, 0, 0, 0, 0, 0, 1, 3, 8, 12, 12, 10, 7, 9, 11, 10, 8, 5, 3, 2, 1, 1, 0, 0)


@dataclass(frozen=True)
class HistorySummary:
    """What ``generate_history`` wrote."""

    start: datetime
    end: datetime
    employees: int
    conversations: int
    messages: int
    feedback: int
    tickets: int
    automation_runs: int
    articles: int
    generated_articles: int


class _Picker:
    """Weighted choice with precomputed cumulative weights (fast for repeated draws)."""

    def __init__(self, rng: random.Random, items: Sequence[Any], weights: Iterable[float]) -> None:
        self._rng, self._items = rng, list(items)
        self._cumulative = list(accumulate(weights))
        self._total = self._cumulative[-1]

    def __call__(self) -> Any:
        return self._items[bisect_right(self._cumulative, self._rng.random() * self._total)]


@dataclass
class _TicketPlan:
    opened_at: datetime
    requester_id: int
    conversation_id: int | None
    intent: str | None
    title: str
    by_bot: bool = False


@dataclass
class _Rows:
    employees: list[dict[str, Any]] = field(default_factory=list)
    articles: list[dict[str, Any]] = field(default_factory=list)
    versions: list[dict[str, Any]] = field(default_factory=list)
    conversations: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    feedback: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    tickets: list[dict[str, Any]] = field(default_factory=list)


def generate_history(
    session_factory: sessionmaker[Session],
    *,
    conversations: int,
    tickets: int,
    weeks: int = 12,
    seed: int = 11,
    end: datetime | None = None,
) -> HistorySummary:
    """Insert ``weeks`` of history ending at ``end`` (default: today 00:00 UTC); returns the counts.

    Exactly ``conversations`` conversations and ``tickets`` tickets are written (tickets follow from the
    conversations first, the remainder are filed directly in the ITSM). Can be called on a database that
    already holds data: new rows take ids above the existing ones.
    """
    if conversations < 0 or tickets < 0 or weeks < 1:
        raise ValueError("conversations and tickets must be >= 0 and weeks >= 1")
    end = end or utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    if end.tzinfo is None:
        raise ValueError("end must be timezone-aware")
    end = end.astimezone(UTC)
    start = end - timedelta(weeks=weeks)
    with session_scope(session_factory) as db_session:
        demo_people = seed_demo_directory(db_session)
        builder = _Builder(db_session, random.Random(seed), start, end, seed)
        builder.employees(demo_people, max(20, conversations // 10))
        builder.articles(max(2, conversations // 12_500))
        builder.conversations(conversations)
        builder.tickets(tickets)
        builder.system_runs(conversations // 200)
        builder.write()
        rows = builder.rows
        return HistorySummary(
            start=start,
            end=end,
            employees=len(rows.employees) + len(demo_people),
            conversations=len(rows.conversations),
            messages=len(rows.messages),
            feedback=len(rows.feedback),
            tickets=len(rows.tickets),
            automation_runs=len(rows.runs),
            articles=len(rows.articles),
            generated_articles=sum(1 for a in rows.articles if a["origin"] is ArticleOrigin.GENERATED),
        )


class _Builder:
    """Builds the rows in memory (ids assigned here), then bulk-inserts them."""

    def __init__(self, db_session: Session, rng: random.Random, start: datetime, end: datetime, seed: int):
        self.db, self.rng, self.start, self.end, self.seed = db_session, rng, start, end, seed
        self.rows = _Rows()
        self.next_id = {
            model.__tablename__: (db_session.scalar(select(func.max(model.id))) or 0) + 1
            for model in (Employee, Article, ArticleVersion, Conversation, Message, Feedback, Ticket)
        }
        self.next_id[AutomationRun.__tablename__] = (
            db_session.scalar(select(func.max(AutomationRun.id))) or 0
        ) + 1
        catalog = load_catalog()
        self.intents: dict[str, IntentSpec] = {spec.name: spec for spec in catalog.intents}
        self.out_of_scope = catalog.out_of_scope or ["what is the wifi password of the cafe next door"]
        asked = [name for name in self.intents if INTENT_WEIGHTS.get(name, 0) > 0]
        self.pick_intent = _Picker(rng, asked, (INTENT_WEIGHTS[name] for name in asked))
        self.gaps = {
            spec.name: set(rng.sample(spec.utterances, min(GAP_QUESTIONS_PER_INTENT, len(spec.utterances))))
            for spec in catalog.intents
            if spec.route is Route.ANSWER
        }
        self.pick_hour = _Picker(rng, range(24), HOUR_WEIGHTS)
        self.kb: dict[str, list[tuple[int, str, datetime]]] = {}
        self.plans: list[_TicketPlan] = []
        self.employee_ids: list[int] = []
        self.pick_employee: _Picker

    def _id(self, table: str) -> int:
        value = self.next_id[table]
        self.next_id[table] = value + 1
        return value

    # ---- reference data ---------------------------------------------------------------------------------

    def employees(self, demo_people: list[Employee], count: int) -> None:
        """Generated employees across departments; each department's first person manages the others."""
        rng = self.rng
        pick_department = _Picker(rng, [d for d, _ in DEPARTMENTS], (w for _, w in DEPARTMENTS))
        departments = [d for d, _ in DEPARTMENTS] + [
            pick_department() for _ in range(count - len(DEPARTMENTS))
        ]
        heads: dict[str, int] = {}
        for department in departments[:count]:
            employee_id = self._id("employees")
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            self.rows.employees.append(
                {
                    "id": employee_id,
                    "email": f"{first}.{last}.{employee_id}@{DOMAIN}".lower(),
                    "display_name": f"{first} {last}",
                    "department": department,
                    "title": "Head of " + department if department not in heads else "Specialist",
                    "manager_id": heads.get(department),
                    "is_active": True,
                    "created_at": self.start - timedelta(days=400),
                    "updated_at": self.start - timedelta(days=400),
                }
            )
            heads.setdefault(department, employee_id)
        self.employee_ids = [p.id for p in demo_people] + [row["id"] for row in self.rows.employees]
        # Some people ask more often than others (log-normal: the busiest ask ~15x the median).
        activity = [rng.lognormvariate(0.0, 0.8) for _ in self.employee_ids]
        self.pick_employee = _Picker(rng, self.employee_ids, activity)

    def articles(self, generated: int) -> None:
        """Imported articles for every answer intent, then ``generated`` articles created in the window."""
        answer_intents = sorted(self.gaps)
        for intent in answer_intents:
            for n in range(3):
                self._article(intent, f"{self.intents[intent].description} ({n + 1})", ArticleOrigin.IMPORTED)
        span = (self.end - self.start).total_seconds() * 0.8
        for _ in range(generated):
            intent = self.rng.choice(answer_intents)
            created = self.start + timedelta(seconds=int(self.rng.random() * span))
            question = self.rng.choice(sorted(self.gaps[intent]))
            self._article(intent, f"How to: {question}", ArticleOrigin.GENERATED, created)

    def _article(
        self, intent: str, title: str, origin: ArticleOrigin, created: datetime | None = None
    ) -> None:
        created = created or self.start - timedelta(days=300)
        article_id = self._id("articles")
        body = f"# {title}\n\nSteps for {intent.replace('_', ' ')}."
        self.rows.articles.append(
            {
                "id": article_id,
                "title": title,
                "url": None if origin is ArticleOrigin.GENERATED else f"https://kb.{DOMAIN}/a/{article_id}",
                "category": CATEGORIES.get(intent, "General"),
                "status": ArticleStatus.PUBLISHED,
                "origin": origin,
                "current_version": 1,
                "published_at": created,
                "created_at": created,
                "updated_at": created,
            }
        )
        self.rows.versions.append(
            {
                "id": self._id("article_versions"),
                "article_id": article_id,
                "version": 1,
                "title": title,
                "body_markdown": body,
                "content_hash": hashlib.sha256(body.encode()).hexdigest(),
                "created_at": created,
            }
        )
        self.kb.setdefault(intent, []).append((article_id, title, created))

    # ---- conversations ----------------------------------------------------------------------------------

    def _moment(self) -> datetime:
        """A business-hours moment in the window (weekends are quieter)."""
        rng, days = self.rng, (self.end - self.start).days
        while True:
            day = self.start + timedelta(days=rng.randrange(days))
            if day.weekday() >= 5 and rng.random() < 0.8:
                continue
            hour: int = self.pick_hour()
            moment = day + timedelta(hours=hour, minutes=rng.randrange(60), seconds=rng.randrange(60))
            if moment < self.end - timedelta(hours=1):
                return moment

    def _vary(self, utterance: str) -> str:
        roll = self.rng.random()
        if roll < 0.25:
            return utterance.lower()
        if roll < 0.4:
            return utterance[:1].upper() + utterance[1:]
        return utterance

    def _message(
        self, conversation_id: int, role: MessageRole, text: str, at: datetime, **values: Any
    ) -> int:
        message_id = self._id("messages")
        self.rows.messages.append(
            {
                "id": message_id,
                "conversation_id": conversation_id,
                "role": role,
                "text": text,
                "intent": values.get("intent"),
                "confidence": values.get("confidence"),
                "intent_ranking": [],
                "route": values.get("route"),
                "outcome": values.get("outcome"),
                "latency_ms": values.get("latency_ms"),
                "citations": values.get("citations", []),
                "details": {},
                "created_at": at,
            }
        )
        return message_id

    def _latency(self, route: Route | None) -> int:
        median = {Route.ANSWER: 2200, Route.AUTOMATION: 700, Route.SMALLTALK: 250}.get(
            route or Route.ANSWER, 500
        )
        return max(80, int(median * math.exp(0.45 * self.rng.gauss(0, 1))))

    def _turn(
        self,
        conversation_id: int,
        at: datetime,
        text: str,
        intent: str | None,
        route: Route,
        outcome: AnswerOutcome,
    ) -> tuple[int, datetime]:
        """An employee message and Deskpilot's reply; returns the reply's id and time."""
        rng = self.rng
        self._message(
            conversation_id,
            MessageRole.EMPLOYEE,
            text,
            at,
            intent=intent,
            confidence=round(rng.uniform(0.55, 0.99), 3) if intent else None,
            route=route,
        )
        latency = self._latency(route)
        replied = at + timedelta(milliseconds=latency)
        citations = (
            self._citations(intent, at) if outcome is AnswerOutcome.ANSWERED and route is Route.ANSWER else []
        )
        reply_id = self._message(
            conversation_id,
            MessageRole.ASSISTANT,
            _REPLIES[outcome],
            replied,
            route=route,
            outcome=outcome,
            latency_ms=latency,
            citations=citations,
        )
        return reply_id, replied

    def _citations(self, intent: str | None, at: datetime) -> list[dict[str, Any]]:
        available = [a for a in self.kb.get(intent or "", []) if a[2] <= at]
        if not available:
            return []
        chosen = self.rng.sample(available, min(len(available), self.rng.choice((1, 1, 2, 3))))
        return [
            {
                "number": n,
                "chunk_id": f"article-{article_id}:0",
                "article_id": article_id,
                "title": title,
                "url": None,
                "heading_path": "",
                "score": round(self.rng.uniform(0.45, 0.95), 4),
            }
            for n, (article_id, title, _) in enumerate(chosen, start=1)
        ]

    def _feedback(self, message_id: int, employee_id: int, at: datetime, helpful_share: float) -> bool:
        helpful = self.rng.random() < helpful_share
        self.rows.feedback.append(
            {
                "id": self._id("feedback"),
                "message_id": message_id,
                "employee_id": employee_id,
                "rating": FeedbackRating.HELPFUL if helpful else FeedbackRating.NOT_HELPFUL,
                "reason": None if helpful else self.rng.choice(("incorrect", "incomplete", "not_relevant")),
                "created_at": at + timedelta(seconds=self.rng.randint(20, 900)),
            }
        )
        return helpful

    def conversations(self, count: int) -> None:
        """``count`` conversations with their messages, feedback, automation runs and ticket plans."""
        rng = self.rng
        for _ in range(count):
            conversation_id = self._id("conversations")
            employee_id: int = self.pick_employee()
            started = self._moment()
            at = started
            messages = 0
            if rng.random() < OUT_OF_SCOPE_SHARE:
                intent: str | None = None
                route, outcome = Route.OUT_OF_SCOPE, AnswerOutcome.OUT_OF_SCOPE
                question = self._vary(rng.choice(self.out_of_scope))
            else:
                intent = self.pick_intent()
                spec = self.intents[intent]
                route = spec.route
                question = rng.choice(spec.utterances)
                outcome = self._outcome(intent, route, question)
                question = self._vary(question)
            greeted = route is not Route.SMALLTALK and rng.random() < GREETING_SHARE
            if greeted:
                _, at = self._turn(
                    conversation_id,
                    at,
                    rng.choice(SMALLTALK_OPENERS),
                    "greeting",
                    Route.SMALLTALK,
                    AnswerOutcome.SMALLTALK,
                )
                at += timedelta(seconds=rng.randint(5, 60))
                messages += 2
            reply_id, replied = self._turn(conversation_id, at, question, intent, route, outcome)
            messages += 2
            last = replied
            helpful = False
            if outcome in _FEEDBACK_HELPFUL and rng.random() < FEEDBACK_SHARE:
                helpful = self._feedback(reply_id, employee_id, replied, _FEEDBACK_HELPFUL[outcome])
                if not helpful and outcome is AnswerOutcome.ANSWERED and rng.random() < 0.35:
                    self._plan(
                        replied + timedelta(minutes=rng.randint(2, 30)),
                        employee_id,
                        conversation_id,
                        intent,
                        question,
                    )
            if outcome is AnswerOutcome.AUTOMATION and intent is not None:
                self._automation(conversation_id, employee_id, intent, question, replied)
            self._follow_up_tickets(conversation_id, employee_id, intent, question, outcome, replied, helpful)
            if messages < 4 and outcome is AnswerOutcome.HANDOFF and rng.random() < 0.6:
                last = replied + timedelta(minutes=rng.randint(2, 45))
                self._message(
                    conversation_id, MessageRole.AGENT, "Hi, I'm on it - looking into this now.", last
                )
            elif (
                messages < 4
                and outcome in (AnswerOutcome.ANSWERED, AnswerOutcome.AUTOMATION)
                and rng.random() < 0.25
            ):
                _, last = self._turn(
                    conversation_id,
                    replied + timedelta(seconds=rng.randint(20, 300)),
                    rng.choice(THANKS),
                    "thanks",
                    Route.SMALLTALK,
                    AnswerOutcome.SMALLTALK,
                )
            self._conversation(conversation_id, employee_id, started, last, outcome)

    def _outcome(self, intent: str, route: Route, question: str) -> AnswerOutcome:
        roll = self.rng.random()
        if route is Route.ANSWER:
            no_answer = 0.6 if question in self.gaps.get(intent, ()) else 0.06
            if roll < no_answer:
                return AnswerOutcome.NO_ANSWER
            if roll < no_answer + 0.06:
                return AnswerOutcome.CLARIFY
            return AnswerOutcome.ERROR if roll > 0.99 else AnswerOutcome.ANSWERED
        if route is Route.AUTOMATION:
            return (
                AnswerOutcome.AUTOMATION
                if roll < 0.9
                else AnswerOutcome.CLARIFY
                if roll < 0.97
                else AnswerOutcome.ERROR
            )
        if route is Route.TICKET_STATUS:
            return AnswerOutcome.ANSWERED if roll < 0.95 else AnswerOutcome.CLARIFY
        return AnswerOutcome.HANDOFF if route is Route.HANDOFF else AnswerOutcome.SMALLTALK

    def _conversation(
        self,
        conversation_id: int,
        employee_id: int,
        started: datetime,
        last: datetime,
        outcome: AnswerOutcome,
    ) -> None:
        slack = self.rng.random() < 0.8
        if outcome is AnswerOutcome.HANDOFF:
            status = ConversationStatus.HANDED_OFF
        elif outcome in (AnswerOutcome.ANSWERED, AnswerOutcome.AUTOMATION, AnswerOutcome.SMALLTALK):
            status = ConversationStatus.RESOLVED
        else:
            status = ConversationStatus.CLOSED
        self.rows.conversations.append(
            {
                "id": conversation_id,
                "employee_id": employee_id,
                "channel": Channel.SLACK if slack else Channel.WEB,
                "status": status,
                "slack_team_id": "T0NORTHWIND" if slack else None,
                "slack_channel_id": f"D{employee_id:09d}" if slack else None,
                "slack_thread_ts": f"{int(started.timestamp())}.{conversation_id % 1_000_000:06d}"
                if slack
                else None,
                "state": {},
                "started_at": started,
                "last_activity_at": last,
                "resolved_at": last if status is ConversationStatus.RESOLVED else None,
            }
        )

    # ---- automations and tickets --------------------------------------------------------------------------

    def _automation(
        self, conversation_id: int, employee_id: int, intent: str, question: str, at: datetime
    ) -> None:
        rng = self.rng
        flow = self.intents[intent].automation_flow
        if flow is None:
            return
        kind = AutomationKind(flow)
        roll = rng.random()
        recent = at > self.end - timedelta(days=2)
        if kind in APPROVAL_KINDS and recent and roll < 0.4:
            state = AutomationState.AWAITING_APPROVAL
        elif kind in APPROVAL_KINDS and roll < 0.06:
            state = AutomationState.DENIED
        elif kind in APPROVAL_KINDS and roll < 0.08:
            state = AutomationState.EXPIRED
        elif roll > 0.96:
            state = AutomationState.FAILED
        elif roll > 0.94:
            state = AutomationState.CANCELLED
        else:
            state = AutomationState.SUCCEEDED
        waited = timedelta(hours=rng.uniform(0.2, 20)) if kind in APPROVAL_KINDS else timedelta(seconds=1)
        finished = at + waited + timedelta(seconds=rng.randint(2, 40)) if state.is_final else None
        if finished is not None and finished >= self.end:  # not decided yet when the history ends
            state = AutomationState.AWAITING_APPROVAL if kind in APPROVAL_KINDS else AutomationState.RUNNING
            finished = None
        run_id = self._id("automation_runs")
        self.rows.runs.append(self._run_row(run_id, kind, state, employee_id, conversation_id, at, finished))
        soon = at + timedelta(seconds=rng.randint(3, 20))
        if kind is AutomationKind.CREATE_TICKET and state is AutomationState.SUCCEEDED:
            self._plan(soon, employee_id, conversation_id, intent, question)
        elif state is AutomationState.FAILED and rng.random() < 0.8:
            self._plan(soon, employee_id, conversation_id, intent, question)
        elif state is AutomationState.SUCCEEDED and kind in IDENTITY_KINDS and rng.random() < 0.3:
            self._plan(soon, employee_id, conversation_id, intent, question, by_bot=True)
        elif state is AutomationState.SUCCEEDED and kind in APPROVAL_KINDS:
            if kind is AutomationKind.HARDWARE_REQUEST or rng.random() < 0.5:
                self._plan(finished or soon, employee_id, conversation_id, intent, question)

    def _run_row(
        self,
        run_id: int,
        kind: AutomationKind,
        state: AutomationState,
        employee_id: int,
        conversation_id: int | None,
        at: datetime,
        finished: datetime | None,
    ) -> dict[str, Any]:
        return {
            "id": run_id,
            "kind": kind,
            "state": state,
            "idempotency_key": f"history:{self.seed}:{run_id}",
            "requester_id": employee_id,
            "conversation_id": conversation_id,
            "params": {},
            "result": {},
            "attempts": 1 if state.is_final else 0,
            "last_error": "ConnectorError: upstream timeout" if state is AutomationState.FAILED else None,
            "started_at": at if state.is_final else None,
            "finished_at": finished,
            "created_at": at,
            "updated_at": finished or at,
        }

    def system_runs(self, count: int) -> None:
        """Background ticket syncs (not done on an employee's behalf: the report leaves them out)."""
        requester = self.employee_ids[0]
        for _ in range(count):
            at = self._moment()
            run_id = self._id("automation_runs")
            self.rows.runs.append(
                self._run_row(
                    run_id,
                    AutomationKind.TICKET_SYNC,
                    AutomationState.SUCCEEDED,
                    requester,
                    None,
                    at,
                    at + timedelta(seconds=3),
                )
            )

    def _plan(
        self,
        opened: datetime,
        employee_id: int,
        conversation_id: int | None,
        intent: str | None,
        title: str,
        *,
        by_bot: bool = False,
    ) -> None:
        if opened < self.end:
            self.plans.append(_TicketPlan(opened, employee_id, conversation_id, intent, title, by_bot))

    def _follow_up_tickets(
        self,
        conversation_id: int,
        employee_id: int,
        intent: str | None,
        question: str,
        outcome: AnswerOutcome,
        at: datetime,
        helpful: bool,
    ) -> None:
        """Tickets after a conversation: linked (handoff, the "open a ticket" button) or via the portal."""
        rng = self.rng
        if outcome is AnswerOutcome.HANDOFF and rng.random() < 0.8:
            self._plan(
                at + timedelta(minutes=rng.randint(5, 60)), employee_id, conversation_id, intent, question
            )
        elif outcome is AnswerOutcome.NO_ANSWER and rng.random() < 0.5:
            if rng.random() < 0.6:
                self._plan(
                    at + timedelta(minutes=rng.randint(1, 10)), employee_id, conversation_id, intent, question
                )
            else:  # the portal, later; about a quarter of these come after 72 h
                self._plan(at + timedelta(hours=rng.uniform(0.2, 100)), employee_id, None, intent, question)
        elif outcome in (AnswerOutcome.CLARIFY, AnswerOutcome.ERROR) and rng.random() < 0.3:
            self._plan(at + timedelta(hours=rng.uniform(0.1, 48)), employee_id, None, intent, question)
        elif outcome is AnswerOutcome.ANSWERED and not helpful and rng.random() < 0.06:
            self._plan(at + timedelta(hours=rng.uniform(0.1, 120)), employee_id, None, intent, question)

    def tickets(self, count: int) -> None:
        """Exactly ``count`` tickets: the planned ones (sampled down when too many), then direct ITSM ones."""
        rng = self.rng
        plans = self.plans if len(self.plans) <= count else rng.sample(self.plans, count)
        asked = [name for name in self.intents if self.intents[name].route is not Route.SMALLTALK]
        pick_intent = _Picker(rng, asked, (INTENT_WEIGHTS.get(name, 0.5) for name in asked))
        while len(plans) < count:
            intent = pick_intent()
            plans.append(
                _TicketPlan(
                    self._moment(),
                    self.pick_employee(),
                    None,
                    intent,
                    self.intents[intent].description,
                    by_bot=rng.random() < 0.03,
                )
            )
        for plan in sorted(plans, key=lambda p: p.opened_at):
            self.rows.tickets.append(self._ticket_row(plan))

    def _ticket_row(self, plan: _TicketPlan) -> dict[str, Any]:
        rng = self.rng
        ticket_id = self._id("tickets")
        status, handled_by, resolved = TicketStatus.OPEN, None, None
        if plan.by_bot:
            duration = timedelta(seconds=rng.randint(20, 300))
        else:
            median = AGENT_HOURS_MEDIAN.get(plan.intent or "", 8.0)
            duration = timedelta(seconds=round(median * 3600 * math.exp(rng.gauss(0, 1.0))))
        if rng.random() < 0.02:
            status = TicketStatus.CANCELLED
        elif plan.opened_at + duration < self.end:
            resolved = plan.opened_at + duration
            handled_by = HandledBy.BOT if plan.by_bot else HandledBy.AGENT
            status = TicketStatus.CLOSED if resolved < self.end - timedelta(days=7) else TicketStatus.RESOLVED
        else:
            status = rng.choice(
                (TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.OPEN, TicketStatus.PENDING)
            )
        return {
            "id": ticket_id,
            "system": TicketSystemKind.BUILTIN,
            "external_key": f"HD-{ticket_id}",
            "title": plan.title[:500],
            "description": plan.title,
            "category": CATEGORIES.get(plan.intent or "", "General"),
            "priority": TicketPriority.HIGH
            if plan.intent == "report_security_incident"
            else TicketPriority.NORMAL,
            "status": status,
            "requester_id": plan.requester_id,
            "conversation_id": plan.conversation_id,
            "handled_by": handled_by,
            "opened_at": plan.opened_at,
            "resolved_at": resolved,
            "resolution_text": "Resolved." if resolved else None,
            "created_at": plan.opened_at,
            "updated_at": resolved or plan.opened_at,
        }

    # ---- writing ----------------------------------------------------------------------------------------

    def write(self) -> None:
        """Bulk-insert every table (parents first), then move PostgreSQL's id sequences past the new rows."""
        rows = self.rows
        tables: list[tuple[Table, list[dict[str, Any]]]] = [
            (_table(Employee), rows.employees),
            (_table(Article), rows.articles),
            (_table(ArticleVersion), rows.versions),
            (_table(Conversation), rows.conversations),
            (_table(Message), rows.messages),
            (_table(Feedback), rows.feedback),
            (_table(Ticket), rows.tickets),
            (_table(AutomationRun), rows.runs),
        ]
        for table, values in tables:
            for offset in range(0, len(values), BATCH):
                self.db.execute(insert(table), values[offset : offset + BATCH])
        if self.db.get_bind().dialect.name == "postgresql":
            for table, _ in tables:
                self.db.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                        f"(SELECT coalesce(max(id), 0) + 1 FROM {table.name}), false)"
                    )
                )
                self.db.execute(text(f"ANALYZE {table.name}"))


def _table(model: type[Any]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


_REPLIES: dict[AnswerOutcome, str] = {
    AnswerOutcome.ANSWERED: "Here is how to fix it, step by step (see the linked articles).",
    AnswerOutcome.NO_ANSWER: "Sorry, I couldn't find an answer to that. Shall I open a ticket?",
    AnswerOutcome.CLARIFY: "Could you tell me a bit more about it?",
    AnswerOutcome.AUTOMATION: "On it: I've started that for you and will confirm here.",
    AnswerOutcome.HANDOFF: "I've passed this to the IT team; someone will reply in this thread.",
    AnswerOutcome.SMALLTALK: "Happy to help!",
    AnswerOutcome.OUT_OF_SCOPE: "That's outside what I can help with; try the People team.",
    AnswerOutcome.ERROR: "Something went wrong on my side; please try again.",
}
# Outcomes that get feedback, with the share of helpful ratings.
_FEEDBACK_HELPFUL: dict[AnswerOutcome, float] = {
    AnswerOutcome.ANSWERED: 0.82,
    AnswerOutcome.AUTOMATION: 0.9,
    AnswerOutcome.CLARIFY: 0.4,
    AnswerOutcome.NO_ANSWER: 0.08,
}
