"""Knowledge gaps: questions Deskpilot could not answer, or whose answer was rated unhelpful, clustered
like tickets and ranked by how often they come up; each can be turned into a draft for IT to complete."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from connectors.interfaces import Embedder
from services.articles.clustering import cluster_tickets
from services.articles.models import ArticleDraft, DraftGenerator, DraftStatus
from services.articles.scrub import scrub_text
from services.articles.types import ScrubbedTicket
from services.common.db import session_scope, utcnow
from services.conversations.models import AnswerOutcome, Feedback, FeedbackRating, Message, MessageRole
from services.directory.models import Employee

GAP_FLAG = "knowledge gap: no resolution yet, IT must write the steps"


@dataclass(frozen=True)
class KnowledgeGap:
    """One recurring unanswered question (scrubbed), with how often and when it was last asked."""

    representative: str
    questions: tuple[str, ...]
    count: int
    unanswered: int
    unhelpful: int
    last_asked: datetime | None
    message_ids: tuple[int, ...]


def find_gaps(
    session_factory: sessionmaker[Session],
    embedder: Embedder,
    *,
    since: datetime | None = None,
    limit: int = 50,
) -> list[KnowledgeGap]:
    """Unanswered and thumbs-down questions since ``since`` (default 30 days), clustered, most frequent
    first."""
    since = since or utcnow() - timedelta(days=30)
    with session_scope(session_factory) as db_session:
        names = [e.display_name for e in db_session.scalars(select(Employee))]
        unanswered = set(
            db_session.scalars(
                select(Message.id).where(
                    Message.role == MessageRole.ASSISTANT,
                    Message.outcome == AnswerOutcome.NO_ANSWER,
                    Message.created_at >= since,
                )
            )
        )
        unhelpful = set(
            db_session.scalars(
                select(Feedback.message_id).where(
                    Feedback.rating == FeedbackRating.NOT_HELPFUL, Feedback.created_at >= since
                )
            )
        )
        questions: dict[int, tuple[str, datetime, str]] = {}
        for reply_id in sorted(unanswered | unhelpful):
            reply = db_session.get(Message, reply_id)
            if reply is None:
                continue
            asked = db_session.scalars(
                select(Message)
                .where(
                    Message.conversation_id == reply.conversation_id,
                    Message.role == MessageRole.EMPLOYEE,
                    Message.id < reply.id,
                )
                .order_by(Message.id.desc())
                .limit(1)
            ).first()
            if asked is not None and not asked.text.startswith("["):
                kind = "unanswered" if reply_id in unanswered else "unhelpful"
                questions[asked.id] = (asked.text, asked.created_at, kind)
    scrubbed = {
        message_id: ScrubbedTicket(message_id, "", scrub_text(text, people=names).text, "", "", None)
        for message_id, (text, _, _) in questions.items()
    }
    gaps = []
    for cluster in cluster_tickets(list(scrubbed.values()), embedder, min_size=1):
        ids = tuple(t.ticket_id for t in cluster.tickets)
        kinds = [questions[i][2] for i in ids]
        gaps.append(
            KnowledgeGap(
                representative=cluster.tickets[0].title,
                questions=tuple(t.title for t in cluster.tickets),
                count=len(ids),
                unanswered=kinds.count("unanswered"),
                unhelpful=kinds.count("unhelpful"),
                last_asked=max(questions[i][1] for i in ids),
                message_ids=ids,
            )
        )
    gaps.sort(key=lambda g: (-g.count, g.representative))
    return gaps[:limit]


def draft_from_gap(session_factory: sessionmaker[Session], gap: KnowledgeGap) -> int:
    """Queue a draft for the gap: the questions as symptoms, flagged for IT to write the resolution."""
    asked = "\n".join(f"- {q}" for q in dict.fromkeys(gap.questions))
    body = (
        f"# {gap.representative}\n\n> Knowledge gap: employees asked this {gap.count} times and "
        "Deskpilot had no good answer. Write the cause and the resolution steps before approving.\n\n"
        f"## Symptoms\n\nEmployees ask:\n\n{asked}\n\n## Cause\n\nNot known yet.\n\n"
        "## Resolution\n\n1. (to be written by IT)\n\n## Applies to\n\n- (not stated)\n"
    )
    with session_scope(session_factory) as db_session:
        draft = ArticleDraft(
            title=gap.representative[:500],
            body_markdown=body,
            status=DraftStatus.PENDING_REVIEW,
            generator=DraftGenerator.EXTRACTIVE,
            confidence=0.0,
            cluster_size=gap.count,
            pii_report={},
            quality_flags=[GAP_FLAG],
        )
        db_session.add(draft)
        db_session.flush()
        return draft.id
