"""A scripted LLM for unit tests: answers from a queue (or a function) and records every prompt."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from connectors.models import ChatMessage, LLMPurpose, LLMResult


class ScriptedLLM:
    """Replies with queued texts (or exceptions) in order, then with ``responder`` when the queue is empty."""

    def __init__(
        self, replies: Sequence[str | Exception] = (), responder: Callable[[str], str] | None = None
    ) -> None:
        self.replies: list[str | Exception] = list(replies)
        self.responder = responder
        self.prompts: list[list[ChatMessage]] = []

    @property
    def model_name(self) -> str:
        """Fixed name."""
        return "scripted"

    def complete(
        self, messages: Sequence[ChatMessage], *, purpose: LLMPurpose, max_tokens: int, timeout_s: float
    ) -> LLMResult:
        """Next scripted reply; raises it when it is an exception."""
        self.prompts.append(list(messages))
        if self.replies:
            reply = self.replies.pop(0)
        elif self.responder is not None:
            reply = self.responder(messages[-1].content)
        else:
            raise AssertionError("ScriptedLLM has no reply left")
        if isinstance(reply, Exception):
            raise reply
        return LLMResult(text=reply, model=self.model_name, purpose=purpose)
