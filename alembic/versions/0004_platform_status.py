"""Platforms carry a status: a dynamic registration waits as "pending" until an administrator approves it.

Revision ID: 0004_platform_status
Revises: 0003_portfolios
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0004_platform_status"
down_revision = "0003_portfolios"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Platforms stored before this revision were added by administrators or used already: they stay active.
    with op.batch_alter_table("platforms") as batch:
        batch.add_column(sa.Column("status", sa.String(20), nullable=False, server_default="active"))


def downgrade() -> None:
    with op.batch_alter_table("platforms") as batch:
        batch.drop_column("status")
