"""Builds the Slack app with everything it needs, for the web process (HTTP) or ``deskpilot slack``."""

from __future__ import annotations

import gc
import logging
import threading
import time

from slack_bolt import App
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from knowledge.index import KnowledgeIndex
from services.automations.approvals import Decision, decide
from services.automations.context import get_automation_context
from services.bot.app import BotDeps, build_bolt_app
from services.bot.dedupe import EventDeduper, MemoryDeduper, RedisDeduper
from services.bot.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from services.common.config import Settings
from services.conversations.orchestrator import Orchestrator
from services.conversations.runtime import build_orchestrator
from services.worker.dispatch import enqueue
from services.worker.queues import TaskName

logger = logging.getLogger(__name__)


def build_deduper(settings: Settings) -> EventDeduper:
    """Redis-backed when Redis is configured (shared by all bot processes), in-memory otherwise."""
    return RedisDeduper(settings.redis.url) if settings.redis.url else MemoryDeduper()


def build_rate_limiter(settings: Settings) -> RateLimiter:
    """Per-user message limit, Redis-backed when Redis is configured."""
    limit = settings.slack.messages_per_minute
    return RedisRateLimiter(settings.redis.url, limit) if settings.redis.url else MemoryRateLimiter(limit)


def build_slack_app(
    settings: Settings,
    *,
    session_factory: sessionmaker[Session],
    index: KnowledgeIndex,
    warm_up: bool = False,
) -> App:
    """The bolt App for the configured workspace(s).

    With ``warm_up``, a background thread loads the models and indexes, then freezes the heap
    (``gc.freeze``): without it, full collections over the model's millions of objects stall every
    in-flight ack for ~300 ms (bench/slack_load: 50 of 500 acks over 200 ms; none with it).
    """
    deps = BotDeps(
        orchestrator=build_orchestrator(settings, session_factory=session_factory, index=index),
        session_factory=session_factory,
        deduper=build_deduper(settings),
        public_url=settings.web.public_url,
        rate_limiter=build_rate_limiter(settings),
        handoff_channel=settings.slack.handoff_channel,
        dispatch=dispatch_run,
        approvals=decide_approval,
    )
    if warm_up:
        threading.Thread(target=_warm_up, args=(deps.orchestrator,), name="warm-up", daemon=True).start()
    engine = session_factory.kw.get("bind")
    return build_bolt_app(settings, deps, engine=engine if isinstance(engine, Engine) else None)


def _warm_up(orchestrator: Orchestrator) -> None:
    started = time.perf_counter()
    try:
        orchestrator.warm_up()
    except Exception:  # noqa: BLE001 - the first question loads what is missing; the cause is logged
        logger.exception("warm-up failed")
    gc.collect()
    gc.freeze()  # what is loaded now lives as long as the process: keep it out of every collection
    logger.info("warm-up done", extra={"elapsed_ms": round((time.perf_counter() - started) * 1000)})


def dispatch_run(run_id: int) -> None:
    """Send an automation run to the workers (eagerly run here on the embedded default)."""
    enqueue(TaskName.RUN_AUTOMATION, run_id=run_id)


def decide_approval(run_id: int, approver_id: int, approve: bool) -> Decision:
    """Record a manager's decision on a run with this process's automation context."""
    return decide(get_automation_context(), run_id=run_id, approver_id=approver_id, approve=approve)
