"""Grading: quiz attempts, the grade outbox, remembered line items and shared service access tokens.

Revision ID: 0005_grading
Revises: 0004_closed_door
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0005_grading"
down_revision = "0004_closed_door"
branch_labels = None
depends_on = None


def _platform() -> sa.Column[int]:
    return sa.Column("platform_id", sa.Integer(), sa.ForeignKey("platforms.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "quiz_attempts",
        sa.Column("id", sa.String(36), primary_key=True),
        _platform(),
        sa.Column("deployment_id", sa.String(255), nullable=False),
        sa.Column("context_id", sa.String(255), nullable=False),
        sa.Column("resource_link_id", sa.String(255), nullable=False),
        sa.Column("user_sub", sa.String(255), nullable=False),
        sa.Column("user_name", sa.String(300), nullable=True),
        sa.Column("launch_id", sa.String(36), nullable=False),
        sa.Column("resource_id", sa.String(80), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("max_score", sa.Float(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_sent_reason", sa.Text(), nullable=True),
        sa.UniqueConstraint("platform_id", "deployment_id", "context_id", "resource_link_id", "user_sub", "number",
                            name="uq_quiz_attempts_number"),
    )
    op.create_index("ix_quiz_attempts_link_user", "quiz_attempts",
                    ["platform_id", "context_id", "resource_link_id", "user_sub"])
    op.create_table(
        "grade_jobs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("attempt_id", sa.String(36), sa.ForeignKey("quiz_attempts.id", ondelete="CASCADE"),
                  nullable=False, unique=True),
        _platform(),
        sa.Column("link_key", sa.String(64), nullable=False),
        sa.Column("series", sa.String(64), nullable=False),
        sa.Column("user_sub", sa.String(255), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("score_given", sa.Float(), nullable=False),
        sa.Column("score_maximum", sa.Float(), nullable=False),
        sa.Column("score_timestamp", sa.String(40), nullable=False),
        sa.Column("submitted_at", sa.String(40), nullable=False),
        sa.Column("target", sa.JSON(), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_message", sa.Text(), nullable=True),
        sa.Column("lineitem_url", sa.String(2000), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_grade_jobs_link_key", "grade_jobs", ["link_key"])
    op.create_index("ix_grade_jobs_series", "grade_jobs", ["series"])
    op.create_index("ix_grade_jobs_due", "grade_jobs", ["state", "next_attempt_at"])
    op.create_table(
        "line_items",
        sa.Column("link_key", sa.String(64), primary_key=True),
        _platform(),
        sa.Column("context_id", sa.String(255), nullable=False),
        sa.Column("resource_link_id", sa.String(255), nullable=False),
        sa.Column("url", sa.String(2000), nullable=True),
        sa.Column("source", sa.String(20), nullable=True),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "access_tokens",
        sa.Column("platform_id", sa.Integer(), sa.ForeignKey("platforms.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("scope_key", sa.String(64), primary_key=True),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("token_encrypted", sa.Text(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refresh_owner", sa.String(64), nullable=True),
        sa.Column("refresh_until", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("access_tokens")
    op.drop_table("line_items")
    op.drop_table("grade_jobs")
    op.drop_table("quiz_attempts")
