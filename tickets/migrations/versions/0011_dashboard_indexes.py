"""Indexes for the supervisors' dashboard over a period: the tickets by creation time with every
column its figures, daily trends and drill-down lists read; 0005's dashboard index (every
ticket in the order of the figures' groups) with the resolution due time added; the feedback
by time with the bot's rating and the three aspects; the stored breaches by kind, clock and
time.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

PERIOD_COLUMNS = [
    "created_at",
    "priority",
    "status",
    "category",
    "assignee_id",
    "sla_due_at",
    "first_response_at",
    "resolved_at",
    "resolution_due_at",
    "paused_seconds",
    "paused_since",
    "number",
    "id",
]
DASHBOARD_COLUMNS = [
    "priority",
    "status",
    "category",
    "assignee_id",
    "created_at",
    "sla_due_at",
    "first_response_at",
    "resolved_at",
    "resolution_due_at",
    "id",
]
#: 0005's dashboard index, as it was.
OLD_DASHBOARD_COLUMNS = [
    "priority",
    "status",
    "category",
    "assignee_id",
    "sla_due_at",
    "first_response_at",
    "created_at",
    "resolved_at",
]
FEEDBACK_COLUMNS = [
    "created_at",
    "ticket_number",
    "rating",
    "attitude",
    "expertise",
    "result",
    "staff_id",
]
BREACH_COLUMNS = ["kind", "clock", "at", "ticket_id", "priority", "assignee_id"]


def upgrade() -> None:
    op.create_index("ix_tickets_period", "tickets", PERIOD_COLUMNS)
    op.drop_index("ix_tickets_dashboard", table_name="tickets")
    op.create_index("ix_tickets_dashboard", "tickets", DASHBOARD_COLUMNS)
    op.create_index("ix_feedback_period", "feedback", FEEDBACK_COLUMNS)
    op.create_index("ix_sla_events_breaches", "sla_events", BREACH_COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_sla_events_breaches", table_name="sla_events")
    op.drop_index("ix_feedback_period", table_name="feedback")
    op.drop_index("ix_tickets_dashboard", table_name="tickets")
    op.create_index("ix_tickets_dashboard", "tickets", OLD_DASHBOARD_COLUMNS)
    op.drop_index("ix_tickets_period", table_name="tickets")
