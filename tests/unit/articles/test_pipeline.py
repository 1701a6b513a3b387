"""The article pipeline on seeded fixture tickets, with the real MiniLM embedder: no seeded PII in any
draft, covered problems produce no draft, one draft per problem cluster with high step recall, re-runs
add nothing, and an approved draft is published and found by retrieval at once."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from connectors.folder.source import FolderKnowledgeSource
from knowledge import embeddings
from knowledge.acl import Viewer
from knowledge.chunk_source import resilient_retriever
from knowledge.index import KnowledgeIndex, open_knowledge_index
from knowledge.ingest import ingest_source
from services.articles import review
from services.articles.drafting import step_recall
from services.articles.fixture_loader import load_fixture_tickets
from services.articles.fixtures import FixtureSet, generate_resolved_tickets
from services.articles.models import ArticleDraft, DraftStatus
from services.articles.pipeline import generate_drafts
from services.common.db import build_engine, build_session_factory, session_scope
from services.common.migrate import build_alembic_config, upgrade
from services.directory.demo import seed_demo_directory
from services.directory.models import Employee
from services.kb.models import Article, ArticleOrigin
from tests.conftest import make_settings
from tests.flaky_chroma import Clock, flaky_store
from tests.unit.knowledge.conftest import write_article

COVERED = "vpn-hotel-wifi"


@pytest.fixture(scope="module")
def minilm() -> embeddings.LocalMiniLMEmbedder:
    embedder = embeddings.LocalMiniLMEmbedder()
    embedder.load()
    return embedder


class World:
    def __init__(self, tmp_path: Path, embedder: embeddings.LocalMiniLMEmbedder) -> None:
        settings = make_settings(tmp_path, knowledge={"bm25_path": tmp_path / "bm25"})
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        upgrade(build_alembic_config(database_url=settings.database.url))
        self.engine = build_engine(settings.database)
        self.sessions = build_session_factory(self.engine)
        self.index: KnowledgeIndex = open_knowledge_index(settings, embedder=embedder)
        with session_scope(self.sessions) as db_session:
            seed_demo_directory(db_session)
        self.fixtures: FixtureSet = generate_resolved_tickets(seed=7)
        problem = self.fixtures.problems[COVERED]
        folder = tmp_path / "kb"
        steps = "\n".join(f"{n}. {step}" for n, step in enumerate(problem.steps, start=1))
        write_article(
            folder,
            "vpn-hotel.md",
            title=problem.title,
            body=(
                f"## Symptoms\n\n{problem.symptom}\n\n## Cause\n\n{problem.cause}\n\n"
                f"## Resolution\n\n{steps}\n"
            ),
        )
        ingest_source(
            FolderKnowledgeSource("kb", folder),
            kind="folder",
            index=self.index,
            session_factory=self.sessions,
        )
        self.loaded = load_fixture_tickets(self.sessions, self.fixtures)
        self.fixture_id = {
            t.ticket_id: f.ticket_id for t, f in zip(self.loaded, self.fixtures.tickets, strict=True)
        }

    def generate(self) -> list[int]:
        report = generate_drafts(
            self.sessions, embedder=self.index.embedder, retriever=self.index.retriever(), llm=None
        )
        self.report = report
        return report.drafts_created

    def drafts(self) -> list[ArticleDraft]:
        with session_scope(self.sessions) as db_session:
            rows = list(db_session.scalars(select(ArticleDraft).order_by(ArticleDraft.id)))
            for row in rows:
                _ = row.source_tickets
            db_session.expunge_all()
            return rows


@pytest.fixture
def world(tmp_path: Path, minilm: embeddings.LocalMiniLMEmbedder) -> Iterator[World]:
    world = World(tmp_path, minilm)
    yield world
    world.engine.dispose()


def _problem_of(world: World, draft: ArticleDraft) -> tuple[str, float]:
    labels = Counter(world.fixtures.labels[world.fixture_id[t.id]] for t in draft.source_tickets)
    label, count = labels.most_common(1)[0]
    return label, count / len(draft.source_tickets)


def test_drafts_hold_no_seeded_pii_skip_covered_problems_and_recall_the_steps(world: World) -> None:
    created = world.generate()
    drafts = world.drafts()
    assert len(drafts) == len(created) >= 8

    seeded = [s for strings in world.fixtures.seeded_pii.values() for s in strings]
    texts = [d.title + "\n" + d.body_markdown for d in drafts]
    leaks = [
        s for s in seeded for text in texts if re.search(rf"(?<!\w){re.escape(s)}(?!\w)", text, re.IGNORECASE)
    ]
    assert leaks == [], f"{len(leaks)} seeded PII strings of {len(seeded)} leaked into drafts"

    problems = [_problem_of(world, d) for d in drafts]
    assert COVERED not in {label for label, _ in problems}
    assert any(c.article_title == world.fixtures.problems[COVERED].title for c in world.report.covered)
    purity = sum(share for _, share in problems) / len(problems)
    labels = [label for label, _ in problems if label != "noise"]
    assert len(labels) == len(set(labels)), "one draft per problem"
    assert purity >= 0.9

    recalls = []
    for draft, (label, _) in zip(drafts, problems, strict=True):
        if label == "noise":
            continue
        canonical = world.fixtures.problems[label].steps
        steps = [
            line.split(". ", 1)[1]
            for line in draft.body_markdown.splitlines()
            if line[:1].isdigit() and ". " in line
        ]
        from services.articles.types import DraftArticle, DraftStep

        recalls.append(
            step_recall(
                DraftArticle(
                    draft.title, "", "", tuple(DraftStep(s, ()) for s in steps), (), "extractive", 0, ()
                ),
                canonical,
            )
        )
    mean_recall = sum(recalls) / len(recalls)
    assert mean_recall >= 0.8, f"mean step recall {mean_recall:.2f} over {len(recalls)} drafts"
    for draft in drafts:
        assert "## Symptoms" in draft.body_markdown and "## Resolution" in draft.body_markdown
        assert draft.cluster_size == len(draft.source_tickets) >= 3 and 0 < draft.confidence <= 1
        assert "Extractive draft" in draft.body_markdown and sum(draft.pii_report.values()) > 0

    assert world.generate() == []  # incremental: the same tickets are never drafted twice


def test_generation_while_the_vector_store_is_down_still_skips_covered_problems(world: World) -> None:
    store, client = flaky_store(world.index, Clock())
    client.up = False
    report = generate_drafts(
        world.sessions,
        embedder=world.index.embedder,
        retriever=resilient_retriever(replace(world.index, vectors=store), world.sessions),
        llm=None,
    )
    assert client.calls > 0 and len(report.drafts_created) >= 8
    covered = [c for c in report.covered if c.article_title == world.fixtures.problems[COVERED].title]
    assert covered, "the covering article is found by BM25, its similarity rescored with real vectors"
    assert COVERED not in {_problem_of(world, d)[0] for d in world.drafts()}


def test_approved_draft_is_published_indexed_and_answers_at_once(world: World) -> None:
    world.generate()
    drafts = world.drafts()
    target = drafts[0]
    label, _ = _problem_of(world, target)
    with session_scope(world.sessions) as db_session:
        ian = db_session.scalars(select(Employee).where(Employee.email.like("ian.it%"))).one().id
    outcome = review.approve(world.sessions, world.index, draft_id=target.id, reviewer_id=ian)
    assert outcome.status is DraftStatus.APPROVED and outcome.article_id is not None
    with session_scope(world.sessions) as db_session:
        article = db_session.get(Article, outcome.article_id)
        assert article is not None and article.origin is ArticleOrigin.GENERATED
    symptom = world.fixtures.problems[label].symptom if label != "noise" else target.title
    found = world.index.retriever().retrieve(symptom, viewer=Viewer.of(()), k=3)
    assert outcome.article_id in {c.chunk.article_id for c in found.chunks}

    rejected = review.reject(
        world.sessions, draft_id=drafts[1].id, reviewer_id=ian, reason="Duplicate of KB-12"
    )
    assert rejected.status is DraftStatus.REJECTED
    with pytest.raises(review.ReviewError):
        review.approve(world.sessions, world.index, draft_id=drafts[1].id, reviewer_id=ian)


def test_knowledge_gaps_rank_recurring_unanswered_questions_scrubbed_and_can_become_drafts(
    world: World,
) -> None:
    from services.articles.gaps import GAP_FLAG, draft_from_gap, find_gaps
    from services.conversations import repo as conversations
    from services.conversations.models import (
        AnswerOutcome,
        Channel,
        Conversation,
        Feedback,
        FeedbackRating,
        MessageRole,
    )

    asked = [
        ("How do I connect my laptop to the boardroom projector?", AnswerOutcome.NO_ANSWER),
        ("boardroom projector shows no signal from my laptop", AnswerOutcome.NO_ANSWER),
        (
            "The projector in the boardroom won't show my screen, call me on +44 20 7946 0958",
            AnswerOutcome.NO_ANSWER,
        ),
        ("Where can I order business cards?", AnswerOutcome.ANSWERED),  # thumbs-down below
        ("What's the canteen menu today?", AnswerOutcome.ANSWERED),  # answered and fine: not a gap
    ]
    with session_scope(world.sessions) as db_session:
        fiona = db_session.scalars(select(Employee).where(Employee.email.like("fiona%"))).one()
        for text, outcome in asked:
            conversation = Conversation(employee_id=fiona.id, channel=Channel.WEB)
            db_session.add(conversation)
            db_session.flush()
            conversations.add_message(
                db_session=db_session, conversation=conversation, role=MessageRole.EMPLOYEE, text=text
            )
            reply = conversations.add_message(
                db_session=db_session,
                conversation=conversation,
                role=MessageRole.ASSISTANT,
                text="...",
                outcome=outcome,
            )
            if "business cards" in text:
                db_session.add(
                    Feedback(message_id=reply.id, employee_id=fiona.id, rating=FeedbackRating.NOT_HELPFUL)
                )

    gaps = find_gaps(world.sessions, world.index.embedder)
    assert [g.count for g in gaps] == [3, 1]
    top = gaps[0]
    assert "projector" in top.representative.lower() and top.unanswered == 3
    assert not any("7946" in q for q in top.questions)  # the phone number was scrubbed
    assert gaps[1].unhelpful == 1 and "business cards" in gaps[1].representative
    draft_id = draft_from_gap(world.sessions, top)
    with session_scope(world.sessions) as db_session:
        draft = db_session.get_one(ArticleDraft, draft_id)
        assert draft.quality_flags == [GAP_FLAG] and draft.cluster_size == 3
        assert (
            draft.status is DraftStatus.PENDING_REVIEW
            and "boardroom projector" in draft.body_markdown.lower()
        )
