"""Licence provenance: where and when each resource's licence was read at its source.

Revision ID: 0007_licence_provenance
Revises: 0006_thumbnails
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0007_licence_provenance"
down_revision = "0006_thumbnails"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs, which both engines support.
    op.add_column("resources", sa.Column("license_evidence_url", sa.String(2000), nullable=True))
    op.add_column("resources", sa.Column("license_checked", sa.Date(), nullable=True))
    op.add_column("resources", sa.Column("license_note", sa.Text(), nullable=False, server_default=""))
    # Forget every file's fingerprint so that the next `marketplace index` parses all of content/ again and
    # fills the new columns, also for a file whose mtime and size happen not to have changed.
    op.execute(sa.text("UPDATE resources SET source_fingerprint = ''"))


def downgrade() -> None:
    # batch mode: SQLite before 3.35 cannot DROP COLUMN; batch copies the table there.
    with op.batch_alter_table("resources") as batch:
        batch.drop_column("license_note")
        batch.drop_column("license_checked")
        batch.drop_column("license_evidence_url")
