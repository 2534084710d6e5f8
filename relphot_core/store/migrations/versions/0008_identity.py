"""Who reviews: users with roles and password hashes, API tokens, and how
each review batch's author (and revoker) was known.

Existing batches get no mode (NULL: stored before it was recorded).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from relphot_core.store.models import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "app_user",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("name", name="uq_app_user_name"),
        sa.CheckConstraint("role IN ('viewer', 'reviewer', 'lead', 'admin')", name="ck_app_user_role"),
    )
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("app_user.id", name="fk_api_token_user"), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("label", sa.String(128), nullable=False, server_default=""),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("digest", name="uq_api_token_digest"),
    )
    with op.batch_alter_table("review_batch") as batch:
        batch.add_column(sa.Column("auth_mode", sa.String(16), nullable=True))
        batch.add_column(sa.Column("revoked_auth_mode", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("review_batch") as batch:
        batch.drop_column("revoked_auth_mode")
        batch.drop_column("auth_mode")
    op.drop_table("api_token")
    op.drop_table("app_user")
