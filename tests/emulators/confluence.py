"""Confluence Cloud REST v1 emulator: content search by CQL and content by id.

Speaks the shapes of ``../shared/datasets/api-specs/confluence`` (``ContentArray``, ``Content``,
cursor pagination through ``_links.next`` relative to ``_links.context``). Errors use Confluence's
``{"statusCode", "data", "message"}`` body. The CQL subset understood: fields ``type``, ``space``,
``id``, ``title``, ``label``, ``lastmodified``; operators ``= != > >= < <= in / not in``; ``and``, ``or``,
``not``, parentheses and ``order by``. Anything else is answered with 400, as Confluence does for bad CQL.
CQL date literals are read in the site timezone (``site_utc_offset``), as Confluence Cloud does.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote_plus, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.emulators.fixtures_kb import ConfluencePageSeed
from tests.emulators.harness import EmulatorState, build_emulator_app

_MAX_LIMIT = 100
_FIELDS = {"type", "space", "id", "title", "label", "lastmodified"}


def build_app(
    pages: Sequence[ConfluencePageSeed],
    *,
    user: str,
    secret: str,
    site_utc_offset: timedelta = timedelta(0),
) -> tuple[FastAPI, EmulatorState]:
    """A Confluence site holding ``pages``, readable with basic auth ``user:secret``."""
    app, state = build_emulator_app("confluence")
    by_id = {page.id: page for page in pages}
    site_tz = timezone(site_utc_offset)
    expected_auth = "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()

    @app.get("/wiki/rest/api/content/search")
    def search_content(request: Request) -> JSONResponse:
        if request.headers.get("authorization") != expected_auth:
            return _error(401, "Client must be authenticated to access this resource.")
        params = request.query_params
        cql = params.get("cql")
        if not cql:
            return _error(400, "cql is a required parameter")
        try:
            limit = min(int(params.get("limit", "25")), _MAX_LIMIT)
            offset = _decode_cursor(params["cursor"]) if "cursor" in params else 0
            predicate, order = _parse_cql(cql, site_tz)
        except (ValueError, CqlError) as exc:
            return _error(400, f"Could not parse cql : {cql} ({exc})")
        matches = [page for page in by_id.values() if page.status == "current" and predicate(page)]
        matches.sort(key=order)
        window = matches[offset : offset + limit]
        base = _wiki_base(request)
        expand = _expansions(params.get("expand"))
        links: dict[str, Any] = {
            "base": base,
            "context": "/wiki",
            "self": f"{base}/rest/api/content/search?{urlencode(dict(params))}",
        }
        if offset + limit < len(matches):
            next_params = {key: value for key, value in params.items() if key != "cursor"}
            next_params["cursor"] = _encode_cursor(offset + limit)
            links["next"] = f"/rest/api/content/search?{urlencode(next_params)}"
        if offset > 0:
            prev_params = {key: value for key, value in params.items() if key != "cursor"}
            prev_params["cursor"] = _encode_cursor(max(0, offset - limit))
            links["prev"] = f"/rest/api/content/search?{urlencode(prev_params)}"
        return JSONResponse(
            {
                "results": [_render(page, expand, base) for page in window],
                "start": offset,
                "limit": limit,
                "size": len(window),
                "_links": links,
            }
        )

    @app.get("/wiki/rest/api/content/{content_id}")
    def get_content(content_id: str, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != expected_auth:
            return _error(401, "Client must be authenticated to access this resource.")
        page = by_id.get(content_id)
        if page is None or page.status != "current":
            return _error(404, f"No content found with id : ContentId{{id={content_id}}}", authorized=True)
        # Get content by id expands space, history and version by default.
        expand = _expansions(request.query_params.get("expand")) | {"space", "version"}
        return JSONResponse(_render(page, expand, _wiki_base(request)))

    return app, state


class CqlError(Exception):
    """The CQL text is outside the subset this emulator understands (Confluence answers 400)."""


_TOKEN = re.compile(
    r"""\s*(?:(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<op>!=|>=|<=|=|>|<|~)|(?P<punct>[(),])"""
    r"""|(?P<word>[A-Za-z0-9_.\-:]+))"""
)

Predicate = Callable[[ConfluencePageSeed], bool]


def _tokenize(cql: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(cql):
        if cql[position:].strip() == "":
            break
        match = _TOKEN.match(cql, position)
        if match is None or match.end() == position:
            raise CqlError(f"unexpected text at {position}")
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "string":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        tokens.append((kind, value))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], site_tz: timezone) -> None:
        self.tokens = tokens
        self.index = 0
        self.site_tz = site_tz

    def peek_word(self) -> str | None:
        if self.index < len(self.tokens) and self.tokens[self.index][0] == "word":
            return self.tokens[self.index][1].lower()
        return None

    def take(self) -> tuple[str, str]:
        if self.index >= len(self.tokens):
            raise CqlError("unexpected end of query")
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expect(self, value: str) -> None:
        kind, text = self.take()
        if text.lower() != value:
            raise CqlError(f"expected {value!r}, found {text!r}")

    def parse(self) -> tuple[Predicate, Callable[[ConfluencePageSeed], Any]]:
        predicate = self.expression()
        order: Callable[[ConfluencePageSeed], Any] = _by_id
        if self.peek_word() == "order":
            self.take()
            self.expect("by")
            _, field = self.take()
            field = field.lower()
            keys: dict[str, Callable[[ConfluencePageSeed], Any]] = {
                "id": _by_id,
                "title": lambda page: page.title or "",
                "lastmodified": lambda page: page.updated,
            }
            if field not in keys:
                raise CqlError(f"cannot order by {field}")
            order = keys[field]
            if self.peek_word() in ("asc", "desc") and self.take()[1].lower() == "desc":
                order = _descending(keys[field])
        if self.index != len(self.tokens):
            raise CqlError(f"unexpected {self.tokens[self.index][1]!r}")
        return predicate, order

    def expression(self) -> Predicate:
        terms = [self.term()]
        while self.peek_word() == "or":
            self.take()
            terms.append(self.term())
        return terms[0] if len(terms) == 1 else (lambda page: any(term(page) for term in terms))

    def term(self) -> Predicate:
        factors = [self.factor()]
        while self.peek_word() == "and":
            self.take()
            factors.append(self.factor())
        return factors[0] if len(factors) == 1 else (lambda page: all(f(page) for f in factors))

    def factor(self) -> Predicate:
        if self.peek_word() == "not":
            self.take()
            inner = self.factor()
            return lambda page: not inner(page)
        if self.index < len(self.tokens) and self.tokens[self.index] == ("punct", "("):
            self.take()
            inner = self.expression()
            self.expect(")")
            return inner
        return self.clause()

    def clause(self) -> Predicate:
        kind, field = self.take()
        field = field.lower()
        if kind != "word" or field not in _FIELDS:
            raise CqlError(f"unsupported field {field!r}")
        negate = False
        if self.peek_word() == "not":
            self.take()
            negate = True
            if self.peek_word() != "in":
                raise CqlError("expected 'in' after 'not'")
        if self.peek_word() == "in":
            self.take()
            self.expect("(")
            values = [self.value()]
            while self.index < len(self.tokens) and self.tokens[self.index] == ("punct", ","):
                self.take()
                values.append(self.value())
            self.expect(")")
            members = {value.lower() for value in values}
            return lambda page: (bool(_field_values(page, field) & members)) != negate
        op_kind, op = self.take()
        if op_kind != "op" or op == "~":
            raise CqlError(f"unsupported operator {op!r}")
        value = self.value()
        if field == "lastmodified":
            when = _parse_cql_date(value, self.site_tz)
            compare: dict[str, Callable[[datetime], bool]] = {
                "=": lambda updated: updated == when,
                "!=": lambda updated: updated != when,
                ">": lambda updated: updated > when,
                ">=": lambda updated: updated >= when,
                "<": lambda updated: updated < when,
                "<=": lambda updated: updated <= when,
            }
            check = compare[op]
            return lambda page: check(page.updated)
        if op not in ("=", "!="):
            raise CqlError(f"operator {op} is not valid for {field}")
        wanted = value.lower()
        return lambda page: (wanted in _field_values(page, field)) == (op == "=")

    def value(self) -> str:
        kind, text = self.take()
        if kind not in ("string", "word"):
            raise CqlError(f"expected a value, found {text!r}")
        return text


def _by_id(page: ConfluencePageSeed) -> int:
    return int(page.id)


def _descending(key: Callable[[ConfluencePageSeed], Any]) -> Callable[[ConfluencePageSeed], Any]:
    class _Reversed:
        def __init__(self, value: Any) -> None:
            self.value = value

        def __lt__(self, other: _Reversed) -> bool:
            return bool(other.value < self.value)

    return lambda page: _Reversed(key(page))


def _parse_cql(cql: str, site_tz: timezone) -> tuple[Predicate, Callable[[ConfluencePageSeed], Any]]:
    return _Parser(_tokenize(cql), site_tz).parse()


def _field_values(page: ConfluencePageSeed, field: str) -> set[str]:
    if field == "type":
        return {page.type}
    if field == "space":
        return {page.space_key.lower()}
    if field == "id":
        return {page.id}
    if field == "title":
        return {(page.title or "").lower()}
    if field == "label":
        return {label.lower() for label in page.labels}
    raise CqlError(f"unsupported field {field!r}")


def _parse_cql_date(value: str, site_tz: timezone) -> datetime:
    for fmt in ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=site_tz).astimezone(UTC)
        except ValueError:
            continue
    raise CqlError(f"invalid date {value!r}")


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _decode_cursor(cursor: str) -> int:
    try:
        offset = json.loads(base64.urlsafe_b64decode(cursor.encode()))["offset"]
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise ValueError("invalid cursor") from exc
    if not isinstance(offset, int) or offset < 0:
        raise ValueError("invalid cursor")
    return offset


def _expansions(expand: str | None) -> set[str]:
    return {part.strip() for part in (expand or "").split(",") if part.strip()}


def _wiki_base(request: Request) -> str:
    return f"{str(request.base_url).rstrip('/')}/wiki"


def _render(page: ConfluencePageSeed, expand: set[str], base: str) -> dict[str, Any]:
    """A ``Content`` object with the requested expansions (and ``_expandable`` for the others)."""
    api = f"{base}/rest/api/content/{page.id}"
    content: dict[str, Any] = {
        "id": page.id,
        "type": page.type,
        "status": page.status,
        "_expandable": {"children": f"{api}/child", "history": f"{api}/history"},
        "_links": {
            "webui": f"/spaces/{page.space_key}/pages/{page.id}/{quote_plus(page.title or '')}",
            "self": api,
            "tinyui": f"/x/{page.id}",
        },
    }
    if page.title is not None:
        content["title"] = page.title
    if "space" in expand:
        content["space"] = {
            "id": sum(ord(char) for char in page.space_key),
            "key": page.space_key,
            "name": page.space_name,
            "type": "global",
            "status": "current",
            "_expandable": {"homepage": "", "description": ""},
            "_links": {
                "webui": f"/spaces/{page.space_key}",
                "self": f"{base}/rest/api/space/{page.space_key}",
            },
        }
    else:
        content["_expandable"]["space"] = f"/rest/api/space/{page.space_key}"
    if "version" in expand:
        content["version"] = {
            "by": {"type": "known", "accountId": "557058:helpdesk-editor", "displayName": "Helpdesk Editor"},
            "when": page.updated.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "number": page.version,
            "minorEdit": False,
            "_expandable": {"content": f"/rest/api/content/{page.id}"},
            "_links": {"self": f"{base}/rest/api/content/{page.id}/version/{page.version}"},
        }
    else:
        content["_expandable"]["version"] = ""
    if ("body.storage" in expand or "body" in expand) and page.body is not None:
        content["body"] = {
            "storage": {
                "value": page.body,
                "representation": "storage",
                "embeddedContent": [],
                "_expandable": {"content": f"/rest/api/content/{page.id}"},
            },
            "_expandable": {
                "view": "",
                "export_view": "",
                "styled_view": "",
                "editor": "",
                "atlas_doc_format": "",
            },
        }
    elif "body.storage" not in expand:
        content["_expandable"]["body"] = ""
    read_expansions = {e for e in expand if e.startswith("restrictions.read.restrictions.")}
    if read_expansions:
        restrictions: dict[str, Any] = {}
        if "restrictions.read.restrictions.group" in read_expansions:
            restrictions["group"] = _array(
                [{"type": "group", "name": name, "id": f"group-{name}"} for name in page.read_groups]
            )
        if "restrictions.read.restrictions.user" in read_expansions:
            restrictions["user"] = _array(
                [
                    {"type": "known", "accountId": account, "accountType": "atlassian"}
                    for account in page.read_users
                ]
            )
        content["restrictions"] = {
            "read": {
                "operation": "read",
                "restrictions": restrictions,
                "_expandable": {"content": f"/rest/api/content/{page.id}"},
                "_links": {"self": f"{base}/rest/api/content/{page.id}/restriction/byOperation/read"},
            },
            "_expandable": {"update": ""},
            "_links": {"self": f"{base}/rest/api/content/{page.id}/restriction/byOperation"},
        }
    else:
        content["_expandable"]["restrictions"] = f"/rest/api/content/{page.id}/restriction/byOperation"
    return content


def _array(results: list[dict[str, Any]]) -> dict[str, Any]:
    return {"results": results, "start": 0, "limit": 200, "size": len(results)}


def _error(status: int, message: str, *, authorized: bool = False) -> JSONResponse:
    """Confluence's error body (``com.atlassian.confluence.api.service.exceptions`` shape)."""
    return JSONResponse(
        {
            "statusCode": status,
            "data": {"authorized": authorized, "valid": True, "errors": [], "successful": False},
            "message": message,
        },
        status_code=status,
    )
