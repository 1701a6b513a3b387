from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from connectors.errors import AuthError, RemoteUnavailableError
from knowledge.embeddings import OpenAICompatibleEmbedder, build_embedder
from services.common.config import EmbeddingSettings
from tests.emulators.harness import RunningEmulator, serve_emulator
from tests.emulators.openai_compatible import build_app


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    app, state = build_app(api_key="sk-emb", dimension=64)
    with serve_emulator(app, state) as running:
        yield running


def _embedder(emulator: RunningEmulator, key: str = "sk-emb") -> OpenAICompatibleEmbedder:
    embedder = build_embedder(
        EmbeddingSettings(
            provider="openai",
            base_url=f"{emulator.base_url}/v1",
            api_key=key,
            model="emb",
            dimension=64,
            batch_size=3,
        )
    )
    assert isinstance(embedder, OpenAICompatibleEmbedder)
    return embedder


def test_openai_embedder_batches_and_normalises(emulator: RunningEmulator) -> None:
    vectors = _embedder(emulator).embed_documents([f"text number {i}" for i in range(7)])
    assert vectors.shape == (7, 64)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert [len(c["json"]["input"]) for c in emulator.calls("/v1/embeddings")] == [3, 3, 1]
    query = _embedder(emulator).embed_query("text number 1")
    assert float(query @ vectors[1]) == pytest.approx(1.0, abs=1e-5)


def test_openai_embedder_errors_map_to_our_tree(emulator: RunningEmulator) -> None:
    with pytest.raises(AuthError):
        _embedder(emulator, key="wrong").embed_query("x")
    emulator.inject(status=502, path_prefix="/v1/embeddings")
    with pytest.raises(RemoteUnavailableError):
        _embedder(emulator).embed_query("x")
