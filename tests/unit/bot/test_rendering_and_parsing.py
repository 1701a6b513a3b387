from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from knowledge.citations import Citation
from services.bot.blocks import (
    ACTION_IDS,
    BLOCK_LIMIT,
    SECTION_LIMIT,
    decode_button_value,
    encode_button_value,
    reply_blocks,
)
from services.bot.inbound import NotForUs, parse_message_event
from services.bot.mrkdwn import escape, markdown_to_mrkdwn, truncate
from services.conversations.models import AnswerOutcome
from services.conversations.orchestrator import Button, ButtonAction, Reply
from services.router.routes import Route

PAYLOADS = (
    Path(__file__).resolve().parents[3].parent
    / "shared"
    / "datasets"
    / "slack"
    / "captured-payloads-opsdroid"
)


def _payload(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PAYLOADS / name).read_text())
    return data


def test_mrkdwn_escapes_control_characters_and_converts_markdown() -> None:
    assert escape("a < b & c > d") == "a &lt; b &amp; c &gt; d"
    converted = markdown_to_mrkdwn(
        "## Steps\n1. Open **GlobalProtect** & click <Connect>\n2. See [the guide](https://kb.example/x?a=1&b=2)"
    )
    assert converted.startswith("*Steps*\n1. Open *GlobalProtect* &amp; click &lt;Connect&gt;")
    assert "<https://kb.example/x?a=1&amp;b=2|the guide>" in converted
    assert markdown_to_mrkdwn("`netsh <reset>`") == "`netsh &lt;reset&gt;`"
    assert markdown_to_mrkdwn("[a|b](https://x.example)") == "<https://x.example|a¦b>"  # no link injection


def test_truncate_never_leaves_half_a_link() -> None:
    text = "intro " * 10 + "<https://example.com/a-very-long-link|label>"
    cut = truncate(text, 70)
    assert len(cut) <= 70 and cut.count("<") == cut.count(">")


def _reply(text: str, **kwargs: Any) -> Reply:
    defaults: dict[str, Any] = {
        "route": Route.ANSWER,
        "outcome": AnswerOutcome.ANSWERED,
        "conversation_id": 7,
        "message_id": 42,
    }
    return Reply(text=text, **{**defaults, **kwargs})


def test_reply_blocks_render_text_notice_citations_and_buttons_within_limits() -> None:
    citation = Citation(1, "kb:vpn:2", 18, "VPN keeps dropping", None, "Resolution", 0.8)
    reply = _reply(
        "1. Open GlobalProtect.\n2. Reconnect. [1]",
        citations=[citation],
        notice="Quoted from the best-matching article.",
        buttons=[
            Button(ButtonAction.FEEDBACK_HELPFUL, "Helpful", "42"),
            Button(ButtonAction.OPEN_TICKET, "Open a ticket"),
        ],
    )
    blocks = reply_blocks(reply, base_url="https://deskpilot.example")
    assert [b["type"] for b in blocks] == ["section", "context", "context", "actions"]
    assert (
        "<https://deskpilot.example/kb/articles/18|VPN keeps dropping › Resolution>"
        in blocks[2]["elements"][0]["text"]
    )
    buttons = blocks[3]["elements"]
    assert [b["action_id"] for b in buttons] == [
        ACTION_IDS[ButtonAction.FEEDBACK_HELPFUL],
        ACTION_IDS[ButtonAction.OPEN_TICKET],
    ]
    assert decode_button_value(buttons[0]["value"]) == (7, "42")


def test_reply_blocks_split_long_answers_and_cap_block_count() -> None:
    long_text = "\n\n".join("paragraph " * 150 for _ in range(200))
    blocks = reply_blocks(_reply(long_text), base_url="https://d.example")
    assert len(blocks) <= BLOCK_LIMIT
    assert all(len(b["text"]["text"]) <= SECTION_LIMIT for b in blocks if b["type"] == "section")


def test_choose_intent_buttons_get_unique_action_ids() -> None:
    reply = _reply(
        "Which one?",
        buttons=[
            Button(ButtonAction.CHOOSE_INTENT, "VPN", "vpn_issue"),
            Button(ButtonAction.CHOOSE_INTENT, "Wi-Fi", "wifi_issue"),
        ],
    )
    ids = [e["action_id"] for e in reply_blocks(reply, base_url="x")[-1]["elements"]]
    assert len(set(ids)) == 2


def test_button_values_round_trip_and_reject_foreign_values() -> None:
    assert decode_button_value(encode_button_value(3, "software_request")) == (3, "software_request")
    for bad in ('{"c": "3", "v": ""}', "[]", "not json"):
        with pytest.raises(ValueError):
            decode_button_value(bad)


def test_parse_message_event_real_dm_and_mention_payloads() -> None:
    body = _payload("payload_message.json")
    body["event"]["channel_type"] = "im"
    inbound = parse_message_event(body)
    assert (inbound.team_id, inbound.event_id, inbound.user_id) == (
        "T01ND2P8N91",
        "Ev01NA3KCXSR",
        "U01NK1K9L68",
    )
    assert inbound.text == "this is a test message" and inbound.thread_ts == inbound.ts
    assert inbound.idempotency_key == "slack:T01ND2P8N91:Ev01NA3KCXSR"
    mention = _payload("payload_message.json")
    mention["event"].update(type="app_mention", text="<@U01N9R657HB> my vpn keeps dropping")
    assert parse_message_event(mention).text == "my vpn keeps dropping"


@pytest.mark.parametrize(
    "name",
    [
        "payload_message_bot_message.json",
        "payload_message_message_changed.json",
        "payload_message_channel_join.json",
        "payload_message.json",
    ],
)
def test_parse_message_event_ignores_bots_edits_joins_and_plain_channel_chatter(name: str) -> None:
    with pytest.raises(NotForUs):
        parse_message_event(_payload(name))


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"event": "x"},
        {"event": {"type": "message", "channel_type": "im"}},
        {
            "team_id": "T1",
            "event_id": "E1",
            "event": {"type": "message", "channel_type": "im", "text": 5, "ts": "1"},
        },
    ],
)
def test_parse_message_event_malformed_bodies_raise_value_error(body: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        parse_message_event(body)


def test_helpdesk_command_text_maps_to_orchestrator_messages() -> None:
    from services.bot.app import command_message

    assert command_message("") is None and command_message(" help ") is None
    assert command_message("status") == "what is the status of my tickets and requests"
    assert (
        command_message("ticket projector in room 4 flickers")
        == "please open a ticket: projector in room 4 flickers"
    )
    assert command_message("ticket") == "I want to open a ticket"
    assert command_message("how do I set up the VPN?") == "how do I set up the VPN?"
