"""Every sentence Deskpilot says to an employee, in one place (channels only render them)."""

from __future__ import annotations

GREETING = "Hi! I'm Deskpilot, your IT helpdesk assistant. Ask me an IT question or tell me what you need."
THANKS = "You're welcome! Anything else I can help with?"
GOODBYE = "Bye for now. Message me any time you need IT help."
CAPABILITIES = (
    "I can answer IT questions from our knowledge base (VPN, Wi-Fi, email, printers, laptops...), reset "
    "passwords and unlock accounts, request software, hardware or access, open tickets and tell you their "
    "status, or put you in touch with the IT team."
)
SMALLTALK_FALLBACK = "I'm here to help with IT. What do you need?"
OUT_OF_SCOPE = (
    "That doesn't look like something IT can help with, so I'd rather not guess. If it is an IT question, "
    "try rephrasing it, or ask for a person."
)
CLARIFY = "I want to get this right. Which of these do you mean?"
CLARIFY_NONE_OF_THESE = "Something else"
NO_INTENT_MODEL = (
    "I'm not fully set up yet (no intent model is trained), so I can only search the knowledge base for now."
)
HANDOFF = "I've asked the IT team to pick this up; someone will reply here. Reference: {reference}."
ASK_SLOT_DEFAULT = "Could you tell me the {slot}?"
SLOT_NOT_UNDERSTOOD = "Sorry, I didn't catch that. {prompt}"
CONFIRM_AUTOMATION = "Just to confirm: {summary}. Shall I go ahead?"
CANCELLED = "OK, I've cancelled that. Nothing was changed."
AUTOMATION_QUEUED = "Your request is in (reference {reference}). I'll tell you here when it completes."
NOTHING_PENDING = "There's nothing waiting for a confirmation right now."
TICKET_STATUS_NONE = "You have no open tickets or requests."
TICKET_STATUS_NOT_FOUND = "I couldn't find ticket {key} among your tickets."
TICKET_STATUS_LINE = "{key} · {title} · {status} (opened {opened})"
REQUEST_STATUS_LINE = "{reference} · {kind}: {details} · {state} (requested {opened})"
REQUEST_DELAYED = "delayed: a system it needs isn't responding, I'm still trying"
FEEDBACK_THANKS = "Thanks for the feedback!"
FEEDBACK_SORRY = "Sorry that didn't help. Would you like me to open a ticket?"

BUTTON_CONFIRM = "Yes, go ahead"
BUTTON_CANCEL = "Cancel"
BUTTON_OPEN_TICKET = "Open a ticket"
BUTTON_TALK_TO_HUMAN = "Talk to a person"
BUTTON_HELPFUL = "Helpful"
BUTTON_NOT_HELPFUL = "Not helpful"

AUTOMATION_SUMMARIES = {
    "password_reset": "reset your {system} password",
    "account_unlock": "unlock your {system} account",
    "mfa_reset": "reset your multi-factor authentication so you can enrol a new device",
    "software_access": "request {software} for you",
    "access_request": "request access to {resource} for you",
    "hardware_request": "request a {hardware_item} for you",
    "create_ticket": "open a ticket: “{description}”",
    "add_comment": "add your comment to {ticket_number}",
}
SLOT_LABELS = {
    "system": "system or account",
    "software": "software you need",
    "resource": "resource you need access to",
    "hardware_item": "item you need",
    "description": "problem, in a sentence",
    "ticket_number": "ticket number",
    "comment": "comment to add",
}


def request_state(state: str, *, delayed: bool) -> str:
    """How an open request's state reads to the employee (``delayed``: an outage holds it, retries go on)."""
    return REQUEST_DELAYED if delayed else state.replace("_", " ")
