"""The batches' log (when each ``relphot compute --db`` ran, what it
computed and found) and the users' visits (what "since my last visit"
counts from).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from relphot_core.store.models import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batch",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("started", UTCDateTime(), nullable=False),
        sa.Column("finished", UTCDateTime(), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("command", sa.String(32), nullable=False),
        sa.Column("host", sa.String(128), nullable=False),
        sa.Column("software_version", sa.String(64), nullable=False),
        sa.Column("params_digest", sa.String(64), nullable=False),
        sa.Column("sets_planned", sa.Integer(), nullable=False),
        sa.Column("sets_computed", sa.Integer(), nullable=False),
        sa.Column("new_runs", sa.Integer(), nullable=False),
        sa.Column("same_runs", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("statuses", sa.JSON(), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("exit_status", sa.Integer(), nullable=True),
    )
    op.create_index("ix_batch_started", "batch", ["started"])
    op.create_table(
        "user_visit",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("seen", UTCDateTime(), nullable=False),
        sa.Column("previous", UTCDateTime(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("user_visit")
    op.drop_index("ix_batch_started", table_name="batch")
    op.drop_table("batch")
