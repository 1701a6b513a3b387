"""Local folder knowledge source: Markdown (with YAML front matter), HTML and plain-text files."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from connectors.errors import RemoteNotFoundError
from connectors.http import connector_error
from connectors.models import ContentType, DocumentBatch, DocumentFailure, KnowledgeDocument

logger = logging.getLogger(__name__)

SUFFIXES = {
    ".md": ContentType.MARKDOWN,
    ".markdown": ContentType.MARKDOWN,
    ".html": ContentType.HTML,
    ".htm": ContentType.HTML,
    ".txt": ContentType.TEXT,
}
MAX_FILE_BYTES = 5 * 1024 * 1024


def _as_datetime(value: Any, fallback: datetime) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return fallback
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return fallback


def _html_title(html: str) -> str | None:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for candidate in (soup.title, soup.find("h1")):
        if candidate is not None and candidate.get_text(strip=True):
            return str(candidate.get_text(" ", strip=True))
    return None


def _failure_reason(exc: Exception) -> str:
    """Why a file did not load, in words an admin can act on."""
    if isinstance(exc, UnicodeDecodeError):
        return "not valid UTF-8"
    if isinstance(exc, RecursionError):
        return "nested too deeply to read"
    if isinstance(exc, TypeError):  # front matter of an unexpected shape (a list, a number...)
        return f"malformed front matter: {exc}"
    return str(exc) or type(exc).__name__


class FolderKnowledgeSource:
    """Every ``.md``/``.html``/``.txt`` file below ``root``; the document id is the relative path.

    Markdown front matter may set ``title``, ``category``, ``audience`` (list of group names), ``url``,
    ``updated`` and ``tags``. Without a title, the first heading (or the file name) is used. Files that
    are unreadable, not UTF-8, larger than 5 MB or have malformed front matter become failures.
    """

    def __init__(self, name: str, root: Path, *, batch_size: int = 100) -> None:
        self.name = name
        self.root = root
        self.batch_size = batch_size

    def _files(self) -> list[Path]:
        if not self.root.is_dir():
            raise FileNotFoundError(f"knowledge folder {self.root} does not exist")
        return sorted(p for p in self.root.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)

    def _read(self, path: Path) -> KnowledgeDocument:
        import frontmatter
        import yaml

        document_id = path.relative_to(self.root).as_posix()
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ValueError(f"file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
        raw = path.read_bytes()
        if b"\x00" in raw[:4096]:
            raise ValueError("binary file (NUL bytes)")
        text = raw.decode("utf-8-sig")
        content_type = SUFFIXES[path.suffix.lower()]
        meta: dict[str, Any] = {}
        body = text
        if content_type is ContentType.MARKDOWN:
            try:
                post = frontmatter.loads(text)
            except yaml.YAMLError as exc:
                raise ValueError(f"malformed front matter: {str(exc).splitlines()[0]}") from exc
            meta, body = dict(post.metadata), post.content
        modified = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
        title = str(meta.get("title") or "").strip()
        if not title and content_type is ContentType.HTML:
            title = _html_title(body) or ""
        if not title:
            first_heading = next(
                (ln.lstrip("#").strip() for ln in body.splitlines() if ln.startswith("#")), ""
            )
            title = first_heading or path.stem.replace("-", " ").replace("_", " ").strip().capitalize()
        audience = meta.get("audience") or []
        if isinstance(audience, str):
            audience = [audience]
        if not isinstance(audience, list) or not all(isinstance(a, str) for a in audience):
            raise ValueError("front matter 'audience' must be a list of group names")
        if not body.strip():
            raise ValueError("empty document")
        tags = meta.get("tags") or []
        if isinstance(tags, str):
            tags = [tags]
        if not isinstance(tags, list):
            raise ValueError("front matter 'tags' must be a list")
        return KnowledgeDocument(
            source=self.name,
            document_id=document_id,
            title=title[:500],
            body=body,
            content_type=content_type,
            url=str(meta["url"]) if meta.get("url") else None,
            updated_at=_as_datetime(meta.get("updated"), modified),
            category=str(meta["category"]) if meta.get("category") else None,
            acl=frozenset(audience),
            metadata={"tags": ",".join(str(t) for t in tags)} if tags else {},
        )

    def _batches(self, paths: list[Path]) -> Iterator[DocumentBatch]:
        for start in range(0, len(paths), self.batch_size):
            documents: list[KnowledgeDocument] = []
            failures: list[DocumentFailure] = []
            for path in paths[start : start + self.batch_size]:
                try:
                    documents.append(self._read(path))
                except (OSError, UnicodeDecodeError, ValueError, TypeError, RecursionError) as exc:
                    reason = _failure_reason(exc)
                    failures.append(
                        DocumentFailure(
                            source=self.name, document_id=path.relative_to(self.root).as_posix(), error=reason
                        )
                    )
            yield DocumentBatch(documents=documents, failures=failures)

    def check_connection(self) -> str:
        """The folder exists and is readable; how many supported files it holds."""
        try:
            count = len(self._files())
        except OSError as exc:
            raise connector_error(RemoteNotFoundError, "folder", str(exc)) from exc
        return f"folder {self.root} is readable: {count} supported file{'' if count == 1 else 's'}"

    def load_all(self) -> Iterator[DocumentBatch]:
        """Every supported file."""
        yield from self._batches(self._files())

    def poll(self, since: datetime, until: datetime) -> Iterator[DocumentBatch]:
        """Files modified in ``[since, until)`` (by file modification time)."""
        changed = [
            p for p in self._files() if since <= datetime.fromtimestamp(p.stat().st_mtime, tz=UTC) < until
        ]
        yield from self._batches(changed)

    def list_document_ids(self) -> Iterator[list[str]]:
        """Relative paths of every supported file."""
        paths = [p.relative_to(self.root).as_posix() for p in self._files()]
        for start in range(0, len(paths), self.batch_size):
            yield paths[start : start + self.batch_size]
