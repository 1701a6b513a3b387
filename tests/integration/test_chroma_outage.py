"""The Chroma server dies mid-day: the web chat keeps answering from BM25, says so, and recovers by itself.

A real ``chroma run`` server holds the vectors. Questions go through the web chat (FastAPI TestClient,
signed-in employees, the orchestrator built as in production by ``build_orchestrator``). The server is
SIGKILLed, more questions follow (each answered, cited, stating the reduced mode; a finance-only
article never reaches an employee outside finance), a sync attempted meanwhile fails clearly, then the
server restarts on the same port and data folder and answers are back to normal (and the sync reruns).
Figures: questions sent, answered, degraded, lost (0), duplicated (0), leaked (0).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from connectors.folder.source import FolderKnowledgeSource
from knowledge.answer import SEARCH_DEGRADED_NOTICE
from knowledge.ingest import ingest_source
from knowledge.store import VectorStoreUnavailableError
from services.admin.app import create_app
from services.common.db import session_scope
from services.conversations.models import Message, MessageRole
from services.conversations.runtime import build_orchestrator
from services.kb.models import Chunk, IngestionRun, RunStatus
from services.router.training import intents_train_flow
from tests.integration.chroma_server import ChromaServer
from tests.unit.conversations.harness import build_world
from tests.unit.knowledge.conftest import write_article
from tests.web_support import Person, add_people, sign_in

PER_PHASE = 12
COOL_DOWN_S = 1.0
SECRET = "NWL-VPN-KEY-4471"
EMPLOYEE = Person("eve.employee@example.com")
FINANCE = Person("fin.member@example.com", groups=("finance",))
QUESTIONS = [
    "my vpn keeps dropping",
    "the vpn keeps dropping at the hotel",
    "the finance vpn profile keeps dropping",  # asked by both: only the finance member may get the key
    "GlobalProtect: my vpn keeps dropping",
]


def _chat_csrf(client: TestClient) -> str:
    page = client.get("/chat")
    match = re.search(r"const csrf = \"([^\"]+)\"", page.text)
    assert page.status_code == 200 and match
    return match.group(1)


def test_questions_during_a_chroma_outage_are_answered_from_bm25_and_say_so(tmp_path: Path) -> None:
    with ChromaServer(tmp_path / "chroma-data") as server:
        world = build_world(
            tmp_path,
            chroma={
                "host": "127.0.0.1",
                "port": server.port,
                "timeout_s": 5,
                "outage_cooldown_s": COOL_DOWN_S,
            },
        )
        folder = tmp_path / "kb"
        write_article(
            folder,
            "finance-vpn.md",
            title="Finance VPN profile",
            body=f"## Resolution\n\nWhen the vpn keeps dropping on the finance profile, use key {SECRET}.\n"
            * 2,
            audience=["finance"],
        )
        source = FolderKnowledgeSource("kb", folder)
        ingest_source(source, kind="folder", index=world.index, session_factory=world.sessions)
        intents_train_flow(world.sessions, embedder=world.index.embedder, model_dir=tmp_path / "models")
        add_people(world.sessions, [EMPLOYEE, FINANCE])

        # The hashing embedder's similarities are lower than MiniLM's: the harness's answer threshold.
        knowledge = world.settings.knowledge.model_copy(update={"min_relevance": 0.2})
        settings = world.settings.model_copy(update={"knowledge": knowledge})
        app = create_app(settings)
        app.state.chat_orchestrator = build_orchestrator(
            settings, session_factory=world.sessions, index=world.index
        )
        clients: dict[str, tuple[TestClient, str]] = {}
        for person in (EMPLOYEE, FINANCE):
            client = TestClient(app, base_url="https://testserver")
            client.__enter__()
            sign_in(client, person.email)
            clients[person.email] = (client, _chat_csrf(client))

        replies: dict[str, list[dict[str, object]]] = {"up": [], "down": [], "recovered": []}
        leaks: list[str] = []
        seconds: dict[str, float] = {}

        def ask(phase: str) -> None:
            started = time.perf_counter()
            for n in range(PER_PHASE):
                person = FINANCE if n % 3 == 2 else EMPLOYEE
                client, csrf = clients[person.email]
                text = f"{QUESTIONS[n % len(QUESTIONS)]} ({phase} {n})"
                response = client.post("/chat/messages", json={"text": text}, headers={"x-csrf-token": csrf})
                assert response.status_code == 200, response.text
                body = response.json()
                body["asked_by"] = person.email
                replies[phase].append(body)
                if person is EMPLOYEE and (
                    SECRET in json.dumps(body) or "Finance VPN profile" in json.dumps(body)
                ):
                    leaks.append(text)
            seconds[phase] = time.perf_counter() - started

        try:
            ask("up")
            server.kill()
            ask("down")
            readyz = clients[EMPLOYEE.email][0].get("/readyz")
            write_article(folder, "printer.md", title="Printer jams", body="## Fix\n\nOpen tray 2. " * 5)
            with pytest.raises(VectorStoreUnavailableError, match="vector store unreachable"):
                ingest_source(source, kind="folder", index=world.index, session_factory=world.sessions)
            server.start()
            time.sleep(COOL_DOWN_S)  # the first question after the cool-down tries the server again
            ask("recovered")
            report = ingest_source(source, kind="folder", index=world.index, session_factory=world.sessions)
        finally:
            for client, _ in clients.values():
                client.__exit__(None, None, None)

        with session_scope(world.sessions) as db_session:
            counts = select(Message.role, func.count()).group_by(Message.role)
            per_role: dict[MessageRole, int] = {row[0]: row[1] for row in db_session.execute(counts)}
            runs = [run.status for run in db_session.scalars(select(IngestionRun).order_by(IngestionRun.id))]
            marked = [
                m.details.get("search_degraded")
                for m in db_session.scalars(select(Message).where(Message.role == MessageRole.ASSISTANT))
            ]
            indexed = db_session.scalar(
                select(func.count()).select_from(Chunk).where(Chunk.indexed_at.is_not(None))
            )
        http = getattr(getattr(world.index.vectors._client, "_server", None), "_session", None)
        vectors = world.index.vectors.count()
        lexical = world.index.lexical.size
        world.engine.dispose()

    everything = [r for phase in replies.values() for r in phase]
    answered = [r for r in everything if str(r["text"]).strip() and r["citations"] and "error" not in r]
    degraded = [r for r in everything if SEARCH_DEGRADED_NOTICE in str(r["notice"] or "")]
    figures = {
        "sent": len(everything),
        "answered": len(answered),
        "degraded": len(degraded),
        "lost": per_role.get(MessageRole.EMPLOYEE, 0) - per_role.get(MessageRole.ASSISTANT, 0),
        "duplicated": per_role.get(MessageRole.ASSISTANT, 0) - len(everything),
        "leaked": len(leaks),
        "seconds_per_phase": {phase: round(value, 2) for phase, value in seconds.items()},
    }
    print(json.dumps(figures))
    assert {k: v for k, v in figures.items() if k != "seconds_per_phase"} == {
        "sent": 3 * PER_PHASE,
        "answered": 3 * PER_PHASE,
        "degraded": PER_PHASE,
        "lost": 0,
        "duplicated": 0,
        "leaked": 0,
    }
    assert per_role[MessageRole.EMPLOYEE] == 3 * PER_PHASE  # every question recorded once
    assert all(SEARCH_DEGRADED_NOTICE in str(r["notice"]) for r in replies["down"])
    assert not any(
        SEARCH_DEGRADED_NOTICE in str(r["notice"] or "") for r in [*replies["up"], *replies["recovered"]]
    )
    for phase in replies.values():  # the finance member asking about the finance profile gets the key
        assert phase[2]["asked_by"] == FINANCE.email and SECRET in str(phase[2]["text"])
    assert marked.count(True) == PER_PHASE  # recorded with each degraded reply, for reports
    assert http is not None and http.timeout.read == 5  # a hung server cannot hang a question either
    assert readyz.status_code == 200 and readyz.json()["checks"]["vector_store"]["ok"] is False
    assert runs == [RunStatus.SUCCEEDED, RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.SUCCEEDED]
    assert report.changed == 1 and indexed == vectors == lexical  # DB, Chroma and BM25 agree again
