"""The knowledge gaps page: ranked unanswered questions, their best match today, and drafting from one."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from connectors.fakes.embedder import HashingEmbedder
from knowledge.index import KnowledgeIndex, open_knowledge_index
from services.articles import review
from services.articles.gaps import GAP_FLAG
from services.articles.models import ArticleDraft, DraftGenerator
from services.common.db import session_scope
from services.conversations import repo as conversations
from services.conversations.models import (
    AnswerOutcome,
    Channel,
    Conversation,
    Feedback,
    FeedbackRating,
    MessageRole,
)
from services.directory.models import Employee
from tests.flaky_chroma import Clock, flaky_store
from tests.web_support import ADMIN, EDITOR, EMPLOYEE, MANAGER, Person, WebSite, csrf, sign_in, web_site

ASKED = [
    ("The boardroom projector shows no signal from my laptop", AnswerOutcome.NO_ANSWER),
    ("boardroom projector shows no signal from my laptop again", AnswerOutcome.NO_ANSWER),
    (
        "The boardroom projector shows no signal from my laptop, call me on +44 20 7946 0958",
        AnswerOutcome.NO_ANSWER,
    ),
    ("How do I order business cards?", AnswerOutcome.ANSWERED),  # rated unhelpful below
    ("What's the canteen menu today?", AnswerOutcome.ANSWERED),  # answered and fine: not a gap
]


@dataclass
class Desk:
    site: WebSite
    index: KnowledgeIndex

    def person(self, email: str) -> int:
        with session_scope(self.site.sessions) as db_session:
            return db_session.scalars(select(Employee.id).where(Employee.email == email)).one()

    def gap_drafts(self) -> list[ArticleDraft]:
        with session_scope(self.site.sessions) as db_session:
            drafts = [d for d in db_session.scalars(select(ArticleDraft)) if d.quality_flags == [GAP_FLAG]]
            for draft in drafts:
                db_session.expunge(draft)
            return drafts


def _ask(desk: Desk) -> None:
    with session_scope(desk.site.sessions) as db_session:
        asker = db_session.scalars(select(Employee).where(Employee.email == EMPLOYEE.email)).one()
        for text, outcome in ASKED:
            conversation = Conversation(employee_id=asker.id, channel=Channel.WEB)
            db_session.add(conversation)
            db_session.flush()
            conversations.add_message(
                db_session=db_session, conversation=conversation, role=MessageRole.EMPLOYEE, text=text
            )
            reply = conversations.add_message(
                db_session=db_session,
                conversation=conversation,
                role=MessageRole.ASSISTANT,
                text="…",
                outcome=outcome,
            )
            if "business cards" in text:
                db_session.add(
                    Feedback(message_id=reply.id, employee_id=asker.id, rating=FeedbackRating.NOT_HELPFUL)
                )


def _publish(desk: Desk, title: str, body: str) -> None:
    with session_scope(desk.site.sessions) as db_session:
        draft = ArticleDraft(
            title=title,
            body_markdown=f"# {title}\n\n{body}\n",
            generator=DraftGenerator.EXTRACTIVE,
            confidence=0.9,
            cluster_size=3,
            pii_report={},
            quality_flags=[],
        )
        db_session.add(draft)
        db_session.flush()
        draft_id = draft.id
    review.approve(desk.site.sessions, desk.index, draft_id=draft_id, reviewer_id=desk.person(EDITOR.email))


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    with web_site(tmp_path, knowledge={"bm25_path": tmp_path / "bm25"}) as site:
        index = open_knowledge_index(site.settings, embedder=HashingEmbedder())
        site.app.state.knowledge_index = index
        yield Desk(site, index)


def _draft_button(page: str, rank: int) -> str:
    row = page.split(f'data-gap="{rank}"')[1].split("</tr>")[0]
    match = re.search(r'name="questions" value="([^"]+)"', row)
    assert match, f"gap {rank} offers no draft button"
    return match.group(1)


def test_editor_sees_ranked_gaps_with_best_matches_and_drafts_one_into_the_review_queue(desk: Desk) -> None:
    _ask(desk)
    _publish(
        desk, "Ordering business cards", "Order business cards in the print shop portal under Stationery."
    )
    sign_in(desk.site.client, EDITOR.email)

    page = desk.site.client.get("/admin/gaps")

    assert page.status_code == 200 and 'data-testid="gap-count">2<' in page.text
    assert re.search(r'data-testid="gap-count-1">3<', page.text) and re.search(
        r'data-testid="gap-count-2">1<', page.text
    )
    top = page.text.split('data-gap="1"')[1].split("</tr>")[0]
    assert "boardroom projector" in top.lower() and "3 unanswered, 0 unhelpful" in top and "<time" in top
    assert "7946" not in page.text and "canteen" not in page.text  # scrubbed; answered questions are no gap
    second_match = page.text.split('data-testid="gap-match-2">')[1].split("</td>")[0]
    assert "Ordering business cards" in second_match and re.search(r"\d\.\d\d", second_match)

    token = csrf(desk.site.client, "/admin/gaps")
    questions = _draft_button(page.text, 1)
    made = desk.site.client.post(
        "/admin/gaps/draft",
        data={"csrf_token": token, "questions": questions, "days": "30"},
        follow_redirects=False,
    )

    assert made.status_code == 303
    draft_id = int(made.headers["location"].rsplit("/", 1)[1])
    assert made.headers["location"] == f"/admin/drafts/{draft_id}"
    queue = desk.site.client.get("/admin/drafts").text
    assert f'href="/admin/drafts/{draft_id}"' in queue
    draft_page = desk.site.client.get(f"/admin/drafts/{draft_id}").text
    assert "boardroom projector" in draft_page.lower() and "asked this 3 times" in draft_page

    after = desk.site.client.get("/admin/gaps").text
    assert f'href="/admin/drafts/{draft_id}">Draft #{draft_id}</a>' in after  # no second button
    again = desk.site.client.post(
        "/admin/gaps/draft",
        data={"csrf_token": token, "questions": questions, "days": "30"},
        follow_redirects=False,
    )
    assert again.headers["location"] == f"/admin/drafts/{draft_id}" and len(desk.gap_drafts()) == 1

    review.reject(
        desk.site.sessions, draft_id=draft_id, reviewer_id=desk.person(EDITOR.email), reason="too vague"
    )
    assert _draft_button(desk.site.client.get("/admin/gaps").text, 1) == questions  # can be drafted again


def test_best_matches_still_show_while_the_vector_store_is_down(desk: Desk) -> None:
    _ask(desk)
    _publish(
        desk, "Ordering business cards", "Order business cards in the print shop portal under Stationery."
    )
    store, client = flaky_store(desk.index, Clock())
    client.up = False
    desk.site.app.state.knowledge_index = replace(desk.index, vectors=store)
    sign_in(desk.site.client, EDITOR.email)

    page = desk.site.client.get("/admin/gaps")

    assert page.status_code == 200 and 'data-testid="gap-count">2<' in page.text
    second_match = page.text.split('data-testid="gap-match-2">')[1].split("</td>")[0]
    assert "Ordering business cards" in second_match and re.search(r"\d\.\d\d", second_match)
    assert client.calls > 0  # the store was asked, failed, and BM25 with database texts answered


def test_a_gap_that_left_the_list_is_not_drafted_and_the_window_is_checked(desk: Desk) -> None:
    _ask(desk)
    sign_in(desk.site.client, ADMIN.email)
    token = csrf(desk.site.client, "/admin/gaps")
    gone = desk.site.client.post(
        "/admin/gaps/draft", data={"csrf_token": token, "questions": "999999"}, follow_redirects=False
    )
    assert gone.status_code == 303 and "gone=1" in gone.headers["location"]
    assert "not in the list any more" in desk.site.client.get(gone.headers["location"]).text
    assert desk.gap_drafts() == []
    assert desk.site.client.get("/admin/gaps?days=3650").status_code == 400
    week = desk.site.client.get("/admin/gaps?days=7")
    assert week.status_code == 200 and 'data-testid="gap-count">2<' in week.text


def test_no_gaps_says_so(desk: Desk) -> None:
    sign_in(desk.site.client, EDITOR.email)
    page = desk.site.client.get("/admin/gaps")
    assert page.status_code == 200 and "No gaps in this window" in page.text


@pytest.mark.parametrize("person", [EMPLOYEE, MANAGER])
def test_gaps_are_for_editors_and_admins(desk: Desk, person: Person) -> None:
    _ask(desk)
    sign_in(desk.site.client, person.email)
    token = csrf(desk.site.client, "/chat")
    assert desk.site.client.get("/admin/gaps").status_code == 403
    refused = desk.site.client.post("/admin/gaps/draft", data={"csrf_token": token, "questions": "1,2,3"})
    assert refused.status_code == 403 and desk.gap_drafts() == []


def test_drafting_needs_a_csrf_token(desk: Desk) -> None:
    _ask(desk)
    sign_in(desk.site.client, EDITOR.email)
    questions = _draft_button(desk.site.client.get("/admin/gaps").text, 1)
    forged = desk.site.client.post("/admin/gaps/draft", data={"questions": questions})
    assert forged.status_code == 403
    with session_scope(desk.site.sessions) as db_session:
        assert db_session.scalar(select(func.count()).select_from(ArticleDraft)) == 0
