"""Routes: what Deskpilot does with a message once its intent is known."""

from __future__ import annotations

from enum import StrEnum


class Route(StrEnum):
    """The path a message takes. Intents declare one of the first five; the policy may add the rest."""

    ANSWER = "answer"
    AUTOMATION = "automation"
    TICKET_STATUS = "ticket_status"
    HANDOFF = "handoff"
    SMALLTALK = "smalltalk"
    CLARIFY = "clarify"
    OUT_OF_SCOPE = "out_of_scope"
