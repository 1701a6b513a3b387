"""Intent model artifacts in the database: every process can load the active model without a shared disk.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("intent_model_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("artifact", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("intent_model_versions", schema=None) as batch_op:
        batch_op.drop_column("artifact")
