"""Queries behind the admin article pages: search and filter in SQL, index status, versions.

Functions take a keyword-only ``db_session`` and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.orm import Session

from services.directory.models import Employee, Group
from services.kb.models import (
    Article,
    ArticleOrigin,
    ArticleStatus,
    ArticleVersion,
    Chunk,
    KnowledgeSource,
    article_audience,
)

LOCAL = "local"
"""Source filter value for articles written here (no knowledge source)."""
PUBLIC = "public"
"""Audience filter value for articles every employee may read (no audience group)."""


@dataclass(frozen=True)
class ArticleFilter:
    """Search text and filters of the article list; None means "any"."""

    text: str = ""
    status: ArticleStatus | None = None
    source: str | None = None  # a source id, or LOCAL
    origin: ArticleOrigin | None = None
    audience: str | None = None  # a group id, or PUBLIC


@dataclass(frozen=True)
class IndexStatus:
    """How much of an article's current text is in the index."""

    chunks: int
    indexed: int
    last_indexed_at: datetime | None = None

    @property
    def complete(self) -> bool:
        """True when every chunk is indexed (and there is at least one)."""
        return self.chunks > 0 and self.indexed == self.chunks


@dataclass(frozen=True)
class ArticleRow:
    """One line of the article list."""

    id: int
    title: str
    status: ArticleStatus
    origin: ArticleOrigin
    source_name: str | None
    category: str | None
    current_version: int
    updated_at: datetime
    audience: list[str]
    index: IndexStatus


@dataclass(frozen=True)
class ArticlePage:
    """A page of matching articles, the total, and counts per status for the same search."""

    rows: list[ArticleRow]
    total: int
    page: int
    pages: int
    status_counts: dict[str, int] = field(default_factory=dict)


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


_S = TypeVar("_S", bound=Select[*tuple[Any, ...]])


def _filtered(statement: _S, filters: ArticleFilter, *, with_status: bool) -> _S:
    """Apply the filters to a statement over ``Article`` (the status filter only when asked)."""
    if filters.text.strip():
        pattern = _like(filters.text.strip())
        body_match = exists().where(
            ArticleVersion.article_id == Article.id,
            ArticleVersion.version == Article.current_version,
            func.lower(ArticleVersion.body_markdown).like(pattern, escape="\\"),
        )
        statement = statement.where(or_(func.lower(Article.title).like(pattern, escape="\\"), body_match))
    if with_status and filters.status is not None:
        statement = statement.where(Article.status == filters.status)
    if filters.source == LOCAL:
        statement = statement.where(Article.source_id.is_(None))
    elif filters.source is not None and filters.source.isdigit():
        statement = statement.where(Article.source_id == int(filters.source))
    if filters.origin is not None:
        statement = statement.where(Article.origin == filters.origin)
    in_group = exists().where(article_audience.c.article_id == Article.id)
    if filters.audience == PUBLIC:
        statement = statement.where(~in_group)
    elif filters.audience is not None and filters.audience.isdigit():
        statement = statement.where(in_group.where(article_audience.c.group_id == int(filters.audience)))
    return statement


def index_status_by_article(*, db_session: Session, article_ids: list[int]) -> dict[int, IndexStatus]:
    """Chunk counts, indexed counts and the last indexing time per article."""
    if not article_ids:
        return {}
    rows = db_session.execute(
        select(
            Chunk.article_id, func.count(Chunk.id), func.count(Chunk.indexed_at), func.max(Chunk.indexed_at)
        )
        .where(Chunk.article_id.in_(article_ids))
        .group_by(Chunk.article_id)
    )
    return {int(aid): IndexStatus(int(total), int(done), last) for aid, total, done, last in rows}


def audience_by_article(*, db_session: Session, article_ids: list[int]) -> dict[int, list[str]]:
    """Audience group names per article, sorted."""
    found: dict[int, list[str]] = {}
    if not article_ids:
        return found
    rows = db_session.execute(
        select(article_audience.c.article_id, Group.name)
        .join(Group, Group.id == article_audience.c.group_id)
        .where(article_audience.c.article_id.in_(article_ids))
        .order_by(Group.name)
    )
    for article_id, name in rows:
        found.setdefault(int(article_id), []).append(str(name))
    return found


def search_articles(
    *, db_session: Session, filters: ArticleFilter, page: int = 1, per_page: int = 25, sort: str = "updated"
) -> ArticlePage:
    """Articles matching ``filters`` (title or current text contains ``text``), newest change first."""
    total: int = db_session.scalar(_filtered(select(func.count(Article.id)), filters, with_status=True)) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    counts: dict[ArticleStatus, int] = dict(
        db_session.execute(
            _filtered(select(Article.status, func.count(Article.id)), filters, with_status=False).group_by(
                Article.status
            )
        ).all()
    )
    order = (Article.title, Article.id) if sort == "title" else (Article.updated_at.desc(), Article.id.desc())
    statement = (
        _filtered(select(Article, KnowledgeSource.name), filters, with_status=True)
        .outerjoin(KnowledgeSource, KnowledgeSource.id == Article.source_id)
        .order_by(*order)
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    found = [(article, source_name) for article, source_name in db_session.execute(statement)]
    ids = [article.id for article, _ in found]
    index = index_status_by_article(db_session=db_session, article_ids=ids)
    audience = audience_by_article(db_session=db_session, article_ids=ids)
    rows = [
        ArticleRow(
            id=article.id,
            title=article.title,
            status=article.status,
            origin=article.origin,
            source_name=source_name,
            category=article.category,
            current_version=article.current_version,
            updated_at=article.updated_at,
            audience=audience.get(article.id, []),
            index=index.get(article.id, IndexStatus(0, 0)),
        )
        for article, source_name in found
    ]
    return ArticlePage(rows, total, page, pages, {str(k.value): int(v) for k, v in counts.items()})


def filter_choices(*, db_session: Session) -> dict[str, list[tuple[str, str]]]:
    """(value, label) options for the source and audience filters."""
    sources = [
        (str(sid), name)
        for sid, name in db_session.execute(
            select(KnowledgeSource.id, KnowledgeSource.name).order_by(KnowledgeSource.name)
        )
    ]
    groups = [
        (str(gid), name)
        for gid, name in db_session.execute(select(Group.id, Group.name).order_by(Group.name))
    ]
    return {"sources": [(LOCAL, "Written here"), *sources], "groups": [(PUBLIC, "Everyone"), *groups]}


def all_group_names(*, db_session: Session) -> list[str]:
    """Every directory group name, sorted (the audience picker)."""
    return list(db_session.scalars(select(Group.name).order_by(Group.name)))


@dataclass(frozen=True)
class VersionRow:
    """One version in the history list."""

    version: int
    title: str
    change_note: str | None
    author: str | None
    created_at: datetime


def list_versions(*, db_session: Session, article_id: int) -> list[VersionRow]:
    """Every version of an article with its author's name, newest first."""
    rows = db_session.execute(
        select(ArticleVersion, Employee.display_name)
        .outerjoin(Employee, Employee.id == ArticleVersion.author_id)
        .where(ArticleVersion.article_id == article_id)
        .order_by(ArticleVersion.version.desc())
    )
    return [VersionRow(v.version, v.title, v.change_note, author, v.created_at) for v, author in rows]


def get_version(*, db_session: Session, article_id: int, version: int) -> ArticleVersion | None:
    """One version of an article."""
    return db_session.scalar(
        select(ArticleVersion).where(
            and_(ArticleVersion.article_id == article_id, ArticleVersion.version == version)
        )
    )
