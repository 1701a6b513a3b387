"""The admin review queue: approve (optionally edited), merge into an existing article, or reject.

Approving publishes at once: approved drafts are a knowledge source of their own ("generated"), and
ingesting it indexes the new article for answers immediately (unchanged articles are not re-embedded).
Every decision is audited with the reviewer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from connectors.models import ContentType, DocumentBatch, KnowledgeDocument
from knowledge.index import KnowledgeIndex
from knowledge.ingest import IngestMode, ingest_source
from services.articles.models import ArticleDraft, DraftStatus
from services.audit import repo as audit
from services.common.db import session_scope, utcnow
from services.common.errors import NotFoundError, PermanentError
from services.kb.models import Article, ArticleOrigin, ArticleStatus, ArticleVersion

GENERATED_SOURCE = "generated"


class ReviewError(PermanentError):
    """The draft cannot take this decision (already decided, empty edit, unknown article)."""

    code = "review_refused"


@dataclass(frozen=True)
class ReviewOutcome:
    """What a decision did."""

    draft_id: int
    status: DraftStatus
    article_id: int | None = None


class GeneratedArticlesSource:
    """A knowledge source over approved drafts (``KnowledgeSource``): one document per approved draft."""

    name = GENERATED_SOURCE

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._sessions = session_factory

    def _documents(self) -> list[KnowledgeDocument]:
        with session_scope(self._sessions) as db_session:
            drafts = db_session.scalars(
                select(ArticleDraft)
                .where(ArticleDraft.status == DraftStatus.APPROVED)
                .order_by(ArticleDraft.id)
            ).all()
            return [
                KnowledgeDocument(
                    source=GENERATED_SOURCE,
                    document_id=f"draft-{d.id}",
                    title=d.title,
                    body=d.body_markdown,
                    content_type=ContentType.MARKDOWN,
                    updated_at=d.reviewed_at,
                    category="generated",
                    metadata={"origin": ArticleOrigin.GENERATED.value, "draft_id": d.id},
                )
                for d in drafts
            ]

    def load_all(self) -> Iterator[DocumentBatch]:
        """Every approved draft."""
        yield DocumentBatch(documents=self._documents())

    def poll(self, since: datetime, until: datetime) -> Iterator[DocumentBatch]:
        """Approved drafts reviewed in the window."""
        docs = [d for d in self._documents() if d.updated_at is None or since <= d.updated_at < until]
        yield DocumentBatch(documents=docs)

    def list_document_ids(self) -> Iterator[list[str]]:
        """Ids of every approved draft."""
        yield [d.document_id for d in self._documents()]


def _audit(db_session: Session, action: str, draft_id: int, reviewer_id: int, **details: object) -> None:
    audit.record(
        db_session,
        action=action,
        target_type="article_draft",
        target_id=draft_id,
        actor_id=reviewer_id,
        actor_label=f"employee:{reviewer_id}",
        details=details,
    )


def _pending(db_session: Session, draft_id: int) -> ArticleDraft:
    draft = db_session.get(ArticleDraft, draft_id)
    if draft is None:
        raise NotFoundError(f"no draft {draft_id}")
    if draft.status is not DraftStatus.PENDING_REVIEW:
        raise ReviewError(f"draft {draft_id} was already {draft.status.value}")
    return draft


def approve(
    session_factory: sessionmaker[Session],
    index: KnowledgeIndex,
    *,
    draft_id: int,
    reviewer_id: int,
    edited_title: str | None = None,
    edited_body: str | None = None,
) -> ReviewOutcome:
    """Publish the draft (with the reviewer's edits) and index it now."""
    with session_scope(session_factory) as db_session:
        draft = _pending(db_session, draft_id)
        if edited_body is not None:
            if not edited_body.strip():
                raise ReviewError("the edited article is empty")
            draft.body_markdown = edited_body
        if edited_title is not None and edited_title.strip():
            draft.title = edited_title.strip()[:500]
        draft.status = DraftStatus.APPROVED
        draft.reviewer_id = reviewer_id
        draft.reviewed_at = utcnow()
        _audit(db_session, "draft.approved", draft_id, reviewer_id, edited=edited_body is not None)
    ingest_source(
        GeneratedArticlesSource(session_factory),
        kind="generated",
        index=index,
        session_factory=session_factory,
        mode=IngestMode.FULL,
        trigger="review",
    )
    with session_scope(session_factory) as db_session:
        article = db_session.scalar(select(Article).where(Article.external_id == f"draft-{draft_id}"))
        draft = db_session.get_one(ArticleDraft, draft_id)
        draft.published_article_id = article.id if article else None
        return ReviewOutcome(draft_id, DraftStatus.APPROVED, draft.published_article_id)


def reject(
    session_factory: sessionmaker[Session], *, draft_id: int, reviewer_id: int, reason: str
) -> ReviewOutcome:
    """Reject with a reason (its tickets are not drafted again)."""
    if not reason.strip():
        raise ReviewError("a rejection needs a reason")
    with session_scope(session_factory) as db_session:
        draft = _pending(db_session, draft_id)
        draft.status = DraftStatus.REJECTED
        draft.rejection_reason = reason.strip()
        draft.reviewer_id = reviewer_id
        draft.reviewed_at = utcnow()
        _audit(db_session, "draft.rejected", draft_id, reviewer_id, reason=reason.strip()[:500])
    return ReviewOutcome(draft_id, DraftStatus.REJECTED)


def merge(
    session_factory: sessionmaker[Session], *, draft_id: int, reviewer_id: int, article_id: int
) -> ReviewOutcome:
    """Fold the draft into an existing article as a new version for its editors (the article keeps its
    source of record; a generated article is re-indexed with the next publish)."""
    with session_scope(session_factory) as db_session:
        draft = _pending(db_session, draft_id)
        article = db_session.get(Article, article_id)
        if article is None or article.status is not ArticleStatus.PUBLISHED:
            raise ReviewError(f"no published article {article_id}")
        current = next((v for v in article.versions if v.version == article.current_version), None)
        body = (
            current.body_markdown if current else ""
        ) + f"\n\n## Also seen in tickets\n\n{draft.body_markdown}"
        article.current_version += 1
        article.versions.append(
            ArticleVersion(
                version=article.current_version,
                title=article.title,
                body_markdown=body,
                content_hash=f"merge-draft-{draft_id}",
                change_note=f"merged draft {draft_id}",
            )
        )
        draft.status = DraftStatus.MERGED
        draft.covering_article_id = article_id
        draft.reviewer_id = reviewer_id
        draft.reviewed_at = utcnow()
        _audit(db_session, "draft.merged", draft_id, reviewer_id, article_id=article_id)
    return ReviewOutcome(draft_id, DraftStatus.MERGED, article_id)
