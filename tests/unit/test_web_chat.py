"""The employee web chat: signed in, CSRF-protected, answered by the same orchestrator as Slack."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.admin.app import create_app
from services.admin.auth import hash_password
from services.common.db import session_scope
from services.directory.models import Employee
from tests.unit.conversations.harness import World, build_world

PASSWORD = "correct horse battery"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    world = build_world(tmp_path)
    with session_scope(world.sessions) as db_session:
        for email in ("eve@example.com", "mallory@example.com"):
            db_session.add(
                Employee(email=email, display_name=email[:3], password_hash=hash_password(PASSWORD))
            )
    yield world
    world.engine.dispose()


def _client(world: World, email: str) -> tuple[TestClient, str]:
    app = create_app(world.settings)
    client = TestClient(app, base_url="https://testserver")
    client.__enter__()
    app.state.chat_orchestrator = world.orchestrator()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert token
    client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)})
    page = client.get("/chat")
    assert page.status_code == 200
    csrf = re.search(r"const csrf = \"([^\"]+)\"", page.text)
    assert csrf
    return client, csrf.group(1)


def test_question_gets_a_cited_answer_and_feedback_is_recorded(world: World) -> None:
    client, csrf = _client(world, "eve@example.com")
    reply = client.post(
        "/chat/messages", json={"text": "my vpn keeps dropping"}, headers={"x-csrf-token": csrf}
    )
    assert reply.status_code == 200
    body = reply.json()
    assert "TCP" in body["text"] or "GlobalProtect" in body["text"]
    assert (
        body["citations"] and body["citations"][0]["url"].endswith(f"/kb/articles/{1}") or body["citations"]
    )
    helpful = next(b for b in body["buttons"] if b["action"] == "feedback_helpful")
    thanks = client.post(
        "/chat/actions",
        json={
            "conversation_id": body["conversation_id"],
            "action": "feedback_helpful",
            "value": helpful["value"],
        },
        headers={"x-csrf-token": csrf},
    )
    assert thanks.status_code == 200 and "Thanks" in thanks.json()["text"]
    client.__exit__(None, None, None)


def test_chat_needs_csrf_and_a_conversation_is_private_to_its_employee(world: World) -> None:
    eve, eve_csrf = _client(world, "eve@example.com")
    assert eve.post("/chat/messages", json={"text": "hello"}).status_code == 403
    first = eve.post(
        "/chat/messages", json={"text": "my vpn keeps dropping"}, headers={"x-csrf-token": eve_csrf}
    )
    conversation = first.json()["conversation_id"]
    mallory, mallory_csrf = _client(world, "mallory@example.com")
    snooping = mallory.post(
        "/chat/messages",
        json={"text": "and then?", "conversation_id": conversation},
        headers={"x-csrf-token": mallory_csrf},
    )
    assert snooping.status_code == 404
    for client in (eve, mallory):
        client.__exit__(None, None, None)


def test_anonymous_visitors_are_sent_to_sign_in(world: World) -> None:
    with TestClient(create_app(world.settings), base_url="https://testserver") as client:
        response = client.get("/chat", follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/login?next=/chat"
