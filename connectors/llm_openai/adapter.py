"""LLM adapter: any OpenAI-compatible chat endpoint through langchain-openai's ChatOpenAI."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

from connectors.errors import (
    AuthError,
    ConnectorError,
    RateLimitedError,
    RemoteRejectedError,
    RemoteUnavailableError,
)
from connectors.models import ChatMessage, LLMPurpose, LLMResult
from services.common.config import LLMPrice, LLMSettings
from services.common.metrics import LLMCallOutcome, observe_llm_call

logger = logging.getLogger(__name__)


_OUTCOMES: dict[type[ConnectorError], LLMCallOutcome] = {
    AuthError: "auth_error",
    RateLimitedError: "rate_limited",
    RemoteUnavailableError: "unavailable",
    RemoteRejectedError: "rejected",
}


def _connector_error(exc: Exception, openai: ModuleType) -> ConnectorError | None:
    """Our error for an openai client error (None for anything else, which propagates as is)."""
    if isinstance(exc, openai.AuthenticationError):
        return AuthError(f"LLM endpoint refused the credentials ({exc.status_code})")
    if isinstance(exc, openai.RateLimitError):
        return RateLimitedError("LLM endpoint rate-limited the request")
    if isinstance(exc, openai.APITimeoutError | openai.APIConnectionError):
        return RemoteUnavailableError(f"LLM endpoint unreachable or too slow: {type(exc).__name__}")
    if isinstance(exc, openai.InternalServerError):
        return RemoteUnavailableError(f"LLM endpoint failed ({exc.status_code})")
    if isinstance(exc, openai.APIStatusError):
        return RemoteRejectedError(f"LLM endpoint rejected the request ({exc.status_code})")
    return None


class OpenAICompatibleLLM:
    """Chat completions via ``langchain_openai.ChatOpenAI`` (OpenAI, Azure OpenAI, vLLM, Ollama...).

    langchain and openai are imported on first use. Retries are off (``max_retries=0``): callers fall
    back to extractive answers instead of making the employee wait.
    """

    def __init__(self, settings: LLMSettings, *, prices: Mapping[str, LLMPrice] | None = None) -> None:
        self._settings = settings
        self._prices: Mapping[str, LLMPrice] = prices or {}
        self._clients: dict[tuple[int, float], Any] = {}

    @property
    def model_name(self) -> str:
        """The configured model."""
        return self._settings.model

    def _client(self, max_tokens: int, timeout_s: float) -> Any:
        key = (max_tokens, timeout_s)
        client = self._clients.get(key)
        if client is None:
            from langchain_openai import ChatOpenAI

            api_key = self._settings.api_key.get_secret_value() if self._settings.api_key else "not-needed"
            client = ChatOpenAI(
                model=self._settings.model,
                base_url=self._settings.base_url,
                api_key=api_key,
                temperature=self._settings.temperature,
                max_tokens=max_tokens,
                timeout=timeout_s,
                max_retries=0,
            )
            self._clients[key] = client
        return client

    def complete(
        self, messages: Sequence[ChatMessage], *, purpose: LLMPurpose, max_tokens: int, timeout_s: float
    ) -> LLMResult:
        """Send the messages; map openai errors to our error tree; record the call's metrics."""
        import openai
        from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

        kinds: dict[str, type[BaseMessage]] = {
            "system": SystemMessage,
            "user": HumanMessage,
            "assistant": AIMessage,
        }
        prompt = [kinds[m.role](content=m.content) for m in messages]
        started = time.perf_counter()
        try:
            reply = self._client(max_tokens, timeout_s).invoke(prompt)
        except Exception as exc:
            error = _connector_error(exc, openai)
            observe_llm_call(
                purpose=purpose.value,
                model=self.model_name,
                outcome=_OUTCOMES.get(type(error), "error") if error is not None else "error",
                seconds=time.perf_counter() - started,
            )
            if error is None:
                raise
            raise error from exc
        latency_ms = (time.perf_counter() - started) * 1000
        usage = getattr(reply, "usage_metadata", None) or {}
        text = reply.content if isinstance(reply.content, str) else str(reply.content)
        observe_llm_call(
            purpose=purpose.value,
            model=self.model_name,
            outcome="ok",
            seconds=latency_ms / 1000,
            prompt_tokens=int(usage.get("input_tokens", 0)),
            completion_tokens=int(usage.get("output_tokens", 0)),
            prices=self._prices,
        )
        logger.info(
            "llm call",
            extra={
                "purpose": purpose.value,
                "model": self.model_name,
                "latency_ms": round(latency_ms, 1),
                "prompt_tokens": usage.get("input_tokens", 0),
                "completion_tokens": usage.get("output_tokens", 0),
            },
        )
        return LLMResult(
            text=text,
            model=self.model_name,
            purpose=purpose,
            prompt_tokens=int(usage.get("input_tokens", 0)),
            completion_tokens=int(usage.get("output_tokens", 0)),
            latency_ms=latency_ms,
        )
