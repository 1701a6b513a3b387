"""The knowledge index: embedder, vector store and lexical index, built from Settings once per process."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from connectors.interfaces import Embedder
from knowledge.lexical import LexicalIndex
from knowledge.retrieve import ChunkSource, HybridRetriever, Reranker, RetrievalConfig
from knowledge.store import ChromaVectorStore, open_chroma_client
from services.common.config import Settings

if TYPE_CHECKING:
    from chromadb.api import ClientAPI


@dataclass
class KnowledgeIndex:
    """Both indexes and the embedder that feeds them."""

    embedder: Embedder
    vectors: ChromaVectorStore
    lexical: LexicalIndex
    reranker: Reranker | None = None

    def retriever(
        self, config: RetrievalConfig | None = None, *, chunk_source: ChunkSource | None = None
    ) -> HybridRetriever:
        """A hybrid retriever over this index (with the configured reranker, if any).

        With ``chunk_source`` (e.g. :class:`knowledge.chunk_source.DatabaseChunkSource`) it keeps
        answering from BM25 while the vector store is unreachable; without, that outage raises.
        """
        return HybridRetriever(
            embedder=self.embedder,
            vectors=self.vectors,
            lexical=self.lexical,
            config=config,
            reranker=self.reranker,
            chunk_source=chunk_source,
        )


_lock = threading.Lock()


def _open_client(settings: Settings) -> ClientAPI:
    """Open the Chroma client, one process-wide opening at a time (as :func:`open_knowledge_index`)."""
    with _lock:
        return open_chroma_client(settings.chroma)


def open_knowledge_index(settings: Settings, *, embedder: Embedder | None = None) -> KnowledgeIndex:
    """Open the configured indexes (the lexical one is loaded from disk when present).

    ``embedder`` overrides the configured one (tests pass a fake). Nothing heavy is loaded until used,
    and the Chroma client is opened on first use, so a process starts even while a Chroma server is down.
    """
    from knowledge.embeddings import build_embedder

    with _lock:
        chosen = embedder or build_embedder(settings.knowledge.embedding)
        vectors = ChromaVectorStore(
            lambda: _open_client(settings),
            base_name=settings.chroma.collection,
            embedding_model=chosen.model_name,
            outage_cooldown_s=settings.chroma.outage_cooldown_s,
        )
        lexical = LexicalIndex(settings.knowledge.bm25_path)
        lexical.load()
        reranker: Reranker | None = None
        if settings.knowledge.reranker_model is not None:
            from knowledge.rerank import CrossEncoderReranker

            reranker = CrossEncoderReranker(settings.knowledge.reranker_model)
        return KnowledgeIndex(embedder=chosen, vectors=vectors, lexical=lexical, reranker=reranker)
