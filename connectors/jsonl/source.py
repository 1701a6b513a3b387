"""JSON Lines knowledge source in the ``ms-office-support-kb`` format.

One article per line with ``path``, ``title``, ``h1``, ``body_markdown`` and optional ``product_area``,
``ms_date`` (MM/DD/YYYY), ``url`` and ``audience`` (list of group names). A line that is not valid
JSON or lacks a body becomes a failure; the rest load.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.errors import RemoteNotFoundError
from connectors.http import connector_error
from connectors.models import ContentType, DocumentBatch, DocumentFailure, KnowledgeDocument

LEARN_BASE_URL = "https://learn.microsoft.com/troubleshoot/"


def _date(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    for fmt in ("%m/%d/%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


class JsonLinesKnowledgeSource:
    """Articles from a ``.jsonl`` file; ``limit`` keeps only the first N valid-looking lines."""

    def __init__(self, name: str, path: Path, *, limit: int | None = None, batch_size: int = 100) -> None:
        self.name = name
        self.path = path
        self.limit = limit
        self.batch_size = batch_size

    def _parse(self, line_number: int, line: str) -> KnowledgeDocument:
        record = json.loads(line)
        if not isinstance(record, dict):
            raise ValueError("line is not a JSON object")
        body = record.get("body_markdown") or record.get("body")
        if not isinstance(body, str) or not body.strip():
            raise ValueError("no body_markdown")
        document_id = str(record.get("path") or record.get("id") or f"line-{line_number}")
        title = record.get("title") or record.get("h1")
        if not title:
            first = next((ln.lstrip("#").strip() for ln in body.splitlines() if ln.startswith("# ")), "")
            title = first or document_id
        audience = record.get("audience_groups") or []
        url = record.get("url")
        if not url and isinstance(record.get("path"), str) and record["path"].endswith(".md"):
            url = LEARN_BASE_URL + record["path"][: -len(".md")]
        return KnowledgeDocument(
            source=self.name,
            document_id=document_id,
            title=str(title)[:500],
            body=body,
            content_type=ContentType.MARKDOWN,
            url=url,
            updated_at=_date(record.get("ms_date")),
            category=record.get("product_area"),
            acl=frozenset(str(a) for a in audience) if isinstance(audience, list) else frozenset(),
        )

    def check_connection(self) -> str:
        """The file exists and is readable; how many non-blank lines it holds."""
        try:
            with self.path.open(encoding="utf-8", errors="replace") as handle:
                lines = sum(1 for line in handle if line.strip())
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise connector_error(RemoteNotFoundError, "jsonl", f"cannot read {self.path}: {reason}") from exc
        return f"file {self.path} is readable: {lines} line{'' if lines == 1 else 's'}"

    def _records(self) -> Iterator[tuple[int, str]]:
        with self.path.open(encoding="utf-8", errors="replace") as handle:
            produced = 0
            for line_number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                if self.limit is not None and produced >= self.limit:
                    return
                produced += 1
                yield line_number, line

    def load_all(self) -> Iterator[DocumentBatch]:
        """Every article (up to ``limit``)."""
        documents: list[KnowledgeDocument] = []
        failures: list[DocumentFailure] = []
        for line_number, line in self._records():
            try:
                documents.append(self._parse(line_number, line))
            except (ValueError, TypeError, RecursionError) as exc:  # json.JSONDecodeError is a ValueError
                reason = "JSON nested too deeply" if isinstance(exc, RecursionError) else str(exc)
                failures.append(
                    DocumentFailure(source=self.name, document_id=f"line-{line_number}", error=reason)
                )
            if len(documents) + len(failures) >= self.batch_size:
                yield DocumentBatch(documents=documents, failures=failures)
                documents, failures = [], []
        if documents or failures:
            yield DocumentBatch(documents=documents, failures=failures)

    def poll(self, since: datetime, until: datetime) -> Iterator[DocumentBatch]:
        """A file has no change feed: every article is offered, ingestion skips the unchanged ones."""
        yield from self.load_all()

    def list_document_ids(self) -> Iterator[list[str]]:
        """Ids of every article (up to ``limit``)."""
        for batch in self.load_all():
            yield [document.document_id for document in batch.documents]
