"""ServiceNow Knowledge Management articles as a ``KnowledgeSource``, read through the Table API.

Vendor JSON stops here: callers only see ``KnowledgeDocument`` / ``DocumentBatch``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from connectors.errors import RemoteUnavailableError
from connectors.http import JsonHttpClient
from connectors.models import ContentType, DocumentBatch, DocumentFailure, KnowledgeDocument

SYSTEM = "servicenow"
_TABLE_PATH = "api/now/table/kb_knowledge"
_DOCUMENT_FIELDS = (
    "sys_id,number,short_description,text,sys_updated_on,kb_category,roles,can_read_user_criteria"
)
_SYS_ID = re.compile(r"^[0-9a-f]{32}$")
# glide_date_time values travel as UTC "yyyy-MM-dd HH:mm:ss"; a literal in an encoded query is read as UTC
# too (unlike javascript:gs.dateGenerate(), which uses the caller's timezone).
_GLIDE_TIME = "%Y-%m-%d %H:%M:%S"


class ServiceNowKnowledgeSource:
    """Published ``kb_knowledge`` articles, optionally of some knowledge bases only (basic auth).

    ``acl`` holds the article's ``roles`` plus ``servicenow-user-criteria-<sys_id>`` for each "Can read"
    user criterion, so that an article gated by criteria is hidden rather than public. Knowledge-base
    level user criteria are not read. Pagination is by offset and stops at the first short page: the
    Table API trims rows the integration user may not read *after* paging, so that user needs read access
    to every article in scope (a short page mid-stream would otherwise end the walk early).
    """

    def __init__(
        self,
        name: str,
        instance_url: str,
        username: str,
        password: str,
        knowledge_base_sys_ids: list[str] | None = None,
        page_size: int = 100,
        client: JsonHttpClient | None = None,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        bad = [sys_id for sys_id in knowledge_base_sys_ids or [] if not _SYS_ID.match(sys_id)]
        if bad:
            raise ValueError(f"not ServiceNow sys_ids (32 lowercase hex characters): {bad}")
        self.name = name
        self._instance_url = instance_url.rstrip("/")
        self._knowledge_bases = list(knowledge_base_sys_ids or [])
        self._page_size = page_size
        self._client = client or JsonHttpClient(
            system=SYSTEM, base_url=self._instance_url, auth=(username, password)
        )

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self._client.close()

    def check_connection(self) -> str:
        """One authenticated Table API read of a single published article in scope (no retries)."""
        reply = self._client.request(
            "GET",
            _TABLE_PATH,
            params={"sysparm_query": self._query(), "sysparm_fields": "sys_id", "sysparm_limit": 1},
            attempts=1,
        )
        if not isinstance(reply.body, dict) or not isinstance(reply.body.get("result"), list):
            raise _malformed("Table API answered without a result list")
        total = reply.headers.get("X-Total-Count")
        found = f"{total} published articles" if total else "published articles readable"
        return f"ServiceNow at {self._instance_url} answered: {found} in scope"

    def load_all(self) -> Iterator[DocumentBatch]:
        """Every published article in scope, one batch per Table API page."""
        for records in self._pages(self._query(), _DOCUMENT_FIELDS, display_values=True):
            batch = self._to_batch(records, window=None)
            if batch.documents or batch.failures:
                yield batch

    def poll(self, since: datetime, until: datetime) -> Iterator[DocumentBatch]:
        """Published articles whose ``sys_updated_on`` (whole seconds) falls in ``[since, until)``."""
        if since.tzinfo is None or until.tzinfo is None:
            raise ValueError("since and until must be timezone-aware")
        # sys_updated_on has whole seconds: a change at 10:00:00.7 is stored as 10:00:00, so the lower
        # bound is floored to the second (returning a little more rather than missing that change).
        lower = since.astimezone(UTC).replace(microsecond=0)
        window = (lower, until.astimezone(UTC))
        query = self._query(f"sys_updated_on>={lower.strftime(_GLIDE_TIME)}")
        for records in self._pages(query, _DOCUMENT_FIELDS, display_values=True):
            batch = self._to_batch(records, window=window)
            if batch.documents or batch.failures:
                yield batch

    def list_document_ids(self) -> Iterator[list[str]]:
        """sys_ids of every published article in scope, without bodies."""
        for records in self._pages(self._query(), "sys_id", display_values=False):
            ids = [sys_id for record in records if (sys_id := _value(record, "sys_id"))]
            if ids:
                yield ids

    def _query(self, *conditions: str) -> str:
        """An encoded query; ordering by sys_id keeps offset pages stable."""
        parts = ["workflow_state=published"]
        if self._knowledge_bases:
            parts.append("kb_knowledge_baseIN" + ",".join(self._knowledge_bases))
        parts.extend(conditions)
        parts.append("ORDERBYsys_id")
        return "^".join(parts)

    def _pages(self, query: str, fields: str, *, display_values: bool) -> Iterator[list[Mapping[str, Any]]]:
        offset = 0
        while True:
            response = self._client.request_json(
                "GET",
                _TABLE_PATH,
                params={
                    "sysparm_query": query,
                    "sysparm_fields": fields,
                    "sysparm_limit": self._page_size,
                    "sysparm_offset": offset,
                    # "all" gives the UTC value *and* the display value (category name) of each field.
                    "sysparm_display_value": "all" if display_values else "false",
                    "sysparm_exclude_reference_link": "true",
                },
            )
            result = response.get("result") if isinstance(response, dict) else None
            if not isinstance(result, list):
                raise _malformed("Table API answered without a result list")
            records: list[Mapping[str, Any]] = [record for record in result if isinstance(record, dict)]
            if records:
                yield records
            if len(result) < self._page_size:
                return
            offset += self._page_size

    def _to_batch(
        self, records: list[Mapping[str, Any]], *, window: tuple[datetime, datetime] | None
    ) -> DocumentBatch:
        documents: list[KnowledgeDocument] = []
        failures: list[DocumentFailure] = []
        for record in records:
            updated_at = _glide_time(_value(record, "sys_updated_on"))
            if window is not None and updated_at is not None and not window[0] <= updated_at < window[1]:
                continue
            converted = self._to_document(record, updated_at)
            if isinstance(converted, DocumentFailure):
                failures.append(converted)
            else:
                documents.append(converted)
        return DocumentBatch(documents=documents, failures=failures)

    def _to_document(
        self, record: Mapping[str, Any], updated_at: datetime | None
    ) -> KnowledgeDocument | DocumentFailure:
        sys_id = _value(record, "sys_id")
        number = _value(record, "number")
        if not sys_id:
            return self._failure(number or "(missing sys_id)", "article has no sys_id")
        title = _value(record, "short_description").strip()
        if not title:
            return self._failure(sys_id, "article has no short_description")
        body = _value(record, "text")
        if not body.strip():
            return self._failure(sys_id, "article has no text")
        category = _display_value(record, "kb_category")
        try:
            return KnowledgeDocument(
                source=self.name,
                document_id=sys_id,
                title=title,
                body=body,
                content_type=ContentType.HTML,
                url=f"{self._instance_url}/kb_view.do?sysparm_article={number}" if number else None,
                updated_at=updated_at,
                category=category or None,
                acl=_read_acl(record),
                metadata={"number": number} if number else {},
            )
        except ValidationError as exc:
            fields = ", ".join(".".join(str(part) for part in error["loc"]) for error in exc.errors())
            return self._failure(sys_id, f"article rejected by the document model ({fields})")

    def _failure(self, document_id: str, error: str) -> DocumentFailure:
        return DocumentFailure(source=self.name, document_id=document_id, error=error)


def _read_acl(record: Mapping[str, Any]) -> frozenset[str]:
    """Role names, plus one entry per "Can read" user criterion; empty means every employee."""
    roles = {role.strip() for role in _value(record, "roles").split(",") if role.strip()}
    criteria = {
        f"servicenow-user-criteria-{criterion.strip()}"
        for criterion in _value(record, "can_read_user_criteria").split(",")
        if criterion.strip()
    }
    return frozenset(roles | criteria)


def _value(record: Mapping[str, Any], field: str) -> str:
    """The stored value of a field, whether the response carries plain values or value/display pairs."""
    raw = record.get(field)
    if isinstance(raw, dict):
        raw = raw.get("value")
    return raw if isinstance(raw, str) else ""


def _display_value(record: Mapping[str, Any], field: str) -> str:
    raw = record.get(field)
    if isinstance(raw, dict):
        raw = raw.get("display_value")
    return raw if isinstance(raw, str) else ""


def _glide_time(value: str) -> datetime | None:
    try:
        return datetime.strptime(value, _GLIDE_TIME).replace(tzinfo=UTC)
    except ValueError:
        return None


def _malformed(message: str) -> RemoteUnavailableError:
    error = RemoteUnavailableError(f"{SYSTEM}: {message}")
    error.system = SYSTEM
    return error
