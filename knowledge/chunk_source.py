"""Chunk texts from the database, for retrieval while the vector store is unreachable.

The database holds every chunk's text, its article (title, url, status) and the article's audience, so
it can stand in for Chroma's ``get``: :class:`DatabaseChunkSource` satisfies
:class:`knowledge.retrieve.ChunkSource`.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from knowledge.acl import Viewer
from knowledge.index import KnowledgeIndex
from knowledge.retrieve import HybridRetriever
from knowledge.store import IndexedChunk
from services.common.db import session_scope
from services.directory.models import Group
from services.kb.models import Article, ArticleStatus, Chunk, article_audience

_BATCH = 500


class DatabaseChunkSource:
    """Chunks by id from the ``chunks`` table, as the vector store would return them.

    Only chunks the indexes serve are returned (indexed, of a published article: what BM25 is built from),
    and only those the viewer may read.
    """

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._sessions = session_factory

    def get(self, chunk_ids: Sequence[str], *, viewer: Viewer) -> dict[str, IndexedChunk]:
        """Readable chunks among ``chunk_ids``, keyed by id (unknown or unreadable ids are left out)."""
        wanted = list(dict.fromkeys(chunk_ids))
        found: dict[str, IndexedChunk] = {}
        with session_scope(self._sessions) as db_session:
            for start in range(0, len(wanted), _BATCH):
                found.update(self._batch(db_session, wanted[start : start + _BATCH], viewer))
        return found

    @staticmethod
    def _batch(db_session: Session, chunk_ids: list[str], viewer: Viewer) -> dict[str, IndexedChunk]:
        rows = db_session.execute(
            select(Chunk.id, Chunk.article_id, Chunk.heading_path, Chunk.text, Article.title, Article.url)
            .join(Article, Article.id == Chunk.article_id)
            .where(
                Chunk.id.in_(chunk_ids),
                Chunk.indexed_at.is_not(None),
                Article.status == ArticleStatus.PUBLISHED,
            )
        ).all()
        audiences: dict[int, set[str]] = {}
        article_ids = {int(row.article_id) for row in rows}
        if article_ids:
            for article_id, group_name in db_session.execute(
                select(article_audience.c.article_id, Group.name)
                .join(Group, Group.id == article_audience.c.group_id)
                .where(article_audience.c.article_id.in_(article_ids))
            ):
                audiences.setdefault(int(article_id), set()).add(str(group_name))
        found: dict[str, IndexedChunk] = {}
        for row in rows:
            audience = frozenset(audiences.get(int(row.article_id), ()))
            if not viewer.can_read(audience):
                continue
            found[row.id] = IndexedChunk(
                chunk_id=row.id,
                text=row.text,
                doc_key=row.id.rsplit(":", 1)[0],
                article_id=int(row.article_id),
                title=row.title,
                url=row.url,
                heading_path=row.heading_path,
                audience=audience,
            )
        return found


def resilient_retriever(index: KnowledgeIndex, session_factory: sessionmaker[Session]) -> HybridRetriever:
    """A retriever over ``index`` that keeps working from BM25 and these chunk texts while Chroma is down.

    Every serving path (answers, knowledge gaps, article drafting) uses this; benchmarks may use
    :meth:`KnowledgeIndex.retriever` directly, where an outage should raise.
    """
    return index.retriever(chunk_source=DatabaseChunkSource(session_factory))
