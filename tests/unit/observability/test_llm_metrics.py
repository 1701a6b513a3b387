"""LLM calls through the OpenAI-compatible emulator record tokens, cost and outcome by purpose."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from connectors.errors import AuthError
from connectors.llm_openai.adapter import OpenAICompatibleLLM
from connectors.models import ChatMessage, LLMPurpose
from connectors.registry import build_llm
from services.common.config import LLMPrice, LLMSettings
from services.common.metrics import llm_cost_usd
from tests.emulators.harness import RunningEmulator, serve_emulator
from tests.emulators.openai_compatible import build_app
from tests.unit.observability.samples import delta

MODEL = "obs-test-model"
PRICES = {MODEL: LLMPrice(prompt_per_1k=2.0, completion_per_1k=4.0)}
PROMPT = [ChatMessage(role="system", content="be brief"), ChatMessage(role="user", content="say two words")]


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    app, state = build_app(api_key="sk-test")
    with serve_emulator(app, state) as running:
        yield running


def _settings(emulator: RunningEmulator, api_key: str = "sk-test") -> LLMSettings:
    return LLMSettings(base_url=f"{emulator.base_url}/v1", api_key=api_key, model=MODEL, timeout_s=5.0)


def test_llm_call_records_tokens_and_cost_by_purpose_and_model(emulator: RunningEmulator) -> None:
    llm = build_llm(_settings(emulator), prices=PRICES)
    assert llm is not None
    httpx.post(f"{emulator.base_url}/_script", json={"replies": ["three short words"]}, timeout=5)
    tokens = "deskpilot_llm_tokens_total"
    labels = {"purpose": "draft_article", "model": MODEL}
    with (
        delta(tokens, **labels, kind="prompt") as prompt_tokens,
        delta(tokens, **labels, kind="completion") as completion_tokens,
        delta("deskpilot_llm_cost_usd_total", **labels) as cost,
        delta("deskpilot_llm_calls_total", **labels, outcome="ok") as calls,
        delta("deskpilot_llm_tokens_total", purpose="answer", model=MODEL, kind="prompt") as other,
        delta("deskpilot_llm_request_duration_seconds_count", **labels) as timed,
    ):
        result = llm.complete(PROMPT, purpose=LLMPurpose.DRAFT_ARTICLE, max_tokens=50, timeout_s=5.0)
    # The emulator counts words: 2 + 3 prompt words, 3 completion words (its "usage" object).
    assert (result.prompt_tokens, result.completion_tokens) == (5, 3)
    assert (prompt_tokens(), completion_tokens()) == (5, 3)
    assert cost() == pytest.approx((5 * 2.0 + 3 * 4.0) / 1000)
    assert calls() == 1 and timed() == 1
    assert other() == 0


def test_llm_failure_is_counted_by_outcome_with_no_tokens(emulator: RunningEmulator) -> None:
    llm = OpenAICompatibleLLM(_settings(emulator, api_key="sk-wrong"), prices=PRICES)
    labels = {"purpose": "answer", "model": MODEL}
    with (
        delta("deskpilot_llm_calls_total", **labels, outcome="auth_error") as refused,
        delta("deskpilot_llm_cost_usd_total", **labels) as cost,
        pytest.raises(AuthError),
    ):
        llm.complete(PROMPT, purpose=LLMPurpose.ANSWER, max_tokens=50, timeout_s=5.0)
    assert refused() == 1 and cost() == 0


def test_llm_cost_is_zero_for_a_model_missing_from_the_price_table() -> None:
    assert llm_cost_usd(PRICES, "unpriced", prompt_tokens=1000, completion_tokens=1000) == 0.0
    assert llm_cost_usd(PRICES, MODEL, prompt_tokens=1000, completion_tokens=500) == pytest.approx(4.0)
