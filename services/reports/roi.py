"""The managers' ROI report: deflection, automations, MTTR, agent hours and money saved, satisfaction.

Everything is aggregated in the database; Python reads aggregate rows only (and divides). One main
statement does the work, plus three small ones (the id range of the period's conversations, the top
unanswered questions, the use of generated articles):

- ``conv_agg``: one GROUP BY over a UNION ALL of rows keyed by conversation: its classified employee
  messages (its intent, as an arg-min), its ratings, its handoff replies, the tickets linked to it and
  the unlinked tickets its employee opened within the deflection window (one index range probe per
  ticket on ``conversations (employee_id, started_at)``);
- conversations, automation runs and tickets are grouped into (week, department, intent) cells, which are
  rolled up four ways (total, ISO week, department, intent) with UNION ALL;
- MTTR medians per slice: ``percentile_cont`` on PostgreSQL, the middle ranks on SQLite.

The same statement runs on PostgreSQL and SQLite; the expressions they write differently (week start,
seconds between timestamps, JSON arrays, byte-wise collation) live in :class:`_SqlDialect`. SQLite
timestamps are compared to the millisecond, PostgreSQL's to the microsecond.

Attribution: a conversation counts in the week it started, for its employee's department and for its
*intent*: its first classified employee message that is not small talk, else its first classified one. A
ticket counts in the week it was opened, for its requester's department and for the intent of its linked
conversation (none when unlinked); an automation run likewise by its creation time and requester. The
definitions shown to managers are :meth:`RoiAssumptions.definitions`.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    Select,
    String,
    and_,
    case,
    cast,
    collate,
    distinct,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session, aliased

from services.automations.models import AutomationKind, AutomationRun, AutomationState
from services.conversations.models import (
    AnswerOutcome,
    Conversation,
    Feedback,
    FeedbackRating,
    Message,
    MessageRole,
)
from services.directory.models import Employee
from services.kb.models import Article, ArticleOrigin
from services.tickets.models import HandledBy, Ticket, TicketStatus

_AnySelect = Select[*tuple[Any, ...]]
TOP_UNANSWERED = 10
# Settings for the report's transaction on PostgreSQL: JIT compilation would cost more than the query,
# its sorts and hashes of ~10^5 rows should stay in memory, and its scans and aggregates are worth
# running in parallel workers (the defaults are tuned for short transactional queries).
_POSTGRES_SETTINGS = (
    "jit = off",
    "work_mem = '64MB'",
    "parallel_setup_cost = 10",
    "parallel_tuple_cost = 0.001",
    "min_parallel_table_scan_size = 0",
)
DIMENSIONS = ("total", "week", "department", "intent")
_FINAL_STATES = [s for s in AutomationState if s.is_final]
_SYSTEM_AUTOMATIONS = [AutomationKind.TICKET_SYNC]  # background machinery, not done for an employee

DEFAULT_HANDLE_MINUTES: dict[str, float] = {
    "password_reset": 2,
    "account_unlock": 2,
    "mfa_reset": 4,
    "ticket_status": 3,
    "add_ticket_comment": 3,
    "open_ticket": 6,
    "how_to_question": 6,
    "software_request": 8,
    "access_request": 8,
    "email_issue": 8,
    "file_storage_issue": 8,
    "hardware_request": 10,
    "vpn_issue": 10,
    "wifi_issue": 10,
    "printer_issue": 10,
    "meeting_av_issue": 10,
    "software_install_issue": 10,
    "mobile_device_issue": 10,
    "laptop_issue": 12,
    "onboarding": 15,
    "offboarding": 15,
}

DEFAULT_SOURCES: list[str] = [
    "MetricNet (Angela Irizarry), 'Metrics That Matter: Ticket Handle Time', HDI Metric of the Month: "
    "a typical password reset has a handle time of one to three minutes, a ticket about a proprietary "
    "business application (Oracle, SAP) 15 minutes or more. Basis of the 2-minute password reset and "
    "account unlock defaults; the other per-intent minutes are Deskpilot estimates placed within that "
    "range - replace them with your own service desk's handle times.",
    "MetricNet research as quoted in ManageEngine's ServiceDesk Plus blog, 'Towards a leaner IT: 7 simple "
    "ways to reduce cost per ticket' (2014): about $22 per ticket resolved at Level 1, roughly tripling "
    "with each escalation. Basis of the $22 Level 1 cost per ticket.",
    "Jeff Rumburg (MetricNet), 'Understanding Cost per Ticket', HDI SupportWorld (2021): cost per ticket = "
    "total monthly service desk operating expense / monthly ticket volume; compute yours the same way.",
    "Self-service at about $2 per contact is a widely repeated industry rule of thumb (compilations quote "
    "roughly $1-4 per self-service resolution against $17-25 per phone resolution), not an audited "
    "benchmark: set your own figure.",
]


class RoiAssumptions(BaseModel):
    """What the report assumes; every figure is configurable and shown on the page with its sources."""

    deflection_window_hours: float = Field(default=72.0, gt=0)
    deflect_on_helpful_feedback: bool = True
    """A support conversation with an answer rated helpful counts as deflected."""
    deflect_on_no_ticket: bool = True
    """A support conversation without a ticket (linked to it, or opened by its employee within the window
    after its start) counts as deflected."""
    ignore_bot_resolved_tickets: bool = True
    """Tickets resolved by a Deskpilot automation (handled_by=bot) do not cancel a deflection."""
    handoff_is_not_deflected: bool = True
    """A conversation handed to the IT team is never deflected, ticket or not."""
    non_support_intents: list[str] = Field(
        default_factory=lambda: ["greeting", "thanks", "goodbye", "bot_capabilities"]
    )
    """Small-talk intents: a conversation made only of them is not a support conversation."""
    cost_per_ticket_l1: float = Field(default=22.0, ge=0)
    cost_per_self_service: float = Field(default=2.0, ge=0)
    currency: str = "USD"
    handle_minutes: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_HANDLE_MINUTES))
    """Agent handle minutes per intent, for intents not listed ``default_handle_minutes``."""
    default_handle_minutes: float = Field(default=8.0, ge=0)
    sources: list[str] = Field(default_factory=lambda: list(DEFAULT_SOURCES))

    @field_validator("handle_minutes")
    @classmethod
    def _non_negative(cls, minutes: dict[str, float]) -> dict[str, float]:
        if any(value < 0 for value in minutes.values()):
            raise ValueError("handle minutes cannot be negative")
        return minutes

    @property
    def saving_per_deflection(self) -> float:
        """Money saved by one ticket avoided: Level 1 cost minus the cost of self-service."""
        return self.cost_per_ticket_l1 - self.cost_per_self_service

    def minutes_for(self, intent: str | None) -> float:
        """Handle minutes assumed for ``intent``."""
        return self.handle_minutes.get(intent or "", self.default_handle_minutes)

    def definitions(self) -> dict[str, str]:
        """The definitions to print next to the figures."""
        window = f"{self.deflection_window_hours:g} h"
        ways = []
        if self.deflect_on_helpful_feedback:
            ways.append("an answer in it was rated helpful")
        if self.deflect_on_no_ticket:
            bot = " (tickets resolved by a Deskpilot automation do not count)"
            ways.append(
                "no ticket is linked to it and the same employee opened none within "
                f"{window} after its start" + (bot if self.ignore_bot_resolved_tickets else "")
            )
        deflection = (
            "A support conversation (its intent is not small talk: "
            f"{', '.join(self.non_support_intents) or 'none excluded'}) is deflected when "
            + (" or ".join(ways) if ways else "never (both rules are switched off)")
            + ("; a conversation handed to the IT team never is" if self.handoff_is_not_deflected else "")
            + ". Deflection rate = deflected / support conversations."
        )
        return {
            "deflection": deflection,
            "automation_success_rate": "Succeeded runs / runs in a final state (succeeded, failed, denied, "
            "expired, cancelled), over runs created in the period; background ticket syncs excluded.",
            "mttr": "Hours from opening to resolution of tickets opened in the period and resolved, split "
            "by who resolved them (bot: a Deskpilot automation; agent: a person); cancelled tickets "
            "excluded.",
            "agent_hours_saved": "Sum over deflected conversations of the handle minutes of their intent "
            f"(default {self.default_handle_minutes:g} min), in hours.",
            "money_saved": f"Deflected conversations x ({self.currency} {self.cost_per_ticket_l1:g} per "
            f"Level 1 ticket - {self.currency} {self.cost_per_self_service:g} per self-service contact).",
            "satisfaction": "Helpful ratings / all ratings of Deskpilot's answers in the period's "
            "conversations.",
            "top_unanswered": "Employee messages whose reply (in the period) had no answer, grouped by "
            f"their exact lower-case text; top {TOP_UNANSWERED}.",
            "generated_articles": "Articles generated (origin 'generated') created in the period; "
            "citations: answers in the period citing a generated article, counted once per article.",
        }


class RoiMetrics(BaseModel):
    """The figures of one slice of the report (the total, one week, one department or one intent)."""

    conversations: int = 0
    support_conversations: int = 0
    deflected: int = 0
    deflection_rate: float | None = None
    automations_run: int = 0
    automations_succeeded: int = 0
    automations_failed: int = 0
    automations_finished: int = 0
    automation_success_rate: float | None = None
    tickets: int = 0
    tickets_resolved_by_bot: int = 0
    tickets_resolved_by_agent: int = 0
    mttr_bot_hours_median: float | None = None
    mttr_bot_hours_mean: float | None = None
    mttr_agent_hours_median: float | None = None
    mttr_agent_hours_mean: float | None = None
    agent_hours_saved: float = 0.0
    money_saved: float = 0.0
    rated_answers: int = 0
    helpful_answers: int = 0
    satisfaction: float | None = None


class RoiBreakdownRow(RoiMetrics):
    """One row of a breakdown; ``key`` is the ISO week (``2026-W48``), department or intent (None: none)."""

    key: str | None
    week_start: date | None = None


class UnansweredQuestion(BaseModel):
    """An employee question Deskpilot could not answer, and how often it was asked."""

    text: str
    count: int


class GeneratedArticlesUsage(BaseModel):
    """Articles Deskpilot generated in the period, and how often answers cited generated articles."""

    created: int = 0
    citations: int = 0
    articles_cited: int = 0


class RoiReport(BaseModel):
    """The ROI report over ``[start, end)``."""

    start: datetime
    end: datetime
    assumptions: RoiAssumptions
    definitions: dict[str, str]
    totals: RoiMetrics
    by_week: list[RoiBreakdownRow]
    by_department: list[RoiBreakdownRow]
    by_intent: list[RoiBreakdownRow]
    top_unanswered: list[UnansweredQuestion]
    generated_articles: GeneratedArticlesUsage


# ---- dialect helpers ---------------------------------------------------------------------------------


class _SqlDialect:
    """The few expressions PostgreSQL and SQLite write differently. Timestamps are UTC on both."""

    def __init__(self, name: str) -> None:
        if name not in ("postgresql", "sqlite"):
            raise ValueError(f"the ROI report supports PostgreSQL and SQLite, not {name}")
        self.postgres = name == "postgresql"

    def week_start(self, ts: Any) -> ColumnElement[Any]:
        """Monday 00:00 of the ISO week of ``ts`` (UTC): a timestamp on PostgreSQL, text on SQLite."""
        if self.postgres:
            return func.date_trunc(literal_column("'week'"), func.timezone(literal_column("'UTC'"), ts))
        return func.date(ts, literal_column("'weekday 0'"), literal_column("'-6 days'"))

    def week_label(self, week: Any) -> ColumnElement[str]:
        """A ``week_start`` value as ``YYYY-MM-DD`` text."""
        if self.postgres:
            return func.to_char(week, literal_column("'YYYY-MM-DD'"))
        return cast(week, String)

    def ordered_key(self, number: Any, value: Any) -> ColumnElement[str]:
        """``number`` zero-padded to 12 digits, then ``value``: ``min()`` of it is an arg-min.

        ``value_of_key`` gets ``value`` back; this spares a join back to the row holding the minimum.
        """
        if self.postgres:
            padded = func.lpad(cast(number, String), literal_column("12"), literal_column("'0'"))
        else:
            padded = func.printf(literal_column("'%012d'"), number)
        key = padded.concat(value)
        return collate(key, "C") if self.postgres else key  # byte-wise min(): no locale comparisons

    @staticmethod
    def value_of_key(key: Any) -> ColumnElement[str]:
        """The value part of an ``ordered_key``."""
        return func.substr(key, literal_column("13"))

    @staticmethod
    def _sqlite_difference(later: Any, earlier: Any) -> ColumnElement[Any]:
        """SQLite: ``later - earlier`` in seconds, as whole seconds plus the millisecond fractions.

        Subtracting the whole seconds (integers) and the fractions separately keeps the result exact
        when the fractions are equal (no rounding of two large floats).
        """

        def whole(ts: Any) -> ColumnElement[int]:
            return cast(func.strftime(literal_column("'%s'"), ts), Integer)

        def fraction(ts: Any) -> ColumnElement[float]:  # strftime('%f') is SS.SSS
            seconds = cast(func.strftime(literal_column("'%S'"), ts), Integer)
            return cast(func.strftime(literal_column("'%f'"), ts), Float) - seconds

        return (whole(later) - whole(earlier)) + (fraction(later) - fraction(earlier))

    def seconds_between(self, earlier: Any, later: Any) -> ColumnElement[Any]:
        """``later - earlier`` in seconds (microseconds on PostgreSQL, milliseconds on SQLite)."""
        if self.postgres:
            return func.date_part(literal_column("'epoch'"), later - earlier)
        return self._sqlite_difference(later, earlier)

    def not_before(self, earlier: Any, later: Any, seconds: float) -> ColumnElement[bool]:
        """``earlier >= later - seconds``, written so that an index on ``earlier`` bounds the range."""
        condition: ColumnElement[bool]
        if self.postgres:
            condition = earlier >= later - func.make_interval(0, 0, 0, 0, 0, 0, literal(seconds, Float))
        else:
            condition = self._sqlite_difference(later, earlier) <= literal(seconds, Float)
        return condition

    def binary(self, text: Any) -> ColumnElement[str]:
        """``text`` ordered byte-wise (PostgreSQL's collation would otherwise differ from SQLite's)."""
        return collate(text, "C") if self.postgres else cast(text, String)

    def has_citations(self) -> ColumnElement[bool]:
        """``messages.citations`` is a non-empty JSON list."""
        if self.postgres:
            empty = cast(literal_column("'[]'"), JSONB)
            return and_(func.jsonb_typeof(Message.citations) == "array", Message.citations != empty)
        return func.json_array_length(Message.citations) > 0

    def citation_article_ids(self) -> tuple[Any, ColumnElement[str]]:
        """(FROM item expanding ``messages.citations``, the article id of an item as text)."""
        article_id: ColumnElement[str]
        if self.postgres:
            items = func.jsonb_array_elements(Message.citations).table_valued("value")
            article_id = func.jsonb_extract_path_text(items.c.value, literal_column("'article_id'"))
        else:
            items = func.json_each(Message.citations).table_valued("value")
            article_id = cast(func.json_extract(items.c.value, literal_column("'$.article_id'")), String)
        return items, article_id


# ---- the report -------------------------------------------------------------------------------------

_SUMS = (
    "conversations",
    "support",
    "deflected",
    "minutes_saved",
    "rated",
    "helpful",
    "runs",
    "runs_ok",
    "runs_failed",
    "runs_final",
    "tickets",
    "bot_n",
    "bot_seconds",
    "agent_n",
    "agent_seconds",
)
_FLOAT_SUMS = frozenset({"minutes_saved", "bot_seconds", "agent_seconds"})


def build_roi_report(
    session: Session, *, start: datetime, end: datetime, assumptions: RoiAssumptions | None = None
) -> RoiReport:
    """The ROI report over ``[start, end)`` (timezone-aware), aggregated in SQL."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    if end <= start:
        raise ValueError("end must be after start")
    assumptions = assumptions or RoiAssumptions()
    sql = _SqlDialect(session.get_bind().dialect.name)
    if sql.postgres:
        # For this transaction only (see _POSTGRES_SETTINGS).
        for setting in _POSTGRES_SETTINGS:
            session.execute(text(f"SET LOCAL {setting}"))

    # The id range of the period's conversations (two numbers) narrows the message scans below.
    first_id, last_id = session.execute(
        select(func.min(Conversation.id), func.max(Conversation.id)).where(
            Conversation.started_at >= start, Conversation.started_at < end
        )
    ).one()
    id_range = (int(first_id), int(last_id)) if first_id is not None else (1, 0)

    sums: dict[tuple[str, str | None], Any] = {}
    medians: dict[tuple[str, str | None], dict[str, float]] = {}
    for row in session.execute(_aggregates(sql, start, end, assumptions, id_range)).mappings():
        slot = (row["dimension"], row["key"])
        if row["resolved_by"] is None:
            sums[slot] = row
        else:
            medians.setdefault(slot, {})[row["resolved_by"]] = float(row["median_seconds"])
    slices: dict[str, list[tuple[str | None, RoiMetrics]]] = {d: [] for d in DIMENSIONS}
    for (dimension, key), row in sums.items():
        slices[dimension].append((key, _metrics(row, medians.get((dimension, key), {}), assumptions)))
    totals = slices["total"][0][1] if slices["total"] else RoiMetrics()

    return RoiReport(
        start=start,
        end=end,
        assumptions=assumptions,
        definitions=assumptions.definitions(),
        totals=totals,
        by_week=_weeks(slices["week"], start, end),
        by_department=_sorted_rows(slices["department"], by_volume=False),
        by_intent=_sorted_rows(slices["intent"], by_volume=True),
        top_unanswered=_top_unanswered(session, sql, start, end),
        generated_articles=_generated_articles(session, sql, start, end),
    )


def _aggregates(
    sql: _SqlDialect, start: datetime, end: datetime, a: RoiAssumptions, id_range: tuple[int, int]
) -> _AnySelect:
    """One statement: sums per (week, department, intent) cell rolled up four ways, plus MTTR medians.

    Rows with ``resolved_by`` NULL carry the sums of a slice; the others the median resolution time of
    the slice's tickets resolved by ``resolved_by``. ``id_range`` holds the smallest and largest id of
    the period's conversations: every message of theirs has a ``conversation_id`` in it.
    """
    conv_in_period = and_(Conversation.started_at >= start, Conversation.started_at < end)
    run_in_period = and_(
        AutomationRun.created_at >= start,
        AutomationRun.created_at < end,
        AutomationRun.kind.not_in(_SYSTEM_AUTOMATIONS),
    )
    ticket_in_period = and_(Ticket.opened_at >= start, Ticket.opened_at < end)

    # What the report needs of a conversation, in one aggregate keyed by conversation (conv_agg): its
    # intent (first classified employee message that is not small talk, else first classified one),
    # ratings, handoffs and tickets. Shared by the conversation facts and by the runs and tickets.
    conv_agg = _conversation_aggregate(sql, start, end, a, id_range)
    intent = sql.value_of_key(func.coalesce(conv_agg.c.support_key, conv_agg.c.any_key))
    first_id, last_id = id_range

    def intent_of(conversation_id: Any) -> ColumnElement[str | None]:
        """Intent of a linked conversation; looked up one by one when outside the id range (rare)."""
        other = aliased(Message, name="linked_message")
        key = sql.ordered_key(other.id, other.intent)
        lookup = (
            select(
                sql.value_of_key(
                    func.coalesce(
                        func.min(case((other.intent.not_in(a.non_support_intents), key))), func.min(key)
                    )
                )
            )
            .where(
                other.conversation_id == conversation_id,
                other.role == MessageRole.EMPLOYEE,
                other.intent.is_not(None),
            )
            .scalar_subquery()
        )
        outside = and_(conversation_id.is_not(None), ~conversation_id.between(first_id, last_id))
        return case((outside, lookup), else_=intent)

    conv_facts = _conversation_facts(sql, a, conv_agg, intent, conv_in_period)
    handle_minutes = case(
        {name: literal(minutes, Float) for name, minutes in a.handle_minutes.items()},
        value=conv_facts.c.intent,
        else_=literal(a.default_handle_minutes, Float),
    )
    conv_cells = select(
        conv_facts.c.week,
        conv_facts.c.department,
        conv_facts.c.intent,
        func.count().label("conversations"),
        func.sum(conv_facts.c.support).label("support"),
        func.sum(conv_facts.c.deflected).label("deflected"),
        (func.sum(conv_facts.c.deflected) * handle_minutes).label("minutes_saved"),  # intent is a key
        func.sum(conv_facts.c.rated).label("rated"),
        func.sum(conv_facts.c.helpful).label("helpful"),
        *_nothing("runs", "runs_ok", "runs_failed", "runs_final", "tickets", "bot_n", "bot_seconds"),
        *_nothing("agent_n", "agent_seconds"),
    ).group_by(conv_facts.c.week, conv_facts.c.department, conv_facts.c.intent)

    # Automation runs and tickets of the period, attributed in one pass (one join with conv_agg).
    resolved = and_(
        Ticket.resolved_at.is_not(None),
        Ticket.handled_by.is_not(None),
        Ticket.status != TicketStatus.CANCELLED,
        Ticket.resolved_at >= Ticket.opened_at,
    )
    work = union_all(
        select(
            literal("run").label("kind"),
            AutomationRun.created_at.label("at"),
            AutomationRun.requester_id.label("employee_id"),
            AutomationRun.conversation_id.label("conversation_id"),
            cast(AutomationRun.state, String).label("state"),
            cast(null(), String).label("resolved_by"),
            cast(null(), Float).label("seconds"),
        ).where(run_in_period),
        select(
            literal("ticket"),
            Ticket.opened_at,
            Ticket.requester_id,
            Ticket.conversation_id,
            cast(null(), String),
            cast(case((resolved, Ticket.handled_by)), String),
            cast(case((resolved, sql.seconds_between(Ticket.opened_at, Ticket.resolved_at))), Float),
        ).where(ticket_in_period),
    ).subquery("work")
    work_rows = (
        select(
            work.c.kind,
            sql.week_start(work.c.at).label("week"),
            Employee.department.label("department"),
            intent_of(work.c.conversation_id).label("intent"),
            work.c.state,
            work.c.resolved_by,
            work.c.seconds,
        )
        .select_from(work)
        .join(Employee, Employee.id == work.c.employee_id)
        .outerjoin(conv_agg, conv_agg.c.cid == work.c.conversation_id)
        .cte("work_rows")
    )
    w = work_rows.c
    is_run, is_ticket = w.kind == "run", w.kind == "ticket"
    run_cells = (
        select(
            w.week,
            w.department,
            w.intent,
            *_nothing("conversations", "support", "deflected", "minutes_saved", "rated", "helpful"),
            func.count().label("runs"),
            func.sum(case((w.state == AutomationState.SUCCEEDED.value, 1), else_=0)).label("runs_ok"),
            func.sum(case((w.state == AutomationState.FAILED.value, 1), else_=0)).label("runs_failed"),
            func.sum(case((w.state.in_([s.value for s in _FINAL_STATES]), 1), else_=0)).label("runs_final"),
            *_nothing("tickets", "bot_n", "bot_seconds", "agent_n", "agent_seconds"),
        )
        .where(is_run)
        .group_by(w.week, w.department, w.intent)
    )
    by_bot, by_agent = w.resolved_by == HandledBy.BOT.value, w.resolved_by == HandledBy.AGENT.value
    ticket_cells = (
        select(
            w.week,
            w.department,
            w.intent,
            *_nothing("conversations", "support", "deflected", "minutes_saved", "rated", "helpful", "runs"),
            *_nothing("runs_ok", "runs_failed", "runs_final"),
            func.count().label("tickets"),
            func.sum(case((by_bot, 1), else_=0)).label("bot_n"),
            func.sum(case((by_bot, w.seconds))).label("bot_seconds"),
            func.sum(case((by_agent, 1), else_=0)).label("agent_n"),
            func.sum(case((by_agent, w.seconds))).label("agent_seconds"),
        )
        .where(is_ticket)
        .group_by(w.week, w.department, w.intent)
    )

    cells = union_all(conv_cells, run_cells, ticket_cells).cte("cells")
    keys: dict[str, Any] = {"total": None, "week": "week", "department": "department", "intent": "intent"}
    parts: list[_AnySelect] = []
    for dimension, key in keys.items():
        parts.append(_rollup(sql, cells, dimension, None if key is None else cells.c[key]))
    for dimension, key in keys.items():
        parts.append(_medians(sql, work_rows, dimension, None if key is None else w[key]))
    return union_all(*parts)  # type: ignore[return-value]


def _conversation_aggregate(
    sql: _SqlDialect, start: datetime, end: datetime, a: RoiAssumptions, id_range: tuple[int, int]
) -> Any:
    """Per conversation: arg-min keys of its intents, ratings, handoff and ticket flags (a CTE).

    A GROUP BY over a UNION ALL of small row sets keyed by conversation: classified employee messages
    (narrowed to the id range of the period's conversations), ratings, handoff replies, tickets linked to
    the conversation and unlinked tickets the same employee opened within the window after its start.
    Rows made for a conversation (feedback, replies, linked tickets) are never older than it: those scans
    start a day before the period (slack for clock skew between servers).
    """
    first_id, last_id = id_range
    since = start - timedelta(days=1)
    window = a.deflection_window_hours * 3600
    not_by_bot = [Ticket.handled_by.is_distinct_from(HandledBy.BOT)] if a.ignore_bot_resolved_tickets else []
    key = sql.ordered_key(Message.id, Message.intent)
    no_key = cast(null(), String)
    rated_conversation = select(Message.conversation_id).where(Message.id == Feedback.message_id)
    rows: list[_AnySelect] = [
        select(
            Message.conversation_id.label("cid"),
            key.label("intent_key"),  # built once per message; aggregated twice below
            case((Message.intent.not_in(a.non_support_intents), 1), else_=0).label("support"),
            *(_int(0).label(name) for name in ("rated", "helpful", "handed_off", "ticketed")),
        ).where(
            Message.role == MessageRole.EMPLOYEE,
            Message.intent.is_not(None),
            Message.conversation_id.between(first_id, last_id),
        ),
        select(
            rated_conversation.scalar_subquery(),  # one primary-key lookup per rating
            no_key,
            _int(0),
            _int(1),
            case((Feedback.rating == FeedbackRating.HELPFUL, 1), else_=0),
            _int(0),
            _int(0),
        ).where(Feedback.created_at >= since),
        select(Message.conversation_id, no_key, _int(0), _int(0), _int(0), _int(1), _int(0)).where(
            Message.outcome == AnswerOutcome.HANDOFF, Message.created_at >= since
        ),
    ]
    if a.deflect_on_no_ticket:
        rows.append(
            select(Ticket.conversation_id, no_key, _int(0), _int(0), _int(0), _int(0), _int(1)).where(
                Ticket.conversation_id.is_not(None), Ticket.opened_at >= since, *not_by_bot
            )
        )
        rows.append(_requested_rows(sql, start, end, window, not_by_bot))
    r = union_all(*rows).subquery("conversation_rows").c
    return (
        select(
            r.cid,
            func.min(case((r.support == 1, r.intent_key))).label("support_key"),
            func.min(r.intent_key).label("any_key"),
            func.sum(r.rated).label("rated"),
            func.sum(r.helpful).label("helpful"),
            func.max(r.handed_off).label("handed_off"),
            func.max(r.ticketed).label("ticketed"),
        )
        .group_by(r.cid)
        .cte("conv_agg")
    )


def _conversation_facts(
    sql: _SqlDialect,
    a: RoiAssumptions,
    conv_agg: Any,
    intent: ColumnElement[str],
    conv_in_period: ColumnElement[bool],
) -> Any:
    """One row per conversation of the period: week, department, intent, support, deflected, ratings."""
    f = conv_agg.c
    support = case((f.support_key.is_not(None), 1), else_=0)
    helpful = func.coalesce(f.helpful, 0)
    ways: list[ColumnElement[bool]] = []
    if a.deflect_on_helpful_feedback:
        ways.append(helpful > 0)
    if a.deflect_on_no_ticket:
        ways.append(func.coalesce(f.ticketed, 0) == 0)
    conditions = [support == 1, or_(*ways) if ways else literal(False)]
    if a.handoff_is_not_deflected:
        conditions.append(func.coalesce(f.handed_off, 0) == 0)
    return (
        select(
            sql.week_start(Conversation.started_at).label("week"),
            Employee.department.label("department"),
            intent.label("intent"),
            support.label("support"),
            case((and_(*conditions), 1), else_=0).label("deflected"),
            func.coalesce(f.rated, 0).label("rated"),
            helpful.label("helpful"),
        )
        .select_from(Conversation)
        .join(Employee, Employee.id == Conversation.employee_id)
        .outerjoin(conv_agg, f.cid == Conversation.id)
        .where(conv_in_period)
        .subquery("conv_facts")
    )


def _requested_rows(
    sql: _SqlDialect, start: datetime, end: datetime, window: float, not_by_bot: list[ColumnElement[bool]]
) -> _AnySelect:
    """(conversation, ticketed) for each unlinked ticket and the employee's conversations of the period
    that started within ``window`` seconds before it: an index range probe per ticket on
    ``conversations (employee_id, started_at)``."""
    unlinked = [
        Ticket.conversation_id.is_(None),
        Ticket.opened_at >= start,
        Ticket.opened_at <= end + timedelta(seconds=window),
        *not_by_bot,
    ]
    match = aliased(Conversation, name="matched")
    in_window = [
        match.employee_id == Ticket.requester_id,
        match.started_at <= Ticket.opened_at,
        sql.not_before(match.started_at, Ticket.opened_at, window),
        match.started_at >= start,
        match.started_at < end,
    ]
    flags = (cast(null(), String), _int(0), _int(0), _int(0), _int(0), _int(1))
    if sql.postgres:
        # OFFSET 0 keeps the LATERAL subquery a per-ticket index probe (the planner would otherwise
        # flatten it into a hash join of every ticket with every conversation of the employee).
        matched = select(match.id.label("cid")).where(*in_window).offset(0).lateral("matched_conversation")
        return select(matched.c.cid, *flags).select_from(Ticket).join(matched, literal(True)).where(*unlinked)
    return select(match.id, *flags).select_from(Ticket).join(match, and_(*in_window)).where(*unlinked)


def _int(value: int) -> ColumnElement[int]:
    """An integer constant written into the SQL (not a bound parameter)."""
    return literal_column(str(int(value)), Integer)


def _nothing(*names: str) -> list[ColumnElement[Any]]:
    """Typed zero/NULL placeholders so the branches of a UNION ALL line up."""
    return [(cast(null(), Float) if name in _FLOAT_SUMS else literal(0)).label(name) for name in names]


def _label(sql: _SqlDialect, dimension: str, key: ColumnElement[Any] | None) -> ColumnElement[Any]:
    if key is None:
        return cast(null(), String)
    return sql.week_label(key) if dimension == "week" else key


def _rollup(sql: _SqlDialect, cells: Any, dimension: str, key: ColumnElement[Any] | None) -> _AnySelect:
    """Sums of the cells per value of ``key`` (a single row for the total)."""
    statement = select(
        literal(dimension).label("dimension"),
        _label(sql, dimension, key).label("key"),
        cast(null(), String).label("resolved_by"),
        cast(null(), Float).label("median_seconds"),
        *(func.sum(cells.c[name]).label(name) for name in _SUMS),
    )
    return statement if key is None else statement.group_by(key)


def _medians(
    sql: _SqlDialect, ticket_rows: Any, dimension: str, key: ColumnElement[Any] | None
) -> _AnySelect:
    """Median resolution seconds per value of ``key`` and resolver (mean of the two middle values if even).

    PostgreSQL has ``percentile_cont``; on SQLite the middle rows are those whose 1-based rank ``r`` in a
    slice of ``n`` sorted values has ``n <= 2r <= n + 2`` (one row when ``n`` is odd, two when even). For
    an even ``n`` both give ``(a + b) / 2`` of the middle values ``a``, ``b``.
    """
    t = ticket_rows.c
    nulls = [cast(null(), Float if name in _FLOAT_SUMS else Integer).label(name) for name in _SUMS]
    if sql.postgres:
        # Grouping sorts the rows by key: byte-wise ("C") text comparisons are far cheaper than the
        # database's locale-aware ones, and give the same groups.
        resolver = collate(t.resolved_by, "C")
        group_key = key if key is None or dimension == "week" else collate(key, "C")
        median = func.percentile_cont(literal_column("0.5")).within_group(t.seconds)
        statement = select(
            literal(dimension).label("dimension"),
            _label(sql, dimension, group_key).label("key"),
            resolver.label("resolved_by"),
            cast(median, Float).label("median_seconds"),
            *nulls,
        ).where(t.seconds.is_not(None))
        return statement.group_by(resolver) if group_key is None else statement.group_by(group_key, resolver)
    partition = [t.resolved_by] if key is None else [key, t.resolved_by]
    ranked = (
        select(
            (cast(null(), String) if key is None else key).label("key"),
            t.resolved_by,
            t.seconds,
            func.row_number().over(partition_by=partition, order_by=t.seconds).label("rank"),
            func.count().over(partition_by=partition).label("size"),
        )
        .where(t.seconds.is_not(None))
        .subquery(f"ranked_{dimension}")
    )
    r = ranked.c
    return (
        select(
            literal(dimension).label("dimension"),
            _label(sql, dimension, None if key is None else r.key).label("key"),
            r.resolved_by,
            func.avg(r.seconds).label("median_seconds"),
            *nulls,
        )
        .where((2 * r.rank).between(r.size, r.size + 2))
        .group_by(r.key, r.resolved_by)
    )


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _hours(seconds: Any, count: int = 1) -> float | None:
    return round(float(seconds) / count / 3600, 3) if count and seconds is not None else None


def _metrics(row: Any, medians: dict[str, float], a: RoiAssumptions) -> RoiMetrics:
    """Metrics of one slice from its sums (NULL, Decimal or float depending on the backend)."""
    n = {name: int(row[name] or 0) for name in _SUMS if name not in _FLOAT_SUMS}
    deflected = n["deflected"]
    return RoiMetrics(
        conversations=n["conversations"],
        support_conversations=n["support"],
        deflected=deflected,
        deflection_rate=_ratio(deflected, n["support"]),
        automations_run=n["runs"],
        automations_succeeded=n["runs_ok"],
        automations_failed=n["runs_failed"],
        automations_finished=n["runs_final"],
        automation_success_rate=_ratio(n["runs_ok"], n["runs_final"]),
        tickets=n["tickets"],
        tickets_resolved_by_bot=n["bot_n"],
        tickets_resolved_by_agent=n["agent_n"],
        mttr_bot_hours_median=_hours(medians.get(HandledBy.BOT.value)),
        mttr_bot_hours_mean=_hours(row["bot_seconds"], n["bot_n"]),
        mttr_agent_hours_median=_hours(medians.get(HandledBy.AGENT.value)),
        mttr_agent_hours_mean=_hours(row["agent_seconds"], n["agent_n"]),
        agent_hours_saved=round(float(row["minutes_saved"] or 0) / 60, 2),
        money_saved=round(deflected * a.saving_per_deflection, 2),
        rated_answers=n["rated"],
        helpful_answers=n["helpful"],
        satisfaction=_ratio(n["helpful"], n["rated"]),
    )


def _iso_week(week_start: date) -> str:
    year, week, _ = week_start.isocalendar()
    return f"{year}-W{week:02d}"


def _weeks(
    rows: list[tuple[str | None, RoiMetrics]], start: datetime, end: datetime
) -> list[RoiBreakdownRow]:
    """One row per ISO week touching the period, weeks without activity included (zeros)."""
    found = {date.fromisoformat(key): metrics for key, metrics in rows if key}
    monday = start.date() - timedelta(days=start.weekday())
    last = (end - timedelta(microseconds=1)).date()
    weeks: list[RoiBreakdownRow] = []
    while monday <= last:
        metrics = found.pop(monday, RoiMetrics())
        weeks.append(RoiBreakdownRow(key=_iso_week(monday), week_start=monday, **metrics.model_dump()))
        monday += timedelta(days=7)
    for monday, metrics in sorted(found.items()):  # only when timestamps fall outside [start, end)
        weeks.append(RoiBreakdownRow(key=_iso_week(monday), week_start=monday, **metrics.model_dump()))
    return sorted(weeks, key=lambda row: row.week_start or date.min)


def _sorted_rows(rows: list[tuple[str | None, RoiMetrics]], *, by_volume: bool) -> list[RoiBreakdownRow]:
    """Breakdown rows by name (departments) or by conversations then name (intents); "none" last."""
    result = [RoiBreakdownRow(key=key, **metrics.model_dump()) for key, metrics in rows]
    if by_volume:
        return sorted(result, key=lambda r: (r.key is None, -r.conversations, -r.tickets, r.key or ""))
    return sorted(result, key=lambda r: (r.key is None, r.key or ""))


def _top_unanswered(
    session: Session, sql: _SqlDialect, start: datetime, end: datetime
) -> list[UnansweredQuestion]:
    """The employee messages most often left without an answer (exact lower-case text)."""
    reply = aliased(Message)
    asked = (
        select(Message.text)
        .where(
            Message.conversation_id == reply.conversation_id,
            Message.role == MessageRole.EMPLOYEE,
            Message.id < reply.id,
        )
        .order_by(Message.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    question = sql.binary(func.lower(asked)).label("question")
    count = func.count().label("asked")
    statement = (
        select(question, count)
        .select_from(reply)
        .where(
            reply.role == MessageRole.ASSISTANT,
            reply.outcome == AnswerOutcome.NO_ANSWER,
            reply.created_at >= start,
            reply.created_at < end,
        )
        .group_by(question)
        .order_by(count.desc(), question)
        .limit(TOP_UNANSWERED)
    )
    rows = session.execute(statement).all()
    return [UnansweredQuestion(text=question, count=int(n)) for question, n in rows if question is not None]


def _generated_articles(
    session: Session, sql: _SqlDialect, start: datetime, end: datetime
) -> GeneratedArticlesUsage:
    """Generated articles created in the period, and the period's answers citing generated articles."""
    created = session.scalar(
        select(func.count())
        .select_from(Article)
        .where(
            Article.origin == ArticleOrigin.GENERATED, Article.created_at >= start, Article.created_at < end
        )
    )
    items, article_id = sql.citation_article_ids()
    cited = (
        select(Message.id.label("message_id"), Article.id.label("article_id"))
        .select_from(Message)
        .join(items, literal(True))
        .join(Article, cast(Article.id, String) == article_id)
        .where(
            Message.role == MessageRole.ASSISTANT,
            Message.created_at >= start,
            Message.created_at < end,
            sql.has_citations(),
            Article.origin == ArticleOrigin.GENERATED,
        )
        .distinct()
        .subquery()
    )
    citations, articles = session.execute(
        select(func.count(), func.count(distinct(cited.c.article_id))).select_from(cited)
    ).one()
    return GeneratedArticlesUsage(
        created=int(created or 0), citations=int(citations), articles_cited=int(articles)
    )


# ---- CSV ---------------------------------------------------------------------------------------------

_METRIC_FIELDS = list(RoiMetrics.model_fields)


def to_csv(report: RoiReport) -> str:
    """The report as CSV: one section per part (a ``# name`` line, a header, rows, a blank line)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")

    def section(name: str, header: list[str], rows: list[list[Any]]) -> None:
        writer.writerow([f"# {name}"])
        writer.writerow(header)
        writer.writerows(rows)
        writer.writerow([])

    def values(metrics: RoiMetrics) -> list[Any]:
        return ["" if (v := getattr(metrics, f)) is None else v for f in _METRIC_FIELDS]

    section(
        "period",
        ["start", "end", "currency"],
        [[report.start.isoformat(), report.end.isoformat(), report.assumptions.currency]],
    )
    section("totals", _METRIC_FIELDS, [values(report.totals)])
    section(
        "by_week",
        ["iso_week", "week_start", *_METRIC_FIELDS],
        [[r.key, r.week_start.isoformat() if r.week_start else "", *values(r)] for r in report.by_week],
    )
    section(
        "by_department",
        ["department", *_METRIC_FIELDS],
        [[r.key or "(none)", *values(r)] for r in report.by_department],
    )
    section(
        "by_intent", ["intent", *_METRIC_FIELDS], [[r.key or "(none)", *values(r)] for r in report.by_intent]
    )
    section("top_unanswered", ["question", "count"], [[q.text, q.count] for q in report.top_unanswered])
    usage = report.generated_articles
    section(
        "generated_articles",
        ["created", "citations", "articles_cited"],
        [[usage.created, usage.citations, usage.articles_cited]],
    )
    a = report.assumptions
    section(
        "assumptions",
        ["name", "value"],
        [
            ["deflection_window_hours", a.deflection_window_hours],
            ["cost_per_ticket_l1", a.cost_per_ticket_l1],
            ["cost_per_self_service", a.cost_per_self_service],
            ["default_handle_minutes", a.default_handle_minutes],
            *([f"handle_minutes.{intent}", minutes] for intent, minutes in sorted(a.handle_minutes.items())),
        ],
    )
    section("definitions", ["name", "definition"], [[k, v] for k, v in report.definitions.items()])
    section("sources", ["source"], [[s] for s in a.sources])
    return out.getvalue()
