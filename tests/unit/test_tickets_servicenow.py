"""ServiceNowTicketSystem against the ServiceNow incident emulator, over real HTTP on localhost."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.errors import AuthError, RemoteNotFoundError, RemoteRejectedError
from connectors.interfaces import ResolvedTicketFeed
from connectors.models import ExternalTicketStatus, TicketDraft, TicketUrgency
from connectors.servicenow.tickets import ServiceNowTicketSystem, journal_entries, map_state, sign_webhook
from tests.emulators.harness import RunningEmulator, serve_emulator
from tests.emulators.servicenow_incident import DEFAULT_USERS, build_app
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

USER = "deskpilot.integration"
PASSWORD = "sn-password-9c4a"
INCIDENT = "/api/now/table/incident"
S = ExternalTicketStatus
ADA = DEFAULT_USERS[0]


class ServiceNowTarget(TicketTarget):
    system = "servicenow"
    status_cases = (
        ("1", S.NEW),
        ("2", S.OPEN),
        ("3", S.PENDING),
        ("6", S.RESOLVED),
        ("7", S.CLOSED),
        ("8", S.CANCELLED),
        ("42", S.OPEN),  # a custom state
    )
    open_status = "2"
    resolved_status = "6"
    unknown_key = "INC9999999"
    create_path = INCIDENT

    def build(self, options: AdapterOptions) -> ServiceNowTicketSystem:
        password = PASSWORD if options.credentials_ok else "not-the-password"
        return ServiceNowTicketSystem(self.emulator.base_url, USER, password, **options.kwargs)

    def tickets(self) -> list[EmulatedTicket]:
        return [
            EmulatedTicket(
                external_key=incident["number"],
                idempotency_key=incident.get("correlation_id") or None,
                comments=[(row["value"], row["element"] == "comments") for row in incident["journal"]],
                notes=[incident["close_notes"]] if incident.get("close_notes") else [],
            )
            for incident in self.state()["incidents"]
        ]

    def incident(self, number: str) -> dict[str, Any]:
        stored: dict[str, Any] = next(i for i in self.state()["incidents"] if i["number"] == number)
        return stored

    def set_vendor_status(self, external_key: str, vendor_status: str) -> None:
        self.control("POST", "/_status", {"key": external_key, "status": vendor_status})

    def read_prefix(self, external_key: str) -> str:
        return INCIDENT

    def signed_headers(self, body: bytes, secret: str) -> dict[str, str]:
        return {"Content-Type": "application/json", "X-Deskpilot-Signature": sign_webhook(body, secret)}

    def status_event(self, external_key: str, vendor_status: str) -> bytes:
        notes = "Restarted the VPN concentrator." if vendor_status in ("6", "7") else ""
        return json.dumps(
            {
                "number": external_key,
                "state": vendor_status,
                "close_notes": notes,
                "sys_updated_on": "2026-03-02 10:00:00",
            }
        ).encode()

    def other_event(self, external_key: str) -> bytes:
        return json.dumps({"number": external_key, "sys_updated_on": "2026-03-02 10:00:00"}).encode()


@pytest.fixture(scope="module")
def emulator() -> Iterator[RunningEmulator]:
    with serve_emulator(*build_app(user=USER, secret=PASSWORD)) as running:
        yield running


target = emulator_fixture(ServiceNowTarget, "target")


class TestServiceNowContract(TicketSystemContract):
    """The shared TicketSystem contract, against ServiceNow incidents."""


# ---- ServiceNow specifics -------------------------------------------------------------------------


def test_servicenow_create_sets_correlation_caller_and_urgency(target: ServiceNowTarget) -> None:
    key = new_key()

    created = target.make().create_ticket(DRAFT, idempotency_key=key)

    (lookup,) = target.calls("/api/now/table/sys_user")
    assert lookup["query"]["sysparm_query"] == "email=ada@example.com^active=true"
    (post,) = [c for c in target.calls(INCIDENT) if c["method"] == "POST"]
    body = post["json"]
    assert body["short_description"] == "VPN drops every hour"
    assert (body["urgency"], body["impact"]) == ("2", "2")
    assert (body["correlation_id"], body["correlation_display"]) == (key, "Deskpilot")
    assert body["caller_id"] == ADA.sys_id
    assert "Requested by Ada Lovelace <ada@example.com> via Deskpilot." in body["description"]
    assert "Category: network" in body["description"]
    assert "Labels: vpn, remote work" in body["description"]
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert post["headers"]["authorization"] == f"Basic {token}"
    stored = target.incident(created.external_key)
    assert stored["priority"] == "3"
    assert created.external_key.startswith("INC")
    assert created.vendor_status == "New"
    assert created.url == f"{target.emulator.base_url}/incident.do?sys_id={stored['sys_id']}"


def test_servicenow_times_are_read_from_stored_utc_values(target: ServiceNowTarget) -> None:
    created = target.make().create_ticket(DRAFT, idempotency_key=new_key())

    stored = target.incident(created.external_key)

    assert created.updated_at is not None
    assert (
        created.updated_at.strftime("%Y-%m-%d %H:%M:%S") == stored["sys_updated_on"]
    )  # not the UTC-8 display


@pytest.mark.parametrize("email", ["nobody@example.com", "gone@example.com", "odd^name@example.com"])
def test_servicenow_create_without_matching_active_user_leaves_caller_empty(
    target: ServiceNowTarget, email: str
) -> None:
    draft = TicketDraft(title="Laptop fan is loud", requester_email=email, urgency=TicketUrgency.URGENT)

    created = target.make().create_ticket(draft, idempotency_key=new_key())

    stored = target.incident(created.external_key)
    assert stored.get("caller_id", "") == ""
    assert (stored["urgency"], stored["impact"]) == ("1", "2")
    assert f"Requested by {email}" in stored["description"]


def test_servicenow_comments_go_to_journal_and_are_read_back(target: ServiceNowTarget) -> None:
    system = target.make()
    created = system.create_ticket(DRAFT, idempotency_key=new_key())

    public = system.add_comment(created.external_key, "We are on it.", public=True)
    internal = system.add_comment(created.external_key, "Gateway logs checked.", public=False)

    patches = [c["json"] for c in target.calls(INCIDENT) if c["method"] == "PATCH"]
    assert patches == [{"comments": "We are on it."}, {"work_notes": "Gateway logs checked."}]
    journal = {row["value"]: row for row in target.incident(created.external_key)["journal"]}
    assert public.external_id == journal["We are on it."]["sys_id"]
    assert internal.external_id == journal["Gateway logs checked."]["sys_id"]
    assert public.author == USER
    assert public.created_at is not None


def test_servicenow_comment_with_unreadable_journal_gets_synthesised_id() -> None:
    app, state = build_app(user=USER, secret=PASSWORD, journal_readable=False)
    with serve_emulator(app, state) as emulator:
        servicenow = ServiceNowTarget(emulator)
        system = servicenow.make()
        created = system.create_ticket(DRAFT, idempotency_key=new_key())

        comment = system.add_comment(created.external_key, "We are on it.", public=True)
        stored = servicenow.incident(created.external_key)
        patches = [c for c in servicenow.calls(INCIDENT) if c["method"] == "PATCH"]
        servicenow.close_all()

    assert comment.external_id.startswith(f"{stored['sys_id']}:comments:")
    assert comment.public is True
    assert len(patches) == 1  # the read-back failure did not resend the comment
    assert [row["value"] for row in stored["journal"]] == ["We are on it."]


def test_servicenow_find_comment_without_journal_table_access_reads_the_incident_fields() -> None:
    app, state = build_app(user=USER, secret=PASSWORD, journal_readable=False)
    with serve_emulator(app, state) as emulator:
        servicenow = ServiceNowTarget(emulator)
        system = servicenow.make()
        created = system.create_ticket(DRAFT, idempotency_key=new_key())
        system.add_comment(created.external_key, "We are on it.\n\n(request AR-7)", public=True)
        system.add_comment(created.external_key, "Checked the gateway.\n\n(request AR-8)", public=False)
        system.add_comment(created.external_key, "Still on it.", public=True)

        public = system.find_comment(created.external_key, "(request AR-7)")
        internal = system.find_comment(created.external_key, "(request AR-8)")
        missing = system.find_comment(created.external_key, "(request AR-70)")
        journal_reads = [
            c for c in servicenow.calls("/api/now/table/sys_journal_field") if c["method"] == "GET"
        ]
        sys_id = servicenow.incident(created.external_key)["sys_id"]
        servicenow.close_all()

    assert journal_reads, "the journal table was tried first and refused"
    assert public is not None and public.body == "We are on it.\n\n(request AR-7)" and public.public
    assert public.author == USER and public.external_id.startswith(f"{sys_id}:comments:")
    assert internal is not None and internal.body.startswith("Checked the gateway.") and not internal.public
    assert missing is None


def test_journal_entries_split_a_display_value_under_its_header_lines() -> None:
    shown = (
        "2026-12-01 09:15:02 - Ada Admin (Additional comments)\n"
        "Second.\n\n(sent from Deskpilot, request AR-2)\n\n"
        "2026-12-01 09:14:59 - deskpilot.integration (Additional comments)\n"
        "First - with a dash (and brackets)\n\n"
    )
    assert journal_entries(shown) == [
        ("2026-12-01 09:15:02", "Ada Admin", "Second.\n\n(sent from Deskpilot, request AR-2)"),
        ("2026-12-01 09:14:59", "deskpilot.integration", "First - with a dash (and brackets)"),
    ]
    assert journal_entries("") == []
    assert journal_entries("free text (request AR-9)") == [("", None, "free text (request AR-9)")]


def test_servicenow_resolve_sets_state_close_code_and_notes(target: ServiceNowTarget) -> None:
    system = target.make()
    created = system.create_ticket(DRAFT, idempotency_key=new_key())

    resolved = system.resolve_ticket(created.external_key, "Account unlocked by automation.")

    (patch,) = [c for c in target.calls(INCIDENT) if c["method"] == "PATCH"]
    assert patch["json"] == {
        "state": "6",
        "close_code": "Solution provided",
        "close_notes": "Account unlocked by automation.",
    }
    assert (resolved.status, resolved.vendor_status) == (S.RESOLVED, "Resolved")
    assert resolved.resolution == "Account unlocked by automation."


def test_servicenow_resolve_with_blank_resolution_still_satisfies_data_policy(
    target: ServiceNowTarget,
) -> None:
    system = target.make()
    created = system.create_ticket(DRAFT, idempotency_key=new_key())

    resolved = system.resolve_ticket(created.external_key, "  ")

    assert resolved.status is S.RESOLVED
    assert resolved.resolution == "Resolved by Deskpilot."


def test_servicenow_resolve_cancelled_incident_changes_nothing(target: ServiceNowTarget) -> None:
    system = target.make()
    created = system.create_ticket(DRAFT, idempotency_key=new_key())
    target.set_vendor_status(created.external_key, "8")

    ticket = system.resolve_ticket(created.external_key, "Done")

    assert ticket.status is S.CANCELLED
    assert [c for c in target.calls(INCIDENT) if c["method"] == "PATCH"] == []


@pytest.mark.parametrize("key", ["slack:T1:Ev1^ORDERBYnumber", "x" * 101, "", "a\nb"])
def test_servicenow_unsafe_idempotency_key_rejected_before_any_request(
    target: ServiceNowTarget, key: str
) -> None:
    with pytest.raises(ValueError, match="idempotency_key"):
        target.make().find_by_idempotency_key(key)

    assert target.calls() == []


def test_servicenow_number_with_query_syntax_raises_not_found_without_request(
    target: ServiceNowTarget,
) -> None:
    with pytest.raises(RemoteNotFoundError):
        target.make().get_ticket("INC0010001^ORnumberISNOTEMPTY")

    assert target.calls() == []


def test_servicenow_webhook_accepts_numeric_state_and_reads_close_notes(target: ServiceNowTarget) -> None:
    body = json.dumps(
        {
            "number": "INC0010001",
            "state": 7,
            "close_notes": "Replaced",
            "sys_updated_on": "2026-03-02 10:00:00",
        }
    ).encode()

    change = target.make().parse_status_webhook(body, target.signed_headers(body, WEBHOOK_SECRET))

    assert change is not None
    assert (change.status, change.vendor_status, change.resolution) == (S.CLOSED, "Closed", "Replaced")
    assert change.changed_at is not None and change.changed_at.isoformat() == "2026-03-02T10:00:00+00:00"


def test_servicenow_webhook_without_number_rejected(target: ServiceNowTarget) -> None:
    body = json.dumps({"state": "6"}).encode()

    with pytest.raises(RemoteRejectedError, match="number"):
        target.make().parse_status_webhook(body, target.signed_headers(body, WEBHOOK_SECRET))


def test_servicenow_webhook_hex_signature_refused(target: ServiceNowTarget) -> None:
    body = target.status_event("INC0010001", "6")
    hex_digest = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()

    with pytest.raises(AuthError):
        target.make().parse_status_webhook(body, {"X-Deskpilot-Signature": hex_digest})


def test_servicenow_signature_is_base64_of_raw_hmac_sha256() -> None:
    # What GlideCertificateEncryption.generateMac(base64(key), "HmacSHA256", data) returns: base64 of the raw
    # MAC. RFC 4231 test case 2 (key "Jefe"), whose MAC is 5bdcc146...64ec3843.
    assert (
        sign_webhook(b"what do ya want for nothing?", "Jefe")
        == "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM="
    )


@pytest.mark.parametrize(("state", "expected"), [("1", S.NEW), (" 3 ", S.PENDING), ("", S.OPEN)])
def test_servicenow_map_state(state: str, expected: ExternalTicketStatus) -> None:
    assert map_state(state) is expected


# ---- resolved-ticket feed -------------------------------------------------------------------------

SINCE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def fresh() -> Iterator[ServiceNowTarget]:
    """An emulator of its own: the feed reads every resolved incident, so none may come from other tests."""
    with serve_emulator(*build_app(user=USER, secret=PASSWORD)) as emulator:
        control = ServiceNowTarget(emulator)
        yield control
        control.close_all()


def feed(target: ServiceNowTarget, **options: Any) -> ServiceNowTicketSystem:
    system = target.make(**options)
    assert isinstance(system, ServiceNowTicketSystem)
    return system


def seed(target: ServiceNowTarget, state: str, resolved_at: datetime | None, **fields: Any) -> str:
    """An incident entered in the instance itself (not through Deskpilot); returns its number."""
    record: dict[str, Any] = {"short_description": f"Incident in state {state}", "state": state, **fields}
    if resolved_at is not None:
        record |= {
            "resolved_at": f"{resolved_at:%Y-%m-%d %H:%M:%S}",
            "sys_updated_on": f"{resolved_at:%Y-%m-%d %H:%M:%S}",
        }
        record.setdefault("close_code", "Solution provided")
        record.setdefault("close_notes", f"Fixed at {resolved_at:%H:%M}.")
    number: str = target.control("POST", "/_incident", record)["number"]
    return number


def test_servicenow_feed_pages_resolved_and_closed_incidents_since_oldest_first(
    fresh: ServiceNowTarget,
) -> None:
    seed(fresh, "6", SINCE - timedelta(hours=2))  # before since, inside the query's margin
    resolved = [
        seed(fresh, "7" if hour % 2 else "6", SINCE + timedelta(hours=hour)) for hour in (3, 1, 5, 2, 4)
    ]
    seed(fresh, "2", None)
    seed(fresh, "1", None)
    seed(fresh, "8", None, close_notes="Duplicate")
    system = feed(fresh)
    assert isinstance(system, ResolvedTicketFeed)

    batches = list(system.resolved_since(SINCE, limit=2))

    by_time = [number for _, number in sorted(zip((3, 1, 5, 2, 4), resolved, strict=True))]
    assert [[t.external_key for t in batch] for batch in batches] == [by_time[:1], by_time[1:3], by_time[3:]]
    pages = fresh.calls(INCIDENT)
    assert [call["query"]["sysparm_offset"] for call in pages] == ["0", "2", "4"]
    assert {call["query"]["sysparm_limit"] for call in pages} == {"2"}
    assert pages[0]["query"]["sysparm_query"] == (
        "stateIN6,7^resolved_at>=2026-03-01 09:00:00^ORDERBYresolved_at^ORDERBYsys_id"
    )
    assert "caller_id.email" in pages[0]["query"]["sysparm_fields"].split(",")
    tickets = [ticket for batch in batches for ticket in batch]
    assert [t.resolved_at for t in tickets] == [SINCE + timedelta(hours=h) for h in range(1, 6)]
    assert [t.status for t in tickets] == [S.CLOSED, S.RESOLVED, S.CLOSED, S.RESOLVED, S.CLOSED]
    assert all(t.system == "servicenow" and t.resolution.startswith("Fixed at") for t in tickets)


def test_servicenow_feed_maps_incident_fields_with_dot_walked_caller_email(fresh: ServiceNowTarget) -> None:
    beth = DEFAULT_USERS[2]
    number = seed(
        fresh,
        "6",
        SINCE + timedelta(minutes=30),
        description="The VPN drops every hour.",
        close_notes="Updated the VPN client to 5.1.",
        category="network",
        caller_id=ADA.sys_id,
        assigned_to=beth.sys_id,
    )
    unassigned = seed(fresh, "6", SINCE + timedelta(minutes=40))

    (batch,) = list(feed(fresh).resolved_since(SINCE))

    ticket, bare = batch
    sys_id = fresh.incident(number)["sys_id"]
    assert (ticket.external_key, bare.external_key) == (number, unassigned)
    assert ticket.url == f"{fresh.emulator.base_url}/incident.do?sys_id={sys_id}"
    assert (ticket.title, ticket.description) == ("Incident in state 6", "The VPN drops every hour.")
    assert (ticket.resolution, ticket.category) == ("Updated the VPN client to 5.1.", "Network")
    assert (ticket.requester_email, ticket.requester_name) == ("Ada@Example.com", "Ada Lovelace")
    assert ticket.assignee_name == "Beth Anglin"
    assert ticket.resolved_at == SINCE + timedelta(minutes=30)  # the stored UTC value, not the UTC-8 display
    assert ticket.updated_at == ticket.resolved_at
    assert (bare.requester_email, bare.requester_name, bare.assignee_name, bare.category) == (None,) * 4
    assert [c["path"] for c in fresh.calls()] == [INCIDENT]  # no caller lookups


def test_servicenow_feed_follows_resolution_and_reopening_done_through_the_api(
    fresh: ServiceNowTarget,
) -> None:
    system = feed(fresh)
    since = datetime.now(UTC) - timedelta(minutes=1)
    kept = system.create_ticket(DRAFT, idempotency_key=new_key())
    reopened = system.create_ticket(DRAFT, idempotency_key=new_key())
    system.resolve_ticket(kept.external_key, "Restarted the VPN concentrator.")
    system.resolve_ticket(reopened.external_key, "Looked fixed.")
    fresh.set_vendor_status(reopened.external_key, "2")

    tickets = [t for batch in system.resolved_since(since) for t in batch]

    assert [(t.external_key, t.resolution) for t in tickets] == [
        (kept.external_key, "Restarted the VPN concentrator.")
    ]
    assert tickets[0].requester_email == "Ada@Example.com"
    assert since <= tickets[0].resolved_at <= datetime.now(UTC)


def test_servicenow_feed_is_lazy_and_refuses_naive_since(fresh: ServiceNowTarget) -> None:
    check_feed_is_lazy_and_refuses_naive_since(fresh, feed(fresh), SINCE)


def test_servicenow_feed_wrong_credentials_raise_auth_error_without_retry(fresh: ServiceNowTarget) -> None:
    seed(fresh, "6", SINCE + timedelta(hours=1))
    check_feed_auth_error_without_retry(fresh, feed(fresh, credentials_ok=False), SINCE, "servicenow")


def test_servicenow_feed_waits_out_rate_limits_then_raises_when_they_persist(fresh: ServiceNowTarget) -> None:
    number = seed(fresh, "6", SINCE + timedelta(hours=1))
    check_feed_rate_limits(fresh, lambda **options: feed(fresh, **options), SINCE, INCIDENT, number)
