"""summary failures

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 05:57:50.227742
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "summary_failure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("paper_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("prompt_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("model", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("params_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("paper_id", "version", "kind", "prompt_hash", "model", "params_hash"),
    )
    with op.batch_alter_table("summary_failure", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_summary_failure_paper_id"), ["paper_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("summary_failure", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_summary_failure_paper_id"))

    op.drop_table("summary_failure")
