"""The weekly ROI digest: last week's figures against the week before, sent to every manager in Slack.

Weeks are ISO weeks in UTC (Monday 00:00 to Monday 00:00), as on the report page; the configured time
zone only decides which week is "last week". The figures come from :func:`build_roi_report` (once for
the week, once for the week before); nothing is aggregated here.

Delivery is at most once per (week, manager): a :class:`DigestDelivery` row is claimed (unique key)
before the DM is posted and marked sent after. A Slack failure releases the claim, so a retry posts to
that manager again and skips everyone already done; a claim left by a process that died mid-post is
taken over after :data:`CLAIM_STALE_AFTER`. No session is open while Slack is called.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import groupby
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from services.bot.mrkdwn import escape
from services.common.db import session_scope, utcnow
from services.directory.models import Employee, EmployeeRole, Role
from services.reports.models import DeliveryState, DigestDelivery
from services.reports.pdf import money, num, pct
from services.reports.roi import RoiAssumptions, RoiReport, build_roi_report

logger = logging.getLogger(__name__)

TOP_QUESTIONS = 3
CLAIM_STALE_AFTER = timedelta(minutes=10)
"""A claim this old belongs to a dead process (it exceeds any task's time limit): take it over."""


def monday_of(day: date) -> date:
    """The Monday starting ``day``'s ISO week."""
    return day - timedelta(days=day.weekday())


def last_full_week(now: datetime, zone: str = "UTC") -> date:
    """The Monday of the last full week before ``now``, "now" read in ``zone``."""
    return monday_of(now.astimezone(ZoneInfo(zone)).date()) - timedelta(weeks=1)


@dataclass(frozen=True)
class WeeklyDigest:
    """The week's report, the week before's, and the link to the week on the report page."""

    week_start: date
    current: RoiReport
    previous: RoiReport
    report_url: str


def build_weekly_digest(
    db_session: Session, *, week_start: date, public_url: str, assumptions: RoiAssumptions | None = None
) -> WeeklyDigest:
    """The digest of the week starting ``week_start`` (normalised to its Monday)."""
    week_start = monday_of(week_start)
    start = datetime.combine(week_start, time.min, tzinfo=UTC)
    week = timedelta(weeks=1)
    current = build_roi_report(db_session, start=start, end=start + week, assumptions=assumptions)
    previous = build_roi_report(db_session, start=start - week, end=start, assumptions=assumptions)
    last_day = week_start + timedelta(days=6)
    url = f"{public_url.rstrip('/')}/reports/roi?start={week_start.isoformat()}&end={last_day.isoformat()}"
    return WeeklyDigest(week_start=week_start, current=current, previous=previous, report_url=url)


# ---- rendering ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DigestMessage:
    """A Slack message: Block Kit blocks and the plain-text fallback (notifications, screen readers)."""

    text: str
    blocks: list[dict[str, Any]]


def relative_change(current: float, previous: float) -> str:
    """``+8.2 %`` against the week before; ``new`` when there was nothing to compare with."""
    if previous == 0:
        return "new" if current else "no change"
    return f"{(current - previous) / previous * 100:+.1f} %"


def points_change(current: float | None, previous: float | None) -> str:
    """A rate's change in percentage points (``+3.1 pts``); ``n/a`` when either week has none."""
    if current is None or previous is None:
        return "n/a"
    return f"{(current - previous) * 100:+.1f} pts"


def digest_figures(digest: WeeklyDigest) -> list[tuple[str, str, str]]:
    """(label, this week's value, change vs the week before) for each headline figure."""
    t, p = digest.current.totals, digest.previous.totals
    currency = digest.current.assumptions.currency
    return [
        ("Conversations", str(t.conversations), relative_change(t.conversations, p.conversations)),
        ("Deflection rate", pct(t.deflection_rate), points_change(t.deflection_rate, p.deflection_rate)),
        (
            "Automation success",
            pct(t.automation_success_rate),
            points_change(t.automation_success_rate, p.automation_success_rate),
        ),
        (
            "Agent hours saved",
            num(t.agent_hours_saved),
            relative_change(t.agent_hours_saved, p.agent_hours_saved),
        ),
        ("Money saved", f"{currency} {money(t.money_saved)}", relative_change(t.money_saved, p.money_saved)),
        ("Satisfaction", pct(t.satisfaction), points_change(t.satisfaction, p.satisfaction)),
    ]


def render_weekly_digest(digest: WeeklyDigest) -> DigestMessage:
    """The digest as Block Kit plus a text fallback that carries the same figures."""
    last_day = digest.week_start + timedelta(days=6)
    title = f"Helpdesk digest: week of {digest.week_start.isoformat()} to {last_day.isoformat()}"
    figures = digest_figures(digest)
    questions = digest.current.top_unanswered[:TOP_QUESTIONS]
    question_lines = [f"{n}. {escape(q.text)} ({q.count}x)" for n, q in enumerate(questions, start=1)]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*{label}*\n{value} ({change} vs the week before)"}
                for label, value, change in figures
            ],
        },
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": "*Top unanswered questions*\n" + ("\n".join(question_lines) or "None last week."),
            },
        },
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"<{digest.report_url}|Open the ROI report for this week>"},
        },
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": "Weeks run Monday to Sunday (UTC). Definitions are on the report page.",
                }
            ],
        },
    ]
    summary = "; ".join(f"{label} {value} ({change})" for label, value, change in figures)
    text = f"{title}. {summary}. Report: {digest.report_url}"
    return DigestMessage(text=text, blocks=blocks)


# ---- delivery ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DigestRecipient:
    """An active manager reachable in Slack."""

    employee_id: int
    email: str
    team_id: str | None
    user_id: str


@dataclass
class DigestOutcome:
    """What one delivery pass did; ``retry_needed`` when a transient Slack failure left managers out."""

    week_start: date
    recipients: list[DigestRecipient]
    message: DigestMessage
    sent: list[int] = field(default_factory=list)
    already_done: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    pending: list[int] = field(default_factory=list)
    retry_after_s: float | None = None

    @property
    def retry_needed(self) -> bool:
        """True when some managers are still owed the digest because of a transient failure."""
        return bool(self.pending)

    def summary(self) -> dict[str, Any]:
        """Counts for logs and task results."""
        return {
            "week": self.week_start.isoformat(),
            "recipients": len(self.recipients),
            "sent": len(self.sent),
            "already_done": len(self.already_done),
            "failed": len(self.failed),
            "pending": len(self.pending),
        }


def digest_recipients(db_session: Session) -> list[DigestRecipient]:
    """Active employees granted the manager role who have a Slack id, by workspace then id."""
    rows = db_session.execute(
        select(Employee.id, Employee.email, Employee.slack_team_id, Employee.slack_user_id)
        .join(EmployeeRole, EmployeeRole.employee_id == Employee.id)
        .where(
            EmployeeRole.role == Role.MANAGER,
            Employee.is_active.is_(True),
            Employee.slack_user_id.is_not(None),
        )
        .order_by(Employee.slack_team_id, Employee.id)
    ).all()
    return [DigestRecipient(eid, email, team, user) for eid, email, team, user in rows if user]


def send_weekly_digest(
    session_factory: sessionmaker[Session],
    client_for_team: Callable[[str], WebClient],
    *,
    week_start: date,
    public_url: str,
    claim: str,
    assumptions: RoiAssumptions | None = None,
    dry_run: bool = False,
) -> DigestOutcome:
    """DM the week's digest to every manager not yet sent it; ``dry_run`` builds it and posts nothing.

    ``claim`` identifies this delivery (the task id). Per workspace, a transient failure (429, 5xx,
    network) stops that workspace and lists its remaining managers in ``pending``; a permanent one
    (user not found, app not installed) is recorded in ``failed`` and the others still get theirs.
    """
    with session_scope(session_factory) as db_session:
        digest = build_weekly_digest(
            db_session, week_start=week_start, public_url=public_url, assumptions=assumptions
        )
        recipients = digest_recipients(db_session)
    outcome = DigestOutcome(digest.week_start, recipients, render_weekly_digest(digest))
    if dry_run:
        return outcome
    for team_id, group in groupby(recipients, key=lambda r: r.team_id):
        _send_to_workspace(session_factory, client_for_team, team_id, list(group), outcome, claim)
    logger.info("weekly digest delivered", extra=outcome.summary())
    return outcome


def _send_to_workspace(
    session_factory: sessionmaker[Session],
    client_for_team: Callable[[str], WebClient],
    team_id: str | None,
    recipients: list[DigestRecipient],
    outcome: DigestOutcome,
    claim: str,
) -> None:
    try:
        client = client_for_team(team_id or "")
    except LookupError as exc:  # the app is not installed in that workspace: nobody there can get it
        outcome.failed.update({r.employee_id: str(exc) for r in recipients})
        return
    for index, recipient in enumerate(recipients):
        if not _claim(session_factory, outcome.week_start, recipient.employee_id, claim):
            outcome.already_done.append(recipient.employee_id)
            continue
        try:
            channel, ts = _post(client, recipient.user_id, outcome.message)
        except (SlackApiError, OSError) as exc:
            _release(session_factory, outcome.week_start, recipient.employee_id, claim)
            retry_after = _transient_retry_after(exc)
            if retry_after is None:
                outcome.failed[recipient.employee_id] = _error_code(exc)
                continue
            outcome.pending.extend(r.employee_id for r in recipients[index:])
            outcome.retry_after_s = max(outcome.retry_after_s or 0.0, retry_after)
            logger.warning(
                "weekly digest interrupted by Slack; will retry",
                extra={"team_id": team_id, "error": _error_code(exc), "pending": len(recipients) - index},
            )
            return
        except BaseException:  # an unexpected failure: free the claim before the task fails
            _release(session_factory, outcome.week_start, recipient.employee_id, claim)
            raise
        _mark_sent(session_factory, outcome.week_start, recipient.employee_id, claim, channel, ts)
        outcome.sent.append(recipient.employee_id)


def _post(client: WebClient, user_id: str, message: DigestMessage) -> tuple[str, str]:
    """Open the DM with ``user_id`` and post; returns (channel, ts)."""
    channel = str(client.conversations_open(users=user_id)["channel"]["id"])
    posted = client.chat_postMessage(channel=channel, text=message.text, blocks=message.blocks)
    return channel, str(posted["ts"])


def _transient_retry_after(exc: SlackApiError | OSError) -> float | None:
    """Seconds to wait before retrying (0 when Slack gave no hint); None when retrying cannot help."""
    if isinstance(exc, OSError):  # connection refused, reset, timed out
        return 0.0
    response = exc.response
    if response.status_code != 429 and response.status_code < 500:
        return None
    headers = {str(k).lower(): v for k, v in (response.headers or {}).items()}
    value = headers.get("retry-after")
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return float(value) if value is not None else 0.0
    except (TypeError, ValueError):
        return 0.0


def _error_code(exc: SlackApiError | OSError) -> str:
    if isinstance(exc, SlackApiError):
        data = exc.response.data
        error = data.get("error") if isinstance(data, dict) else None
        return str(error or f"http_{exc.response.status_code}")
    return type(exc).__name__


def _delivery(week_start: date, employee_id: int) -> Iterable[Any]:
    return (DigestDelivery.week_start == week_start, DigestDelivery.employee_id == employee_id)


def _claim(session_factory: sessionmaker[Session], week_start: date, employee_id: int, claim: str) -> bool:
    """Reserve this manager's digest of the week for ``claim``; False when sent or held by a live claim."""
    now = utcnow()
    try:
        with session_scope(session_factory) as db_session:
            row = db_session.scalar(select(DigestDelivery).where(*_delivery(week_start, employee_id)))
            if row is None:
                db_session.add(
                    DigestDelivery(
                        week_start=week_start,
                        employee_id=employee_id,
                        state=DeliveryState.CLAIMED,
                        claimed_by=claim,
                        claimed_at=now,
                    )
                )
                return True
            if row.state is DeliveryState.SENT or row.claimed_at > now - CLAIM_STALE_AFTER:
                return False
            # A dead holder's claim: take it over only if nobody else did in the meantime.
            taken = db_session.execute(
                update(DigestDelivery)
                .where(DigestDelivery.id == row.id, DigestDelivery.claimed_by == row.claimed_by)
                .where(DigestDelivery.state == DeliveryState.CLAIMED)
                .values(claimed_by=claim, claimed_at=now)
                .execution_options(synchronize_session=False)
            )
            return bool(getattr(taken, "rowcount", 0))
    except IntegrityError:  # another delivery inserted the claim first
        return False


def _release(session_factory: sessionmaker[Session], week_start: date, employee_id: int, claim: str) -> None:
    """Give the claim back after a failed post, so a later pass sends to this manager."""
    with session_scope(session_factory) as db_session:
        db_session.execute(
            delete(DigestDelivery).where(
                *_delivery(week_start, employee_id),
                DigestDelivery.claimed_by == claim,
                DigestDelivery.state == DeliveryState.CLAIMED,
            )
        )


def _mark_sent(
    session_factory: sessionmaker[Session],
    week_start: date,
    employee_id: int,
    claim: str,
    channel: str,
    ts: str,
) -> None:
    with session_scope(session_factory) as db_session:
        db_session.execute(
            update(DigestDelivery)
            .where(*_delivery(week_start, employee_id), DigestDelivery.claimed_by == claim)
            .values(state=DeliveryState.SENT, sent_at=utcnow(), slack_channel_id=channel, slack_ts=ts)
            .execution_options(synchronize_session=False)
        )
