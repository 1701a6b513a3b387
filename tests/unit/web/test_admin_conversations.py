"""Conversation admin pages: every filter narrows the list in SQL, pagination, the transcript, access."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from services.common.db import session_scope
from services.conversations.models import (
    AnswerOutcome,
    Channel,
    Conversation,
    ConversationStatus,
    Feedback,
    FeedbackRating,
    Handoff,
    Message,
    MessageRole,
)
from services.directory.models import Employee
from services.router.routes import Route
from services.tickets.models import Ticket, TicketSystemKind
from tests.web_support import ADMIN, EDITOR, EMPLOYEE, MANAGER, WebSite, sign_in, web_site

DAY = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)


def _conversation(
    db_session: Any,
    employee_id: int,
    *,
    started: datetime,
    channel: Channel,
    question: str,
    intent: str,
    route: Route,
    outcome: AnswerOutcome,
    latency_ms: int,
    rating: FeedbackRating | None = None,
) -> int:
    conversation = Conversation(employee_id=employee_id, channel=channel, started_at=started)
    db_session.add(conversation)
    db_session.flush()
    db_session.add(
        Message(
            conversation_id=conversation.id,
            role=MessageRole.EMPLOYEE,
            text=question,
            intent=intent,
            confidence=0.87,
            intent_ranking=[
                {"intent": intent, "confidence": 0.87},
                {"intent": "greeting", "confidence": 0.05},
            ],
            route=route,
            details={"model_version": "v-test"},
            created_at=started,
        )
    )
    reply = Message(
        conversation_id=conversation.id,
        role=MessageRole.ASSISTANT,
        text=f"Reply to {question}",
        route=route,
        outcome=outcome,
        latency_ms=latency_ms,
        citations=[{"article_id": 7, "title": "VPN keeps dropping", "url": None, "score": 0.81}],
        created_at=started + timedelta(seconds=1),
    )
    db_session.add(reply)
    db_session.flush()
    if rating is not None:
        db_session.add(Feedback(message_id=reply.id, employee_id=employee_id, rating=rating, reason="wrong"))
    return conversation.id


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[WebSite, dict[str, int]]]:
    with web_site(tmp_path) as site, session_scope(site.sessions) as db_session:
        eve = db_session.scalars(select(Employee).where(Employee.email == EMPLOYEE.email)).one().id
        ids = {
            "vpn": _conversation(
                db_session, eve, started=DAY, channel=Channel.SLACK, question="my vpn keeps dropping",
                intent="vpn_issue", route=Route.ANSWER, outcome=AnswerOutcome.ANSWERED, latency_ms=1234,
                rating=FeedbackRating.HELPFUL,
            ),
            "printer": _conversation(
                db_session, eve, started=DAY + timedelta(days=2), channel=Channel.WEB,
                question="printer 100% jammed", intent="printer_issue", route=Route.ANSWER,
                outcome=AnswerOutcome.NO_ANSWER, latency_ms=2100, rating=FeedbackRating.NOT_HELPFUL,
            ),
            "human": _conversation(
                db_session, eve, started=DAY + timedelta(days=5), channel=Channel.SLACK,
                question="talk to a human", intent="talk_to_human", route=Route.HANDOFF,
                outcome=AnswerOutcome.HANDOFF, latency_ms=40,
            ),
        }  # fmt: skip
        human = db_session.get(Conversation, ids["human"])
        assert human is not None
        human.status = ConversationStatus.HANDED_OFF
        db_session.add(Handoff(conversation_id=human.id, it_channel_id="C1", it_thread_ts="1.2"))
        db_session.add(
            Ticket(
                system=TicketSystemKind.JIRA, external_key="IT-42", url="https://jira.example.com/browse/IT-42",
                title="Printer jammed", requester_id=eve, conversation_id=ids["printer"],
            )
        )  # fmt: skip
    sign_in(site.client, ADMIN.email)
    yield site, ids


def _listed(site: WebSite, **params: str) -> list[int]:
    page = site.client.get("/admin/conversations", params=params)
    assert page.status_code == 200
    return [int(i) for i in re.findall(r'data-conversation="(\d+)"', page.text)]


def test_each_filter_narrows_the_list(site: tuple[WebSite, dict[str, int]]) -> None:
    web, ids = site
    assert _listed(web) == [ids["human"], ids["printer"], ids["vpn"]]
    assert _listed(web, channel="web") == [ids["printer"]]
    assert _listed(web, intent="vpn_issue") == [ids["vpn"]]
    assert _listed(web, route="handoff") == [ids["human"]]
    assert _listed(web, outcome="no_answer") == [ids["printer"]]
    assert _listed(web, rating="helpful") == [ids["vpn"]]
    assert _listed(web, rating="not_helpful") == [ids["printer"]]
    assert _listed(web, q="VPN KEEPS") == [ids["vpn"]]
    assert _listed(web, q="100%") == [ids["printer"]]
    assert _listed(web, q="%") == [ids["printer"]]  # a literal %, not a wildcard
    assert _listed(web, q="_") == []
    assert _listed(web, **{"from": "2025-03-12"}) == [ids["human"], ids["printer"]]
    assert _listed(web, to="2025-03-12") == [ids["printer"], ids["vpn"]]
    assert _listed(web, **{"from": "2025-03-11", "to": "2025-03-12", "channel": "web"}) == [ids["printer"]]
    assert _listed(web, channel="slack", route="answer") == [ids["vpn"]]
    assert _listed(web, channel="bogus", to="not-a-date") == [ids["human"], ids["printer"], ids["vpn"]]


def test_list_is_paginated_and_pages_keep_the_filters(site: tuple[WebSite, dict[str, int]]) -> None:
    web, _ = site
    with session_scope(web.sessions) as db_session:
        eve = db_session.scalars(select(Employee).where(Employee.email == EMPLOYEE.email)).one().id
        for n in range(30):
            db_session.add(
                Conversation(employee_id=eve, channel=Channel.WEB, started_at=DAY - timedelta(hours=n + 1))
            )
    first = web.client.get("/admin/conversations", params={"channel": "web"}).text
    assert "31 conversations · page 1 of 2" in first
    assert len(re.findall(r"data-conversation=", first)) == 25
    assert 'href="/admin/conversations?channel=web&amp;page=2"' in first
    second = web.client.get("/admin/conversations", params={"channel": "web", "page": "2"}).text
    assert len(re.findall(r"data-conversation=", second)) == 6 and "page 2 of 2" in second


def test_transcript_shows_intent_route_latency_citations_feedback_and_follow_ups(
    site: tuple[WebSite, dict[str, int]],
) -> None:
    web, ids = site
    page = web.client.get(f"/admin/conversations/{ids['printer']}").text
    assert '<dd data-testid="intent">printer_issue</dd>' in page
    assert '<dd data-testid="route">answer</dd>' in page
    assert '<dd data-testid="latency">2100 ms</dd>' in page
    assert "<dd>0.87</dd>" in page and "printer_issue 0.87, greeting 0.05" in page
    base = web.settings.web.public_url.rstrip("/")
    assert f'<a href="{base}/kb/articles/7">VPN keeps dropping</a> <span class="muted">(0.81)</span>' in page
    assert "Feedback: <strong>not helpful</strong> — wrong" in page
    assert '<a href="https://jira.example.com/browse/IT-42" rel="noopener">IT-42</a>' in page
    handoff = web.client.get(f"/admin/conversations/{ids['human']}").text
    assert 'data-testid="handoff"' in handoff and "not claimed yet" in handoff
    assert web.client.get("/admin/conversations/999999").status_code == 404


@pytest.mark.parametrize("person", [EDITOR, MANAGER, EMPLOYEE])
def test_only_admins_may_read_conversations(site: tuple[WebSite, dict[str, int]], person: Any) -> None:
    web, ids = site
    sign_in(web.client, person.email)
    assert web.client.get("/admin/conversations").status_code == 403
    assert web.client.get(f"/admin/conversations/{ids['vpn']}").status_code == 403


def test_signed_out_visitors_are_sent_to_sign_in(site: tuple[WebSite, dict[str, int]]) -> None:
    web, _ = site
    web.client.cookies.clear()
    response = web.client.get("/admin/conversations", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
