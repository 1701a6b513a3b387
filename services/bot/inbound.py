"""Slack JSON stops here: events are parsed into :class:`InboundMessage`, or refused with a reason."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_MENTION = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>")
# Message subtypes that are not a person writing to us (edits, joins, bot posts...).
IGNORED_SUBTYPES = frozenset(
    {
        "message_changed",
        "message_deleted",
        "bot_message",
        "channel_join",
        "channel_leave",
        "me_message",
        "thread_broadcast",
        "message_replied",
        "channel_topic",
        "channel_purpose",
        "channel_name",
        "pinned_item",
    }
)


class NotForUs(ValueError):  # noqa: N818 - it is a refusal, not an error condition
    """The event is valid but not something Deskpilot answers (a bot, an edit, a channel message...)."""


@dataclass(frozen=True)
class InboundMessage:
    """A message an employee sent to Deskpilot."""

    team_id: str
    event_id: str
    channel_id: str
    user_id: str
    text: str
    ts: str
    thread_ts: str
    is_direct_message: bool
    is_mention: bool = False

    @property
    def idempotency_key(self) -> str:
        """Stable across Slack's redeliveries of the same event."""
        return f"slack:{self.team_id}:{self.event_id}"


def _string(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"event without {key}")
    return value


def parse_message_event(body: dict[str, Any]) -> InboundMessage:
    """A DM, an @mention or a thread reply as an InboundMessage.

    Raises ``NotForUs`` for events Deskpilot ignores and ``ValueError`` for malformed ones.
    """
    event = body.get("event")
    if not isinstance(event, dict):
        raise ValueError("envelope without an event object")
    if event.get("bot_id") or event.get("subtype") in IGNORED_SUBTYPES:
        raise NotForUs(f"ignored message ({event.get('subtype') or 'bot'})")
    kind = event.get("type")
    channel_type = event.get("channel_type")
    if kind == "message" and channel_type != "im" and not event.get("thread_ts"):
        raise NotForUs("channel message that does not mention Deskpilot")
    if kind not in ("message", "app_mention"):
        raise NotForUs(f"event type {kind!r}")
    text = event.get("text")
    if not isinstance(text, str):
        raise ValueError("message without text")
    cleaned = _MENTION.sub("", text).strip()
    if not cleaned:
        raise NotForUs("empty message")
    ts = _string(event, "ts")
    thread_ts = event.get("thread_ts") if isinstance(event.get("thread_ts"), str) else ts
    return InboundMessage(
        team_id=_string(body, "team_id"),
        event_id=_string(body, "event_id"),
        channel_id=_string(event, "channel"),
        user_id=_string(event, "user"),
        text=cleaned[:4000],
        ts=ts,
        thread_ts=str(thread_ts),
        is_direct_message=channel_type == "im",
        is_mention=kind == "app_mention",
    )
