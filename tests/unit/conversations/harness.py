"""A small, real Deskpilot world for conversation tests: SQLite, a one-article knowledge base with the
hashing embedder, a five-intent catalog and a classifier trained on it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from connectors.fakes.embedder import HashingEmbedder
from connectors.folder.source import FolderKnowledgeSource
from knowledge.answer import AnswerPolicy
from knowledge.index import KnowledgeIndex, open_knowledge_index
from knowledge.ingest import ingest_source
from services.common.config import Settings
from services.common.db import build_engine, build_session_factory, session_scope
from services.common.migrate import build_alembic_config, upgrade
from services.conversations.orchestrator import Orchestrator
from services.router.catalog import Catalog, IntentSpec, SlotKind, SlotSpec
from services.router.classifier import IntentClassifier, Thresholds, TrainedIntentClassifier
from services.router.intents import OUT_OF_SCOPE
from services.router.repo import sync_catalog
from services.router.routes import Route
from tests.conftest import make_settings
from tests.unit.knowledge.conftest import write_article

CATALOG = Catalog(
    intents=[
        IntentSpec(
            name="vpn_issue",
            route=Route.ANSWER,
            description="VPN problems",
            utterances=[
                "vpn keeps dropping",
                "globalprotect disconnects",
                "vpn is down",
                "vpn fails at the hotel",
                "my vpn connection drops",
                "cannot connect to vpn",
            ],
        ),
        IntentSpec(
            name="software_request",
            route=Route.AUTOMATION,
            automation_flow="software_access",
            description="Request software",
            slots=[
                SlotSpec(name="software", kind=SlotKind.SOFTWARE, required=True, prompt="Which software?")
            ],
            utterances=[
                "i need software",
                "install an app for me",
                "i need adobe acrobat",
                "install figma please",
                "can i get miro",
                "request a licence for visio",
            ],
        ),
        IntentSpec(
            name="ticket_status",
            route=Route.TICKET_STATUS,
            description="Ticket status",
            utterances=[
                "status of my ticket",
                "any update on my ticket",
                "what's happening with HD-12",
                "ticket status please",
                "where is my request",
                "is my ticket resolved",
            ],
        ),
        IntentSpec(
            name="talk_to_human",
            route=Route.HANDOFF,
            description="Talk to a person",
            utterances=[
                "talk to a human",
                "i want a person",
                "connect me to an agent",
                "real person please",
                "let me speak to it support",
                "human please",
            ],
        ),
        IntentSpec(
            name="greeting",
            route=Route.SMALLTALK,
            utterances=["hi", "hello", "hey there", "good morning", "hiya", "morning"],
        ),
    ],
    out_of_scope=[
        "when is payday",
        "book a flight to rome",
        "tell me a joke",
        "is the canteen open",
        "what's the weather",
        "how many vacation days do i have",
    ],
)
DEFAULT_THRESHOLDS = Thresholds(0.2, 0.0)


@dataclass
class World:
    """Everything a conversation test needs; ``orchestrator()`` builds one over it."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    index: KnowledgeIndex
    fail: list[bool]

    def orchestrator(
        self, thresholds: Thresholds = DEFAULT_THRESHOLDS, *, trained: bool = True
    ) -> Orchestrator:
        """An orchestrator whose classifier raises when ``fail[0]`` is set, or is missing when not trained."""
        from services.router.model_store import NoIntentModelError

        texts = [u for i in CATALOG.intents for u in i.utterances] + CATALOG.out_of_scope
        labels = [i.name for i in CATALOG.intents for _ in i.utterances] + [OUT_OF_SCOPE] * len(
            CATALOG.out_of_scope
        )
        classifier, _ = TrainedIntentClassifier.train(
            texts, labels, embedder=self.index.embedder, version="t", thresholds=thresholds
        )

        def provide() -> IntentClassifier:
            if self.fail[0]:
                raise RuntimeError("injected failure")
            if not trained:
                raise NoIntentModelError("not trained")
            return classifier

        return Orchestrator(
            session_factory=self.sessions,
            classifier=provide,
            retriever=self.index.retriever(),
            answer_policy=AnswerPolicy(min_relevance=0.2),
        )


def build_world(tmp_path: Path, **settings_overrides: Any) -> World:
    """Migrate a database, ingest the VPN article and load the catalog under ``tmp_path``."""
    settings = make_settings(tmp_path, knowledge={"bm25_path": tmp_path / "bm25"}, **settings_overrides)
    upgrade(build_alembic_config(database_url=settings.database.url))
    engine = build_engine(settings.database)
    sessions = build_session_factory(engine)
    index = open_knowledge_index(settings, embedder=HashingEmbedder())
    folder = tmp_path / "kb"
    write_article(
        folder,
        "vpn.md",
        title="VPN keeps dropping",
        body="## Resolution\n\n1. Open GlobalProtect.\n2. Switch to TCP when the vpn keeps dropping.\n" * 3,
    )
    ingest_source(FolderKnowledgeSource("kb", folder), kind="folder", index=index, session_factory=sessions)
    with session_scope(sessions) as db_session:
        sync_catalog(db_session=db_session, catalog=CATALOG)
    return World(settings, engine, sessions, index, [False])
