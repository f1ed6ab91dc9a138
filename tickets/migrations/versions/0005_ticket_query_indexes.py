"""Indexes for the console at scale: the queue's order within a status, and the indexes that
hold every column the dashboard aggregates, of tickets (replacing the single-column indexes on
status and priority, its prefixes) and of feedback.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

DASHBOARD_COLUMNS = [
    "priority",
    "status",
    "category",
    "assignee_id",
    "sla_due_at",
    "first_response_at",
    "created_at",
    "resolved_at",
]


def upgrade() -> None:
    op.create_index("ix_tickets_queue", "tickets", ["status", "priority", "sla_due_at"])
    op.create_index("ix_tickets_dashboard", "tickets", DASHBOARD_COLUMNS)
    op.create_index("ix_feedback_dashboard", "feedback", ["ticket_number", "rating"])
    op.drop_index("ix_tickets_status", table_name="tickets")
    op.drop_index("ix_tickets_priority", table_name="tickets")


def downgrade() -> None:
    op.create_index("ix_tickets_priority", "tickets", ["priority"])
    op.create_index("ix_tickets_status", "tickets", ["status"])
    op.drop_index("ix_feedback_dashboard", table_name="feedback")
    op.drop_index("ix_tickets_dashboard", table_name="tickets")
    op.drop_index("ix_tickets_queue", table_name="tickets")
