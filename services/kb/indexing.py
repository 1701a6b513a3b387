"""Index or un-index one article now (after an edit, a publish, an unpublish), outside a source sync.

Same three phases as ``knowledge.ingest``: chunk rows are written in one transaction, vectors are written
with no session open, then ``indexed_at`` is set; the BM25 index is rebuilt from the database at the end.
Chunk ids are those ingestion uses (``f"{source}:{external_id}:{n}"``), so a later sync of a synced
article replaces the same passages instead of adding a second copy.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload, sessionmaker

from connectors.models import ContentType, KnowledgeDocument
from knowledge.chunking import chunk_document
from knowledge.index import KnowledgeIndex
from knowledge.ingest import rebuild_lexical_index
from knowledge.store import IndexedChunk
from services.common.db import session_scope
from services.common.errors import NotFoundError, PermanentError
from services.kb import repo
from services.kb.models import Article, ArticleVersion, Chunk, KnowledgeSource

LOCAL_SOURCE = "local"
"""The ``source`` part of chunk ids for articles written here (they belong to no knowledge source)."""


class NothingToIndexError(PermanentError):
    """The article's current version has no text that could be retrieved."""

    code = "article_empty"


@dataclass(frozen=True)
class IndexOutcome:
    """What (un)indexing one article did."""

    article_id: int
    chunks: int


def article_document(article: Article, version: ArticleVersion, source_name: str | None) -> KnowledgeDocument:
    """The article's current version as the document ingestion would index (Markdown, audience as ACL)."""
    return KnowledgeDocument(
        source=source_name or LOCAL_SOURCE,
        document_id=article.external_id or f"article-{article.id}",
        title=version.title,
        body=version.body_markdown,
        content_type=ContentType.MARKDOWN,
        url=article.url,
        category=article.category,
        acl=frozenset(group.name for group in article.audience),
    )


def _load(db_session: Session, article_id: int) -> tuple[Article, ArticleVersion]:
    article = db_session.scalar(
        select(Article)
        .where(Article.id == article_id)
        .options(selectinload(Article.chunks), selectinload(Article.audience))
    )
    if article is None:
        raise NotFoundError(f"no article {article_id}")
    version = db_session.scalar(
        select(ArticleVersion).where(
            ArticleVersion.article_id == article_id, ArticleVersion.version == article.current_version
        )
    )
    if version is None:
        raise NotFoundError(f"article {article_id} has no version {article.current_version}")
    return article, version


def _write_chunk_rows(
    db_session: Session, article: Article, version: ArticleVersion
) -> tuple[list[str], list[IndexedChunk], list[str]]:
    """Phase 1: replace the article's chunk rows (unindexed); returns old ids, new chunks and their texts."""
    source = db_session.get(KnowledgeSource, article.source_id) if article.source_id else None
    document = article_document(article, version, source.name if source else None)
    chunks = chunk_document(document)
    if not chunks:
        raise NothingToIndexError(f"article {article.id} has no text to index")
    old_ids = [row.id for row in article.chunks]
    for row in list(article.chunks):
        article.chunks.remove(row)
    db_session.flush()  # the (article_id, ordinal) rows must be gone before the new ones arrive
    pending: list[IndexedChunk] = []
    texts: list[str] = []
    for chunk in chunks:
        article.chunks.append(
            Chunk(
                id=chunk.chunk_id,
                ordinal=chunk.ordinal,
                heading_path=chunk.heading_path[:1000],
                text=chunk.text,
                content_hash=chunk.content_hash,
                token_count=chunk.word_count,
                indexed_at=None,
            )
        )
        pending.append(
            IndexedChunk(
                chunk_id=chunk.chunk_id,
                text=chunk.text,
                doc_key=chunk.doc_key,
                article_id=article.id,
                title=chunk.title,
                url=article.url,
                heading_path=chunk.heading_path,
                audience=document.acl,
            )
        )
        texts.append(chunk.index_text)
    return old_ids, pending, texts


def index_article_now(
    session_factory: sessionmaker[Session], index: KnowledgeIndex, *, article_id: int
) -> IndexOutcome:
    """Chunk, embed and index the article's current version now, replacing its previous passages.

    Raises ``NothingToIndexError`` for an empty article and ``NotFoundError`` for an unknown one; an
    embedding failure leaves the chunks marked unindexed (the page offers "Re-index").
    """
    with session_scope(session_factory) as db_session:
        article, version = _load(db_session, article_id)
        old_ids, pending, texts = _write_chunk_rows(db_session, article, version)
    # Embed before touching the index: when the embedder is down, the previous passages keep answering.
    vectors = index.embedder.embed_documents(texts)
    # Then delete: an audience change moves passages to other partitions, where upsert would not reach.
    index.vectors.delete(sorted({*old_ids, *(c.chunk_id for c in pending)}))
    index.vectors.upsert(pending, vectors)
    with session_scope(session_factory) as db_session:
        repo.mark_chunks_indexed(db_session=db_session, chunk_ids=[c.chunk_id for c in pending])
    rebuild_lexical_index(index, session_factory)
    return IndexOutcome(article_id, len(pending))


def remove_article_from_index(
    session_factory: sessionmaker[Session], index: KnowledgeIndex, *, article_id: int
) -> IndexOutcome:
    """Take the article's passages out of both indexes (its chunk rows stay, marked unindexed)."""
    with session_scope(session_factory) as db_session:
        chunk_ids = list(db_session.scalars(select(Chunk.id).where(Chunk.article_id == article_id)))
        db_session.execute(update(Chunk).where(Chunk.article_id == article_id).values(indexed_at=None))
    index.vectors.delete(chunk_ids)
    rebuild_lexical_index(index, session_factory)
    return IndexOutcome(article_id, len(chunk_ids))
