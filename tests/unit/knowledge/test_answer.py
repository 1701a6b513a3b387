from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.fakes.llm import ScriptedLLM
from connectors.folder.source import FolderKnowledgeSource
from connectors.llm_openai.adapter import OpenAICompatibleLLM
from knowledge.acl import Viewer
from knowledge.answer import (
    LLM_FALLBACK_NOTICE,
    LLM_UNGROUNDED_NOTICE,
    NO_ANSWER_TEXT,
    AnswerMode,
    AnswerPolicy,
    AnswerStatus,
    answer_question,
)
from knowledge.ingest import ingest_source
from services.common.config import LLMSettings
from tests.emulators.harness import RunningEmulator, serve_emulator
from tests.emulators.openai_compatible import build_app
from tests.unit.knowledge.conftest import KnowledgeEnv, write_article

POLICY = AnswerPolicy(min_relevance=0.2, llm_timeout_s=2.0)


@pytest.fixture
def openai_emulator() -> Iterator[RunningEmulator]:
    app, state = build_app(api_key="sk-test")
    with serve_emulator(app, state) as running:
        yield running


def _llm(
    emulator: RunningEmulator, *, api_key: str = "sk-test", timeout_s: float = 2.0
) -> OpenAICompatibleLLM:
    return OpenAICompatibleLLM(
        LLMSettings(
            base_url=f"{emulator.base_url}/v1", api_key=api_key, model="gpt-test", timeout_s=timeout_s
        )
    )


def test_answer_extractive_quotes_steps_and_cites_the_article(kb: KnowledgeEnv) -> None:
    answer = answer_question(
        "my VPN keeps disconnecting at the hotel",
        viewer=Viewer(),
        retriever=kb.index.retriever(),
        policy=POLICY,
    )
    assert answer.status is AnswerStatus.ANSWERED and answer.mode is AnswerMode.EXTRACTIVE
    assert answer.citations[0].title == "VPN keeps disconnecting"
    assert answer.text.endswith("[1]")
    assert answer.notice is not None and "no AI summary" in answer.notice


def test_answer_below_threshold_says_it_found_nothing(kb: KnowledgeEnv) -> None:
    answer = answer_question(
        "what is the capital of France", viewer=Viewer(), retriever=kb.index.retriever(), policy=POLICY
    )
    assert answer.status is AnswerStatus.NO_ANSWER
    assert answer.text == NO_ANSWER_TEXT and answer.citations == []


def test_answer_never_uses_restricted_passages_for_outsiders(kb: KnowledgeEnv) -> None:
    question = "what is the payroll approval code for NetSuite"
    outsider = answer_question(
        question, viewer=Viewer.of(["sales"]), retriever=kb.index.retriever(), policy=POLICY
    )
    assert "NWL-PAY-7781" not in outsider.text
    assert all(c.title != "Payroll approvals in NetSuite" for c in [*outsider.citations, *outsider.related])
    member = answer_question(
        question, viewer=Viewer.of(["finance"]), retriever=kb.index.retriever(), policy=POLICY
    )
    assert "NWL-PAY-7781" in member.text


def test_answer_llm_through_emulator_is_grounded_with_resolving_citations(
    kb: KnowledgeEnv, openai_emulator: RunningEmulator
) -> None:
    answer = answer_question(
        "VPN disconnects on hotel Wi-Fi, what do I do?",
        viewer=Viewer(),
        retriever=kb.index.retriever(),
        llm=_llm(openai_emulator),
        policy=POLICY,
    )
    assert answer.mode is AnswerMode.LLM and answer.status is AnswerStatus.ANSWERED
    assert answer.citations and all(c.title == "VPN keeps disconnecting" for c in answer.citations)
    assert answer.llm_tokens > 0
    call = openai_emulator.calls("/v1/chat/completions")[0]
    assert call["headers"]["authorization"] == "Bearer sk-test"
    assert call["json"]["messages"][0]["role"] == "system"


def test_answer_llm_question_is_scrubbed_of_pii_before_the_call(
    kb: KnowledgeEnv, openai_emulator: RunningEmulator
) -> None:
    answer_question(
        "I'm jane.doe@northwind.example, my password is Hunter2 and the VPN disconnects",
        viewer=Viewer(),
        retriever=kb.index.retriever(),
        llm=_llm(openai_emulator),
        policy=POLICY,
    )
    sent = str(openai_emulator.calls("/v1/chat/completions")[0]["json"])
    assert "jane.doe" not in sent and "Hunter2" not in sent
    assert "[EMAIL]" in sent and "[PASSWORD]" in sent


def test_answer_llm_invalid_citation_is_never_sent(
    kb: KnowledgeEnv, openai_emulator: RunningEmulator
) -> None:
    openai_emulator.state.calls.clear()
    import httpx

    httpx.post(
        f"{openai_emulator.base_url}/_script", json={"replies": ["Reinstall Windows [7]."]}
    ).raise_for_status()
    answer = answer_question(
        "VPN disconnects on hotel Wi-Fi",
        viewer=Viewer(),
        retriever=kb.index.retriever(),
        llm=_llm(openai_emulator),
        policy=POLICY,
    )
    assert answer.mode is AnswerMode.EXTRACTIVE and "Reinstall Windows" not in answer.text
    assert answer.notice == LLM_UNGROUNDED_NOTICE


def test_answer_llm_refusal_becomes_no_answer(kb: KnowledgeEnv, openai_emulator: RunningEmulator) -> None:
    import httpx

    httpx.post(f"{openai_emulator.base_url}/_script", json={"replies": ["NO_ANSWER"]}).raise_for_status()
    answer = answer_question(
        "VPN disconnects on hotel Wi-Fi",
        viewer=Viewer(),
        retriever=kb.index.retriever(),
        llm=_llm(openai_emulator),
        policy=POLICY,
    )
    assert answer.status is AnswerStatus.NO_ANSWER and answer.mode is AnswerMode.LLM


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 500, "times": 1},
        {"status": 503, "times": 1, "retry_after": "1"},
        {"status": 429, "times": 1, "retry_after": "30"},
        {"delay_s": 1.5, "times": 1},
    ],
    ids=["500", "503", "429", "timeout"],
)
def test_answer_llm_outage_falls_back_to_extractive_with_notice(
    kb: KnowledgeEnv, openai_emulator: RunningEmulator, fault: dict[str, object]
) -> None:
    openai_emulator.inject(path_prefix="/v1/chat", **fault)
    answer = answer_question(
        "VPN disconnects on hotel Wi-Fi",
        viewer=Viewer(),
        retriever=kb.index.retriever(),
        llm=_llm(openai_emulator, timeout_s=0.5),
        policy=AnswerPolicy(min_relevance=0.2, llm_timeout_s=0.5),
    )
    assert answer.mode is AnswerMode.EXTRACTIVE and answer.status is AnswerStatus.ANSWERED
    assert answer.notice == LLM_FALLBACK_NOTICE
    assert answer.citations[0].title == "VPN keeps disconnecting"
    assert (
        len(openai_emulator.calls("/v1/chat/completions")) == 1
    )  # no retries that keep the employee waiting


def test_answer_llm_wrong_key_falls_back(kb: KnowledgeEnv, openai_emulator: RunningEmulator) -> None:
    answer = answer_question(
        "VPN disconnects on hotel Wi-Fi",
        viewer=Viewer(),
        retriever=kb.index.retriever(),
        llm=_llm(openai_emulator, api_key="sk-wrong"),
        policy=POLICY,
    )
    assert answer.mode is AnswerMode.EXTRACTIVE and answer.notice == LLM_FALLBACK_NOTICE


def test_answer_history_and_passages_reach_the_prompt(kb: KnowledgeEnv) -> None:
    llm = ScriptedLLM(["Change the portal and reconnect [1]."])
    answer = answer_question(
        "and after that?",
        viewer=Viewer(),
        retriever=kb.index.retriever(),
        llm=llm,
        policy=AnswerPolicy(min_relevance=0.0),
        history=[("employee", "VPN disconnects at the hotel"), ("assistant", "Open GlobalProtect [1].")],
    )
    assert answer.mode is AnswerMode.LLM
    roles = [m.role for m in llm.prompts[0]]
    assert roles == ["system", "user", "assistant", "user"]
    assert "[1] VPN keeps disconnecting" in llm.prompts[0][-1].content


def test_answer_extractive_quotes_resolution_when_symptoms_match_best(
    knowledge_env: KnowledgeEnv, tmp_path: Path
) -> None:
    folder = tmp_path / "kb2"
    body = (
        "## Symptoms\n\nThe printer queue is stuck and jobs show Error - Printing on every laptop.\n\n"
        "## Resolution\n\n1. Open PaperCut.\n2. Cancel the held job.\n3. Release it again at the printer.\n"
        + "Badge in to release. "
        * 5
    )
    write_article(folder, "printer.md", title="Printer queue stuck", body=body)
    ingest_source(
        FolderKnowledgeSource("kb2", folder),
        kind="folder",
        index=knowledge_env.index,
        session_factory=knowledge_env.session_factory,
    )
    retriever = knowledge_env.index.retriever()
    how = answer_question(
        "printer queue stuck Error - Printing", viewer=Viewer(), retriever=retriever, policy=POLICY
    )
    assert how.citations[0].heading_path == "Resolution" and "1. Open PaperCut." in how.text
    why = answer_question(
        "why is the printer queue stuck with Error - Printing",
        viewer=Viewer(),
        retriever=retriever,
        policy=POLICY,
    )
    assert why.citations[0].heading_path == "Symptoms"
