from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from connectors.folder.source import FolderKnowledgeSource
from knowledge.acl import Viewer
from knowledge.ingest import ingest_source
from knowledge.rerank import CrossEncoderReranker
from knowledge.retrieve import HybridRetriever, RetrievedChunk
from knowledge.store import IndexedChunk
from tests.unit.knowledge.conftest import KnowledgeEnv, write_article


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


class OverlapCrossEncoder:
    """Scores a (query, passage) pair by shared words: a tiny, deterministic cross-encoder."""

    def __init__(self) -> None:
        self.calls = 0

    def predict(self, pairs: Sequence[tuple[str, str]], batch_size: int = 16) -> list[float]:
        self.calls += 1
        return [float(len(_words(q) & _words(p))) for q, p in pairs]


def _candidate(n: int, text: str) -> RetrievedChunk:
    chunk = IndexedChunk(f"kb:{n}:0", text, f"kb:{n}", n, f"Article {n}", None, "", frozenset())
    return RetrievedChunk(chunk=chunk, score=1.0 - n / 10, dense=0.5, lexical=None)


def test_reranker_reorders_head_by_cross_encoder_and_keeps_tail() -> None:
    reranker = CrossEncoderReranker(Path("unused"), depth=3, model=OverlapCrossEncoder())
    candidates = [
        _candidate(1, "printer paper"),
        _candidate(2, "vpn drops on hotel wifi"),
        _candidate(3, "vpn"),
        _candidate(4, "vpn drops hotel wifi again"),
    ]
    ranked = reranker.rerank("vpn drops at the hotel", candidates)
    assert [c.chunk.article_id for c in ranked] == [2, 3, 1, 4]
    assert ranked[0].dense == 0.5  # evidence kept, only the score changes


def test_retriever_with_reranker_records_its_time(knowledge_env: KnowledgeEnv, tmp_path: Path) -> None:
    folder = tmp_path / "kb"
    write_article(folder, "a.md", title="VPN", body="## Steps\n\nVPN drops at the hotel: switch to TCP. " * 4)
    write_article(folder, "b.md", title="Printer", body="## Steps\n\nPrinter jams: open tray two. " * 4)
    ingest_source(
        FolderKnowledgeSource("kb", folder),
        kind="folder",
        index=knowledge_env.index,
        session_factory=knowledge_env.session_factory,
    )
    model = OverlapCrossEncoder()
    retriever = HybridRetriever(
        embedder=knowledge_env.embedder,
        vectors=knowledge_env.index.vectors,
        lexical=knowledge_env.index.lexical,
        reranker=CrossEncoderReranker(Path("unused"), model=model),
    )
    result = retriever.retrieve("vpn drops at the hotel", viewer=Viewer(), k=2)
    assert result.chunks[0].chunk.title == "VPN"
    assert model.calls == 1 and "rerank_ms" in result.timings_ms
