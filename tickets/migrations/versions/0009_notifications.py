"""Console notifications (new urgent ticket, assigned to you, user replied, SLA warning and
breach), each once per person and source, and an optional e-mail address per member of staff
for breach mails.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("staff_id", sa.Integer, sa.ForeignKey("staff_users.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("source", sa.String(48), nullable=False),
        sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id")),
        sa.Column("ticket_number", sa.String(32)),
        sa.Column("text", sa.String(200), nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("read_at", MOMENT),
        sa.Column("emailed_at", MOMENT),
        sa.UniqueConstraint("staff_id", "source", name="uq_notifications_once"),
    )
    op.create_index("ix_notifications_inbox", "notifications", ["staff_id", "read_at", "id"])
    with op.batch_alter_table("staff_users") as batch:
        batch.add_column(sa.Column("email", sa.String(254)))


def downgrade() -> None:
    with op.batch_alter_table("staff_users") as batch:
        batch.drop_column("email")
    op.drop_index("ix_notifications_inbox", table_name="notifications")
    op.drop_table("notifications")
