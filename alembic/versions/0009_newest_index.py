"""An index on resources.created_at, for the picker's "New in the catalog" list.

Without it, every first screen of the picker sorted the whole resources table to find the newest few: cheap at
the bundled 428, a full sort of 100,000 rows per page at a district's catalog.

Revision ID: 0009_newest_index
Revises: 0008_notices
"""

from __future__ import annotations

from alembic import op

revision = "0009_newest_index"
down_revision = "0008_notices"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # An index only: code of the previous release keeps serving while this runs. (On PostgreSQL with a very
    # large catalog an operator may prefer CREATE INDEX CONCURRENTLY by hand first; this then finds it made.)
    op.create_index("ix_resources_created_at", "resources", ["created_at", "id"], if_not_exists=True)


def downgrade() -> None:
    op.drop_index("ix_resources_created_at", table_name="resources")
