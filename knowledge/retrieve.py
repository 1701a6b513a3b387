"""Hybrid retrieval: dense (Chroma) and lexical (BM25) candidates, fused, permission-filtered.

Fusion was chosen on data (``bench/retrieval_stackfaq.py``): plain reciprocal-rank fusion loses to
dense-only on StackFAQ, because BM25 ranks are noisy for paraphrased questions and RRF weighs them as
much as dense ranks. The shipped default is a *weighted score fusion*: the dense cosine similarity plus a
small weight times the BM25 score normalised by the best BM25 score among the candidates. The weight was
calibrated by cross-validation on the StackFAQ dev queries; the README gives the figures.
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
from knowledge.lexical import LexicalIndex
from knowledge.store import ChromaVectorStore, IndexedChunk


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
    """Ranked chunks the viewer may read, and where the time went (milliseconds)."""

    chunks: list[RetrievedChunk]
    timings_ms: dict[str, float] = field(default_factory=dict)

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


class HybridRetriever:
    """Dense + BM25 retrieval over the viewer-readable partitions, fused as configured."""

    def __init__(
        self,
        *,
        embedder: Embedder,
        vectors: ChromaVectorStore,
        lexical: LexicalIndex,
        config: RetrievalConfig | None = None,
        reranker: Reranker | None = None,
    ) -> None:
        self.embedder = embedder
        self.vectors = vectors
        self.lexical = lexical
        self.config = config or RetrievalConfig()
        self.reranker = reranker

    def retrieve(
        self, query: str, *, viewer: Viewer, k: int, query_vector: Vectors | None = None
    ) -> RetrievalResult:
        """Top-``k`` chunks for ``query`` that ``viewer`` may read."""
        timings: dict[str, float] = {}
        method = self.config.method
        started = time.perf_counter()
        dense_hits = []
        if method is not FusionMethod.LEXICAL:
            vector = query_vector if query_vector is not None else self.embedder.embed_query(query)
            timings["embed_ms"] = (time.perf_counter() - started) * 1000
            mark = time.perf_counter()
            dense_hits = self.vectors.query(np.asarray(vector), viewer=viewer, k=self.config.candidates)
            timings["dense_ms"] = (time.perf_counter() - mark) * 1000
        lexical_hits = []
        if method is not FusionMethod.DENSE:
            mark = time.perf_counter()
            lexical_hits = self.lexical.search(query, viewer=viewer, k=self.config.candidates)
            timings["lexical_ms"] = (time.perf_counter() - mark) * 1000

        mark = time.perf_counter()
        chunks: dict[str, IndexedChunk] = {hit.chunk.chunk_id: hit.chunk for hit in dense_hits}
        missing = [hit.chunk_id for hit in lexical_hits if hit.chunk_id not in chunks]
        if missing:
            chunks.update(self.vectors.get(missing, viewer=viewer))
        dense = {hit.chunk.chunk_id: hit.similarity for hit in dense_hits}
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
        return RetrievalResult(chunks=ranked[:k], timings_ms=timings)

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
