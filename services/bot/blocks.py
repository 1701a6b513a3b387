"""Block Kit builders (pure functions) and the action ids the bot listens to.

Slack limits respected here: a section's text ≤ 3,000 characters, ≤ 50 blocks per message, a button's
text ≤ 75 and value ≤ 2,000 characters, the notification ``text`` ≤ 40,000 (we keep it far shorter).
"""

from __future__ import annotations

import json
from typing import Any

from knowledge.citations import Citation
from services.bot.mrkdwn import escape, markdown_to_mrkdwn, truncate
from services.conversations.orchestrator import Button, ButtonAction, Reply

SECTION_LIMIT = 3000
BLOCK_LIMIT = 50
BUTTON_TEXT_LIMIT = 75
BUTTON_VALUE_LIMIT = 2000
FALLBACK_TEXT_LIMIT = 3000

ACTION_IDS: dict[ButtonAction, str] = {action: f"deskpilot_{action.value}" for action in ButtonAction}
"""One Slack action_id per orchestrator button action; register listeners with these."""

ACTION_BY_ID = {action_id: action for action, action_id in ACTION_IDS.items()}
BUTTON_STYLES = {ButtonAction.CONFIRM: "primary", ButtonAction.CANCEL: "danger"}


def encode_button_value(conversation_id: int, value: str) -> str:
    """The Slack button value: which conversation it belongs to and the orchestrator's value."""
    return json.dumps({"c": conversation_id, "v": value}, separators=(",", ":"))[:BUTTON_VALUE_LIMIT]


def decode_button_value(raw: str) -> tuple[int, str]:
    """Inverse of :func:`encode_button_value`; raises ValueError on anything else."""
    data = json.loads(raw)
    if not isinstance(data, dict) or not isinstance(data.get("c"), int) or not isinstance(data.get("v"), str):
        raise ValueError("not a Deskpilot button value")
    return data["c"], data["v"]


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, SECTION_LIMIT)}}


def _sections(markdown: str) -> list[dict[str, Any]]:
    """Long text split into sections at paragraph boundaries."""
    text = markdown_to_mrkdwn(markdown)
    blocks: list[dict[str, Any]] = []
    current = ""
    for paragraph in text.split("\n\n"):
        candidate = f"{current}\n\n{paragraph}" if current else paragraph
        if len(candidate) > SECTION_LIMIT and current:
            blocks.append(_section(current))
            current = paragraph
        else:
            current = candidate
    if current:
        blocks.append(_section(current))
    return blocks


def citation_line(citation: Citation, base_url: str) -> str:
    """``[1] <url|Title › Section>`` for the context block."""
    url = citation.url or f"{base_url.rstrip('/')}/kb/articles/{citation.article_id}"
    label = citation.title + (f" › {citation.heading_path}" if citation.heading_path else "")
    return f"[{citation.number}] <{url.replace('&', '&amp;')}|{escape(label).replace('|', '¦')}>"


def _button(button: Button, conversation_id: int) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "action_id": ACTION_IDS[button.action]
        + (f"_{button.value}" if button.action is ButtonAction.CHOOSE_INTENT else ""),
        "text": {"type": "plain_text", "text": truncate(button.label, BUTTON_TEXT_LIMIT), "emoji": True},
        "value": encode_button_value(conversation_id, button.value),
    }
    style = BUTTON_STYLES.get(button.action)
    if style:
        element["style"] = style
    return element


def reply_blocks(reply: Reply, *, base_url: str) -> list[dict[str, Any]]:
    """Blocks for an orchestrator reply: the text, the notice, citations as links, then the buttons."""
    blocks = _sections(reply.text)
    if reply.notice:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"_{escape(reply.notice)}_"}]}
        )
    if reply.citations:
        lines = "\n".join(citation_line(c, base_url) for c in reply.citations)
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(lines, SECTION_LIMIT)}]}
        )
    if reply.buttons:
        blocks.append(
            {
                "type": "actions",
                "block_id": f"deskpilot_actions_{reply.message_id}",
                "elements": [_button(b, reply.conversation_id) for b in reply.buttons[:25]],
            }
        )
    return blocks[:BLOCK_LIMIT]


def fallback_text(reply: Reply) -> str:
    """The notification text sent with the blocks (shown in notifications and by screen readers)."""
    return truncate(markdown_to_mrkdwn(reply.text), FALLBACK_TEXT_LIMIT)
