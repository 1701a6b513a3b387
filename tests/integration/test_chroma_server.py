"""The production vector-store path: Chroma as a server (``chroma run``) reached through HttpClient."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.fakes.embedder import HashingEmbedder
from connectors.folder.source import FolderKnowledgeSource
from knowledge.acl import Viewer
from knowledge.index import open_knowledge_index
from knowledge.ingest import ingest_source
from services.common.db import build_engine, build_session_factory
from services.common.health import check_vector_store
from services.common.migrate import build_alembic_config, upgrade
from tests.conftest import make_settings
from tests.integration.chroma_server import ChromaServer
from tests.unit.knowledge.conftest import write_article


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A real Chroma server on a free port, with its data in a temporary folder."""
    with ChromaServer(tmp_path_factory.mktemp("chroma-server")) as server:
        yield server.port


def test_ingest_and_retrieve_through_a_chroma_server(chroma_server: int, tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        chroma={"host": "127.0.0.1", "port": chroma_server},
        knowledge={"bm25_path": tmp_path / "bm25"},
    )
    upgrade(build_alembic_config(database_url=settings.database.url))
    engine = build_engine(settings.database)
    folder = tmp_path / "kb"
    write_article(
        folder, "vpn.md", title="VPN keeps dropping", body="## Fix\n\nSwitch GlobalProtect to TCP. " * 5
    )
    write_article(
        folder,
        "pay.md",
        title="Payroll codes",
        body="## Codes\n\nPayroll code NWL-PAY-7781. " * 5,
        audience=["finance"],
    )
    index = open_knowledge_index(settings, embedder=HashingEmbedder())
    report = ingest_source(
        FolderKnowledgeSource("kb", folder),
        kind="folder",
        index=index,
        session_factory=build_session_factory(engine),
    )
    assert report.changed == 2
    retriever = index.retriever()
    assert (
        retriever.retrieve("GlobalProtect TCP", viewer=Viewer(), k=1).chunks[0].chunk.title
        == "VPN keeps dropping"
    )
    assert all(
        "NWL" not in c.chunk.text for c in retriever.retrieve("payroll code", viewer=Viewer(), k=5).chunks
    )
    member = retriever.retrieve("payroll code", viewer=Viewer.of(["finance"]), k=1).chunks
    assert "NWL-PAY-7781" in member[0].chunk.text
    assert check_vector_store(settings) == "chroma server 127.0.0.1"
    engine.dispose()
