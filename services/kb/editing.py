"""Article editing for IT admins and knowledge editors: write, version, publish, unpublish, archive.

Every save of a changed title or body adds an ``ArticleVersion`` (author, note) and refuses to overwrite
a version saved since the editor opened the form. A published article is re-indexed at once; an
unpublished or archived one is removed from both indexes at once, so it stops answering. Every action
is audited with its actor.
"""

from __future__ import annotations

import difflib
import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload, sessionmaker

from knowledge.index import KnowledgeIndex
from services.audit import repo as audit
from services.common.db import session_scope, utcnow
from services.common.errors import DeskpilotError, NotFoundError, PermanentError
from services.kb import repo
from services.kb.indexing import IndexOutcome, index_article_now, remove_article_from_index
from services.kb.models import Article, ArticleOrigin, ArticleStatus, ArticleVersion

logger = logging.getLogger(__name__)

MAX_TITLE = 500
MAX_BODY = 200_000
MAX_NOTE = 500
MAX_GROUP_NAME = 200
_GROUP_SPLIT = re.compile(r"[,\n]")


class ArticleEditError(PermanentError):
    """The edit or action cannot be applied (empty text, bad group name, wrong state)."""

    code = "article_edit_refused"


class StaleVersionError(ArticleEditError):
    """Someone saved a newer version after the editor opened the form."""

    http_status = 409
    code = "article_version_stale"

    def __init__(self, message: str, *, current_version: int, saved_at: datetime | None) -> None:
        super().__init__(message)
        self.current_version = current_version
        self.saved_at = saved_at


class ArticleAction(StrEnum):
    """Lifecycle actions on the article page."""

    PUBLISH = "publish"
    UNPUBLISH = "unpublish"
    ARCHIVE = "archive"
    REINDEX = "reindex"


@dataclass(frozen=True)
class ArticleEdit:
    """What the edit form submits (already stripped)."""

    title: str
    body_markdown: str
    category: str | None
    audience: tuple[str, ...]
    change_note: str


@dataclass(frozen=True)
class SaveOutcome:
    """What a save did: the new version (None when only metadata changed) and how indexing went.

    ``indexed_chunks`` is None when the article is not published; ``index_error`` says why indexing
    failed after the save was committed (the version stays; "Re-index" or "Publish" retries).
    """

    article_id: int
    version: int | None
    indexed_chunks: int | None
    index_error: str | None = None


def parse_group_names(selected: Iterable[str], added: str) -> tuple[str, ...]:
    """Audience group names from ticked boxes plus a comma- or line-separated text field, sorted, unique."""
    names = {name.strip() for name in selected if name.strip()}
    names |= {name.strip() for name in _GROUP_SPLIT.split(added) if name.strip()}
    too_long = sorted(name for name in names if len(name) > MAX_GROUP_NAME)
    if too_long:
        raise ArticleEditError(f"group names are at most {MAX_GROUP_NAME} characters: {too_long[0][:40]}…")
    return tuple(sorted(names))


def build_article_edit(
    *, title: str, body_markdown: str, category: str, audience: tuple[str, ...], change_note: str
) -> ArticleEdit:
    """A validated edit (title and body required, lengths bounded)."""
    title, body, note = title.strip(), body_markdown.replace("\r\n", "\n").strip(), change_note.strip()
    if not title:
        raise ArticleEditError("the title is empty")
    if not body:
        raise ArticleEditError("the article is empty")
    if len(title) > MAX_TITLE or len(body) > MAX_BODY or len(note) > MAX_NOTE:
        raise ArticleEditError(
            f"too long: titles take {MAX_TITLE} characters, notes {MAX_NOTE}, articles {MAX_BODY}"
        )
    return ArticleEdit(title, body + "\n", category.strip()[:200] or None, audience, note)


def version_hash(title: str, body_markdown: str) -> str:
    """SHA-256 of a version's title and body (a locally written version; synced ones carry the source's)."""
    return hashlib.sha256(f"{title}\n\n{body_markdown}".encode()).hexdigest()


def _audit(db_session: Session, action: str, article_id: int, actor_id: int, **details: object) -> None:
    audit.record(
        db_session,
        action=action,
        target_type="article",
        target_id=article_id,
        actor_id=actor_id,
        actor_label=f"employee:{actor_id}",
        details=details,
    )


def _article(db_session: Session, article_id: int) -> Article:
    article = db_session.scalar(
        select(Article).where(Article.id == article_id).options(selectinload(Article.audience))
    )
    if article is None:
        raise NotFoundError(f"no article {article_id}")
    return article


def current_version(db_session: Session, article: Article) -> ArticleVersion | None:
    """The version in force."""
    return db_session.scalar(
        select(ArticleVersion).where(
            ArticleVersion.article_id == article.id, ArticleVersion.version == article.current_version
        )
    )


def create_article(
    session_factory: sessionmaker[Session],
    index: KnowledgeIndex,
    *,
    edit: ArticleEdit,
    author_id: int,
    publish: bool,
) -> SaveOutcome:
    """A new local article (version 1), saved as a draft or published and indexed now."""
    with session_scope(session_factory) as db_session:
        article = Article(
            title=edit.title,
            category=edit.category,
            origin=ArticleOrigin.AUTHORED,
            status=ArticleStatus.DRAFT,
            current_version=1,
            created_by_id=author_id,
        )
        article.audience = list(repo.ensure_groups(db_session=db_session, names=edit.audience).values())
        article.versions.append(
            ArticleVersion(
                version=1,
                title=edit.title,
                body_markdown=edit.body_markdown,
                content_hash=version_hash(edit.title, edit.body_markdown),
                change_note=edit.change_note or "created",
                author_id=author_id,
            )
        )
        db_session.add(article)
        db_session.flush()
        article_id = article.id
        _audit(db_session, "article.created", article_id, author_id, audience=list(edit.audience))
    if not publish:
        return SaveOutcome(article_id, 1, None)
    try:
        outcome = change_article_status(
            session_factory, index, article_id=article_id, actor_id=author_id, action=ArticleAction.PUBLISH
        )
    except DeskpilotError as exc:
        return SaveOutcome(article_id, 1, None, index_error=str(exc))
    return SaveOutcome(article_id, 1, outcome.chunks)


def save_article_edit(
    session_factory: sessionmaker[Session],
    index: KnowledgeIndex,
    *,
    article_id: int,
    base_version: int,
    edit: ArticleEdit,
    author_id: int,
) -> SaveOutcome:
    """Save the edit as a new version on top of ``base_version`` (the one the form showed).

    Raises ``StaleVersionError`` when another version was saved since; ``ArticleEditError`` when nothing
    changed. A published article is re-indexed now (a failure there leaves the saved version in place).
    """
    with session_scope(session_factory) as db_session:
        article = _article(db_session, article_id)
        if article.current_version != base_version:
            raise _stale(db_session, article, base_version)
        current = current_version(db_session, article)
        text_changed = current is None or (current.title, current.body_markdown) != (
            edit.title,
            edit.body_markdown,
        )
        audience_before = sorted(g.name for g in article.audience)
        meta_changed = article.category != edit.category or audience_before != list(edit.audience)
        if not text_changed and not meta_changed:
            raise ArticleEditError("nothing changed: the title, text, category and audience are as saved")
        new_version: int | None = None
        if text_changed:
            new_version = base_version + 1
            # Compare-and-set: of two saves racing on the same base, exactly one moves the counter.
            moved = db_session.execute(
                update(Article)
                .where(Article.id == article_id, Article.current_version == base_version)
                .values(current_version=new_version)
                .execution_options(synchronize_session=False)
            )
            if moved.rowcount != 1:  # type: ignore[attr-defined]
                raise _stale(db_session, article, base_version)
            db_session.add(
                ArticleVersion(
                    article_id=article_id,
                    version=new_version,
                    title=edit.title,
                    body_markdown=edit.body_markdown,
                    content_hash=version_hash(edit.title, edit.body_markdown),
                    change_note=edit.change_note or None,
                    author_id=author_id,
                )
            )
        article.title = edit.title
        article.category = edit.category
        article.audience = list(repo.ensure_groups(db_session=db_session, names=edit.audience).values())
        published = article.status is ArticleStatus.PUBLISHED
        _audit(
            db_session,
            "article.edited",
            article_id,
            author_id,
            version=new_version,
            note=edit.change_note[:200],
            audience_before=audience_before,
            audience_after=list(edit.audience),
        )
    if not published:
        return SaveOutcome(article_id, new_version, None)
    try:
        indexed = index_article_now(session_factory, index, article_id=article_id).chunks
    except DeskpilotError as exc:
        return SaveOutcome(article_id, new_version, None, index_error=str(exc))
    return SaveOutcome(article_id, new_version, indexed)


def _stale(db_session: Session, article: Article, base_version: int) -> StaleVersionError:
    db_session.refresh(article)
    latest = current_version(db_session, article)
    return StaleVersionError(
        f"version {article.current_version} was saved after you opened version {base_version}; "
        "your text was not saved",
        current_version=article.current_version,
        saved_at=latest.created_at if latest else None,
    )


def change_article_status(
    session_factory: sessionmaker[Session],
    index: KnowledgeIndex,
    *,
    article_id: int,
    actor_id: int,
    action: ArticleAction,
) -> IndexOutcome:
    """Publish (and index), unpublish or archive (and remove from the indexes), or re-index, now."""
    with session_scope(session_factory) as db_session:
        article = _article(db_session, article_id)
        before = article.status
        if action is ArticleAction.REINDEX and before is not ArticleStatus.PUBLISHED:
            raise ArticleEditError("only published articles are in the index; publish it first")
        if action is ArticleAction.PUBLISH:
            article.status = ArticleStatus.PUBLISHED
            article.published_at = article.published_at if before is ArticleStatus.PUBLISHED else utcnow()
            article.archived_at = None
        elif action is ArticleAction.UNPUBLISH:
            article.status = ArticleStatus.DRAFT
        elif action is ArticleAction.ARCHIVE:
            article.status = ArticleStatus.ARCHIVED
            article.archived_at = utcnow()
        _audit(db_session, f"article.{action.value}", article_id, actor_id, status_before=before.value)
    if action in (ArticleAction.PUBLISH, ArticleAction.REINDEX):
        try:
            return index_article_now(session_factory, index, article_id=article_id)
        except DeskpilotError:
            if action is ArticleAction.PUBLISH:
                _undo_publish(session_factory, index, article_id, before)
            raise
    return remove_article_from_index(session_factory, index, article_id=article_id)


def _undo_publish(
    session_factory: sessionmaker[Session], index: KnowledgeIndex, article_id: int, status: ArticleStatus
) -> None:
    """Put back the previous status of an article that could not be indexed, and drop any passage that
    reached the vector index before the failure (an unpublished article must not answer)."""
    with session_scope(session_factory) as db_session:
        article = db_session.get_one(Article, article_id)
        article.status = status
    try:
        remove_article_from_index(session_factory, index, article_id=article_id)
    except Exception:  # noqa: BLE001 - the publish error is what the editor must see; this one is logged
        logger.exception("could not clean the index after a failed publish", extra={"article_id": article_id})


@dataclass(frozen=True)
class DiffLine:
    """One line of a rendered diff: ``kind`` is ``hunk``, ``context``, ``added`` or ``removed``."""

    kind: str
    old_number: int | None
    new_number: int | None
    text: str


@dataclass(frozen=True)
class VersionDiff:
    """The difference between two versions of an article."""

    old_version: int
    new_version: int
    old_title: str
    new_title: str
    lines: list[DiffLine]
    added: int
    removed: int


def diff_versions(old: ArticleVersion, new: ArticleVersion, *, context: int = 3) -> VersionDiff:
    """Line diff of two versions' bodies, in hunks with ``context`` unchanged lines around each change."""
    a, b = old.body_markdown.splitlines(), new.body_markdown.splitlines()
    lines: list[DiffLine] = []
    added = removed = 0
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for group in matcher.get_grouped_opcodes(context):
        first, last = group[0], group[-1]
        lines.append(
            DiffLine(
                "hunk",
                None,
                None,
                f"@@ -{first[1] + 1},{last[2] - first[1]} +{first[3] + 1},{last[4] - first[3]} @@",
            )
        )
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines.extend(DiffLine("context", i + 1, j1 + i - i1 + 1, a[i]) for i in range(i1, i2))
                continue
            if tag in ("replace", "delete"):
                lines.extend(DiffLine("removed", i + 1, None, a[i]) for i in range(i1, i2))
                removed += i2 - i1
            if tag in ("replace", "insert"):
                lines.extend(DiffLine("added", None, j + 1, b[j]) for j in range(j1, j2))
                added += j2 - j1
    return VersionDiff(old.version, new.version, old.title, new.title, lines, added, removed)
