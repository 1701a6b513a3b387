"""Confluence Cloud pages as a ``KnowledgeSource``, read through REST v1 content search (CQL).

Vendor JSON stops here: callers only see ``KnowledgeDocument`` / ``DocumentBatch``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from connectors.errors import RemoteUnavailableError
from connectors.http import JsonHttpClient
from connectors.models import ContentType, DocumentBatch, DocumentFailure, KnowledgeDocument

SYSTEM = "confluence"
_SEARCH_PATH = "wiki/rest/api/content/search"
_DOCUMENT_EXPAND = (
    "body.storage,version,space,restrictions.read.restrictions.group,restrictions.read.restrictions.user"
)
# CQL date literals have minute precision and are read in a timezone we cannot see (the site's or the
# user's, see CONFCLOUD-70966). Moving the lower bound back by the largest offset west of UTC (12 h) makes
# the server return a superset whatever that timezone is; the exact window is then applied on version.when.
_CQL_TIMEZONE_SLACK = timedelta(hours=12)


class ConfluenceKnowledgeSource:
    """Confluence Cloud pages (storage-format XHTML) of some or all spaces.

    ``base_url`` is the site, e.g. ``https://acme.atlassian.net`` (a trailing ``/wiki`` is accepted).
    ``acl`` holds the page's own read-restriction groups, plus ``confluence-user-<accountId>`` for users
    named directly, so that a page restricted to people only is hidden rather than public. Restrictions
    inherited from ancestor pages and space permissions are not visible on the page and are not reflected.
    """

    def __init__(
        self,
        name: str,
        base_url: str,
        email: str,
        api_token: str,
        space_keys: list[str] | None = None,
        cql_extra: str | None = None,
        page_size: int = 25,
        client: JsonHttpClient | None = None,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.name = name
        self._site_url = _site_root(base_url)
        self._space_keys = list(space_keys or [])
        self._cql_extra = cql_extra.strip() if cql_extra and cql_extra.strip() else None
        self._page_size = page_size
        self._client = client or JsonHttpClient(
            system=SYSTEM, base_url=self._site_url, auth=(email, api_token)
        )

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self._client.close()

    def check_connection(self) -> str:
        """One authenticated content search over the configured scope (one result, no retries)."""
        response = self._client.request_json(
            "GET", _SEARCH_PATH, params={"cql": self._scope_cql(), "limit": 1}, attempts=1
        )
        if not isinstance(response, dict) or not isinstance(response.get("results"), list):
            raise _malformed("content search answered without a results list")
        found = "at least one page" if response["results"] else "no pages yet"
        return f"Confluence at {self._site_url} answered: {found} in scope"

    def load_all(self) -> Iterator[DocumentBatch]:
        """Every current page in scope, one batch per search page."""
        for response in self._search(self._scope_cql(), expand=_DOCUMENT_EXPAND):
            batch = self._to_batch(response, window=None)
            if batch.documents or batch.failures:
                yield batch

    def poll(self, since: datetime, until: datetime) -> Iterator[DocumentBatch]:
        """Pages whose current version was saved in ``[since, until)`` (or whose save time is unreadable)."""
        window = _utc_window(since, until)
        lower = (window[0] - _CQL_TIMEZONE_SLACK).strftime("%Y-%m-%d %H:%M")
        cql = f'{self._scope_cql()} AND lastmodified >= "{lower}"'
        for response in self._search(cql, expand=_DOCUMENT_EXPAND):
            batch = self._to_batch(response, window=window)
            if batch.documents or batch.failures:
                yield batch

    def list_document_ids(self) -> Iterator[list[str]]:
        """Ids of every current page in scope, without bodies."""
        for response in self._search(self._scope_cql(), expand=None):
            ids = [str(item["id"]) for item in _results(response) if item.get("id")]
            if ids:
                yield ids

    def _scope_cql(self) -> str:
        clauses = ["type = page"]
        if self._space_keys:
            keys = ", ".join(_cql_string(key) for key in self._space_keys)
            clauses.append(f"space in ({keys})")
        if self._cql_extra:
            clauses.append(f"({self._cql_extra})")
        return " AND ".join(clauses)

    def _search(self, cql: str, *, expand: str | None) -> Iterator[Mapping[str, Any]]:
        """Search responses, following ``_links.next`` (a cursor URL) until there is none."""
        first_params: dict[str, Any] = {"cql": cql, "limit": self._page_size}
        if expand:
            first_params["expand"] = expand
        params: dict[str, Any] | None = first_params
        path = _SEARCH_PATH
        seen: set[str] = set()
        while True:
            response = self._client.request_json("GET", path, params=params)
            if not isinstance(response, dict) or not isinstance(response.get("results"), list):
                raise _malformed("content search answered without a results list")
            yield response
            links = response.get("_links")
            links = links if isinstance(links, dict) else {}
            next_link = links.get("next")
            if not isinstance(next_link, str) or not next_link:
                return
            path = self._next_path(next_link, links.get("context"))
            if path in seen:
                raise _malformed("content search returned the same next link twice")
            seen.add(path)
            params = None  # the next link carries cql, limit, expand and cursor

    def _next_path(self, next_link: str, context: Any) -> str:
        """``_links.next`` is relative to the context path (``/wiki``); absolute links must stay on site."""
        if next_link.startswith(("http://", "https://")):
            if not _same_origin(next_link, self._site_url):
                raise _malformed("content search pointed to another host")
            return next_link
        if not next_link.startswith("/"):
            next_link = "/" + next_link
        context_path = context.rstrip("/") if isinstance(context, str) else "/wiki"
        if context_path and not next_link.startswith(context_path + "/"):
            next_link = context_path + next_link
        return next_link

    def _to_batch(
        self, response: Mapping[str, Any], *, window: tuple[datetime, datetime] | None
    ) -> DocumentBatch:
        links = response.get("_links")
        base = links.get("base") if isinstance(links, dict) else None
        web_base = base.rstrip("/") if isinstance(base, str) and base else f"{self._site_url}/wiki"
        documents: list[KnowledgeDocument] = []
        failures: list[DocumentFailure] = []
        for item in _results(response):
            updated_at = _version_time(item)
            if window is not None and updated_at is not None and not window[0] <= updated_at < window[1]:
                continue
            converted = self._to_document(item, web_base, updated_at)
            if isinstance(converted, DocumentFailure):
                failures.append(converted)
            else:
                documents.append(converted)
        return DocumentBatch(documents=documents, failures=failures)

    def _to_document(
        self, item: Mapping[str, Any], web_base: str, updated_at: datetime | None
    ) -> KnowledgeDocument | DocumentFailure:
        page_id = str(item.get("id") or "")
        if not page_id:
            return self._failure("(missing id)", "page has no id")
        title = item.get("title")
        if not isinstance(title, str) or not title.strip():
            return self._failure(page_id, "page has no title")
        body = _dig(item, "body", "storage", "value")
        if not isinstance(body, str):
            return self._failure(page_id, "page has no storage-format body")
        webui = _dig(item, "_links", "webui")
        space_key = _dig(item, "space", "key")
        space_name = _dig(item, "space", "name")
        version = _dig(item, "version", "number")
        metadata: dict[str, str | int | float | bool] = {}
        if isinstance(space_key, str):
            metadata["space_key"] = space_key
        if isinstance(version, int):
            metadata["version"] = version
        try:
            return KnowledgeDocument(
                source=self.name,
                document_id=page_id,
                title=title.strip(),
                body=body,
                content_type=ContentType.HTML,
                url=f"{web_base}{webui}" if isinstance(webui, str) and webui else None,
                updated_at=updated_at,
                category=space_name if isinstance(space_name, str) else space_key,
                acl=_read_acl(item),
                metadata=metadata,
            )
        except ValidationError as exc:
            return self._failure(page_id, _describe_validation_error(exc))

    def _failure(self, document_id: str, error: str) -> DocumentFailure:
        return DocumentFailure(source=self.name, document_id=document_id, error=error)


def _read_acl(item: Mapping[str, Any]) -> frozenset[str]:
    """Group names (and directly named users) of the page's read restriction; empty means everyone."""
    principals: set[str] = set()
    groups = _dig(item, "restrictions", "read", "restrictions", "group", "results")
    for group in groups if isinstance(groups, list) else []:
        if isinstance(group, dict) and isinstance(group.get("name"), str) and group["name"]:
            principals.add(group["name"])
    users = _dig(item, "restrictions", "read", "restrictions", "user", "results")
    for user in users if isinstance(users, list) else []:
        if isinstance(user, dict) and isinstance(user.get("accountId"), str) and user["accountId"]:
            principals.add(f"confluence-user-{user['accountId']}")
    return frozenset(principals)


def _version_time(item: Mapping[str, Any]) -> datetime | None:
    when = _dig(item, "version", "when")
    if not isinstance(when, str):
        return None
    try:
        parsed = datetime.fromisoformat(when)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _results(response: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    results = response.get("results")
    return [item for item in results if isinstance(item, dict)] if isinstance(results, list) else []


def _dig(value: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _cql_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _site_root(base_url: str) -> str:
    root = base_url.rstrip("/")
    return root[: -len("/wiki")] if root.endswith("/wiki") else root


def _same_origin(url: str, base_url: str) -> bool:
    a, b = urlsplit(url), urlsplit(base_url)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)


def _utc_window(since: datetime, until: datetime) -> tuple[datetime, datetime]:
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("since and until must be timezone-aware")
    return since.astimezone(UTC), until.astimezone(UTC)


def _describe_validation_error(exc: ValidationError) -> str:
    fields = ", ".join(".".join(str(part) for part in error["loc"]) for error in exc.errors())
    return f"page rejected by the document model ({fields})"


def _malformed(message: str) -> RemoteUnavailableError:
    error = RemoteUnavailableError(f"{SYSTEM}: {message}")
    error.system = SYSTEM
    return error
