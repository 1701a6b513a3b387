"""Access request end to end in Slack: confirm → the manager gets Approve/Deny in a DM → only the manager's
press counts → the licence group is granted and the requester is told in the original thread."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from slack_bolt.adapter.fastapi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import select

from services.admin.views import slack as slack_views
from services.automations.context import configure_automation_context
from services.automations.models import AutomationRun, AutomationState
from services.automations.notify import APPROVE_ACTION, SlackNotifier
from services.automations.runner import AutomationContext
from services.bot.app import BotDeps, build_bolt_app
from services.bot.dedupe import MemoryDeduper
from services.bot.runtime import decide_approval, dispatch_run
from services.common.db import session_scope
from services.directory.identity import BuiltinIdentityProvider
from services.directory.models import Employee, Group
from services.tickets.builtin import BuiltinTicketSystem
from services.worker.celery_app import create_celery_app
from tests.emulators.harness import serve_emulator
from tests.emulators.slack_web_api import build_app as build_slack_emulator
from tests.unit.bot.test_slack_end_to_end import SECRET, TEAM, TOKEN, Bot, _bot_posts, _dm
from tests.unit.conversations.harness import build_world


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[Bot]:
    slack_app_, slack_state = build_slack_emulator(bot_token=TOKEN, team_id=TEAM)
    with serve_emulator(slack_app_, slack_state) as slack:
        api_url = f"{slack.base_url}/api/"
        world = build_world(
            tmp_path, slack={"bot_token": TOKEN, "signing_secret": SECRET, "api_base_url": api_url}
        )
        sessions = world.sessions
        with session_scope(sessions) as db_session:
            bob = Employee(
                email="bob@example.com",
                display_name="Bob Okafor",
                slack_team_id=TEAM,
                slack_user_id="U0BOB00002",
            )
            alice = Employee(
                email="alice@example.com",
                display_name="Alice Moreau",
                slack_team_id=TEAM,
                slack_user_id="U0ALICE001",
                manager=bob,
            )
            db_session.add_all([bob, alice, Group(name="app-adobe-acrobat")])
        create_celery_app(world.settings)  # no broker: eager, the same task code
        client = WebClient(token=TOKEN, base_url=api_url)
        configure_automation_context(
            AutomationContext(
                session_factory=sessions,
                tickets=BuiltinTicketSystem(sessions, public_url="https://deskpilot.example"),
                identity=BuiltinIdentityProvider(sessions),
                notifier=SlackNotifier(sessions, lambda _team: client),
            )
        )
        deps = BotDeps(
            orchestrator=world.orchestrator(),
            session_factory=sessions,
            deduper=MemoryDeduper(),
            public_url="https://deskpilot.example",
            dispatch=dispatch_run,
            approvals=decide_approval,
        )
        api = FastAPI()
        api.include_router(slack_views.router)
        api.state.slack_handler = SlackRequestHandler(build_bolt_app(world.settings, deps))
        api.state.slack_verifier = SignatureVerifier(SECRET)
        with TestClient(api) as http:
            yield Bot(http, slack, sessions, world.fail)
        configure_automation_context(None)
        world.engine.dispose()


def _button(post: dict[str, Any], action_id: str) -> dict[str, Any]:
    return next(
        e
        for b in post.get("blocks", [])
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == action_id
    )


def _press(bot: Bot, user: str, channel: str, post: dict[str, Any], button: dict[str, Any]) -> None:
    payload = {
        "type": "block_actions",
        "team": {"id": TEAM},
        "user": {"id": user},
        "channel": {"id": channel},
        "message": {"ts": post["ts"], **({"thread_ts": post["thread_ts"]} if post.get("thread_ts") else {})},
        "trigger_id": "123.456.abc",
        "actions": [{"action_id": button["action_id"], "value": button["value"], "type": "button"}],
    }
    assert bot.press(payload).status_code == 200


def _run(bot: Bot) -> AutomationRun:
    with session_scope(bot.sessions) as db_session:
        run = db_session.scalars(select(AutomationRun)).one()
        db_session.expunge(run)
        return run


def test_manager_approval_in_slack_grants_the_licence_and_tells_the_requester(bot: Bot) -> None:
    assert bot.post_event(_dm("i need adobe acrobat", event_id="EvAcc1")).status_code == 200
    post = _bot_posts(bot.wait_for(lambda s: bool(_bot_posts(s, "D0ALICE01"))), "D0ALICE01")[0]
    _press(bot, "U0ALICE001", "D0ALICE01", post, _button(post, "deskpilot_confirm"))

    def manager_asked(state: dict[str, Any]) -> bool:
        return any(
            APPROVE_ACTION in json.dumps(ms) for c, ms in state["messages"].items() if c != "D0ALICE01"
        )

    state = bot.wait_for(manager_asked)
    manager_channel, request = next(
        (c, m)
        for c, ms in state["messages"].items()
        if c != "D0ALICE01"
        for m in ms
        if APPROVE_ACTION in json.dumps(m)
    )
    assert "Alice Moreau asks for Adobe Acrobat Pro" in request["text"]
    # The request is posted to the manager just before the run's new state is committed: wait for it.
    deadline = time.monotonic() + 10
    while _run(bot).state is not AutomationState.AWAITING_APPROVAL and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _run(bot).state is AutomationState.AWAITING_APPROVAL
    bot.wait_for(lambda s: any("asked your manager" in m["text"] for m in _bot_posts(s, "D0ALICE01")))

    _press(bot, "U0ALICE001", manager_channel, request, _button(request, APPROVE_ACTION))  # not her manager
    bot.wait_for(lambda s: "Only the requester's manager" in json.dumps(s["ephemeral"]))
    assert _run(bot).state is AutomationState.AWAITING_APPROVAL

    _press(bot, "U0BOB00002", manager_channel, request, _button(request, APPROVE_ACTION))
    state = bot.wait_for(lambda s: any("is yours" in m["text"] for m in _bot_posts(s, "D0ALICE01")))
    told = next(m for m in _bot_posts(state, "D0ALICE01") if "is yours" in m["text"])
    assert told["thread_ts"] == post["thread_ts"]  # in the request's own thread
    updated = next(m for m in state["messages"][manager_channel] if m["ts"] == request["ts"])
    assert "You approved request AR-" in updated["text"]
    run = _run(bot)
    assert run.state is AutomationState.SUCCEEDED and run.approver_id is not None
    with session_scope(bot.sessions) as db_session:
        alice = db_session.scalars(select(Employee).where(Employee.email == "alice@example.com")).one()
        assert "app-adobe-acrobat" in alice.group_names
