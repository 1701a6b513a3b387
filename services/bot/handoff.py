"""Human handoff: the conversation goes to the IT channel with a "Claim" button; once an agent claims it,
messages are relayed both ways between the employee's thread and the agent's thread (and recorded)."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from services.bot.inbound import InboundMessage
from services.bot.mrkdwn import escape, truncate
from services.common.db import session_scope, utcnow
from services.conversations import repo
from services.conversations.models import MessageRole
from services.directory.models import Employee

logger = logging.getLogger(__name__)

HANDOFF_CLAIM = "deskpilot_handoff_claim"
AGENT_JOINED = "{agent} from IT has joined this conversation. Your next messages go to them."
CLAIMED = "Claimed by <@{agent}>: reply in this thread to talk to {employee}."


class HandoffDesk:
    """Posts handoffs to the IT channel, handles claims and relays messages."""

    def __init__(self, *, client: WebClient, session_factory: sessionmaker[Session], it_channel: str) -> None:
        self.client = client
        self.sessions = session_factory
        self.it_channel = it_channel

    def announce(self, *, conversation_id: int, employee_id: int) -> None:
        """Post the conversation's summary to the IT channel with a Claim button (once per conversation)."""
        with session_scope(self.sessions) as db_session:
            if repo.handoff_for_conversation(db_session=db_session, conversation_id=conversation_id):
                return
            employee = db_session.get(Employee, employee_id)
            name = employee.display_name if employee else "An employee"
            turns = repo.recent_turns(db_session=db_session, conversation_id=conversation_id, limit=8)
        speakers = {MessageRole.EMPLOYEE.value: "Employee"}
        transcript = "\n".join(
            f"*{speakers.get(role, 'Deskpilot')}:* {escape(truncate(text, 300))}" for role, text in turns
        )
        summary = f"*{escape(name)}* asked for a person (conversation C-{conversation_id}).\n{transcript}"
        blocks: list[dict[str, Any]] = [
            {"type": "section", "text": {"type": "mrkdwn", "text": truncate(summary, 3000)}},
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": HANDOFF_CLAIM,
                        "style": "primary",
                        "text": {"type": "plain_text", "text": "Claim"},
                        "value": str(conversation_id),
                    }
                ],
            },
        ]
        posted = self.client.chat_postMessage(
            channel=self.it_channel, text=f"{name} asked for a person", blocks=blocks
        )
        with session_scope(self.sessions) as db_session:
            repo.create_handoff(
                db_session=db_session,
                conversation_id=conversation_id,
                it_channel_id=str(posted["channel"]),
                it_thread_ts=str(posted["ts"]),
            )

    def claim(self, *, conversation_id: int, agent_user_id: str) -> None:
        """An agent claims the handoff: mark it, update the IT post, tell the employee."""
        with session_scope(self.sessions) as db_session:
            handoff = repo.handoff_for_conversation(db_session=db_session, conversation_id=conversation_id)
            conversation = repo.get_conversation_any(db_session=db_session, conversation_id=conversation_id)
            if handoff is None or conversation is None or handoff.agent_slack_user_id is not None:
                return
            handoff.agent_slack_user_id, handoff.claimed_at = agent_user_id, utcnow()
            employee = db_session.get(Employee, conversation.employee_id)
            where = (handoff.it_channel_id, handoff.it_thread_ts)
            employee_thread = (conversation.slack_channel_id, conversation.slack_thread_ts)
            name = employee.display_name if employee else "the employee"
        self.client.chat_update(
            channel=where[0],
            ts=where[1],
            text=CLAIMED.format(agent=agent_user_id, employee=escape(name)),
            blocks=[
                {
                    "type": "section",
                    "text": {
                        "type": "mrkdwn",
                        "text": CLAIMED.format(agent=agent_user_id, employee=escape(name)),
                    },
                }
            ],
        )
        if employee_thread[0] and employee_thread[1]:
            self.client.chat_postMessage(
                channel=employee_thread[0],
                thread_ts=employee_thread[1],
                text=AGENT_JOINED.format(agent=f"<@{agent_user_id}>"),
            )

    def relay_from_agent(self, inbound: InboundMessage) -> bool:
        """An agent's reply in a claimed IT thread goes to the employee; True when the message was one."""
        with session_scope(self.sessions) as db_session:
            handoff = repo.handoff_for_it_thread(
                db_session=db_session, it_channel_id=inbound.channel_id, it_thread_ts=inbound.thread_ts
            )
            if handoff is None:
                return False
            if handoff.agent_slack_user_id != inbound.user_id:
                return True  # colleagues discussing in the IT thread: not relayed, not answered
            conversation = repo.get_conversation_any(
                db_session=db_session, conversation_id=handoff.conversation_id
            )
            if conversation is None:
                return True
            repo.add_message(
                db_session=db_session, conversation=conversation, role=MessageRole.AGENT, text=inbound.text
            )
            target = (conversation.slack_channel_id, conversation.slack_thread_ts)
        if target[0] and target[1]:
            self.client.chat_postMessage(
                channel=target[0],
                thread_ts=target[1],
                text=f"*<@{inbound.user_id}> (IT):* {escape(inbound.text)}",
            )
        return True

    def relay_from_employee(self, *, conversation_id: int, inbound: InboundMessage) -> bool:
        """While a handoff is claimed, the employee's messages go to the agent; True when relayed."""
        with session_scope(self.sessions) as db_session:
            handoff = repo.handoff_for_conversation(db_session=db_session, conversation_id=conversation_id)
            if handoff is None or handoff.agent_slack_user_id is None:
                return False
            conversation = repo.get_conversation_any(db_session=db_session, conversation_id=conversation_id)
            if conversation is None:
                return False
            repo.add_message(
                db_session=db_session,
                conversation=conversation,
                role=MessageRole.EMPLOYEE,
                text=inbound.text,
                idempotency_key=inbound.idempotency_key,
            )
            target = (handoff.it_channel_id, handoff.it_thread_ts)
        self.client.chat_postMessage(
            channel=target[0], thread_ts=target[1], text=f"*<@{inbound.user_id}>:* {escape(inbound.text)}"
        )
        return True
