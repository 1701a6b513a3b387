"""Jira Cloud platform REST v3 emulator: issues, comments, transitions, enhanced JQL search.

Speaks the shapes of ``../shared/datasets/api-specs/jira/jira-cloud-platform-swagger.v3.json``:
``POST /rest/api/3/issue`` (``IssueUpdateDetails`` with ``fields`` and ``properties``; ``CreatedIssue``),
``GET /rest/api/3/issue/{key}`` (``fields`` / ``properties`` query lists), ``POST .../comment`` (ADF body,
``jsdPublic``), ``GET/POST .../transitions`` (``expand=transitions.fields``; 204 on success) and
``POST /rest/api/3/search/jql`` (the enhanced search that replaced ``/rest/api/3/search``, which answers
410 Gone as Jira Cloud does now; ``issues`` plus ``isLast`` / ``nextPageToken``, no ``total``). Errors are
``ErrorCollection`` bodies ``{"errorMessages": [...], "errors": {field: message}}``.

Three workflows: ``service_desk`` (Jira Service Management: To Do, In Progress, Waiting for customer,
Resolved, Closed, Canceled; "Resolve this issue" and "Cancel request" have a screen with Resolution;
``sd.public.comment`` makes comments internal), ``simple`` (To Do, In Progress, Done; no screens, no
resolution; comments are always public) and ``no_resolve`` (only "Decline"). The JQL subset is
``field = value`` clauses (fields project, key, labels, status, statusCategory) and ``resolved >= "date"``
joined by ``AND``, and one ``ORDER BY`` (created, key, id, resolved); anything else answers 400, as does an
unbounded query. As on Jira, a date literal (``yyyy/MM/dd HH:mm``, ``yyyy-MM-dd HH:mm`` or a bare date) is
read in the API user's profile time zone, here UTC-8 (``user_utc_offset``). Search pages follow
``nextPageToken``. Search results are immediately consistent, unlike Jira's. Entering a done-category
status sets ``resolutiondate``; leaving it clears it. ``GET .../comment`` lists comments (``orderBy``
``created`` / ``-created``, ``startAt``, ``maxResults``) with their author and ``jsdPublic``.

Test control: ``GET /_state`` lists the issues; ``POST /_status`` ``{"key", "status"}`` moves an issue to a
status by name; ``POST /_issue`` stores an issue as an agent would in Jira itself (``summary``,
``description`` as text, ``status`` and ``resolution`` names, ``resolutiondate`` / ``updated`` in Jira's
format, ``reporter`` / ``assignee`` user objects, ``labels``, ``comments`` ``[{"text", "public",
"author", "created"}]``) and returns its key.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from tests.emulators.harness import EmulatorState, build_emulator_app

_RESOLUTIONS = ({"id": "10000", "name": "Done"}, {"id": "10001", "name": "Won't Do"})
API_USER = {"accountId": "5b10ac8d82e05b22cc7d4ef5", "displayName": "Deskpilot", "active": True}
_JIRA_TIME = "%Y-%m-%dT%H:%M:%S.%f%z"
_CATEGORIES = {
    "new": {"id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"},
    "indeterminate": {"id": 4, "key": "indeterminate", "colorName": "yellow", "name": "In Progress"},
    "done": {"id": 3, "key": "done", "colorName": "green", "name": "Done"},
}


@dataclass(frozen=True)
class _Status:
    id: str
    name: str
    category: str


@dataclass(frozen=True)
class _Transition:
    id: str
    name: str
    to: str
    has_screen: bool = False
    from_done: bool = False


_WORKFLOWS: dict[str, tuple[list[_Status], list[_Transition]]] = {
    "service_desk": (
        [
            _Status("10000", "To Do", "new"),
            _Status("3", "In Progress", "indeterminate"),
            _Status("10002", "Waiting for customer", "indeterminate"),
            _Status("10003", "Resolved", "done"),
            _Status("6", "Closed", "done"),
            _Status("10004", "Canceled", "done"),
        ],
        [
            # Listed cancel-first, so that an adapter taking the first "done" transition gets it wrong.
            _Transition("51", "Cancel request", "10004", has_screen=True),
            _Transition("11", "Start progress", "3"),
            _Transition("21", "Respond to customer", "10002"),
            _Transition("41", "Close", "6"),
            _Transition("31", "Resolve this issue", "10003", has_screen=True),
            _Transition("61", "Reopen", "10000", from_done=True),
        ],
    ),
    "no_resolve": (
        [_Status("10000", "To Do", "new"), _Status("10005", "Declined", "done")],
        [_Transition("71", "Decline", "10005", has_screen=True)],
    ),
    "simple": (
        [
            _Status("10000", "To Do", "new"),
            _Status("3", "In Progress", "indeterminate"),
            _Status("10001", "Done", "done"),
        ],
        [
            _Transition("11", "Start", "3"),
            _Transition("31", "Done", "10001"),
            _Transition("61", "Reopen", "10000", from_done=True),
        ],
    ),
}


@dataclass
class _Comment:
    id: str
    body: dict[str, Any]
    public: bool
    created: str
    properties: dict[str, Any]
    author: dict[str, Any] = field(default_factory=lambda: dict(API_USER))


@dataclass
class _Issue:
    id: int
    key: str
    project: str
    issue_type: str
    summary: str
    description: dict[str, Any] | None
    priority: str | None
    labels: list[str]
    status_id: str
    created: str
    updated: str
    properties: dict[str, Any] = field(default_factory=dict)
    resolution: str | None = None
    resolutiondate: str | None = None
    reporter: dict[str, Any] | None = None
    assignee: dict[str, Any] | None = None
    comments: list[_Comment] = field(default_factory=list)


def build_app(
    *,
    email: str,
    api_token: str,
    project_key: str = "IT",
    workflow: str = "service_desk",
    issue_types: tuple[str, ...] = ("Task", "Service Request"),
    priorities: tuple[str, ...] = ("Highest", "High", "Medium", "Low", "Lowest"),
    user_utc_offset: timedelta = timedelta(hours=-8),
) -> tuple[FastAPI, EmulatorState]:
    """A Jira site with one project; basic auth ``email:api_token``."""
    app, state = build_emulator_app("jira")
    statuses, transitions = _WORKFLOWS[workflow]
    status_by_id = {status.id: status for status in statuses}
    issues: dict[str, _Issue] = {}
    lock = threading.Lock()
    ids = itertools.count(10001)
    numbers = itertools.count(1)
    comment_ids = itertools.count(20001)
    expected_auth = "Basic " + base64.b64encode(f"{email}:{api_token}".encode()).decode()

    def authenticated(request: Request) -> bool:
        return request.headers.get("authorization") == expected_auth

    def find(ref: str) -> _Issue | None:
        return issues.get(ref) or next((i for i in issues.values() if str(i.id) == ref), None)

    def render(issue: _Issue, base: str, fields: list[str] | None, properties: list[str]) -> dict[str, Any]:
        status = status_by_id[issue.status_id]
        every: dict[str, Any] = {
            "summary": issue.summary,
            "description": issue.description,
            "issuetype": {"name": issue.issue_type},
            "project": {"key": issue.project},
            "priority": {"name": issue.priority} if issue.priority else None,
            "labels": list(issue.labels),
            "status": _render_status(status, base),
            "resolution": _render_resolution(issue.resolution),
            "resolutiondate": issue.resolutiondate,
            "reporter": issue.reporter,
            "assignee": issue.assignee,
            "created": issue.created,
            "updated": issue.updated,
        }
        wanted = every if fields is None or "*all" in fields else {k: every[k] for k in fields if k in every}
        rendered: dict[str, Any] = {
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
            "id": str(issue.id),
            "self": f"{base}/rest/api/3/issue/{issue.id}",
            "key": issue.key,
            "fields": wanted,
        }
        if properties:
            rendered["properties"] = {k: issue.properties[k] for k in properties if k in issue.properties}
        return rendered

    def move(issue: _Issue, status_id: str, resolution: str | None, now: str) -> None:
        """Set the status; entering the done category stamps ``resolutiondate``, leaving it clears both."""
        was_done = status_by_id[issue.status_id].category == "done"
        done = status_by_id[status_id].category == "done"
        issue.status_id = status_id
        issue.resolution = resolution if done else None
        issue.resolutiondate = (issue.resolutiondate if was_done else now) if done else None
        issue.updated = now

    def render_comment(comment: _Comment, issue: _Issue, base: str) -> dict[str, Any]:
        return {
            "self": f"{base}/rest/api/3/issue/{issue.id}/comment/{comment.id}",
            "id": comment.id,
            "author": comment.author,
            "body": comment.body,
            "updateAuthor": comment.author,
            "created": comment.created,
            "updated": comment.created,
            "jsdPublic": comment.public,
        }

    def available(issue: _Issue) -> list[_Transition]:
        done = status_by_id[issue.status_id].category == "done"
        return [t for t in transitions if t.from_done == done and t.to != issue.status_id]

    @app.get("/_state")
    def get_state() -> dict[str, Any]:
        with lock:
            return {
                "issues": [
                    {
                        "key": issue.key,
                        "id": issue.id,
                        "summary": issue.summary,
                        "status": status_by_id[issue.status_id].name,
                        "resolution": issue.resolution,
                        "labels": issue.labels,
                        "priority": issue.priority,
                        "properties": issue.properties,
                        "comments": [
                            {"id": c.id, "public": c.public, "text": _adf_text(c.body)}
                            for c in issue.comments
                        ],
                    }
                    for issue in issues.values()
                ]
            }

    @app.post("/_status")
    async def set_status(request: Request) -> JSONResponse:
        payload = await request.json()
        with lock:
            issue = issues.get(payload.get("key", ""))
            target = next((s for s in statuses if s.name == payload.get("status")), None)
            if issue is None or target is None:
                return JSONResponse({"error": "unknown issue or status"}, status_code=404)
            move(issue, target.id, "Done", _now())
        return JSONResponse({"ok": True})

    @app.post("/_issue")
    async def seed_issue(request: Request) -> JSONResponse:
        payload = await request.json()
        with lock:
            now = _now()
            status = next(s for s in statuses if s.name == payload.get("status", statuses[0].name))
            done = status.category == "done"
            issue = _Issue(
                id=next(ids),
                key=f"{project_key}-{next(numbers)}",
                project=project_key,
                issue_type=issue_types[0],
                summary=payload.get("summary", "Seeded issue"),
                description=_adf(payload["description"]) if payload.get("description") else None,
                priority=None,
                labels=list(payload.get("labels", [])),
                status_id=status.id,
                created=payload.get("created", now),
                updated=payload.get("updated", now),
                resolution=payload.get("resolution", "Done") if done else None,
                resolutiondate=payload.get("resolutiondate", now) if done else None,
                reporter=payload.get("reporter"),
                assignee=payload.get("assignee"),
            )
            for comment in payload.get("comments", []):
                issue.comments.append(
                    _Comment(
                        str(next(comment_ids)),
                        _adf(comment["text"]),
                        comment.get("public", True),
                        comment.get("created", now),
                        {},
                        comment.get("author", dict(API_USER)),
                    )
                )
            issues[issue.key] = issue
        return JSONResponse({"key": issue.key})

    @app.post("/rest/api/3/issue")
    async def create_issue(request: Request) -> JSONResponse:
        if not authenticated(request):
            return _unauthorized()
        body = await _json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("fields"), dict):
            return _errors(400, messages=["No content to map due to end-of-input"])
        fields: dict[str, Any] = body["fields"]
        problems: dict[str, str] = {}
        project = fields.get("project")
        if not isinstance(project, dict) or project.get("key") != project_key:
            problems["project"] = "Specify a valid project ID or key"
        issue_type = fields.get("issuetype")
        if not isinstance(issue_type, dict) or issue_type.get("name") not in issue_types:
            problems["issuetype"] = "Specify an issue type"
        summary = fields.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            problems["summary"] = "You must specify a summary of the issue."
        elif "\n" in summary or "\r" in summary:
            problems["summary"] = "The summary is invalid because it contains newline characters."
        elif len(summary) > 255:
            problems["summary"] = "Summary must be less than 255 characters."
        description = fields.get("description")
        if description is not None and not _is_adf(description):
            problems["description"] = (
                "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
            )
        priority = fields.get("priority")
        if priority is not None and (
            not isinstance(priority, dict) or priority.get("name") not in priorities
        ):
            problems["priority"] = "Specify the Priority (id or name) in the string format"
        labels = fields.get("labels", [])
        if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
            problems["labels"] = "Field 'labels' must be a list of strings."
        else:
            spaced = next((label for label in labels if re.search(r"\s", label)), None)
            if spaced is not None:
                problems["labels"] = f"The label '{spaced}' contains spaces which is invalid."
        properties = body.get("properties", [])
        if not isinstance(properties, list) or not all(
            isinstance(p, dict) and isinstance(p.get("key"), str) and "value" in p for p in properties
        ):
            problems["properties"] = "Property key and value are required."
        if problems:
            return _errors(400, errors=problems)
        with lock:
            now = _now()
            issue = _Issue(
                id=next(ids),
                key=f"{project_key}-{next(numbers)}",
                project=project_key,
                issue_type=str(fields["issuetype"]["name"]),
                summary=str(summary),
                description=description,
                priority=priority["name"] if isinstance(priority, dict) else None,
                labels=list(labels),
                status_id=statuses[0].id,
                created=now,
                updated=now,
                properties={p["key"]: p["value"] for p in properties},
                reporter=dict(API_USER),
            )
            issues[issue.key] = issue
        base = _base(request)
        return JSONResponse(
            {"id": str(issue.id), "key": issue.key, "self": f"{base}/rest/api/3/issue/{issue.id}"},
            status_code=201,
        )

    @app.get("/rest/api/3/issue/{ref}")
    def get_issue(ref: str, request: Request) -> JSONResponse:
        if not authenticated(request):
            return _unauthorized()
        params = request.query_params
        with lock:
            issue = find(ref)
            if issue is None:
                return _not_found()
            return JSONResponse(
                render(
                    issue, _base(request), _csv(params.get("fields")), _csv(params.get("properties")) or []
                )
            )

    @app.post("/rest/api/3/issue/{ref}/comment")
    async def add_comment(ref: str, request: Request) -> JSONResponse:
        if not authenticated(request):
            return _unauthorized()
        body = await _json_body(request)
        if not isinstance(body, dict) or not _is_adf(body.get("body")) or not _adf_text(body["body"]).strip():
            return _errors(400, errors={"comment": "Comment body can not be empty!"})
        properties = {
            p["key"]: p.get("value")
            for p in body.get("properties") or []
            if isinstance(p, dict) and isinstance(p.get("key"), str)
        }
        internal = properties.get("sd.public.comment", {}) or {}
        public = workflow != "service_desk" or not (isinstance(internal, dict) and internal.get("internal"))
        with lock:
            issue = find(ref)
            if issue is None:
                return _not_found()
            comment = _Comment(str(next(comment_ids)), body["body"], public, _now(), properties)
            issue.comments.append(comment)
            issue.updated = comment.created
        return JSONResponse(render_comment(comment, issue, _base(request)), status_code=201)

    @app.get("/rest/api/3/issue/{ref}/comment")
    def list_comments(ref: str, request: Request) -> JSONResponse:
        if not authenticated(request):
            return _unauthorized()
        params = request.query_params
        order = params.get("orderBy", "created")
        if order not in ("created", "+created", "-created"):
            return _errors(400, messages=[f"Invalid orderBy value: {order}"])
        try:
            start, limit = int(params.get("startAt", "0")), int(params.get("maxResults", "100"))
        except ValueError:
            return _errors(400, messages=["startAt and maxResults must be numbers"])
        with lock:
            issue = find(ref)
            if issue is None:
                return _not_found()
            ordered = sorted(
                issue.comments, key=lambda c: (c.created, int(c.id)), reverse=order == "-created"
            )
            page = [render_comment(c, issue, _base(request)) for c in ordered[start : start + limit]]
        return JSONResponse({"comments": page, "startAt": start, "maxResults": limit, "total": len(ordered)})

    @app.get("/rest/api/3/issue/{ref}/transitions")
    def get_transitions(ref: str, request: Request) -> JSONResponse:
        if not authenticated(request):
            return _unauthorized()
        expand_fields = "transitions.fields" in (request.query_params.get("expand") or "")
        base = _base(request)
        with lock:
            issue = find(ref)
            if issue is None:
                return _not_found()
            rendered = []
            for transition in available(issue):
                item: dict[str, Any] = {
                    "id": transition.id,
                    "name": transition.name,
                    "to": _render_status(status_by_id[transition.to], base),
                    "hasScreen": transition.has_screen,
                    "isGlobal": False,
                    "isInitial": False,
                    "isAvailable": True,
                    "isConditional": False,
                    "isLooped": False,
                }
                if expand_fields:
                    item["fields"] = _screen_fields(transition)
                rendered.append(item)
        return JSONResponse({"expand": "transitions", "transitions": rendered})

    @app.post("/rest/api/3/issue/{ref}/transitions")
    async def do_transition(ref: str, request: Request) -> Response:
        if not authenticated(request):
            return _unauthorized()
        body = await _json_body(request)
        transition_ref = body.get("transition") if isinstance(body, dict) else None
        if not isinstance(transition_ref, dict) or not transition_ref.get("id"):
            return _errors(400, messages=["Missing 'transition' identifier"])
        with lock:
            issue = find(ref)
            if issue is None:
                return _not_found()
            transition = next((t for t in available(issue) if t.id == str(transition_ref["id"])), None)
            if transition is None:
                return _errors(
                    400, messages=[f"Transition id '{transition_ref['id']}' is not valid for this issue."]
                )
            screen = _screen_fields(transition)
            fields = body.get("fields") or {}
            update = body.get("update") or {}
            problems: dict[str, str] = {}
            for name in list(fields) + list(update):
                if name not in screen and not (name == "comment" and transition.has_screen):
                    problems[name] = (
                        f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."
                    )
            resolution = fields.get("resolution")
            if "resolution" in screen:
                name = resolution.get("name") if isinstance(resolution, dict) else None
                if name is None:
                    problems.setdefault("resolution", "Resolution is required.")
                elif name not in {r["name"] for r in _RESOLUTIONS}:
                    problems.setdefault("resolution", f"Resolution '{name}' is not valid.")
            comments = update.get("comment", [])
            if problems:
                return _errors(400, errors=problems)
            now = _now()
            move(issue, transition.to, resolution["name"] if isinstance(resolution, dict) else None, now)
            for operation in comments if isinstance(comments, list) else []:
                added = operation.get("add") if isinstance(operation, dict) else None
                if isinstance(added, dict) and _is_adf(added.get("body")):
                    issue.comments.append(_Comment(str(next(comment_ids)), added["body"], True, now, {}))
        return Response(status_code=204)

    @app.post("/rest/api/3/search/jql")
    async def search_post(request: Request) -> JSONResponse:
        if not authenticated(request):
            return _unauthorized()
        body = await _json_body(request)
        if not isinstance(body, dict):
            return _errors(400, messages=["Invalid request payload. Refer to the REST API documentation."])
        return search(
            request,
            body.get("jql"),
            body.get("fields"),
            body.get("properties"),
            body.get("maxResults"),
            body.get("nextPageToken"),
        )

    @app.get("/rest/api/3/search/jql")
    def search_get(request: Request) -> JSONResponse:
        if not authenticated(request):
            return _unauthorized()
        params = request.query_params
        return search(
            request,
            params.get("jql"),
            _csv(params.get("fields")),
            _csv(params.get("properties")),
            params.get("maxResults"),
            params.get("nextPageToken"),
        )

    def search(
        request: Request, jql: Any, fields: Any, properties: Any, max_results: Any, page_token: Any
    ) -> JSONResponse:
        if not isinstance(jql, str) or not jql.strip():
            return _errors(
                400,
                messages=[
                    "Unbounded JQL queries are not allowed here. "
                    "Please add a search restriction to your query."
                ],
            )
        try:
            clauses, order = _parse_jql(jql, user_utc_offset)
            limit = int(max_results) if max_results is not None else 50
            start = _page_start(page_token)
        except ValueError as exc:
            return _errors(400, messages=[str(exc)])
        wanted_fields = fields if isinstance(fields, list) else ["id"]
        wanted_properties = properties if isinstance(properties, list) else []
        if len(wanted_properties) > 5:
            return _errors(400, messages=["A maximum of 5 issue properties can be requested."])
        with lock:
            matches = [
                issue for issue in issues.values() if all(_matches(issue, c, status_by_id) for c in clauses)
            ]
            if order is not None:
                by_resolution = order[0] == "resolved"
                matches.sort(
                    key=lambda issue: (_time(issue.resolutiondate) if by_resolution else _EPOCH, issue.id),
                    reverse=order[1] == "DESC",
                )
            base = _base(request)
            end = start + limit
            page = [render(issue, base, wanted_fields, wanted_properties) for issue in matches[start:end]]
        response: dict[str, Any] = {"issues": page, "isLast": len(matches) <= end}
        if len(matches) > end:
            response["nextPageToken"] = base64.b64encode(str(end).encode()).decode()
        return JSONResponse(response)

    @app.get("/rest/api/3/search")
    @app.post("/rest/api/3/search")
    def legacy_search() -> JSONResponse:
        return _errors(
            410,
            messages=[
                "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
                "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
            ],
        )

    return app, state


def _screen_fields(transition: _Transition) -> dict[str, Any]:
    if not transition.has_screen:
        return {}
    return {
        "resolution": {
            "required": True,
            "schema": {"type": "resolution", "system": "resolution"},
            "name": "Resolution",
            "key": "resolution",
            "operations": ["set"],
            "allowedValues": [dict(r) for r in _RESOLUTIONS],
        }
    }


_CLAUSE = re.compile(
    r'^\s*(?P<field>[a-zA-Z]+)\s*(?P<op>>=|=)\s*(?:"(?P<quoted>[^"]*)"|(?P<bare>[^\s"]+))\s*$'
)
_JQL_FIELDS = {"project", "key", "labels", "status", "statuscategory"}
_DATE_FIELDS = {"resolved": "resolved", "resolutiondate": "resolved"}
_ORDER_FIELDS = {
    "created": "id",
    "key": "id",
    "id": "id",
    "resolved": "resolved",
    "resolutiondate": "resolved",
}
_JQL_DATE_FORMATS = ("%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M", "%Y/%m/%d", "%Y-%m-%d")
_EPOCH = datetime.fromtimestamp(0, UTC)

Clause = tuple[str, str, Any]
"""(field, operator, value): a string, or an aware datetime for a date comparison."""


def _parse_jql(jql: str, user_utc_offset: timedelta) -> tuple[list[Clause], tuple[str, str] | None]:
    """Clauses and ORDER BY (field, direction) of the supported subset; ValueError outside it."""
    order: tuple[str, str] | None = None
    match = re.search(r"\s+ORDER\s+BY\s+(?P<field>\w+)(?:\s+(?P<dir>ASC|DESC))?\s*$", jql, re.IGNORECASE)
    if match:
        if match["field"].lower() not in _ORDER_FIELDS:
            raise ValueError(f"Error in the JQL Query: cannot order by '{match['field']}'.")
        order = (_ORDER_FIELDS[match["field"].lower()], (match["dir"] or "ASC").upper())
        jql = jql[: match.start()]
    clauses: list[Clause] = []
    for part in re.split(r"\s+AND\s+", jql.strip(), flags=re.IGNORECASE):
        clause = _CLAUSE.match(part)
        if clause is None:
            raise ValueError(f"Error in the JQL Query: the emulator cannot parse {part.strip()!r}.")
        name, op = clause["field"].lower(), clause["op"]
        value = clause["quoted"] if clause["quoted"] is not None else clause["bare"]
        if op == ">=" and name in _DATE_FIELDS:
            clauses.append((_DATE_FIELDS[name], op, _jql_date(value, user_utc_offset)))
        elif op == "=" and name in _JQL_FIELDS:
            clauses.append((name, op, value))
        else:
            raise ValueError(
                f"Field '{clause['field']}' does not exist or you do not have permission to view it."
            )
    return clauses, order


def _jql_date(value: str, user_utc_offset: timedelta) -> datetime:
    """A JQL date literal, read in the user's time zone, as an aware UTC datetime."""
    for pattern in _JQL_DATE_FORMATS:
        try:
            local = datetime.strptime(value, pattern)
        except ValueError:
            continue
        return (local - user_utc_offset).replace(tzinfo=UTC)
    raise ValueError(f"Date value '{value}' for field 'resolved' is invalid.")


def _matches(issue: _Issue, clause: Clause, status_by_id: dict[str, _Status]) -> bool:
    name, _, value = clause
    if name == "resolved":
        return issue.resolutiondate is not None and _time(issue.resolutiondate) >= value
    text = str(value)
    if name == "project":
        return issue.project == text
    if name == "key":
        return issue.key == text
    if name == "labels":
        return text in issue.labels
    status = status_by_id[issue.status_id]
    if name == "statuscategory":
        category = _CATEGORIES[status.category]
        return text.lower() in (str(category["name"]).lower(), str(category["key"]))
    return status.name.lower() == text.lower()


def _page_start(token: Any) -> int:
    """The offset a ``nextPageToken`` of this emulator stands for (0 without one)."""
    if token is None or token == "":
        return 0
    try:
        return int(base64.b64decode(str(token), validate=True).decode())
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("The provided next page token is invalid or expired.") from None


def _time(value: str | None) -> datetime:
    return datetime.strptime(value, _JIRA_TIME) if value else _EPOCH


def _render_status(status: _Status, base: str) -> dict[str, Any]:
    category = _CATEGORIES[status.category]
    return {
        "self": f"{base}/rest/api/3/status/{status.id}",
        "description": "",
        "iconUrl": f"{base}/images/icons/statuses/generic.png",
        "name": status.name,
        "id": status.id,
        "statusCategory": {"self": f"{base}/rest/api/3/statuscategory/{category['id']}", **category},
    }


def _render_resolution(name: str | None) -> dict[str, Any] | None:
    found = next((r for r in _RESOLUTIONS if r["name"] == name), None)
    return dict(found) if found else None


def _adf(text: str) -> dict[str, Any]:
    paragraphs = [block for block in text.split("\n\n") if block]
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": p}]} for p in paragraphs],
    }


def _is_adf(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and value.get("type") == "doc"
        and value.get("version") == 1
        and isinstance(value.get("content"), list)
    )


def _adf_text(node: Any) -> str:
    if not isinstance(node, dict):
        return ""
    if node.get("type") == "text":
        return str(node.get("text", ""))
    if node.get("type") == "hardBreak":
        return "\n"
    children = node.get("content") or []
    return ("\n\n" if node.get("type") == "doc" else "").join(_adf_text(child) for child in children)


def _csv(value: str | None) -> list[str] | None:
    return [part.strip() for part in value.split(",") if part.strip()] if value else None


async def _json_body(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        return None


def _now() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _errors(
    status: int, *, messages: list[str] | None = None, errors: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"errorMessages": messages or [], "errors": errors or {}}, status_code=status)


def _unauthorized() -> JSONResponse:
    return _errors(401, messages=["Client must be authenticated to access this resource."])


def _not_found() -> JSONResponse:
    return _errors(404, messages=["Issue does not exist or you do not have permission to see it."])
