"""Vector index over chromadb: the only module that imports chromadb.

The embedded default is a ``PersistentClient`` under ``settings.path``; setting ``host`` selects a Chroma
server through ``HttpClient``. Collections are created with ``embedding_function=None`` and we pass
vectors ourselves, so chromadb never downloads its default model.

Permission-aware retrieval without ``where`` filters: a Chroma ``where`` filter costs about 130 ms at
50k chunks here against 3 ms unfiltered (../shared/STACK.md §2). Chunks are therefore partitioned by
audience: public chunks in the base collection, and each restricted chunk in one collection per
audience group (``<base>--g-<hash>``). A query searches the public partition plus the viewer's group
partitions only, each unfiltered, so a restricted chunk is never even returned to a non-member.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from connectors.interfaces import Vectors
from knowledge.acl import Viewer, decode_audience, encode_audience
from services.common.config import ChromaSettings

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

_ADD_BATCH = 2000
_GROUP_MARKER = "--g-"


def open_chroma_client(settings: ChromaSettings) -> ClientAPI:
    """Open the configured Chroma client (imports chromadb on first use, about 0.7 s)."""
    import chromadb
    from chromadb.config import Settings as ChromaClientSettings

    client_settings = ChromaClientSettings(anonymized_telemetry=False)
    if settings.host:
        headers = {}
        if settings.auth_token is not None:
            headers["Authorization"] = f"Bearer {settings.auth_token.get_secret_value()}"
        return chromadb.HttpClient(
            host=settings.host,
            port=settings.port,
            ssl=settings.ssl,
            headers=headers,
            settings=client_settings,
        )
    settings.path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(settings.path), settings=client_settings)


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
    """Audience-partitioned chunk vectors in Chroma (see the module docstring)."""

    def __init__(self, client: ClientAPI, *, base_name: str, embedding_model: str) -> None:
        self._client = client
        self.base_name = base_name
        self.embedding_model = embedding_model
        self._collections: dict[str, Collection] = {}
        self._lock = threading.Lock()

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
                except Exception:  # noqa: BLE001 - chromadb raises various errors for a missing collection
                    return None
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
        if not chunk_ids:
            return
        for collection in self._partitions():
            for start in range(0, len(chunk_ids), _ADD_BATCH):
                collection.delete(ids=list(chunk_ids[start : start + _ADD_BATCH]))

    def count(self) -> int:
        """Vectors stored across partitions (a chunk with two audience groups counts twice)."""
        return sum(collection.count() for collection in self._partitions())

    def query(self, vector: Vectors, *, viewer: Viewer, k: int) -> list[VectorHit]:
        """Top-``k`` chunks by cosine similarity among those the viewer may read."""
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
