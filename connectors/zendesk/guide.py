"""Zendesk Guide (Help Center) articles as a ``KnowledgeSource``.

Vendor JSON stops here: callers only see ``KnowledgeDocument`` / ``DocumentBatch``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from pydantic import ValidationError

from connectors.errors import RemoteUnavailableError
from connectors.http import JsonHttpClient
from connectors.models import ContentType, DocumentBatch, DocumentFailure, KnowledgeDocument

logger = logging.getLogger(__name__)

SYSTEM = "zendesk"
_INCREMENTAL_PATH = "api/v2/help_center/incremental/articles.json"
_MAX_CURSOR_PAGE_SIZE = 100
_INCREMENTAL_PAGE_SIZE = 1000  # fixed by Zendesk


class ZendeskGuideSource:
    """Published Help Center articles of one locale (Basic auth ``{email}/token:{api_token}``).

    Drafts are skipped. ``acl`` is ``{"zendesk-segment-<id>"}`` for articles limited to user segments and
    empty for articles everyone can see. ``poll`` uses the incremental export, which needs an agent or
    admin token and reports articles in their source locale; translations changed alone are not seen.
    """

    def __init__(
        self,
        name: str,
        base_url: str,
        email: str,
        api_token: str,
        locale: str = "en-us",
        page_size: int = 100,
        client: JsonHttpClient | None = None,
    ) -> None:
        if not 1 <= page_size <= _MAX_CURSOR_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {_MAX_CURSOR_PAGE_SIZE}")
        self.name = name
        self._base_url = base_url.rstrip("/")
        self._locale = locale
        self._page_size = page_size
        self._client = client or JsonHttpClient(
            system=SYSTEM, base_url=self._base_url, auth=(f"{email}/token", api_token)
        )

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self._client.close()

    def check_connection(self) -> str:
        """One authenticated read of the locale's article listing (one article, no retries)."""
        path = f"api/v2/help_center/{quote(self._locale, safe='')}/articles.json"
        response = self._client.request_json("GET", path, params={"page[size]": 1}, attempts=1)
        if not isinstance(response, dict) or not isinstance(response.get("articles"), list):
            raise _malformed("the article listing has no articles list")
        found = "at least one article" if response["articles"] else "no articles yet"
        return f"Zendesk Guide at {self._base_url} answered: {found} in locale {self._locale}"

    def load_all(self) -> Iterator[DocumentBatch]:
        """Every published article of the locale, one batch per listing page."""
        for articles in self._list_pages():
            batch = self._to_batch(articles, window=None, seen=None)
            if batch.documents or batch.failures:
                yield batch

    def poll(self, since: datetime, until: datetime) -> Iterator[DocumentBatch]:
        """Published articles of the locale whose ``updated_at`` (whole seconds) is in ``[since, until)``."""
        if since.tzinfo is None or until.tzinfo is None:
            raise ValueError("since and until must be timezone-aware")
        # Zendesk times have whole seconds: floor the lower bound rather than miss a change at since+0.5 s.
        start_time = math.floor(since.timestamp())
        window = (datetime.fromtimestamp(start_time, UTC), until.astimezone(UTC))
        seen: set[tuple[str, datetime | None]] = set()
        for articles in self._incremental_pages(start_time, until.timestamp()):
            batch = self._to_batch(articles, window=window, seen=seen)
            if batch.documents or batch.failures:
                yield batch

    def list_document_ids(self) -> Iterator[list[str]]:
        """Ids of every published article of the locale (the listing has no lighter form)."""
        for articles in self._list_pages():
            ids = [str(a["id"]) for a in articles if a.get("id") is not None and a.get("draft") is not True]
            if ids:
                yield ids

    def _list_pages(self) -> Iterator[list[Mapping[str, Any]]]:
        """Cursor pagination (``page[size]``, ``meta.has_more``, ``links.next``); legacy ``next_page`` too."""
        path = f"api/v2/help_center/{quote(self._locale, safe='')}/articles.json"
        params: dict[str, Any] | None = {"page[size]": self._page_size}
        seen_links: set[str] = set()
        while True:
            response = self._client.request_json("GET", path, params=params)
            yield _articles(response)
            next_link = _next_list_link(response)
            if next_link is None:
                return
            path = self._checked_link(next_link, seen_links)
            params = None

    def _incremental_pages(self, start_time: int, until_ts: float) -> Iterator[list[Mapping[str, Any]]]:
        """Incremental export pages: ``next_page`` restarts at ``end_time``, the last change on the page."""
        path = _INCREMENTAL_PATH
        params: dict[str, Any] | None = {"start_time": start_time}
        seen_links: set[str] = set()
        while True:
            response = self._client.request_json("GET", path, params=params)
            articles = _articles(response)
            yield articles
            end_time = response.get("end_time")
            next_page = response.get("next_page")
            if not articles or not isinstance(next_page, str) or not next_page:
                return
            if not isinstance(end_time, int):
                raise _malformed("incremental export page has no end_time")
            if end_time >= until_ts:
                return  # later pages hold only changes at or after until
            if end_time <= start_time:
                # The next page would start where this one did: this is the end of the stream (Zendesk then
                # keeps linking to itself). A full page at one second cannot be paged past; say so.
                if len(articles) >= _INCREMENTAL_PAGE_SIZE:
                    logger.warning(
                        "incremental export stuck at one second; later changes are deferred",
                        extra={"system": SYSTEM, "start_time": start_time},
                    )
                return
            start_time = end_time
            path = self._checked_link(next_page, seen_links)
            params = None

    def _checked_link(self, link: str, seen_links: set[str]) -> str:
        """A next-page link, refused when it leaves the configured host (it would carry our credentials)."""
        if link.startswith(("http://", "https://")):
            a, b = urlsplit(link), urlsplit(self._base_url)
            if (a.scheme, a.netloc) != (b.scheme, b.netloc):
                raise _malformed("pagination pointed to another host")
        if link in seen_links:
            raise _malformed("pagination returned the same next link twice")
        seen_links.add(link)
        return link

    def _to_batch(
        self,
        articles: list[Mapping[str, Any]],
        *,
        window: tuple[datetime, datetime] | None,
        seen: set[tuple[str, datetime | None]] | None,
    ) -> DocumentBatch:
        documents: list[KnowledgeDocument] = []
        failures: list[DocumentFailure] = []
        for article in articles:
            if article.get("draft") is True:
                continue
            locale = article.get("locale")
            if isinstance(locale, str) and locale.lower() != self._locale.lower():
                continue
            updated_at = _iso_time(article.get("updated_at"))
            if window is not None and updated_at is not None and not window[0] <= updated_at < window[1]:
                continue
            if seen is not None:
                # Incremental pages overlap at end_time: the same version may come twice.
                key = (str(article.get("id")), updated_at)
                if key in seen:
                    continue
                seen.add(key)
            converted = self._to_document(article, updated_at)
            if isinstance(converted, DocumentFailure):
                failures.append(converted)
            else:
                documents.append(converted)
        return DocumentBatch(documents=documents, failures=failures)

    def _to_document(
        self, article: Mapping[str, Any], updated_at: datetime | None
    ) -> KnowledgeDocument | DocumentFailure:
        raw_id = article.get("id")
        if raw_id is None or raw_id == "":
            return self._failure("(missing id)", "article has no id")
        article_id = str(raw_id)
        title = article.get("title")
        if not isinstance(title, str) or not title.strip():
            return self._failure(article_id, "article has no title")
        body = article.get("body")
        if not isinstance(body, str):
            return self._failure(article_id, "article has no body")
        html_url = article.get("html_url")
        metadata: dict[str, str | int | float | bool] = {}
        section_id = article.get("section_id")
        if isinstance(section_id, int):
            metadata["section_id"] = section_id
        labels = article.get("label_names")
        if isinstance(labels, list) and labels:
            metadata["labels"] = ",".join(str(label) for label in labels)
        try:
            return KnowledgeDocument(
                source=self.name,
                document_id=article_id,
                title=title.strip(),
                body=body,
                content_type=ContentType.HTML,
                url=html_url if isinstance(html_url, str) and html_url else None,
                updated_at=updated_at,
                acl=_read_acl(article),
                metadata=metadata,
            )
        except ValidationError as exc:
            fields = ", ".join(".".join(str(part) for part in error["loc"]) for error in exc.errors())
            return self._failure(article_id, f"article rejected by the document model ({fields})")

    def _failure(self, document_id: str, error: str) -> DocumentFailure:
        return DocumentFailure(source=self.name, document_id=document_id, error=error)


def _read_acl(article: Mapping[str, Any]) -> frozenset[str]:
    """One ``zendesk-segment-<id>`` per user segment the article is limited to; empty means everyone."""
    segments: list[Any] = [article.get("user_segment_id")]
    extra = article.get("user_segment_ids")
    if isinstance(extra, list):
        segments.extend(extra)
    return frozenset(f"zendesk-segment-{segment}" for segment in segments if isinstance(segment, int | str))


def _next_list_link(response: Mapping[str, Any]) -> str | None:
    meta = response.get("meta")
    if isinstance(meta, dict) and "has_more" in meta:
        if meta.get("has_more") is not True:
            return None
        links = response.get("links")
        next_link = links.get("next") if isinstance(links, dict) else None
        if not isinstance(next_link, str) or not next_link:
            raise _malformed("has_more is true but links.next is missing")
        return next_link
    next_page = response.get("next_page")  # offset pagination
    return next_page if isinstance(next_page, str) and next_page else None


def _articles(response: Any) -> list[Mapping[str, Any]]:
    articles = response.get("articles") if isinstance(response, dict) else None
    if not isinstance(articles, list):
        raise _malformed("response has no articles list")
    return [article for article in articles if isinstance(article, dict)]


def _iso_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _malformed(message: str) -> RemoteUnavailableError:
    error = RemoteUnavailableError(f"{SYSTEM}: {message}")
    error.system = SYSTEM
    return error
