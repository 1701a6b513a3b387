"""Vector store unreachable: retrieval degrades to BM25 + database texts, permission-aware, and says so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from chromadb.errors import InternalError
from chromadb.errors import NotFoundError as ChromaNotFoundError
from sqlalchemy import select, update

from connectors.folder.source import FolderKnowledgeSource
from knowledge.acl import Viewer
from knowledge.answer import (
    EXTRACTIVE_NOTICE,
    SEARCH_DEGRADED_NOTICE,
    AnswerPolicy,
    AnswerStatus,
    answer_question,
)
from knowledge.chunk_source import DatabaseChunkSource
from knowledge.index import KnowledgeIndex
from knowledge.ingest import ingest_source
from knowledge.retrieve import HybridRetriever
from knowledge.store import ChromaVectorStore, VectorStoreUnavailableError, is_unavailable_error
from services.common.db import session_scope
from services.kb.models import Article, ArticleStatus, Chunk, IngestionRun, RunStatus
from tests.flaky_chroma import Clock, flaky_store
from tests.unit.knowledge.conftest import VPN, KnowledgeEnv, write_article

POLICY = AnswerPolicy(min_relevance=0.2)


def _retriever(env: KnowledgeEnv, store: ChromaVectorStore, *, with_source: bool = True) -> HybridRetriever:
    return HybridRetriever(
        embedder=env.embedder,
        vectors=store,
        lexical=env.index.lexical,
        chunk_source=DatabaseChunkSource(env.session_factory) if with_source else None,
    )


def _raised_while_handling(cause: Exception, raised: Exception) -> Exception:
    try:
        try:
            raise cause
        except Exception:
            raise raised  # noqa: B904 - chromadb raises this way (implicit context)
    except Exception as exc:  # noqa: BLE001
        return exc


def _status_error(status: int) -> httpx.HTTPStatusError:
    request = httpx.Request("POST", "http://chroma/api/v2/query")
    return httpx.HTTPStatusError("x", request=request, response=httpx.Response(status, request=request))


def test_only_outages_count_as_unavailable() -> None:
    assert is_unavailable_error(httpx.ConnectError("refused"))
    assert is_unavailable_error(httpx.ReadTimeout("timed out"))
    assert is_unavailable_error(httpx.RemoteProtocolError("server disconnected"))
    assert is_unavailable_error(InternalError("boom"))
    assert is_unavailable_error(_raised_while_handling(_status_error(503), Exception("bad gateway")))
    assert is_unavailable_error(
        _raised_while_handling(
            httpx.ConnectError("refused"), ValueError("Could not connect to a Chroma server")
        )
    )
    assert not is_unavailable_error(_raised_while_handling(_status_error(400), Exception("bad request")))
    assert not is_unavailable_error(ChromaNotFoundError("no such collection"))
    assert not is_unavailable_error(ValueError("one vector per chunk"))
    assert not is_unavailable_error(TypeError("a bug"))


def test_retrieval_falls_back_to_bm25_with_database_texts_and_same_similarities(kb: KnowledgeEnv) -> None:
    question = "VPN disconnects on hotel Wi-Fi"
    normal = kb.index.retriever(chunk_source=DatabaseChunkSource(kb.session_factory))
    healthy = normal.retrieve(question, viewer=Viewer(), k=3)
    store, client = flaky_store(kb.index, Clock())
    client.up = False
    degraded = _retriever(kb, store).retrieve(question, viewer=Viewer(), k=3)
    assert not healthy.degraded and degraded.degraded
    top = degraded.chunks[0]
    assert top.chunk.title == "VPN keeps disconnecting" and top.lexical is not None
    assert top.chunk == kb.index.vectors.get([top.chunk.chunk_id], viewer=Viewer())[top.chunk.chunk_id]
    dense = {item.chunk.chunk_id: item.dense for item in healthy.chunks}
    assert top.dense == pytest.approx(dense[top.chunk.chunk_id], abs=1e-5)  # same answerability signal
    assert {top.chunk} <= {item.chunk for item in healthy.chunks}


def test_fallback_keeps_restricted_chunks_from_outsiders(kb: KnowledgeEnv) -> None:
    store, client = flaky_store(kb.index, Clock())
    client.up = False
    retriever = _retriever(kb, store)
    question = "payroll approval code NetSuite month end"
    for viewer in (Viewer(), Viewer.of(["sales"])):
        result = retriever.retrieve(question, viewer=viewer, k=10)
        assert result.degraded
        assert all("NWL-PAY-7781" not in item.chunk.text for item in result.chunks)
    member = retriever.retrieve(question, viewer=Viewer.of(["finance"]), k=3)
    assert member.degraded and "NWL-PAY-7781" in member.chunks[0].chunk.text
    assert member.chunks[0].chunk.audience == frozenset({"finance"})


def test_database_chunk_source_serves_only_indexed_published_readable_chunks(kb: KnowledgeEnv) -> None:
    source = DatabaseChunkSource(kb.session_factory)
    with session_scope(kb.session_factory) as db_session:
        ids = {row.id: row.article_id for row in db_session.scalars(select(Chunk))}
    payroll = [chunk_id for chunk_id in ids if chunk_id.startswith("handbook:payroll.md:")]
    vpn = [chunk_id for chunk_id in ids if chunk_id.startswith("handbook:vpn.md:")]
    assert payroll and vpn
    assert set(source.get([*ids, "handbook:nope.md:0"], viewer=Viewer())) == set(vpn)
    finance = source.get(payroll, viewer=Viewer.of(["finance"]))
    assert set(finance) == set(payroll)
    assert kb.index.vectors.get(payroll, viewer=Viewer.of(["finance"])) == finance  # same as Chroma's
    with session_scope(kb.session_factory) as db_session:
        db_session.execute(update(Chunk).where(Chunk.id == vpn[0]).values(indexed_at=None))
        db_session.execute(
            update(Article).where(Article.id == ids[payroll[0]]).values(status=ArticleStatus.ARCHIVED)
        )
    assert set(source.get(list(ids), viewer=Viewer.of(["finance"]))) == set(vpn[1:])


def test_cool_down_skips_the_dead_server_then_recovers(kb: KnowledgeEnv) -> None:
    clock = Clock()
    store, client = flaky_store(kb.index, clock)
    retriever = _retriever(kb, store)
    question = "GlobalProtect portal settings"
    assert not retriever.retrieve(question, viewer=Viewer(), k=3).degraded
    client.up = False
    assert retriever.retrieve(question, viewer=Viewer(), k=3).degraded
    calls = client.calls
    clock.now += 10
    assert retriever.retrieve(question, viewer=Viewer(), k=3).degraded
    assert client.calls == calls and store.cooling_down  # not contacted during the cool-down
    client.up = True
    assert retriever.retrieve(question, viewer=Viewer(), k=3).degraded  # still cooling down
    clock.now += 6
    recovered = retriever.retrieve(question, viewer=Viewer(), k=3)
    assert not recovered.degraded and client.calls > calls and not store.cooling_down


def test_without_a_chunk_source_the_outage_is_raised(kb: KnowledgeEnv) -> None:
    store, client = flaky_store(kb.index, Clock())
    client.up = False
    with pytest.raises(VectorStoreUnavailableError):
        _retriever(kb, store, with_source=False).retrieve("VPN", viewer=Viewer(), k=3)


def test_a_programming_error_is_not_taken_for_an_outage(kb: KnowledgeEnv) -> None:
    store, client = flaky_store(kb.index, Clock())
    retriever = _retriever(kb, store)
    retriever.retrieve("VPN", viewer=Viewer(), k=3)  # collections looked up and cached
    client.failure = TypeError("a bug")
    with pytest.raises(TypeError):
        retriever.retrieve("VPN", viewer=Viewer(), k=3)
    assert not store.cooling_down


def test_a_client_that_cannot_open_counts_as_an_outage_and_is_retried() -> None:
    opened: list[int] = []

    def opener() -> Any:
        opened.append(1)
        try:
            raise httpx.ConnectError("refused")
        except httpx.ConnectError:
            raise ValueError("Could not connect to a Chroma server. Are you sure it is running?")  # noqa: B904

    clock = Clock()
    store = ChromaVectorStore(opener, base_name="kb-chunks", embedding_model="m", clock=clock)
    for _ in range(2):
        with pytest.raises(VectorStoreUnavailableError):
            store.get(["a:0"], viewer=Viewer())
    assert len(opened) == 1
    clock.now += 16
    with pytest.raises(VectorStoreUnavailableError):
        store.get(["a:0"], viewer=Viewer())
    assert len(opened) == 2


def test_answer_states_the_degraded_mode_and_quotes_the_steps(kb: KnowledgeEnv) -> None:
    store, client = flaky_store(kb.index, Clock())
    client.up = False
    answer = answer_question(
        "my VPN keeps disconnecting at the hotel",
        viewer=Viewer(),
        retriever=_retriever(kb, store),
        policy=POLICY,
    )
    assert answer.status is AnswerStatus.ANSWERED and answer.search_degraded
    assert answer.citations[0].title == "VPN keeps disconnecting"
    assert "vpn.northwind.example" in answer.text  # the Resolution section, read from the database
    assert answer.notice == f"{EXTRACTIVE_NOTICE} {SEARCH_DEGRADED_NOTICE}"
    nothing = answer_question(
        "what is the capital of France", viewer=Viewer(), retriever=_retriever(kb, store), policy=POLICY
    )
    assert nothing.status is AnswerStatus.NO_ANSWER and nothing.notice == SEARCH_DEGRADED_NOTICE
    healthy = answer_question(
        "my VPN keeps disconnecting at the hotel",
        viewer=Viewer(),
        retriever=kb.index.retriever(),
        policy=POLICY,
    )
    assert healthy.notice == EXTRACTIVE_NOTICE and not healthy.search_degraded


def test_ingestion_while_the_vector_store_is_down_fails_clearly_and_a_rerun_completes(
    knowledge_env: KnowledgeEnv, tmp_path: Path
) -> None:
    folder = tmp_path / "kb"
    write_article(folder, "vpn.md", title="VPN keeps disconnecting", body=VPN)
    store, client = flaky_store(knowledge_env.index, Clock())
    index = KnowledgeIndex(
        embedder=knowledge_env.embedder, vectors=store, lexical=knowledge_env.index.lexical
    )
    source = FolderKnowledgeSource("handbook", folder)
    client.up = False
    with pytest.raises(VectorStoreUnavailableError, match="vector store unreachable"):
        ingest_source(source, kind="folder", index=index, session_factory=knowledge_env.session_factory)
    with session_scope(knowledge_env.session_factory) as db_session:
        run = db_session.scalars(select(IngestionRun)).one()
        assert run.status is RunStatus.FAILED and "vector store unreachable" in str(run.errors)
        assert all(row.indexed_at is None for row in db_session.scalars(select(Chunk)))
    assert index.lexical.size == 0  # BM25 serves indexed chunks only: nothing half-done to answer from
    client.up = True
    report = ingest_source(source, kind="folder", index=index, session_factory=knowledge_env.session_factory)
    assert report.chunks_embedded > 0
    with session_scope(knowledge_env.session_factory) as db_session:
        rows = list(db_session.scalars(select(Chunk)))
    assert all(row.indexed_at is not None for row in rows)
    assert store.count() == len(rows) == index.lexical.size
