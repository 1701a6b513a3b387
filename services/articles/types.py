"""What flows through the article pipeline: tickets as text, scrubbed tickets, clusters, drafts.

Pipeline (``services/articles/pipeline.py``): resolved tickets → ``scrub_ticket`` (no personal data
survives) → ``cluster_tickets`` (by embedding) → skip clusters a published article covers → ``draft_*``
(LLM, grounded and checked, or extractive) → an ``ArticleDraft`` row in the review queue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class TicketText:
    """A resolved ticket's text as the ITSM holds it (may contain personal data)."""

    ticket_id: int
    external_key: str
    title: str
    description: str
    resolution: str
    category: str | None = None
    resolved_at: datetime | None = None
    people: tuple[str, ...] = ()
    """Names known to be in the ticket (requester, assignee, commenters): scrubbed wherever they appear."""


@dataclass(frozen=True)
class ScrubbedTicket:
    """A ticket after PII scrubbing: the only form that reaches an LLM, a cluster or a draft."""

    ticket_id: int
    external_key: str
    title: str
    description: str
    resolution: str
    category: str | None
    report: dict[str, int] = field(default_factory=dict)
    """How many of each kind were replaced, e.g. ``{"EMAIL": 2, "PERSON": 1}``."""


@dataclass(frozen=True)
class TicketCluster:
    """Tickets about one problem; ``cohesion`` is the mean cosine similarity to the centroid (0–1)."""

    tickets: tuple[ScrubbedTicket, ...]
    cohesion: float


@dataclass(frozen=True)
class DraftStep:
    """One numbered resolution step and the source tickets that support it."""

    text: str
    supported_by: tuple[int, ...]


@dataclass(frozen=True)
class DraftArticle:
    """An article proposal in the Symptoms / Cause / Resolution / Applies-to structure."""

    title: str
    symptoms: str
    cause: str
    steps: tuple[DraftStep, ...]
    applies_to: tuple[str, ...]
    generator: str  # "llm" or "extractive" (services.articles.models.DraftGenerator)
    confidence: float
    source_ticket_ids: tuple[int, ...]
    flags: tuple[str, ...] = ()
    """Quality notes for the reviewer, e.g. "dropped 1 unsupported step: ..."."""

    def to_markdown(self) -> str:
        """The article body as Markdown (headings match the ms-office-support-kb articles)."""
        label = (
            ""
            if self.generator == "llm"
            else "> Extractive draft: assembled from ticket text, not written.\n\n"
        )
        steps = "\n".join(f"{n}. {step.text}" for n, step in enumerate(self.steps, start=1))
        applies = "\n".join(f"- {item}" for item in self.applies_to) or "- (not stated)"
        sources = ", ".join(str(t) for t in self.source_ticket_ids)
        return (
            f"# {self.title}\n\n{label}## Symptoms\n\n{self.symptoms}\n\n## Cause\n\n{self.cause}\n\n"
            f"## Resolution\n\n{steps}\n\n## Applies to\n\n{applies}\n\n"
            f"_Drafted from {len(self.source_ticket_ids)} resolved tickets ({sources})._\n"
        )
