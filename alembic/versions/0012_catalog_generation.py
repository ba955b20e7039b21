"""A catalog generation: one counter that every catalog change moves, for hosts to see changes by.

Each worker compares the database's catalog with what its host's index was synced to. Until now that
comparison was a fingerprint of counts and newest change times; it misses a removal made together with a
change stamped by a host whose clock is behind, or a transaction that commits after a later-stamped one.
The counter is bumped inside every transaction that changes resources or thumbnails.

The old fingerprint's parts stay in the comparison: code of the previous release, still serving while this
migration runs, changes the catalog without bumping the counter.

Revision ID: 0012_catalog_generation
Revises: 0011_fingerprint_indexes
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0012_catalog_generation"
down_revision = "0011_fingerprint_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A new table only: code of the previous release keeps serving while this runs.
    table = op.create_table(
        "catalog_generation",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
    )
    op.bulk_insert(table, [{"id": 1, "value": 1}])


def downgrade() -> None:
    op.drop_table("catalog_generation")
