"""Zendesk Help Center API emulator: list articles, show article, incremental article export.

Follows Zendesk's public reference: cursor pagination (``page[size]`` up to 100, ``page[after]``,
``meta.has_more`` / ``after_cursor``, absolute ``links.next``), offset pagination (``page`` /
``per_page``, ``next_page``) and the incremental export (``start_time`` in epoch seconds; ``next_page``
restarts at ``end_time``, the last change on the page, and is given on every non-empty page, so the
last page links to itself). Errors use ``{"error": ..., "description": ...}``. Anonymous callers see
published articles without a user segment; a wrong token is refused with 401.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from datetime import UTC
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.emulators.fixtures_kb import ZendeskArticleSeed
from tests.emulators.harness import EmulatorState, build_emulator_app

_MAX_CURSOR_PAGE_SIZE = 100
_DEFAULT_PER_PAGE = 30


def build_app(
    articles: Sequence[ZendeskArticleSeed],
    *,
    user: str,
    secret: str,
    incremental_page_size: int = 1000,
    legacy_offset_per_page: int | None = None,
) -> tuple[FastAPI, EmulatorState]:
    """A Help Center holding ``articles``; ``user`` is the agent's email and ``secret`` their API token.

    ``legacy_offset_per_page`` makes the listing ignore cursor parameters and page by offset with that
    default page size, as endpoints without cursor support do.
    """
    app, state = build_emulator_app("zendesk")
    ordered = sorted(articles, key=lambda article: article.id)
    locales = {"en-us"} | {article.locale.lower() for article in articles}
    expected_auth = "Basic " + base64.b64encode(f"{user}/token:{secret}".encode()).decode()

    def caller(request: Request) -> str:
        header = request.headers.get("authorization")
        if header is None:
            return "anonymous"
        return "agent" if header == expected_auth else "invalid"

    # Registered before the {locale} routes, which would otherwise take "incremental" for a locale.
    @app.get("/api/v2/help_center/incremental/articles.json")
    @app.get("/api/v2/help_center/incremental/articles")
    def incremental_articles(request: Request) -> JSONResponse:
        who = caller(request)
        if who != "agent":
            return _unauthenticated() if who == "invalid" else _error(403, "Forbidden", "Agents only")
        try:
            start_time = int(request.query_params["start_time"])
        except (KeyError, ValueError):
            return _error(400, "InvalidValue", "start_time must be an epoch time in seconds")
        changed = sorted(
            (article for article in ordered if article.updated.timestamp() >= start_time),
            key=lambda article: (article.updated, article.id),
        )
        page = changed[:incremental_page_size]
        end_time = int(page[-1].updated.timestamp()) if page else start_time
        base = _base(request)
        return JSONResponse(
            {
                "articles": [_render(article, base) for article in page],
                "next_page": (
                    f"{base}/api/v2/help_center/incremental/articles.json?start_time={end_time}"
                    if page
                    else None
                ),
                "end_time": end_time,
                "count": len(page),
            }
        )

    @app.get("/api/v2/help_center/{locale}/articles.json")
    @app.get("/api/v2/help_center/{locale}/articles")
    def list_articles(locale: str, request: Request) -> JSONResponse:
        who = caller(request)
        if who == "invalid":
            return _unauthenticated()
        if locale.lower() not in locales:
            return _error(404, "RecordNotFound", "Not found")
        visible = [
            article
            for article in ordered
            if article.locale.lower() == locale.lower()
            and (who == "agent" or (not article.draft and article.user_segment_id is None))
        ]
        params = request.query_params
        base = _base(request)
        url = f"{base}/api/v2/help_center/{locale}/articles.json"
        cursor_requested = any(key.startswith("page[") for key in params)
        if cursor_requested and legacy_offset_per_page is None:
            return _cursor_page(visible, params, url, base)
        return _offset_page(visible, params, url, base, legacy_offset_per_page or _DEFAULT_PER_PAGE)

    @app.get("/api/v2/help_center/{locale}/articles/{article_ref}")
    def show_article(locale: str, article_ref: str, request: Request) -> JSONResponse:
        who = caller(request)
        if who == "invalid":
            return _unauthenticated()
        article_id = article_ref.removesuffix(".json")
        for article in ordered:
            if str(article.id) == article_id and article.locale.lower() == locale.lower():
                if who == "agent" or (not article.draft and article.user_segment_id is None):
                    return JSONResponse({"article": _render(article, _base(request))})
        return _error(404, "RecordNotFound", "Not found")

    return app, state


def _cursor_page(visible: list[ZendeskArticleSeed], params: Any, url: str, base: str) -> JSONResponse:
    try:
        size = int(params.get("page[size]", str(_DEFAULT_PER_PAGE)))
        after = _decode_cursor(params["page[after]"]) if "page[after]" in params else None
    except ValueError:
        return _error(400, "InvalidPaginationParameter", "page[size] or page[after] is invalid")
    if not 1 <= size <= _MAX_CURSOR_PAGE_SIZE:
        return _error(
            400, "InvalidPaginationParameter", f"page[size] must be at most {_MAX_CURSOR_PAGE_SIZE}"
        )
    remaining = [article for article in visible if after is None or article.id > after]
    page = remaining[:size]
    after_cursor = _encode_cursor(page[-1].id) if page else None
    before_cursor = _encode_cursor(page[0].id) if page else None
    # Zendesk fills links.next whenever there is an after cursor; meta.has_more says whether to follow it.
    return JSONResponse(
        {
            "articles": [_render(article, base) for article in page],
            "meta": {
                "has_more": len(remaining) > size,
                "after_cursor": after_cursor,
                "before_cursor": before_cursor,
            },
            "links": {
                "next": f"{url}?{urlencode({'page[after]': after_cursor, 'page[size]': size})}"
                if after_cursor
                else None,
                "prev": f"{url}?{urlencode({'page[before]': before_cursor, 'page[size]': size})}"
                if before_cursor
                else None,
            },
        }
    )


def _offset_page(
    visible: list[ZendeskArticleSeed], params: Any, url: str, base: str, default_per_page: int
) -> JSONResponse:
    try:
        per_page = min(int(params.get("per_page", str(default_per_page))), 100)
        number = int(params.get("page", "1"))
    except ValueError:
        return _error(400, "InvalidPaginationParameter", "page and per_page must be integers")
    if per_page < 1 or number < 1:
        return _error(400, "InvalidPaginationParameter", "page and per_page must be positive")
    page_count = max(1, -(-len(visible) // per_page))
    page = visible[(number - 1) * per_page : number * per_page]
    return JSONResponse(
        {
            "articles": [_render(article, base) for article in page],
            "page": number,
            "per_page": per_page,
            "page_count": page_count,
            "count": len(visible),
            "next_page": f"{url}?{urlencode({'page': number + 1, 'per_page': per_page})}"
            if number < page_count
            else None,
            "previous_page": f"{url}?{urlencode({'page': number - 1, 'per_page': per_page})}"
            if number > 1
            else None,
            "sort_by": "position",
            "sort_order": "asc",
        }
    )


def _render(article: ZendeskArticleSeed, base: str) -> dict[str, Any]:
    when = article.updated.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    slug = re.sub(r"[^a-z0-9]+", "-", (article.title or "").lower()).strip("-")
    segment_ids = [article.user_segment_id] if article.user_segment_id is not None else []
    return {
        "id": article.id,
        "url": f"{base}/api/v2/help_center/{article.locale}/articles/{article.id}.json",
        "html_url": f"{base}/hc/{article.locale}/articles/{article.id}-{slug}",
        "author_id": 9001,
        "comments_disabled": False,
        "draft": article.draft,
        "promoted": False,
        "position": 0,
        "vote_sum": 0,
        "vote_count": 0,
        "section_id": article.section_id,
        "created_at": when,
        "updated_at": when,
        "edited_at": when,
        "name": article.title,
        "title": article.title,
        "source_locale": article.locale,
        "locale": article.locale,
        "outdated": False,
        "outdated_locales": [],
        "permission_group_id": 1,
        "user_segment_id": article.user_segment_id,
        "user_segment_ids": segment_ids,
        "label_names": list(article.label_names),
        "content_tag_ids": [],
        "body": article.body,
    }


def _encode_cursor(article_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{article_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("invalid cursor") from exc
    if not text.startswith("id:"):
        raise ValueError("invalid cursor")
    return int(text[3:])


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _unauthenticated() -> JSONResponse:
    return JSONResponse({"error": "Couldn't authenticate you"}, status_code=401)


def _error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "description": description}, status_code=status)
