"""Automation run pages: filters in SQL, a run's story without secrets, and a retry that is safe to press."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from connectors.errors import RemoteUnavailableError
from connectors.models import ExternalTicket, TicketDraft
from services.audit.models import AuditEntry
from services.automations.context import configure_automation_context
from services.automations.models import AutomationKind, AutomationRun, AutomationState
from services.automations.runner import AutomationContext, execute_run
from services.common.db import session_scope, utcnow
from services.conversations.models import Channel, Conversation
from services.directory.demo import seed_demo_directory
from services.directory.identity import BuiltinIdentityProvider
from services.directory.models import Employee, Group
from services.tickets.builtin import BuiltinTicketSystem
from services.tickets.models import Ticket, TicketStatus
from tests.unit.automations.harness import RecordingNotifier
from tests.web_support import ADMIN, EDITOR, EMPLOYEE, MANAGER, WebSite, csrf, sign_in, web_site


class _CreatesThenTimesOut:
    """A ticket system whose create goes through but whose answer is lost (a timeout after the effect)."""

    def __init__(self, inner: BuiltinTicketSystem) -> None:
        self.inner = inner
        self.system = inner.system

    def find_by_idempotency_key(self, key: str) -> ExternalTicket | None:
        return self.inner.find_by_idempotency_key(key)

    def create_ticket(self, draft: TicketDraft, *, idempotency_key: str) -> ExternalTicket:
        self.inner.create_ticket(draft, idempotency_key=idempotency_key)
        raise RemoteUnavailableError("builtin: read timed out after 10 s")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@dataclass
class Desk:
    site: WebSite
    ctx: AutomationContext
    notifier: RecordingNotifier

    def employee(self, email_prefix: str) -> int:
        with session_scope(self.site.sessions) as db_session:
            return db_session.scalars(
                select(Employee.id).where(Employee.email.like(f"{email_prefix}%"))
            ).one()

    def new_run(
        self, kind: AutomationKind, params: dict[str, Any], *, who: str = "fiona", **values: Any
    ) -> int:
        with session_scope(self.site.sessions) as db_session:
            conversation = Conversation(employee_id=self.employee(who), channel=Channel.WEB)
            db_session.add(conversation)
            db_session.flush()
            run = AutomationRun(
                kind=kind,
                idempotency_key=f"auto:{kind.value}:{uuid.uuid4().hex}",
                requester_id=self.employee(who),
                conversation_id=conversation.id,
                params=params,
                **values,
            )
            db_session.add(run)
            db_session.flush()
            return run.id

    def run(self, run_id: int) -> AutomationRun:
        with session_scope(self.site.sessions) as db_session:
            run = db_session.get_one(AutomationRun, run_id)
            db_session.expunge(run)
            return run

    def failed_ticket_run(self, description: str) -> int:
        """A create-ticket run whose ticket was created but whose answer never came back: FAILED."""
        run_id = self.new_run(AutomationKind.CREATE_TICKET, {"description": description})
        builtin = self.ctx.tickets
        assert isinstance(builtin, BuiltinTicketSystem)
        self.ctx.tickets = _CreatesThenTimesOut(builtin)
        try:
            assert execute_run(self.ctx, run_id, final_attempt=True) is AutomationState.FAILED
        finally:
            self.ctx.tickets = builtin
        return run_id


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    with web_site(tmp_path) as site:
        with session_scope(site.sessions) as db_session:
            seed_demo_directory(db_session)
            db_session.add(Group(name="app-adobe-acrobat"))
        sessions = site.app.state.session_factory
        notifier = RecordingNotifier()
        ctx = AutomationContext(
            session_factory=sessions,
            tickets=BuiltinTicketSystem(sessions, public_url="https://deskpilot.example"),
            identity=BuiltinIdentityProvider(sessions),
            notifier=notifier,
        )
        configure_automation_context(ctx)  # replaces the one the app built at startup
        try:
            yield Desk(site, ctx, notifier)
        finally:
            configure_automation_context(None)


def _retry(desk: Desk, run_id: int) -> Any:
    token = csrf(desk.site.client, f"/admin/runs/{run_id}")
    return desk.site.client.post(
        f"/admin/runs/{run_id}/retry", data={"csrf_token": token}, follow_redirects=False
    )


def _tickets(desk: Desk) -> list[Ticket]:
    with session_scope(desk.site.sessions) as db_session:
        return list(db_session.scalars(select(Ticket)))


def test_retry_of_a_failed_run_runs_it_again_with_its_key_so_the_ticket_is_found_not_made_twice(
    desk: Desk,
) -> None:
    run_id = desk.failed_ticket_run("VPN drops every 10 minutes")
    assert len(_tickets(desk)) == 1  # the lost answer: the ticket exists, the run does not know it
    sign_in(desk.site.client, ADMIN.email)
    listed = desk.site.client.get("/admin/runs?state=failed")
    assert f'href="/admin/runs/{run_id}"' in listed.text and "read timed out" in listed.text
    before = desk.site.client.get(f"/admin/runs/{run_id}")
    assert "Retry this run" in before.text and "RemoteUnavailableError" in before.text

    response = _retry(desk, run_id)

    assert (
        response.status_code == 303 and response.headers["location"] == f"/admin/runs/{run_id}?done=retried"
    )
    run = desk.run(run_id)
    assert run.state is AutomationState.SUCCEEDED and run.attempts == 2 and run.last_error is None
    tickets = _tickets(desk)
    assert len(tickets) == 1 and run.ticket_id == tickets[0].id
    assert [t["text"] for t in desk.notifier.told if tickets[0].external_key in t["text"]] == [
        f"Your ticket {tickets[0].external_key} is open: VPN drops every 10 minutes. {tickets[0].url}"
    ]
    page = desk.site.client.get(response.headers["location"])
    assert 'data-testid="run-state">succeeded<' in page.text and "Retry sent" in page.text
    history = page.text.split('data-testid="run-history"')[1]
    actions = re.findall(r"<strong>([a-z_.]+)</strong>", history)
    assert actions == [
        "automation.started",
        "automation.attempt_failed",
        "automation.failed",
        "automation.retry_requested",
        "automation.started",
        "automation.succeeded",
    ]
    assert "Ada Admin" in history  # the retry names who pressed it
    assert "RemoteUnavailableError" in history  # the error it replaced stays in the trail
    assert f'href="/admin/tickets/{tickets[0].external_key}"' in page.text


def test_retry_is_refused_for_a_succeeded_run_and_nothing_changes(desk: Desk) -> None:
    run_id = desk.new_run(AutomationKind.CREATE_TICKET, {"description": "Printer jams"})
    assert execute_run(desk.ctx, run_id, final_attempt=False) is AutomationState.SUCCEEDED
    sign_in(desk.site.client, ADMIN.email)
    page = desk.site.client.get(f"/admin/runs/{run_id}")
    assert "Retry this run" not in page.text and "already succeeded" in page.text
    token = csrf(desk.site.client, f"/admin/runs/{run_id}")

    refused = desk.site.client.post(f"/admin/runs/{run_id}/retry", data={"csrf_token": token})

    assert refused.status_code == 409 and "Not retried: It already succeeded" in refused.text
    run = desk.run(run_id)
    assert run.state is AutomationState.SUCCEEDED and run.attempts == 1 and len(_tickets(desk)) == 1
    with session_scope(desk.site.sessions) as db_session:
        retries = db_session.scalar(
            select(func.count()).where(AuditEntry.action == "automation.retry_requested")
        )
    assert retries == 0


def test_retry_is_refused_for_a_password_reset_that_may_have_gone_through(desk: Desk) -> None:
    run_id = desk.new_run(
        AutomationKind.PASSWORD_RESET,
        {},
        state=AutomationState.FAILED,
        attempts=1,
        result={"interrupted": True, "notice": "Something interrupted your password reset"},
    )
    sign_in(desk.site.client, ADMIN.email)
    refused = _retry(desk, run_id)
    assert refused.status_code == 409 and "at most once" in refused.text
    assert desk.run(run_id).state is AutomationState.FAILED and desk.run(run_id).attempts == 1


def test_retry_of_an_approved_run_does_not_ask_the_manager_again(desk: Desk) -> None:
    maria = desk.employee("maria")
    run_id = desk.new_run(
        AutomationKind.SOFTWARE_ACCESS,
        {"software": "acrobat pro"},
        state=AutomationState.FAILED,
        attempts=1,
        approver_id=maria,
        decided_at=utcnow() - timedelta(hours=1),
        last_error="RemoteUnavailableError: directory: HTTP 503",
    )
    sign_in(desk.site.client, ADMIN.email)
    assert _retry(desk, run_id).status_code == 303
    assert desk.run(run_id).state is AutomationState.SUCCEEDED
    assert desk.notifier.asked == []  # the earlier approval stood
    with session_scope(desk.site.sessions) as db_session:
        fiona = db_session.get_one(Employee, desk.employee("fiona"))
        assert "app-adobe-acrobat" in fiona.group_names
    assert [t.status for t in _tickets(desk)] == [TicketStatus.RESOLVED]


def test_run_page_shows_parameters_but_never_secrets(desk: Desk) -> None:
    run_id = desk.new_run(
        AutomationKind.CREATE_TICKET,
        {"description": "Email sync broken", "password": "hunter2-secret", "api_token": "tok-123"},
        result={"reset_url": "https://idp.example/reset/abc", "notice": "Your ticket is open"},
    )
    sign_in(desk.site.client, ADMIN.email)
    page = desk.site.client.get(f"/admin/runs/{run_id}")
    assert page.status_code == 200 and "Email sync broken" in page.text and "Your ticket is open" in page.text
    for secret in ("hunter2-secret", "tok-123", "idp.example/reset"):
        assert secret not in page.text
    assert desk.site.client.get("/admin/runs/999999").status_code == 404


def test_run_list_filters_by_state_kind_requester_and_date_and_pages(desk: Desk) -> None:
    failed = desk.failed_ticket_run("Laptop battery swollen")
    waiting = desk.new_run(
        AutomationKind.SOFTWARE_ACCESS, {"software": "x"}, who="sam", state=AutomationState.AWAITING_APPROVAL
    )
    old = desk.new_run(AutomationKind.ACCOUNT_UNLOCK, {}, state=AutomationState.SUCCEEDED)
    with session_scope(desk.site.sessions) as db_session:
        db_session.get_one(AutomationRun, old).created_at = utcnow() - timedelta(days=40)
    sign_in(desk.site.client, ADMIN.email)

    def listed(query: str) -> set[int]:
        response = desk.site.client.get(f"/admin/runs?{query}")
        assert response.status_code == 200, response.text
        return {int(i) for i in re.findall(r'data-run="(\d+)"', response.text)}

    assert listed("") == {failed, waiting, old}
    assert listed("state=failed") == {failed}
    assert listed("kind=software_access") == {waiting}
    assert listed("requester=SAM") == {waiting}
    assert listed("requester=fiona&state=succeeded") == {old}
    today = utcnow().date()
    assert listed(f"from={today - timedelta(days=1)}&to={today}") == {failed, waiting}
    assert listed(f"to={today - timedelta(days=30)}") == {old}
    assert listed("requester=%25") == set()  # a LIKE wildcard is searched for, not obeyed

    bad = desk.site.client.get("/admin/runs?state=exploded")
    assert bad.status_code == 400 and "Unknown state" in bad.text
    backwards = desk.site.client.get(f"/admin/runs?from={today}&to={today - timedelta(days=2)}")
    assert backwards.status_code == 400 and "From must not be after To" in backwards.text

    for _ in range(26):
        desk.new_run(AutomationKind.ADD_COMMENT, {"comment": "x"}, state=AutomationState.PENDING)
    first = desk.site.client.get("/admin/runs?kind=add_comment")
    assert 'data-testid="run-count">26<' in first.text and "page 1 of 2" in first.text
    assert len(re.findall(r'data-run="', first.text)) == 25 and "kind=add_comment&amp;page=2" in first.text
    assert len(listed("kind=add_comment&page=2")) == 1


@pytest.mark.parametrize("person", [EMPLOYEE, MANAGER, EDITOR])
def test_run_pages_are_for_admins_only(desk: Desk, person: Any) -> None:
    run_id = desk.failed_ticket_run("Mouse lag")
    sign_in(desk.site.client, person.email)
    token = csrf(desk.site.client, "/chat")
    assert desk.site.client.get("/admin/runs").status_code == 403
    assert desk.site.client.get(f"/admin/runs/{run_id}").status_code == 403
    refused = desk.site.client.post(f"/admin/runs/{run_id}/retry", data={"csrf_token": token})
    assert refused.status_code == 403 and desk.run(run_id).state is AutomationState.FAILED


def test_retry_needs_a_csrf_token_and_anonymous_visitors_are_sent_to_sign_in(desk: Desk) -> None:
    run_id = desk.failed_ticket_run("Dock not charging")
    anonymous = desk.site.client.get("/admin/runs", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    sign_in(desk.site.client, ADMIN.email)
    forged = desk.site.client.post(f"/admin/runs/{run_id}/retry", data={})
    assert forged.status_code == 403 and desk.run(run_id).state is AutomationState.FAILED
