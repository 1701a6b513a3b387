"""The database connection is lost while a Slack question is handled: the bot waits for it (bounded),
answers once, and only says the helpdesk is having trouble when the outage outlasts the wait.

The outage is injected as the driver's error around the real orchestrator (SQLite here; the real
PostgreSQL restart is tests/integration/test_postgres_restart.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from slack_bolt.adapter.fastapi import SlackRequestHandler
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select

from services.admin.views import slack as slack_views
from services.bot.app import APOLOGY, DATABASE_TROUBLE, BotDeps, build_bolt_app
from services.bot.dedupe import MemoryDeduper
from services.common.db import DatabaseRetry, session_scope
from services.conversations.models import Message
from services.conversations.orchestrator import Orchestrator, Reply
from tests.emulators.harness import serve_emulator
from tests.emulators.slack_web_api import build_app as build_slack_emulator
from tests.unit.bot.test_slack_end_to_end import SECRET, TEAM, TOKEN, Bot, _bot_posts, _dm
from tests.unit.conversations.harness import build_world


def _connection_lost() -> sa_exc.OperationalError:
    return sa_exc.OperationalError(
        "SELECT 1", {}, psycopg.OperationalError("server closed the connection unexpectedly")
    )


@pytest.fixture
def outage_bot(tmp_path: Path) -> Iterator[tuple[Bot, BotDeps, Orchestrator]]:
    slack_app_, slack_state = build_slack_emulator(bot_token=TOKEN, team_id=TEAM)
    with serve_emulator(slack_app_, slack_state) as slack:
        world = build_world(
            tmp_path,
            slack={"bot_token": TOKEN, "signing_secret": SECRET, "api_base_url": f"{slack.base_url}/api/"},
        )
        orchestrator = world.orchestrator()
        deps = BotDeps(
            orchestrator=orchestrator,
            session_factory=world.sessions,
            deduper=MemoryDeduper(),
            public_url="https://deskpilot.example",
            database_retry=DatabaseRetry(window_s=5, first_delay_s=0.05),
        )
        api = FastAPI()
        api.include_router(slack_views.router)
        api.state.slack_handler = SlackRequestHandler(build_bolt_app(world.settings, deps))
        api.state.slack_verifier = SignatureVerifier(SECRET)
        with TestClient(api) as client:
            yield Bot(client, slack, world.sessions, world.fail), deps, orchestrator
        world.engine.dispose()


def _inject(monkeypatch: pytest.MonkeyPatch, orchestrator: Orchestrator, failures: list[str]) -> None:
    """Each handle_message call pops a failure: "before" (nothing recorded), "after" (the reply was
    recorded, then the connection was lost: the commit's outcome unknown to the caller), "" (none)."""
    real = orchestrator.handle_message

    def handle_message(**kwargs: Any) -> Reply:
        failure = failures.pop(0) if failures else ""
        if failure == "before":
            raise _connection_lost()
        reply = real(**kwargs)
        if failure == "after":
            raise _connection_lost()
        return reply

    monkeypatch.setattr(orchestrator, "handle_message", handle_message)


def _texts(bot: Bot) -> list[str]:
    return [str(m["text"]) for m in _bot_posts(bot.state(), "D0ALICE01")]


def test_a_short_outage_is_waited_out_and_the_question_answered_once(
    outage_bot: tuple[Bot, BotDeps, Orchestrator], monkeypatch: pytest.MonkeyPatch
) -> None:
    bot, _deps, orchestrator = outage_bot
    _inject(monkeypatch, orchestrator, ["before", "before"])
    assert bot.post_event(_dm("my vpn keeps dropping", event_id="EvDb1")).status_code == 200
    state = bot.wait_for(lambda s: bool(_bot_posts(s, "D0ALICE01")))
    posts = _bot_posts(state, "D0ALICE01")
    assert len(posts) == 1 and "VPN keeps dropping" in json.dumps(posts[0]["blocks"])


def test_a_reply_recorded_just_before_the_connection_was_lost_is_posted_once(
    outage_bot: tuple[Bot, BotDeps, Orchestrator], monkeypatch: pytest.MonkeyPatch
) -> None:
    bot, _deps, orchestrator = outage_bot
    _inject(monkeypatch, orchestrator, ["after"])
    assert bot.post_event(_dm("my vpn keeps dropping", event_id="EvDb2")).status_code == 200
    bot.wait_for(lambda s: bool(_bot_posts(s, "D0ALICE01")))
    bot.wait_for(lambda s: not any(users for r in s["reactions"].values() for users in r.values()))
    texts = _texts(bot)
    assert len(texts) == 1 and not texts[0].startswith(APOLOGY.split("{")[0]), texts
    with session_scope(bot.sessions) as db_session:
        assert db_session.scalar(select(func.count()).select_from(Message)) == 2  # recorded once


def test_an_outage_longer_than_the_wait_gets_one_reply_saying_to_try_again_later(
    outage_bot: tuple[Bot, BotDeps, Orchestrator], monkeypatch: pytest.MonkeyPatch
) -> None:
    bot, deps, orchestrator = outage_bot
    deps.database_retry = DatabaseRetry(window_s=0.3, first_delay_s=0.05)
    _inject(monkeypatch, orchestrator, ["before"] * 100)
    assert bot.post_event(_dm("my vpn keeps dropping", event_id="EvDb3")).status_code == 200
    bot.wait_for(lambda s: bool(_bot_posts(s, "D0ALICE01")))
    bot.wait_for(lambda s: not any(users for r in s["reactions"].values() for users in r.values()))
    texts = _texts(bot)
    assert len(texts) == 1 and texts[0].startswith(DATABASE_TROUBLE.split("{")[0]), texts
    assert "try again in a few minutes" in texts[0] and "Reference: ERR-" in texts[0]
