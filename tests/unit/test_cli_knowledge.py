"""The knowledge commands end to end: ingest a folder, ask as different employees, record gaps.

Embeddings and the LLM come from the OpenAI-compatible emulator over HTTP, configured only through
DESKPILOT_* variables, exactly as an operator would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from services.cli import app
from services.common.config import get_settings
from services.common.db import session_scope
from services.conversations.models import AnswerOutcome, Message
from services.directory.models import Employee, Group
from tests.emulators.harness import RunningEmulator, serve_emulator
from tests.emulators.openai_compatible import build_app
from tests.unit.knowledge.conftest import write_article

runner = CliRunner()


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    app_, state = build_app(api_key="sk-cli")
    with serve_emulator(app_, state) as running:
        yield running


@pytest.fixture
def configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator: RunningEmulator) -> Path:
    env = {
        "DESKPILOT_DATABASE__URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "DESKPILOT_CHROMA__PATH": str(tmp_path / "chroma"),
        "DESKPILOT_KNOWLEDGE__BM25_PATH": str(tmp_path / "bm25"),
        "DESKPILOT_KNOWLEDGE__MIN_RELEVANCE": "0.2",
        "DESKPILOT_KNOWLEDGE__EMBEDDING__PROVIDER": "openai",
        "DESKPILOT_KNOWLEDGE__EMBEDDING__BASE_URL": f"{emulator.base_url}/v1",
        "DESKPILOT_KNOWLEDGE__EMBEDDING__API_KEY": "sk-cli",
        "DESKPILOT_KNOWLEDGE__EMBEDDING__DIMENSION": "384",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    folder = tmp_path / "kb"
    write_article(
        folder,
        "vpn.md",
        title="VPN keeps dropping",
        body="## Resolution\n\n1. Open GlobalProtect.\n2. Switch the VPN to TCP on hotel Wi-Fi.\n" * 3,
    )
    write_article(
        folder,
        "pay.md",
        title="Payroll codes",
        body="## Codes\n\nPayroll code NWL-PAY-7781. " * 5,
        audience=["finance"],
    )
    (folder / "broken.md").write_bytes(b"\xff\xfe not utf-8")
    return folder


def test_cli_ingest_prints_summary_and_each_failed_document(configured: Path) -> None:
    result = runner.invoke(app, ["ingest", "folder", "--path", str(configured)])
    assert result.exit_code == 0, result.output
    assert "2 new or changed" in result.output and "1 failed" in result.output
    assert "broken.md: not valid UTF-8" in result.output
    again = runner.invoke(app, ["ingest", "folder", "--path", str(configured), "--json"])
    summary = json.loads(again.output.strip().splitlines()[-1])
    assert summary["unchanged"] == 2 and summary["chunks_embedded"] == 0


def test_cli_ask_answers_with_citations_and_respects_audiences(configured: Path, tmp_path: Path) -> None:
    assert runner.invoke(app, ["ingest", "folder", "--path", str(configured)]).exit_code == 0
    answer = json.loads(runner.invoke(app, ["ask", "VPN drops on hotel Wi-Fi", "--json"]).output)
    assert answer["outcome"] == "answered" and answer["mode"] == "extractive"
    assert answer["citations"][0]["title"] == "VPN keeps dropping"
    assert answer["citations"][0]["link"].startswith("http://localhost:8000/kb/articles/")
    public = json.loads(runner.invoke(app, ["ask", "payroll code", "--json"]).output)
    assert "NWL-PAY-7781" not in json.dumps(public)

    engine = create_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    with Session(engine) as db_session, db_session.begin():
        fiona = Employee(email="fiona@northwind.example", display_name="Fiona")
        fiona.groups.append(db_session.scalars(select(Group).where(Group.name == "finance")).one())
        db_session.add(fiona)
    member = runner.invoke(app, ["ask", "payroll code", "--as", "fiona@northwind.example"])
    assert member.exit_code == 0 and "NWL-PAY-7781" in member.output
    assert "[1] Payroll codes" in member.output
    unknown = runner.invoke(app, ["ask", "payroll code", "--as", "nobody@northwind.example"])
    assert unknown.exit_code == 2 and "no employee" in unknown.output
    engine.dispose()


def test_cli_ask_unanswerable_question_is_recorded_as_a_knowledge_gap(
    configured: Path, tmp_path: Path
) -> None:
    assert runner.invoke(app, ["ingest", "folder", "--path", str(configured)]).exit_code == 0
    result = runner.invoke(app, ["ask", "zebra migration patterns in kenya"])
    assert result.exit_code == 0 and "couldn't find anything" in result.output
    engine = create_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    from sqlalchemy.orm import sessionmaker

    with session_scope(sessionmaker(bind=engine)) as db_session:
        gaps = db_session.scalars(select(Message).where(Message.outcome == AnswerOutcome.NO_ANSWER)).all()
        assert len(gaps) == 1 and gaps[0].citations == []
    engine.dispose()


def test_cli_ask_with_llm_endpoint_gives_a_grounded_answer(
    configured: Path, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESKPILOT_LLM__BASE_URL", f"{emulator.base_url}/v1")
    monkeypatch.setenv("DESKPILOT_LLM__API_KEY", "sk-cli")
    get_settings.cache_clear()  # each CLI process reads settings once; this test runs several in one
    assert runner.invoke(app, ["ingest", "folder", "--path", str(configured)]).exit_code == 0
    answer = json.loads(
        runner.invoke(app, ["ask", "VPN drops on hotel Wi-Fi, switch to TCP?", "--json"]).output
    )
    assert answer["mode"] == "llm" and answer["outcome"] == "answered", answer
    assert "[1]" in answer["text"] and answer["citations"][0]["title"] == "VPN keeps dropping"


def test_cli_intents_load_train_test_and_a_confirmed_automation(configured: Path) -> None:
    before = runner.invoke(app, ["intents", "test", "i need figma"])
    assert before.exit_code == 1 and "deskpilot intents train" in before.output
    loaded = runner.invoke(app, ["intents", "load"])
    assert loaded.exit_code == 0 and "28 intents in the catalog: 29 added" in loaded.output  # + out_of_scope
    trained = runner.invoke(app, ["intents", "train"])
    assert trained.exit_code == 0 and trained.output.startswith("trained ")
    tested = json.loads(
        runner.invoke(app, ["intents", "test", "please install figma on my laptop", "--json"]).output
    )
    assert tested["intent"] == "software_request" and tested["route"] == "automation"

    first = json.loads(runner.invoke(app, ["ask", "please install figma on my laptop", "--json"]).output)
    assert first["route"] == "automation" and "Figma" in first["text"]
    assert [b["action"] for b in first["buttons"]] == ["confirm", "cancel"]
    pressed = runner.invoke(
        app, ["ask", "--press", "confirm", "--conversation", str(first["conversation_id"])]
    )
    assert pressed.exit_code == 0 and "Your request is in (reference AR-" in pressed.output
