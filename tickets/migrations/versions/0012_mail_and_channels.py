"""Tickets from every channel: each ticket's channel (chat, email, phone) and whether a person
should set its category; the support mailbox's mail (in and out) and the tickets' attachments;
the dashboard's two indexes with the channel, so every figure splits by it.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

MOMENT = sa.DateTime(timezone=True)

OLD_PERIOD_COLUMNS = [
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
OLD_DASHBOARD_COLUMNS = [
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
PERIOD_COLUMNS = ["created_at", "channel", *OLD_PERIOD_COLUMNS[1:]]
DASHBOARD_COLUMNS = ["channel", *OLD_DASHBOARD_COLUMNS]


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("channel", sa.String(8), nullable=False, server_default="chat"))
        batch.add_column(
            sa.Column("category_unsure", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.drop_index("ix_tickets_period", table_name="tickets")
    op.create_index("ix_tickets_period", "tickets", PERIOD_COLUMNS)
    op.drop_index("ix_tickets_dashboard", table_name="tickets")
    op.create_index("ix_tickets_dashboard", "tickets", DASHBOARD_COLUMNS)
    op.create_table(
        "mail_messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("mailbox", sa.String(254), nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("message_id", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("tickets.id")),
        sa.Column("address", sa.String(254)),
        sa.Column("subject", sa.Text(), nullable=False, server_default=""),
        sa.Column("body", sa.Text(), nullable=False, server_default=""),
        sa.Column("in_reply_to", sa.String(255)),
        sa.Column("references", sa.Text(), nullable=False, server_default=""),
        sa.Column("raw_path", sa.String(255)),
        sa.Column("size", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("problem", sa.Text(), nullable=False, server_default=""),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", MOMENT),
        sa.Column("staff_id", sa.Integer(), sa.ForeignKey("staff_users.id")),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("done_at", MOMENT),
        sa.UniqueConstraint("mailbox", "direction", "message_id", name="uq_mail_messages_once"),
    )
    op.create_index("ix_mail_messages_ticket_id", "mail_messages", ["ticket_id"])
    op.create_index(
        "ix_mail_messages_work", "mail_messages", ["direction", "status", "next_attempt_at"]
    )
    op.create_index("ix_mail_messages_address", "mail_messages", ["address", "kind", "created_at"])
    op.create_table(
        "ticket_attachments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("tickets.id"), nullable=False),
        sa.Column("mail_id", sa.Integer(), sa.ForeignKey("mail_messages.id")),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("stored", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("inline_image", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("refused", sa.String(100), nullable=False, server_default=""),
        sa.Column("created_at", MOMENT, nullable=False),
    )
    op.create_index("ix_ticket_attachments_ticket_id", "ticket_attachments", ["ticket_id"])


def downgrade() -> None:
    op.drop_index("ix_ticket_attachments_ticket_id", table_name="ticket_attachments")
    op.drop_table("ticket_attachments")
    op.drop_index("ix_mail_messages_address", table_name="mail_messages")
    op.drop_index("ix_mail_messages_work", table_name="mail_messages")
    op.drop_index("ix_mail_messages_ticket_id", table_name="mail_messages")
    op.drop_table("mail_messages")
    op.drop_index("ix_tickets_dashboard", table_name="tickets")
    op.create_index("ix_tickets_dashboard", "tickets", OLD_DASHBOARD_COLUMNS)
    op.drop_index("ix_tickets_period", table_name="tickets")
    op.create_index("ix_tickets_period", "tickets", OLD_PERIOD_COLUMNS)
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("category_unsure")
        batch.drop_column("channel")
