"""The catalog: subjects and resources.

Revision ID: 0001_catalog
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0001_catalog"
down_revision = None
branch_labels = None
depends_on = None

SUBJECTS = {
    "mathematics": "Mathematics",
    "physics": "Physics",
    "chemistry": "Chemistry",
    "biology": "Biology",
    "earth-space-science": "Earth & Space Science",
    "computer-science": "Computer Science",
    "english-language-arts": "English Language Arts",
    "history": "History",
    "geography": "Geography",
    "economics": "Economics",
    "arts": "Arts & Music",
    "world-languages": "World Languages",
}


def upgrade() -> None:
    subjects = op.create_table(
        "subjects",
        sa.Column("id", sa.String(60), primary_key=True),
        sa.Column("label", sa.String(120), nullable=False),
    )
    op.bulk_insert(subjects, [{"id": key, "label": label} for key, label in SUBJECTS.items()])
    op.create_table(
        "resources",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("subject_id", sa.String(60), sa.ForeignKey("subjects.id"), nullable=False),
        sa.Column("grade_levels", sa.JSON(), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("language", sa.String(35), nullable=False),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("thumbnail", sa.String(2000), nullable=False),
        sa.Column("author_name", sa.String(300), nullable=False),
        sa.Column("author_url", sa.String(2000), nullable=True),
        sa.Column("license_id", sa.String(40), nullable=False),
        sa.Column("license_attribution", sa.Text(), nullable=False),
        sa.Column("license_url", sa.String(2000), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("source_path", sa.String(500), nullable=False, unique=True),
        sa.Column("source_fingerprint", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_resources_subject_id", "resources", ["subject_id"])
    op.create_index("ix_resources_type", "resources", ["type"])
    op.create_index("ix_resources_license_id", "resources", ["license_id"])
    op.create_index("ix_resources_content_hash", "resources", ["content_hash"])


def downgrade() -> None:
    op.drop_table("resources")
    op.drop_table("subjects")
