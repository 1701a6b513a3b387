"""JiraTicketSystem against the Jira Cloud emulator, over real HTTP on localhost."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from connectors.errors import AuthError, ConflictError, RemoteNotFoundError
from connectors.interfaces import ResolvedTicketFeed
from connectors.jira import JiraTicketSystem
from connectors.jira.tickets import (
    IDEMPOTENCY_PROPERTY,
    adf_document,
    adf_text,
    idempotency_label,
    map_status,
    sign_webhook,
)
from connectors.models import ExternalTicketStatus, TicketDraft, TicketUrgency
from tests.emulators.harness import RunningEmulator, serve_emulator
from tests.emulators.jira import build_app
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

EMAIL = "deskpilot-bot@example.com"
TOKEN = "jira-api-token-7d1e"
PROJECT = "IT"
S = ExternalTicketStatus
_CATEGORY = {
    "To Do": "new",
    "In Progress": "indeterminate",
    "Waiting for customer": "indeterminate",
    "Resolved": "done",
    "Closed": "done",
    "Canceled": "done",
    "Done": "done",
}


class JiraTarget(TicketTarget):
    system = "jira"
    status_cases = (
        ("To Do", S.NEW),
        ("In Progress", S.OPEN),
        ("Waiting for customer", S.PENDING),
        ("Resolved", S.RESOLVED),
        ("Closed", S.CLOSED),
        ("Canceled", S.CANCELLED),
    )
    open_status = "In Progress"
    resolved_status = "Resolved"
    unknown_key = "IT-99999"
    create_path = "/rest/api/3/issue"

    def build(self, options: AdapterOptions) -> JiraTicketSystem:
        token = TOKEN if options.credentials_ok else "not-the-token"
        return JiraTicketSystem(self.emulator.base_url, EMAIL, token, PROJECT, **options.kwargs)

    def tickets(self) -> list[EmulatedTicket]:
        return [
            EmulatedTicket(
                external_key=issue["key"],
                idempotency_key=(issue["properties"].get(IDEMPOTENCY_PROPERTY) or {}).get("key"),
                comments=[(comment["text"], comment["public"]) for comment in issue["comments"]],
            )
            for issue in self.state()["issues"]
        ]

    def set_vendor_status(self, external_key: str, vendor_status: str) -> None:
        self.control("POST", "/_status", {"key": external_key, "status": vendor_status})

    def read_prefix(self, external_key: str) -> str:
        return f"/rest/api/3/issue/{external_key}"

    def signed_headers(self, body: bytes, secret: str) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "X-Atlassian-Webhook-Identifier": "2c8b1f0e",
            "X-Hub-Signature": sign_webhook(body, secret),
        }

    def status_event(self, external_key: str, vendor_status: str) -> bytes:
        return issue_updated(external_key, vendor_status, [status_item("In Progress", vendor_status)])

    def other_event(self, external_key: str) -> bytes:
        item = {"field": "summary", "fieldtype": "jira", "fieldId": "summary", "toString": "New title"}
        return issue_updated(external_key, "In Progress", [item])


def status_item(before: str, after: str) -> dict[str, str]:
    return {
        "field": "status",
        "fieldtype": "jira",
        "fieldId": "status",
        "from": "3",
        "fromString": before,
        "to": "10003",
        "toString": after,
    }


def issue_updated(key: str, status: str, items: list[dict[str, str]]) -> bytes:
    """A ``jira:issue_updated`` admin-webhook body, as Jira Cloud sends it."""
    done = _CATEGORY[status] == "done"
    return json.dumps(
        {
            "timestamp": 1772445600000,
            "webhookEvent": "jira:issue_updated",
            "issue_event_type_name": "issue_generic",
            "user": {"accountId": "5b10a2844c20165700ede21g", "displayName": "Grace Agent"},
            "issue": {
                "id": "10001",
                "self": "https://acme.atlassian.net/rest/api/3/issue/10001",
                "key": key,
                "fields": {
                    "summary": "VPN drops every hour",
                    "status": {
                        "name": status,
                        "id": "10003",
                        "statusCategory": {"id": 3, "key": _CATEGORY[status], "name": "Done"},
                    },
                    "resolution": {"id": "10000", "name": "Done"} if done else None,
                    "updated": "2026-03-02T10:00:00.000+0000",
                },
            },
            "changelog": {"id": "10100", "items": items},
        }
    ).encode()


@pytest.fixture(scope="module")
def emulator() -> Iterator[RunningEmulator]:
    with serve_emulator(*build_app(email=EMAIL, api_token=TOKEN, project_key=PROJECT)) as running:
        yield running


target = emulator_fixture(JiraTarget, "target")


class TestJiraContract(TicketSystemContract):
    """The shared TicketSystem contract, against Jira Service Management."""


# ---- Jira specifics -------------------------------------------------------------------------------


def test_jira_create_sends_adf_priority_labels_and_idempotency_property(target: JiraTarget) -> None:
    key = new_key()

    created = target.make().create_ticket(DRAFT, idempotency_key=key)

    (call,) = [c for c in target.calls("/rest/api/3/issue") if c["method"] == "POST"]
    fields = call["json"]["fields"]
    assert fields["project"] == {"key": "IT"}
    assert fields["issuetype"] == {"name": "Task"}
    assert fields["summary"] == "VPN drops every hour"
    assert fields["priority"] == {"name": "High"}
    assert fields["labels"] == sorted([idempotency_label(key), "vpn", "remote-work", "category-network"])
    assert fields["description"]["type"] == "doc"
    assert adf_text(fields["description"]) == (
        "Since Monday the VPN disconnects every hour.\nReconnecting works.\n\n"
        "Requested by Ada Lovelace <ada@example.com> via Deskpilot."
    )
    assert call["json"]["properties"] == [{"key": IDEMPOTENCY_PROPERTY, "value": {"key": key}}]
    token = base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode()
    assert call["headers"]["authorization"] == f"Basic {token}"
    assert created.external_key.startswith("IT-")
    assert created.url == f"{target.emulator.base_url}/browse/{created.external_key}"


def test_jira_find_searches_label_with_enhanced_jql_search(target: JiraTarget) -> None:
    key = new_key()
    target.make().create_ticket(DRAFT, idempotency_key=key)
    target.reset()

    found = target.make().find_by_idempotency_key(key)

    assert found is not None
    (call,) = target.calls()
    assert (call["method"], call["path"]) == ("POST", "/rest/api/3/search/jql")
    assert (
        call["json"]["jql"] == f'project = "IT" AND labels = "{idempotency_label(key)}" ORDER BY created ASC'
    )
    assert call["json"]["properties"] == [IDEMPOTENCY_PROPERTY]


def test_jira_find_ignores_issue_with_label_but_without_property(target: JiraTarget) -> None:
    key = new_key()
    # What "Clone issue" in Jira leaves behind: the label is copied, the issue property is not.
    clone = {
        "fields": {
            "project": {"key": "IT"},
            "issuetype": {"name": "Task"},
            "summary": "CLONE - VPN drops every hour",
            "labels": [idempotency_label(key)],
        }
    }
    httpx.post(
        f"{target.emulator.base_url}/rest/api/3/issue", json=clone, auth=(EMAIL, TOKEN), timeout=5
    ).raise_for_status()

    assert target.make().find_by_idempotency_key(key) is None


def test_jira_find_with_duplicates_returns_oldest(target: JiraTarget) -> None:
    key, system = new_key(), target.make()
    first = system.create_ticket(DRAFT, idempotency_key=key)
    system.create_ticket(DRAFT, idempotency_key=key)  # a caller that skipped find-first

    found = system.find_by_idempotency_key(key)

    assert found is not None and found.external_key == first.external_key


def test_jira_resolve_takes_resolve_transition_with_resolution_and_comment(target: JiraTarget) -> None:
    system = target.make()
    created = system.create_ticket(DRAFT, idempotency_key=new_key())

    resolved = system.resolve_ticket(created.external_key, "Unlocked by automation.")

    assert resolved.vendor_status == "Resolved"  # not "Canceled", listed first, nor "Closed"
    assert resolved.resolution == "Done"
    (transition,) = [
        c
        for c in target.calls(f"/rest/api/3/issue/{created.external_key}/transitions")
        if c["method"] == "POST"
    ]
    assert transition["json"]["transition"] == {"id": "31"}
    assert transition["json"]["fields"] == {"resolution": {"name": "Done"}}
    assert adf_text(transition["json"]["update"]["comment"][0]["add"]["body"]) == "Unlocked by automation."
    assert [c for c in target.calls() if c["path"].endswith("/comment")] == []


def test_jira_resolve_in_simple_workflow_transitions_then_comments() -> None:
    app, state = build_app(email=EMAIL, api_token=TOKEN, workflow="simple")
    with serve_emulator(app, state) as emulator:
        system = JiraTarget(emulator).make()
        created = system.create_ticket(DRAFT, idempotency_key=new_key())

        resolved = system.resolve_ticket(created.external_key, "Unlocked by automation.")
        comment = system.add_comment(created.external_key, "Agents only", public=False)
        transition = [
            c for c in emulator.calls() if c["path"].endswith("/transitions") and c["method"] == "POST"
        ]
        comments = [c for c in emulator.calls() if c["path"].endswith("/comment")]
        system.close()

    assert (resolved.status, resolved.vendor_status, resolved.resolution) == (S.RESOLVED, "Done", None)
    assert transition[0]["json"] == {"transition": {"id": "31"}}
    assert adf_text(comments[0]["json"]["body"]) == "Unlocked by automation."
    assert comment.public is True  # plain Jira has no internal comments, and the adapter says so


def test_jira_resolve_without_done_transition_raises_conflict() -> None:
    app, state = build_app(email=EMAIL, api_token=TOKEN, workflow="no_resolve")
    with serve_emulator(app, state) as emulator:
        system = JiraTarget(emulator).make()
        created = system.create_ticket(DRAFT, idempotency_key=new_key())

        with pytest.raises(ConflictError, match="no transition"):
            system.resolve_ticket(created.external_key, "Done")
        posts = [c for c in emulator.calls() if c["path"].endswith("/transitions") and c["method"] == "POST"]
        system.close()

    assert posts == []


def test_jira_internal_comment_sends_service_desk_property(target: JiraTarget) -> None:
    system = target.make()
    created = system.create_ticket(DRAFT, idempotency_key=new_key())

    system.add_comment(created.external_key, "Internal note", public=False)
    system.add_comment(created.external_key, "Public reply", public=True)

    internal, public = [c["json"] for c in target.calls() if c["path"].endswith("/comment")]
    assert internal["properties"] == [{"key": "sd.public.comment", "value": {"internal": True}}]
    assert "properties" not in public


def test_jira_empty_priority_mapping_sends_no_priority(target: JiraTarget) -> None:
    system = JiraTicketSystem(target.emulator.base_url, EMAIL, TOKEN, PROJECT, priority_names={})
    try:
        system.create_ticket(DRAFT, idempotency_key=new_key())
    finally:
        system.close()

    (call,) = [c for c in target.calls("/rest/api/3/issue") if c["method"] == "POST"]
    assert "priority" not in call["json"]["fields"]


def test_jira_summary_newlines_are_flattened(target: JiraTarget) -> None:
    draft = TicketDraft(
        title="Printer\nout of toner", requester_email="ada@example.com", urgency=TicketUrgency.LOW
    )

    created = target.make().create_ticket(draft, idempotency_key=new_key())

    assert created.title == "Printer out of toner"


def test_jira_malformed_issue_key_raises_not_found_without_request(target: JiraTarget) -> None:
    with pytest.raises(RemoteNotFoundError):
        target.make().get_ticket("../../rest/api/3/myself")

    assert target.calls() == []


def test_jira_invalid_project_key_rejected() -> None:
    with pytest.raises(ValueError, match="project key"):
        JiraTicketSystem("https://acme.atlassian.net", EMAIL, TOKEN, "it desk")


def test_jira_webhook_comment_event_returns_none(target: JiraTarget) -> None:
    body = json.dumps({"timestamp": 1772445600000, "webhookEvent": "comment_created", "comment": {}}).encode()

    assert target.make().parse_status_webhook(body, target.signed_headers(body, WEBHOOK_SECRET)) is None


def test_jira_webhook_signature_other_than_sha256_refused(target: JiraTarget) -> None:
    body = target.status_event("IT-1", "Resolved")
    digest = sign_webhook(body, WEBHOOK_SECRET).removeprefix("sha256=")

    with pytest.raises(AuthError):
        target.make().parse_status_webhook(body, {"X-Hub-Signature": f"sha1={digest}"})


def test_jira_webhook_reads_status_resolution_and_time(target: JiraTarget) -> None:
    body = target.status_event("IT-7", "Resolved")

    change = target.make().parse_status_webhook(body, target.signed_headers(body, WEBHOOK_SECRET))

    assert change is not None
    assert (change.external_key, change.vendor_status, change.resolution) == ("IT-7", "Resolved", "Done")
    assert change.changed_at is not None and change.changed_at.isoformat() == "2026-03-02T10:00:00+00:00"


@pytest.mark.parametrize(
    ("category", "name", "expected"),
    [
        ("new", "Open", S.NEW),
        ("indeterminate", "Waiting for support", S.OPEN),
        ("indeterminate", "Pending", S.PENDING),
        ("done", "Done", S.RESOLVED),
        ("done", "Won't Do", S.CANCELLED),
        ("done", "Declined", S.CANCELLED),
        ("undefined", "Triage", S.OPEN),
    ],
)
def test_jira_status_category_and_name_map_to_our_status(
    category: str, name: str, expected: ExternalTicketStatus
) -> None:
    assert map_status(category, name) is expected


def test_jira_adf_round_trip_keeps_paragraphs_and_line_breaks() -> None:
    text = "First line\nsecond line\n\nNew paragraph"

    document = adf_document(text)

    assert adf_text(document) == text
    assert [node["type"] for node in document["content"][0]["content"]] == ["text", "hardBreak", "text"]
    assert adf_document("") == {"type": "doc", "version": 1, "content": []}


# ---- resolved-ticket feed -------------------------------------------------------------------------

SINCE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SEARCH = "/rest/api/3/search/jql"
ADA = {
    "accountId": "5b10a2844c20165700ede21a",
    "displayName": "Ada Lovelace",
    "emailAddress": "ada@example.com",
}
GRACE = {"accountId": "5b10a2844c20165700ede21g", "displayName": "Grace Agent"}


@pytest.fixture
def fresh() -> Iterator[JiraTarget]:
    """An emulator of its own (API user in UTC-8): the feed reads every resolved issue of the project."""
    with serve_emulator(*build_app(email=EMAIL, api_token=TOKEN, project_key=PROJECT)) as emulator:
        control = JiraTarget(emulator)
        yield control
        control.close_all()


def feed(target: JiraTarget, **options: Any) -> JiraTicketSystem:
    system = target.make(**options)
    assert isinstance(system, JiraTicketSystem)
    return system


def seed(target: JiraTarget, status: str, resolved_at: datetime | None = None, **fields: Any) -> str:
    """An issue entered in Jira itself (not through Deskpilot); returns its key."""
    issue: dict[str, Any] = {"summary": f"Issue in {status}", "status": status, "reporter": ADA, **fields}
    if resolved_at is not None:
        issue["resolutiondate"] = issue["updated"] = f"{resolved_at:%Y-%m-%dT%H:%M:%S}.000+0000"
    key: str = target.control("POST", "/_issue", issue)["key"]
    return key


def test_jira_feed_pages_resolved_and_closed_issues_since_oldest_first(fresh: JiraTarget) -> None:
    seed(fresh, "Resolved", SINCE - timedelta(hours=2))  # before since, inside the query's margin
    seed(fresh, "Canceled", SINCE + timedelta(minutes=30))
    hours = (3, 1, 5, 2, 4)
    keys = {h: seed(fresh, "Closed" if h % 2 else "Resolved", SINCE + timedelta(hours=h)) for h in hours}
    seed(fresh, "To Do")
    seed(fresh, "In Progress")
    system = feed(fresh)
    assert isinstance(system, ResolvedTicketFeed)

    batches = list(system.resolved_since(SINCE, limit=2))

    # Without the day of margin, "2026/03/02 09:00" read in UTC-8 would start at 17:00 UTC and miss all five.
    assert [[t.external_key for t in batch] for batch in batches] == [
        [keys[1], keys[2]],
        [keys[3], keys[4]],
        [keys[5]],
    ]
    searches = fresh.calls(SEARCH)
    assert searches[0]["json"]["jql"] == (
        'project = "IT" AND statusCategory = Done AND resolved >= "2026/03/01 09:00" ORDER BY resolved ASC'
    )
    assert [call["json"]["maxResults"] for call in searches] == [2, 2, 2, 2]
    assert "nextPageToken" not in searches[0]["json"]
    assert all(call["json"]["nextPageToken"] for call in searches[1:])
    tickets = [t for batch in batches for t in batch]
    assert [t.resolved_at for t in tickets] == [SINCE + timedelta(hours=h) for h in range(1, 6)]
    assert [t.status for t in tickets] == [S.CLOSED, S.RESOLVED, S.CLOSED, S.RESOLVED, S.CLOSED]
    assert len(fresh.calls("/rest/api/3/issue/")) == 5  # one comment read per issue yielded


def test_jira_feed_maps_fields_and_takes_last_public_agent_comment(fresh: JiraTarget) -> None:
    def at(minutes: int) -> str:
        return f"{SINCE + timedelta(minutes=minutes):%Y-%m-%dT%H:%M:%S}.000+0000"

    full = seed(
        fresh,
        "Resolved",
        SINCE + timedelta(hours=1),
        description="The VPN drops every hour.\n\nSince Monday.",
        assignee=GRACE,
        labels=["vpn", "category-network"],
        comments=[
            {"text": "Reinstalled the VPN client 5.1.", "author": GRACE, "created": at(10)},
            {"text": "Gateway logs checked.", "author": GRACE, "public": False, "created": at(20)},
            {"text": "Thanks, it works now!", "author": ADA, "created": at(30)},
        ],
    )
    private = {"accountId": "5b10a2844c20165700ede21p", "displayName": "Private Person"}
    silent = seed(fresh, "Closed", SINCE + timedelta(hours=2), reporter=private)
    own = seed(
        fresh, "Resolved", SINCE + timedelta(hours=3), comments=[{"text": "Fixed it myself.", "author": ADA}]
    )

    (batch,) = list(feed(fresh).resolved_since(SINCE))

    ticket, no_comment, by_reporter = batch
    assert [t.external_key for t in batch] == [full, silent, own]
    assert ticket.url == f"{fresh.emulator.base_url}/browse/{full}"
    assert (ticket.title, ticket.description) == (
        "Issue in Resolved",
        "The VPN drops every hour.\n\nSince Monday.",
    )
    assert (ticket.resolution, ticket.category) == ("Reinstalled the VPN client 5.1.", "network")
    assert (ticket.requester_email, ticket.requester_name, ticket.assignee_name) == (
        "ada@example.com",
        "Ada Lovelace",
        "Grace Agent",
    )
    assert ticket.updated_at == ticket.resolved_at == SINCE + timedelta(hours=1)
    assert (no_comment.resolution, no_comment.requester_email, no_comment.requester_name) == (
        "Done",  # the resolution's name when no comment says more
        None,  # e-mail hidden by the user's privacy settings
        "Private Person",
    )
    assert (no_comment.assignee_name, no_comment.category, no_comment.description) == (None, None, "")
    assert by_reporter.resolution == "Fixed it myself."
    (comments_call, *_) = fresh.calls(f"/rest/api/3/issue/{full}/comment")
    assert comments_call["query"] == {"orderBy": "-created", "maxResults": "50"}


def test_jira_feed_follows_resolution_and_reopening_done_through_the_api(fresh: JiraTarget) -> None:
    system = feed(fresh)
    since = datetime.now(UTC) - timedelta(minutes=1)
    kept = system.create_ticket(DRAFT, idempotency_key=new_key())
    reopened = system.create_ticket(DRAFT, idempotency_key=new_key())
    system.resolve_ticket(kept.external_key, "Unlocked by automation.")
    system.resolve_ticket(reopened.external_key, "Looked fixed.")
    fresh.set_vendor_status(reopened.external_key, "To Do")
    fresh.reset()

    tickets = [t for batch in system.resolved_since(since, limit=500) for t in batch]

    assert [(t.external_key, t.resolution, t.category) for t in tickets] == [
        (kept.external_key, "Unlocked by automation.", "network")  # by the reporter (our bot): still taken
    ]
    assert tickets[0].requester_name == "Deskpilot"  # Jira knows the API user as reporter
    assert since <= tickets[0].resolved_at <= datetime.now(UTC)
    assert fresh.calls(SEARCH)[0]["json"]["maxResults"] == 100  # the enhanced search's page cap


def test_jira_feed_is_lazy_and_refuses_naive_since(fresh: JiraTarget) -> None:
    check_feed_is_lazy_and_refuses_naive_since(fresh, feed(fresh), SINCE)


def test_jira_feed_wrong_credentials_raise_auth_error_without_retry(fresh: JiraTarget) -> None:
    seed(fresh, "Resolved", SINCE + timedelta(hours=1))
    check_feed_auth_error_without_retry(fresh, feed(fresh, credentials_ok=False), SINCE, "jira")


def test_jira_feed_waits_out_rate_limits_then_raises_when_they_persist(fresh: JiraTarget) -> None:
    key = seed(fresh, "Resolved", SINCE + timedelta(hours=1))
    check_feed_rate_limits(fresh, lambda **options: feed(fresh, **options), SINCE, SEARCH, key)
