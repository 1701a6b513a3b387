"""How published articles are used: answers that cited them and what employees said of those answers."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from services.common.db import session_scope, utcnow
from services.conversations.models import FeedbackRating, Message, MessageRole


@dataclass(frozen=True)
class ArticleUsage:
    """Answers citing the article in the window, and their feedback."""

    cited: int = 0
    helpful: int = 0
    not_helpful: int = 0

    @property
    def helpfulness(self) -> float | None:
        """Share of rated answers rated helpful (None before any rating)."""
        rated = self.helpful + self.not_helpful
        return self.helpful / rated if rated else None


def article_usage(
    session_factory: sessionmaker[Session], article_ids: set[int], *, since: datetime | None = None
) -> dict[int, ArticleUsage]:
    """Usage of each article in ``article_ids`` since ``since`` (default 90 days)."""
    since = since or utcnow() - timedelta(days=90)
    cited: Counter[int] = Counter()
    helpful: Counter[int] = Counter()
    not_helpful: Counter[int] = Counter()
    with session_scope(session_factory) as db_session:
        answers = db_session.scalars(
            select(Message)
            .options(selectinload(Message.feedback))
            .where(Message.role == MessageRole.ASSISTANT, Message.created_at >= since)
        )
        for answer in answers:
            ids = {int(c["article_id"]) for c in answer.citations or [] if c.get("article_id") in article_ids}
            for article_id in ids:
                cited[article_id] += 1
                for feedback in answer.feedback:
                    (helpful if feedback.rating is FeedbackRating.HELPFUL else not_helpful)[article_id] += 1
    return {a: ArticleUsage(cited[a], helpful[a], not_helpful[a]) for a in article_ids}
