"""Multi-workspace Slack: OAuth install into a second workspace, then events answered with its own token.

The install runs through the product's ``/slack/install`` and ``/slack/oauth_redirect`` endpoints (bolt's
OAuth flow with the SQLAlchemy installation and state stores on our migrated database); the token
exchange goes to the Slack emulator's ``oauth.v2.access``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from slack_bolt.adapter.fastapi import SlackRequestHandler
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import Engine, select

from services.admin.views import slack as slack_views
from services.bot.app import BotDeps, build_bolt_app
from services.bot.dedupe import MemoryDeduper
from services.bot.installations import BOTS_TABLE
from tests.emulators.harness import RunningEmulator, serve_emulator
from tests.emulators.slack_web_api import OAuthGrant
from tests.emulators.slack_web_api import build_app as build_slack_emulator
from tests.unit.conversations.harness import build_world

SECRET = "test-signing-secret"
CLIENT_ID = "1111.2222"
CLIENT_SECRET = "oauth-client-secret"
ACME = OAuthGrant(team_id="T0ACME", team_name="Acme", bot_token="xoxb-acme-token", bot_user_id="U0ACMEBOT")


@dataclass
class Distributed:
    client: TestClient
    slack: RunningEmulator
    engine: Engine

    def post_event(self, body: dict[str, Any]) -> Any:
        payload = json.dumps(body)
        ts = str(int(time.time()))
        signature = SignatureVerifier(SECRET).generate_signature(timestamp=ts, body=payload)
        headers = {
            "content-type": "application/json",
            "x-slack-request-timestamp": ts,
            "x-slack-signature": signature or "",
        }
        return self.client.post("/slack/events", content=payload, headers=headers)

    def install(self, code: str) -> Any:
        """The install page, then Slack's redirect back with ``code`` and the page's state."""
        page = self.client.get("/slack/install")
        assert page.status_code == 200
        state = re.search(r"state=([^&\"]+)", page.text)
        assert state is not None, page.text
        return self.client.get("/slack/oauth_redirect", params={"code": code, "state": state.group(1)})

    def posts_with_token(self, token: str) -> list[dict[str, Any]]:
        return [
            c
            for c in self.slack.calls("/api/chat.postMessage")
            if c["headers"].get("authorization") == f"Bearer {token}"
        ]

    def wait_for_posts(self, token: str, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            posts = self.posts_with_token(token)
            if len(posts) >= count:
                return posts
            time.sleep(0.05)
        raise AssertionError(f"expected {count} posts with {token}: {self.slack.calls('/api/')}")


@pytest.fixture
def distributed(tmp_path: Path) -> Iterator[Distributed]:
    emulator, state = build_slack_emulator(
        bot_token="xoxb-unused-single-workspace",
        team_id="T0DESKPILOT",
        oauth_client=(CLIENT_ID, CLIENT_SECRET),
        oauth_grants={"code-acme": ACME},
    )
    with serve_emulator(emulator, state) as slack:
        world = build_world(
            tmp_path,
            slack={
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "signing_secret": SECRET,
                "api_base_url": f"{slack.base_url}/api/",
            },
            web={"public_url": "https://deskpilot.example"},
        )
        deps = BotDeps(
            orchestrator=world.orchestrator(),
            session_factory=world.sessions,
            deduper=MemoryDeduper(),
            public_url="https://deskpilot.example",
        )
        api = FastAPI()
        api.include_router(slack_views.router)
        api.state.settings = world.settings
        api.state.slack_handler = SlackRequestHandler(
            build_bolt_app(world.settings, deps, engine=world.engine)
        )
        api.state.slack_verifier = SignatureVerifier(SECRET)
        # bolt's state cookie is Secure: the browser side speaks HTTPS, as behind the ingress.
        with TestClient(api, base_url="https://testserver") as client:
            yield Distributed(client, slack, world.engine)
        world.engine.dispose()


def _dm(team: str, event_id: str, text: str = "my vpn keeps dropping") -> dict[str, Any]:
    ts = f"1700000001.{event_id[-6:]}"
    return {
        "token": "ignored",
        "team_id": team,
        "api_app_id": ACME.app_id,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1700000001,
        "event": {
            "type": "message",
            "channel_type": "im",
            "channel": "D0ALICE01",
            "user": "U0ALICE001",
            "text": text,
            "ts": ts,
            "event_ts": ts,
        },
    }


def test_install_page_links_to_slack_consent_with_our_client_id_scopes_and_redirect(
    distributed: Distributed,
) -> None:
    page = distributed.client.get("/slack/install")
    assert page.status_code == 200
    assert "https://slack.com/oauth/v2/authorize?state=" in page.text
    assert f"client_id={CLIENT_ID}" in page.text
    assert "im:history" in page.text and "users:read.email" in page.text
    assert "redirect_uri=https://deskpilot.example/slack/oauth_redirect" in page.text
    assert "slack-app-oauth-state" in page.headers.get("set-cookie", "")


def test_install_stores_the_workspace_token_and_its_events_are_answered_with_it(
    distributed: Distributed,
) -> None:
    assert distributed.install("code-acme").status_code == 200
    with distributed.engine.connect() as connection:
        bots = connection.execute(select(BOTS_TABLE.c.team_id, BOTS_TABLE.c.bot_token)).all()
    assert [(row.team_id, row.bot_token) for row in bots] == [("T0ACME", ACME.bot_token)]

    assert distributed.post_event(_dm("T0ACME", "EvAcme000001")).status_code == 200
    posts = distributed.wait_for_posts(ACME.bot_token, 1)
    assert posts[0]["json"]["thread_ts"] == "1700000001.000001"
    assert not distributed.posts_with_token("xoxb-unused-single-workspace")


def test_oauth_state_is_single_use_and_a_forged_state_never_reaches_slack(distributed: Distributed) -> None:
    forged = distributed.client.get("/slack/oauth_redirect", params={"code": "code-acme", "state": "forged"})
    assert forged.status_code == 400
    assert not distributed.slack.calls("/api/oauth.v2.access")

    page = distributed.client.get("/slack/install")
    state = re.search(r"state=([^&\"]+)", page.text)
    assert state is not None
    first = distributed.client.get(
        "/slack/oauth_redirect", params={"code": "code-acme", "state": state.group(1)}
    )
    assert first.status_code == 200
    replay = distributed.client.get(
        "/slack/oauth_redirect", params={"code": "code-acme", "state": state.group(1)}
    )
    assert replay.status_code == 400
    assert len(distributed.slack.calls("/api/oauth.v2.access")) == 1


def test_events_from_a_workspace_that_never_installed_are_not_answered(distributed: Distributed) -> None:
    distributed.post_event(_dm("T0NEVER", "EvNever00001"))
    time.sleep(0.5)
    assert not distributed.slack.calls("/api/chat.postMessage")


def test_uninstall_forgets_the_workspace_token(distributed: Distributed) -> None:
    assert distributed.install("code-acme").status_code == 200
    uninstalled = {
        "token": "ignored",
        "team_id": "T0ACME",
        "api_app_id": ACME.app_id,
        "type": "event_callback",
        "event_id": "EvUninstall1",
        "event_time": 1700000002,
        "event": {"type": "app_uninstalled"},
    }
    assert distributed.post_event(uninstalled).status_code == 200
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with distributed.engine.connect() as connection:
            if not connection.execute(select(BOTS_TABLE.c.id)).all():
                break
        time.sleep(0.05)
    with distributed.engine.connect() as connection:
        assert connection.execute(select(BOTS_TABLE.c.id)).all() == []
