"""Ingestion: KnowledgeSource -> chunks -> embeddings -> vector and lexical indexes, incrementally.

Per batch of documents, in three phases so that no session is held during embedding (which may be a
remote call) and a crash loses nothing:
1. In one transaction: upsert articles, versions and chunk rows. A document whose fingerprint (title,
   body, url, category, audience) is unchanged is skipped; a chunk whose content hash is unchanged and
   which is already indexed is reused. Changed chunks are written with ``indexed_at = NULL``.
   Curation wins while the source is unchanged: the fingerprint is compared with the last *synced*
   version, so an editor's local edit (a version with an author) and an unpublished or archived status
   survive re-syncs. When the source itself changes, its text becomes a new version; an article an
   admin took out of service stays out (its new text is kept, not indexed).
2. Without a session: embed the changed chunks in large batches and upsert them into Chroma; delete the
   vectors of chunks that disappeared.
3. In a short transaction: set ``indexed_at`` on the chunks just written.
A later run re-embeds any chunk still marked unindexed, so an interrupted run resumes where it stopped.
After the source is read, documents the source no longer has are pruned from the database and both
indexes, and the BM25 index is rebuilt from the database when anything changed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sqlalchemy.orm import Session, sessionmaker

from connectors.interfaces import KnowledgeSource as KnowledgeSourceConnector
from connectors.models import DocumentBatch, DocumentFailure, KnowledgeDocument
from knowledge.chunking import Chunk, chunk_document, document_markdown
from knowledge.index import KnowledgeIndex
from knowledge.run_lock import source_run_lock
from knowledge.store import IndexedChunk
from services.common.db import session_scope, utcnow
from services.kb import repo
from services.kb.models import (
    Article,
    ArticleOrigin,
    ArticleStatus,
    ArticleVersion,
    IngestionRun,
    KnowledgeSource,
    RunStatus,
)
from services.kb.models import Chunk as ChunkRow

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int], None]


class IngestMode(StrEnum):
    """FULL reads every document and prunes the missing; POLL reads changes since the last run."""

    FULL = "full"
    POLL = "poll"


@dataclass
class IngestReport:
    """What one ingestion run did."""

    source: str
    documents: int = 0
    changed: int = 0
    unchanged: int = 0
    chunks_embedded: int = 0
    chunks_reused: int = 0
    removed: int = 0
    failures: list[DocumentFailure] = field(default_factory=list)
    seconds: float = 0.0
    embed_seconds: float = 0.0

    @property
    def skipped(self) -> int:
        """Documents not (re)indexed: unchanged plus failed."""
        return self.unchanged + len(self.failures)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready summary."""
        return {
            "source": self.source,
            "documents": self.documents,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "chunks_embedded": self.chunks_embedded,
            "chunks_reused": self.chunks_reused,
            "removed": self.removed,
            "failed": len(self.failures),
            "seconds": round(self.seconds, 2),
            "embed_seconds": round(self.embed_seconds, 2),
        }


def document_fingerprint(document: KnowledgeDocument) -> str:
    """SHA-256 over everything about a document that changes its chunks or who may read them."""
    payload = json.dumps(
        [
            document.title,
            document.body,
            document.content_type.value,
            document.url,
            document.category,
            sorted(document.acl),
        ]
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass
class _PendingIndex:
    chunks: list[IndexedChunk] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    stale_vector_ids: list[str] = field(default_factory=list)


def _write_batch_rows(
    db_session: Session,
    *,
    source_id: int,
    documents: list[tuple[KnowledgeDocument, list[Chunk], str]],
    report: IngestReport,
) -> _PendingIndex:
    """Phase 1: upsert articles, versions and chunk rows; return what must be (re)indexed."""
    pending = _PendingIndex()
    existing = repo.articles_by_external_ids(
        db_session=db_session, source_id=source_id, external_ids=[d.document_id for d, _, _ in documents]
    )
    article_ids = [a.id for a in existing.values()]
    hashes = repo.current_version_hashes(db_session=db_session, article_ids=article_ids)
    synced = repo.last_synced_hashes(db_session=db_session, article_ids=article_ids)
    groups = repo.ensure_groups(db_session=db_session, names={g for d, _, _ in documents for g in d.acl})
    now = utcnow()
    for document, chunks, fingerprint in documents:
        article = existing.get(document.document_id)
        fully_indexed = article is not None and all(row.indexed_at is not None for row in article.chunks)
        held = article is not None and article.status is not ArticleStatus.PUBLISHED
        edited = article is not None and hashes.get(article.id) != synced.get(article.id)
        if (
            article is not None
            and synced.get(article.id, hashes.get(article.id)) == fingerprint
            and (held or edited or fully_indexed)
        ):
            report.unchanged += 1
            continue
        report.changed += 1
        if article is not None and held:
            _record_source_version(article, document, fingerprint, note="while out of service")
            continue
        audience_changed = True
        if article is None:
            article = Article(
                source_id=source_id,
                external_id=document.document_id,
                title=document.title,
                origin=ArticleOrigin(str(document.metadata.get("origin", ArticleOrigin.IMPORTED.value))),
                current_version=0,
            )
            db_session.add(article)
        else:
            audience_changed = {g.name for g in article.audience} != set(document.acl)
        if hashes.get(article.id) != fingerprint:
            _record_source_version(
                article, document, fingerprint, note="replacing local edits" if edited else ""
            )
        article.title = document.title
        article.url = document.url
        article.category = document.category
        if article.status is not ArticleStatus.PUBLISHED:
            article.status = ArticleStatus.PUBLISHED
            article.published_at = now
        article.audience = [groups[name] for name in sorted(document.acl)]
        db_session.flush()

        rows = {row.id: row for row in article.chunks}
        wanted = {chunk.chunk_id for chunk in chunks}
        for chunk in chunks:
            row = rows.get(chunk.chunk_id)
            if (
                row is not None
                and row.content_hash == chunk.content_hash
                and row.indexed_at
                and not audience_changed
            ):
                report.chunks_reused += 1
                continue
            if row is None:
                row = ChunkRow(id=chunk.chunk_id, article_id=article.id, ordinal=chunk.ordinal)
                article.chunks.append(row)
            row.ordinal = chunk.ordinal
            row.heading_path = chunk.heading_path[:1000]
            row.text = chunk.text
            row.content_hash = chunk.content_hash
            row.token_count = chunk.word_count
            row.indexed_at = None
            if audience_changed:
                pending.stale_vector_ids.append(chunk.chunk_id)
            pending.chunks.append(
                IndexedChunk(
                    chunk_id=chunk.chunk_id,
                    text=chunk.text,
                    doc_key=chunk.doc_key,
                    article_id=article.id,
                    title=chunk.title,
                    url=document.url,
                    heading_path=chunk.heading_path,
                    audience=document.acl,
                )
            )
            pending.texts.append(chunk.index_text)
        gone = [chunk_id for chunk_id in rows if chunk_id not in wanted]
        for chunk_id in gone:
            article.chunks.remove(rows[chunk_id])
        pending.stale_vector_ids.extend(gone)
    return pending


def _index_pending(index: KnowledgeIndex, pending: _PendingIndex, report: IngestReport) -> None:
    """Phase 2: embed and write vectors (no database session is open here)."""
    if pending.stale_vector_ids:
        index.vectors.delete(pending.stale_vector_ids)
    if not pending.chunks:
        return
    started = time.perf_counter()
    vectors = index.embedder.embed_documents(pending.texts)
    report.embed_seconds += time.perf_counter() - started
    index.vectors.upsert(pending.chunks, vectors)
    report.chunks_embedded += len(pending.chunks)


def _without_repeated_ids(batch: DocumentBatch, taken: set[str], report: IngestReport) -> DocumentBatch:
    """The batch without documents whose id an earlier document of this run already had (they would
    collide in the database and fail the whole run); each repeat is reported as a failure."""
    documents: list[KnowledgeDocument] = []
    for document in batch.documents:
        if document.document_id in taken:
            report.failures.append(
                DocumentFailure(
                    source=document.source,
                    document_id=document.document_id,
                    error="duplicate document id: an earlier document of this run has the same id",
                )
            )
            continue
        taken.add(document.document_id)
        documents.append(document)
    if len(documents) == len(batch.documents):
        return batch
    return DocumentBatch(documents=documents, failures=batch.failures)


def _chunk_batch(
    batch: DocumentBatch, report: IngestReport
) -> list[tuple[KnowledgeDocument, list[Chunk], str]]:
    prepared: list[tuple[KnowledgeDocument, list[Chunk], str]] = []
    for document in batch.documents:
        try:
            chunks = chunk_document(document)
        except Exception as exc:  # noqa: BLE001 - a broken document must not stop the run
            report.failures.append(
                DocumentFailure(
                    source=document.source, document_id=document.document_id, error=f"chunking failed: {exc}"
                )
            )
            continue
        if not chunks:
            report.failures.append(
                DocumentFailure(
                    source=document.source, document_id=document.document_id, error="no text to index"
                )
            )
            continue
        prepared.append((document, chunks, document_fingerprint(document)))
    return prepared


def _prune(
    session_factory: sessionmaker[Session], index: KnowledgeIndex, *, source_id: int, keep: set[str]
) -> int:
    with session_scope(session_factory) as db_session:
        gone = repo.articles_of_source_except(db_session=db_session, source_id=source_id, keep=keep)
        chunk_ids = [row.id for article in gone for row in article.chunks]
        for article in gone:
            db_session.delete(article)
    index.vectors.delete(chunk_ids)
    return len(gone)


def _record_source_version(
    article: Article, document: KnowledgeDocument, fingerprint: str, *, note: str
) -> None:
    """Append the source's text as the article's new current version (no author: written by a sync)."""
    article.current_version += 1
    article.versions.append(
        ArticleVersion(
            version=article.current_version,
            title=document.title,
            body_markdown=document_markdown(document),
            content_hash=fingerprint,
            change_note=f"synced from {document.source}" + (f" ({note})" if note else ""),
        )
    )


def rebuild_lexical_index(index: KnowledgeIndex, session_factory: sessionmaker[Session]) -> int:
    """Rebuild BM25 from every indexed chunk of a published article; returns the chunk count.

    Runs under the index's cross-process lock and reads the database inside it, so two processes
    ingesting at once publish in order and the last index includes both.
    """
    from knowledge.chunking import index_text

    with index.lexical.exclusive():
        ids: list[str] = []
        texts: list[str] = []
        audiences: list[frozenset[str]] = []
        with session_scope(session_factory) as db_session:
            for chunk in repo.iter_searchable_chunks(db_session=db_session):
                ids.append(chunk.chunk_id)
                texts.append(index_text(chunk.title, chunk.heading_path, chunk.text))
                audiences.append(chunk.audience)
        index.lexical.build(ids, texts, audiences)
    return len(ids)


def ingest_source(
    source: KnowledgeSourceConnector,
    *,
    kind: str,
    index: KnowledgeIndex,
    session_factory: sessionmaker[Session],
    mode: IngestMode = IngestMode.FULL,
    since: datetime | None = None,
    config: dict[str, object] | None = None,
    trigger: str = "cli",
    progress: ProgressCallback | None = None,
) -> IngestReport:
    """Bring the indexes in line with ``source``; per-document failures are reported, not raised.

    Runs of the same source are serialised across processes (:func:`knowledge.run_lock.source_run_lock`).
    """
    with source_run_lock(session_factory, source.name):
        return _ingest_source(
            source,
            kind=kind,
            index=index,
            session_factory=session_factory,
            mode=mode,
            since=since,
            config=config,
            trigger=trigger,
            progress=progress,
        )


def _ingest_source(
    source: KnowledgeSourceConnector,
    *,
    kind: str,
    index: KnowledgeIndex,
    session_factory: sessionmaker[Session],
    mode: IngestMode,
    since: datetime | None,
    config: dict[str, object] | None,
    trigger: str,
    progress: ProgressCallback | None,
) -> IngestReport:
    started = time.perf_counter()
    report = IngestReport(source=source.name)
    with session_scope(session_factory) as db_session:
        source_row = repo.get_or_create_source(
            db_session=db_session, name=source.name, kind=kind, config=config or {}
        )
        run = IngestionRun(source_id=source_row.id, trigger=trigger)
        db_session.add(run)
        db_session.flush()
        source_id, run_id = source_row.id, run.id
        last_sync = source_row.last_sync_at
    poll_from = since or last_sync
    use_poll = mode is IngestMode.POLL and poll_from is not None
    run_started_at = utcnow()
    seen: set[str] = set()
    taken: set[str] = set()
    status = RunStatus.SUCCEEDED
    error: str | None = None
    try:
        batches = source.poll(poll_from, run_started_at) if use_poll and poll_from else source.load_all()
        for raw_batch in batches:
            batch = _without_repeated_ids(raw_batch, taken, report)
            report.documents += len(batch.documents)
            report.failures.extend(batch.failures)
            seen.update(d.document_id for d in batch.documents)
            seen.update(f.document_id for f in batch.failures)
            prepared = _chunk_batch(batch, report)
            with session_scope(session_factory) as db_session:
                pending = _write_batch_rows(
                    db_session, source_id=source_id, documents=prepared, report=report
                )
            _index_pending(index, pending, report)
            with session_scope(session_factory) as db_session:
                repo.mark_chunks_indexed(
                    db_session=db_session, chunk_ids=[c.chunk_id for c in pending.chunks]
                )
            if progress is not None:
                progress(len(batch.documents) + len(batch.failures))
        if use_poll:
            seen = {doc_id for ids in source.list_document_ids() for doc_id in ids}
        report.removed = _prune(session_factory, index, source_id=source_id, keep=seen)
    except Exception as exc:
        status, error = RunStatus.FAILED, f"{type(exc).__name__}: {exc}"[:2000]
        logger.exception("ingestion failed", extra={"source": source.name})
        raise
    finally:
        if report.changed or report.removed or index.lexical.size == 0:
            rebuild_lexical_index(index, session_factory)
        report.seconds = time.perf_counter() - started
        if status is RunStatus.SUCCEEDED and report.failures:
            status = RunStatus.PARTIAL
        _finish_run(
            session_factory,
            run_id=run_id,
            source_id=source_id,
            report=report,
            status=status,
            error=error,
            synced_at=run_started_at,
        )
    return report


def _finish_run(
    session_factory: sessionmaker[Session],
    *,
    run_id: int,
    source_id: int,
    report: IngestReport,
    status: RunStatus,
    error: str | None,
    synced_at: datetime,
) -> None:
    with session_scope(session_factory) as db_session:
        run = db_session.get(IngestionRun, run_id)
        source_row = db_session.get(KnowledgeSource, source_id)
        if run is not None:
            run.status = status
            run.finished_at = utcnow()
            run.documents = report.documents
            run.chunks = report.chunks_embedded
            run.skipped = report.skipped
            run.removed = report.removed
            run.errors = [f.model_dump() for f in report.failures[:500]] + (
                [{"error": error}] if error else []
            )
        if source_row is not None:
            source_row.last_status = status
            source_row.last_error = error or (report.failures[0].error if report.failures else None)
            if status is not RunStatus.FAILED:
                source_row.last_sync_at = synced_at
