"""The service clocks: a ticket's resolution and progress-update due times, its pauses while
waiting for the user and the sweeper's next check; every warning and breach as an event; and
the store's own facts (the fingerprint of the SLA settings the clocks were computed with).

Open tickets get their new clocks from the first SLA sweep after the upgrade (no fingerprint
is stored yet, so it recomputes every open ticket from its audit trail).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("resolution_due_at", MOMENT))
        batch.add_column(sa.Column("update_due_at", MOMENT))
        batch.add_column(sa.Column("paused_since", MOMENT))
        batch.add_column(
            sa.Column("paused_seconds", sa.Integer, nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("sla_check_at", MOMENT))
    op.create_index("ix_tickets_sla_check_at", "tickets", ["sla_check_at"])
    op.create_table(
        "sla_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id"), nullable=False),
        sa.Column("clock", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("cycle", sa.Integer, nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("assignee_id", sa.Integer, sa.ForeignKey("staff_users.id")),
        sa.Column("due_at", MOMENT),
        sa.Column("at", MOMENT, nullable=False),
        sa.Column("recorded_at", MOMENT, nullable=False),
        sa.UniqueConstraint("ticket_id", "clock", "kind", "cycle", name="uq_sla_events_once"),
    )
    op.create_index("ix_sla_events_at", "sla_events", ["at", "kind"])
    op.create_table(
        "ticket_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", MOMENT, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ticket_meta")
    op.drop_index("ix_sla_events_at", table_name="sla_events")
    op.drop_table("sla_events")
    op.drop_index("ix_tickets_sla_check_at", table_name="tickets")
    with op.batch_alter_table("tickets") as batch:
        for column in (
            "sla_check_at",
            "paused_seconds",
            "paused_since",
            "update_due_at",
            "resolution_due_at",
        ):
            batch.drop_column(column)
