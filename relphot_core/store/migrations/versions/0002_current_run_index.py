"""Index observation.current_run_id: joins from a factor to the observation
whose current run it belongs to (status-first plans of the dashboard's
queries) become index lookups instead of scans.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""
from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_observation_current_run", "observation", ["current_run_id"])


def downgrade() -> None:
    op.drop_index("ix_observation_current_run", table_name="observation")
