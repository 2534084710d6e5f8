"""Survey-scale batches: the input files each set was processed from (so
that an unchanged set is skipped without reading it) and the processing
failures (a set that could not be computed is a QC fact).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from relphot_core.store.models import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "input_file",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("observation_id", sa.Integer(), sa.ForeignKey("observation.id"), nullable=False),
        sa.Column("params_digest", sa.String(64), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("dither", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("processing_run.id"), nullable=True),
        sa.Column("recorded", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("observation_id", "params_digest", "path", name="uq_input_obs_params_path"),
    )
    op.create_index("ix_input_params_path", "input_file", ["params_digest", "path"])
    op.create_table(
        "processing_failure",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("obs_id", sa.BigInteger(), nullable=True),
        sa.Column("filter", sa.String(16), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("params_digest", sa.String(64), nullable=False),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("last_seen", UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("resolved", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_failure_open", "processing_failure", ["resolved"])
    op.create_index("ix_failure_obs", "processing_failure", ["obs_id", "filter"])


def downgrade() -> None:
    op.drop_index("ix_failure_obs", table_name="processing_failure")
    op.drop_index("ix_failure_open", table_name="processing_failure")
    op.drop_table("processing_failure")
    op.drop_index("ix_input_params_path", table_name="input_file")
    op.drop_table("input_file")
