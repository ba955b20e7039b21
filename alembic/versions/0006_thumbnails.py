"""Thumbnails: each resource's picture scaled when indexing and stored in the database, served locally.

Revision ID: 0006_thumbnails
Revises: 0005_grading
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0006_thumbnails"
down_revision = "0005_grading"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "thumbnails",
        sa.Column("resource_id", sa.String(80), sa.ForeignKey("resources.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("source_url", sa.String(2000), nullable=False),
        sa.Column("source_sha256", sa.String(64), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("media_type", sa.String(50), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        # BLOB on SQLite, BYTEA on PostgreSQL; a 320x180 JPEG is some 10-30 kB.
        sa.Column("data", sa.LargeBinary(), nullable=True),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_tried_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("thumbnails")
