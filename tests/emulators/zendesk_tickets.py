"""Zendesk Support Tickets API emulator: create, list (``external_id``), show, update, comments, ``users/me``,
and the cursor-based incremental ticket export.

Follows Zendesk's public reference: ``{"ticket": {...}}`` request and response roots, 201 on create, the
first ``comment`` becoming the description, ``requester {name, email}`` creating the end user when new,
an update answering ``{"ticket", "audit": {"events": [...]}}`` with a ``Comment`` event per comment, and
``GET /api/v2/tickets?external_id=`` (external ids are not unique). Paths work with and without
``.json``. Errors: 401 ``{"error": "Couldn't authenticate you"}``, 404 ``{"error": "RecordNotFound",
"description": "Not found"}``, 422 ``{"error": "RecordInvalid", "description": "Record validation
errors", "details": {field: [{"description": ...}]}}``. Native business rules kept: a closed ticket
cannot be updated, a ticket cannot be solved without an assignee ("auto assign upon solve" off), and a
new ticket becomes open when assigned.

``GET /api/v2/tickets/{id}/comments`` lists comments (``sort_order`` asc/desc, ``per_page`` up to 100,
``page``; ``next_page`` is a URL or null). ``GET /api/v2/incremental/tickets/cursor.json`` takes
``start_time`` (epoch seconds) or ``cursor``, ``per_page`` (up to 1000) and ``include`` (``users``,
``metric_sets``, whose ``solved_at`` is the last time the ticket was solved); it answers ``tickets`` in
``generated_timestamp`` order with ``after_cursor`` / ``after_url`` and ``end_of_stream``, leaves out
changes of the last ``export_lag_s`` seconds (a minute, as Zendesk does) and is for admins only (403 for
an agent, ``admin=False``).

Test control: ``GET /_state`` lists tickets with their comments; ``POST /_status`` ``{"key", "status"}``
sets a ticket's status (assigning the agent when the status needs one); ``POST /_ticket`` stores a ticket
as it would be made in Zendesk itself (``subject``, ``description``, ``status``, ``requester {name,
email}``, ``assigned``, ``tags``, ISO ``updated_at`` and ``solved_at``, ``comments`` ``[{"body", "public",
"by": "agent" | "requester"}]`` after the description) and returns its id.
"""

from __future__ import annotations

import base64
import itertools
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.emulators.harness import EmulatorState, build_emulator_app

_STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
_PRIORITIES = ("low", "normal", "high", "urgent")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
AGENT_ID = 360000000001


@dataclass
class _Comment:
    id: int
    body: str
    public: bool
    author_id: int
    created_at: str


@dataclass
class _Ticket:
    id: int
    subject: str
    description: str
    status: str
    priority: str | None
    tags: list[str]
    external_id: str | None
    requester_id: int
    submitter_id: int
    assignee_id: int | None
    created_at: str
    updated_at: str
    comments: list[_Comment] = field(default_factory=list)
    solved_at: str | None = None
    generated: int = 0  # generated_timestamp: epoch seconds of the last change, system ones included

    def touch(self, status: str, now: str) -> None:
        """Set the status at ``now``; becoming solved stamps ``solved_at``, reopening clears it."""
        if status == "solved" and self.status not in ("solved", "closed"):
            self.solved_at = now
        elif status not in ("solved", "closed"):
            self.solved_at = None
        self.status, self.updated_at, self.generated = status, now, _epoch(now)


def build_app(
    *, user: str, secret: str, admin: bool = True, export_lag_s: float = 60.0
) -> tuple[FastAPI, EmulatorState]:
    """A Zendesk account whose agent ``user`` (e-mail, an admin unless ``admin=False``) authenticates with
    API token ``secret``."""
    app, state = build_emulator_app("zendesk-tickets")
    lock = threading.Lock()
    tickets: dict[int, _Ticket] = {}
    role = "admin" if admin else "agent"
    users: dict[str, dict[str, Any]] = {
        user.lower(): {"id": AGENT_ID, "name": "Deskpilot Agent", "email": user, "role": role}
    }
    ticket_ids = itertools.count(101)
    user_ids = itertools.count(361000000001)
    event_ids = itertools.count(900000001)
    expected_auth = "Basic " + base64.b64encode(f"{user}/token:{secret}".encode()).decode()

    def authenticated(request: Request) -> bool:
        return request.headers.get("authorization") == expected_auth

    def render(ticket: _Ticket, base: str) -> dict[str, Any]:
        return {
            "url": f"{base}/api/v2/tickets/{ticket.id}.json",
            "id": ticket.id,
            "external_id": ticket.external_id,
            "via": {"channel": "api", "source": {"from": {}, "to": {}, "rel": None}},
            "created_at": ticket.created_at,
            "updated_at": ticket.updated_at,
            "generated_timestamp": ticket.generated,
            "type": None,
            "subject": ticket.subject,
            "raw_subject": ticket.subject,
            "description": ticket.description,
            "priority": ticket.priority,
            "status": ticket.status,
            "requester_id": ticket.requester_id,
            "submitter_id": ticket.submitter_id,
            "assignee_id": ticket.assignee_id,
            "organization_id": None,
            "group_id": None,
            "tags": list(ticket.tags),
            "custom_fields": [],
            "has_incidents": False,
            "is_public": True,
        }

    def add_comment(ticket: _Ticket, body: str, public: bool, now: str) -> _Comment:
        comment = _Comment(next(event_ids), body, public, AGENT_ID, now)
        ticket.comments.append(comment)
        return comment

    def audit(ticket: _Ticket, events: list[dict[str, Any]], now: str) -> dict[str, Any]:
        return {
            "id": next(event_ids),
            "ticket_id": ticket.id,
            "created_at": now,
            "author_id": AGENT_ID,
            "metadata": {"system": {}, "custom": {}},
            "events": events,
            "via": {"channel": "api"},
        }

    def end_user(requester: dict[str, Any]) -> dict[str, Any]:
        """The user with the requester's e-mail, created as an end user when new."""
        email = str(requester["email"])
        if email.lower() not in users:
            name = requester.get("name") or email
            users[email.lower()] = {"id": next(user_ids), "name": name, "email": email, "role": "end-user"}
        return users[email.lower()]

    def comment_event(comment: _Comment) -> dict[str, Any]:
        return {
            "id": comment.id,
            "type": "Comment",
            "author_id": comment.author_id,
            "body": comment.body,
            "html_body": f'<div class="zd-comment"><p>{comment.body}</p></div>',
            "plain_body": comment.body,
            "public": comment.public,
            "attachments": [],
        }

    @app.get("/_state")
    def get_state() -> dict[str, Any]:
        with lock:
            by_id = {u["id"]: u for u in users.values()}
            return {
                "tickets": [
                    {
                        "id": t.id,
                        "subject": t.subject,
                        "status": t.status,
                        "priority": t.priority,
                        "tags": t.tags,
                        "external_id": t.external_id,
                        "assignee_id": t.assignee_id,
                        "requester": by_id.get(t.requester_id),
                        "comments": [{"id": c.id, "body": c.body, "public": c.public} for c in t.comments],
                    }
                    for t in tickets.values()
                ]
            }

    @app.post("/_status")
    async def set_status(request: Request) -> JSONResponse:
        payload = await request.json()
        with lock:
            ticket = tickets.get(int(payload.get("key", "0")))
            if ticket is None or payload.get("status") not in _STATUSES:
                return JSONResponse({"error": "unknown ticket or status"}, status_code=404)
            if payload["status"] not in ("new", "open") and ticket.assignee_id is None:
                ticket.assignee_id = AGENT_ID
            ticket.touch(payload["status"], _now())
        return JSONResponse({"ok": True})

    @app.post("/_ticket")
    async def seed_ticket(request: Request) -> JSONResponse:
        payload = await request.json()
        with lock:
            requester = end_user(payload["requester"])
            updated_at = payload.get("updated_at", _now())
            ticket = _Ticket(
                id=next(ticket_ids),
                subject=payload.get("subject", "Seeded ticket"),
                description=payload.get("description", "Please help."),
                status=payload.get("status", "new"),
                priority=None,
                tags=list(payload.get("tags", [])),
                external_id=None,
                requester_id=requester["id"],
                submitter_id=requester["id"],
                assignee_id=AGENT_ID if payload.get("assigned") else None,
                created_at=updated_at,
                updated_at=updated_at,
                solved_at=payload.get("solved_at"),
                generated=_epoch(updated_at),
            )
            ticket.comments.append(
                _Comment(next(event_ids), ticket.description, True, requester["id"], updated_at)
            )
            for comment in payload.get("comments", []):
                author = requester["id"] if comment.get("by") == "requester" else AGENT_ID
                added = _Comment(
                    next(event_ids), comment["body"], comment.get("public", True), author, updated_at
                )
                ticket.comments.append(added)
            tickets[ticket.id] = ticket
        return JSONResponse({"id": ticket.id})

    @app.get("/api/v2/tickets/{ref}/comments")
    @app.get("/api/v2/tickets/{ref}/comments.json")
    def list_comments(ref: str, request: Request) -> JSONResponse:
        if not authenticated(request):
            return _unauthenticated()
        params = request.query_params
        try:
            per_page = min(int(params.get("per_page", "100")), 100)
            page = int(params.get("page", "1"))
        except ValueError:
            return _invalid({"per_page": "per_page and page must be numbers"})
        with lock:
            ticket = tickets.get(_ticket_id(ref))
            if ticket is None:
                return _not_found()
            ordered = sorted(ticket.comments, key=lambda c: c.id, reverse=params.get("sort_order") == "desc")
            shown = ordered[(page - 1) * per_page : page * per_page]
            more = len(ordered) > page * per_page
        base = f"{_base(request)}/api/v2/tickets/{ticket.id}/comments.json"
        query = {k: v for k, v in params.items() if k != "page"}
        return JSONResponse(
            {
                "comments": [
                    comment_event(c) | {"created_at": c.created_at, "type": "Comment"} for c in shown
                ],
                "next_page": f"{base}?{urlencode(query | {'page': page + 1})}" if more else None,
                "previous_page": f"{base}?{urlencode(query | {'page': page - 1})}" if page > 1 else None,
                "count": len(ordered),
            }
        )

    @app.get("/api/v2/incremental/tickets/cursor")
    @app.get("/api/v2/incremental/tickets/cursor.json")
    def incremental_tickets(request: Request) -> JSONResponse:
        if not authenticated(request):
            return _unauthenticated()
        if not admin:
            return JSONResponse(
                {"error": "Forbidden", "description": "You do not have access to this page."}, status_code=403
            )
        params = request.query_params
        try:
            per_page = min(int(params.get("per_page", "1000")), 1000)
            after = _cursor_position(params["cursor"]) if "cursor" in params else None
            start = int(params["start_time"]) if after is None else 0
        except (KeyError, ValueError):
            return JSONResponse(
                {"error": "InvalidPaginationParameter", "description": "start_time or cursor is required"},
                status_code=400,
            )
        include = set(_csv(params.get("include")))
        horizon = time.time() - export_lag_s
        with lock:
            changed = sorted(
                (t for t in tickets.values() if t.generated >= start and t.generated <= horizon),
                key=lambda t: (t.generated, t.id),
            )
            if after is not None:
                changed = [t for t in changed if (t.generated, t.id) > after]
            page = changed[:per_page]
            body: dict[str, Any] = {
                "tickets": [render(t, _base(request)) for t in page],
                "after_cursor": None,
                "after_url": None,
                "before_cursor": None,
                "before_url": None,
                "end_of_stream": len(changed) <= per_page,
            }
            if page:
                cursor = base64.b64encode(f"{page[-1].generated}.0||{page[-1].id}|".encode()).decode()
                body["after_cursor"] = cursor
                body["after_url"] = f"{_base(request)}/api/v2/incremental/tickets/cursor.json?cursor={cursor}"
            by_id = {u["id"]: u for u in users.values()}
            if "users" in include:
                wanted = {i for t in page for i in (t.requester_id, t.submitter_id, t.assignee_id) if i}
                body["users"] = [dict(by_id[i]) for i in sorted(wanted)]
            if "metric_sets" in include:
                body["metric_sets"] = [
                    {
                        "id": 9000000 + t.id,
                        "ticket_id": t.id,
                        "created_at": t.created_at,
                        "updated_at": t.updated_at,
                        "solved_at": t.solved_at,
                        "reopens": 0,
                        "replies": sum(1 for c in t.comments[1:] if c.author_id == AGENT_ID and c.public),
                    }
                    for t in page
                ]
        return JSONResponse(body)

    @app.get("/api/v2/users/me")
    @app.get("/api/v2/users/me.json")
    def me(request: Request) -> JSONResponse:
        if not authenticated(request):
            return _unauthenticated()
        return JSONResponse({"user": dict(users[user.lower()])})

    async def ticket_payload(request: Request) -> dict[str, Any] | JSONResponse:
        """The request's ``ticket`` object, or Zendesk's answer: 401 unauthenticated, 422 missing."""
        if not authenticated(request):
            return _unauthenticated()
        body = await _json_body(request)
        data = body.get("ticket") if isinstance(body, dict) else None
        return data if isinstance(data, dict) else _invalid({"base": "Ticket: is missing"})

    @app.post("/api/v2/tickets")
    @app.post("/api/v2/tickets.json")
    async def create_ticket(request: Request) -> JSONResponse:
        data = await ticket_payload(request)
        if isinstance(data, JSONResponse):
            return data
        problems: dict[str, str] = {}
        raw_comment = data.get("comment")
        comment: dict[str, Any] = raw_comment if isinstance(raw_comment, dict) else {}
        description = comment.get("body")
        if not isinstance(description, str) or not description.strip():
            problems["description"] = "Description: cannot be blank"
        requester = data.get("requester")
        email = requester.get("email") if isinstance(requester, dict) else None
        if not isinstance(email, str) or not _EMAIL.match(email):
            problems["requester"] = "Requester: Email is invalid"
        priority = data.get("priority")
        if priority is not None and priority not in _PRIORITIES:
            problems["priority"] = f"Priority: {priority} is not a valid value"
        tags = data.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            problems["tags"] = "Tags: must be a list of strings"
        external_id = data.get("external_id")
        if external_id is not None and not isinstance(external_id, str):
            problems["external_id"] = "External ID: must be a string"
        if problems:
            return _invalid(problems)
        assert isinstance(email, str) and isinstance(requester, dict) and isinstance(description, str)
        with lock:
            now = _now()
            requester_user = end_user(requester)
            subject = data.get("subject")
            ticket = _Ticket(
                id=next(ticket_ids),
                subject=subject if isinstance(subject, str) and subject else description[:50],
                description=description,
                status="new",
                priority=priority,
                tags=sorted({_normalise_tag(tag) for tag in tags} - {""}),
                external_id=external_id,
                requester_id=requester_user["id"],
                submitter_id=AGENT_ID,
                assignee_id=None,
                created_at=now,
                updated_at=now,
                generated=_epoch(now),
            )
            first = add_comment(ticket, description, comment.get("public", True) is not False, now)
            tickets[ticket.id] = ticket
            rendered = render(ticket, _base(request))
            trail = audit(ticket, [comment_event(first)], now)
        return JSONResponse({"ticket": rendered, "audit": trail}, status_code=201)

    @app.get("/api/v2/tickets")
    @app.get("/api/v2/tickets.json")
    def list_tickets(request: Request) -> JSONResponse:
        if not authenticated(request):
            return _unauthenticated()
        external_id = request.query_params.get("external_id")
        with lock:
            found = [
                render(ticket, _base(request))
                for ticket in sorted(tickets.values(), key=lambda t: t.id)
                if external_id is None or ticket.external_id == external_id
            ]
        return JSONResponse({"tickets": found, "next_page": None, "previous_page": None, "count": len(found)})

    @app.get("/api/v2/tickets/{ref}")
    def show_ticket(ref: str, request: Request) -> JSONResponse:
        if not authenticated(request):
            return _unauthenticated()
        with lock:
            ticket = tickets.get(_ticket_id(ref))
            if ticket is None:
                return _not_found()
            return JSONResponse({"ticket": render(ticket, _base(request))})

    @app.put("/api/v2/tickets/{ref}")
    async def update_ticket(ref: str, request: Request) -> JSONResponse:
        data = await ticket_payload(request)
        if isinstance(data, JSONResponse):
            return data
        with lock:
            ticket = tickets.get(_ticket_id(ref))
            if ticket is None:
                return _not_found()
            if ticket.status == "closed":
                return _invalid({"status": "Status: closed prevents ticket update"})
            status = data.get("status", ticket.status)
            assignee_id = data.get("assignee_id", ticket.assignee_id)
            comment = data.get("comment")
            problems: dict[str, str] = {}
            if status not in _STATUSES:
                problems["status"] = f"Status: {status} is not a valid value"
            elif status == "new" and ticket.status != "new":
                problems["status"] = "Status: cannot be set back to new"
            if assignee_id is not None and assignee_id != AGENT_ID:
                problems["assignee"] = "Assignee: is not an agent"
            elif status == "solved" and assignee_id is None:
                problems["assignee"] = "Assignee: is required when solving a ticket"
            if comment is not None and (
                not isinstance(comment, dict)
                or not isinstance(comment.get("body"), str)
                or not comment["body"].strip()
            ):
                problems["comment"] = "Comment: body cannot be blank"
            if problems:
                return _invalid(problems)
            now = _now()
            events: list[dict[str, Any]] = []
            if isinstance(comment, dict):
                added = add_comment(ticket, comment["body"], comment.get("public", True) is not False, now)
                events.append(comment_event(added))
            if "status" not in data and ticket.status == "new" and assignee_id is not None:
                status = "open"  # native rule: assigning a new ticket opens it
            if status != ticket.status:
                events.append(
                    {
                        "id": next(event_ids),
                        "type": "Change",
                        "field_name": "status",
                        "value": status,
                        "previous_value": ticket.status,
                    }
                )
            ticket.assignee_id = assignee_id
            ticket.touch(status, now)
            rendered = render(ticket, _base(request))
            trail = audit(ticket, events, now)
        return JSONResponse({"ticket": rendered, "audit": trail})

    return app, state


def _ticket_id(ref: str) -> int:
    ref = ref.removesuffix(".json")
    return int(ref) if ref.isdigit() else -1


def _epoch(iso: str) -> int:
    return int(datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp())


def _cursor_position(cursor: str) -> tuple[int, int]:
    """(generated_timestamp, id) after which a cursor of this emulator continues."""
    stamp, _, rest = base64.b64decode(cursor, validate=True).decode().partition("||")
    return int(float(stamp)), int(rest.rstrip("|"))


def _csv(value: str | None) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()] if value else []


def _normalise_tag(tag: str) -> str:
    return re.sub(r"\s+", "_", tag.strip().lower())


async def _json_body(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        return None


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _unauthenticated() -> JSONResponse:
    return JSONResponse({"error": "Couldn't authenticate you"}, status_code=401)


def _not_found() -> JSONResponse:
    return JSONResponse({"error": "RecordNotFound", "description": "Not found"}, status_code=404)


def _invalid(problems: dict[str, str]) -> JSONResponse:
    return JSONResponse(
        {
            "error": "RecordInvalid",
            "description": "Record validation errors",
            "details": {
                name: [{"description": text, "error": "InvalidValue"}] for name, text in problems.items()
            },
        },
        status_code=422,
    )
