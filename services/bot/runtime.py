"""Builds the Slack app with everything it needs, for the web process (HTTP) or ``deskpilot slack``."""

from __future__ import annotations

from slack_bolt import App
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from knowledge.index import KnowledgeIndex
from services.bot.app import BotDeps, build_bolt_app
from services.bot.dedupe import EventDeduper, MemoryDeduper, RedisDeduper
from services.bot.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from services.common.config import Settings
from services.conversations.runtime import build_orchestrator


def build_deduper(settings: Settings) -> EventDeduper:
    """Redis-backed when Redis is configured (shared by all bot processes), in-memory otherwise."""
    return RedisDeduper(settings.redis.url) if settings.redis.url else MemoryDeduper()


def build_rate_limiter(settings: Settings) -> RateLimiter:
    """Per-user message limit, Redis-backed when Redis is configured."""
    limit = settings.slack.messages_per_minute
    return RedisRateLimiter(settings.redis.url, limit) if settings.redis.url else MemoryRateLimiter(limit)


def build_slack_app(
    settings: Settings, *, session_factory: sessionmaker[Session], index: KnowledgeIndex
) -> App:
    """The bolt App for the configured workspace."""
    deps = BotDeps(
        orchestrator=build_orchestrator(settings, session_factory=session_factory, index=index),
        session_factory=session_factory,
        deduper=build_deduper(settings),
        public_url=settings.web.public_url,
        rate_limiter=build_rate_limiter(settings),
        handoff_channel=settings.slack.handoff_channel,
    )
    engine = session_factory.kw.get("bind")
    return build_bolt_app(settings, deps, engine=engine if isinstance(engine, Engine) else None)
