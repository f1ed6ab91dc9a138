"""Spot checks (定期检查): each period's draw, the closed tickets and bot-only conversations it
sampled, and the supervisors' scorecards (``tickets.quality_models``). New tables only, so the
same operations run on SQLite and PostgreSQL both ways.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "qa_draws",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("period_start", sa.Date, nullable=False),
        sa.Column("period_end", sa.Date, nullable=False),
        sa.Column("seed", sa.String(64), nullable=False),
        sa.Column("tickets", sa.Integer, nullable=False),
        sa.Column("conversations", sa.Integer, nullable=False),
        sa.Column("drawn_by_id", sa.Integer, sa.ForeignKey("staff_users.id")),
        sa.Column("drawn_at", MOMENT, nullable=False),
        sa.UniqueConstraint("period_start", name="uq_qa_draws_period"),
    )
    op.create_table(
        "qa_samples",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("period_start", sa.Date, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id")),
        sa.Column("feedback_id", sa.Integer, sa.ForeignKey("feedback.id")),
        sa.Column("staff_id", sa.Integer, sa.ForeignKey("staff_users.id")),
        sa.Column("seed", sa.String(64), nullable=False),
        sa.Column("drawn_at", MOMENT, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.UniqueConstraint("period_start", "kind", "ticket_id", name="uq_qa_samples_ticket"),
        sa.UniqueConstraint("period_start", "kind", "feedback_id", name="uq_qa_samples_feedback"),
        sa.CheckConstraint(
            "(kind = 'ticket' AND ticket_id IS NOT NULL AND feedback_id IS NULL)"
            " OR (kind = 'bot' AND feedback_id IS NOT NULL AND ticket_id IS NULL)",
            name="ck_qa_samples_target",
        ),
    )
    op.create_index("ix_qa_samples_queue", "qa_samples", ["status", "period_start", "id"])
    op.create_index("ix_qa_samples_ticket_id", "qa_samples", ["ticket_id"])
    op.create_table(
        "qa_reviews",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("sample_id", sa.Integer, sa.ForeignKey("qa_samples.id"), nullable=False),
        sa.Column("reviewer_id", sa.Integer, sa.ForeignKey("staff_users.id"), nullable=False),
        sa.Column("scores", sa.JSON, nullable=False),
        sa.Column("total", sa.Float, nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.UniqueConstraint("sample_id", name="uq_qa_reviews_sample"),
    )


def downgrade() -> None:
    op.drop_table("qa_reviews")
    op.drop_index("ix_qa_samples_ticket_id", table_name="qa_samples")
    op.drop_index("ix_qa_samples_queue", table_name="qa_samples")
    op.drop_table("qa_samples")
    op.drop_table("qa_draws")
