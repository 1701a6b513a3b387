"""Hybrid retrieval: dense (Chroma) and lexical (BM25) candidates, fused, permission-filtered.

Fusion was chosen on data (``bench/retrieval_stackfaq.py``): plain reciprocal-rank fusion loses to
dense-only on StackFAQ, because BM25 ranks are noisy for paraphrased questions and RRF weighs them as
much as dense ranks. The shipped default is a *weighted score fusion*: the dense cosine similarity plus a
small weight times the BM25 score normalised by the best BM25 score among the candidates. The weight was
calibrated by cross-validation on the StackFAQ dev queries; the README gives the figures.

Degraded mode: when the vector store is unreachable (:class:`knowledge.store.VectorStoreUnavailableError`)
and a :class:`ChunkSource` is configured, candidates come from BM25 alone and their texts from that
source (the database), still filtered by the viewer's audience. The best BM25 candidates are then
embedded here and compared with the query vector, so ``dense`` keeps its meaning (the same cosine
similarity Chroma would report) and the answer threshold still applies; only recall is lower. The result
says so (``degraded``). Without a chunk source the error propagates.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import numpy as np

from connectors.interfaces import Embedder, Vectors
from knowledge.acl import Viewer
from knowledge.chunking import index_text
from knowledge.lexical import LexicalHit, LexicalIndex
from knowledge.store import ChromaVectorStore, IndexedChunk, VectorStoreUnavailableError


class FusionMethod(StrEnum):
    """How dense and lexical candidates are combined."""

    DENSE = "dense"
    LEXICAL = "lexical"
    RRF = "rrf"
    WEIGHTED = "weighted"


@dataclass(frozen=True)
class RetrievalConfig:
    """Retrieval knobs; defaults are the calibrated ones."""

    method: FusionMethod = FusionMethod.WEIGHTED
    candidates: int = 30
    lexical_weight: float = 0.05
    rrf_k: int = 60
    degraded_rescore: int = 10
    """In degraded mode, how many of the best BM25 candidates get a dense similarity (embedded here)."""


@dataclass(frozen=True)
class RetrievedChunk:
    """A chunk with its fused score and the evidence behind it.

    ``dense`` is the cosine similarity between query and chunk (None when only BM25 found it);
    ``lexical`` the BM25 score normalised to [0, 1] by the best lexical candidate (None when absent).
    """

    chunk: IndexedChunk
    score: float
    dense: float | None
    lexical: float | None


@dataclass
class RetrievalResult:
    """Ranked chunks the viewer may read, and where the time went (milliseconds).

    ``degraded`` is True when the vector store could not be used and the chunks come from BM25 alone.
    """

    chunks: list[RetrievedChunk]
    timings_ms: dict[str, float] = field(default_factory=dict)
    degraded: bool = False

    @property
    def top_similarity(self) -> float:
        """Dense similarity of the best chunk (0 when nothing was found): the answerability signal."""
        for item in self.chunks[:1]:
            return item.dense if item.dense is not None else 0.0
        return 0.0


class Reranker(Protocol):
    """Optional second stage: reorders the fused candidates for one query."""

    def rerank(self, query: str, candidates: Sequence[RetrievedChunk]) -> list[RetrievedChunk]:
        """Candidates in a new order (same items, possibly new scores)."""
        ...


class ChunkSource(Protocol):
    """Where chunk texts come from when the vector store is unreachable (the database in production).

    Contract: ``get`` returns, keyed by id, the chunks among ``chunk_ids`` that the indexes serve and
    that ``viewer`` may read (``viewer.can_read(chunk.audience)``), with the same fields the vector store
    keeps; unknown, unindexed or unreadable ids are left out. It never contacts the vector store.
    """

    def get(self, chunk_ids: Sequence[str], *, viewer: Viewer) -> dict[str, IndexedChunk]:
        """Readable chunks by id."""
        ...


class HybridRetriever:
    """Dense + BM25 retrieval over the viewer-readable partitions, fused as configured.

    ``chunk_source`` enables the degraded mode of the module docstring.
    """

    def __init__(
        self,
        *,
        embedder: Embedder,
        vectors: ChromaVectorStore,
        lexical: LexicalIndex,
        config: RetrievalConfig | None = None,
        reranker: Reranker | None = None,
        chunk_source: ChunkSource | None = None,
    ) -> None:
        self.embedder = embedder
        self.vectors = vectors
        self.lexical = lexical
        self.config = config or RetrievalConfig()
        self.reranker = reranker
        self.chunk_source = chunk_source

    def get_chunks(self, chunk_ids: Sequence[str], *, viewer: Viewer) -> dict[str, IndexedChunk]:
        """Readable chunks by id, from the vector store or, when it is unreachable, the chunk source."""
        return self._get_chunks(chunk_ids, viewer=viewer, degraded=False)[0]

    def _get_chunks(
        self, chunk_ids: Sequence[str], *, viewer: Viewer, degraded: bool
    ) -> tuple[dict[str, IndexedChunk], bool]:
        """Chunks by id and whether the chunk source had to be used."""
        if not degraded:
            try:
                return self.vectors.get(chunk_ids, viewer=viewer), False
            except VectorStoreUnavailableError:
                if self.chunk_source is None:
                    raise
        assert self.chunk_source is not None
        return self.chunk_source.get(chunk_ids, viewer=viewer), True

    def retrieve(
        self, query: str, *, viewer: Viewer, k: int, query_vector: Vectors | None = None
    ) -> RetrievalResult:
        """Top-``k`` chunks for ``query`` that ``viewer`` may read."""
        timings: dict[str, float] = {}
        method = self.config.method
        started = time.perf_counter()
        dense_hits = []
        degraded = False
        vector: Vectors | None = None
        if method is not FusionMethod.LEXICAL:
            vector = query_vector if query_vector is not None else self.embedder.embed_query(query)
            timings["embed_ms"] = (time.perf_counter() - started) * 1000
            mark = time.perf_counter()
            try:
                dense_hits = self.vectors.query(np.asarray(vector), viewer=viewer, k=self.config.candidates)
            except VectorStoreUnavailableError:
                if self.chunk_source is None:
                    raise
                degraded = True
            timings["dense_ms"] = (time.perf_counter() - mark) * 1000
        lexical_hits = []
        if method is not FusionMethod.DENSE or degraded:
            mark = time.perf_counter()
            lexical_hits = self.lexical.search(query, viewer=viewer, k=self.config.candidates)
            timings["lexical_ms"] = (time.perf_counter() - mark) * 1000

        mark = time.perf_counter()
        chunks: dict[str, IndexedChunk] = {hit.chunk.chunk_id: hit.chunk for hit in dense_hits}
        missing = [hit.chunk_id for hit in lexical_hits if hit.chunk_id not in chunks]
        if missing:
            found, degraded = self._get_chunks(missing, viewer=viewer, degraded=degraded)
            chunks.update(found)
        dense = {hit.chunk.chunk_id: hit.similarity for hit in dense_hits}
        if degraded and vector is not None:
            rescore_mark = time.perf_counter()
            dense.update(self._rescore(vector, lexical_hits, chunks))
            timings["rescore_ms"] = (time.perf_counter() - rescore_mark) * 1000
        best_lexical = max((hit.score for hit in lexical_hits), default=0.0)
        lexical = {hit.chunk_id: hit.score / best_lexical for hit in lexical_hits} if best_lexical > 0 else {}
        fused = self._fuse(
            dense_hits=[h.chunk.chunk_id for h in dense_hits],
            lexical_hits=[h.chunk_id for h in lexical_hits],
            dense=dense,
            lexical=lexical,
        )
        ranked = [
            RetrievedChunk(
                chunk=chunks[chunk_id], score=score, dense=dense.get(chunk_id), lexical=lexical.get(chunk_id)
            )
            for chunk_id, score in fused
            if chunk_id in chunks and viewer.can_read(chunks[chunk_id].audience)
        ]
        timings["fuse_ms"] = (time.perf_counter() - mark) * 1000
        if self.reranker is not None and ranked:
            mark = time.perf_counter()
            ranked = self.reranker.rerank(query, ranked)
            timings["rerank_ms"] = (time.perf_counter() - mark) * 1000
        timings["total_ms"] = (time.perf_counter() - started) * 1000
        return RetrievalResult(chunks=ranked[:k], timings_ms=timings, degraded=degraded)

    def _rescore(
        self, vector: Vectors, lexical_hits: Sequence[LexicalHit], chunks: dict[str, IndexedChunk]
    ) -> dict[str, float]:
        """Cosine similarity to the query of the best BM25 candidates (embedded as ingestion does)."""
        limit = self.config.degraded_rescore
        best = [hit.chunk_id for hit in lexical_hits if hit.chunk_id in chunks][:limit]
        if not best:
            return {}
        texts = [index_text(chunks[c].title, chunks[c].heading_path, chunks[c].text) for c in best]
        similarities = self.embedder.embed_documents(texts) @ np.asarray(vector, dtype=np.float32).ravel()
        return {chunk_id: float(value) for chunk_id, value in zip(best, similarities, strict=True)}

    def _fuse(
        self,
        *,
        dense_hits: list[str],
        lexical_hits: list[str],
        dense: dict[str, float],
        lexical: dict[str, float],
    ) -> list[tuple[str, float]]:
        method = self.config.method
        scores: dict[str, float] = {}
        if method is FusionMethod.DENSE:
            scores = dict(dense)
        elif method is FusionMethod.LEXICAL:
            scores = dict(lexical)
        elif method is FusionMethod.RRF:
            for ranking in (dense_hits, lexical_hits):
                for rank, chunk_id in enumerate(ranking):
                    scores[chunk_id] = scores.get(chunk_id, 0.0) + 1.0 / (self.config.rrf_k + rank + 1)
        else:
            # A chunk only BM25 found gets the weakest dense similarity seen: unknown, assumed low.
            floor = min(dense.values(), default=0.0)
            weight = self.config.lexical_weight
            for chunk_id in {*dense, *lexical}:
                scores[chunk_id] = dense.get(chunk_id, floor) + weight * lexical.get(chunk_id, 0.0)
        return sorted(scores.items(), key=lambda item: item[1], reverse=True)
