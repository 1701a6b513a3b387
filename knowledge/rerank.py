"""Optional second-stage reranking of fused candidates with a cross-encoder.

A cross-encoder reads query and passage together and scores their relevance; it is slower than the
bi-encoder (one forward pass per candidate) and more precise. No cross-encoder ships with Deskpilot
(none is available offline here), so the shipped pipeline does not rerank; set
``DESKPILOT_KNOWLEDGE__RERANKER_MODEL`` to a local sentence-transformers CrossEncoder folder to turn it
on, and measure it with ``bench/retrieval_stackfaq.py`` before keeping it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from knowledge.retrieve import RetrievedChunk


class CrossEncoderReranker:
    """Reorders the top ``depth`` candidates by a cross-encoder's score; the rest keep their order."""

    def __init__(self, model_path: Path, *, depth: int = 20, batch_size: int = 16, model: Any = None) -> None:
        self.model_path = model_path
        self.depth = depth
        self.batch_size = batch_size
        self._model: Any = model  # anything with CrossEncoder.predict(pairs, batch_size=...) -> scores
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                from sentence_transformers import CrossEncoder

                self._model = CrossEncoder(str(self.model_path), device="cpu")
            return self._model

    def rerank(self, query: str, candidates: Sequence[RetrievedChunk]) -> list[RetrievedChunk]:
        """Candidates reordered by cross-encoder score (stored in ``score``; dense and lexical kept)."""
        head, tail = list(candidates[: self.depth]), list(candidates[self.depth :])
        if len(head) < 2:
            return [*head, *tail]
        scores = self._load().predict(
            [(query, f"{c.chunk.title}\n{c.chunk.text}") for c in head], batch_size=self.batch_size
        )
        rescored = [replace(c, score=float(s)) for c, s in zip(head, scores, strict=True)]
        rescored.sort(key=lambda c: c.score, reverse=True)
        return [*rescored, *tail]
