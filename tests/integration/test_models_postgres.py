from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services import models
from tests.factories import (
    AutomationRunFactory,
    ConversationFactory,
    EmployeeFactory,
    GroupFactory,
    MessageFactory,
    TicketFactory,
)


def test_employee_with_manager_groups_and_roles_persists(db_session: Session) -> None:
    manager = EmployeeFactory.make(department="IT")
    employee = EmployeeFactory.make(manager=manager, groups=[GroupFactory.make(name="finance")])
    employee.role_grants.append(models.EmployeeRole(role=models.Role.KNOWLEDGE_EDITOR))
    db_session.commit()
    db_session.expire_all()
    loaded = db_session.get(models.Employee, employee.id)
    assert loaded is not None
    assert loaded.manager is not None and loaded.manager.id == manager.id
    assert loaded.group_names == {"finance"}
    assert loaded.roles == {models.Role.EMPLOYEE, models.Role.KNOWLEDGE_EDITOR}


def test_rollback_isolates_tests_first(db_session: Session) -> None:
    EmployeeFactory.make(email="isolation@example.test")
    db_session.commit()
    assert db_session.scalar(select(func.count()).select_from(models.Employee)) == 1


def test_rollback_isolates_tests_second(db_session: Session) -> None:
    # The commit of the previous test was rolled back with its outer transaction.
    assert db_session.scalar(select(func.count()).select_from(models.Employee)) == 0


def test_message_replay_with_same_idempotency_key_is_rejected(db_session: Session) -> None:
    conversation = ConversationFactory.make()
    MessageFactory.make(conversation=conversation, idempotency_key="slack:T1:Ev1")
    db_session.commit()
    with pytest.raises(IntegrityError):
        MessageFactory.make(conversation=conversation, idempotency_key="slack:T1:Ev1")
    db_session.rollback()
    assert db_session.scalar(select(func.count()).select_from(models.Message)) == 1


def test_message_records_classification_route_latency_and_citations(db_session: Session) -> None:
    message = MessageFactory.make(
        role=models.MessageRole.ASSISTANT,
        intent="vpn_issue",
        confidence=0.93,
        intent_ranking=[
            {"intent": "vpn_issue", "confidence": 0.93},
            {"intent": "wifi_issue", "confidence": 0.04},
        ],
        route=models.Route.ANSWER,
        outcome=models.AnswerOutcome.ANSWERED,
        latency_ms=48,
        citations=[
            {"chunk_id": "kb:vpn:0", "article_id": 1, "title": "VPN drops", "url": None, "score": 0.81}
        ],
    )
    db_session.commit()
    db_session.expire_all()
    row = db_session.scalars(
        select(models.Message).where(
            type_coerce(models.Message.citations, JSONB).contains([{"chunk_id": "kb:vpn:0"}])
        )
    ).one()  # JSONB containment: only PostgreSQL can answer this query
    assert row.id == message.id
    assert row.route is models.Route.ANSWER
    assert row.intent_ranking[1]["intent"] == "wifi_issue"


def test_ticket_external_key_is_unique_per_system(db_session: Session) -> None:
    TicketFactory.make(system=models.TicketSystemKind.JIRA, external_key="IT-1")
    TicketFactory.make(system=models.TicketSystemKind.SERVICENOW, external_key="IT-1")
    db_session.flush()
    with pytest.raises(IntegrityError):
        TicketFactory.make(system=models.TicketSystemKind.JIRA, external_key="IT-1")


def test_ticket_resolution_times_are_timezone_aware(db_session: Session) -> None:
    opened = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    ticket = TicketFactory.make(
        opened_at=opened,
        resolved_at=opened + timedelta(hours=3),
        status=models.TicketStatus.RESOLVED,
        handled_by=models.HandledBy.AGENT,
        resolution_text="Reinstalled the VPN client profile.",
    )
    db_session.commit()
    db_session.expire_all()
    loaded = db_session.get(models.Ticket, ticket.id)
    assert loaded is not None and loaded.resolved_at is not None
    assert loaded.resolved_at - loaded.opened_at == timedelta(hours=3)
    assert loaded.resolved_at.tzinfo is not None


def test_automation_run_duplicate_key_is_rejected_and_requester_is_protected(db_session: Session) -> None:
    run = AutomationRunFactory.make(idempotency_key="auto:software_access:U1:acrobat")
    db_session.commit()
    with pytest.raises(IntegrityError):
        AutomationRunFactory.make(idempotency_key="auto:software_access:U1:acrobat", requester=run.requester)
    db_session.rollback()
    db_session.delete(run.requester)
    with pytest.raises(IntegrityError):  # ON DELETE RESTRICT: history keeps its requester
        db_session.flush()


def test_draft_keeps_its_source_tickets(db_session: Session) -> None:
    tickets = [TicketFactory.make() for _ in range(3)]
    draft = models.ArticleDraft(
        title="VPN drops on hotel Wi-Fi",
        body_markdown="## Symptoms\n...",
        generator=models.DraftGenerator.EXTRACTIVE,
        confidence=0.72,
        cluster_size=3,
        pii_report={"emails": 2, "phones": 1},
    )
    draft.source_tickets.extend(tickets)
    db_session.add(draft)
    db_session.commit()
    db_session.expire_all()
    loaded = db_session.get(models.ArticleDraft, draft.id)
    assert loaded is not None
    assert sorted(t.id for t in loaded.source_tickets) == sorted(t.id for t in tickets)
    assert loaded.status is models.DraftStatus.PENDING_REVIEW
