"""The App Home tab: the employee's open tickets and requests, recent answers, quick actions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.automations.models import AutomationRun
from services.bot.mrkdwn import escape, truncate
from services.conversations import strings
from services.conversations.models import AnswerOutcome, Conversation, Message, MessageRole
from services.tickets.models import Ticket, TicketStatus

HOME_ACTION_STATUS = "deskpilot_home_status"
HOME_ACTION_TICKET = "deskpilot_home_ticket"
HOME_MESSAGES = {
    HOME_ACTION_STATUS: "what is the status of my tickets and requests",
    HOME_ACTION_TICKET: "I want to open a ticket",
}
OPEN = (TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, 3000)}}


def home_view(db_session: Session, *, employee_id: int, display_name: str) -> dict[str, Any]:
    """The ``home`` view for one employee (Block Kit)."""
    tickets = db_session.scalars(
        select(Ticket)
        .where(Ticket.requester_id == employee_id, Ticket.status.in_(OPEN))
        .order_by(Ticket.opened_at.desc())
        .limit(10)
    ).all()
    runs = [
        run
        for run in db_session.scalars(
            select(AutomationRun)
            .where(AutomationRun.requester_id == employee_id)
            .order_by(AutomationRun.created_at.desc())
            .limit(20)
        )
        if not run.state.is_final
    ][:10]
    answers = db_session.execute(
        select(Message.text, Message.citations)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Conversation.employee_id == employee_id,
            Message.role == MessageRole.ASSISTANT,
            Message.outcome == AnswerOutcome.ANSWERED,
        )
        .order_by(Message.id.desc())
        .limit(5)
    ).all()
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Deskpilot: IT help"}},
        _section(f"Hi {escape(display_name)}! Send me a direct message with any IT question or request."),
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": HOME_ACTION_STATUS,
                    "text": {"type": "plain_text", "text": "My tickets"},
                },
                {
                    "type": "button",
                    "action_id": HOME_ACTION_TICKET,
                    "text": {"type": "plain_text", "text": "Open a ticket"},
                    "style": "primary",
                },
            ],
        },
        {"type": "divider"},
        _section("*Your open tickets and requests*"),
    ]
    lines = [f"• *{escape(t.external_key)}* {escape(t.title)} · {t.status.value}" for t in tickets]
    lines += [
        f"• *AR-{run.id}* {run.kind.value.replace('_', ' ')}: "
        f"{escape(', '.join(str(v) for v in run.params.values()))} · "
        f"{strings.request_state(run.state.value, delayed=run.delay_notified_at is not None)}"
        for run in runs
    ]
    blocks.append(_section("\n".join(lines) if lines else "_Nothing open right now._"))
    blocks += [{"type": "divider"}, _section("*Recent answers*")]
    recent = [
        f"• {escape(truncate(' '.join(text.split()), 120))}"
        + (f" ({escape(citations[0]['title'])})" if citations else "")
        for text, citations in answers
    ]
    blocks.append(_section("\n".join(recent) if recent else "_No answers yet: ask me something!_"))
    return {"type": "home", "blocks": blocks}
