"""ZendeskTicketSystem against the Zendesk Tickets API emulator, over real HTTP on localhost."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.errors import AuthError, RemoteNotFoundError, RemoteRejectedError
from connectors.models import ExternalTicketStatus, TicketDraft
from connectors.zendesk.tickets import (
    SIGNATURE_HEADER,
    STATUS_CHANGED_EVENT,
    TIMESTAMP_HEADER,
    ZendeskTicketSystem,
    map_status,
    sign_webhook,
)
from tests.emulators.harness import RunningEmulator, serve_emulator
from tests.emulators.ticket_checks import (
    DRAFT,
    WEBHOOK_SECRET,
    AdapterOptions,
    EmulatedTicket,
    TicketSystemContract,
    TicketTarget,
    emulator_fixture,
    new_key,
)
from tests.emulators.zendesk_tickets import AGENT_ID, build_app

EMAIL = "deskpilot-agent@example.com"
TOKEN = "zendesk-api-token-3b8f"
TICKETS = "/api/v2/tickets"
SIGNED_AT = "2026-03-02T10:00:05Z"
S = ExternalTicketStatus


class ZendeskTarget(TicketTarget):
    system = "zendesk"
    status_cases = (
        ("new", S.NEW),
        ("open", S.OPEN),
        ("pending", S.PENDING),
        ("hold", S.PENDING),
        ("solved", S.RESOLVED),
        ("closed", S.CLOSED),
    )
    open_status = "open"
    resolved_status = "solved"
    unknown_key = "999999"
    create_path = TICKETS

    def build(self, options: AdapterOptions) -> ZendeskTicketSystem:
        token = TOKEN if options.credentials_ok else "not-the-token"
        return ZendeskTicketSystem(self.emulator.base_url, EMAIL, token, **options.kwargs)

    def tickets(self) -> list[EmulatedTicket]:
        return [
            EmulatedTicket(
                external_key=str(ticket["id"]),
                idempotency_key=ticket["external_id"],
                comments=[(comment["body"], comment["public"]) for comment in ticket["comments"]],
            )
            for ticket in self.state()["tickets"]
        ]

    def stored(self, external_key: str) -> dict[str, Any]:
        found: dict[str, Any] = next(t for t in self.state()["tickets"] if str(t["id"]) == external_key)
        return found

    def set_vendor_status(self, external_key: str, vendor_status: str) -> None:
        self.control("POST", "/_status", {"key": external_key, "status": vendor_status})

    def read_prefix(self, external_key: str) -> str:
        return f"{TICKETS}/{external_key}"

    def signed_headers(self, body: bytes, secret: str) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "X-Zendesk-Webhook-Id": "01GK8E6BKWMJZD2T8Y5AXJQMG5",
            SIGNATURE_HEADER: sign_webhook(body, SIGNED_AT, secret),
            TIMESTAMP_HEADER: SIGNED_AT,
        }

    def status_event(self, external_key: str, vendor_status: str) -> bytes:
        return zendesk_event(
            STATUS_CHANGED_EVENT,
            external_key,
            {"current": vendor_status.upper(), "previous": "OPEN"},
            status=vendor_status.upper(),
        )

    def other_event(self, external_key: str) -> bytes:
        comment = {"comment": {"id": "9001", "body": "Thanks!", "is_public": True}}
        return zendesk_event("zen:event-type:ticket.comment_added", external_key, comment, status="OPEN")


def zendesk_event(event_type: str, ticket_id: str, event: dict[str, Any], *, status: str) -> bytes:
    """A ticket event webhook body, in Zendesk's event envelope."""
    return json.dumps(
        {
            "type": event_type,
            "account_id": 88888888,
            "id": "2b24ef10-19d4-4740-93cf-8f98ec4776c0",
            "time": "2026-03-02T10:00:00Z",
            "zendesk_event_version": "2022-11-06",
            "subject": f"zen:ticket:{ticket_id}",
            "detail": {
                "id": ticket_id,
                "status": status,
                "subject": "VPN drops every hour",
                "updated_at": "2026-03-02T10:00:00Z",
            },
            "event": event,
        }
    ).encode()


@pytest.fixture(scope="module")
def emulator() -> Iterator[RunningEmulator]:
    with serve_emulator(*build_app(user=EMAIL, secret=TOKEN)) as running:
        yield running


target = emulator_fixture(ZendeskTarget, "target")


class TestZendeskContract(TicketSystemContract):
    """The shared TicketSystem contract, against Zendesk Support."""


# ---- Zendesk specifics ----------------------------------------------------------------------------


def test_zendesk_create_sends_external_id_requester_priority_and_tags(target: ZendeskTarget) -> None:
    key = new_key()

    created = target.make().create_ticket(DRAFT, idempotency_key=key)

    (post,) = [c for c in target.calls(TICKETS) if c["method"] == "POST"]
    assert post["json"] == {
        "ticket": {
            "subject": "VPN drops every hour",
            "comment": {"body": DRAFT.description, "public": True},
            "requester": {"name": "Ada Lovelace", "email": "ada@example.com"},
            "priority": "high",
            "tags": ["category-network", "remote_work", "vpn"],
            "external_id": key,
        }
    }
    token = base64.b64encode(f"{EMAIL}/token:{TOKEN}".encode()).decode()
    assert post["headers"]["authorization"] == f"Basic {token}"
    assert created.url == f"{target.emulator.base_url}/agent/tickets/{created.external_key}"
    assert target.stored(created.external_key)["requester"]["role"] == "end-user"


def test_zendesk_create_without_description_or_name_uses_title_and_mailbox(target: ZendeskTarget) -> None:
    draft = TicketDraft(title="Need a new mouse", requester_email="grace@example.com")

    created = target.make().create_ticket(draft, idempotency_key=new_key())

    stored = target.stored(created.external_key)
    assert stored["comments"][0]["body"] == "Need a new mouse"
    assert stored["requester"]["name"] == "grace"
    assert stored["priority"] == "normal"


def test_zendesk_find_with_duplicate_external_ids_returns_oldest(target: ZendeskTarget) -> None:
    key, system = new_key(), target.make()
    first = system.create_ticket(DRAFT, idempotency_key=key)
    system.create_ticket(DRAFT, idempotency_key=key)  # a caller that skipped find-first
    target.reset()

    found = system.find_by_idempotency_key(key)

    assert found is not None and found.external_key == first.external_key
    (call,) = target.calls()
    assert (call["path"], call["query"]) == (TICKETS, {"external_id": key})


def test_zendesk_resolve_unassigned_ticket_assigns_api_user_once(target: ZendeskTarget) -> None:
    system = target.make()
    first = system.create_ticket(DRAFT, idempotency_key=new_key())
    second = system.create_ticket(DRAFT, idempotency_key=new_key())

    resolved = system.resolve_ticket(first.external_key, "Mouse shipped.")
    system.resolve_ticket(second.external_key, "Mouse shipped.")

    puts = [c["json"] for c in target.calls(TICKETS) if c["method"] == "PUT"]
    assert puts[0] == {
        "ticket": {
            "status": "solved",
            "comment": {"body": "Mouse shipped.", "public": True},
            "assignee_id": AGENT_ID,
        }
    }
    assert len(target.calls("/api/v2/users/me")) == 1  # cached for the adapter's lifetime
    assert (resolved.status, resolved.vendor_status) == (S.RESOLVED, "solved")


def test_zendesk_resolve_assigned_ticket_keeps_assignee(target: ZendeskTarget) -> None:
    system = target.make()
    created = system.create_ticket(DRAFT, idempotency_key=new_key())
    target.set_vendor_status(created.external_key, "pending")  # assigns the agent

    system.resolve_ticket(created.external_key, "Done.")

    (put,) = [c["json"] for c in target.calls(TICKETS) if c["method"] == "PUT"]
    assert "assignee_id" not in put["ticket"]
    assert target.calls("/api/v2/users/me") == []


def test_zendesk_comment_on_closed_ticket_is_rejected(target: ZendeskTarget) -> None:
    system = target.make()
    created = system.create_ticket(DRAFT, idempotency_key=new_key())
    target.set_vendor_status(created.external_key, "closed")

    with pytest.raises(RemoteRejectedError, match="RecordInvalid"):
        system.add_comment(created.external_key, "Anyone there?")


def test_zendesk_comment_ids_come_from_the_audit_events(target: ZendeskTarget) -> None:
    system = target.make()
    created = system.create_ticket(DRAFT, idempotency_key=new_key())

    comment = system.add_comment(created.external_key, "Internal: checked logs", public=False)

    stored = target.stored(created.external_key)["comments"][-1]
    assert comment.external_id == str(stored["id"])
    assert (comment.public, comment.author) == (False, str(AGENT_ID))
    assert comment.created_at is not None


def test_zendesk_non_numeric_ticket_id_raises_not_found_without_request(target: ZendeskTarget) -> None:
    with pytest.raises(RemoteNotFoundError):
        target.make().get_ticket("12/../../users/me")

    assert target.calls() == []


def test_zendesk_webhook_signature_covers_timestamp(target: ZendeskTarget) -> None:
    body = target.status_event("101", "solved")
    headers = target.signed_headers(body, WEBHOOK_SECRET) | {TIMESTAMP_HEADER: "2026-03-02T10:00:06Z"}

    with pytest.raises(AuthError):
        target.make().parse_status_webhook(body, headers)


def test_zendesk_webhook_without_timestamp_refused(target: ZendeskTarget) -> None:
    body = target.status_event("101", "solved")
    headers = {SIGNATURE_HEADER: sign_webhook(body, "", WEBHOOK_SECRET)}

    with pytest.raises(AuthError):
        target.make().parse_status_webhook(body, headers)


def test_zendesk_webhook_status_event_without_current_rejected(target: ZendeskTarget) -> None:
    body = zendesk_event(STATUS_CHANGED_EVENT, "101", {"previous": "OPEN"}, status="SOLVED")

    with pytest.raises(RemoteRejectedError, match="current"):
        target.make().parse_status_webhook(body, target.signed_headers(body, WEBHOOK_SECRET))


def test_zendesk_webhook_reads_hold_as_pending(target: ZendeskTarget) -> None:
    body = target.status_event("101", "hold")

    change = target.make().parse_status_webhook(body, target.signed_headers(body, WEBHOOK_SECRET))

    assert change is not None
    assert (change.external_key, change.status, change.vendor_status) == ("101", S.PENDING, "hold")
    assert change.changed_at is not None and change.changed_at.isoformat() == "2026-03-02T10:00:00+00:00"


def test_zendesk_signature_is_base64_hmac_of_timestamp_then_body() -> None:
    # RFC 4231 test case 2 (key "Jefe", data "what do ya want for nothing?"), split into timestamp + body.
    signature = sign_webhook(b"do ya want for nothing?", "what ", "Jefe")

    assert signature == "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM="


@pytest.mark.parametrize(
    ("status", "expected"), [("SOLVED", S.RESOLVED), ("deleted", S.CANCELLED), ("x", S.OPEN)]
)
def test_zendesk_map_status(status: str, expected: ExternalTicketStatus) -> None:
    assert map_status(status) is expected
