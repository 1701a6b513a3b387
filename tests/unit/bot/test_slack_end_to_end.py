"""Signed Slack requests through the HTTP endpoint to the bolt app, answered into the Slack emulator.

The payloads start from real captured ones (../shared/datasets/slack); signatures are made with the SDK's
verifier, whose algorithm is checked against Slack's published test vector.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from slack_bolt.adapter.fastapi import SlackRequestHandler
from slack_sdk.signature import Clock, SignatureVerifier
from sqlalchemy import func, select

from services.admin.views import slack as slack_views
from services.bot.app import APOLOGY, BotDeps, build_bolt_app
from services.bot.dedupe import MemoryDeduper
from services.bot.ratelimit import MemoryRateLimiter
from services.common.db import session_scope
from services.conversations.models import Message
from services.directory.models import Employee
from tests.emulators.harness import RunningEmulator, serve_emulator
from tests.emulators.slack_web_api import build_app as build_slack_emulator
from tests.unit.conversations.harness import build_world

SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "datasets" / "slack"
SECRET = "test-signing-secret"
TOKEN = "xoxb-test-token"
TEAM = "T0DESKPILOT"


def test_signature_algorithm_matches_slacks_published_vector() -> None:
    vector = json.loads((SHARED / "signing_test_vector.json").read_text())["vector"]
    verifier = SignatureVerifier(vector["signing_secret"], clock=_FixedClock(int(vector["timestamp"])))
    assert (
        verifier.generate_signature(timestamp=vector["timestamp"], body=vector["body"])
        == vector["expected_signature"]
    )
    headers = {
        "x-slack-request-timestamp": vector["timestamp"],
        "x-slack-signature": vector["expected_signature"],
    }
    assert verifier.is_valid_request(vector["body"], headers)
    assert not verifier.is_valid_request(vector["body"] + "------", headers)


class _FixedClock(Clock):
    def __init__(self, now: int) -> None:
        self._now = now

    def now(self) -> float:
        return float(self._now)


def _sign(timestamp: str, body: str) -> str:
    signature = SignatureVerifier(SECRET).generate_signature(timestamp=timestamp, body=body)
    assert signature is not None
    return signature


@dataclass
class Bot:
    client: TestClient
    slack: RunningEmulator
    sessions: Any
    fail: list[bool]

    def post_event(
        self,
        body: dict[str, Any],
        *,
        timestamp: int | None = None,
        retry: int | None = None,
        signature: str | None = None,
        raw: str | None = None,
    ) -> Any:
        payload = raw if raw is not None else json.dumps(body)
        ts = str(timestamp if timestamp is not None else int(time.time()))
        headers = {
            "content-type": "application/json",
            "x-slack-request-timestamp": ts,
            "x-slack-signature": signature or _sign(ts, payload),
        }
        if retry is not None:
            headers |= {"x-slack-retry-num": str(retry), "x-slack-retry-reason": "http_timeout"}
        return self.client.post("/slack/events", content=payload, headers=headers)

    def command(self, text: str) -> Any:
        captured = (SHARED / "captured-payloads-opsdroid" / "payload_slash_command.urlencoded").read_text()
        form = {k: v[0] for k, v in parse_qs(captured, keep_blank_values=True).items()}
        form.update(team_id=TEAM, user_id="U0ALICE001", command="/helpdesk", text=text)
        body = urlencode(form)
        ts = str(int(time.time()))
        return self.client.post(
            "/slack/commands",
            content=body,
            headers={
                "content-type": "application/x-www-form-urlencoded",
                "x-slack-request-timestamp": ts,
                "x-slack-signature": _sign(ts, body),
            },
        )

    def press(self, payload: dict[str, Any]) -> Any:
        body = urlencode({"payload": json.dumps(payload)})
        ts = str(int(time.time()))
        return self.client.post(
            "/slack/interactions",
            content=body,
            headers={
                "content-type": "application/x-www-form-urlencoded",
                "x-slack-request-timestamp": ts,
                "x-slack-signature": _sign(ts, body),
            },
        )

    def state(self) -> dict[str, Any]:
        data: dict[str, Any] = httpx.get(f"{self.slack.base_url}/_state", timeout=5).json()
        return data

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.state()
            if predicate(state):
                return state
            time.sleep(0.05)
        raise AssertionError(f"Slack emulator never reached the expected state: {self.state()}")


def _bot_posts(state: dict[str, Any], channel: str) -> list[dict[str, Any]]:
    return [m for m in state["messages"].get(channel, []) if m.get("bot_id") or m.get("user") == "U0DESKBOT"]


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[Bot]:
    slack_app_, slack_state = build_slack_emulator(bot_token=TOKEN, team_id=TEAM)
    with serve_emulator(slack_app_, slack_state) as slack:
        world = build_world(
            tmp_path,
            slack={"bot_token": TOKEN, "signing_secret": SECRET, "api_base_url": f"{slack.base_url}/api/"},
        )
        settings, sessions, fail = world.settings, world.sessions, world.fail
        orchestrator = world.orchestrator()
        deps = BotDeps(
            orchestrator=orchestrator,
            session_factory=sessions,
            deduper=MemoryDeduper(),
            public_url="https://deskpilot.example",
            rate_limiter=MemoryRateLimiter(limit=3),
            handoff_channel="C0ITHELP",
        )
        slack_app = build_bolt_app(settings, deps)
        api = FastAPI()
        api.include_router(slack_views.router)  # the product's own endpoints
        api.state.slack_handler = SlackRequestHandler(slack_app)
        api.state.slack_verifier = SignatureVerifier(SECRET)

        with TestClient(api) as client:
            yield Bot(client, slack, sessions, fail)
        world.engine.dispose()


def _dm(
    text: str, event_id: str = "Ev0001", user: str = "U0ALICE001", ts: str = "1700000000.000100"
) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(
        (SHARED / "captured-payloads-opsdroid" / "payload_message.json").read_text()
    )
    body.update(team_id=TEAM, event_id=event_id)
    body["event"].update(text=text, user=user, ts=ts, event_ts=ts, channel="D0ALICE01", channel_type="im")
    return body


def test_dm_is_acked_then_answered_once_in_thread_with_eyes_added_and_removed(bot: Bot) -> None:
    started = time.perf_counter()
    response = bot.post_event(_dm("my vpn keeps dropping"))
    assert response.status_code == 200 and time.perf_counter() - started < 3
    state = bot.wait_for(lambda s: bool(_bot_posts(s, "D0ALICE01")))
    posts = _bot_posts(state, "D0ALICE01")
    assert len(posts) == 1 and posts[0]["thread_ts"] == "1700000000.000100"
    assert any(b["type"] == "actions" for b in posts[0]["blocks"])
    assert "VPN keeps dropping" in json.dumps(posts[0]["blocks"])
    calls = [c["path"] for c in bot.slack.calls("/api/")]
    assert (
        calls.index("/api/reactions.add")
        < calls.index("/api/chat.postMessage")
        < calls.index("/api/reactions.remove")
    )
    with session_scope(bot.sessions) as db_session:
        alice = db_session.scalars(select(Employee).where(Employee.slack_user_id == "U0ALICE001")).one()
        assert alice.email == "alice@example.com"  # resolved through users.info


def test_redelivered_event_is_not_answered_twice(bot: Bot) -> None:
    assert bot.post_event(_dm("my vpn keeps dropping", event_id="Ev0002")).status_code == 200
    bot.wait_for(lambda s: len(_bot_posts(s, "D0ALICE01")) == 1)
    assert bot.post_event(_dm("my vpn keeps dropping", event_id="Ev0002"), retry=1).status_code == 200
    time.sleep(0.5)
    assert len(_bot_posts(bot.state(), "D0ALICE01")) == 1
    with session_scope(bot.sessions) as db_session:
        assert db_session.scalar(select(func.count()).select_from(Message)) == 2


def test_failure_after_ack_posts_an_apology_with_reference_and_clears_eyes(bot: Bot) -> None:
    bot.fail[0] = True
    assert bot.post_event(_dm("my vpn keeps dropping", event_id="Ev0003")).status_code == 200
    state = bot.wait_for(lambda s: bool(_bot_posts(s, "D0ALICE01")))
    text = _bot_posts(state, "D0ALICE01")[0]["text"]
    assert text.startswith(APOLOGY.split("{")[0]) and "ERR-" in text
    bot.wait_for(lambda s: not any(s["reactions"].values()) or all(not v for v in s["reactions"].values()))


def test_confirmation_button_press_records_one_automation(bot: Bot) -> None:
    assert bot.post_event(_dm("i need adobe acrobat", event_id="Ev0004")).status_code == 200
    state = bot.wait_for(lambda s: bool(_bot_posts(s, "D0ALICE01")))
    post = _bot_posts(state, "D0ALICE01")[0]
    confirm = next(
        e
        for b in post["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "deskpilot_confirm"
    )
    payload = {
        "type": "block_actions",
        "team": {"id": TEAM},
        "user": {"id": "U0ALICE001"},
        "channel": {"id": "D0ALICE01"},
        "message": {"ts": post["ts"], "thread_ts": post["thread_ts"]},
        "trigger_id": "123.456.abc",
        "actions": [{"action_id": confirm["action_id"], "value": confirm["value"], "type": "button"}],
    }
    assert bot.press(payload).status_code == 200
    state = bot.wait_for(lambda s: len(_bot_posts(s, "D0ALICE01")) == 2)
    assert "Your request is in (reference AR-" in _bot_posts(state, "D0ALICE01")[1]["text"]


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"signature": "v0=" + "0" * 64}, 401),
        ({"timestamp": int(time.time()) - 600}, 401),
        ({"raw": '{"type": "event_callback", "event": '}, 400),
        ({"raw": "[1, 2, 3]"}, 400),
    ],
    ids=["wrong-signature", "older-than-5-minutes", "malformed-json", "json-not-object"],
)
def test_bad_requests_are_refused_and_nothing_is_posted(
    bot: Bot, change: dict[str, Any], status: int
) -> None:
    response = bot.post_event(_dm("my vpn keeps dropping", event_id="Ev0005"), **change)
    assert response.status_code == status
    time.sleep(0.3)
    assert bot.slack.calls("/api/chat.postMessage") == []


def test_an_employee_over_the_rate_limit_gets_a_polite_ephemeral_note(bot: Bot) -> None:
    for n in range(4):
        assert (
            bot.post_event(_dm("hello", event_id=f"EvRate{n}", ts=f"1700000001.00010{n}")).status_code == 200
        )
    state = bot.wait_for(lambda s: bool(s["ephemeral"]))
    notes = (
        [m for messages in state["ephemeral"].values() for m in messages]
        if isinstance(state["ephemeral"], dict)
        else state["ephemeral"]
    )
    assert any("faster than I can keep up" in json.dumps(note) for note in notes)
    bot.wait_for(lambda s: len(_bot_posts(s, "D0ALICE01")) == 3)


def test_slash_command_acks_at_once_and_answers_in_a_dm_thread(bot: Bot) -> None:
    help_response = bot.command("")
    assert help_response.status_code == 200 and "/helpdesk status" in help_response.text
    response = bot.command("my vpn keeps dropping")
    assert response.status_code == 200 and "direct messages" in response.text
    state = bot.wait_for(lambda s: any(len(ms) >= 2 for ms in s["messages"].values()))
    channel, messages = next((c, ms) for c, ms in state["messages"].items() if len(ms) >= 2)
    assert channel.startswith("D") and messages[0]["text"].startswith("/helpdesk my vpn keeps dropping")
    assert messages[1]["thread_ts"] == messages[0]["ts"] and "VPN keeps dropping" in json.dumps(messages[1])


def test_app_home_shows_requests_and_recent_answers_and_its_buttons_work(bot: Bot) -> None:
    assert bot.post_event(_dm("my vpn keeps dropping", event_id="EvHome1")).status_code == 200
    bot.wait_for(lambda s: bool(_bot_posts(s, "D0ALICE01")))
    opened = {
        "team_id": TEAM,
        "event_id": "EvHome2",
        "type": "event_callback",
        "event": {
            "type": "app_home_opened",
            "user": "U0ALICE001",
            "channel": "D0ALICE01",
            "tab": "home",
            "event_ts": "1700000002.000100",
        },
    }
    assert bot.post_event(opened).status_code == 200
    state = bot.wait_for(lambda s: "U0ALICE001" in s["home_views"])
    home = json.dumps(state["home_views"]["U0ALICE001"])
    assert "Recent answers" in home and "VPN keeps dropping" in home and "deskpilot_home_status" in home
    payload = {
        "type": "block_actions",
        "team": {"id": TEAM},
        "user": {"id": "U0ALICE001"},
        "trigger_id": "1.2.a",
        "actions": [{"action_id": "deskpilot_home_status", "type": "button"}],
    }
    assert bot.press(payload).status_code == 200
    bot.wait_for(
        lambda s: any(
            "no open tickets or requests" in json.dumps(m) for ms in s["messages"].values() for m in ms
        )
    )


def test_open_ticket_button_opens_a_prefilled_modal_and_submission_is_validated_then_recorded(
    bot: Bot,
) -> None:
    from services.automations.models import AutomationRun

    assert bot.post_event(_dm("my vpn keeps dropping at the hotel", event_id="EvT1")).status_code == 200
    post = _bot_posts(bot.wait_for(lambda s: bool(_bot_posts(s, "D0ALICE01"))), "D0ALICE01")[0]
    ticket = next(
        e
        for b in post["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "deskpilot_open_ticket"
    )
    press = {
        "type": "block_actions",
        "team": {"id": TEAM},
        "user": {"id": "U0ALICE001"},
        "channel": {"id": "D0ALICE01"},
        "message": {"ts": post["ts"], "thread_ts": post["thread_ts"]},
        "trigger_id": "12345.67890.abcdef",
        "actions": [{"action_id": ticket["action_id"], "value": ticket["value"], "type": "button"}],
    }
    assert bot.press(press).status_code == 200
    state = bot.wait_for(lambda s: bool(s["views"]))
    view = next(iter(state["views"].values()))
    assert "my vpn keeps dropping at the hotel" in json.dumps(view)

    def submission(title: str, description: str) -> dict[str, Any]:
        values = {
            "title": {"value": {"type": "plain_text_input", "value": title}},
            "description": {"value": {"type": "plain_text_input", "value": description}},
            "urgency": {"value": {"type": "static_select", "selected_option": {"value": "high"}}},
        }
        return {
            "type": "view_submission",
            "team": {"id": TEAM},
            "user": {"id": "U0ALICE001"},
            "trigger_id": "1.2.3",
            "view": {**view, "id": view["id"], "state": {"values": values}},
        }

    refused = bot.press(submission("", "no"))
    assert refused.status_code == 200
    assert refused.json()["response_action"] == "errors" and set(refused.json()["errors"]) == {
        "title",
        "description",
    }
    accepted = bot.press(submission("VPN drops at the hotel", "GlobalProtect disconnects every few minutes"))
    assert accepted.status_code == 200
    state = bot.wait_for(
        lambda s: any("Your request is in" in json.dumps(m) for m in s["messages"]["D0ALICE01"])
    )
    bot.press(
        submission("VPN drops at the hotel", "GlobalProtect disconnects every few minutes")
    )  # double submit
    time.sleep(0.5)
    with session_scope(bot.sessions) as db_session:
        run = db_session.scalars(select(AutomationRun)).one()
        assert run.params == {
            "title": "VPN drops at the hotel",
            "description": "GlobalProtect disconnects every few minutes",
            "urgency": "high",
        }


def _channel_event(
    text: str, *, user: str, channel: str, thread_ts: str, event_id: str, ts: str
) -> dict[str, Any]:
    body = _dm(text, event_id=event_id, user=user, ts=ts)
    body["event"].update(channel=channel, channel_type="channel", thread_ts=thread_ts)
    return body


def test_handoff_goes_to_the_it_channel_and_messages_are_relayed_after_a_claim(bot: Bot) -> None:
    assert bot.post_event(_dm("talk to a human", event_id="EvH1")).status_code == 200
    state = bot.wait_for(lambda s: bool(s["messages"].get("C0ITHELP")))
    it_post = state["messages"]["C0ITHELP"][0]
    assert "asked for a person" in it_post["text"] and "deskpilot_handoff_claim" in json.dumps(
        it_post["blocks"]
    )
    assert "IT team" in _bot_posts(state, "D0ALICE01")[0]["text"]

    # A colleague chatting in an unrelated channel thread is left alone.
    assert (
        bot.post_event(
            _channel_event(
                "lunch?", user="U0BOB00002", channel="C0RANDOM", thread_ts="1.1", event_id="EvH0", ts="1.2"
            )
        ).status_code
        == 200
    )

    claim = {
        "type": "block_actions",
        "team": {"id": TEAM},
        "user": {"id": "U0BOB00002"},
        "channel": {"id": "C0ITHELP"},
        "message": {"ts": it_post["ts"]},
        "trigger_id": "9.9.f",
        "actions": [
            {
                "action_id": "deskpilot_handoff_claim",
                "value": it_post["blocks"][1]["elements"][0]["value"],
                "type": "button",
            }
        ],
    }
    assert bot.press(claim).status_code == 200
    state = bot.wait_for(lambda s: any("has joined" in m["text"] for m in s["messages"]["D0ALICE01"]))
    assert "Claimed by <@U0BOB00002>" in state["messages"]["C0ITHELP"][0]["text"]

    agent = _channel_event(
        "Hi Alice, can you restart GlobalProtect?",
        user="U0BOB00002",
        channel="C0ITHELP",
        thread_ts=it_post["ts"],
        event_id="EvH2",
        ts="1700000009.000100",
    )
    assert bot.post_event(agent).status_code == 200
    bot.wait_for(lambda s: any("restart GlobalProtect" in m["text"] for m in s["messages"]["D0ALICE01"]))

    employee = _dm("done, it works now", event_id="EvH3", ts="1700000010.000100")
    employee["event"]["thread_ts"] = "1700000000.000100"
    assert bot.post_event(employee).status_code == 200
    state = bot.wait_for(lambda s: any("it works now" in m["text"] for m in s["messages"]["C0ITHELP"]))
    time.sleep(0.3)
    assert not any("C0RANDOM" == c for c in bot.state()["messages"])
    with session_scope(bot.sessions) as db_session:
        roles = [m.role.value for m in db_session.scalars(select(Message).order_by(Message.id))]
    assert roles[-2:] == ["agent", "employee"]
