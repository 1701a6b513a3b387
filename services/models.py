"""Import every ORM model so that ``Base.metadata`` is complete (Alembic, tests, create_all)."""

from services.articles.models import ArticleDraft, DraftGenerator, DraftStatus, draft_source_tickets
from services.audit.models import AuditEntry
from services.automations.models import AutomationKind, AutomationRun, AutomationState
from services.bot.installations import BOTS_TABLE, INSTALLATIONS_TABLE, OAUTH_STATES_TABLE
from services.common.db import Base
from services.conversations.models import (
    AnswerOutcome,
    Channel,
    Conversation,
    ConversationStatus,
    Feedback,
    FeedbackRating,
    Handoff,
    Message,
    MessageRole,
)
from services.directory.models import Employee, EmployeeRole, Group, Role, employee_groups
from services.kb.models import (
    Article,
    ArticleOrigin,
    ArticleStatus,
    ArticleVersion,
    Chunk,
    IngestionRun,
    KnowledgeSource,
    RunStatus,
    article_audience,
    article_source_tickets,
)
from services.reports.models import DeliveryState, DigestDelivery
from services.router.models import Intent, IntentModelVersion, TrainingUtterance, UtteranceSource
from services.router.routes import Route
from services.tickets.models import (
    HandledBy,
    Ticket,
    TicketComment,
    TicketPriority,
    TicketStatus,
    TicketSystemKind,
)

__all__ = [
    "BOTS_TABLE",
    "INSTALLATIONS_TABLE",
    "OAUTH_STATES_TABLE",
    "AnswerOutcome",
    "Article",
    "ArticleDraft",
    "ArticleOrigin",
    "ArticleStatus",
    "ArticleVersion",
    "AuditEntry",
    "AutomationKind",
    "AutomationRun",
    "AutomationState",
    "Base",
    "Channel",
    "Chunk",
    "Conversation",
    "ConversationStatus",
    "DeliveryState",
    "DigestDelivery",
    "DraftGenerator",
    "DraftStatus",
    "Employee",
    "EmployeeRole",
    "Feedback",
    "FeedbackRating",
    "Group",
    "HandledBy",
    "Handoff",
    "IngestionRun",
    "Intent",
    "IntentModelVersion",
    "KnowledgeSource",
    "Message",
    "MessageRole",
    "Role",
    "Route",
    "RunStatus",
    "Ticket",
    "TicketComment",
    "TicketPriority",
    "TicketStatus",
    "TicketSystemKind",
    "TrainingUtterance",
    "UtteranceSource",
    "article_audience",
    "article_source_tickets",
    "draft_source_tickets",
    "employee_groups",
]
