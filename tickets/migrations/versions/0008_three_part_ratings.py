"""Three-part ratings of a ticket staff resolved: service attitude, expertise and result (1-5
each) and the member of staff rated.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feedback") as batch:
        batch.add_column(sa.Column("attitude", sa.Integer))
        batch.add_column(sa.Column("expertise", sa.Integer))
        batch.add_column(sa.Column("result", sa.Integer))
        batch.add_column(
            sa.Column(
                "staff_id",
                sa.Integer,
                sa.ForeignKey("staff_users.id", name="fk_feedback_staff_id"),
            )
        )
    op.create_index(
        "ix_feedback_staff_ratings", "feedback", ["staff_id", "attitude", "expertise", "result"]
    )


def downgrade() -> None:
    op.drop_index("ix_feedback_staff_ratings", table_name="feedback")
    with op.batch_alter_table("feedback") as batch:
        batch.drop_constraint("fk_feedback_staff_id", type_="foreignkey")
        for column in ("staff_id", "result", "expertise", "attitude"):
            batch.drop_column(column)
