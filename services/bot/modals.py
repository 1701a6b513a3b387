"""The "open a ticket" modal: built prefilled from the conversation, validated on submission."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from services.bot.mrkdwn import truncate

TICKET_MODAL = "deskpilot_ticket_modal"
TITLE_MAX = 150
DESCRIPTION_MIN_WORDS = 3
URGENCIES = ("low", "normal", "high", "urgent")


@dataclass(frozen=True)
class TicketForm:
    """A submitted ticket form."""

    title: str
    description: str
    urgency: str


@dataclass(frozen=True)
class ModalContext:
    """Carried through Slack in ``private_metadata``: where to post the confirmation."""

    conversation_id: int
    channel_id: str
    thread_ts: str

    def encode(self) -> str:
        """JSON for ``private_metadata`` (Slack allows 3,000 characters)."""
        return json.dumps({"c": self.conversation_id, "ch": self.channel_id, "t": self.thread_ts})

    @classmethod
    def decode(cls, raw: str) -> ModalContext:
        """Inverse of :meth:`encode`; raises ValueError for anything else."""
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("bad private_metadata")
        return cls(int(data["c"]), str(data["ch"]), str(data["t"]))


def _input(block_id: str, label: str, element: dict[str, Any], hint: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "input",
        "block_id": block_id,
        "label": {"type": "plain_text", "text": label},
        "element": element,
    }
    if hint:
        block["hint"] = {"type": "plain_text", "text": hint}
    return block


def ticket_modal(context: ModalContext, *, question: str) -> dict[str, Any]:
    """The modal, prefilled from the employee's last question."""
    first_line = " ".join(question.split())
    return {
        "type": "modal",
        "callback_id": TICKET_MODAL,
        "private_metadata": context.encode(),
        "title": {"type": "plain_text", "text": "Open an IT ticket"},
        "submit": {"type": "plain_text", "text": "Open ticket"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            _input(
                "title",
                "Summary",
                {
                    "type": "plain_text_input",
                    "action_id": "value",
                    "max_length": TITLE_MAX,
                    "initial_value": truncate(first_line, TITLE_MAX, suffix=""),
                },
            ),
            _input(
                "description",
                "What's happening?",
                {
                    "type": "plain_text_input",
                    "action_id": "value",
                    "multiline": True,
                    "initial_value": truncate(question.strip(), 2900, suffix=""),
                },
                hint="Steps you tried, error messages, since when.",
            ),
            _input(
                "urgency",
                "How urgent is it?",
                {
                    "type": "static_select",
                    "action_id": "value",
                    "initial_option": {"text": {"type": "plain_text", "text": "Normal"}, "value": "normal"},
                    "options": [
                        {"text": {"type": "plain_text", "text": u.capitalize()}, "value": u}
                        for u in URGENCIES
                    ],
                },
            ),
        ],
    }


def read_ticket_form(view: dict[str, Any]) -> tuple[TicketForm | None, dict[str, str]]:
    """The submitted form, or the errors to show next to each field (Slack's ``response_action: errors``)."""
    values = (view.get("state") or {}).get("values") or {}

    def text(block: str) -> str:
        field = (values.get(block) or {}).get("value") or {}
        return str(field.get("value") or "").strip()

    urgency_field = (values.get("urgency") or {}).get("value") or {}
    urgency = str((urgency_field.get("selected_option") or {}).get("value") or "normal")
    title, description = text("title"), text("description")
    errors: dict[str, str] = {}
    if not title:
        errors["title"] = "Please give the ticket a short summary."
    elif len(title) > TITLE_MAX:
        errors["title"] = f"Please keep the summary under {TITLE_MAX} characters."
    if len(description.split()) < DESCRIPTION_MIN_WORDS:
        errors["description"] = "Please describe the problem in a few words, so IT can start without asking."
    if urgency not in URGENCIES:
        errors["urgency"] = "Please pick one of the options."
    return (None if errors else TicketForm(title, description, urgency)), errors
