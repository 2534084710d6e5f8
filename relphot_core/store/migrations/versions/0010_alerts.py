"""The alerts: their digests, the events alerted once (de-duplication key)
and the deliveries to each target with their outcome and attempts.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from relphot_core.store.models import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_digest",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("batch_id", sa.Integer(), sa.ForeignKey("batch.id", ondelete="SET NULL"), nullable=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("n_events", sa.Integer(), nullable=False),
    )
    op.create_index("ix_alert_digest_batch", "alert_digest", ["batch_id"])
    op.create_table(
        "alert_event",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("digest_id", sa.Integer(), sa.ForeignKey("alert_digest.id", ondelete="CASCADE"), nullable=False),
        sa.Column("problem_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("key", name="uq_alert_event_key"),
    )
    op.create_index("ix_alert_event_digest", "alert_event", ["digest_id"])
    op.create_table(
        "alert_delivery",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("digest_id", sa.Integer(), sa.ForeignKey("alert_digest.id", ondelete="CASCADE"), nullable=False),
        sa.Column("target_id", sa.String(64), nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("outcome", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("last_attempt", UTCDateTime(), nullable=True),
        sa.Column("sent", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("digest_id", "target_id", name="uq_alert_delivery_target"),
    )
    op.create_index("ix_alert_delivery_outcome", "alert_delivery", ["outcome"])


def downgrade() -> None:
    op.drop_index("ix_alert_delivery_outcome", table_name="alert_delivery")
    op.drop_table("alert_delivery")
    op.drop_index("ix_alert_event_digest", table_name="alert_event")
    op.drop_table("alert_event")
    op.drop_index("ix_alert_digest_batch", table_name="alert_digest")
    op.drop_table("alert_digest")
