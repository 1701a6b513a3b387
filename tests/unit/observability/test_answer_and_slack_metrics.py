"""Answers through the web chat and Slack acks through bolt are measured with the right labels."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from slack_bolt import BoltRequest
from slack_sdk.signature import SignatureVerifier

from services.admin.app import create_app
from services.admin.auth import hash_password
from services.bot.app import BotDeps, build_bolt_app
from services.bot.dedupe import MemoryDeduper
from services.bot.ratelimit import MemoryRateLimiter
from services.common.db import session_scope
from services.directory.models import Employee
from tests.unit.conversations.harness import World, build_world
from tests.unit.observability.samples import delta

PASSWORD = "correct horse battery"
SECRET = "test-signing-secret"
TEAM = "T0DESKPILOT"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    world = build_world(
        tmp_path,
        slack={"bot_token": "xoxb-test", "signing_secret": SECRET, "api_base_url": "http://127.0.0.1:9/api/"},
    )
    with session_scope(world.sessions) as db_session:
        db_session.add(
            Employee(email="eve@example.com", display_name="eve", password_hash=hash_password(PASSWORD))
        )
    yield world
    world.engine.dispose()


def _signed_in_chat(world: World) -> tuple[TestClient, str]:
    app = create_app(world.settings)
    client = TestClient(app, base_url="https://testserver")
    client.__enter__()
    app.state.chat_orchestrator = world.orchestrator()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert token
    client.post(
        "/login", data={"email": "eve@example.com", "password": PASSWORD, "csrf_token": token.group(1)}
    )
    csrf = re.search(r"const csrf = \"([^\"]+)\"", client.get("/chat").text)
    assert csrf
    return client, csrf.group(1)


def test_web_chat_answer_records_latency_retrieval_score_and_citations(world: World) -> None:
    client, csrf = _signed_in_chat(world)
    answered = {"channel": "web", "route": "answer", "outcome": "answered"}
    with (
        delta("deskpilot_answer_duration_seconds_count", **answered) as replies,
        delta(
            "deskpilot_answer_duration_seconds_count", channel="slack", route="answer", outcome="answered"
        ) as slack_replies,
        delta("deskpilot_retrieval_top_score_count", cleared="true") as cleared,
        delta("deskpilot_answer_citations_count", mode="extractive") as cited_answers,
        delta("deskpilot_answer_citations_sum", mode="extractive") as citations,
    ):
        reply = client.post(
            "/chat/messages", json={"text": "my vpn keeps dropping"}, headers={"x-csrf-token": csrf}
        )
    client.__exit__(None, None, None)
    assert reply.status_code == 200 and reply.json()["citations"]
    assert replies() == 1 and slack_replies() == 0
    # Retrieval and citation metrics carry no channel: a Slack answer still finishing in bolt's listener
    # pool from an earlier test of the session may land in the same window, so these are lower bounds.
    assert cleared() >= 1
    assert cited_answers() >= 1 and citations() >= len(reply.json()["citations"])


def _dispatch(world: World, body: str, content_type: str) -> Any:
    deps = BotDeps(
        orchestrator=world.orchestrator(),
        session_factory=world.sessions,
        deduper=MemoryDeduper(),
        public_url="https://deskpilot.example",
        rate_limiter=MemoryRateLimiter(limit=3),
    )
    app = build_bolt_app(world.settings, deps, bot_user_id="U0DESKBOT", team_id=TEAM)
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(SECRET).generate_signature(timestamp=timestamp, body=body)
    headers: dict[str, str | Sequence[str]] = {
        "content-type": content_type,
        "x-slack-request-timestamp": timestamp,
        "x-slack-signature": str(signature),
    }
    return app.dispatch(BoltRequest(body=body, headers=headers))


def test_slack_ack_is_counted_by_kind_and_outcome_with_its_latency(world: World) -> None:
    command = "&".join(
        f"{k}={v}"
        for k, v in {"command": "/helpdesk", "text": "help", "team_id": TEAM, "user_id": "U0ALICE001"}.items()
    ).replace("/", "%2F")
    unknown_event = json.dumps(
        {
            "type": "event_callback",
            "team_id": TEAM,
            "event_id": "Ev0OBS",
            "event": {"type": "reaction_added", "user": "U0ALICE001", "reaction": "tada"},
        }
    )
    with (
        delta("deskpilot_slack_acks_total", kind="command", outcome="ok") as commands,
        delta("deskpilot_slack_ack_duration_seconds_count", kind="command") as command_timed,
        delta("deskpilot_slack_acks_total", kind="event", outcome="unhandled") as unhandled,
    ):
        acked = _dispatch(world, command, "application/x-www-form-urlencoded")
        ignored = _dispatch(world, unknown_event, "application/json")
    assert acked.status == 200 and "help" in acked.body.lower()
    assert ignored.status == 404
    assert commands() == 1 and command_timed() == 1
    assert unhandled() == 1
