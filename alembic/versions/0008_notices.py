"""Platform notices received once each, courses copied from other courses, the resource links seen, and
recent launch refusals for the operator's page.

Revision ID: 0008_notices
Revises: 0007_licence_provenance
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0008_notices"
down_revision = "0007_licence_provenance"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # New tables only: code of the previous release keeps serving while this runs (it never reads them).
    op.create_table(
        "notices",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("platform_id", sa.Integer(), sa.ForeignKey("platforms.id", ondelete="CASCADE"), nullable=False),
        sa.Column("deployment_id", sa.String(255), nullable=False),
        sa.Column("notice_id", sa.String(255), nullable=False),
        sa.Column("notice_type", sa.String(255), nullable=False),
        sa.Column("handled", sa.Boolean(), nullable=False),
        sa.Column("context_id", sa.String(255), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("platform_id", "notice_id", name="uq_notices_platform_notice"),
    )
    op.create_table(
        "course_copies",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("platform_id", sa.Integer(), sa.ForeignKey("platforms.id", ondelete="CASCADE"), nullable=False),
        sa.Column("deployment_id", sa.String(255), nullable=False),
        sa.Column("context_id", sa.String(255), nullable=False),
        sa.Column("origin_context_id", sa.String(255), nullable=False),
        sa.Column("notice_id", sa.String(255), nullable=False),
        sa.Column("copied_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("platform_id", "context_id", "origin_context_id", name="uq_course_copies_pair"),
    )
    op.create_table(
        "resource_links",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("platform_id", sa.Integer(), sa.ForeignKey("platforms.id", ondelete="CASCADE"), nullable=False),
        sa.Column("context_id", sa.String(255), nullable=False),
        sa.Column("resource_link_id", sa.String(255), nullable=False),
        sa.Column("title", sa.String(255), nullable=True),
        sa.Column("resource_id", sa.String(255), nullable=False),
        sa.Column("last_launch_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("platform_id", "context_id", "resource_link_id", name="uq_resource_links_link"),
    )
    op.create_index("ix_resource_links_title", "resource_links", ["platform_id", "context_id", "title"])
    op.create_table(
        "launch_refusals",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("check", sa.String(60), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("message", sa.String(1000), nullable=False),
        sa.Column("path", sa.String(200), nullable=False),
        sa.Column("reference", sa.String(20), nullable=False),
        sa.Column("refused_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_launch_refusals_refused_at", "launch_refusals", ["refused_at"])
    op.add_column("launches", sa.Column("response_items", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("launches") as batch:
        batch.drop_column("response_items")
    op.drop_index("ix_launch_refusals_refused_at", table_name="launch_refusals")
    op.drop_table("launch_refusals")
    op.drop_index("ix_resource_links_title", table_name="resource_links")
    op.drop_table("resource_links")
    op.drop_table("course_copies")
    op.drop_table("notices")
