"""LTI 1.3 core: platforms, deployments, tool keys, login states, launches, favourites and recent uses.

Revision ID: 0002_lti_core
Revises: 0001_catalog
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0002_lti_core"
down_revision = "0001_catalog"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "platforms",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("issuer", sa.String(500), nullable=False),
        sa.Column("client_id", sa.String(255), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("auth_login_url", sa.String(2000), nullable=False),
        sa.Column("auth_token_url", sa.String(2000), nullable=False),
        sa.Column("auth_audience", sa.String(2000), nullable=True),
        sa.Column("key_set_url", sa.String(2000), nullable=False),
        sa.Column("frame_origins", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("issuer", "client_id", name="uq_platforms_issuer_client_id"),
    )
    op.create_table(
        "deployments",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("platform_id", sa.Integer(), sa.ForeignKey("platforms.id", ondelete="CASCADE"), nullable=False),
        sa.Column("deployment_id", sa.String(255), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("platform_id", "deployment_id", name="uq_deployments_platform_deployment"),
    )
    op.create_index("ix_deployments_platform_id", "deployments", ["platform_id"])
    op.create_table(
        "tool_keys",
        sa.Column("kid", sa.String(64), primary_key=True),
        sa.Column("private_key_encrypted", sa.Text(), nullable=False),
        sa.Column("public_jwk", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "login_states",
        sa.Column("state", sa.String(100), primary_key=True),
        sa.Column("nonce", sa.String(100), nullable=False, unique=True),
        sa.Column("platform_id", sa.Integer(), sa.ForeignKey("platforms.id", ondelete="CASCADE"), nullable=False),
        sa.Column("target_link_uri", sa.String(2000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("consumed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_login_states_expires_at", "login_states", ["expires_at"])
    op.create_table(
        "launches",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("platform_id", sa.Integer(), sa.ForeignKey("platforms.id", ondelete="CASCADE"), nullable=False),
        sa.Column("deployment_row_id", sa.Integer(), sa.ForeignKey("deployments.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("state", sa.String(100), nullable=False),
        sa.Column("message_type", sa.String(60), nullable=False),
        sa.Column("user_sub", sa.String(255), nullable=False),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("claims", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("handoff_hash", sa.String(64), nullable=True, unique=True),
        sa.Column("responded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("selection", sa.JSON(), nullable=False),
    )
    op.create_index("ix_launches_platform_id", "launches", ["platform_id"])
    op.create_index("ix_launches_user_sub", "launches", ["user_sub"])
    for table, moment in (("favourites", "created_at"), ("recent_uses", "used_at")):
        op.create_table(
            table,
            sa.Column("platform_id", sa.Integer(), sa.ForeignKey("platforms.id", ondelete="CASCADE"),
                      primary_key=True),
            sa.Column("user_sub", sa.String(255), primary_key=True),
            sa.Column("resource_id", sa.String(80), primary_key=True),
            sa.Column(moment, sa.DateTime(timezone=True), nullable=False),
        )
    op.create_index("ix_recent_uses_used_at", "recent_uses", ["used_at"])


def downgrade() -> None:
    op.drop_table("recent_uses")
    op.drop_table("favourites")
    op.drop_table("launches")
    op.drop_table("login_states")
    op.drop_table("tool_keys")
    op.drop_table("deployments")
    op.drop_table("platforms")
