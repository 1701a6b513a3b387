"""Paged, filtered lists (admin pages): page arithmetic, query strings and filter parsing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from enum import StrEnum
from typing import Generic, TypeVar
from urllib.parse import urlencode

from services.common.errors import PermanentError

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)
PAGE_SIZE = 25


class FilterError(PermanentError):
    """A filter value the page cannot use (shown to the user as is)."""


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of ``rows`` out of ``total`` (pages count from 1)."""

    rows: Sequence[T]
    total: int
    number: int
    size: int = PAGE_SIZE

    @property
    def pages(self) -> int:
        """How many pages there are (at least 1)."""
        return max(1, -(-self.total // self.size))

    @property
    def offset(self) -> int:
        """Rows before this page."""
        return (self.number - 1) * self.size


def page_number(raw: str | None) -> int:
    """The requested page (1 when absent or not a positive number)."""
    return int(raw) if raw and raw.isdigit() and int(raw) > 0 else 1


def query_string(params: Mapping[str, str | None], **changes: str | int | None) -> str:
    """``params`` with ``changes`` applied, as ``?a=b`` (empty values dropped)."""
    merged = {**params, **{k: None if v is None else str(v) for k, v in changes.items()}}
    kept = {k: v for k, v in merged.items() if v}
    return f"?{urlencode(kept)}" if kept else "?"


def enum_filter(raw: str | None, enum: type[E], label: str) -> E | None:
    """The member of ``enum`` named by ``raw`` (None when empty); ``FilterError`` when unknown."""
    if not raw:
        return None
    try:
        return enum(raw)
    except ValueError:
        raise FilterError(f"Unknown {label} {raw[:40]!r}.") from None


def date_filter(raw: str | None, label: str) -> date | None:
    """A ``YYYY-MM-DD`` date (None when empty); ``FilterError`` when malformed."""
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise FilterError(f"{label} must be a date like 2025-01-31.") from None


def start_of_day(day: date) -> datetime:
    """Midnight UTC at the start of ``day``."""
    return datetime.combine(day, time.min, tzinfo=UTC)


def escape_like(text: str) -> str:
    """``text`` with LIKE wildcards escaped (use ``escape="\\\\"``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
