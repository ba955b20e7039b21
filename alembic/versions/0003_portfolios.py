"""Portfolios: the items (files, links, notes) a student can submit as homework.

Revision ID: 0003_portfolios
Revises: 0002_lti_core
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0003_portfolios"
down_revision = "0002_lti_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "portfolio_items",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("platform_id", sa.Integer(), sa.ForeignKey("platforms.id", ondelete="CASCADE"), nullable=False),
        sa.Column("owner_sub", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("url", sa.String(2000), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("file_sha256", sa.String(64), nullable=True),
        sa.Column("file_name", sa.String(255), nullable=True),
        sa.Column("media_type", sa.String(127), nullable=True),
        sa.Column("file_size", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_portfolio_items_owner", "portfolio_items", ["platform_id", "owner_sub"])
    op.create_index("ix_portfolio_items_file_sha256", "portfolio_items", ["file_sha256"])


def downgrade() -> None:
    # Uploaded files stay in <data_dir>/uploads/; without their rows nothing serves them.
    op.drop_table("portfolio_items")
