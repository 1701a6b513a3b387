"""ServiceNow Table API emulator for incidents: ``incident``, ``sys_user`` and ``sys_journal_field``.

Speaks the shapes of ``../shared/datasets/api-specs/servicenow/now-Table_API.json`` and the incident
fields of ``powerplatform-servicenow-incident-sample.swagger.json``: ``{"result": ...}`` bodies, list with
``sysparm_query`` / ``sysparm_fields`` / ``sysparm_limit`` / ``sysparm_display_value`` (false, true, all) /
``sysparm_exclude_reference_link``, create with POST (201), update with PATCH or PUT. Errors use
``{"error": {"message", "detail"}, "status": "failure"}``; a write leaving an incident Resolved or Closed
without close code and notes fails the out-of-box data policy (403 "Operation Failed").

Behaviour of a real instance that the emulator keeps: ``comments`` and ``work_notes`` are journal fields
(a write appends a ``sys_journal_field`` row; a read returns "" as the value and, as the display value,
every entry newest first under a ``<time> - <user> (Additional comments|Work notes)`` line, even to a user
who may not read ``sys_journal_field`` itself), display values of times are in the
integration user's timezone (here UTC-8) while stored values are UTC, reference fields show the
referenced record's display value, and ``sysparm_fields`` may dot-walk a reference (``caller_id.email``).
Entering state Resolved or Closed from another state sets ``resolved_at``; leaving both clears it (as the
out-of-box business rules do). Unlike a real instance, which drops an invalid query condition and
returns every row, this emulator answers 400 so that a broken query fails the test. The encoded-query
subset is ``field=value`` / ``!=`` / ``IN`` (comma list) / ``>=`` / ``>`` / ``<=`` / ``<`` (string order,
which is time order for stored UTC times; an empty value never matches an ordering) joined by ``^``, plus
``ORDERBY`` / ``ORDERBYDESC``; ``sysparm_offset`` pages.

Test control: ``GET /_state`` lists incidents with their journal; ``POST /_status`` ``{"key", "status"}``
sets an incident's state (filling close code and notes when the state needs them); ``POST /_incident``
stores an incident as an agent would in the instance itself (any incident fields, stored UTC times as
``YYYY-MM-DD HH:MM:SS``, ``"comments": [text, ...]`` as journal entries) and returns its number.
"""

from __future__ import annotations

import base64
import itertools
import re
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.emulators.harness import EmulatorState, build_emulator_app

_GLIDE_TIME = "%Y-%m-%d %H:%M:%S"
_JOURNAL_LABELS = {"comments": "Additional comments", "work_notes": "Work notes"}
_USER_OFFSET = timedelta(hours=-8)  # the integration user's timezone, used for display values
_STATE_LABELS = {
    "1": "New",
    "2": "In Progress",
    "3": "On Hold",
    "6": "Resolved",
    "7": "Closed",
    "8": "Canceled",
}
_LEVEL_LABELS = {"1": "1 - High", "2": "2 - Medium", "3": "3 - Low"}
_CATEGORY_LABELS = {
    "inquiry": "Inquiry / Help",
    "software": "Software",
    "hardware": "Hardware",
    "network": "Network",
    "database": "Database",
}
_TIMES = ("sys_created_on", "sys_updated_on", "resolved_at")
_REFERENCES = {"caller_id": "sys_user", "assigned_to": "sys_user"}
_DONE_STATES = ("6", "7")
_PRIORITY_LABELS = {
    "1": "1 - Critical",
    "2": "2 - High",
    "3": "3 - Moderate",
    "4": "4 - Low",
    "5": "5 - Planning",
}
_INCIDENT_FIELDS = (
    "sys_id",
    "number",
    "short_description",
    "description",
    "state",
    "urgency",
    "impact",
    "priority",
    "caller_id",
    "assigned_to",
    "category",
    "correlation_id",
    "correlation_display",
    "close_code",
    "close_notes",
    "comments",
    "work_notes",
    "active",
    "resolved_at",
    "sys_created_on",
    "sys_updated_on",
    "sys_created_by",
    "sys_updated_by",
)
_WRITABLE = {
    "short_description",
    "description",
    "state",
    "urgency",
    "impact",
    "caller_id",
    "assigned_to",
    "category",
    "correlation_id",
    "correlation_display",
    "close_code",
    "close_notes",
}
_USER_FIELDS = ("sys_id", "user_name", "name", "email", "active")
_JOURNAL_FIELDS = ("sys_id", "element_id", "element", "name", "value", "sys_created_on", "sys_created_by")
_CONDITION = re.compile(r"^(?P<field>[a-z_][a-z0-9_.]*)(?P<op>!=|>=|<=|IN|=|>|<)(?P<value>.*)$", re.DOTALL)

Record = dict[str, str]


@dataclass(frozen=True)
class UserSeed:
    """A ``sys_user`` row."""

    sys_id: str
    user_name: str
    name: str
    email: str
    active: bool = True


DEFAULT_USERS = (
    UserSeed("5137153cc611227c000bbd1bd8cd2005", "ada.lovelace", "Ada Lovelace", "Ada@Example.com"),
    UserSeed("62826bf03710200044e0bfc8bcbe5df1", "old.account", "Old Account", "gone@example.com", False),
    UserSeed("46d44a23a9fe19810012d100cca80666", "beth.anglin", "Beth Anglin", "beth.anglin@example.com"),
)


class QueryError(Exception):
    """The encoded query is outside the supported subset or names an unknown field."""


def build_app(
    *,
    user: str,
    secret: str,
    users: Sequence[UserSeed] = DEFAULT_USERS,
    journal_readable: bool = True,
) -> tuple[FastAPI, EmulatorState]:
    """An instance whose integration user ``user`` authenticates with ``secret`` (basic auth).

    ``journal_readable=False`` denies that user read access to ``sys_journal_field`` (403), as on
    instances where the integration role was not granted it.
    """
    app, state = build_emulator_app("servicenow-incident")
    lock = threading.Lock()
    numbers = itertools.count(10001)
    expected_auth = "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()
    tables: dict[str, list[Record]] = {
        "incident": [],
        "sys_user": [
            {
                "sys_id": u.sys_id,
                "user_name": u.user_name,
                "name": u.name,
                "email": u.email,
                "active": "true" if u.active else "false",
            }
            for u in users
        ],
        "sys_journal_field": [],
    }
    columns = {"incident": _INCIDENT_FIELDS, "sys_user": _USER_FIELDS, "sys_journal_field": _JOURNAL_FIELDS}

    def referenced(field: str, sys_id: str) -> Record | None:
        return (
            next((r for r in tables[_REFERENCES[field]] if r["sys_id"] == sys_id), None) if sys_id else None
        )

    def display(table: str, record: Record, field: str) -> str:
        value = record.get(field, "")
        if field in _TIMES and value:
            return (datetime.strptime(value, _GLIDE_TIME) + _USER_OFFSET).strftime(_GLIDE_TIME)
        if table == "incident":
            if field == "state":
                return _STATE_LABELS.get(value, value)
            if field in ("urgency", "impact"):
                return _LEVEL_LABELS.get(value, value)
            if field == "priority":
                return _PRIORITY_LABELS.get(value, value)
            if field == "category":
                return _CATEGORY_LABELS.get(value, value)
            if field in _REFERENCES:
                target = referenced(field, value)
                return target["name"] if target else ""
            if field in ("comments", "work_notes"):
                return journal_display(record["sys_id"], field)
        return value

    def journal_display(sys_id: str, element: str) -> str:
        """A journal field's display value: its entries newest first, each under a header line."""
        rows = [
            r for r in tables["sys_journal_field"] if r["element_id"] == sys_id and r["element"] == element
        ]
        rows = sorted(rows, key=lambda r: r["sys_created_on"])[::-1]  # newest first; same second: last first
        label = _JOURNAL_LABELS[element]
        return "".join(
            f"{display('sys_journal_field', r, 'sys_created_on')} - {r['sys_created_by']} ({label})\n"
            f"{r['value']}\n\n"
            for r in rows
        )

    def dot_walk(table: str, record: Record, field: str) -> tuple[str, str] | None:
        """(value, display value) of ``reference.field``, or None when the path is not a known one."""
        reference, _, leaf = field.partition(".")
        if table != "incident" or reference not in _REFERENCES or leaf not in columns[_REFERENCES[reference]]:
            return None
        target = referenced(reference, record.get(reference, ""))
        value = target.get(leaf, "") if target else ""
        return value, value

    def render(table: str, record: Record, params: Any, base: str) -> dict[str, Any]:
        wanted = _csv(params.get("sysparm_fields")) or list(columns[table])
        mode = (params.get("sysparm_display_value") or "false").lower()
        no_links = (params.get("sysparm_exclude_reference_link") or "false").lower() == "true"
        rendered: dict[str, Any] = {}
        for field in wanted:
            walked = dot_walk(table, record, field) if "." in field else None
            if walked is not None:
                value, shown = walked
            elif field in columns[table]:
                value = "" if field in ("comments", "work_notes") else record.get(field, "")
                shown = display(table, record, field)
            else:
                continue  # unknown fields in sysparm_fields are ignored
            link = f"{base}/api/now/table/sys_user/{value}" if field in _REFERENCES and value else None
            if mode == "all":
                pair: dict[str, Any] = {"display_value": shown, "value": value}
                if link and not no_links:
                    pair["link"] = link
                rendered[field] = pair
            elif link and not no_links:
                rendered[field] = {"link": link, "value": shown if mode == "true" else value}
            else:
                rendered[field] = shown if mode == "true" else value
        return rendered

    def authorized(request: Request) -> bool:
        return request.headers.get("authorization") == expected_auth

    def journal(incident: Record, element: str, text: str, now: str) -> None:
        tables["sys_journal_field"].append(
            {
                "sys_id": uuid.uuid4().hex,
                "element_id": incident["sys_id"],
                "element": element,
                "name": "incident",
                "value": text,
                "sys_created_on": now,
                "sys_created_by": user,
            }
        )

    def apply(incident: Record, changes: dict[str, Any], now: str) -> JSONResponse | None:
        """Write ``changes`` into ``incident`` (None) or the data-policy error (nothing written)."""
        updated = dict(incident)
        for field, value in changes.items():
            if field in _WRITABLE and value is not None:
                updated[field] = str(value)
        missing = [
            label
            for field, label in (("close_code", "Resolution code"), ("close_notes", "Resolution notes"))
            if updated.get("state") in ("6", "7") and not updated.get(field)
        ]
        if missing:
            return _error(
                403,
                "Operation Failed",
                "Data Policy Exception: \n  The following fields are mandatory: " + ", ".join(missing),
            )
        updated["priority"] = _priority(updated.get("urgency", "3"), updated.get("impact", "3"))
        updated["active"] = "false" if updated.get("state") in ("6", "7", "8") else "true"
        if updated.get("state") not in _DONE_STATES:
            updated["resolved_at"] = ""
        elif incident.get("state") not in _DONE_STATES or not updated.get("resolved_at"):
            updated["resolved_at"] = now
        updated["sys_updated_on"] = now
        updated["sys_updated_by"] = user
        incident.update(updated)
        for element in ("comments", "work_notes"):
            text = changes.get(element)
            if isinstance(text, str) and text.strip():
                journal(incident, element, text, now)
        return None

    @app.get("/_state")
    def get_state() -> dict[str, Any]:
        with lock:
            return {
                "incidents": [
                    {
                        **incident,
                        "journal": [
                            {"element": row["element"], "value": row["value"], "sys_id": row["sys_id"]}
                            for row in tables["sys_journal_field"]
                            if row["element_id"] == incident["sys_id"]
                        ],
                    }
                    for incident in tables["incident"]
                ]
            }

    @app.post("/_status")
    async def set_status(request: Request) -> JSONResponse:
        payload = await request.json()
        with lock:
            incident = next((i for i in tables["incident"] if i["number"] == payload.get("key")), None)
            if incident is None:
                return JSONResponse({"error": "unknown incident"}, status_code=404)
            changes = {"state": str(payload["status"])}
            if changes["state"] in ("6", "7"):
                changes |= {"close_code": incident.get("close_code") or "Solution provided"}
                changes |= {"close_notes": incident.get("close_notes") or "Fixed by the service desk."}
            apply(incident, changes, _now())
        return JSONResponse({"ok": True})

    @app.post("/_incident")
    async def seed_incident(request: Request) -> JSONResponse:
        payload = await request.json()
        with lock:
            now = _now()
            incident: Record = {
                "sys_id": uuid.uuid4().hex,
                "number": f"INC{next(numbers):07d}",
                "state": "1",
                "urgency": "3",
                "impact": "3",
                "sys_created_on": now,
                "sys_updated_on": now,
                "sys_created_by": "admin",
                "sys_updated_by": "admin",
            }
            incident |= {k: str(v) for k, v in payload.items() if k in _INCIDENT_FIELDS and k != "comments"}
            incident["priority"] = _priority(incident["urgency"], incident["impact"])
            incident["active"] = "false" if incident["state"] in ("6", "7", "8") else "true"
            for text in payload.get("comments", []):
                journal(incident, "comments", text, incident["sys_updated_on"])
            tables["incident"].append(incident)
        return JSONResponse({"number": incident["number"], "sys_id": incident["sys_id"]})

    @app.get("/api/now/table/{table}")
    def list_records(table: str, request: Request) -> JSONResponse:
        if not authorized(request):
            return _unauthenticated()
        if table not in tables:
            return _error(400, f"Invalid table {table}", None)
        if table == "sys_journal_field" and not journal_readable:
            return _error(403, "User Not Authorized", "Insufficient rights to read sys_journal_field")
        params = request.query_params
        try:
            limit = int(params.get("sysparm_limit", "10000"))
            offset = int(params.get("sysparm_offset", "0"))
            if limit < 1 or offset < 0:
                raise ValueError("sysparm_limit must be positive and sysparm_offset not negative")
            predicate, order = _parse_query(params.get("sysparm_query", ""), columns[table])
        except (ValueError, QueryError) as exc:
            return _error(400, "Invalid query", str(exc))
        with lock:
            matches = [record for record in tables[table] if predicate(record)]
            for field, descending in reversed(order):
                matches.sort(key=lambda record: record.get(field, ""), reverse=descending)
            page = matches[offset : offset + limit]
            body = [render(table, record, params, _base(request)) for record in page]
        return JSONResponse({"result": body}, headers={"X-Total-Count": str(len(matches))})

    @app.get("/api/now/table/{table}/{sys_id}")
    def get_record(table: str, sys_id: str, request: Request) -> JSONResponse:
        if not authorized(request):
            return _unauthenticated()
        if table not in tables:
            return _error(400, f"Invalid table {table}", None)
        with lock:
            record = next((r for r in tables[table] if r["sys_id"] == sys_id), None)
            if record is None:
                return _no_record()
            return JSONResponse({"result": render(table, record, request.query_params, _base(request))})

    async def incident_write(table: str, request: Request, action: str) -> dict[str, Any] | JSONResponse:
        """The JSON object a write to ``table`` sends, or ServiceNow's answer: 401 unauthenticated, 403 on
        any table but ``incident`` (the integration user's ACLs), 400 for a body that is not an object."""
        if not authorized(request):
            return _unauthenticated()
        if table != "incident":
            acl = f"ACL Exception {action} Failed due to security constraints"
            return _error(403, "Operation Failed", acl)
        body = await _json_body(request)
        if not isinstance(body, dict):
            return _error(400, "Exception while reading request", "The payload is not valid JSON.")
        return body

    @app.post("/api/now/table/{table}")
    async def create_record(table: str, request: Request) -> JSONResponse:
        body = await incident_write(table, request, "Insert")
        if isinstance(body, JSONResponse):
            return body
        with lock:
            now = _now()
            incident: Record = {
                "sys_id": uuid.uuid4().hex,
                "number": f"INC{next(numbers):07d}",
                "state": "1",
                "urgency": "3",
                "impact": "3",
                "sys_created_on": now,
                "sys_created_by": user,
            }
            failure = apply(incident, body, now)
            if failure is not None:
                return failure
            tables["incident"].append(incident)
            rendered = render("incident", incident, request.query_params, _base(request))
        return JSONResponse({"result": rendered}, status_code=201)

    async def update_record(table: str, sys_id: str, request: Request) -> JSONResponse:
        body = await incident_write(table, request, "Update")
        if isinstance(body, JSONResponse):
            return body
        with lock:
            incident = next((r for r in tables["incident"] if r["sys_id"] == sys_id), None)
            if incident is None:
                return _no_record()
            failure = apply(incident, body, _now())
            if failure is not None:
                return failure
            rendered = render("incident", incident, request.query_params, _base(request))
        return JSONResponse({"result": rendered})

    app.add_api_route("/api/now/table/{table}/{sys_id}", update_record, methods=["PATCH", "PUT"])
    return app, state


def _priority(urgency: str, impact: str) -> str:
    """The out-of-box priority lookup: urgency + impact - 1, clamped to 1..5."""
    try:
        return str(min(5, max(1, int(urgency) + int(impact) - 1)))
    except ValueError:
        return "5"


def _parse_query(
    query: str, fields: Sequence[str]
) -> tuple[Callable[[Record], bool], list[tuple[str, bool]]]:
    checks: list[Callable[[Record], bool]] = []
    order: list[tuple[str, bool]] = []
    for part in query.split("^") if query else []:
        if part.startswith("ORDERBYDESC") or part.startswith("ORDERBY"):
            descending = part.startswith("ORDERBYDESC")
            field = part[len("ORDERBYDESC") if descending else len("ORDERBY") :]
            if field not in fields:
                raise QueryError(f"unknown field {field!r}")
            order.append((field, descending))
            continue
        match = _CONDITION.match(part)
        if match is None:
            raise QueryError(f"cannot parse condition {part!r}")
        if match["field"] not in fields:
            raise QueryError(f"unknown field {match['field']!r}")
        checks.append(_check(match["field"], match["op"], match["value"]))
    return (lambda record: all(check(record) for check in checks)), order


def _check(field: str, op: str, value: str) -> Callable[[Record], bool]:
    # String comparisons are case-insensitive, as on the default database collation.
    wanted = value.casefold()
    if op == "=":
        return lambda record: record.get(field, "").casefold() == wanted
    if op == "!=":
        return lambda record: record.get(field, "").casefold() != wanted
    if op == "IN":
        choices = {choice.strip() for choice in wanted.split(",")}
        return lambda record: record.get(field, "").casefold() in choices
    compare = _ORDERINGS[op]
    return lambda record: bool(record.get(field, "")) and compare(record.get(field, "").casefold(), wanted)


_ORDERINGS: dict[str, Callable[[str, str], bool]] = {
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
}


def _csv(value: str | None) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()] if value else []


async def _json_body(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        return None


def _now() -> str:
    return datetime.now(UTC).strftime(_GLIDE_TIME)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _error(status: int, message: str, detail: str | None) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "detail": detail}, "status": "failure"}, status_code=status
    )


def _unauthenticated() -> JSONResponse:
    return _error(401, "User Not Authenticated", "Required to provide Auth information")


def _no_record() -> JSONResponse:
    return _error(404, "No Record found", "Record doesn't exist or ACL restricts the record retrieval")
