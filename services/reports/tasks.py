"""Celery tasks of the reports domain: the weekly manager digest (beat, Monday morning)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from celery import shared_task
from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from services.common.db import utcnow
from services.common.errors import RetryableError
from services.reports.roi import RoiAssumptions
from services.worker.base_task import DeskpilotTask
from services.worker.queues import TaskName

logger = logging.getLogger(__name__)

MAX_RETRIES = 6


@dataclass
class DigestContext:
    """What the digest task needs: the database, Slack per workspace, the report's URL and the time zone."""

    session_factory: sessionmaker[Session]
    client_for_team: Callable[[str], WebClient] | None
    public_url: str
    timezone: str = "UTC"
    assumptions: RoiAssumptions = field(default_factory=RoiAssumptions)


_lock = threading.Lock()
_context: DigestContext | None = None


def configure_digest_context(context: DigestContext | None) -> None:
    """Use ``context`` for the digest task in this process (None forgets it)."""
    global _context
    with _lock:
        _context = context


def get_digest_context() -> DigestContext:
    """This process's context, built from settings on first use (sharing the automation context's engine)."""
    global _context
    with _lock:
        if _context is None:
            from services.automations.context import get_automation_context
            from services.bot.clients import slack_client_factory
            from services.common.config import get_settings

            settings = get_settings()
            sessions = get_automation_context().session_factory
            engine = sessions.kw.get("bind")
            _context = DigestContext(
                session_factory=sessions,
                client_for_team=slack_client_factory(settings, engine) if settings.slack.enabled else None,
                public_url=settings.web.public_url,
                timezone=settings.reports.timezone,
            )
        return _context


@shared_task(name=TaskName.SEND_WEEKLY_DIGEST, bind=True, base=DeskpilotTask, max_retries=MAX_RETRIES)
def send_weekly_digest_task(self: DeskpilotTask, *, week: str | None = None) -> dict[str, Any]:
    """Beat (Monday): DM last week's ROI digest to every manager once; retry Slack outages for the rest.

    ``week`` is any day of the week to send (ISO date); by default the last full week.
    """
    from services.automations.tasks import retry_delay_s
    from services.reports.digest import last_full_week, monday_of, send_weekly_digest

    ctx = get_digest_context()
    if ctx.client_for_team is None:
        logger.info("weekly digest skipped: Slack is not configured")
        return {"skipped": "slack not configured"}
    week_start = monday_of(date.fromisoformat(week)) if week else last_full_week(utcnow(), ctx.timezone)
    outcome = send_weekly_digest(
        ctx.session_factory,
        ctx.client_for_team,
        week_start=week_start,
        public_url=ctx.public_url,
        claim=str(self.request.id),
        assumptions=ctx.assumptions,
    )
    if outcome.retry_needed:
        error = RetryableError(
            f"{len(outcome.pending)} managers still owed the digest", retry_after_s=outcome.retry_after_s
        )
        raise self.retry(
            exc=error,
            kwargs={"week": week_start.isoformat()},  # a retry on another day still sends the same week
            countdown=retry_delay_s(self.request.retries, outcome.retry_after_s),
        )
    return outcome.summary()
