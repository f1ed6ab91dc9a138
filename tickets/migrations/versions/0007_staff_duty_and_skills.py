"""Assignment: each member of staff's duty status (on duty / away), skills (problem
categories) and the moment a ticket was last given to them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("staff_users") as batch:
        batch.add_column(
            sa.Column("available", sa.Boolean, nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("available_changed_at", MOMENT))
        batch.add_column(sa.Column("skills", sa.JSON, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("last_assigned_at", MOMENT))


def downgrade() -> None:
    with op.batch_alter_table("staff_users") as batch:
        for column in ("last_assigned_at", "skills", "available_changed_at", "available"):
            batch.drop_column(column)
