"""Telling people what happened to their requests: the requester in their conversation, a manager by DM.

``Notifier`` is the seam the automation runner talks to. ``SlackNotifier`` posts in the request's Slack
thread (or a DM) with the workspace's own token; every notice is also recorded as a Deskpilot message
in the conversation so the web chat and the history show it. Secrets (a reset link, a temporary
password) go only to a direct message and are recorded as "[sent privately]".
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from services.bot.mrkdwn import escape
from services.common.db import session_scope
from services.conversations import repo as conversations
from services.conversations.models import Conversation, MessageRole
from services.directory.models import Employee

logger = logging.getLogger(__name__)

APPROVE_ACTION = "deskpilot_approval_approve"
DENY_ACTION = "deskpilot_approval_deny"


@dataclass(frozen=True)
class ApprovalButtons:
    """Approve / deny buttons for one automation run (the value carries the run id)."""

    run_id: int


class Notifier(Protocol):
    """Where automation outcomes are told.

    Contract: ``tell_requester`` records the notice in the conversation (when there is one) and delivers
    it in the employee's channel; ``private=True`` texts hold a secret and are delivered only in a direct
    message, never recorded. ``ask_approver`` sends the approval request with Approve/Deny buttons.
    Delivery failures raise (the caller's task retries); recording never holds a session across a call.
    """

    def tell_requester(
        self, *, employee_id: int, conversation_id: int | None, text: str, private: bool = False
    ) -> None:
        """Tell the requester ``text``."""
        ...

    def ask_approver(self, *, approver_id: int, text: str, buttons: ApprovalButtons) -> None:
        """Ask ``approver_id`` to approve or deny."""
        ...


@dataclass(frozen=True)
class _Target:
    team_id: str | None
    user_id: str | None
    channel_id: str | None
    thread_ts: str | None


class SlackNotifier:
    """Delivers in Slack when the employee is known there; always records in the conversation."""

    def __init__(
        self, session_factory: sessionmaker[Session], client_for_team: Callable[[str], WebClient] | None
    ) -> None:
        self._sessions = session_factory
        self._client_for_team = client_for_team

    def tell_requester(
        self, *, employee_id: int, conversation_id: int | None, text: str, private: bool = False
    ) -> None:
        with session_scope(self._sessions) as db_session:
            employee = db_session.get(Employee, employee_id)
            if employee is None:
                raise ValueError(f"no employee {employee_id}")
            conversation = db_session.get(Conversation, conversation_id) if conversation_id else None
            target = _Target(
                team_id=(conversation.slack_team_id if conversation else None) or employee.slack_team_id,
                user_id=employee.slack_user_id,
                channel_id=conversation.slack_channel_id if conversation else None,
                thread_ts=conversation.slack_thread_ts if conversation else None,
            )
            if conversation is not None:
                conversations.add_message(
                    db_session=db_session,
                    conversation=conversation,
                    role=MessageRole.ASSISTANT,
                    text="[sent privately]" if private else text,
                    details={"notice": True},
                )
        self._deliver(target, escape(text), private=private)

    def ask_approver(self, *, approver_id: int, text: str, buttons: ApprovalButtons) -> None:
        with session_scope(self._sessions) as db_session:
            approver = db_session.get(Employee, approver_id)
            if approver is None:
                raise ValueError(f"no employee {approver_id}")
            target = _Target(approver.slack_team_id, approver.slack_user_id, None, None)
        blocks: list[dict[str, Any]] = [
            {"type": "section", "text": {"type": "mrkdwn", "text": escape(text)}},
            {
                "type": "actions",
                "block_id": f"approval-{buttons.run_id}",
                "elements": [
                    _button(APPROVE_ACTION, "Approve", str(buttons.run_id), style="primary"),
                    _button(DENY_ACTION, "Deny", str(buttons.run_id), style="danger"),
                ],
            },
        ]
        self._deliver(target, escape(text), private=True, blocks=blocks)

    def _deliver(
        self, target: _Target, text: str, *, private: bool, blocks: Sequence[dict[str, Any]] | None = None
    ) -> None:
        if self._client_for_team is None or target.team_id is None:
            if private:
                raise RuntimeError("no private channel to this employee (not known in Slack)")
            return  # web chat only: the recorded message is the notice
        client = self._client_for_team(target.team_id)
        channel, thread_ts = target.channel_id, target.thread_ts
        in_dm = channel is not None and channel.startswith("D")
        if channel is None or (private and not in_dm):
            if target.user_id is None:
                raise RuntimeError("the employee has no Slack user id")
            channel = str(client.conversations_open(users=target.user_id)["channel"]["id"])
            thread_ts = None
        client.chat_postMessage(
            channel=channel, text=text, thread_ts=thread_ts, blocks=list(blocks) if blocks else None
        )


def _button(action_id: str, label: str, value: str, *, style: str) -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": label},
        "value": value,
        "style": style,
    }
