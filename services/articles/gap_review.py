"""Knowledge gaps for the review page: ranked, with how well the knowledge base covers each one now, and
turned into a draft at most once while that draft is being reviewed.

Gaps are computed, not stored, so a gap is named by the ids of the questions in it. Each draft made from
a gap is audited (``knowledge_gap.drafted``) with those ids; a later gap sharing a question with a draft
still in review (or published) points to that draft instead of offering a second one.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from knowledge.acl import Viewer
from knowledge.chunk_source import resilient_retriever
from knowledge.index import KnowledgeIndex
from knowledge.retrieve import HybridRetriever
from services.articles.gaps import KnowledgeGap, draft_from_gap, find_gaps
from services.articles.models import ArticleDraft, DraftStatus
from services.audit import repo as audit
from services.audit.models import AuditEntry
from services.common.db import session_scope, utcnow
from services.common.errors import PermanentError
from services.directory.models import Group

WINDOWS_DAYS = (7, 30, 90)
DRAFTED_ACTION = "knowledge_gap.drafted"
_LIVE_DRAFTS = (DraftStatus.PENDING_REVIEW, DraftStatus.APPROVED, DraftStatus.MERGED)


class GapGoneError(PermanentError):
    """The gap asked for is no longer in the list (its questions aged out or were answered)."""

    http_status = 409
    code = "gap_gone"


@dataclass(frozen=True)
class BestMatch:
    """The published article closest to a gap's question, and how close (dense cosine similarity)."""

    article_id: int
    title: str
    score: float


@dataclass(frozen=True)
class RankedGap:
    """A gap as the page lists it."""

    rank: int
    gap: KnowledgeGap
    best: BestMatch | None
    draft_id: int | None
    draft_status: str | None

    @property
    def question_ids(self) -> str:
        """The gap's name in forms: its question ids, comma-separated."""
        return ",".join(str(i) for i in self.gap.message_ids)


def parse_question_ids(raw: str) -> set[int]:
    """Question ids from a form (``GapGoneError`` when there are none)."""
    ids = {int(part) for part in raw.split(",") if part.strip().isdigit()}
    if not ids:
        raise GapGoneError("That gap is not in the list any more; reload the page.")
    return ids


def _best_match(retriever: HybridRetriever, viewer: Viewer, question: str) -> BestMatch | None:
    result = retriever.retrieve(question, viewer=viewer, k=1)
    if not result.chunks:
        return None
    chunk = result.chunks[0].chunk
    return BestMatch(chunk.article_id, chunk.title, round(result.top_similarity, 3))


def _drafts_by_question(db_session: Session, since: datetime) -> dict[int, tuple[int, DraftStatus]]:
    """Question id → the newest live draft made from a gap holding it (drafted since ``since``)."""
    entries = db_session.scalars(
        select(AuditEntry)
        .where(AuditEntry.action == DRAFTED_ACTION, AuditEntry.created_at >= since)
        .order_by(AuditEntry.id)
    ).all()
    statuses = dict(
        db_session.execute(
            select(ArticleDraft.id, ArticleDraft.status).where(
                ArticleDraft.id.in_({int(e.target_id) for e in entries})
            )
        ).all()
    )
    drafted: dict[int, tuple[int, DraftStatus]] = {}
    for entry in entries:
        status = statuses.get(int(entry.target_id))
        if status in _LIVE_DRAFTS:
            for question_id in entry.details.get("question_ids", []):
                drafted[int(question_id)] = (int(entry.target_id), status)
    return drafted


def _live_draft(
    drafted: dict[int, tuple[int, DraftStatus]], gap: KnowledgeGap
) -> tuple[int, DraftStatus] | None:
    found = [drafted[i] for i in gap.message_ids if i in drafted]
    return max(found, key=lambda d: d[0]) if found else None


def ranked_gaps(
    session_factory: sessionmaker[Session], index: KnowledgeIndex, *, days: int, limit: int = 50
) -> list[RankedGap]:
    """Gaps of the last ``days`` days, most asked first, with their best match and any live draft."""
    since = utcnow() - timedelta(days=days)
    gaps = find_gaps(session_factory, index.embedder, since=since, limit=limit)
    with session_scope(session_factory) as db_session:
        viewer = Viewer.of(db_session.scalars(select(Group.name)).all())  # IT sees every article
        drafted = _drafts_by_question(db_session, since)
    retriever = resilient_retriever(index, session_factory)
    ranked = []
    for rank, gap in enumerate(gaps, start=1):
        draft = _live_draft(drafted, gap)
        ranked.append(
            RankedGap(
                rank=rank,
                gap=gap,
                best=_best_match(retriever, viewer, gap.representative),
                draft_id=draft[0] if draft else None,
                draft_status=draft[1].value if draft else None,
            )
        )
    return ranked


def gap_draft_flow(
    session_factory: sessionmaker[Session],
    index: KnowledgeIndex,
    *,
    question_ids: Collection[int],
    days: int,
    actor_id: int,
) -> tuple[int, bool]:
    """Draft an article for the current gap sharing the most questions with ``question_ids``.

    Returns (draft id, created): a gap whose draft is still in review (or published) returns that draft.
    ``GapGoneError`` when no current gap holds any of the questions.
    """
    since = utcnow() - timedelta(days=days)
    wanted = set(question_ids)
    gaps = find_gaps(session_factory, index.embedder, since=since)
    overlap, gap = max(
        ((len(wanted & set(g.message_ids)), g) for g in gaps), default=(0, None), key=lambda p: p[0]
    )
    if gap is None or overlap == 0:
        raise GapGoneError("That gap is not in the list any more; reload the page.")
    with session_scope(session_factory) as db_session:
        existing = _live_draft(_drafts_by_question(db_session, since), gap)
    if existing is not None:
        return existing[0], False
    draft_id = draft_from_gap(session_factory, gap)
    with session_scope(session_factory) as db_session:
        audit.record(
            db_session,
            action=DRAFTED_ACTION,
            target_type="article_draft",
            target_id=draft_id,
            actor_id=actor_id,
            actor_label=f"employee:{actor_id}",
            details={"question_ids": list(gap.message_ids), "asked": gap.count},
        )
    return draft_id, True
