"""Zendesk Support tickets as a ``TicketSystem`` (Tickets API v2, basic auth ``{email}/token:{api_token}``).

Vendor JSON stops here: callers only see ``ExternalTicket``, ``ExternalComment``, ``TicketStatusChange`` and
``ResolvedTicket``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Unpack

from connectors.errors import (
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
    b64_hmac_sha256,
    header,
    parse_iso_time,
    verify_webhook_signature,
    webhook_json,
)
from services.common.db import utcnow

logger = logging.getLogger(__name__)

SYSTEM = "zendesk"
SIGNATURE_HEADER = "X-Zendesk-Webhook-Signature"
TIMESTAMP_HEADER = "X-Zendesk-Webhook-Signature-Timestamp"
STATUS_CHANGED_EVENT = "zen:event-type:ticket.status_changed"
_TICKETS_PATH = "api/v2/tickets"
_PRIORITIES: Mapping[TicketUrgency, str] = {
    TicketUrgency.LOW: "low",
    TicketUrgency.NORMAL: "normal",
    TicketUrgency.HIGH: "high",
    TicketUrgency.URGENT: "urgent",
}
_STATUSES: Mapping[str, ExternalTicketStatus] = {
    "new": ExternalTicketStatus.NEW,
    "open": ExternalTicketStatus.OPEN,
    "pending": ExternalTicketStatus.PENDING,
    "hold": ExternalTicketStatus.PENDING,
    "solved": ExternalTicketStatus.RESOLVED,
    "closed": ExternalTicketStatus.CLOSED,
    "deleted": ExternalTicketStatus.CANCELLED,
}
_TICKET_ID = re.compile(r"^[1-9][0-9]{0,19}$")
_EXPORT_PATH = "api/v2/incremental/tickets/cursor.json"
_MAX_EXPORT_PAGE = 1000
_EXPORT_LAG = timedelta(minutes=1)
"""The export leaves out the last minute's changes: a later ``start_time`` could only ask for nothing."""
_DONE: Mapping[str, ExternalTicketStatus] = {
    "solved": ExternalTicketStatus.RESOLVED,
    "closed": ExternalTicketStatus.CLOSED,
}


def map_status(status: str) -> ExternalTicketStatus:
    """Our status for a Zendesk ticket status (``hold`` counts as pending); unknown ones count as open."""
    return _STATUSES.get(status.strip().lower(), ExternalTicketStatus.OPEN)


class ZendeskTicketSystem(HttpAdapter):
    """Tickets of one Zendesk account, created by an agent's API token.

    The idempotency key is stored in ``external_id`` and looked up with
    ``GET /api/v2/tickets?external_id=`` (a database lookup, not the delayed search index). Zendesk does
    not make ``external_id`` unique, so the oldest match wins. The requester is given by name and e-mail
    (Zendesk creates the end user when new); urgency maps to the priority of the same name; labels and
    the category become tags. ``resolve_ticket`` sets ``solved`` with the resolution as a public comment,
    assigning the ticket to the API user first when it has no assignee (Zendesk refuses to solve an
    unassigned ticket unless "auto assign upon solve" is on).

    Status webhook: a webhook subscribed to the ``zen:event-type:ticket.status_changed`` event, with its
    signing secret as ``webhook_secret``. Zendesk sends ``X-Zendesk-Webhook-Signature`` = base64
    HMAC-SHA256 of timestamp + body, and the timestamp in ``X-Zendesk-Webhook-Signature-Timestamp``.
    Other event types are not status changes. Unsigned webhooks are refused.

    Non-idempotent writes (create, comment, solve with comment) are sent once: a timeout or 5xx there may
    have been applied, so the error goes to the caller, whose retry looks the state up first. Only 429
    is retried on those.

    ``resolved_since`` is also a ``ResolvedTicketFeed`` (see its docstring); it needs an admin's token.
    """

    SYSTEM = SYSTEM

    def __init__(
        self,
        base_url: str,
        email: str,
        api_token: str,
        webhook_secret: str | None = None,
        timeout_s: float = 10.0,
        **options: Unpack[ClientOptions],
    ) -> None:
        super().__init__(base_url, auth=(f"{email}/token", api_token), timeout_s=timeout_s, **options)
        self._webhook_secret = webhook_secret
        self._own_user_id: int | None = None

    def create_ticket(self, draft: TicketDraft, *, idempotency_key: str) -> ExternalTicket:
        """Create a ticket whose ``external_id`` is the key (the create is sent once)."""
        _check_idempotency_key(idempotency_key)
        tags = {_tag(label) for label in draft.labels}
        if draft.category:
            tags.add(_tag(f"category-{draft.category}"))
        requester = {
            "name": draft.requester_name or draft.requester_email.split("@", 1)[0],
            "email": draft.requester_email,
        }
        body = draft.description.strip() or draft.title
        ticket = {
            "subject": " ".join(draft.title.split()),
            "comment": {"body": body, "public": True},
            "requester": requester,
            "priority": _PRIORITIES[draft.urgency],
            "tags": sorted(tag for tag in tags if tag),
            "external_id": idempotency_key,
        }
        created = self._http.request_json("POST", _TICKETS_PATH, json={"ticket": ticket}, idempotent=False)
        return self._to_ticket(_ticket_object(created))

    def find_by_idempotency_key(self, idempotency_key: str) -> ExternalTicket | None:
        """The oldest ticket whose ``external_id`` is the key, or None."""
        _check_idempotency_key(idempotency_key)
        response = self._http.request_json("GET", _TICKETS_PATH, params={"external_id": idempotency_key})
        tickets = response.get("tickets") if isinstance(response, dict) else None
        if not isinstance(tickets, list):
            raise _error(RemoteUnavailableError, "ticket list answered without tickets")
        matches = [t for t in tickets if isinstance(t, dict) and t.get("external_id") == idempotency_key]
        if len(matches) > 1:
            logger.warning(
                "several tickets carry one external_id", extra={"system": SYSTEM, "count": len(matches)}
            )
        return self._to_ticket(min(matches, key=_ticket_id)) if matches else None

    def get_ticket(self, external_key: str) -> ExternalTicket:
        """The ticket with this id (``RemoteNotFoundError`` when none)."""
        return self._to_ticket(self._ticket(external_key))

    def add_comment(self, external_key: str, body: str, *, public: bool = True) -> ExternalComment:
        """Add a public reply or an internal note."""
        _check_ticket_id(external_key)
        if not body.strip():
            raise ValueError("comment body must not be empty")
        updated = self._http.request_json(
            "PUT",
            f"{_TICKETS_PATH}/{external_key}",
            json={"ticket": {"comment": {"body": body, "public": public}}},
            idempotent=False,
        )
        audit = updated.get("audit") if isinstance(updated, dict) else None
        events = audit.get("events") if isinstance(audit, dict) else None
        comment = next(
            (e for e in events or [] if isinstance(e, dict) and e.get("type") == "Comment"),
            None,
        )
        if comment is None or comment.get("id") is None:
            raise _error(RemoteUnavailableError, "ticket update answered without the comment event")
        created_at = audit.get("created_at") if isinstance(audit, dict) else None
        return _to_comment({**comment, "created_at": created_at}, body=body, public=public)

    def find_comment(self, external_key: str, marker: str) -> ExternalComment | None:
        """The newest of the ticket's newest 100 comments whose ``body`` contains ``marker``."""
        _check_ticket_id(external_key)
        if not marker.strip():
            raise ValueError("marker must not be blank")
        comments, _ = self._newest_comments(int(external_key))
        match = next((c for c in comments if isinstance(c.get("body"), str) and marker in c["body"]), None)
        return None if match is None else _to_comment(match)

    def resolve_ticket(self, external_key: str, resolution: str) -> ExternalTicket:
        """Set ``solved`` with the resolution as public comment; a solved or closed ticket is unchanged."""
        ticket = self._ticket(external_key)
        current = self._to_ticket(ticket)
        if current.status in TERMINAL_STATUSES:
            return current
        update: dict[str, Any] = {"status": "solved"}
        if resolution.strip():
            update["comment"] = {"body": resolution, "public": True}
        if ticket.get("assignee_id") is None:
            update["assignee_id"] = self._own_id()
        solved = self._http.request_json(
            "PUT", f"{_TICKETS_PATH}/{external_key}", json={"ticket": update}, idempotent=False
        )
        return self._to_ticket(_ticket_object(solved))

    def parse_status_webhook(self, payload: bytes, headers: dict[str, str]) -> TicketStatusChange | None:
        """Verify Zendesk's signature, then read a ``ticket.status_changed`` event."""
        timestamp = header(headers, TIMESTAMP_HEADER)
        verify_webhook_signature(
            SYSTEM,
            self._webhook_secret,
            header(headers, SIGNATURE_HEADER) if timestamp else "",
            lambda secret: sign_webhook(payload, timestamp, secret),
        )
        event = webhook_json(SYSTEM, payload)
        if not isinstance(event.get("type"), str):
            raise _error(RemoteRejectedError, "webhook body is not a Zendesk event")
        if event["type"] != STATUS_CHANGED_EVENT:
            return None
        detail, change = event.get("detail"), event.get("event")
        ticket_id = detail.get("id") if isinstance(detail, dict) else None
        current = change.get("current") if isinstance(change, dict) else None
        if not isinstance(ticket_id, str | int) or isinstance(ticket_id, bool) or not str(ticket_id):
            raise _error(RemoteRejectedError, "status event without detail.id")
        if not isinstance(current, str) or not current:
            raise _error(RemoteRejectedError, "status event without event.current")
        changed_at = parse_iso_time(event.get("time"))
        if changed_at is None and isinstance(detail, dict):
            changed_at = parse_iso_time(detail.get("updated_at"))
        return TicketStatusChange(
            system=SYSTEM,
            external_key=str(ticket_id),
            status=map_status(current),
            vendor_status=current.lower(),
            changed_at=changed_at,
        )

    def resolved_since(self, since: datetime, *, limit: int = 500) -> Iterator[list[ResolvedTicket]]:
        """Solved and closed tickets changed at or after ``since``, in export order (oldest change first).

        The cursor-based incremental ticket export (``start_time``, then ``cursor`` until
        ``end_of_stream``; admins only, 10 requests a minute) with the ``users`` and ``metric_sets``
        sideloads: requester and assignee in the same answer, ``resolved_at`` from ``solved_at`` (else
        ``updated_at``). The export is keyed by change time, so a ticket solved earlier and changed since
        (closed by an automation, say) is yielded too. The resolution text is the newest public comment
        not by the requester (else the newest public one after the description), read with one more
        request per ticket.
        """
        if since.utcoffset() is None:
            raise ValueError("since must be timezone-aware")
        if limit < 1:
            raise ValueError("limit must be at least 1")
        return self._resolved_pages(since.astimezone(UTC), min(limit, _MAX_EXPORT_PAGE))

    # ---- internals -------------------------------------------------------------------------------

    def _resolved_pages(self, since: datetime, page_size: int) -> Iterator[list[ResolvedTicket]]:
        start = min(since, utcnow() - _EXPORT_LAG)
        position: dict[str, str] = {"start_time": str(int(start.timestamp()))}
        while True:
            params = {**position, "per_page": str(page_size), "include": "users,metric_sets"}
            page = self._http.request_json("GET", _EXPORT_PATH, params=params)
            tickets = page.get("tickets") if isinstance(page, dict) else None
            if not isinstance(tickets, list):
                raise _error(RemoteUnavailableError, "incremental export answered without tickets")
            users = {u.get("id"): u for u in page.get("users") or [] if isinstance(u, dict)}
            solved = {
                m.get("ticket_id"): parse_iso_time(m.get("solved_at"))
                for m in page.get("metric_sets") or []
                if isinstance(m, dict)
            }
            batch = [
                resolved
                for ticket in tickets
                if isinstance(ticket, dict) and (resolved := self._to_resolved(ticket, users, solved))
            ]
            if batch:
                yield batch
            cursor = page.get("after_cursor")
            if page.get("end_of_stream") is not False or not isinstance(cursor, str) or not cursor:
                return
            position = {"cursor": cursor}

    def _to_resolved(
        self,
        ticket: Mapping[str, Any],
        users: Mapping[Any, Mapping[str, Any]],
        solved: Mapping[Any, datetime | None],
    ) -> ResolvedTicket | None:
        """The ticket as a ``ResolvedTicket``; None unless it is solved or closed."""
        ticket_id = ticket.get("id")
        status = _DONE.get(str(ticket.get("status") or "").lower())
        if status is None or not isinstance(ticket_id, int) or isinstance(ticket_id, bool):
            return None
        resolved_at = solved.get(ticket_id) or parse_iso_time(ticket.get("updated_at"))
        if resolved_at is None:
            return None
        requester = users.get(ticket.get("requester_id")) or {}
        assignee = users.get(ticket.get("assignee_id")) or {}
        subject, description = ticket.get("subject"), ticket.get("description")
        return ResolvedTicket(
            system=SYSTEM,
            external_key=str(ticket_id),
            url=f"{self._base_url}/agent/tickets/{ticket_id}",
            title=subject if isinstance(subject, str) else "",
            description=description if isinstance(description, str) else "",
            resolution=self._last_agent_comment(ticket_id, ticket.get("requester_id")),
            category=_category(ticket.get("tags")),
            requester_email=_text(requester.get("email")),
            requester_name=_text(requester.get("name")),
            assignee_name=_text(assignee.get("name")),
            resolved_at=resolved_at,
            updated_at=parse_iso_time(ticket.get("updated_at")),
            status=status,
        )

    def _last_agent_comment(self, ticket_id: int, requester_id: Any) -> str:
        """The newest public comment not by the requester, else the newest public one, leaving out the
        first comment (the description); '' when none. Reads the newest 100 comments."""
        listed, more = self._newest_comments(ticket_id)
        if not more:
            listed = listed[:-1]  # the oldest comment is the ticket's description
        public = [
            (comment.get("author_id"), comment["body"].strip())
            for comment in listed
            if comment.get("public") is True and isinstance(comment.get("body"), str)
        ]
        by_others = [text for author, text in public if text and author != requester_id]
        by_anyone = [text for _, text in public if text]
        return next(iter(by_others or by_anyone), "")

    def _newest_comments(self, ticket_id: int) -> tuple[list[dict[str, Any]], bool]:
        """The ticket's newest 100 comments, newest first, and whether older ones exist."""
        page = self._http.request_json(
            "GET", f"{_TICKETS_PATH}/{ticket_id}/comments", params={"sort_order": "desc", "per_page": "100"}
        )
        comments = page.get("comments") if isinstance(page, dict) else None
        listed = [c for c in comments if isinstance(c, dict)] if isinstance(comments, list) else []
        return listed, isinstance(page, dict) and bool(page.get("next_page"))

    def _ticket(self, external_key: str) -> dict[str, Any]:
        _check_ticket_id(external_key)
        return _ticket_object(self._http.request_json("GET", f"{_TICKETS_PATH}/{external_key}"))

    def _own_id(self) -> int:
        if self._own_user_id is None:
            me = self._http.request_json("GET", "api/v2/users/me")
            user = me.get("user") if isinstance(me, dict) else None
            user_id = user.get("id") if isinstance(user, dict) else None
            if not isinstance(user_id, int):
                raise _error(RemoteUnavailableError, "users/me answered without a user id")
            self._own_user_id = user_id
        return self._own_user_id

    def _to_ticket(self, ticket: Mapping[str, Any]) -> ExternalTicket:
        ticket_id = ticket.get("id")
        if not isinstance(ticket_id, int) or isinstance(ticket_id, bool):
            raise _error(RemoteUnavailableError, "ticket without an id")
        status = ticket.get("status") if isinstance(ticket.get("status"), str) else ""
        subject = ticket.get("subject")
        external_id = ticket.get("external_id")
        return ExternalTicket(
            system=SYSTEM,
            external_key=str(ticket_id),
            url=f"{self._base_url}/agent/tickets/{ticket_id}",
            title=subject if isinstance(subject, str) else "",
            status=map_status(str(status)),
            vendor_status=str(status) or None,
            idempotency_key=external_id if isinstance(external_id, str) else None,
            updated_at=parse_iso_time(ticket.get("updated_at")),
        )


def sign_webhook(payload: bytes, timestamp: str, secret: str) -> str:
    """Zendesk's ``X-Zendesk-Webhook-Signature``: base64 HMAC-SHA256 of ``timestamp + body``."""
    return b64_hmac_sha256(secret, timestamp.encode() + payload)


def _check_idempotency_key(key: str) -> None:
    if not key.strip() or len(key) > 255:
        raise ValueError("idempotency_key must be 1-255 characters")


def _check_ticket_id(key: str) -> None:
    """A ticket id is a positive integer; anything else cannot exist (and stays out of URL paths)."""
    if not _TICKET_ID.match(key):
        raise _error(RemoteNotFoundError, f"not a Zendesk ticket id: {key[:50]!r}")


def _tag(text: str) -> str:
    """Zendesk tags are lowercase words: whitespace and punctuation other than - and _ become _."""
    return re.sub(r"[^\w-]+", "_", text.strip().lower()).strip("_")[:80]


def _category(tags: Any) -> str | None:
    """The category ``create_ticket`` records as a ``category-<name>`` tag, if any."""
    for tag in tags if isinstance(tags, list) else []:
        if isinstance(tag, str) and tag.startswith("category-") and tag != "category-":
            return tag.removeprefix("category-")
    return None


def _to_comment(comment: Mapping[str, Any], *, body: str = "", public: bool = True) -> ExternalComment:
    """A Zendesk comment (or a ``Comment`` audit event); ``body`` and ``public`` stand in for what the
    answer leaves out."""
    shown_public = comment.get("public")
    return ExternalComment(
        external_id=str(comment.get("id") or ""),
        body=comment["body"] if isinstance(comment.get("body"), str) else body,
        author=str(comment["author_id"]) if comment.get("author_id") is not None else None,
        public=shown_public if isinstance(shown_public, bool) else public,
        created_at=parse_iso_time(comment.get("created_at")),
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _ticket_object(response: Any) -> dict[str, Any]:
    ticket = response.get("ticket") if isinstance(response, dict) else None
    if not isinstance(ticket, dict):
        raise _error(RemoteUnavailableError, "answer without a ticket")
    return ticket


def _ticket_id(ticket: Mapping[str, Any]) -> int:
    value = ticket.get("id")
    return value if isinstance(value, int) else 0


def _error(kind: type[ConnectorError], message: str) -> ConnectorError:
    return connector_error(kind, SYSTEM, message)


__all__ = ["STATUS_CHANGED_EVENT", "ZendeskTicketSystem", "map_status", "sign_webhook"]
