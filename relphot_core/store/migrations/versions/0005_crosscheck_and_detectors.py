"""QC that finds the real problems: the global solution beside each factor,
the cross-check and collateral reasons, the detector flag of each exposure
and the status of each detector.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("exposure_factor") as batch:
        batch.add_column(sa.Column("global_value", sa.Float(), nullable=True))
        batch.add_column(sa.Column("global_error", sa.Float(), nullable=True))
        batch.add_column(sa.Column("crosscheck", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("collateral", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("detector_flag", sa.String(8), nullable=True))
        batch.add_column(sa.Column("detector_reason", sa.Text(), nullable=False, server_default=""))
    with op.batch_alter_table("detector_stat") as batch:
        batch.add_column(sa.Column("status", sa.String(8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("detector_stat") as batch:
        batch.drop_column("status")
    with op.batch_alter_table("exposure_factor") as batch:
        for name in ("detector_reason", "detector_flag", "collateral", "crosscheck", "global_error",
                     "global_value"):
            batch.drop_column(name)
