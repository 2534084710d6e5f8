"""The drifts still on at the end of a filter's last problem computation,
carried into the next one so that a detector's chart may start again inside
a drift that never ends (`relphot_core.qc.resume`); and an index of each
filter's current runs, which every problem computation counts.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("problem_chart") as batch:
        batch.add_column(sa.Column("detector_carried", sa.Text(), nullable=False, server_default="{}"))
    op.create_index("ix_observation_filter_run", "observation", ["filter", "current_run_id"])


def downgrade() -> None:
    op.drop_index("ix_observation_filter_run", table_name="observation")
    with op.batch_alter_table("problem_chart") as batch:
        batch.drop_column("detector_carried")
