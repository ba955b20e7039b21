"""The operator's page re-index run, shared by every worker and host.

Its progress lived in the memory of the worker that started it: with two workers or hosts, the page's poll
reached another one, which showed nothing (and let a second re-index start there).

Revision ID: 0013_reindex_run
Revises: 0012_catalog_generation
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0013_reindex_run"
down_revision = "0012_catalog_generation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A new table only: code of the previous release keeps serving while this runs.
    table = op.create_table(
        "reindex_run",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("phase", sa.String(20), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("runner", sa.String(300), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.bulk_insert(table, [{"id": 1, "phase": "idle", "done": 0, "total": 0, "message": "", "runner": ""}])


def downgrade() -> None:
    op.drop_table("reindex_run")
