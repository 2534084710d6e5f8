"""Where each filter's control charts start again: the problems after a
batch are computed from the season's tail (`relphot_core.qc.resume`).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from relphot_core.store.models import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "problem_chart",
        sa.Column("filter", sa.String(16), primary_key=True),
        sa.Column("control_key", sa.String(64), nullable=False),
        sa.Column("dither_scale", sa.Float(), nullable=True),
        sa.Column("detector_scale", sa.Float(), nullable=True),
        sa.Column("exposure_since", sa.Float(), nullable=True),
        sa.Column("detector_since", sa.Text(), nullable=False),
        sa.Column("last_mjd", sa.Float(), nullable=True),
        sa.Column("n_runs", sa.Integer(), nullable=False),
        sa.Column("run_sum", sa.BigInteger(), nullable=False),
        sa.Column("max_run", sa.Integer(), nullable=False),
        sa.Column("computed_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("problem_chart")
