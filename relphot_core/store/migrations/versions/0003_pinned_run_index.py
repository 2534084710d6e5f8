"""Partial index of the pinned runs: `Store.data_version`, which every
dashboard process asks after its cache's time to live, counts and sums them
with an index lookup instead of a scan of every run (~60 ms at survey
size).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_run_pinned", "processing_run", ["id"],
                    sqlite_where=sa.text("pinned = 1"), postgresql_where=sa.text("pinned"))


def downgrade() -> None:
    op.drop_index("ix_run_pinned", table_name="processing_run")
