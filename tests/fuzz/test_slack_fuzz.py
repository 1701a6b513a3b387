"""Slack's HTTP endpoints under hostile input, through the product's router and bolt app.

``/slack/events``, ``/slack/interactions`` and ``/slack/commands`` get arbitrary bodies, content types and
JSON shapes, validly signed (so parsing runs past the signature check) and badly signed. Never a 5xx,
never an exception escaping; unsigned or badly signed → 401, malformed → 400, else Slack's 200 ack (or
bolt's 404 for a request no listener handles). A well-formed message from a person always ends in a post
in their thread (an answer or an apology with a reference), or in a deliberate ignore (empty text).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from slack_bolt.adapter.fastapi import SlackRequestHandler
from slack_sdk.signature import SignatureVerifier

from services.admin.views import slack as slack_views
from services.bot.app import BotDeps, build_bolt_app
from services.bot.dedupe import MemoryDeduper
from services.bot.inbound import _MENTION
from tests.emulators.harness import serve_emulator
from tests.emulators.slack_web_api import build_app as build_slack_emulator
from tests.fuzz.strategies import (
    awkward_text,
    field_text,
    header_text,
    json_values,
    mutate_json,
    nesting_bombs,
)
from tests.fuzz.tally import examples, outcome, probe, status
from tests.unit.conversations.harness import build_world

SECRET = "fuzz-signing-secret"
TOKEN = "xoxb-fuzz-token"
TEAM = "T0DESKPILOT"
ENDPOINTS = ("/slack/events", "/slack/interactions", "/slack/commands")
ACK_STATUSES = {200, 400, 404}
_ids = itertools.count(1)


class _ErrorRecords(logging.Handler):
    """Bolt's own error log lines: an exception escaping a listener (bolt catches and logs it)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record.getMessage()[:300])


@dataclass(repr=False)
class SlackSite:
    client: TestClient
    workspace: Any
    errors: _ErrorRecords

    def post(self, path: str, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> int:
        timestamp = str(int(time.time()))
        signed = {
            "content-type": content_type,
            "x-slack-request-timestamp": timestamp,
            "x-slack-signature": sign(timestamp, body),
        }
        response = self.client.post(path, content=body, headers=headers if headers is not None else signed)
        return response.status_code

    def bot_posts(self, channel: str) -> list[dict[str, Any]]:
        return [dict(m) for m in list(self.workspace.messages.get(channel, [])) if m.get("bot_id")]


def sign(timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(SECRET.encode(), base, hashlib.sha256).hexdigest()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlackSite]:
    tmp_path: Path = tmp_path_factory.mktemp("slack-fuzz")
    emulator_app, emulator_state = build_slack_emulator(bot_token=TOKEN, team_id=TEAM)
    errors = _ErrorRecords()
    bolt_logger = logging.getLogger("slack_bolt")
    bolt_logger.addHandler(errors)
    with serve_emulator(emulator_app, emulator_state) as slack:
        world = build_world(
            tmp_path,
            slack={"bot_token": TOKEN, "signing_secret": SECRET, "api_base_url": f"{slack.base_url}/api/"},
        )
        deps = BotDeps(
            orchestrator=world.orchestrator(),
            session_factory=world.sessions,
            deduper=MemoryDeduper(),
            public_url="https://deskpilot.example",
        )
        api = FastAPI()
        api.include_router(slack_views.router)  # the product's endpoints in front of the product's bolt app
        api.state.slack_handler = SlackRequestHandler(build_bolt_app(world.settings, deps))
        api.state.slack_verifier = SignatureVerifier(SECRET)
        with TestClient(api) as client:
            yield SlackSite(client, emulator_app.state.workspace, errors)
        world.engine.dispose()
    bolt_logger.removeHandler(errors)


# ---- well-formed payloads to mutate ---------------------------------------------------------------------


def message_event(text: str, *, user: str = "U0ALICE001", channel: str = "D0ALICE01") -> dict[str, Any]:
    n = next(_ids)
    ts = f"1700{n:06d}.000100"
    return {
        "token": "legacy",
        "team_id": TEAM,
        "api_app_id": "A0DESKPILOT",
        "type": "event_callback",
        "event_id": f"Ev0FUZZ{n:08d}",
        "event_time": 1700000000,
        "event": {
            "type": "message",
            "channel_type": "im",
            "channel": channel,
            "user": user,
            "text": text,
            "ts": ts,
            "event_ts": ts,
        },
    }


def block_action(action_id: str, value: str) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "team": {"id": TEAM},
        "user": {"id": "U0ALICE001"},
        "channel": {"id": "D0ALICE01"},
        "message": {"ts": "1700000000.000100", "thread_ts": "1700000000.000100"},
        "trigger_id": "123.456.abc",
        "actions": [{"action_id": action_id, "value": value, "type": "button"}],
    }


def view_submission() -> dict[str, Any]:
    return {
        "type": "view_submission",
        "team": {"id": TEAM},
        "user": {"id": "U0ALICE001"},
        "view": {
            "id": "V0FUZZ",
            "callback_id": "deskpilot_ticket",
            "private_metadata": "1|D0ALICE01|1700000000.000100",
            "state": {"values": {"title": {"value": {"value": "Printer"}}}},
        },
    }


def command_form(text: str) -> dict[str, str]:
    return {
        "team_id": TEAM,
        "user_id": "U0ALICE001",
        "command": "/helpdesk",
        "text": text,
        "trigger_id": "1.2.3",
        "response_url": "https://hooks.slack.example/commands/1",
    }


ACTION_IDS = st.sampled_from(
    [
        "deskpilot_confirm",
        "deskpilot_feedback_helpful",
        "deskpilot_open_ticket",
        "deskpilot_approval_approve",
        "deskpilot_handoff_claim",
        "deskpilot_home_tickets",
        "deskpilot_unknown",
    ]
)
paths = st.lists(
    st.sampled_from(
        [
            "event",
            "text",
            "user",
            "channel",
            "ts",
            "type",
            "team_id",
            "event_id",
            "actions",
            "team",
            "view",
            "state",
            "values",
            "message",
            "private_metadata",
            "subtype",
            "bot_id",
            "thread_ts",
            "channel_type",
        ]
    ),
    min_size=1,
    max_size=3,
)


@st.composite
def mutated_json_payload(draw: st.DrawFn) -> dict[str, Any]:
    base = draw(st.sampled_from(["event", "action", "view", "mention", "challenge", "home"]))
    text = draw(awkward_text)
    payload: dict[str, Any]
    if base == "event":
        payload = message_event(text)
    elif base == "mention":
        payload = message_event(f"<@U0DESKBOT> {text}")
        payload["event"]["type"] = "app_mention"
    elif base == "challenge":
        payload = {"type": "url_verification", "challenge": draw(json_values)}
    elif base == "home":
        payload = {
            "type": "event_callback",
            "team_id": TEAM,
            "event": {"type": "app_home_opened", "user": draw(json_values)},
        }
    elif base == "action":
        payload = block_action(draw(ACTION_IDS), draw(awkward_text))
    else:
        payload = view_submission()
    for _ in range(draw(st.integers(0, 3))):
        payload = mutate_json(payload, draw(json_values), draw(paths), draw(st.booleans()))
    if draw(st.booleans()):
        payload[draw(awkward_text)] = draw(json_values)  # an extra field
    return payload


@st.composite
def hostile_request(draw: st.DrawFn) -> tuple[str, bytes, str]:
    """(endpoint, body, content type) covering raw junk, JSON junk, forms and mutated real payloads."""
    path = draw(st.sampled_from(ENDPOINTS))
    content_type = draw(
        st.sampled_from(
            [
                "application/json",
                "application/json; charset=utf-8",
                "application/x-www-form-urlencoded",
                "text/plain",
                "multipart/form-data; boundary=x",
                "",
                "Application/JSON",
            ]
        )
    )
    kind = draw(st.sampled_from(["binary", "json", "mutated", "form", "payload", "bomb", "command", "text"]))
    body: bytes
    if kind == "binary":
        body = draw(st.binary(max_size=512))
    elif kind == "json":
        body = json.dumps(draw(json_values)).encode()
    elif kind == "mutated":
        body = json.dumps(draw(mutated_json_payload())).encode()
    elif kind == "form":
        body = urlencode(draw(st.dictionaries(awkward_text, awkward_text, max_size=4))).encode()
    elif kind == "payload":
        payload = draw(st.one_of(mutated_json_payload(), json_values))
        extra = draw(st.lists(st.tuples(st.sampled_from(["payload", "x"]), awkward_text), max_size=2))
        body = urlencode([("payload", json.dumps(payload)), *extra]).encode()
    elif kind == "bomb":
        bomb = draw(nesting_bombs)
        body = b"payload=" + bomb if draw(st.booleans()) else bomb
    elif kind == "command":
        form = command_form(draw(field_text)[:5000])
        for key in draw(st.lists(st.sampled_from(sorted(form)), max_size=3)):
            form.pop(key, None)
        body = urlencode(form).encode()
    else:
        body = draw(awkward_text).encode("utf-8", "surrogatepass")
    return path, body, content_type


def _no_listener_crashed(site: SlackSite) -> None:
    crashed = [r for r in site.errors.records if "Failed to run" in r or "Traceback" in r]
    assert not crashed, f"a Slack listener raised: {crashed[:3]}"


@examples(150)
@given(request=hostile_request())
def test_validly_signed_junk_is_acked_or_refused_never_5xx(
    site: SlackSite, request: tuple[str, bytes, str]
) -> None:
    path, body, content_type = request
    with probe("slack.signed_junk") as totals:
        code = status("slack.signed_junk", site.post(path, body, content_type))
        assert code in ACK_STATUSES, f"{path} answered {code} to {body[:200]!r} ({content_type})"
        if code >= 500:
            totals.failures.append(f"{path} {code}: {body[:120]!r}")
    _no_listener_crashed(site)


@examples(120)
@given(
    path=st.sampled_from(ENDPOINTS),
    change=st.sampled_from(
        [
            "no-signature",
            "no-timestamp",
            "junk-signature",
            "junk-timestamp",
            "stale",
            "future",
            "replay-other-body",
            "other-secret",
            "nothing",
        ]
    ),
    junk=header_text,
    skew=st.integers(301, 10**9),
)
def test_unsigned_or_badly_signed_requests_get_401(
    site: SlackSite, path: str, change: str, junk: str, skew: int
) -> None:
    body = json.dumps(message_event("my vpn keeps dropping")).encode()
    now = int(time.time())
    timestamp, signature = str(now), sign(str(now), body)
    headers = {
        "content-type": "application/json",
        "x-slack-request-timestamp": timestamp,
        "x-slack-signature": signature,
    }
    if change == "no-signature":
        del headers["x-slack-signature"]
    elif change == "no-timestamp":
        del headers["x-slack-request-timestamp"]
    elif change == "junk-signature":
        headers["x-slack-signature"] = junk if junk != signature else junk + "0"
    elif change == "junk-timestamp":
        headers["x-slack-request-timestamp"] = junk if junk != timestamp else "x"
    elif change in ("stale", "future"):
        moved = str(now - skew if change == "stale" else now + skew)
        headers |= {"x-slack-request-timestamp": moved, "x-slack-signature": sign(moved, body)}
    elif change == "replay-other-body":  # a captured signature replayed with another body
        headers["x-slack-signature"] = sign(
            timestamp, json.dumps(message_event("approve my access")).encode()
        )
    elif change == "other-secret":
        base = b"v0:" + timestamp.encode() + b":" + body
        headers["x-slack-signature"] = "v0=" + hmac.new(b"not-the-secret", base, hashlib.sha256).hexdigest()
    else:
        headers = {"content-type": "application/json"}
    with probe("slack.bad_signature"):
        wire = {
            key.encode(): value.encode("latin-1") for key, value in headers.items()
        }  # header bytes as sent
        code = status("slack.bad_signature", site.client.post(path, content=body, headers=wire).status_code)
        assert code == 401, f"{change}: {code}"


def _wait_for_reply(site: SlackSite, channel: str, thread_ts: str, timeout: float = 15.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        posts = [p for p in site.bot_posts(channel) if p.get("thread_ts") == thread_ts]
        if posts:
            return posts[0]
        time.sleep(0.02)
    raise AssertionError(f"no reply in {channel} thread {thread_ts}")


@examples(25)
@given(
    text=st.one_of(
        field_text.map(lambda t: t[:20_000]),
        st.sampled_from(["my vpn keeps dropping", "i need adobe acrobat", "talk to a human"]),
    ),
    user=st.sampled_from(["U0ALICE001", "U0BOB00001", "U0NOBODY01"]),
    mention=st.booleans(),
    in_thread=st.booleans(),
)
def test_a_message_from_a_person_always_gets_a_reply(
    site: SlackSite, text: str, user: str, mention: bool, in_thread: bool
) -> None:
    channel = f"D0FUZZ{next(_ids):06d}"
    body = message_event(f"<@U0DESKBOT> {text}" if mention else text, user=user, channel=channel)
    if in_thread:
        body["event"]["thread_ts"] = "1699999999.000100"
    thread_ts = body["event"].get("thread_ts", body["event"]["ts"])
    raw = json.dumps(body).encode()
    with probe("slack.person_message"):
        code = status("slack.person_message", site.post("/slack/events", raw, "application/json"))
        assert code == 200
        if not _MENTION.sub("", body["event"]["text"]).strip():
            outcome("slack.person_message", "ignored: empty message")
            return
        reply = _wait_for_reply(site, channel, thread_ts)
        assert reply["text"].strip()
        outcome("slack.person_message", "apology" if "Reference:" in reply["text"] else "reply")
        # The same event delivered again (Slack's retry) is deliberately not answered twice.
        retry = {"x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout"}
        now = str(int(time.time()))
        headers = {
            "content-type": "application/json",
            "x-slack-request-timestamp": now,
            "x-slack-signature": sign(now, raw),
        }
        assert site.client.post("/slack/events", content=raw, headers=headers | retry).status_code == 200
        time.sleep(0.05)
        assert len([p for p in site.bot_posts(channel) if p.get("thread_ts") == thread_ts]) == 1
    _no_listener_crashed(site)


@examples(20)
@given(bomb=nesting_bombs, path=st.sampled_from(ENDPOINTS), as_form=st.booleans())
def test_absurdly_nested_json_is_a_400_not_a_crash(
    site: SlackSite, bomb: bytes, path: str, as_form: bool
) -> None:
    body = b"payload=" + bomb if as_form else bomb
    content_type = "application/x-www-form-urlencoded" if as_form else "application/json"
    with probe("slack.nesting_bomb"):
        assert status("slack.nesting_bomb", site.post(path, body, content_type)) == 400
