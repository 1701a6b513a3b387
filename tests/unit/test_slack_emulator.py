"""The Slack Web API emulator, driven by the official ``slack_sdk.WebClient`` over real HTTP on localhost."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from tests.emulators.harness import RunningEmulator, serve_emulator
from tests.emulators.slack_web_api import METHODS, SPEC_PATH, build_app, load_spec, method_contracts

TOKEN = "xoxb-test-token"
BOT = "U0DESKBOT"
ALICE = "U0ALICE001"
BOB = "U0BOB00002"
TRIGGER = "1785900466016.1761091294307.570d0e81a0429ccc47b150dc9fe53b02"
TS = re.compile(r"^\d{10}\.\d{6}$")


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def modal(title: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": title},
        "blocks": [section("Describe the problem")],
        **extra,
    }


@pytest.fixture(scope="module")
def emulator() -> Iterator[RunningEmulator]:
    app, state = build_app(bot_token=TOKEN)
    with serve_emulator(app, state) as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh_emulator(emulator: RunningEmulator) -> None:
    emulator.reset()


@pytest.fixture
def client(emulator: RunningEmulator) -> WebClient:
    return WebClient(token=TOKEN, base_url=f"{emulator.base_url}/api/")


def slack_state(emulator: RunningEmulator) -> dict[str, Any]:
    response = httpx.get(f"{emulator.base_url}/_state", timeout=5)
    response.raise_for_status()
    state: dict[str, Any] = response.json()
    return state


def slack_error(call: Any, *args: Any, **kwargs: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as caught:
        call(*args, **kwargs)
    return caught.value


def test_post_message_json_body_stores_message_with_monotonic_ts(
    client: WebClient, emulator: RunningEmulator
) -> None:
    first = client.chat_postMessage(channel="C0GENERAL", text="Printer fixed", blocks=[section("Fixed")])
    second = client.chat_postMessage(channel="C0GENERAL", text="Second")

    assert first["ok"] and first["channel"] == "C0GENERAL" and TS.match(first["ts"])
    assert float(second["ts"]) > float(first["ts"])
    message = first["message"]
    assert message["text"] == "Printer fixed" and message["ts"] == first["ts"]
    assert message["user"] == BOT and message["bot_id"] == "B0DESKBOT" and message["type"] == "message"
    assert message["blocks"] == [section("Fixed")]
    stored = slack_state(emulator)["messages"]["C0GENERAL"]
    assert [m["text"] for m in stored] == ["Printer fixed", "Second"]


def test_calls_form_and_json_bodies_are_recorded(client: WebClient, emulator: RunningEmulator) -> None:
    client.api_call(
        "chat.postMessage", params={"channel": "C0FORM", "text": "form", "blocks": json.dumps([section("x")])}
    )
    client.chat_postMessage(channel="C0FORM", text="json")

    form_call, json_call = emulator.calls("/api/chat.postMessage")
    assert form_call["headers"]["content-type"].startswith("application/x-www-form-urlencoded")
    assert isinstance(form_call["json"], str) and "channel=C0FORM" in form_call["json"]
    assert json_call["headers"]["content-type"].startswith("application/json")
    assert json_call["json"] == {"channel": "C0FORM", "text": "json"}
    assert json_call["headers"]["authorization"] == f"Bearer {TOKEN}"
    assert slack_state(emulator)["messages"]["C0FORM"][0]["blocks"] == [section("x")]


def test_update_known_message_replaces_text_unknown_ts_is_message_not_found(client: WebClient) -> None:
    posted = client.chat_postMessage(channel="C0UPDATE", text="Working on it", blocks=[section("...")])

    updated = client.chat_update(channel="C0UPDATE", ts=posted["ts"], text="Done")

    assert updated["ts"] == posted["ts"] and updated["text"] == "Done"
    assert updated["message"]["text"] == "Done" and updated["message"]["blocks"] == [section("...")]
    error = slack_error(client.chat_update, channel="C0UPDATE", ts="1600000000.000001", text="x")
    assert error.response["error"] == "message_not_found"


def test_thread_replies_paginate_with_cursor(client: WebClient) -> None:
    parent = client.chat_postMessage(channel="C0THREAD", text="parent")["ts"]
    replies = [
        client.chat_postMessage(channel="C0THREAD", text=f"r{n}", thread_ts=parent)["ts"] for n in range(5)
    ]
    client.chat_postMessage(channel="C0THREAD", text="unrelated")

    first = client.conversations_replies(channel="C0THREAD", ts=parent, limit=2)
    paginated = client.conversations_replies(channel="C0THREAD", ts=parent, limit=2)
    pages = [page["messages"] for page in paginated]

    assert first["has_more"] and first["response_metadata"]["next_cursor"]
    assert [len(p) for p in pages] == [2, 2, 2]
    messages = [m for page in pages for m in page]
    assert [m["text"] for m in messages] == ["parent", "r0", "r1", "r2", "r3", "r4"]
    head = messages[0]
    assert head["thread_ts"] == parent and head["reply_count"] == 5 and head["latest_reply"] == replies[-1]
    assert head["reply_users"] == [BOT] and head["reply_users_count"] == 1
    assert all(m["thread_ts"] == parent and m["parent_user_id"] == BOT for m in messages[1:])
    error = slack_error(client.conversations_replies, channel="C0THREAD", ts=parent, cursor="bm9wZQ==")
    assert error.response["error"] == "invalid_cursor"
    error = slack_error(client.conversations_replies, channel="C0THREAD", ts="1600000000.000001")
    assert error.response["error"] == "thread_not_found"


def test_delete_reply_updates_parent_unknown_ts_is_message_not_found(client: WebClient) -> None:
    parent = client.chat_postMessage(channel="C0DELETE", text="parent")["ts"]
    reply = client.chat_postMessage(channel="C0DELETE", text="reply", thread_ts=parent)["ts"]

    deleted = client.chat_delete(channel="C0DELETE", ts=reply)

    assert deleted["channel"] == "C0DELETE" and deleted["ts"] == reply
    thread = client.conversations_replies(channel="C0DELETE", ts=parent)["messages"]
    assert [m["text"] for m in thread] == ["parent"] and "reply_count" not in thread[0]
    error = slack_error(client.chat_delete, channel="C0DELETE", ts=reply)
    assert error.response["error"] == "message_not_found"


def test_post_ephemeral_returns_message_ts_and_stays_out_of_history(
    client: WebClient, emulator: RunningEmulator
) -> None:
    response = client.chat_postEphemeral(channel="C0EPHEM", user=ALICE, text="Only you can see this")

    assert TS.match(response["message_ts"])
    state = slack_state(emulator)
    assert "C0EPHEM" not in state["messages"]
    assert state["ephemeral"]["C0EPHEM"][0]["recipient"] == ALICE
    error = slack_error(client.chat_postEphemeral, channel="C0EPHEM", user="U0NOBODY", text="x")
    assert error.response["error"] == "user_not_in_channel"


def test_reactions_add_remove_and_duplicates(client: WebClient, emulator: RunningEmulator) -> None:
    ts = client.chat_postMessage(channel="C0REACT", text="Ticket INC0012 created")["ts"]

    assert client.reactions_add(channel="C0REACT", timestamp=ts, name="eyes")["ok"]
    error = slack_error(client.reactions_add, channel="C0REACT", timestamp=ts, name="eyes")
    assert error.response["error"] == "already_reacted"
    assert slack_state(emulator)["reactions"]["C0REACT"][ts] == {"eyes": [BOT]}
    message = client.conversations_replies(channel="C0REACT", ts=ts)["messages"][0]
    assert message["reactions"] == [{"name": "eyes", "users": [BOT], "count": 1}]
    assert client.reactions_remove(channel="C0REACT", timestamp=ts, name="eyes")["ok"]
    error = slack_error(client.reactions_remove, channel="C0REACT", timestamp=ts, name="eyes")
    assert error.response["error"] == "no_reaction"
    error = slack_error(client.reactions_add, channel="C0REACT", timestamp="1600000000.000001", name="eyes")
    assert error.response["error"] == "message_not_found"
    error = slack_error(client.reactions_add, channel="C0REACT", timestamp=ts, name=":eyes:")
    assert error.response["error"] == "invalid_name"


def test_views_open_update_with_hash_and_external_id(client: WebClient) -> None:
    opened = client.views_open(trigger_id=TRIGGER, view=modal("New ticket", external_id="ticket-form-1"))
    view = opened["view"]

    assert view["id"].startswith("V") and view["hash"] and view["root_view_id"] == view["id"]
    assert view["title"]["text"] == "New ticket" and view["state"] == {"values": {}}
    error = slack_error(client.views_update, view_id=view["id"], hash="1.stale", view=modal("Nope"))
    assert error.response["error"] == "hash_conflict"
    updated = client.views_update(view_id=view["id"], hash=view["hash"], view=modal("Step 2"))["view"]
    assert updated["id"] == view["id"] and updated["hash"] != view["hash"]
    by_external = client.views_update(external_id="ticket-form-1", view=modal("Step 3"))["view"]
    assert by_external["id"] == view["id"] and by_external["title"]["text"] == "Step 3"
    error = slack_error(client.views_update, view_id="V0MISSING", view=modal("x"))
    assert error.response["error"] == "not_found"
    error = slack_error(client.views_open, trigger_id="not-a-trigger", view=modal("x"))
    assert error.response["error"] == "invalid_arguments"
    assert error.response["response_metadata"]["messages"] == [
        "[ERROR] invalid `trigger_id` [json-pointer:/trigger_id]"
    ]
    error = slack_error(client.views_open, trigger_id=TRIGGER, view={"type": "modal", "blocks": []})
    assert error.response["response_metadata"]["messages"] == [
        "[ERROR] missing required field: title [json-pointer:/view]"
    ]


def test_views_publish_keeps_one_home_view_per_user(client: WebClient, emulator: RunningEmulator) -> None:
    home = {"type": "home", "blocks": [section("Your open tickets: none")]}

    first = client.views_publish(user_id=ALICE, view=home)["view"]
    again = client.views_publish(user_id=ALICE, view=home, hash=first["hash"])["view"]

    assert first["type"] == "home" and again["id"] == first["id"] and again["hash"] != first["hash"]
    assert slack_state(emulator)["home_views"][ALICE]["hash"] == again["hash"]
    error = slack_error(client.views_publish, user_id="U0NOBODY", view=home)
    assert error.response["error"] == "invalid_arguments"
    assert error.response["response_metadata"]["messages"] == ["invalid `user_id`"]
    assert slack_error(client.views_publish, user_id=ALICE, view=modal("x")).response["error"] == (
        "invalid_arguments"
    )


def test_users_info_and_lookup_by_email(client: WebClient) -> None:
    alice = client.users_info(user=ALICE)["user"]

    assert alice["id"] == ALICE and alice["name"] == "alice" and alice["tz"] == "Europe/Paris"
    assert alice["profile"]["email"] == "alice@example.com" and isinstance(alice["tz_offset"], int)
    assert client.users_lookupByEmail(email="ALICE@example.com")["user"]["id"] == ALICE
    bot = client.users_info(user=BOT)["user"]
    assert bot["is_bot"] and bot["profile"]["bot_id"] == "B0DESKBOT"
    assert slack_error(client.users_info, user="U0NOBODY").response["error"] == "user_not_found"
    error = slack_error(client.users_lookupByEmail, email="nobody@example.com")
    assert error.response["error"] == "users_not_found"


def test_users_mapping_replaces_default_users() -> None:
    app, state = build_app(users={"W0CAROL": {"name": "carol", "profile": {"email": "carol@corp.test"}}})
    with serve_emulator(app, state) as running:
        client = WebClient(token=TOKEN, base_url=f"{running.base_url}/api/")
        carol = client.users_lookupByEmail(email="carol@corp.test")["user"]
        assert carol["id"] == "W0CAROL" and carol["team_id"] == "T0DESKPILOT"
        assert slack_error(client.users_info, user=ALICE).response["error"] == "user_not_found"


def test_conversations_open_gives_stable_dm_id(client: WebClient, emulator: RunningEmulator) -> None:
    first = client.conversations_open(users=ALICE)
    second = client.conversations_open(users=[ALICE], return_im=True)

    dm = first["channel"]["id"]
    assert dm.startswith("D") and second["channel"]["id"] == dm and second["already_open"]
    assert second["channel"]["is_im"] and second["channel"]["user"] == ALICE
    assert client.chat_postMessage(channel=ALICE, text="Hi Alice")["channel"] == dm
    assert client.conversations_open(users=[ALICE, BOB])["channel"]["id"].startswith("G")
    assert slack_state(emulator)["dms"][ALICE] == dm
    assert slack_error(client.conversations_open, users="U0NOBODY").response["error"] == "user_not_found"
    assert slack_error(client.api_call, "conversations.open").response["error"] == "users_list_not_supplied"


SPEC_REQUIRED = [(m, arg) for m, contract in method_contracts().items() for arg in contract.required]
PROBE_VALUES = {
    "channel": "C0PROBE",
    "ts": "1700000000.000100",
    "timestamp": "1700000000.000100",
    "user": ALICE,
    "user_id": ALICE,
    "name": "eyes",
    "trigger_id": TRIGGER,
    "view": json.dumps(modal("x")),
    "email": "alice@example.com",
}


@pytest.mark.parametrize(("method", "absent"), SPEC_REQUIRED, ids=[f"{m}-{a}" for m, a in SPEC_REQUIRED])
def test_missing_required_argument_is_invalid_arguments(client: WebClient, method: str, absent: str) -> None:
    params = {arg: PROBE_VALUES[arg] for arg in method_contracts()[method].required if arg != absent}

    error = slack_error(client.api_call, method, params=params)

    assert error.response["error"] == "invalid_arguments"
    assert error.response["response_metadata"]["messages"] == [f"[ERROR] missing required field: {absent}"]


def test_required_arguments_equal_the_spec() -> None:
    """Read the spec independently of the emulator and compare, method by method."""
    paths = json.loads(SPEC_PATH.read_text("utf-8"))["paths"]
    app, _ = build_app()

    for method in METHODS:
        parameters = [p for operation in paths[f"/{method}"].values() for p in operation["parameters"]]
        expected = {p["name"] for p in parameters if p.get("required") and p["name"] != "token"}
        assert set(app.state.contracts[method].required) == expected, method
        assert {p["in"] for p in parameters if p["name"] == "token"} <= {"header", "query"}, method
    assert app.state.contracts["chat.postMessage"].required == ("channel",)
    assert set(app.state.contracts["reactions.add"].required) == {"channel", "name", "timestamp"}


def test_auth_bad_token_is_invalid_auth_missing_is_not_authed(emulator: RunningEmulator) -> None:
    api = f"{emulator.base_url}/api/"

    me = WebClient(token=TOKEN, base_url=api).auth_test()
    assert me["user_id"] == BOT and me["team_id"] == "T0DESKPILOT" and me["bot_id"] == "B0DESKBOT"
    wrong = WebClient(token="xoxb-wrong", base_url=api)
    assert slack_error(wrong.auth_test).response["error"] == "invalid_auth"
    assert slack_error(WebClient(base_url=api).auth_test).response["error"] == "not_authed"
    form = httpx.post(f"{api}auth.test", data={"token": TOKEN}, timeout=5).json()
    assert form["ok"] is True
    json_body = httpx.post(f"{api}auth.test", json={"token": TOKEN}, timeout=5).json()
    assert json_body == {"ok": False, "error": "not_authed"}


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"text": "t", "blocks": [section("x")] * 51}, "invalid_blocks"),
        ({"text": "t", "blocks": [section("x" * 3001)]}, "invalid_blocks"),
        ({"text": "t", "blocks": [{"text": "no type"}]}, "invalid_blocks"),
        ({"text": "t", "blocks": "[{not json"}, "invalid_blocks_format"),
        ({"text": "t", "blocks": {"type": "section"}}, "invalid_blocks_format"),
        ({"text": "x" * 40_001}, "msg_too_long"),
        pytest.param({"blocks": []}, "no_text", marks=pytest.mark.filterwarnings("ignore:The top-level")),
        ({"channel": "", "text": "x"}, "channel_not_found"),
    ],
    ids=["51-blocks", "section-3001", "no-type", "not-json", "not-list", "text-40001", "no-text", "channel"],
)
def test_post_message_invalid_content_is_rejected(
    client: WebClient, emulator: RunningEmulator, arguments: dict[str, Any], error: str
) -> None:
    body = {"channel": "C0BLOCKS", **arguments}

    response = httpx.post(
        f"{emulator.base_url}/api/chat.postMessage",
        json=body,
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    ).json()
    via_sdk = slack_error(client.chat_postMessage, **body)

    assert response["ok"] is False and response["error"] == error
    assert via_sdk.response["error"] == error


def test_post_message_blocks_at_the_limits_are_accepted(client: WebClient) -> None:
    blocks = [section("x" * 3000)] + [{"type": "divider"}] * 49

    assert client.chat_postMessage(channel="C0LIMITS", blocks=blocks, text="x" * 40_000)["ok"]


def test_rate_limit_429_raises_with_retry_after(client: WebClient, emulator: RunningEmulator) -> None:
    emulator.inject(
        status=429,
        retry_after="7",
        path_prefix="/api/chat.postMessage",
        body={"ok": False, "error": "ratelimited"},
    )

    error = slack_error(client.chat_postMessage, channel="C0RATE", text="x")

    assert error.response.status_code == 429 and error.response["error"] == "ratelimited"
    assert {k.lower(): v for k, v in error.response.headers.items()}["retry-after"] == "7"


def test_rate_limit_retry_handler_succeeds_on_retry(emulator: RunningEmulator) -> None:
    client = WebClient(
        token=TOKEN,
        base_url=f"{emulator.base_url}/api/",
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)],
    )
    emulator.inject(status=429, retry_after="0", path_prefix="/api/chat.postMessage")

    assert client.chat_postMessage(channel="C0RATE", text="eventually")["ok"]
    assert len(emulator.calls("/api/chat.postMessage")) == 2


def test_unknown_method_is_404_unknown_method(emulator: RunningEmulator) -> None:
    response = httpx.post(f"{emulator.base_url}/api/chat.nonsense", data={"token": TOKEN}, timeout=5)

    assert response.status_code == 404 and response.json()["error"] == "unknown_method"


def test_load_spec_missing_file_raises_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="Slack Web API spec not found"):
        load_spec(tmp_path / "absent.json")
