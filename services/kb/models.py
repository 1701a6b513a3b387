"""Knowledge base: sources, articles with versions and audiences, chunks, ingestion runs."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, ForeignKey, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from services.common.db import Base, StrEnumType, TimestampMixin, utcnow
from services.directory.models import Group


class ArticleStatus(StrEnum):
    """Lifecycle of an article; only PUBLISHED articles are retrieved for answers."""

    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class ArticleOrigin(StrEnum):
    """How an article came to exist."""

    IMPORTED = "imported"
    AUTHORED = "authored"
    GENERATED = "generated"


class RunStatus(StrEnum):
    """Outcome of an ingestion run."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"


article_audience = Table(
    "article_audience",
    Base.metadata,
    Column("article_id", ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
    Column("group_id", ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
)

article_source_tickets = Table(
    "article_source_tickets",
    Base.metadata,
    Column("article_id", ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
    Column("ticket_id", ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True),
)


class KnowledgeSource(TimestampMixin, Base):
    """A configured place articles come from (folder, JSON Lines, Confluence, ServiceNow, Zendesk...).

    ``config`` holds non-secret settings only; credentials come from Settings by ``name``.
    ``cursor`` is the connector's poll checkpoint.
    """

    __tablename__ = "knowledge_sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    enabled: Mapped[bool] = mapped_column(default=True)
    sync_interval_minutes: Mapped[int | None]
    cursor: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_sync_at: Mapped[datetime | None]
    last_status: Mapped[RunStatus | None] = mapped_column(StrEnumType(RunStatus))
    last_error: Mapped[str | None] = mapped_column(Text)

    runs: Mapped[list[IngestionRun]] = relationship(back_populates="source", cascade="all, delete-orphan")


class IngestionRun(Base):
    """One pass of ingestion over a source, with its counts and per-document errors."""

    __tablename__ = "ingestion_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("knowledge_sources.id", ondelete="CASCADE"), index=True)
    trigger: Mapped[str] = mapped_column(String(32), default="cli")
    status: Mapped[RunStatus] = mapped_column(StrEnumType(RunStatus), default=RunStatus.RUNNING)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    documents: Mapped[int] = mapped_column(default=0)
    chunks: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[int] = mapped_column(default=0)
    removed: Mapped[int] = mapped_column(default=0)
    errors: Mapped[list[Any]] = mapped_column(default=list)

    source: Mapped[KnowledgeSource] = relationship(back_populates="runs")


class Article(TimestampMixin, Base):
    """A knowledge article. Its text lives in versions; ``current_version`` names the one in force.

    An empty audience means every employee may read it; otherwise only members of one of its groups.
    """

    __tablename__ = "articles"
    __table_args__ = (UniqueConstraint("source_id", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("knowledge_sources.id", ondelete="SET NULL"))
    external_id: Mapped[str | None] = mapped_column(String(500))
    title: Mapped[str] = mapped_column(String(500))
    url: Mapped[str | None] = mapped_column(String(2000))
    category: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[ArticleStatus] = mapped_column(
        StrEnumType(ArticleStatus), default=ArticleStatus.DRAFT, index=True
    )
    origin: Mapped[ArticleOrigin] = mapped_column(StrEnumType(ArticleOrigin), default=ArticleOrigin.AUTHORED)
    current_version: Mapped[int] = mapped_column(default=1)
    published_at: Mapped[datetime | None]
    archived_at: Mapped[datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))

    versions: Mapped[list[ArticleVersion]] = relationship(
        back_populates="article", cascade="all, delete-orphan", order_by="ArticleVersion.version"
    )
    audience: Mapped[list[Group]] = relationship(secondary=article_audience)
    chunks: Mapped[list[Chunk]] = relationship(
        back_populates="article", cascade="all, delete-orphan", order_by="Chunk.ordinal"
    )


class ArticleVersion(Base):
    """An immutable revision of an article's title and Markdown body."""

    __tablename__ = "article_versions"
    __table_args__ = (UniqueConstraint("article_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    version: Mapped[int]
    title: Mapped[str] = mapped_column(String(500))
    body_markdown: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    change_note: Mapped[str | None] = mapped_column(String(500))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    article: Mapped[Article] = relationship(back_populates="versions")


class Chunk(Base):
    """A retrievable passage of an article's current version; ``id`` is stable (``f"{doc_id}:{n}"``)."""

    __tablename__ = "chunks"
    __table_args__ = (UniqueConstraint("article_id", "ordinal"),)

    id: Mapped[str] = mapped_column(String(600), primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    ordinal: Mapped[int]
    heading_path: Mapped[str] = mapped_column(String(1000), default="")
    text: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    token_count: Mapped[int] = mapped_column(default=0)
    indexed_at: Mapped[datetime | None]

    article: Mapped[Article] = relationship(back_populates="chunks")
