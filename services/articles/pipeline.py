"""Resolution articles from resolved tickets: collect → scrub → cluster → skip covered → draft → queue.

Incremental by exclusion: a ticket that is already a source of any draft (pending, approved, merged or
rejected) is never clustered again, so re-running adds drafts only for new evidence. Nothing unscrubbed
reaches the clustering, the LLM or a draft: every ticket goes through ``scrub_ticket`` first.
"""

from __future__ import annotations

import logging
import time
import tracemalloc
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from connectors.interfaces import LLM, Embedder
from knowledge.acl import Viewer
from knowledge.retrieve import HybridRetriever
from services.articles.clustering import cluster_tickets
from services.articles.drafting import draft_extractive, draft_with_llm
from services.articles.models import ArticleDraft, DraftGenerator, DraftStatus, draft_source_tickets
from services.articles.scrub import scrub_ticket
from services.articles.types import DraftArticle, TicketCluster, TicketText
from services.common.db import session_scope, utcnow
from services.directory.models import Employee, Group
from services.tickets.models import Ticket, TicketStatus

logger = logging.getLogger(__name__)

COVERAGE_THRESHOLD = 0.62
"""A cluster whose representative text is this similar (cosine) to a published article is covered."""
DEFAULT_WINDOW = timedelta(days=90)


@dataclass(frozen=True)
class CoveredCluster:
    """A cluster left without a draft because a published article already covers it."""

    ticket_ids: tuple[int, ...]
    article_id: int
    article_title: str
    similarity: float


@dataclass
class GenerationReport:
    """What one generation run did."""

    tickets_considered: int = 0
    clusters: int = 0
    drafts_created: list[int] = field(default_factory=list)
    covered: list[CoveredCluster] = field(default_factory=list)
    pii_replaced: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    peak_memory_mb: float = 0.0


def resolved_tickets(
    session_factory: sessionmaker[Session], *, since: datetime | None = None
) -> list[TicketText]:
    """Resolved or closed tickets of the window that no draft has used yet, with the names they involve."""
    since = since or utcnow() - DEFAULT_WINDOW
    used = select(draft_source_tickets.c.ticket_id)
    with session_scope(session_factory) as db_session:
        rows = db_session.scalars(
            select(Ticket)
            .options(
                selectinload(Ticket.requester), selectinload(Ticket.assignee), selectinload(Ticket.comments)
            )
            .where(
                Ticket.status.in_((TicketStatus.RESOLVED, TicketStatus.CLOSED)),
                Ticket.resolved_at >= since,
                Ticket.id.not_in(used),
            )
            .order_by(Ticket.id)
        ).all()
        return [
            TicketText(
                ticket_id=t.id,
                external_key=t.external_key,
                title=t.title,
                description=t.description,
                resolution="\n".join(
                    [t.resolution_text or "", *(c.body for c in t.comments if not c.is_internal)]
                ).strip(),
                category=t.category,
                resolved_at=t.resolved_at,
                people=tuple(
                    name
                    for name in (
                        t.requester.display_name if t.requester else None,
                        t.assignee.display_name if t.assignee else None,
                        *(c.author_label for c in t.comments),
                    )
                    if name
                ),
            )
            for t in rows
        ]


def generate_drafts(
    session_factory: sessionmaker[Session],
    *,
    embedder: Embedder,
    retriever: HybridRetriever | None,
    llm: LLM | None,
    tickets: Sequence[TicketText] | None = None,
    since: datetime | None = None,
    min_cluster_size: int = 3,
) -> GenerationReport:
    """Run the pipeline once and queue the drafts for review; returns what happened (with time and memory)."""
    started = time.perf_counter()
    tracemalloc.start()
    try:
        report = _generate(
            session_factory,
            embedder=embedder,
            retriever=retriever,
            llm=llm,
            tickets=list(tickets) if tickets is not None else resolved_tickets(session_factory, since=since),
            min_cluster_size=min_cluster_size,
        )
        report.peak_memory_mb = round(tracemalloc.get_traced_memory()[1] / 1e6, 1)
    finally:
        tracemalloc.stop()
    report.seconds = round(time.perf_counter() - started, 2)
    logger.info(
        "article drafts generated",
        extra={
            "drafts": len(report.drafts_created),
            "covered": len(report.covered),
            "seconds": report.seconds,
        },
    )
    return report


def _generate(
    session_factory: sessionmaker[Session],
    *,
    embedder: Embedder,
    retriever: HybridRetriever | None,
    llm: LLM | None,
    tickets: list[TicketText],
    min_cluster_size: int,
) -> GenerationReport:
    report = GenerationReport(tickets_considered=len(tickets))
    with session_scope(session_factory) as db_session:
        known_people = [e.display_name for e in db_session.scalars(select(Employee))]
        every_group = Viewer.of(db_session.scalars(select(Group.name)).all())
    scrubbed = [scrub_ticket(t, known_people=known_people) for t in tickets]
    totals: Counter[str] = Counter()
    for ticket in scrubbed:
        totals.update(ticket.report)
    report.pii_replaced = dict(totals)
    clusters = cluster_tickets(scrubbed, embedder, min_size=min_cluster_size)
    report.clusters = len(clusters)
    for cluster in clusters:
        covering = _covering_article(cluster, retriever, every_group)
        if covering is not None:
            report.covered.append(covering)
            continue
        draft = draft_with_llm(cluster, llm) if llm is not None else draft_extractive(cluster)
        report.drafts_created.append(_queue(session_factory, cluster, draft))
    return report


def _covering_article(
    cluster: TicketCluster, retriever: HybridRetriever | None, viewer: Viewer
) -> CoveredCluster | None:
    """The published article that already answers this cluster's problem, if any."""
    if retriever is None:
        return None
    representative = cluster.tickets[0]
    query = f"{representative.title}. {representative.description}"[:1000]
    result = retriever.retrieve(query, viewer=viewer, k=1)
    if not result.chunks or result.top_similarity < COVERAGE_THRESHOLD:
        return None
    best = result.chunks[0].chunk
    return CoveredCluster(
        ticket_ids=tuple(t.ticket_id for t in cluster.tickets),
        article_id=best.article_id,
        article_title=best.title,
        similarity=round(result.top_similarity, 3),
    )


def _queue(session_factory: sessionmaker[Session], cluster: TicketCluster, draft: DraftArticle) -> int:
    """Store the draft with its evidence in the review queue."""
    report: Counter[str] = Counter()
    for ticket in cluster.tickets:
        report.update(ticket.report)
    with session_scope(session_factory) as db_session:
        row = ArticleDraft(
            title=draft.title[:500],
            body_markdown=draft.to_markdown(),
            status=DraftStatus.PENDING_REVIEW,
            generator=DraftGenerator(draft.generator),
            confidence=round(draft.confidence, 3),
            cluster_size=len(cluster.tickets),
            pii_report=dict(report),
            quality_flags=list(draft.flags),
        )
        row.source_tickets = list(
            db_session.scalars(select(Ticket).where(Ticket.id.in_([t.ticket_id for t in cluster.tickets])))
        )
        db_session.add(row)
        db_session.flush()
        return row.id
