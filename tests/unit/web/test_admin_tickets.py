"""The built-in ticket agent view: the queue's filters, and an agent working a ticket end to end."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from connectors.models import TicketDraft, TicketUrgency
from services.automations.context import configure_automation_context
from services.automations.runner import AutomationContext
from services.common.db import session_scope, utcnow
from services.conversations.models import Channel, Conversation
from services.directory.identity import BuiltinIdentityProvider
from services.directory.models import Employee
from services.tickets.builtin import BuiltinTicketSystem
from services.tickets.models import HandledBy, Ticket, TicketStatus
from tests.unit.automations.harness import RecordingNotifier
from tests.web_support import ADMIN, EDITOR, EMPLOYEE, MANAGER, Person, WebSite, csrf, sign_in, web_site

OTHER_ADMIN = Person("otto.admin@example.com", ADMIN.roles)


@dataclass
class Desk:
    site: WebSite
    tickets: BuiltinTicketSystem
    notifier: RecordingNotifier

    def employee_id(self, email: str) -> int:
        with session_scope(self.site.sessions) as db_session:
            return db_session.scalars(select(Employee.id).where(Employee.email == email)).one()

    def open_ticket(
        self, title: str, *, who: str = EMPLOYEE.email, urgency: str = "normal", description: str = ""
    ) -> str:
        """A ticket as the bot files it: created in the built-in store, linked to a conversation."""
        created = self.tickets.create_ticket(
            TicketDraft(
                title=title,
                description=description or f"{title}. Please help.",
                requester_email=who,
                urgency=TicketUrgency(urgency),
            ),
            idempotency_key=f"test:{uuid.uuid4().hex}",
        )
        with session_scope(self.site.sessions) as db_session:
            conversation = Conversation(employee_id=self.employee_id(who), channel=Channel.WEB)
            db_session.add(conversation)
            db_session.flush()
            ticket = db_session.scalars(
                select(Ticket).where(Ticket.external_key == created.external_key)
            ).one()
            ticket.conversation_id = conversation.id
        return created.external_key

    def ticket(self, key: str) -> Ticket:
        with session_scope(self.site.sessions) as db_session:
            ticket = db_session.scalars(select(Ticket).where(Ticket.external_key == key)).one()
            db_session.expunge(ticket)
            return ticket

    def post(self, path: str, **data: str) -> Any:
        token = csrf(self.site.client, "/admin/tickets")
        return self.site.client.post(path, data={"csrf_token": token, **data}, follow_redirects=False)


def _desk(site: WebSite) -> Desk:
    sessions = site.app.state.session_factory
    tickets = BuiltinTicketSystem(sessions, public_url="https://deskpilot.example")
    notifier = RecordingNotifier()
    configure_automation_context(
        AutomationContext(sessions, tickets, BuiltinIdentityProvider(sessions), notifier)
    )  # replaces the context the app built at startup: notices are recorded
    return Desk(site, tickets, notifier)


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    with web_site(tmp_path, people=(ADMIN, OTHER_ADMIN, EDITOR, MANAGER, EMPLOYEE)) as site:
        try:
            yield _desk(site)
        finally:
            configure_automation_context(None)


def _listed(desk: Desk, query: str = "") -> set[str]:
    response = desk.site.client.get(f"/admin/tickets?{query}")
    assert response.status_code == 200, response.text
    return set(re.findall(r'data-ticket="([^"]+)"', response.text))


def test_agent_takes_and_resolves_a_ticket_and_the_requester_is_told_once(desk: Desk) -> None:
    key = desk.open_ticket("Laptop will not wake from sleep")
    eve = desk.employee_id(EMPLOYEE.email)
    sign_in(desk.site.client, ADMIN.email)
    assert key in _listed(desk)
    page = desk.site.client.get(f"/admin/tickets/{key}")
    assert "Laptop will not wake from sleep. Please help." in page.text and EMPLOYEE.email in page.text
    assert re.search(r'href="/admin/conversations/\d+"', page.text)

    assert desk.post(f"/admin/tickets/{key}/assign", assignee="me").status_code == 303
    assert desk.ticket(key).assignee_id == desk.employee_id(ADMIN.email)
    assert desk.post(f"/admin/tickets/{key}/status", status="open", seen="new").status_code == 303
    assert (
        desk.notifier.told[-1]["text"]
        == f"Your ticket {key} (Laptop will not wake from sleep) is being worked on."
    )

    missing = desk.post(f"/admin/tickets/{key}/status", status="resolved", seen="open", resolution="  ")
    assert missing.status_code == 400 and "Write the resolution" in missing.text
    assert desk.ticket(key).status is TicketStatus.OPEN and len(desk.notifier.told) == 1

    fix = "Updated the BIOS to 1.14 and turned off hybrid sleep."
    done = desk.post(f"/admin/tickets/{key}/status", status="resolved", seen="open", resolution=fix)
    assert done.status_code == 303 and done.headers["location"] == f"/admin/tickets/{key}?done=status"
    ticket = desk.ticket(key)
    assert ticket.status is TicketStatus.RESOLVED and ticket.resolution_text == fix
    assert ticket.handled_by is HandledBy.AGENT and ticket.resolved_at is not None
    resolved_notices = [t for t in desk.notifier.told if "is resolved" in t["text"]]
    assert resolved_notices == [
        {
            "employee_id": eve,
            "conversation_id": ticket.conversation_id,
            "text": f"Your ticket {key} (Laptop will not wake from sleep) is resolved. Resolution: {fix}",
            "private": False,
        }
    ]

    again = desk.post(f"/admin/tickets/{key}/status", status="resolved", seen="open", resolution=fix)
    assert again.status_code == 409 and "changed while you were looking" in again.text
    assert len([t for t in desk.notifier.told if "is resolved" in t["text"]]) == 1  # told once

    after = desk.site.client.get(f"/admin/tickets/{key}?done=status")
    assert 'data-testid="ticket-status">Resolved<' in after.text and fix in after.text
    history = after.text.split('data-testid="ticket-history"')[1]
    assert re.findall(r"<strong>([a-z_.]+)</strong>", history) == [
        "ticket.assigned",
        "ticket.status_changed",
        "ticket.status_changed",
    ]
    assert "(open → resolved)" in history and "Ada Admin" in history
    feed = [t for batch in desk.tickets.resolved_since(utcnow() - timedelta(hours=1)) for t in batch]
    assert [(t.external_key, t.resolution) for t in feed] == [(key, fix)]  # the article pipeline sees it


def test_internal_notes_never_reach_the_requester_and_public_replies_do(desk: Desk) -> None:
    key = desk.open_ticket("Shared mailbox missing")
    sign_in(desk.site.client, ADMIN.email)
    note = "Checked Exchange: mailbox permissions were removed by the HR script."
    reply = "I've restored your access; restart Outlook and it will appear."
    assert desk.post(f"/admin/tickets/{key}/comments", body=note, visibility="internal").status_code == 303
    assert desk.notifier.told == []
    told = desk.post(f"/admin/tickets/{key}/comments", body=reply, visibility="public")
    assert told.headers["location"].endswith("done=public")
    assert [t["text"] for t in desk.notifier.told] == [
        f"IT replied on your ticket {key} (Shared mailbox missing): {reply}"
    ]
    page = desk.site.client.get(f"/admin/tickets/{key}").text
    comments = re.findall(r'data-visibility="(\w+)">.*?<p class="body">(.*?)</p>', page, flags=re.S)
    assert comments == [("internal", note), ("public", reply.replace("'", "&#39;"))]
    with session_scope(desk.site.sessions) as db_session:
        ticket = db_session.scalars(select(Ticket).where(Ticket.external_key == key)).one()
        assert [(c.is_internal, c.author_label) for c in ticket.comments] == [
            (True, "Ada Admin"),
            (False, "Ada Admin"),
        ]
    empty = desk.post(f"/admin/tickets/{key}/comments", body="   ", visibility="public")
    assert empty.status_code == 400 and "Write the comment first" in empty.text


def test_invalid_moves_are_refused_with_a_clear_message_and_reopening_clears_the_resolution(
    desk: Desk,
) -> None:
    key = desk.open_ticket("Monitor flickers")
    sign_in(desk.site.client, ADMIN.email)
    desk.post(f"/admin/tickets/{key}/status", status="resolved", seen="new", resolution="Swapped the cable.")
    waiting = desk.post(f"/admin/tickets/{key}/status", status="pending", seen="resolved")
    assert waiting.status_code == 409 and "cannot be set to Waiting" in waiting.text
    unknown = desk.post(f"/admin/tickets/{key}/status", status="exploded", seen="resolved")
    assert unknown.status_code == 400 and "Unknown status" in unknown.text
    closed = desk.post(f"/admin/tickets/{key}/status", status="closed", seen="resolved")
    assert closed.status_code == 409
    assert desk.post("/admin/tickets/HD-999/status", status="open", seen="new").status_code == 404
    assert desk.site.client.get("/admin/tickets/HD-999").status_code == 404

    reopened = desk.post(f"/admin/tickets/{key}/status", status="open", seen="resolved")
    assert reopened.status_code == 303
    ticket = desk.ticket(key)
    assert (
        ticket.status is TicketStatus.OPEN and ticket.resolution_text is None and ticket.resolved_at is None
    )
    assert desk.notifier.told[-1]["text"].endswith("is being worked on.")
    nobody = desk.post(f"/admin/tickets/{key}/assign", assignee=str(desk.employee_id(EMPLOYEE.email)))
    assert nobody.status_code == 400 and "active IT admin" in nobody.text


def test_queue_filters_narrow_by_status_priority_assignee_and_text_and_pages(desk: Desk) -> None:
    vpn = desk.open_ticket("VPN drops", urgency="urgent")
    printer = desk.open_ticket("Printer offline", who=MANAGER.email, description="3rd floor 50% toner")
    done = desk.open_ticket("Password expired")
    webcam = desk.open_ticket("Webcam blurry", urgency="low")
    sign_in(desk.site.client, ADMIN.email)
    desk.post(f"/admin/tickets/{printer}/assign", assignee="me")
    desk.post(f"/admin/tickets/{done}/status", status="resolved", seen="new", resolution="Reset it.")
    otto = desk.employee_id(OTHER_ADMIN.email)
    desk.post(f"/admin/tickets/{vpn}/assign", assignee=str(otto))

    assert _listed(desk) == {vpn, printer, webcam}  # active by default
    assert _listed(desk, "status=any") == {vpn, printer, done, webcam}
    assert _listed(desk, "status=resolved") == {done}
    assert _listed(desk, "priority=urgent") == {vpn}
    assert _listed(desk, "assignee=me") == {printer}
    assert _listed(desk, f"assignee={otto}") == {vpn}
    assert _listed(desk, "assignee=none&status=any") == {webcam}  # Ada resolved "done": it became hers
    assert desk.ticket(done).assignee_id == desk.employee_id(ADMIN.email)
    assert _listed(desk, "q=printer") == {printer}
    assert _listed(desk, "q=mo.manager") == {printer}  # the requester's e-mail
    assert _listed(desk, f"q={vpn.lower()}") == {vpn}
    assert _listed(desk, "q=50%25") == {printer} and _listed(desk, "q=%25") == {printer}
    bad = desk.site.client.get("/admin/tickets?priority=whenever")
    assert bad.status_code == 400 and "Unknown priority" in bad.text

    for n in range(23):
        desk.open_ticket(f"Bulk {n}")
    first = desk.site.client.get("/admin/tickets?sort=oldest")
    assert 'data-testid="ticket-count">26<' in first.text and "page 1 of 2" in first.text
    assert len(re.findall(r'data-ticket="', first.text)) == 25
    assert _listed(desk, "sort=oldest&page=2") == {"HD-27"}
    assert next(iter(_listed(desk, "sort=priority&priority=urgent"))) == vpn


@pytest.mark.parametrize("person", [EMPLOYEE, MANAGER, EDITOR])
def test_ticket_pages_are_for_admins_only(desk: Desk, person: Person) -> None:
    key = desk.open_ticket("Keyboard sticky")
    sign_in(desk.site.client, person.email)
    token = csrf(desk.site.client, "/chat")
    assert desk.site.client.get("/admin/tickets").status_code == 403
    assert desk.site.client.get(f"/admin/tickets/{key}").status_code == 403
    for action, data in (("assign", {"assignee": "me"}), ("status", {"status": "open", "seen": "new"})):
        refused = desk.site.client.post(f"/admin/tickets/{key}/{action}", data={"csrf_token": token, **data})
        assert refused.status_code == 403
    assert desk.ticket(key).status is TicketStatus.NEW and desk.ticket(key).assignee_id is None


def test_actions_need_a_csrf_token(desk: Desk) -> None:
    key = desk.open_ticket("Docking station")
    sign_in(desk.site.client, ADMIN.email)
    forged = desk.site.client.post(
        f"/admin/tickets/{key}/comments", data={"body": "hello", "visibility": "public"}
    )
    assert forged.status_code == 403 and desk.notifier.told == []
    assert desk.site.client.post(f"/admin/tickets/{key}/assign", data={"assignee": "me"}).status_code == 403


def test_with_an_external_itsm_the_pages_say_so_and_link_out(tmp_path: Path) -> None:
    jira = {
        "kind": "jira",
        "base_url": "https://acme.atlassian.net",
        "username": "bot@acme.example",
        "api_token": "jira-token",
        "project_key": "IT",
    }
    with web_site(tmp_path, ticketing=jira) as site:
        try:
            sign_in(site.client, ADMIN.email)
            queue = site.client.get("/admin/tickets")
            assert queue.status_code == 200 and 'data-testid="external-itsm"' in queue.text
            assert 'href="https://acme.atlassian.net"' in queue.text and "Jira" in queue.text
            token = csrf(site.client, "/admin/tickets")
            refused = site.client.post(
                "/admin/tickets/IT-1/status", data={"csrf_token": token, "status": "open", "seen": "new"}
            )
            assert refused.status_code == 409 and "work this one there" in refused.text
        finally:
            configure_automation_context(None)
