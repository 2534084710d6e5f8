"""Problems: the worst flagged detector of each exposure as numbers, the
problems with their exposures and events, and the problem a review batch
was about.

Existing factor rows get their worst detector back from the reason text they
were stored with (``... worst detector 23: +49.8 ± 2.1 mmag ...``), once.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""
from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

from relphot_core.store.models import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_WORST = re.compile(r"detector (\d{2}): ([+-]\d+(?:\.\d+)?)(?: ± (\d+(?:\.\d+)?))?")


def upgrade() -> None:
    op.add_column("exposure_factor", sa.Column("detector_worst", sa.Integer(), nullable=True))
    op.add_column("exposure_factor", sa.Column("detector_offset", sa.Float(), nullable=True))
    op.add_column("exposure_factor", sa.Column("detector_offset_error", sa.Float(), nullable=True))
    op.add_column("review_batch", sa.Column("problem_id", sa.Integer(), nullable=True))
    op.create_index("ix_review_batch_problem_id", "review_batch", ["problem_id"])
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, detector_reason FROM exposure_factor "
                                "WHERE detector_flag IN ('WARN', 'FAIL') AND detector_reason != ''")).all()
    updates = []
    for row_id, reason in rows:
        found = _WORST.search(reason.split("worst ", 1)[-1])
        if found:
            updates.append({"id": row_id, "worst": int(found.group(1)), "offset": float(found.group(2)) / 1000.0,
                            "error": float(found.group(3)) / 1000.0 if found.group(3) else None})
    if updates:
        bind.execute(sa.text("UPDATE exposure_factor SET detector_worst = :worst, detector_offset = :offset, "
                             "detector_offset_error = :error WHERE id = :id"), updates)
    op.create_table(
        "problem",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("fingerprint", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("filter", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(120), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("first_obs", sa.BigInteger(), nullable=True),
        sa.Column("last_obs", sa.BigInteger(), nullable=True),
        sa.Column("first_mjd", sa.Float(), nullable=True),
        sa.Column("last_mjd", sa.Float(), nullable=True),
        sa.Column("n_exposures", sa.Integer(), nullable=False),
        sa.Column("n_collateral", sa.Integer(), nullable=False),
        sa.Column("size", sa.Float(), nullable=True),
        sa.Column("size_error", sa.Float(), nullable=True),
        sa.Column("slope", sa.Float(), nullable=True),
        sa.Column("unit", sa.String(8), nullable=False),
        sa.Column("worst_status", sa.String(8), nullable=True),
        sa.Column("severity", sa.Float(), nullable=False),
        sa.Column("ongoing", sa.Boolean(), nullable=False),
        sa.Column("current", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("state_by", sa.String(128), nullable=True),
        sa.Column("state_at", UTCDateTime(), nullable=True),
        sa.Column("state_comment", sa.Text(), nullable=False),
        sa.Column("resolved_obs", sa.BigInteger(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("updated", UTCDateTime(), nullable=False),
        sa.Column("grew_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("fingerprint", name="uq_problem_fingerprint"),
    )
    op.create_index("ix_problem_filter_state", "problem", ["filter", "state"])
    op.create_table(
        "problem_exposure",
        sa.Column("problem_id", sa.Integer(), sa.ForeignKey("problem.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("exposure_id", sa.Integer(), sa.ForeignKey("exposure.id"), primary_key=True),
        sa.Column("role", sa.String(12), nullable=False),
    )
    op.create_index("ix_problem_exposure_exposure", "problem_exposure", ["exposure_id"])
    op.create_table(
        "problem_event",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("problem_id", sa.Integer(), sa.ForeignKey("problem.id", ondelete="CASCADE"), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("by", sa.String(128), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("n_exposures", sa.Integer(), nullable=False),
    )
    op.create_index("ix_problem_event_problem", "problem_event", ["problem_id"])
    op.create_index("ix_problem_event_at", "problem_event", ["at"])


def downgrade() -> None:
    op.drop_table("problem_event")
    op.drop_table("problem_exposure")
    op.drop_table("problem")
    with op.batch_alter_table("review_batch") as batch:
        batch.drop_index("ix_review_batch_problem_id")
        batch.drop_column("problem_id")
    with op.batch_alter_table("exposure_factor") as batch:
        for name in ("detector_offset_error", "detector_offset", "detector_worst"):
            batch.drop_column(name)
