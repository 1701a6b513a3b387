"""Handoffs: conversations handed to the IT team (the post in the IT channel, the claiming agent).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 20:03:52.135884
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "handoffs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("it_channel_id", sa.String(length=32), nullable=False),
        sa.Column("it_thread_ts", sa.String(length=32), nullable=False),
        sa.Column("agent_slack_user_id", sa.String(length=32), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_handoffs_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handoffs")),
        sa.UniqueConstraint("conversation_id", name=op.f("uq_handoffs_conversation_id")),
        sa.UniqueConstraint(
            "it_channel_id", "it_thread_ts", name=op.f("uq_handoffs_it_channel_id_it_thread_ts")
        ),
    )


def downgrade() -> None:
    op.drop_table("handoffs")
