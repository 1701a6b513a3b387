"""Report indexes: tickets by conversation, conversations by employee and time, runs, message outcomes.

Used by the ROI report (services/reports/roi.py): tickets linked (or not) to a conversation, an employee's
conversations over time (the "ticket within N hours of the conversation" test), the automation runs
of a period, and assistant replies by outcome (unanswered questions, handoffs) in a period.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 12:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_tickets_conversation_id", "tickets", ["conversation_id"], unique=False)
    op.create_index(
        "ix_conversations_employee_id_started_at",
        "conversations",
        ["employee_id", "started_at"],
        unique=False,
    )
    op.create_index("ix_automation_runs_created_at", "automation_runs", ["created_at"], unique=False)
    op.create_index("ix_messages_outcome_created_at", "messages", ["outcome", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_messages_outcome_created_at", table_name="messages")
    op.drop_index("ix_conversations_employee_id_started_at", table_name="conversations")
    op.drop_index("ix_automation_runs_created_at", table_name="automation_runs")
    op.drop_index("ix_tickets_conversation_id", table_name="tickets")
