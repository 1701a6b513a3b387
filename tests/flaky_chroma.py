"""A Chroma client that can be switched off: the vector store outage for tests, without a server.

``flaky_store(index, clock)`` wraps an index's real client; set ``client.up = False`` and every call
fails as a dead server's would (a refused connection), ``client.failure`` raises any other error.
"""

from __future__ import annotations

from typing import Any, cast

import httpx

from knowledge.index import KnowledgeIndex
from knowledge.store import ChromaVectorStore


class Clock:
    """A settable clock for the store's outage cool-down."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _FlakyCollection:
    """A real collection whose calls fail while its client is down."""

    def __init__(self, client: FlakyClient, real: Any) -> None:
        self._client, self._real = client, real
        self.name = real.name

    def __getattr__(self, operation: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            self._client.contact()
            return getattr(self._real, operation)(*args, **kwargs)

        return call


class FlakyClient:
    """Wraps a real Chroma client; while ``up`` is False every call fails as a dead server's would."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.up = True
        self.calls = 0
        self.failure: Exception | None = None

    def contact(self) -> None:
        self.calls += 1
        if self.failure is not None:
            raise self.failure
        if not self.up:
            raise httpx.ConnectError("[Errno 111] Connection refused")

    def get_collection(self, name: str, **kwargs: Any) -> _FlakyCollection:
        self.contact()
        return _FlakyCollection(self, self._real.get_collection(name, **kwargs))

    def get_or_create_collection(self, name: str, **kwargs: Any) -> _FlakyCollection:
        self.contact()
        return _FlakyCollection(self, self._real.get_or_create_collection(name, **kwargs))

    def list_collections(self) -> Any:
        self.contact()
        return self._real.list_collections()


def flaky_store(index: KnowledgeIndex, clock: Clock) -> tuple[ChromaVectorStore, FlakyClient]:
    """A store over ``index``'s collections whose client can be switched off (15 s cool-down)."""
    real = index.vectors
    client = FlakyClient(real._client)
    store = ChromaVectorStore(
        cast(Any, client),
        base_name=real.base_name,
        embedding_model=real.embedding_model,
        outage_cooldown_s=15,
        clock=clock,
    )
    return store, client
