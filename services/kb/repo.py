"""Knowledge-base queries. Functions take a keyword-only ``db_session`` and never commit."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import and_, delete, select, update
from sqlalchemy.orm import Session, selectinload

from services.common.db import utcnow
from services.directory.models import Group
from services.kb.models import Article, ArticleStatus, ArticleVersion, Chunk, KnowledgeSource


def get_or_create_source(
    *, db_session: Session, name: str, kind: str, config: dict[str, object]
) -> KnowledgeSource:
    """The knowledge source row called ``name``, created when missing (kind and config updated)."""
    source = db_session.scalar(select(KnowledgeSource).where(KnowledgeSource.name == name))
    if source is None:
        source = KnowledgeSource(name=name, kind=kind, config=dict(config))
        db_session.add(source)
        db_session.flush()
    elif source.kind != kind or (config and source.config != config):
        source.kind = kind
        source.config = {**source.config, **config}
    return source


def get_source_by_name(*, db_session: Session, name: str) -> KnowledgeSource | None:
    """The knowledge source row called ``name``."""
    return db_session.scalar(select(KnowledgeSource).where(KnowledgeSource.name == name))


def ensure_groups(*, db_session: Session, names: Collection[str]) -> dict[str, Group]:
    """Group rows for these names, creating the missing ones."""
    if not names:
        return {}
    found = {g.name: g for g in db_session.scalars(select(Group).where(Group.name.in_(list(names))))}
    for name in sorted(set(names) - set(found)):
        group = Group(name=name, source="knowledge")
        db_session.add(group)
        found[name] = group
    return found


def articles_by_external_ids(
    *, db_session: Session, source_id: int, external_ids: Sequence[str]
) -> dict[str, Article]:
    """Articles of a source keyed by external id, with chunks and audience loaded."""
    if not external_ids:
        return {}
    rows = db_session.scalars(
        select(Article)
        .where(Article.source_id == source_id, Article.external_id.in_(list(external_ids)))
        .options(selectinload(Article.chunks), selectinload(Article.audience))
    )
    return {article.external_id: article for article in rows if article.external_id is not None}


def current_version_hashes(*, db_session: Session, article_ids: Sequence[int]) -> dict[int, str]:
    """Content hash of each article's current version."""
    if not article_ids:
        return {}
    rows = db_session.execute(
        select(ArticleVersion.article_id, ArticleVersion.content_hash)
        .join(
            Article,
            and_(Article.id == ArticleVersion.article_id, Article.current_version == ArticleVersion.version),
        )
        .where(Article.id.in_(list(article_ids)))
    )
    return {int(row[0]): str(row[1]) for row in rows}


def last_synced_hashes(*, db_session: Session, article_ids: Sequence[int]) -> dict[int, str]:
    """Content hash of each article's latest version written by a sync (no author), not by an editor."""
    if not article_ids:
        return {}
    rows = db_session.execute(
        select(ArticleVersion.article_id, ArticleVersion.version, ArticleVersion.content_hash)
        .where(ArticleVersion.article_id.in_(list(article_ids)), ArticleVersion.author_id.is_(None))
        .order_by(ArticleVersion.article_id, ArticleVersion.version)
    )
    return {int(article_id): str(content_hash) for article_id, _version, content_hash in rows}


def articles_of_source_except(*, db_session: Session, source_id: int, keep: Collection[str]) -> list[Article]:
    """Articles of a source whose external id is not in ``keep`` (documents gone from the source)."""
    rows = db_session.scalars(
        select(Article).where(Article.source_id == source_id).options(selectinload(Article.chunks))
    )
    return [article for article in rows if article.external_id not in keep]


def mark_chunks_indexed(*, db_session: Session, chunk_ids: Sequence[str]) -> None:
    """Record that these chunks are in the indexes now."""
    now = utcnow()
    for start in range(0, len(chunk_ids), 500):
        db_session.execute(
            update(Chunk).where(Chunk.id.in_(list(chunk_ids[start : start + 500]))).values(indexed_at=now)
        )


def delete_chunks(*, db_session: Session, chunk_ids: Sequence[str]) -> None:
    """Delete chunk rows by id."""
    for start in range(0, len(chunk_ids), 500):
        db_session.execute(delete(Chunk).where(Chunk.id.in_(list(chunk_ids[start : start + 500]))))


@dataclass(frozen=True)
class SearchableChunk:
    """What the lexical index needs of one chunk of a published article."""

    chunk_id: str
    title: str
    heading_path: str
    text: str
    audience: frozenset[str]


def iter_searchable_chunks(*, db_session: Session) -> Iterator[SearchableChunk]:
    """Indexed chunks of published articles with their article title and audience, in id order."""
    audiences: dict[int, set[str]] = {}
    for article_id, group_name in db_session.execute(
        select(Article.id, Group.name).join(Article.audience).where(Article.status == ArticleStatus.PUBLISHED)
    ):
        audiences.setdefault(article_id, set()).add(group_name)
    rows = db_session.execute(
        select(Chunk.id, Chunk.article_id, Article.title, Chunk.heading_path, Chunk.text)
        .join(Article, Article.id == Chunk.article_id)
        .where(Article.status == ArticleStatus.PUBLISHED, Chunk.indexed_at.is_not(None))
        .order_by(Chunk.id)
        .execution_options(yield_per=2000)
    )
    for chunk_id, article_id, title, heading_path, text in rows:
        yield SearchableChunk(chunk_id, title, heading_path, text, frozenset(audiences.get(article_id, ())))
