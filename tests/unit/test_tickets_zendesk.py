"""ZendeskTicketSystem against the Zendesk Tickets API emulator, over real HTTP on localhost."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.errors import AuthError, RemoteNotFoundError, RemoteRejectedError
from connectors.interfaces import ResolvedTicketFeed
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
    check_feed_auth_error_without_retry,
    check_feed_is_lazy_and_refuses_naive_since,
    check_feed_rate_limits,
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


# ---- resolved-ticket feed -------------------------------------------------------------------------

SINCE = (datetime.now(UTC) - timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
EXPORT = "/api/v2/incremental/tickets/cursor.json"
ADA = {"name": "Ada Lovelace", "email": "ada@example.com"}


@pytest.fixture
def fresh() -> Iterator[ZendeskTarget]:
    """An emulator of its own, exporting changes at once (no one-minute lag), since the feed reads every
    ticket changed in the window."""
    with serve_emulator(*build_app(user=EMAIL, secret=TOKEN, export_lag_s=0)) as emulator:
        control = ZendeskTarget(emulator)
        yield control
        control.close_all()


def feed(target: ZendeskTarget, **options: Any) -> ZendeskTicketSystem:
    system = target.make(**options)
    assert isinstance(system, ZendeskTicketSystem)
    return system


def iso(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%SZ}"


def seed(target: ZendeskTarget, status: str, changed_at: datetime, **fields: Any) -> str:
    """A ticket made in Zendesk itself (not through Deskpilot), last changed at ``changed_at``."""
    ticket: dict[str, Any] = {"subject": f"Ticket {status}", "status": status, "requester": ADA, **fields}
    ticket["updated_at"] = iso(changed_at)
    if status in ("solved", "closed"):
        ticket.setdefault("solved_at", iso(changed_at))
        ticket.setdefault("assigned", True)
    return str(target.control("POST", "/_ticket", ticket)["id"])


def test_zendesk_feed_pages_solved_and_closed_tickets_changed_since(fresh: ZendeskTarget) -> None:
    seed(fresh, "solved", SINCE - timedelta(hours=2))
    hours = (3, 1, 5, 2, 4)
    ids = {h: seed(fresh, "closed" if h % 2 else "solved", SINCE + timedelta(hours=h)) for h in hours}
    for status, minutes in (("open", 30), ("pending", 150), ("new", 270)):
        seed(fresh, status, SINCE + timedelta(minutes=minutes))
    system = feed(fresh)
    assert isinstance(system, ResolvedTicketFeed)

    batches = list(system.resolved_since(SINCE, limit=2))

    assert [[t.external_key for t in batch] for batch in batches] == [
        [ids[1]],
        [ids[2]],
        [ids[3], ids[4]],
        [ids[5]],
    ]
    exports = fresh.calls(EXPORT)
    assert exports[0]["query"] == {
        "start_time": str(int(SINCE.timestamp())),
        "per_page": "2",
        "include": "users,metric_sets",
    }
    assert len(exports) == 4
    assert all("cursor" in call["query"] and "start_time" not in call["query"] for call in exports[1:])
    tickets = [t for batch in batches for t in batch]
    assert [t.resolved_at for t in tickets] == [SINCE + timedelta(hours=h) for h in range(1, 6)]
    assert [t.status for t in tickets] == [S.CLOSED, S.RESOLVED, S.CLOSED, S.RESOLVED, S.CLOSED]
    assert len(fresh.calls(TICKETS)) == 5  # one comment read per ticket yielded


def test_zendesk_feed_maps_fields_and_takes_last_public_agent_comment(fresh: ZendeskTarget) -> None:
    full = seed(
        fresh,
        "closed",
        SINCE + timedelta(hours=3),
        solved_at=iso(SINCE + timedelta(hours=1)),  # closed by an automation two hours after solving
        description="My dock stopped charging.",
        tags=["category-hardware", "dock"],
        comments=[
            {"body": "Replaced the dock.", "by": "agent"},
            {"body": "Checked the warranty.", "by": "agent", "public": False},
            {"body": "Thanks, works now!", "by": "requester"},
        ],
    )
    bare = seed(fresh, "solved", SINCE + timedelta(hours=4), assigned=False)
    own = seed(
        fresh,
        "solved",
        SINCE + timedelta(hours=5),
        requester={"name": "Grace Hopper", "email": "grace@example.com"},
        comments=[{"body": "Found it myself.", "by": "requester"}],
    )

    (batch,) = list(feed(fresh).resolved_since(SINCE))

    ticket, no_reply, by_requester = batch
    assert [t.external_key for t in batch] == [full, bare, own]
    assert ticket.url == f"{fresh.emulator.base_url}/agent/tickets/{full}"
    assert (ticket.title, ticket.description) == ("Ticket closed", "My dock stopped charging.")
    assert (ticket.resolution, ticket.category, ticket.status) == ("Replaced the dock.", "hardware", S.CLOSED)
    assert (ticket.requester_email, ticket.requester_name, ticket.assignee_name) == (
        "ada@example.com",
        "Ada Lovelace",
        "Deskpilot Agent",
    )
    assert (ticket.resolved_at, ticket.updated_at) == (SINCE + timedelta(hours=1), SINCE + timedelta(hours=3))
    assert (no_reply.resolution, no_reply.assignee_name, no_reply.category) == ("", None, None)
    assert (by_requester.resolution, by_requester.requester_name) == ("Found it myself.", "Grace Hopper")
    (comments_call, *_) = fresh.calls(f"{TICKETS}/{full}/comments")
    assert comments_call["query"] == {"sort_order": "desc", "per_page": "100"}


def test_zendesk_feed_follows_solving_and_reopening_done_through_the_api(fresh: ZendeskTarget) -> None:
    system = feed(fresh)
    since = datetime.now(UTC) - timedelta(minutes=5)
    kept = system.create_ticket(DRAFT, idempotency_key=new_key())
    reopened = system.create_ticket(DRAFT, idempotency_key=new_key())
    system.resolve_ticket(kept.external_key, "Mouse shipped.")
    system.resolve_ticket(reopened.external_key, "Looked fixed.")
    fresh.set_vendor_status(reopened.external_key, "open")

    tickets = [t for batch in system.resolved_since(since) for t in batch]

    assert [(t.external_key, t.resolution, t.category) for t in tickets] == [
        (kept.external_key, "Mouse shipped.", "network")
    ]
    assert (tickets[0].requester_email, tickets[0].assignee_name) == ("ada@example.com", "Deskpilot Agent")
    assert since <= tickets[0].resolved_at <= datetime.now(UTC)


def test_zendesk_feed_never_asks_for_the_last_minute(fresh: ZendeskTarget) -> None:
    before = datetime.now(UTC)

    assert list(feed(fresh).resolved_since(before + timedelta(hours=1))) == []

    (call,) = fresh.calls(EXPORT)
    assert int(call["query"]["start_time"]) <= (before - timedelta(seconds=59)).timestamp()


def test_zendesk_feed_needs_an_admin_token() -> None:
    with serve_emulator(*build_app(user=EMAIL, secret=TOKEN, admin=False)) as emulator:
        zendesk = ZendeskTarget(emulator)
        with pytest.raises(AuthError) as raised:
            next(feed(zendesk).resolved_since(SINCE))
        calls = zendesk.calls()
        zendesk.close_all()

    assert raised.value.system == "zendesk"
    assert len(calls) == 1


def test_zendesk_feed_is_lazy_and_refuses_naive_since(fresh: ZendeskTarget) -> None:
    check_feed_is_lazy_and_refuses_naive_since(fresh, feed(fresh), SINCE)


def test_zendesk_feed_wrong_credentials_raise_auth_error_without_retry(fresh: ZendeskTarget) -> None:
    seed(fresh, "solved", SINCE + timedelta(hours=1))
    check_feed_auth_error_without_retry(fresh, feed(fresh, credentials_ok=False), SINCE, "zendesk")


def test_zendesk_feed_waits_out_rate_limits_then_raises_when_they_persist(fresh: ZendeskTarget) -> None:
    ticket_id = seed(fresh, "solved", SINCE + timedelta(hours=1))
    check_feed_rate_limits(fresh, lambda **options: feed(fresh, **options), SINCE, EXPORT, ticket_id)
