"""The seams between Deskpilot and the outside world, as small Protocols.

Fakes in ``connectors/fakes`` satisfy them by shape. Only DTOs from ``connectors.models`` cross a seam.
Errors raised across a seam are those of ``connectors.errors`` (a ``RetryableError`` may be retried,
a ``PermanentError`` must not be). Times are timezone-aware UTC datetimes; durations are seconds.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from connectors.models import (
    ChatMessage,
    DirectoryUser,
    DocumentBatch,
    ExternalComment,
    ExternalTicket,
    LLMPurpose,
    LLMResult,
    PasswordReset,
    ResolvedTicket,
    TicketDraft,
    TicketStatusChange,
)

Vectors = npt.NDArray[np.float32]
"""A float32 matrix of shape (n, dimension), one L2-normalised row per text."""


@runtime_checkable
class KnowledgeSource(Protocol):
    """A place articles come from (folder, JSON Lines, Confluence, ServiceNow Knowledge, Zendesk Guide).

    Contract:
    - ``name`` is the configured source name; every document it yields carries it as ``source``.
    - ``load_all()`` yields every readable document once, in batches. A document that cannot be read
      is reported in ``DocumentBatch.failures`` and the iteration goes on; an error that stops the whole
      source (auth, outage after retries) is raised as a ``ConnectorError``.
    - ``poll(since, until)`` yields the documents created or changed in ``[since, until)``; it may
      return more (sources with coarse timestamps), never fewer.
    - ``list_document_ids()`` yields the ids of every document that currently exists, so that ingestion
      can prune deleted ones without downloading bodies.
    Iteration is lazy: nothing is fetched before the first ``next()``.
    """

    name: str

    def load_all(self) -> Iterator[DocumentBatch]:
        """Every document of the source."""
        ...

    def poll(self, since: datetime, until: datetime) -> Iterator[DocumentBatch]:
        """Documents changed in ``[since, until)``."""
        ...

    def list_document_ids(self) -> Iterator[list[str]]:
        """Ids of all documents that exist now."""
        ...


@runtime_checkable
class ConnectionCheck(Protocol):
    """A connector that can prove it reaches its system with its configuration ("Test connection").

    Contract: ``check_connection()`` makes the cheapest read that needs the configured location and
    credentials, as one attempt without retries (a dead host fails within one timeout), and returns a
    one-line description of what it reached. Failures raise a ``ConnectorError`` whose message says what
    is wrong (``AuthError``, ``RemoteNotFoundError`` for a missing folder, file or locale,
    ``RemoteUnavailableError`` for an unreachable host); messages never contain credentials.
    """

    def check_connection(self) -> str:
        """Reach the system once; a short description of what was found."""
        ...


@runtime_checkable
class Embedder(Protocol):
    """Turns text into unit-length vectors of a fixed dimension.

    Contract: ``embed_documents`` returns one row per input, in order, as a float32 matrix;
    ``embed_query`` returns one row for a search query. Rows are L2-normalised, so the dot product is the
    cosine similarity.
    Raises ``RetryableError`` when a remote embedding endpoint is unavailable.
    """

    @property
    def dimension(self) -> int:
        """Length of every vector."""
        ...

    @property
    def model_name(self) -> str:
        """Identifies the model; indexes built with another model must be rebuilt."""
        ...

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        """Vectors for passages, shape (len(texts), dimension)."""
        ...

    def embed_query(self, text: str) -> Vectors:
        """Vector for a search query, shape (dimension,)."""
        ...


@runtime_checkable
class LLM(Protocol):
    """A chat model behind an OpenAI-compatible endpoint.

    Contract: ``complete`` sends the messages and returns the text of the first choice. It raises
    ``RetryableError`` (timeout after ``timeout_s`` seconds, 5xx, connection failure, 429) or
    ``PermanentError`` (auth, bad request); it never retries by itself, so the caller decides whether a
    fallback is better than a retry. Prompts must already be free of personal data (``knowledge.pii``).
    """

    @property
    def model_name(self) -> str:
        """The configured model."""
        ...

    def complete(
        self, messages: Sequence[ChatMessage], *, purpose: LLMPurpose, max_tokens: int, timeout_s: float
    ) -> LLMResult:
        """The model's reply to ``messages``."""
        ...


@runtime_checkable
class TicketSystem(Protocol):
    """An ITSM that holds tickets of record (built-in, Jira Service Management, ServiceNow, Zendesk).

    Contract:
    - ``create_ticket`` is called only after ``find_by_idempotency_key`` returned None for the same key, and
      stores the key in the vendor's own field (Jira issue property, ServiceNow ``correlation_id``, Zendesk
      ``external_id``) so that a retry after a crash finds the ticket instead of creating a second one.
    - Errors are those of ``connectors.errors``: ``AuthError`` (401/403), ``RemoteNotFoundError`` (404),
      ``ConflictError`` (409), ``RemoteRejectedError`` (other 4xx), ``RateLimitedError`` (429, with
      ``retry_after_s``), ``RemoteUnavailableError`` (5xx, timeouts). Adapters do not retry beyond their
      HTTP client's short backoff; Celery retries the task.
    - Times are timezone-aware UTC.
    """

    @property
    def system(self) -> str:
        """``builtin``, ``jira``, ``servicenow`` or ``zendesk``."""
        ...

    def create_ticket(self, draft: TicketDraft, *, idempotency_key: str) -> ExternalTicket:
        """Create the ticket, recording ``idempotency_key`` in the vendor."""
        ...

    def find_by_idempotency_key(self, idempotency_key: str) -> ExternalTicket | None:
        """The ticket created with this key, or None."""
        ...

    def get_ticket(self, external_key: str) -> ExternalTicket:
        """The ticket's current state (raises ``RemoteNotFoundError``)."""
        ...

    def add_comment(self, external_key: str, body: str, *, public: bool = True) -> ExternalComment:
        """Add a comment (public: visible to the requester)."""
        ...

    def find_comment(self, external_key: str, marker: str) -> ExternalComment | None:
        """The ticket's comment whose body contains ``marker``, or None.

        Contract: an exact, case-sensitive substring match on the comment's plain-text body, public and
        internal comments alike; when several match, the newest (by the vendor's creation time, which
        may count only seconds) is returned. Adapters may search only the newest comments (at
        least 100): a caller looks for a comment it added minutes ago, to learn whether an add that got
        no answer was applied. ``RemoteNotFoundError`` for an unknown ticket; outages raise
        ``RetryableError`` subclasses (``RemoteUnavailableError``, ``RateLimitedError``) as the other
        methods do. ``marker`` must not be blank (``ValueError``)."""
        ...

    def resolve_ticket(self, external_key: str, resolution: str) -> ExternalTicket:
        """Move the ticket to resolved with ``resolution`` (used when an automation completed the work).
        Resolving an already resolved ticket returns it unchanged."""
        ...

    def parse_status_webhook(self, payload: bytes, headers: dict[str, str]) -> TicketStatusChange | None:
        """Verify the webhook's signature or secret (``AuthError`` when wrong), then read the status
        change; None for events that are not status changes; ``RemoteRejectedError`` for malformed bodies."""
        ...


@runtime_checkable
class ResolvedTicketFeed(Protocol):
    """Resolved tickets of an ITSM, incrementally (the article pipeline's evidence from outside Deskpilot).

    Contract:
    - ``resolved_since(since)`` yields every ticket that is resolved or closed now and was resolved (or,
      where the vendor only offers that, changed) at or after ``since``, in batches of at most ``limit``,
      oldest first; pagination happens inside. It may yield more (tickets resolved a little earlier, as
      when a vendor's query has coarse or local-time bounds), never fewer. Cancelled tickets are left out.
      A ticket may appear twice when it changes during the walk: consumers upsert by
      ``(system, external_key)``.
    - ``since`` must be timezone-aware (``ValueError`` at the call); nothing is fetched before the first
      ``next()``. Empty batches are not yielded.
    - Errors as for ``TicketSystem``; an error mid-walk ends the iteration, and the batches already
      yielded stay valid.
    """

    def resolved_since(self, since: datetime, *, limit: int = 500) -> Iterator[list[ResolvedTicket]]:
        """Tickets resolved at or after ``since``, oldest first, in batches."""
        ...


@runtime_checkable
class IdentityProvider(Protocol):
    """The company directory of record for accounts (built-in, Okta, Microsoft Entra ID via Graph).

    Contract: every mutating call is idempotent (adding a member twice, or unlocking an unlocked account, is
    not an error and has one effect). Errors as for ``TicketSystem``; an operation the provider does not
    support raises ``RemoteRejectedError``. Secrets in ``PasswordReset`` are never logged.
    """

    @property
    def system(self) -> str:
        """``builtin``, ``okta`` or ``graph``."""
        ...

    def find_user(self, email: str) -> DirectoryUser | None:
        """The account whose login or primary e-mail is ``email``, or None."""
        ...

    def reset_password(self, user_id: str) -> PasswordReset:
        """Start a password reset: a one-time link where the provider offers one, else a temporary password
        that must be changed at next sign-in."""
        ...

    def unlock(self, user_id: str) -> DirectoryUser:
        """Unlock a locked-out account (no-op when not locked)."""
        ...

    def is_member(self, user_id: str, group_id: str) -> bool:
        """True when the user is a direct member of the group."""
        ...

    def add_to_group(self, user_id: str, group_id: str) -> bool:
        """Add the user to the group; True when added now, False when already a member."""
        ...
