"""Citations: numbered passages given to the LLM, and the check that every cited number is one of them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from knowledge.retrieve import RetrievedChunk

_MARKER = re.compile(r"\[(\d{1,2}(?:\s*,\s*\d{1,2})*)\]")


@dataclass(frozen=True)
class Citation:
    """A retrieved chunk an answer relies on, shown as ``[number]``."""

    number: int
    chunk_id: str
    article_id: int
    title: str
    url: str | None
    heading_path: str
    score: float

    def as_dict(self) -> dict[str, object]:
        """JSON-ready (stored on the message row)."""
        return {
            "number": self.number,
            "chunk_id": self.chunk_id,
            "article_id": self.article_id,
            "title": self.title,
            "url": self.url,
            "heading_path": self.heading_path,
            "score": round(self.score, 4),
        }


class InvalidCitationError(ValueError):
    """The answer cites a passage number that was not given to it, or cites nothing."""


def citation_for(number: int, item: RetrievedChunk) -> Citation:
    """Citation ``number`` for a retrieved chunk."""
    chunk = item.chunk
    return Citation(
        number=number,
        chunk_id=chunk.chunk_id,
        article_id=chunk.article_id,
        title=chunk.title,
        url=chunk.url,
        heading_path=chunk.heading_path,
        score=item.dense if item.dense is not None else item.score,
    )


def cited_numbers(text: str) -> list[int]:
    """Passage numbers cited in ``text`` as ``[2]`` or ``[1, 3]``, in order of first appearance."""
    numbers: list[int] = []
    for match in _MARKER.finditer(text):
        for part in match.group(1).split(","):
            number = int(part.strip())
            if number not in numbers:
                numbers.append(number)
    return numbers


def resolve_citations(text: str, passages: Sequence[RetrievedChunk]) -> list[Citation]:
    """Citations of ``text`` mapped to the passages it was given; raises when one does not resolve."""
    numbers = cited_numbers(text)
    if not numbers:
        raise InvalidCitationError("the answer cites no passage")
    invalid = [n for n in numbers if not 1 <= n <= len(passages)]
    if invalid:
        raise InvalidCitationError(f"the answer cites passages that were not retrieved: {invalid}")
    return [citation_for(n, passages[n - 1]) for n in numbers]
