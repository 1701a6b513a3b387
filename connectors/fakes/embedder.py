"""A deterministic lexical embedder for tests: hashed bag of word unigrams and bigrams, L2-normalised.

It is a real ``Embedder`` (texts sharing words are close) that needs no model, so unit tests of
ingestion and retrieval run in milliseconds. It is not used in production.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from connectors.interfaces import Vectors

_WORD = re.compile(r"[a-z0-9]+")


class HashingEmbedder:
    """Feature-hashing embedder with ``dimension`` buckets."""

    def __init__(self, dimension: int = 384) -> None:
        self._dimension = dimension
        self.calls: list[int] = []

    @property
    def dimension(self) -> int:
        """Bucket count."""
        return self._dimension

    @property
    def model_name(self) -> str:
        """Identifier recorded with the index."""
        return f"hashing-{self._dimension}"

    def _vector(self, text: str) -> Vectors:
        vector = np.zeros(self._dimension, dtype=np.float32)
        words = _WORD.findall(text.lower())
        for feature in [*words, *(f"{a} {b}" for a, b in zip(words, words[1:], strict=False))]:
            digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
            bucket = int.from_bytes(digest[:4], "little") % self._dimension
            vector[bucket] += 1.0 if digest[4] & 1 else -1.0
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm else vector

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        """One row per text; records the batch size in ``calls``."""
        self.calls.append(len(texts))
        if not texts:
            return np.zeros((0, self._dimension), dtype=np.float32)
        return np.vstack([self._vector(text) for text in texts])

    def embed_query(self, text: str) -> Vectors:
        """Vector for one query."""
        return self._vector(text)
