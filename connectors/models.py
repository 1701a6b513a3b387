"""DTOs that cross the connector seams. Vendor JSON never leaves an adapter; these do."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ContentType(StrEnum):
    """How a document body is written; decides the chunker."""

    MARKDOWN = "markdown"
    HTML = "html"
    TEXT = "text"


class KnowledgeDocument(BaseModel):
    """One article as a knowledge source delivers it.

    ``document_id`` is stable within the source (a page id, a sys_id, a relative path); ``acl`` names the
    directory groups allowed to read it, and is empty when every employee may.
    """

    model_config = ConfigDict(frozen=True)

    source: str = Field(min_length=1, max_length=100)
    document_id: str = Field(min_length=1, max_length=500)
    title: str = Field(min_length=1, max_length=500)
    body: str
    content_type: ContentType = ContentType.MARKDOWN
    url: str | None = None
    updated_at: datetime | None = None
    category: str | None = None
    acl: frozenset[str] = frozenset()
    metadata: dict[str, str | int | float | bool] = Field(default_factory=dict)

    @property
    def doc_key(self) -> str:
        """Globally unique key: ``f"{source}:{document_id}"``."""
        return f"{self.source}:{self.document_id}"


class DocumentFailure(BaseModel):
    """A document the source could not deliver (unreadable, malformed); ingestion reports it and goes on."""

    model_config = ConfigDict(frozen=True)

    source: str
    document_id: str
    error: str


class DocumentBatch(BaseModel):
    """What a knowledge source yields: documents, plus the ones it could not read in this batch."""

    model_config = ConfigDict(frozen=True)

    documents: list[KnowledgeDocument] = Field(default_factory=list)
    failures: list[DocumentFailure] = Field(default_factory=list)


class LLMPurpose(StrEnum):
    """Why an LLM is called; every call is tagged for tracing and cost."""

    ANSWER = "answer"
    DRAFT_ARTICLE = "draft_article"
    SUMMARY = "summary"
    RERANK = "rerank"


class ChatMessage(BaseModel):
    """One chat message sent to an LLM."""

    model_config = ConfigDict(frozen=True)

    role: str = Field(pattern="^(system|user|assistant)$")
    content: str


class LLMResult(BaseModel):
    """What an LLM answered, with usage for cost accounting."""

    model_config = ConfigDict(frozen=True)

    text: str
    model: str
    purpose: LLMPurpose
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0


# ---- ticketing ---------------------------------------------------------------------------------------


class TicketUrgency(StrEnum):
    """How urgent the requester says a ticket is (adapters map it to the vendor's priority)."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class ExternalTicketStatus(StrEnum):
    """Vendor statuses normalised to one lifecycle (the vendor's own word stays in ``vendor_status``)."""

    NEW = "new"
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class TicketDraft(BaseModel):
    """A ticket to create. Text is already free of secrets; the requester is named by e-mail."""

    model_config = ConfigDict(frozen=True)

    title: str = Field(min_length=1, max_length=255)
    description: str = ""
    requester_email: str = Field(min_length=3, max_length=320)
    requester_name: str | None = None
    urgency: TicketUrgency = TicketUrgency.NORMAL
    category: str | None = None
    labels: tuple[str, ...] = ()


class ExternalTicket(BaseModel):
    """A ticket as the ITSM holds it."""

    model_config = ConfigDict(frozen=True)

    system: str
    external_key: str = Field(min_length=1, max_length=100)
    url: str | None = None
    title: str
    status: ExternalTicketStatus
    vendor_status: str | None = None
    idempotency_key: str | None = None
    resolution: str | None = None
    updated_at: datetime | None = None


class ExternalComment(BaseModel):
    """A comment as the ITSM holds it."""

    model_config = ConfigDict(frozen=True)

    external_id: str
    body: str
    author: str | None = None
    public: bool = True
    created_at: datetime | None = None


class TicketStatusChange(BaseModel):
    """What a status webhook (or a sync) tells us about one ticket."""

    model_config = ConfigDict(frozen=True)

    system: str
    external_key: str
    status: ExternalTicketStatus
    vendor_status: str | None = None
    resolution: str | None = None
    changed_at: datetime | None = None


# ---- identity ----------------------------------------------------------------------------------------


class DirectoryUser(BaseModel):
    """An account in the identity provider."""

    model_config = ConfigDict(frozen=True)

    user_id: str
    email: str
    display_name: str | None = None
    active: bool = True
    locked: bool = False


class PasswordReset(BaseModel):
    """The outcome of a password reset: a one-time link, or a temporary password (never logged or posted
    in a channel; only DM'd to the employee it belongs to)."""

    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    user_id: str
    reset_url: str | None = Field(default=None, repr=False)  # a one-time link is a bearer secret
    temporary_password: str | None = Field(default=None, repr=False)
    expires_at: datetime | None = None


# ---- resolved-ticket feed ----------------------------------------------------------------------------


class ResolvedTicket(BaseModel):
    """A resolved or closed ticket as the ITSM holds it: evidence for the article pipeline.

    ``resolution`` is the text that says how it was fixed: ServiceNow close notes, the built-in resolution
    text, or the newest public comment not by the requester (Jira, Zendesk). ``status`` is RESOLVED or
    CLOSED; times are aware UTC (naive ones are refused). ``requester_email`` is None when the ITSM does
    not disclose it.
    """

    model_config = ConfigDict(frozen=True)

    system: str
    external_key: str = Field(min_length=1, max_length=100)
    url: str | None = None
    title: str
    description: str = ""
    resolution: str = ""
    category: str | None = None
    requester_email: str | None = None
    requester_name: str | None = None
    assignee_name: str | None = None
    resolved_at: datetime
    updated_at: datetime | None = None
    status: ExternalTicketStatus = ExternalTicketStatus.RESOLVED

    @field_validator("resolved_at", "updated_at")
    @classmethod
    def _aware_utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            raise ValueError("must be timezone-aware")
        return value.astimezone(UTC)

    @field_validator("status")
    @classmethod
    def _done(cls, value: ExternalTicketStatus) -> ExternalTicketStatus:
        if value not in (ExternalTicketStatus.RESOLVED, ExternalTicketStatus.CLOSED):
            raise ValueError("a resolved ticket is RESOLVED or CLOSED")
        return value
