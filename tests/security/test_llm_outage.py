"""The LLM endpoint goes down for a while: every question is still answered, and the employee is told.

A real OpenAI-compatible emulator answers 503 (then 429) for a burst of requests; the orchestrator falls
back to extractive answers that say the AI assistant is unavailable, then returns to LLM answers.
Figures: questions sent, answered, degraded, lost (0), answered twice (0).
"""

from __future__ import annotations

from pathlib import Path

from connectors.registry import build_llm
from knowledge.answer import LLM_FALLBACK_NOTICE
from services.common.config import LLMSettings
from services.common.db import session_scope
from services.conversations.models import Channel
from services.conversations.orchestrator import Orchestrator
from services.directory.models import Employee
from tests.emulators.harness import serve_emulator
from tests.emulators.openai_compatible import build_app
from tests.unit.conversations.harness import build_world

QUESTIONS = 12
OUTAGE = 6  # the first six LLM calls fail: four 503s, then two 429s with Retry-After


def test_questions_during_an_llm_outage_are_answered_extractively_and_say_so(tmp_path: Path) -> None:
    world = build_world(tmp_path)
    with session_scope(world.sessions) as db_session:
        employee = Employee(email="sam@example.com", display_name="Sam")
        db_session.add(employee)
        db_session.flush()
        employee_id = employee.id
    app, state = build_app(api_key="sk-test")
    with serve_emulator(app, state) as llm_server:
        llm_server.inject(status=503, times=4, path_prefix="/v1/chat")
        llm_server.inject(status=429, times=2, retry_after="30", path_prefix="/v1/chat")
        base = world.orchestrator()
        orchestrator = Orchestrator(
            session_factory=world.sessions,
            classifier=base._classifier,
            retriever=world.index.retriever(),
            llm=build_llm(LLMSettings(base_url=f"{llm_server.base_url}/v1", api_key="sk-test", timeout_s=5)),
            answer_policy=base._policy,
        )
        replies = [
            orchestrator.handle_message(
                employee_id=employee_id,
                channel=Channel.WEB,
                text=f"my vpn keeps dropping ({n})",
                idempotency_key=f"outage-{n}",
            )
            for n in range(QUESTIONS)
        ]
        replayed = orchestrator.handle_message(
            employee_id=employee_id,
            channel=Channel.WEB,
            text="my vpn keeps dropping (0)",
            idempotency_key="outage-0",
        )
        llm_calls = len(llm_server.calls("/v1/chat/completions"))
    world.engine.dispose()

    answered = [r for r in replies if r.text.strip() and r.citations]
    degraded = [r for r in replies if r.notice == LLM_FALLBACK_NOTICE]
    figures = {
        "sent": QUESTIONS,
        "answered": len(answered),
        "degraded": len(degraded),
        "lost": QUESTIONS - len(answered),
        "duplicated": int(not replayed.replayed),
    }
    print(figures)
    assert figures == {"sent": 12, "answered": 12, "degraded": OUTAGE, "lost": 0, "duplicated": 0}
    assert [r.notice == LLM_FALLBACK_NOTICE for r in replies] == [True] * OUTAGE + [False] * (
        QUESTIONS - OUTAGE
    )
    assert all(r.answer_mode == "llm" for r in replies[OUTAGE:])
    assert llm_calls == QUESTIONS  # one attempt each: nobody waits on retries while the endpoint is down
