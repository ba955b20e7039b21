"""Closed to outsiders: platforms carry a status (a dynamic registration waits as "pending" until an
administrator approves it), and portfolio submissions record the course and deployment they went to.

Revision ID: 0004_closed_door
Revises: 0003_portfolios
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0004_closed_door"
down_revision = "0003_portfolios"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Platforms stored before this revision were added by administrators or used already: they stay active.
    with op.batch_alter_table("platforms") as batch:
        batch.add_column(sa.Column("status", sa.String(20), nullable=False, server_default="active"))
    # Who may open a submitted item: its owner, and instructors of the course and deployment it went to.
    op.create_table(
        "portfolio_submissions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("item_id", sa.String(36), sa.ForeignKey("portfolio_items.id", ondelete="CASCADE"), nullable=False),
        sa.Column("platform_id", sa.Integer(), sa.ForeignKey("platforms.id", ondelete="CASCADE"), nullable=False),
        sa.Column("deployment_id", sa.String(255), nullable=False),
        sa.Column("context_id", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("item_id", "platform_id", "deployment_id", "context_id",
                            name="uq_portfolio_submissions_place"),
    )


def downgrade() -> None:
    op.drop_table("portfolio_submissions")
    with op.batch_alter_table("platforms") as batch:
        batch.drop_column("status")
