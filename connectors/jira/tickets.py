"""Jira Cloud / Jira Service Management issues as a ``TicketSystem`` (REST API v3).

Vendor JSON stops here: callers only see ``ExternalTicket``, ``ExternalComment``, ``TicketStatusChange`` and
``ResolvedTicket``.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Unpack
from urllib.parse import quote

from connectors.errors import (
    ConflictError,
    ConnectorError,
    RemoteNotFoundError,
    RemoteRejectedError,
    RemoteUnavailableError,
)
from connectors.http import ClientOptions, HttpAdapter, connector_error
from connectors.models import (
    ExternalComment,
    ExternalTicket,
    ExternalTicketStatus,
    ResolvedTicket,
    TicketDraft,
    TicketStatusChange,
    TicketUrgency,
)
from connectors.ticketing import (
    TERMINAL_STATUSES,
    draft_description,
    header,
    hmac_sha256,
    parse_iso_time,
    verify_webhook_signature,
    webhook_json,
)

logger = logging.getLogger(__name__)

SYSTEM = "jira"
IDEMPOTENCY_PROPERTY = "deskpilot.idempotency"
"""Issue property holding ``{"key": <idempotency key>}``, set in the create request itself."""
INTERNAL_COMMENT_PROPERTY = "sd.public.comment"
"""Comment property Jira Service Management reads to make a comment internal (agents only)."""
DEFAULT_PRIORITIES: Mapping[TicketUrgency, str] = {
    TicketUrgency.LOW: "Low",
    TicketUrgency.NORMAL: "Medium",
    TicketUrgency.HIGH: "High",
    TicketUrgency.URGENT: "Highest",
}
_ISSUE_FIELDS = ["summary", "status", "resolution", "updated"]
_PROJECT_KEY = re.compile(r"^[A-Z][A-Z0-9_]+$")
_ISSUE_KEY = re.compile(r"^[A-Z][A-Z0-9_]+-[1-9][0-9]*$")
_CANCELLED_NAMES = {"canceled", "cancelled", "declined", "rejected", "won't do", "won't fix"}
_PENDING_NAMES = {"pending", "waiting for customer", "waiting for requester", "waiting for reporter"}
_PREFERRED_RESOLUTIONS = ("Done", "Fixed", "Resolved")
_FEED_FIELDS = [
    "summary",
    "description",
    "status",
    "resolution",
    "resolutiondate",
    "updated",
    "reporter",
    "assignee",
    "labels",
]
_FEED_MARGIN = timedelta(days=1)
"""How much earlier than ``since`` the feed's JQL starts: JQL reads date literals in the API user's profile
time zone (UTC-12 to UTC+14), so the exact bound is applied to ``resolutiondate`` here."""
_MAX_SEARCH_PAGE = 100  # the enhanced search returns at most 100 issues a page when fields are requested
_COMMENTS_READ = 50
_COMMENTS_SEARCHED = 100


def idempotency_label(idempotency_key: str) -> str:
    """The label searched by JQL for ``idempotency_key``: ``deskpilot-`` and 32 hex digits of its SHA-256.

    A label, unlike an issue property, is searchable without an app-declared property index. The hash
    keeps it free of spaces and short; the property stores the key itself and confirms the match (an
    issue cloned in Jira carries the label but not the property).
    """
    return "deskpilot-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]


class JiraTicketSystem(HttpAdapter):
    """Issues of one project, created with an issue type; basic auth ``email:api_token``.

    ``create_ticket`` sends the ``deskpilot.idempotency`` issue property and the ``idempotency_label``
    in the create request itself, so the issue never exists without them. ``find_by_idempotency_key``
    searches that label with ``POST /rest/api/3/search/jql`` (the search Jira Cloud still serves; the
    older ``/rest/api/3/search`` was removed) and keeps the issue whose property holds the key. That
    search is eventually consistent: an issue created a few seconds earlier may be missing, so the
    task retrying a create must wait longer than that before calling ``find_by_idempotency_key``.

    Priorities are set by name from ``priority_names`` (Jira's default scheme by default); pass an empty
    mapping when the create screen has no priority field. ``resolve_ticket`` takes the transition whose
    target status is in the "done" category, preferring a resolved-like status over closed, and never a
    cancel/decline one; it sets the resolution when the transition screen has that field, and adds the
    text as a public comment. Internal comments use the Jira Service Management ``sd.public.comment``
    property; plain Jira ignores it, and the returned ``ExternalComment.public`` then says so.

    Webhooks: an admin webhook (System > WebHooks) registered with a secret; Jira signs the raw body
    with HMAC-SHA256 and sends ``X-Hub-Signature: sha256=<hex>``. Unsigned webhooks are refused.

    Non-idempotent writes (create, comment, transition) are sent once: a timeout or 5xx there may have
    been applied, so the error goes to the caller, whose retry looks the state up first. Only 429 (not
    applied, by definition) is retried on writes. Reads retry 429, 5xx and timeouts.

    ``resolved_since`` is also a ``ResolvedTicketFeed`` (see its docstring).
    """

    SYSTEM = SYSTEM

    def __init__(
        self,
        base_url: str,
        email: str,
        api_token: str,
        project_key: str,
        issue_type: str = "Task",
        webhook_secret: str | None = None,
        timeout_s: float = 10.0,
        *,
        priority_names: Mapping[TicketUrgency, str] | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        if not _PROJECT_KEY.match(project_key):
            raise ValueError(f"not a Jira project key: {project_key!r}")
        if not issue_type.strip():
            raise ValueError("issue_type must not be empty")
        super().__init__(base_url, auth=(email, api_token), timeout_s=timeout_s, **options)
        self._project_key = project_key
        self._issue_type = issue_type
        self._webhook_secret = webhook_secret
        self._priorities = dict(DEFAULT_PRIORITIES if priority_names is None else priority_names)

    def create_ticket(self, draft: TicketDraft, *, idempotency_key: str) -> ExternalTicket:
        """Create an issue carrying the key as issue property and label (one request, one attempt)."""
        _check_idempotency_key(idempotency_key)
        labels = {idempotency_label(idempotency_key)}
        labels.update(_label(label) for label in draft.labels)
        if draft.category:
            labels.add(_label(f"category-{draft.category}"))
        summary = _one_line(draft.title)
        fields: dict[str, Any] = {
            "project": {"key": self._project_key},
            "issuetype": {"name": self._issue_type},
            "summary": summary,
            "description": adf_document(draft_description(draft)),
            "labels": sorted(label for label in labels if label),
        }
        priority = self._priorities.get(draft.urgency)
        if priority:
            fields["priority"] = {"name": priority}
        created = self._http.request_json(
            "POST",
            "rest/api/3/issue",
            json={
                "fields": fields,
                "properties": [{"key": IDEMPOTENCY_PROPERTY, "value": {"key": idempotency_key}}],
            },
            idempotent=False,
        )
        key = created.get("key") if isinstance(created, dict) else None
        if not isinstance(key, str) or not key:
            raise _error(RemoteUnavailableError, "create issue answered without an issue key")
        # No read-back: a failure now would make the caller retry a create that already happened.
        return ExternalTicket(
            system=SYSTEM,
            external_key=key,
            url=self._browse_url(key),
            title=summary,
            status=ExternalTicketStatus.NEW,
            idempotency_key=idempotency_key,
        )

    def find_by_idempotency_key(self, idempotency_key: str) -> ExternalTicket | None:
        """The oldest issue of the project labelled for the key whose property holds the key, or None."""
        _check_idempotency_key(idempotency_key)
        jql = (
            f'project = "{self._project_key}" AND labels = "{idempotency_label(idempotency_key)}" '
            "ORDER BY created ASC"
        )
        result = self._http.request_json(
            "POST",
            "rest/api/3/search/jql",
            json={
                "jql": jql,
                "fields": _ISSUE_FIELDS,
                "properties": [IDEMPOTENCY_PROPERTY],
                "maxResults": 20,
            },
        )
        issues = result.get("issues") if isinstance(result, dict) else None
        if not isinstance(issues, list):
            raise _error(RemoteUnavailableError, "JQL search answered without an issue list")
        matches = [
            issue for issue in issues if isinstance(issue, dict) and _property_key(issue) == idempotency_key
        ]
        if not matches:
            return None
        if len(matches) > 1:
            logger.warning(
                "several issues carry one idempotency key", extra={"system": SYSTEM, "count": len(matches)}
            )
        return self._to_ticket(min(matches, key=_numeric_id))

    def get_ticket(self, external_key: str) -> ExternalTicket:
        """The issue's current state (``RemoteNotFoundError`` when missing or not visible)."""
        return self._to_ticket(self._get_issue(external_key))

    def add_comment(self, external_key: str, body: str, *, public: bool = True) -> ExternalComment:
        """Comment on the issue; ``public=False`` makes it internal in Jira Service Management."""
        _check_issue_key(external_key)
        if not body.strip():
            raise ValueError("comment body must not be empty")
        request: dict[str, Any] = {"body": adf_document(body)}
        if not public:
            request["properties"] = [{"key": INTERNAL_COMMENT_PROPERTY, "value": {"internal": True}}]
        comment = self._http.request_json(
            "POST", f"rest/api/3/issue/{quote(external_key)}/comment", json=request, idempotent=False
        )
        if not isinstance(comment, dict) or comment.get("id") in (None, ""):
            raise _error(RemoteUnavailableError, "add comment answered without a comment id")
        return _to_comment(comment, body=body, public=public)

    def find_comment(self, external_key: str, marker: str) -> ExternalComment | None:
        """The newest of the issue's newest 100 comments whose body (ADF as plain text) has ``marker``."""
        _check_issue_key(external_key)
        if not marker.strip():
            raise ValueError("marker must not be blank")
        match = next(
            (
                c
                for c in self._newest_comments(external_key, _COMMENTS_SEARCHED)
                if marker in adf_text(c.get("body"))
            ),
            None,
        )
        return None if match is None else _to_comment(match)

    def resolve_ticket(self, external_key: str, resolution: str) -> ExternalTicket:
        """Transition the issue to a done status; an issue already done is returned unchanged."""
        current = self.get_ticket(external_key)
        if current.status in TERMINAL_STATUSES:
            return current
        path = f"rest/api/3/issue/{quote(external_key)}/transitions"
        listing = self._http.request_json("GET", path, params={"expand": "transitions.fields"})
        transitions = listing.get("transitions") if isinstance(listing, dict) else None
        transition = _pick_done_transition(transitions if isinstance(transitions, list) else [])
        if transition is None:
            raise _error(
                ConflictError,
                f"no transition to a done status is available from {current.vendor_status!r}",
            )
        request: dict[str, Any] = {"transition": {"id": str(transition["id"])}}
        screen_fields = transition.get("fields")
        if isinstance(screen_fields, dict) and "resolution" in screen_fields:
            request["fields"] = {"resolution": {"name": _resolution_name(screen_fields["resolution"])}}
        comment_on_screen = bool(transition.get("hasScreen")) and bool(resolution.strip())
        if comment_on_screen:
            request["update"] = {"comment": [{"add": {"body": adf_document(resolution)}}]}
        self._http.request_json("POST", path, json=request, idempotent=False)
        if resolution.strip() and not comment_on_screen:
            self.add_comment(external_key, resolution, public=True)
        return self.get_ticket(external_key)

    def parse_status_webhook(self, payload: bytes, headers: dict[str, str]) -> TicketStatusChange | None:
        """Verify ``X-Hub-Signature``, then read a ``jira:issue_updated`` event that changed the status."""
        verify_webhook_signature(
            SYSTEM,
            self._webhook_secret,
            header(headers, "X-Hub-Signature").lower(),
            lambda secret: sign_webhook(payload, secret),
        )
        event = webhook_json(SYSTEM, payload)
        if event.get("webhookEvent") != "jira:issue_updated":
            return None
        changelog = event.get("changelog")
        items = changelog.get("items") if isinstance(changelog, dict) else None
        if not isinstance(items, list) or not any(
            isinstance(item, dict) and "status" in (item.get("fieldId"), item.get("field")) for item in items
        ):
            return None
        issue = event.get("issue")
        if not isinstance(issue, dict) or not isinstance(issue.get("key"), str):
            raise _error(RemoteRejectedError, "issue_updated webhook without issue.key")
        raw_fields = issue.get("fields")
        fields: dict[str, Any] = raw_fields if isinstance(raw_fields, dict) else {}
        status = _status_of(fields)
        if status is None:
            raise _error(RemoteRejectedError, "issue_updated webhook without issue.fields.status")
        changed_at = _epoch_ms_time(event.get("timestamp")) or parse_iso_time(fields.get("updated"))
        return TicketStatusChange(
            system=SYSTEM,
            external_key=issue["key"],
            status=status[0],
            vendor_status=status[1],
            resolution=_resolution_of(fields),
            changed_at=changed_at,
        )

    def resolved_since(self, since: datetime, *, limit: int = 500) -> Iterator[list[ResolvedTicket]]:
        """Issues of the project in a resolved or closed status whose ``resolutiondate`` is at or after
        ``since``, oldest first.

        JQL ``statusCategory = Done AND resolved >= "<since - 1 day>" ORDER BY resolved ASC`` through the
        enhanced search (``nextPageToken`` pages of at most 100); the exact bound is applied here. The
        resolution text is the newest public comment not written by the reporter (else the newest public
        one, else the resolution's name), read with one more request per issue. The reporter's e-mail is
        None where the user's privacy settings hide it.
        """
        if since.utcoffset() is None:
            raise ValueError("since must be timezone-aware")
        if limit < 1:
            raise ValueError("limit must be at least 1")
        return self._resolved_pages(since.astimezone(UTC), min(limit, _MAX_SEARCH_PAGE))

    # ---- internals -------------------------------------------------------------------------------

    def _resolved_pages(self, since: datetime, page_size: int) -> Iterator[list[ResolvedTicket]]:
        lower = (since - _FEED_MARGIN).strftime("%Y/%m/%d %H:%M")
        request: dict[str, Any] = {
            "jql": (
                f'project = "{self._project_key}" AND statusCategory = Done AND resolved >= "{lower}" '
                "ORDER BY resolved ASC"
            ),
            "fields": _FEED_FIELDS,
            "maxResults": page_size,
        }
        while True:
            result = self._http.request_json("POST", "rest/api/3/search/jql", json=request)
            issues = result.get("issues") if isinstance(result, dict) else None
            if not isinstance(issues, list):
                raise _error(RemoteUnavailableError, "JQL search answered without an issue list")
            batch = [
                ticket
                for issue in issues
                if isinstance(issue, dict) and (ticket := self._to_resolved(issue, since))
            ]
            if batch:
                yield batch
            token = result.get("nextPageToken")
            if result.get("isLast") is True or not isinstance(token, str) or not token:
                return
            request["nextPageToken"] = token

    def _to_resolved(self, issue: Mapping[str, Any], since: datetime) -> ResolvedTicket | None:
        """The issue as a ``ResolvedTicket``; None when resolved before ``since`` or not resolved/closed."""
        key, fields = issue.get("key"), issue.get("fields")
        if not isinstance(key, str) or not _ISSUE_KEY.match(key) or not isinstance(fields, dict):
            return None
        resolved_at = parse_iso_time(fields.get("resolutiondate"))
        status = _status_of(fields)
        if resolved_at is None or resolved_at < since or status is None:
            return None
        if status[0] not in (ExternalTicketStatus.RESOLVED, ExternalTicketStatus.CLOSED):
            return None
        reporter, assignee = _user(fields.get("reporter")), _user(fields.get("assignee"))
        summary = fields.get("summary")
        return ResolvedTicket(
            system=SYSTEM,
            external_key=key,
            url=self._browse_url(key),
            title=summary if isinstance(summary, str) else "",
            description=adf_text(fields.get("description")),
            resolution=self._last_agent_comment(key, reporter.get("accountId"))
            or _resolution_of(fields)
            or "",
            category=_category(fields.get("labels")),
            requester_email=reporter.get("emailAddress"),
            requester_name=reporter.get("displayName"),
            assignee_name=assignee.get("displayName"),
            resolved_at=resolved_at,
            updated_at=parse_iso_time(fields.get("updated")),
            status=status[0],
        )

    def _last_agent_comment(self, key: str, reporter_id: str | None) -> str:
        """The newest public comment not by the reporter, else the newest public one; '' when none."""
        public = [
            (_user(comment.get("author")).get("accountId"), adf_text(comment.get("body")).strip())
            for comment in self._newest_comments(key, _COMMENTS_READ)
            if comment.get("jsdPublic") is not False
        ]
        by_others = [text for author, text in public if text and author != reporter_id]
        by_anyone = [text for _, text in public if text]
        return next(iter(by_others or by_anyone), "")

    def _newest_comments(self, key: str, limit: int) -> list[dict[str, Any]]:
        """The issue's newest ``limit`` comments (at most 100), newest first, as Jira sends them."""
        page = self._http.request_json(
            "GET",
            f"rest/api/3/issue/{quote(key)}/comment",
            params={"orderBy": "-created", "maxResults": limit},
        )
        comments = page.get("comments") if isinstance(page, dict) else None
        return [c for c in comments if isinstance(c, dict)] if isinstance(comments, list) else []

    def _get_issue(self, external_key: str) -> dict[str, Any]:
        _check_issue_key(external_key)
        issue = self._http.request_json(
            "GET",
            f"rest/api/3/issue/{quote(external_key)}",
            params={"fields": ",".join(_ISSUE_FIELDS), "properties": IDEMPOTENCY_PROPERTY},
        )
        if not isinstance(issue, dict):
            raise _error(RemoteUnavailableError, "get issue answered without an issue")
        return issue

    def _to_ticket(self, issue: Mapping[str, Any]) -> ExternalTicket:
        key = issue.get("key")
        fields = issue.get("fields")
        if not isinstance(key, str) or not isinstance(fields, dict):
            raise _error(RemoteUnavailableError, "issue without key or fields")
        status = _status_of(fields)
        if status is None:
            raise _error(RemoteUnavailableError, f"issue {key} without a status")
        summary = fields.get("summary")
        return ExternalTicket(
            system=SYSTEM,
            external_key=key,
            url=self._browse_url(key),
            title=summary if isinstance(summary, str) else "",
            status=status[0],
            vendor_status=status[1],
            idempotency_key=_property_key(issue),
            resolution=_resolution_of(fields),
            updated_at=parse_iso_time(fields.get("updated")),
        )

    def _browse_url(self, key: str) -> str:
        return f"{self._base_url}/browse/{key}"


# ---- Atlassian Document Format -------------------------------------------------------------------


def adf_document(text: str) -> dict[str, Any]:
    """Plain text as an ADF ``doc``: blank lines separate paragraphs, single newlines become hard breaks."""
    paragraphs: list[dict[str, Any]] = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip()):
        content: list[dict[str, Any]] = []
        for index, line in enumerate(block.split("\n")):
            if index:
                content.append({"type": "hardBreak"})
            if line:
                content.append({"type": "text", "text": line})
        if any(node["type"] == "text" for node in content):
            paragraphs.append({"type": "paragraph", "content": content})
    return {"type": "doc", "version": 1, "content": paragraphs}


def adf_text(node: Any) -> str:
    """The plain text of an ADF node (paragraphs separated by blank lines); '' for anything else."""
    if not isinstance(node, dict):
        return ""
    if node.get("type") == "text":
        text = node.get("text")
        return text if isinstance(text, str) else ""
    if node.get("type") == "hardBreak":
        return "\n"
    children = node.get("content")
    if not isinstance(children, list):
        return ""
    separator = "\n\n" if node.get("type") == "doc" else ""
    return separator.join(adf_text(child) for child in children)


# ---- helpers -------------------------------------------------------------------------------------


def _check_idempotency_key(key: str) -> None:
    if not key or not key.strip():
        raise ValueError("idempotency_key must not be empty")


def _check_issue_key(key: str) -> None:
    """An issue key cannot exist when malformed; refusing it also keeps it out of URL paths."""
    if not _ISSUE_KEY.match(key):
        raise _error(RemoteNotFoundError, f"not a Jira issue key: {key[:50]!r}")


def _label(text: str) -> str:
    """Jira labels cannot hold spaces and are at most 255 characters."""
    return re.sub(r"\s+", "-", text.strip())[:255]


def _one_line(text: str) -> str:
    """Jira refuses summaries with newlines."""
    return " ".join(text.split())[:255]


def _property_key(issue: Mapping[str, Any]) -> str | None:
    properties = issue.get("properties")
    value = properties.get(IDEMPOTENCY_PROPERTY) if isinstance(properties, dict) else None
    key = value.get("key") if isinstance(value, dict) else None
    return key if isinstance(key, str) else None


def _numeric_id(issue: Mapping[str, Any]) -> int:
    try:
        return int(issue.get("id", 0))
    except (TypeError, ValueError):
        return 0


def map_status(category_key: str, status_name: str) -> ExternalTicketStatus:
    """Our status for a Jira status, from its category (``new``, ``indeterminate``, ``done``) and name."""
    name = status_name.strip().casefold()
    if category_key == "done":
        if name in _CANCELLED_NAMES:
            return ExternalTicketStatus.CANCELLED
        return ExternalTicketStatus.CLOSED if name == "closed" else ExternalTicketStatus.RESOLVED
    if category_key == "new":
        return ExternalTicketStatus.NEW
    return ExternalTicketStatus.PENDING if name in _PENDING_NAMES else ExternalTicketStatus.OPEN


def _epoch_ms_time(value: Any) -> datetime | None:
    """A webhook's epoch-milliseconds ``timestamp`` as UTC; None when absent or not a representable time
    (NaN, infinite, beyond year 9999: a malformed event must be refused or read, never crash)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        return datetime.fromtimestamp(value / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _status_of(fields: Mapping[str, Any]) -> tuple[ExternalTicketStatus, str] | None:
    status = fields.get("status")
    if not isinstance(status, dict) or not isinstance(status.get("name"), str):
        return None
    category = status.get("statusCategory")
    category_key = category.get("key") if isinstance(category, dict) else None
    if not isinstance(category_key, str):
        return None
    return map_status(category_key, status["name"]), status["name"]


def _category(labels: Any) -> str | None:
    """The category ``create_ticket`` records as a ``category-<name>`` label, if any."""
    for label in labels if isinstance(labels, list) else []:
        if isinstance(label, str) and label.startswith("category-") and label != "category-":
            return label.removeprefix("category-")
    return None


def _user(value: Any) -> dict[str, str]:
    """A Jira user object's string attributes (``accountId``, ``displayName``, ``emailAddress``)."""
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(v, str) and v}


def _to_comment(comment: Mapping[str, Any], *, body: str = "", public: bool = True) -> ExternalComment:
    """A Jira comment; ``body`` and ``public`` stand in for what the answer leaves out (plain Jira has no
    ``jsdPublic``: every comment is public there)."""
    author, shown_public = comment.get("author"), comment.get("jsdPublic")
    return ExternalComment(
        external_id=str(comment.get("id") or ""),
        body=adf_text(comment.get("body")) or body,
        author=author.get("displayName") if isinstance(author, dict) else None,
        public=shown_public if isinstance(shown_public, bool) else public,
        created_at=parse_iso_time(comment.get("created")),
    )


def _resolution_of(fields: Mapping[str, Any]) -> str | None:
    resolution = fields.get("resolution")
    name = resolution.get("name") if isinstance(resolution, dict) else None
    return name if isinstance(name, str) else None


def _pick_done_transition(transitions: list[Any]) -> dict[str, Any] | None:
    """The transition to a done-category status, resolved before closed; never a cancel/decline."""
    ranked: list[tuple[int, dict[str, Any]]] = []
    for transition in transitions:
        if not isinstance(transition, dict) or transition.get("id") in (None, ""):
            continue
        if transition.get("isAvailable") is False:
            continue
        target = transition.get("to")
        if not isinstance(target, dict):
            continue
        status = _status_of({"status": target})
        if status is None:
            continue
        rank = {ExternalTicketStatus.RESOLVED: 0, ExternalTicketStatus.CLOSED: 1}.get(status[0])
        if rank is not None:
            ranked.append((rank, transition))
    return min(ranked, key=lambda pair: pair[0])[1] if ranked else None


def _resolution_name(field_meta: Any) -> str:
    """``Done`` (or another resolved-like value) from the resolution field's allowed values."""
    allowed = field_meta.get("allowedValues") if isinstance(field_meta, dict) else None
    names = [
        value["name"]
        for value in allowed or []
        if isinstance(value, dict) and isinstance(value.get("name"), str)
    ]
    for preferred in _PREFERRED_RESOLUTIONS:
        if preferred in names:
            return preferred
    return names[0] if names else "Done"


def _error(kind: type[ConnectorError], message: str) -> ConnectorError:
    return connector_error(kind, SYSTEM, message)


def sign_webhook(payload: bytes, secret: str) -> str:
    """The ``X-Hub-Signature`` value Jira sends for ``payload`` (for tests and local replays)."""
    return "sha256=" + hmac_sha256(secret, payload).hex()


__all__ = [
    "IDEMPOTENCY_PROPERTY",
    "JiraTicketSystem",
    "adf_document",
    "adf_text",
    "idempotency_label",
    "map_status",
    "sign_webhook",
]
