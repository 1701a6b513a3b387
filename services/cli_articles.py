"""``deskpilot articles ...``: generate drafts from resolved tickets, list the queue, approve, reject."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime

import typer
from sqlalchemy import select

from services.common.config import Settings
from services.common.db import session_scope


def run_generate(settings: Settings, *, since: datetime | None, fixtures: int | None, as_json: bool) -> int:
    """Run the pipeline once (optionally on generated fixture tickets) and print the report."""
    from connectors.registry import build_llm
    from knowledge.chunk_source import resilient_retriever
    from services.articles.fixtures import generate_resolved_tickets
    from services.articles.pipeline import generate_drafts
    from services.cli_knowledge import knowledge_runtime

    with knowledge_runtime(settings) as (session_factory, index):
        tickets = None
        if fixtures is None:
            from connectors.registry import build_ticket_system
            from services.articles.itsm_import import import_from_itsm

            configured = build_ticket_system(settings.ticketing)
            if configured is not None:
                imported = import_from_itsm(session_factory, configured, since=since)
                typer.echo(f"{imported} resolved tickets imported from {configured.system}", err=True)
        else:
            from services.articles.fixture_loader import load_fixture_tickets

            tickets = load_fixture_tickets(session_factory, generate_resolved_tickets(seed=fixtures))
        report = generate_drafts(
            session_factory,
            embedder=index.embedder,
            retriever=resilient_retriever(index, session_factory),
            llm=build_llm(settings.llm, prices=settings.metrics.llm_prices),
            tickets=tickets,
            since=since,
        )
    if as_json:
        typer.echo(json.dumps(asdict(report), default=str))
        return 0
    typer.echo(
        f"{report.tickets_considered} tickets, {report.clusters} clusters: "
        f"{len(report.drafts_created)} drafts queued, {len(report.covered)} already covered "
        f"({report.seconds} s, peak {report.peak_memory_mb} MB)"
    )
    for covered in report.covered:
        typer.echo(
            f"  covered by article {covered.article_id} “{covered.article_title}” ({covered.similarity})"
        )
    return 0


def run_list(settings: Settings, *, as_json: bool) -> int:
    """The drafts waiting for review, most confident first."""
    from services.articles.models import ArticleDraft, DraftStatus
    from services.cli_knowledge import database_runtime

    with database_runtime(settings) as session_factory, session_scope(session_factory) as db_session:
        drafts = db_session.scalars(
            select(ArticleDraft)
            .where(ArticleDraft.status == DraftStatus.PENDING_REVIEW)
            .order_by(ArticleDraft.confidence.desc())
        ).all()
        rows = [
            {
                "id": d.id,
                "title": d.title,
                "generator": d.generator.value,
                "confidence": d.confidence,
                "cluster_size": d.cluster_size,
                "source_tickets": [t.external_key for t in d.source_tickets],
                "pii_replaced": d.pii_report,
                "flags": d.quality_flags,
            }
            for d in drafts
        ]
    if as_json:
        typer.echo(json.dumps(rows))
    else:
        for row in rows:
            typer.echo(
                f"#{row['id']} {row['title']} · {row['generator']} · confidence {row['confidence']:.2f} · "
                f"{row['cluster_size']} tickets"
            )
    return 0


def run_decide(
    settings: Settings,
    *,
    draft_id: int,
    reviewer_email: str,
    reject_reason: str | None,
    edited_body: str | None = None,
    merge_into: int | None = None,
) -> int:
    """Approve (publish and index, optionally edited), merge or reject a draft as ``reviewer_email``."""
    from services.articles import review
    from services.cli_knowledge import knowledge_runtime
    from services.common.errors import PermanentError
    from services.directory import repo as directory

    with knowledge_runtime(settings) as (session_factory, index):
        with session_scope(session_factory) as db_session:
            reviewer = directory.get_employee_by_email(db_session=db_session, email=reviewer_email)
            reviewer_id = reviewer.id if reviewer else None
        if reviewer_id is None:
            typer.secho(f"error: no employee with e-mail {reviewer_email}", fg=typer.colors.RED, err=True)
            return 2
        try:
            if reject_reason is not None:
                outcome = review.reject(
                    session_factory, draft_id=draft_id, reviewer_id=reviewer_id, reason=reject_reason
                )
            elif merge_into is not None:
                outcome = review.merge(
                    session_factory, draft_id=draft_id, reviewer_id=reviewer_id, article_id=merge_into
                )
            else:
                outcome = review.approve(
                    session_factory,
                    index,
                    draft_id=draft_id,
                    reviewer_id=reviewer_id,
                    edited_body=edited_body,
                )
        except PermanentError as exc:
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            return 2
    typer.echo(
        f"draft {outcome.draft_id}: {outcome.status.value}"
        + (f", article {outcome.article_id}" if outcome.article_id else "")
    )
    return 0


def run_gaps(settings: Settings, *, draft: int | None, as_json: bool) -> int:
    """List knowledge gaps (most frequent first); ``draft`` queues a draft for gap number ``draft``."""
    from services.articles.gaps import draft_from_gap, find_gaps
    from services.cli_knowledge import knowledge_runtime

    with knowledge_runtime(settings) as (session_factory, index):
        gaps = find_gaps(session_factory, index.embedder)
        if draft is not None:
            if not 1 <= draft <= len(gaps):
                typer.secho(
                    f"error: there are {len(gaps)} gaps; pick 1..{len(gaps)}", fg=typer.colors.RED, err=True
                )
                return 2
            draft_id = draft_from_gap(session_factory, gaps[draft - 1])
            typer.echo(f"draft {draft_id} queued for gap {draft}: {gaps[draft - 1].representative}")
            return 0
    if as_json:
        typer.echo(json.dumps([{**asdict(g), "last_asked": str(g.last_asked)} for g in gaps]))
        return 0
    for number, gap in enumerate(gaps, start=1):
        typer.echo(
            f"{number}. {gap.representative} · asked {gap.count}× "
            f"({gap.unanswered} unanswered, {gap.unhelpful} unhelpful)"
        )
    return 0
