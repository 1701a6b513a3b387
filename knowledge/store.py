"""Vector index over chromadb: the only module that imports chromadb.

The embedded default is a ``PersistentClient`` under ``settings.path``; setting ``host`` selects a Chroma
server through ``HttpClient``. Collections are created with ``embedding_function=None`` and we pass
vectors ourselves, so chromadb never downloads its default model.

When a Chroma server cannot be reached (refused, timed out, 5xx), every operation raises
:class:`VectorStoreUnavailableError`, and for ``outage_cooldown_s`` after a failure reads (``query``,
``get``) raise it at once without contacting the server, so a dead server costs nothing per question;
the first read after the cool-down tries again. Writes always try. Retrieval then falls back to BM25
(``knowledge.retrieve``).

Permission-aware retrieval without ``where`` filters: a Chroma ``where`` filter costs about 130 ms at
50k chunks here against 3 ms unfiltered (../shared/STACK.md §2). Chunks are therefore partitioned by
audience: public chunks in the base collection, and each restricted chunk in one collection per
audience group (``<base>--g-<hash>``). A query searches the public partition plus the viewer's group
partitions only, each unfiltered, so a restricted chunk is never even returned to a non-member.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from connectors.interfaces import Vectors
from knowledge.acl import Viewer, decode_audience, encode_audience
from services.common.config import ChromaSettings
from services.common.errors import RetryableError

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

_ADD_BATCH = 2000
_GROUP_MARKER = "--g-"
_T = TypeVar("_T")


class VectorStoreUnavailableError(RetryableError):
    """The vector store could not be reached (connection refused or reset, timeout, server 5xx)."""

    code = "vector_store_unavailable"


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from or while handling (a few levels)."""
    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            return
        yield seen
        seen = seen.__cause__ or seen.__context__


def is_unavailable_error(exc: BaseException) -> bool:
    """True when ``exc`` means the Chroma server is unreachable or failing, not that the call was wrong.

    chromadb's HttpClient lets httpx transport errors through (refused, reset, timeout), raises a
    ``ChromaError`` for server errors it recognises and a bare ``Exception`` raised while handling an
    ``httpx.HTTPStatusError`` for others; its constructor wraps a refused connection in a ``ValueError``.
    Anything else (a bad argument, a bug) is not an outage.
    """
    import httpx
    from chromadb.errors import ChromaError

    for cause in _causes(exc):
        if isinstance(cause, httpx.TransportError):
            return True
        if isinstance(cause, httpx.HTTPStatusError) and cause.response.status_code >= 500:
            return True
        if isinstance(cause, ChromaError) and cause.code() >= 500:
            return True
    return False


def open_chroma_client(settings: ChromaSettings) -> ClientAPI:
    """Open the configured Chroma client (imports chromadb on first use, about 0.7 s)."""
    import chromadb
    from chromadb.config import Settings as ChromaClientSettings

    client_settings = ChromaClientSettings(anonymized_telemetry=False)
    if settings.host:
        headers = {}
        if settings.auth_token is not None:
            headers["Authorization"] = f"Bearer {settings.auth_token.get_secret_value()}"
        client = chromadb.HttpClient(
            host=settings.host,
            port=settings.port,
            ssl=settings.ssl,
            headers=headers,
            settings=client_settings,
        )
        _set_http_timeout(client, settings.timeout_s)
        return client
    settings.path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(settings.path), settings=client_settings)


def _set_http_timeout(client: ClientAPI, timeout_s: float) -> None:
    """Give the HttpClient's httpx session a timeout (chromadb creates it with none and has no setting).

    Without one, a server that accepts connections but never answers would hang a question forever.
    """
    import httpx

    session = getattr(getattr(client, "_server", None), "_session", None)
    if isinstance(session, httpx.Client):
        session.timeout = httpx.Timeout(timeout_s)


def vector_store_heartbeat(settings: ChromaSettings) -> int:
    """Contact the vector store and return its heartbeat (ns); raises when it cannot be reached."""
    return open_chroma_client(settings).heartbeat()


@dataclass(frozen=True)
class IndexedChunk:
    """What the vector index keeps per chunk besides its vector."""

    chunk_id: str
    text: str
    doc_key: str
    article_id: int
    title: str
    url: str | None
    heading_path: str
    audience: frozenset[str]

    def metadata(self) -> dict[str, str | int]:
        """Chroma metadata (scalars only)."""
        return {
            "doc_key": self.doc_key,
            "article_id": self.article_id,
            "title": self.title,
            "url": self.url or "",
            "heading_path": self.heading_path,
            "audience": encode_audience(self.audience),
        }


@dataclass(frozen=True)
class VectorHit:
    """A chunk returned by a vector query, with its cosine similarity."""

    chunk: IndexedChunk
    similarity: float


def _column(values: Any, size: int) -> list[Any]:
    """A result column as a list of ``size`` items (None-padded when Chroma left it out)."""
    column = list(values) if values is not None else []
    return column + [None] * (size - len(column))


def _first(rows: Any) -> Any:
    """The first query's row of a query-result column, or None."""
    return rows[0] if rows else None


def _chunk_from(chunk_id: str, document: str | None, metadata: Any) -> IndexedChunk:
    meta = dict(metadata or {})
    return IndexedChunk(
        chunk_id=chunk_id,
        text=document or "",
        doc_key=str(meta.get("doc_key", "")),
        article_id=int(meta.get("article_id", 0)),
        title=str(meta.get("title", "")),
        url=str(meta["url"]) if meta.get("url") else None,
        heading_path=str(meta.get("heading_path", "")),
        audience=decode_audience(str(meta.get("audience", ""))),
    )


class ChromaVectorStore:
    """Audience-partitioned chunk vectors in Chroma (see the module docstring).

    ``client`` is a Chroma client or a function opening one on first use (so a process can start while
    the server is down). Failures to reach the server raise :class:`VectorStoreUnavailableError`.
    """

    def __init__(
        self,
        client: ClientAPI | Callable[[], ClientAPI],
        *,
        base_name: str,
        embedding_model: str,
        outage_cooldown_s: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client_or_opener = client
        self._opened: ClientAPI | None = None
        self.base_name = base_name
        self.embedding_model = embedding_model
        self.outage_cooldown_s = outage_cooldown_s
        self._clock = clock
        self._down_until = float("-inf")
        self._collections: dict[str, Collection] = {}
        self._lock = threading.Lock()
        self._open_lock = threading.Lock()

    @property
    def _client(self) -> ClientAPI:
        if self._opened is None:
            opener = self._client_or_opener
            with self._open_lock:
                if self._opened is None:
                    self._opened = opener() if callable(opener) else opener
        return self._opened

    @property
    def cooling_down(self) -> bool:
        """True while reads skip the server after a failure to reach it."""
        return self._clock() < self._down_until

    def _call(self, operation: Callable[[], _T], *, read: bool) -> _T:
        """Run one store operation, translating an outage and keeping the cool-down state."""
        if read and self.cooling_down:
            raise VectorStoreUnavailableError("vector store unreachable (recent failure, not retried yet)")
        try:
            result = operation()
        except VectorStoreUnavailableError:
            raise
        except Exception as exc:
            if not is_unavailable_error(exc):
                raise
            self._down_until = self._clock() + self.outage_cooldown_s
            with self._lock:
                self._collections.clear()  # a restarted server may have lost them; look them up again
            raise VectorStoreUnavailableError(
                f"vector store unreachable: {type(exc).__name__}: {exc}"[:500]
            ) from exc
        self._down_until = float("-inf")
        return result

    def partition_name(self, group: str | None) -> str:
        """Collection name for public chunks (``group`` None) or for one audience group."""
        if group is None:
            return self.base_name
        digest = hashlib.sha256(group.encode("utf-8")).hexdigest()[:16]
        return f"{self.base_name}{_GROUP_MARKER}{digest}"

    def _collection(self, group: str | None, *, create: bool) -> Collection | None:
        name = self.partition_name(group)
        with self._lock:
            cached = self._collections.get(name)
            if cached is not None:
                return cached
            if create:
                metadata: dict[str, Any] = {"hnsw:space": "cosine", "embedding_model": self.embedding_model}
                if group is not None:
                    metadata["audience_group"] = group
                collection = self._client.get_or_create_collection(
                    name, embedding_function=None, metadata=metadata
                )
            else:
                try:
                    collection = self._client.get_collection(name, embedding_function=None)
                except Exception as exc:
                    if is_unavailable_error(exc):
                        raise
                    return None  # chromadb raises various errors for a missing collection
            self._collections[name] = collection
            return collection

    def _partitions(self) -> list[Collection]:
        names: list[str] = [
            c if isinstance(c, str) else c.name
            for c in self._client.list_collections()  # chromadb >=0.6 returns names or models by version
        ]
        out: list[Collection] = []
        for name in names:
            if name == self.base_name or name.startswith(self.base_name + _GROUP_MARKER):
                collection = self._client.get_collection(name, embedding_function=None)
                out.append(collection)
        return out

    def upsert(self, chunks: Sequence[IndexedChunk], vectors: Vectors) -> None:
        """Write chunks and their vectors into their audience partitions (replacing same ids)."""
        if len(chunks) != len(vectors):
            raise ValueError("one vector per chunk")
        self._call(lambda: self._upsert(chunks, vectors), read=False)

    def _upsert(self, chunks: Sequence[IndexedChunk], vectors: Vectors) -> None:
        by_partition: dict[str | None, list[int]] = {}
        for position, chunk in enumerate(chunks):
            partitions: list[str | None] = [*sorted(chunk.audience)] or [None]
            for partition in partitions:
                by_partition.setdefault(partition, []).append(position)
        for group, positions in by_partition.items():
            collection = self._collection(group, create=True)
            assert collection is not None
            for start in range(0, len(positions), _ADD_BATCH):
                part = positions[start : start + _ADD_BATCH]
                collection.upsert(
                    ids=[chunks[i].chunk_id for i in part],
                    embeddings=np.asarray(vectors[part], dtype=np.float32),
                    documents=[chunks[i].text for i in part],
                    metadatas=[chunks[i].metadata() for i in part],
                )

    def delete(self, chunk_ids: Sequence[str]) -> None:
        """Remove chunks from every partition (ids that are absent are ignored)."""
        if chunk_ids:
            self._call(lambda: self._delete(chunk_ids), read=False)

    def _delete(self, chunk_ids: Sequence[str]) -> None:
        for collection in self._partitions():
            for start in range(0, len(chunk_ids), _ADD_BATCH):
                collection.delete(ids=list(chunk_ids[start : start + _ADD_BATCH]))

    def count(self) -> int:
        """Vectors stored across partitions (a chunk with two audience groups counts twice)."""
        return self._call(lambda: sum(c.count() for c in self._partitions()), read=False)

    def query(self, vector: Vectors, *, viewer: Viewer, k: int) -> list[VectorHit]:
        """Top-``k`` chunks by cosine similarity among those the viewer may read."""
        return self._call(lambda: self._query(vector, viewer=viewer, k=k), read=True)

    def _query(self, vector: Vectors, *, viewer: Viewer, k: int) -> list[VectorHit]:
        groups: list[str | None] = [None, *sorted(viewer.groups)]
        best: dict[str, VectorHit] = {}
        for group in groups:
            collection = self._collection(group, create=False)
            if collection is None:
                continue
            # No count() first: Chroma returns fewer than n_results when the partition is smaller.
            result = collection.query(
                query_embeddings=np.asarray(vector, dtype=np.float32).reshape(1, -1),
                n_results=k,
                include=["documents", "metadatas", "distances"],
            )
            ids = result["ids"][0]
            documents = _column(_first(result.get("documents")), len(ids))
            metadatas = _column(_first(result.get("metadatas")), len(ids))
            distances = _column(_first(result.get("distances")), len(ids))
            for chunk_id, document, metadata, distance in zip(
                ids, documents, metadatas, distances, strict=True
            ):
                chunk = _chunk_from(chunk_id, document, metadata)
                if not viewer.can_read(chunk.audience):  # defence in depth
                    continue
                similarity = 1.0 - float(distance)
                if chunk_id not in best or best[chunk_id].similarity < similarity:
                    best[chunk_id] = VectorHit(chunk, similarity)
        return sorted(best.values(), key=lambda hit: hit.similarity, reverse=True)[:k]

    def get(self, chunk_ids: Sequence[str], *, viewer: Viewer) -> dict[str, IndexedChunk]:
        """Chunks by id that the viewer may read (for lexical hits, which carry only ids)."""
        return self._call(lambda: self._get(chunk_ids, viewer=viewer), read=True)

    def _get(self, chunk_ids: Sequence[str], *, viewer: Viewer) -> dict[str, IndexedChunk]:
        wanted = list(dict.fromkeys(chunk_ids))
        found: dict[str, IndexedChunk] = {}
        for group in [None, *sorted(viewer.groups)]:
            missing = [chunk_id for chunk_id in wanted if chunk_id not in found]
            if not missing:
                break
            collection = self._collection(group, create=False)
            if collection is None:
                continue
            result = collection.get(ids=missing, include=["documents", "metadatas"])
            documents = _column(result.get("documents"), len(result["ids"]))
            metadatas = _column(result.get("metadatas"), len(result["ids"]))
            for chunk_id, document, metadata in zip(result["ids"], documents, metadatas, strict=True):
                chunk = _chunk_from(chunk_id, document, metadata)
                if viewer.can_read(chunk.audience):
                    found[chunk_id] = chunk
        return found
