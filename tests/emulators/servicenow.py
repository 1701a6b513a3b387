"""ServiceNow Table API emulator for ``kb_knowledge`` (list and get by sys_id).

Speaks the shapes of ``../shared/datasets/api-specs/servicenow/now-Table_API.json``: ``{"result": ...}``
bodies, ``sysparm_query`` / ``sysparm_fields`` / ``sysparm_limit`` / ``sysparm_offset`` /
``sysparm_display_value`` (false, true, all) / ``sysparm_exclude_reference_link``, and the ``Link`` and
``X-Total-Count`` headers. Errors use ``{"error": {"message", "detail"}, "status": "failure"}``.

The encoded-query subset: conditions joined by ``^`` (and ``^OR``), operators ``= != > >= < <= IN NOT IN
STARTSWITH ISEMPTY ISNOTEMPTY``, ``ORDERBY<field>`` / ``ORDERBYDESC<field>``. Unlike a real instance, which
quietly ignores an invalid condition, this emulator answers 400 so that a broken query fails the test.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Sequence
from datetime import UTC
from operator import itemgetter
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.emulators.fixtures_kb import ServiceNowArticleSeed
from tests.emulators.harness import EmulatorState, build_emulator_app

_TABLE = "kb_knowledge"
_GLIDE_TIME = "%Y-%m-%d %H:%M:%S"
_REFERENCE_FIELDS = {"kb_category": "kb_category", "kb_knowledge_base": "kb_knowledge_base"}
_CONDITION = re.compile(
    r"^(?P<field>[a-z_][a-z0-9_.]*)"
    r"(?P<op>ISNOTEMPTY|ISEMPTY|STARTSWITH|NOT IN|IN|>=|<=|!=|=|>|<)"
    r"(?P<value>.*)$",
    re.DOTALL,
)

Record = dict[str, str]


class QueryError(Exception):
    """The encoded query is outside the supported subset."""


def build_app(
    articles: Sequence[ServiceNowArticleSeed], *, user: str, secret: str
) -> tuple[FastAPI, EmulatorState]:
    """A ServiceNow instance whose ``kb_knowledge`` table holds ``articles`` (basic auth ``user:secret``)."""
    app, state = build_emulator_app("servicenow")
    records = [_record(article) for article in articles]
    display = {article.sys_id: _display_record(article) for article in articles}
    expected_auth = "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()

    @app.get("/api/now/table/{table}")
    def list_records(table: str, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != expected_auth:
            return _error(401, "User Not Authenticated", "Required to provide Auth information")
        if table != _TABLE:
            return _error(400, f"Invalid table {table}", None)
        params = request.query_params
        try:
            limit = int(params.get("sysparm_limit", "10000"))
            offset = int(params.get("sysparm_offset", "0"))
            if limit < 1 or offset < 0:
                raise ValueError("sysparm_limit and sysparm_offset must be positive")
            predicate, order = _parse_encoded_query(params.get("sysparm_query", ""))
        except (ValueError, QueryError) as exc:
            return _error(400, "Invalid query", str(exc))
        matches = [record for record in records if predicate(record)]
        for field, descending in reversed(order):  # stable sorts, last key first
            matches.sort(key=itemgetter(field), reverse=descending)
        page = matches[offset : offset + limit]
        body = [_render(record, display[record["sys_id"]], params, _base(request)) for record in page]
        headers = {
            "X-Total-Count": str(len(matches)),
            "Link": _link_header(_base(request), table, params, offset, limit, len(matches)),
        }
        return JSONResponse({"result": body}, headers=headers)

    @app.get("/api/now/table/{table}/{sys_id}")
    def get_record(table: str, sys_id: str, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != expected_auth:
            return _error(401, "User Not Authenticated", "Required to provide Auth information")
        if table != _TABLE:
            return _error(400, f"Invalid table {table}", None)
        record = next((r for r in records if r["sys_id"] == sys_id), None)
        if record is None:
            return _error(
                404, "No Record found", "Record doesn't exist or ACL restricts the record retrieval"
            )
        return JSONResponse(
            {"result": _render(record, display[sys_id], request.query_params, _base(request))}
        )

    return app, state


def _record(article: ServiceNowArticleSeed) -> Record:
    """Stored values, as the database holds them (dates in UTC, references as sys_ids, lists as CSV)."""
    return {
        "sys_id": article.sys_id,
        "number": article.number,
        "short_description": article.short_description,
        "text": article.text,
        "sys_updated_on": article.updated.astimezone(UTC).strftime(_GLIDE_TIME),
        "kb_knowledge_base": article.knowledge_base,
        "kb_category": article.category_sys_id,
        "workflow_state": article.workflow_state,
        "roles": ",".join(article.roles),
        "can_read_user_criteria": ",".join(sys_id for sys_id, _ in article.can_read_user_criteria),
    }


def _display_record(article: ServiceNowArticleSeed) -> Record:
    """Display values (the integration user's timezone is UTC, so dates read the same)."""
    values = _record(article)
    values["kb_category"] = article.category_name
    values["workflow_state"] = article.workflow_state.capitalize()
    values["can_read_user_criteria"] = ", ".join(name for _, name in article.can_read_user_criteria)
    return values


def _render(record: Record, display: Record, params: Any, base: str) -> dict[str, Any]:
    fields_param = params.get("sysparm_fields")
    fields = [f.strip() for f in fields_param.split(",") if f.strip()] if fields_param else list(record)
    mode = (params.get("sysparm_display_value") or "false").lower()
    no_links = (params.get("sysparm_exclude_reference_link") or "false").lower() == "true"
    rendered: dict[str, Any] = {}
    for field in fields:
        if field not in record:
            continue  # unknown fields in sysparm_fields are ignored
        value, shown = record[field], display[field]
        reference = _REFERENCE_FIELDS.get(field)
        link = f"{base}/api/now/table/{reference}/{value}" if reference and value else None
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


def _parse_encoded_query(query: str) -> tuple[Callable[[Record], bool], list[tuple[str, bool]]]:
    """Predicate and ORDERBY list of an encoded query; raises ``QueryError`` outside the subset."""
    if "^NQ" in query:
        raise QueryError("^NQ is not supported by the emulator")
    groups: list[list[Callable[[Record], bool]]] = []
    order: list[tuple[str, bool]] = []
    for part in query.split("^") if query else []:
        if part.startswith("ORDERBYDESC"):
            order.append((_known_field(part[len("ORDERBYDESC") :]), True))
        elif part.startswith("ORDERBY"):
            order.append((_known_field(part[len("ORDERBY") :]), False))
        elif part.startswith("OR") and groups and _CONDITION.match(part[2:]):
            groups[-1].append(_condition(part[2:]))
        else:
            groups.append([_condition(part)])

    def predicate(record: Record) -> bool:
        return all(any(check(record) for check in group) for group in groups)

    return predicate, order


def _known_field(field: str) -> str:
    if field not in _FIELDS:
        raise QueryError(f"unknown field {field!r}")
    return field


_FIELDS = {
    "sys_id",
    "number",
    "short_description",
    "text",
    "sys_updated_on",
    "kb_knowledge_base",
    "kb_category",
    "workflow_state",
    "roles",
    "can_read_user_criteria",
}


def _condition(text: str) -> Callable[[Record], bool]:
    match = _CONDITION.match(text)
    if match is None:
        raise QueryError(f"cannot parse condition {text!r}")
    field, op, value = _known_field(match["field"]), match["op"], match["value"]
    if value.startswith("javascript:"):
        raise QueryError("javascript: values are not supported by the emulator")
    # glide_date_time values compare correctly as "yyyy-MM-dd HH:mm:ss" strings.
    checks: dict[str, Callable[[str], bool]] = {
        "=": lambda stored: stored == value,
        "!=": lambda stored: stored != value,
        ">": lambda stored: stored > value,
        ">=": lambda stored: stored >= value,
        "<": lambda stored: stored < value,
        "<=": lambda stored: stored <= value,
        "IN": lambda stored: stored in value.split(","),
        "NOT IN": lambda stored: stored not in value.split(","),
        "STARTSWITH": lambda stored: stored.startswith(value),
        "ISEMPTY": lambda stored: stored == "",
        "ISNOTEMPTY": lambda stored: stored != "",
    }
    check = checks[op]
    return lambda record: check(record.get(field, ""))


def _link_header(base: str, table: str, params: Any, offset: int, limit: int, total: int) -> str:
    def link(at: int, rel: str) -> str:
        query = {
            key: value for key, value in params.items() if key not in ("sysparm_offset", "sysparm_limit")
        }
        query.update({"sysparm_limit": str(limit), "sysparm_offset": str(at)})
        return f'<{base}/api/now/table/{table}?{urlencode(query)}>;rel="{rel}"'

    last = max(0, ((total - 1) // limit) * limit) if total else 0
    parts = [link(0, "first")]
    if offset > 0:
        parts.append(link(max(0, offset - limit), "prev"))
    if offset + limit < total:
        parts.append(link(offset + limit, "next"))
    parts.append(link(last, "last"))
    return ",".join(parts)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _error(status: int, message: str, detail: str | None) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "detail": detail}, "status": "failure"}, status_code=status
    )
